package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// target is one thing measured: a kind of request to one server.
type target struct {
	Name   string // e.g. "s3cache hit"
	method string
	server func(*environment) *server
	key    func(size int64) string
	// cached is the X-Cache value a warm GET must show; "" for no check.
	cached string
	// headerSigned sends the request signed in its Authorization header,
	// as SDKs do, instead of as a presigned URL.
	headerSigned bool
}

func objectKey(size int64) string { return "obj-" + formatSize(size) }
func uploadKey(size int64) string { return "upload-" + formatSize(size) }

// targets are measured in this order within a round, shuffled per round.
var targets = []target{
	{Name: "s3cache hit", method: http.MethodGet, server: func(e *environment) *server { return e.cached }, key: objectKey, cached: "HIT"},
	{Name: "s3cache hit header-signed", method: http.MethodGet, server: func(e *environment) *server { return e.cached }, key: objectKey, cached: "HIT", headerSigned: true},
	{Name: "nginx hit", method: http.MethodGet, server: func(e *environment) *server { return e.nginx }, key: objectKey, cached: "HIT"},
	{Name: "s3cache miss", method: http.MethodGet, server: func(e *environment) *server { return e.nocache }, key: objectKey, cached: "BYPASS; reason=policy-rule"},
	{Name: "backend GET", method: http.MethodGet, server: func(e *environment) *server { return e.backend }, key: objectKey},
	{Name: "s3cache upload", method: http.MethodPut, server: func(e *environment) *server { return e.nocache }, key: uploadKey},
	{Name: "backend upload", method: http.MethodPut, server: func(e *environment) *server { return e.backend }, key: uploadKey},
}

// rangeTargets read ranges of one large object, cached in blocks by
// s3cache (it is above CACHE_MAX_OBJECT_BYTES) and in 1 MiB slices by
// nginx's slice module; both are warm before they are measured.
var rangeTargets = []target{
	{Name: "s3cache range hit", method: http.MethodGet, server: func(e *environment) *server { return e.cached }, key: largeKey, cached: "HIT"},
	{Name: "nginx slice hit", method: http.MethodGet, server: func(e *environment) *server { return e.nginx }, key: largeKey, cached: "HIT"},
}

// largePrefix starts the key of the large object; nginx's slice location
// matches it.
const largePrefix = "large-"

func largeKey(size int64) string { return largePrefix + formatSize(size) }

// rangeCase is one kind of range read of the large object: a fixed list
// of ranges of length bytes, drawn from a seeded generator, starting on a
// multiple of length when aligned, anywhere otherwise (so an unaligned
// 1 MiB range spans two blocks or slices).
type rangeCase struct {
	Name    string
	length  int64
	aligned bool
}

// rangeCases are measured in this order within a round.
var rangeCases = []rangeCase{
	{Name: "1MiB aligned", length: 1 << 20, aligned: true},
	{Name: "1MiB unaligned", length: 1 << 20},
	{Name: "64KiB unaligned", length: 64 << 10},
}

// rangesPerCase is the number of ranges in each case's list; wrk cycles
// through it.
const rangesPerCase = 4096

// ranges returns the Range headers of c over an object of size bytes.
func (c rangeCase) ranges(size int64, seed uint64) []string {
	rng := rand.New(rand.NewPCG(seed, uint64(c.length)))
	out := make([]string, rangesPerCase)
	for i := range out {
		var start int64
		if c.aligned {
			start = rng.Int64N(size/c.length) * c.length
		} else {
			start = rng.Int64N(size - c.length + 1)
		}
		out[i] = "bytes=" + strconv.FormatInt(start, 10) + "-" + strconv.FormatInt(start+c.length-1, 10)
	}
	return out
}

// selectTargets returns the targets named in a comma-separated list: the
// whole-object ones and the range ones.
func selectTargets(list string) (whole, ranged []target, err error) {
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		if i := slices.IndexFunc(targets, func(t target) bool { return t.Name == name }); i >= 0 {
			whole = append(whole, targets[i])
		} else if i := slices.IndexFunc(rangeTargets, func(t target) bool { return t.Name == name }); i >= 0 {
			ranged = append(ranged, rangeTargets[i])
		} else {
			return nil, nil, fmt.Errorf("unknown target %q", name)
		}
	}
	return whole, ranged, nil
}

// presign returns a SigV4 presigned URL for method on key at s, valid for
// two hours, made with the AWS SDK's signer as clients make them.
func presign(ctx context.Context, s *server, method, key string) (string, error) {
	return presignPath(ctx, s, method, "/"+bucket+"/"+key)
}

// presignPath presigns method on an already escaped path at s.
func presignPath(ctx context.Context, s *server, method, path string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://"+s.addr+path+"?X-Amz-Expires=7200", nil)
	if err != nil {
		return "", err
	}
	creds := aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secretKey}
	u, _, err := v4.NewSigner().PresignHTTP(ctx, creds, req, "UNSIGNED-PAYLOAD", "s3", region, time.Now())
	return u, err
}

// signHeaders returns the URL of method on key at s and the headers
// ("Name: value") that sign it, made now with the AWS SDK's signer as
// SDKs make them. wrk sends the same headers on every request of a run,
// which S3 accepts within its 15 minutes of clock skew: each request is
// verified in full, as a verifier cannot tell a replay from a new one.
func signHeaders(ctx context.Context, s *server, method, key string) (string, []string, error) {
	u := "http://" + s.addr + "/" + bucket + "/" + key
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return "", nil, err
	}
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	creds := aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secretKey}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, "UNSIGNED-PAYLOAD", "s3", region, time.Now()); err != nil {
		return "", nil, err
	}
	var headers []string
	for _, name := range []string{"Authorization", "X-Amz-Date", "X-Amz-Content-Sha256"} {
		headers = append(headers, name+": "+req.Header.Get(name))
	}
	return u, headers, nil
}

// doFunc sends one request and reads its whole answer.
type doFunc func(method, url string, body []byte, header ...string) (*http.Response, []byte, error)

// prepare creates the bucket and the objects on the backend, writes the
// upload bodies, and warms both caches, checking that a second GET is a
// hit. With largeSize > 0 it does the same for the large object of the
// range targets, and writes the lists of ranges.
func (env *environment) prepare(ctx context.Context, sizes []int64, largeSize int64) error {
	do := func(method, url string, body []byte, header ...string) (*http.Response, []byte, error) {
		req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
		if err != nil {
			return nil, nil, err
		}
		if body == nil {
			req.Body = http.NoBody
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp, b, err
	}
	u, err := presignPath(ctx, env.backend, http.MethodPut, "/"+bucket)
	if err != nil {
		return err
	}
	if resp, b, err := do(http.MethodPut, u, nil); err != nil || resp.StatusCode != 200 {
		return fmt.Errorf("CreateBucket: %v %s", err, b)
	}
	if largeSize > 0 && len(rangeTargets) > 0 {
		if err := env.prepareLarge(ctx, do, largeSize); err != nil {
			return err
		}
	}
	for _, size := range sizes {
		body := make([]byte, size)
		rand.NewChaCha8([32]byte{byte(size)}).Read(body)
		if err := os.WriteFile(env.bodyFile(size), body, 0o644); err != nil {
			return err
		}
		u, err := presign(ctx, env.backend, http.MethodPut, objectKey(size))
		if err != nil {
			return err
		}
		if resp, b, err := do(http.MethodPut, u, body); err != nil || resp.StatusCode != 200 {
			return fmt.Errorf("PutObject %s: %v %s", objectKey(size), err, b)
		}
		for _, t := range targets {
			if t.method != http.MethodGet {
				continue
			}
			u, err := presign(ctx, t.server(env), http.MethodGet, objectKey(size))
			if err != nil {
				return err
			}
			for i := range 2 {
				resp, b, err := do(http.MethodGet, u, nil)
				if err != nil || resp.StatusCode != 200 || !bytes.Equal(b, body) {
					return fmt.Errorf("%s GET %s: %v, status %v, %d bytes", t.Name, objectKey(size), err, statusOf(resp), len(b))
				}
				if got := resp.Header.Get("X-Cache"); i == 1 && t.cached != "" && got != t.cached {
					return fmt.Errorf("%s GET %s: X-Cache %q on the second GET, want %q", t.Name, objectKey(size), got, t.cached)
				}
			}
		}
	}
	return nil
}

// prepareLarge uploads the large object, warms s3cache's blocks and
// nginx's slices with two whole GETs each (the second must be a hit), and
// writes each range case's list, checking its first ranges through every
// range target against the object's bytes.
func (env *environment) prepareLarge(ctx context.Context, do doFunc, size int64) error {
	body := make([]byte, size)
	rand.NewChaCha8([32]byte{'r', 'a', 'n', 'g', 'e'}).Read(body)
	u, err := presign(ctx, env.backend, http.MethodPut, largeKey(size))
	if err != nil {
		return err
	}
	if resp, b, err := do(http.MethodPut, u, body); err != nil || resp.StatusCode != 200 {
		return fmt.Errorf("PutObject %s: %v %s", largeKey(size), err, b)
	}
	for _, c := range rangeCases {
		list := c.ranges(size, 1)
		if err := os.WriteFile(env.rangesFile(c), []byte(strings.Join(list, "\n")+"\n"), 0o644); err != nil {
			return err
		}
	}
	for _, t := range rangeTargets {
		u, err := presign(ctx, t.server(env), http.MethodGet, largeKey(size))
		if err != nil {
			return err
		}
		for i := range 2 {
			resp, b, err := do(http.MethodGet, u, nil)
			if err != nil || resp.StatusCode != 200 || !bytes.Equal(b, body) {
				return fmt.Errorf("%s GET %s: %v, status %v, %d bytes", t.Name, largeKey(size), err, statusOf(resp), len(b))
			}
			if got := resp.Header.Get("X-Cache"); i == 1 && got != t.cached {
				return fmt.Errorf("%s GET %s: X-Cache %q on the second GET, want %q", t.Name, largeKey(size), got, t.cached)
			}
		}
		for _, c := range rangeCases {
			for _, rng := range c.ranges(size, 1)[:4] {
				var a, z int64
				if _, err := fmt.Sscanf(rng, "bytes=%d-%d", &a, &z); err != nil {
					return err
				}
				resp, b, err := do(http.MethodGet, u, nil, "Range", rng)
				if err != nil || resp.StatusCode != http.StatusPartialContent || !bytes.Equal(b, body[a:z+1]) {
					return fmt.Errorf("%s GET %s %s: %v, status %v, %d bytes or other bytes", t.Name, largeKey(size), rng, err, statusOf(resp), len(b))
				}
				if got := resp.Header.Get("X-Cache"); got != t.cached {
					return fmt.Errorf("%s GET %s %s: X-Cache %q, want %q", t.Name, largeKey(size), rng, got, t.cached)
				}
			}
		}
	}
	return nil
}

func (env *environment) rangesFile(c rangeCase) string {
	return filepath.Join(env.work, "ranges-"+strings.ReplaceAll(c.Name, " ", "-"))
}

func statusOf(r *http.Response) any {
	if r == nil {
		return "none"
	}
	return r.StatusCode
}

func (env *environment) bodyFile(size int64) string {
	return filepath.Join(env.work, "body-"+formatSize(size))
}

// wrkScript sets the method and body from the environment, sends the
// Range headers listed in BENCH_RANGES in turn (one per line) when set,
// and prints wrk's summary as one JSON line.
const wrkScript = `
wrk.method = os.getenv("BENCH_METHOD") or "GET"
local path = os.getenv("BENCH_BODY")
if path and path ~= "" then
  local f = assert(io.open(path, "rb"))
  wrk.body = f:read("*a")
  f:close()
end
local ranges_path = os.getenv("BENCH_RANGES")
if ranges_path and ranges_path ~= "" then
  local ranges = {}
  for line in io.lines(ranges_path) do
    ranges[#ranges + 1] = line
  end
  local i = 0
  request = function()
    i = i % #ranges + 1
    return wrk.format(nil, nil, {["Range"] = ranges[i]})
  end
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('\n{"requests":%d,"duration_us":%d,"bytes":%d,"errors":%d,"status_errors":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
end
`

// wrkSummary is what wrkScript prints.
type wrkSummary struct {
	Requests     int64 `json:"requests"`
	DurationUS   int64 `json:"duration_us"`
	Bytes        int64 `json:"bytes"`
	Errors       int64 `json:"errors"`
	StatusErrors int64 `json:"status_errors"`
	P50US        int64 `json:"p50_us"`
	P99US        int64 `json:"p99_us"`
}

// sample is one measured wrk run.
type sample struct {
	RPS   float64 `json:"rps"`
	P50ms float64 `json:"p50_ms"`
	P99ms float64 `json:"p99_ms"`
	CPUus float64 `json:"cpu_us_per_req"` // server CPU time per request, microseconds
	// BackendCPUus is the backend's share of CPUus: what the proxy under
	// test costs is the rest.
	BackendCPUus float64 `json:"backend_cpu_us_per_req"`
	MBps         float64 `json:"mb_per_s"`
	Connect      int     `json:"connections"`
}

// connectionsFor bounds concurrency for large bodies: 64 uploads of
// 16 MiB in flight would measure the disk, not the servers.
func connectionsFor(t target, size int64, max int) int {
	if t.method == http.MethodPut {
		switch {
		case size >= 16<<20:
			return min(max, 4)
		case size >= 1<<20:
			return min(max, 16)
		}
	}
	return max
}

// cell is one measured load: a target and the object it reads or writes,
// whole or, with a range case, in ranges.
type cell struct {
	t    target
	size int64
	rc   *rangeCase // nil for whole-object requests
}

// label names the cell's column: the object size or the range case.
func (c cell) label() string {
	if c.rc != nil {
		return c.rc.Name
	}
	return formatSize(c.size)
}

// runWrk measures one cell for o.duration.
func runWrk(ctx context.Context, env *environment, o options, c cell) (sample, error) {
	t, size := c.t, c.size
	script := filepath.Join(env.work, "bench.lua")
	if _, err := os.Stat(script); err != nil {
		if err := os.WriteFile(script, []byte(wrkScript), 0o644); err != nil {
			return sample{}, err
		}
	}
	var u string
	var headers []string
	var err error
	if t.headerSigned {
		u, headers, err = signHeaders(ctx, t.server(env), t.method, t.key(size))
	} else {
		u, err = presign(ctx, t.server(env), t.method, t.key(size))
	}
	if err != nil {
		return sample{}, err
	}
	conns := connectionsFor(t, size, o.connections)
	args := []string{"-t1", "-c" + strconv.Itoa(conns), "-d" + o.duration.String(), "--timeout", "10s", "-s", script}
	for _, h := range headers {
		args = append(args, "-H", h)
	}
	args = append(args, u)
	name := "wrk"
	if cpus := env.regime.loadCPUs; cpus != "" {
		// On the cores the servers under test do not use.
		name, args = "taskset", append([]string{"-c", cpus, "wrk"}, args...)
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "BENCH_METHOD="+t.method)
	if t.method == http.MethodPut {
		cmd.Env = append(cmd.Env, "BENCH_BODY="+env.bodyFile(size))
	}
	want := size // bytes of each response body at least
	if c.rc != nil {
		cmd.Env = append(cmd.Env, "BENCH_RANGES="+env.rangesFile(*c.rc))
		want = c.rc.length
	}
	before, beforeBackend, err := env.cpu()
	if err != nil {
		return sample{}, err
	}
	var profiled chan error
	if srv := t.server(env); o.profile != "" && srv.pprof != "" {
		name := strings.ReplaceAll(env.regime.Name+" "+t.Name+" "+c.label(), " ", "-") + ".pprof"
		profiled = make(chan error, 1)
		go func() { profiled <- fetchProfile(ctx, srv.pprof, o.duration, filepath.Join(o.profile, name)) }()
	}
	out, err := cmd.CombinedOutput()
	if profiled != nil {
		if perr := <-profiled; perr != nil {
			return sample{}, perr
		}
	}
	if err != nil {
		return sample{}, fmt.Errorf("wrk %s %s: %w\n%s", t.Name, c.label(), err, out)
	}
	after, afterBackend, err := env.cpu()
	if err != nil {
		return sample{}, err
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var sum wrkSummary
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
		return sample{}, fmt.Errorf("wrk %s: parsing its summary: %w\n%s", t.Name, err, out)
	}
	if sum.Requests == 0 || sum.Errors > 0 || sum.StatusErrors > 0 {
		return sample{}, fmt.Errorf("wrk %s %s: %d requests, %d socket errors, %d non-2xx answers\n%s",
			t.Name, c.label(), sum.Requests, sum.Errors, sum.StatusErrors, out)
	}
	if t.method == http.MethodGet && sum.Bytes/sum.Requests < want {
		return sample{}, fmt.Errorf("wrk %s %s: %d bytes per response, less than the %d asked for", t.Name, c.label(), sum.Bytes/sum.Requests, want)
	}
	secs := float64(sum.DurationUS) / 1e6
	moved := sum.Bytes
	if t.method == http.MethodPut {
		moved = sum.Requests * size
	}
	return sample{
		RPS:          float64(sum.Requests) / secs,
		P50ms:        float64(sum.P50US) / 1e3,
		P99ms:        float64(sum.P99US) / 1e3,
		CPUus:        float64(after-before) / float64(time.Microsecond) / float64(sum.Requests),
		BackendCPUus: float64(afterBackend-beforeBackend) / float64(time.Microsecond) / float64(sum.Requests),
		MBps:         float64(moved) / secs / 1e6,
		Connect:      conns,
	}, nil
}

// fetchProfile saves a CPU profile of the s3cache serving profiles at
// addr, taken over most of a run of length d.
func fetchProfile(ctx context.Context, addr string, d time.Duration, path string) error {
	secs := max(1, int(d.Seconds())-1)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("CPU profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("CPU profile: status %d", resp.StatusCode)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// cpu is the CPU time used so far by every server process (s3cache,
// nginx and its workers, versitygw): the server side of every request,
// whoever answers it. wrk's own CPU is not included.
func (env *environment) cpu() (total, backend time.Duration, err error) {
	for _, s := range env.all {
		d, err := s.cpuTime()
		if err != nil {
			return 0, 0, fmt.Errorf("%s CPU time: %w", s.name, err)
		}
		total += d
		if s == env.backend {
			backend = d
		}
	}
	return total, backend, nil
}

// result is the median of the rounds of one target at one size, or on
// one range case of the large object.
type result struct {
	Target  string   `json:"target"`
	Size    int64    `json:"size"`
	Range   string   `json:"range,omitempty"`
	Median  sample   `json:"median"`
	Samples []sample `json:"samples"`
}

// measure runs every target at every size and every range target on
// every range case, o.rounds times, interleaved: each round visits every
// size and range case and, within it, every target in a new random
// order, so drift on a shared machine spreads over all of them.
func measure(ctx context.Context, env *environment, o options, sizes []int64, largeSize int64) ([]result, error) {
	var groups [][]cell // the cells of one size or range case
	for _, size := range sizes {
		var g []cell
		for _, t := range targets {
			g = append(g, cell{t: t, size: size})
		}
		groups = append(groups, g)
	}
	if largeSize > 0 {
		for i := range rangeCases {
			var g []cell
			for _, t := range rangeTargets {
				g = append(g, cell{t: t, size: largeSize, rc: &rangeCases[i]})
			}
			groups = append(groups, g)
		}
	}
	samples := map[string][]sample{}
	rng := rand.New(rand.NewPCG(1, 2))
	total := 0
	for _, g := range groups {
		total += o.rounds * len(g)
	}
	n := 0
	for round := range o.rounds {
		for _, g := range groups {
			order := slices.Clone(g)
			rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			for _, c := range order {
				n++
				s, err := runWrk(ctx, env, o, c)
				if err != nil {
					return nil, err
				}
				fmt.Printf("[%d/%d] round %d %-15s %-17s %10.0f req/s  p50 %7.2f ms  p99 %7.2f ms  %7.1f µs CPU/req\n",
					n, total, round+1, c.label(), c.t.Name, s.RPS, s.P50ms, s.P99ms, s.CPUus)
				k := c.t.Name + "|" + c.label()
				samples[k] = append(samples[k], s)
			}
		}
	}
	var out []result
	for _, g := range groups {
		for _, c := range g {
			ss := samples[c.t.Name+"|"+c.label()]
			r := result{Target: c.t.Name, Size: c.size, Median: medianSample(ss), Samples: ss}
			if c.rc != nil {
				r.Range = c.rc.Name
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// medianSample takes the median of each measure separately.
func medianSample(ss []sample) sample {
	med := func(f func(sample) float64) float64 {
		v := make([]float64, len(ss))
		for i, s := range ss {
			v[i] = f(s)
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return sample{
		RPS:          med(func(s sample) float64 { return s.RPS }),
		P50ms:        med(func(s sample) float64 { return s.P50ms }),
		P99ms:        med(func(s sample) float64 { return s.P99ms }),
		CPUus:        med(func(s sample) float64 { return s.CPUus }),
		BackendCPUus: med(func(s sample) float64 { return s.BackendCPUus }),
		MBps:         med(func(s sample) float64 { return s.MBps }),
		Connect:      ss[0].Connect,
	}
}

// parseSizes parses a comma-separated list such as 4KiB,1MiB.
func parseSizes(v string) ([]int64, error) {
	var out []int64
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		mult := int64(1)
		for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20} {
			if s, ok := strings.CutSuffix(f, suffix); ok {
				f, mult = s, m
			}
		}
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bad size %q: want e.g. 4KiB or 16MiB", f)
		}
		out = append(out, n*mult)
	}
	return out, nil
}

// formatSize renders a size as parseSizes reads it.
func formatSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + "MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + "KiB"
	}
	return strconv.FormatInt(n, 10) + "B"
}
