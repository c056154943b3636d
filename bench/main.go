// Command bench measures s3cache against nginx proxy_cache and against the
// S3 backend directly, on one machine, in one run: it starts versitygw,
// two s3cache processes (cache on, and cache off so every GET is a
// miss) and nginx with proxy_cache in front of the same backend, then
// drives each with wrk, interleaved and repeated, and prints a table of
// requests/s, latency percentiles and server CPU time per request, with
// the ratios s3cache/nginx and s3cache/backend. The table is also
// written as markdown, JSON and a PNG chart.
//
// Range reads of one large object (-range-object, above s3cache's
// CACHE_MAX_OBJECT_BYTES, so s3cache keeps it in blocks) compare s3cache
// with nginx's slice module (1 MiB slices), both warm: 1 MiB ranges on
// block boundaries and anywhere, and 64 KiB ranges, each from a fixed
// seeded list that wrk sends in turn.
//
//	go run ./bench                # the full run, about 12 minutes
//	go run ./bench -quick         # a smoke run, about one minute
//	go run ./bench -quick -only 's3cache range hit,nginx slice hit' -out bench/results/ranges
//
// It installs nginx and wrk from the distribution's packages when they
// are missing (as root), and versitygw with go install. Every server
// listens on a loopback port; every load is bounded by -duration.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "length of one measured wrk run")
	flag.IntVar(&o.rounds, "rounds", 3, "interleaved rounds; the median round is reported")
	flag.IntVar(&o.connections, "connections", 64, "wrk connections for GETs (uploads use fewer for large objects)")
	flag.StringVar(&o.sizes, "sizes", "4KiB,64KiB,1MiB,16MiB", "object sizes")
	flag.StringVar(&o.only, "only", "", "comma-separated targets to run, e.g. \"s3cache hit,nginx hit\" or \"s3cache range hit,nginx slice hit\" (default: all)")
	flag.StringVar(&o.largeSize, "range-object", "256MiB", "size of the object the range targets read (cached in blocks by s3cache, in slices by nginx)")
	flag.StringVar(&o.out, "out", "bench/results", "directory for latest.md, latest.json and latest.png")
	flag.IntVar(&o.cores, "cores", max(1, runtime.NumCPU()/2), "pinned regime: cores of each server under test (the machine's last ones; s3cache's GOMAXPROCS and nginx's worker_processes); wrk and the backend get the others")
	flag.StringVar(&o.mode, "mode", "both", "pinned (servers on -cores cores of their own, wrk and the backend on the rest), free (every process on every core), or both, one after the other")
	flag.BoolVar(&o.quick, "quick", false, "one round of 2 s runs: a smoke test of the harness, not a measurement")
	flag.BoolVar(&o.noInstall, "no-install", false, "do not install missing tools")
	flag.StringVar(&o.profile, "profile", "", "directory for CPU profiles of s3cache taken during each of its runs: hits, misses and uploads (pprof format)")
	flag.StringVar(&o.render, "render", "", "measure nothing: render latest.md and the charts into -out from this latest.json")
	flag.Parse()
	if o.quick {
		o.duration, o.rounds = 2*time.Second, 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		log.Fatalf("bench: %v", err)
	}
}

// options are the command's flags.
type options struct {
	duration    time.Duration
	rounds      int
	connections int
	sizes       string
	largeSize   string
	only        string
	cores       int
	mode        string
	out         string
	quick       bool
	noInstall   bool
	profile     string
	render      string
}

func run(ctx context.Context, o options) error {
	if o.render != "" {
		return render(o.render, o.out)
	}
	sizes, err := parseSizes(o.sizes)
	if err != nil {
		return err
	}
	large, err := parseSizes(o.largeSize)
	if err != nil || len(large) != 1 || large[0] < 64<<20 {
		return fmt.Errorf("-range-object %q: want one size of at least 64MiB (above s3cache's CACHE_MAX_OBJECT_BYTES)", o.largeSize)
	}
	largeSize := large[0]
	if o.only != "" {
		if targets, rangeTargets, err = selectTargets(o.only); err != nil {
			return err
		}
	}
	if len(targets) == 0 {
		sizes = nil
	}
	if len(rangeTargets) == 0 {
		largeSize = 0
	}
	rgs, err := regimes(o.mode, o.cores)
	if err != nil {
		return err
	}
	if err := ensureTools(ctx, !o.noInstall); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "s3cache-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	if o.profile != "" {
		if err := os.MkdirAll(o.profile, 0o755); err != nil {
			return err
		}
	}
	var reps []*report
	for _, rg := range rgs {
		fmt.Printf("== %s\n", rg.describe())
		rep, err := measureRegime(ctx, work, rg, o, sizes, largeSize)
		if err != nil {
			return err
		}
		reps = append(reps, rep)
	}
	return write(reps, o.out)
}

// write prints the reports' markdown and writes it, the JSON and one chart
// per regime into out.
func write(reps []*report, out string) error {
	md := markdown(reps)
	fmt.Println(md)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "latest.md"), []byte(md), 0o644); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(out, "latest.json"), reps); err != nil {
		return err
	}
	for _, rep := range reps {
		if err := rep.writePNG(filepath.Join(out, "latest-"+rep.Regime.Name+".png")); err != nil {
			return fmt.Errorf("writing the chart: %w", err)
		}
	}
	var names []string
	for _, rep := range reps {
		names = append(names, "latest-"+rep.Regime.Name+".png")
	}
	fmt.Printf("written to %s: latest.md, latest.json, %s\n", strings.TrimSuffix(out, "/"), strings.Join(names, ", "))
	return nil
}

// measureRegime starts every server under rg, prepares the objects and
// measures every target.
func measureRegime(ctx context.Context, work string, rg regime, o options, sizes []int64, largeSize int64) (*report, error) {
	dir, err := os.MkdirTemp(work, rg.Name+"-")
	if err != nil {
		return nil, err
	}
	// nginx's workers run as nobody and must reach their directories.
	if err := os.Chmod(work, 0o755); err != nil {
		return nil, err
	}
	env, err := startEnvironment(ctx, dir, rg, o.profile != "")
	if err != nil {
		return nil, err
	}
	defer env.stop()
	if err := env.prepare(ctx, sizes, largeSize); err != nil {
		return nil, fmt.Errorf("%w\n%s", err, env.logs())
	}
	results, err := measure(ctx, env, o, sizes, largeSize)
	if err != nil {
		return nil, err
	}
	return newReport(env.machine(), rg, o, sizes, largeSize, results), nil
}

// render writes latest.md and the charts of the reports in the JSON file
// at path into out.
func render(path, out string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var reps []*report
	if err := json.Unmarshal(b, &reps); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return write(reps, out)
}
