package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// report is the outcome of one run.
type report struct {
	Machine machineInfo `json:"machine"`
	Regime  regime      `json:"regime"`
	Rounds  int         `json:"rounds"`
	Seconds float64     `json:"seconds_per_run"`
	Sizes   []int64     `json:"sizes"`
	// LargeSize is the size of the object the range targets read; 0 when
	// they were not run.
	LargeSize int64    `json:"large_object_size,omitempty"`
	Ranges    []string `json:"ranges,omitempty"`
	Results   []result `json:"results"`
}

func newReport(m machineInfo, rg regime, o options, sizes []int64, largeSize int64, rs []result) *report {
	r := &report{Machine: m, Regime: rg, Rounds: o.rounds, Seconds: o.duration.Seconds(), Sizes: sizes, LargeSize: largeSize, Results: rs}
	if largeSize > 0 {
		for _, c := range rangeCases {
			r.Ranges = append(r.Ranges, c.Name)
		}
	}
	return r
}

// get returns the median sample of target at size.
func (r *report) get(target string, size int64) sample {
	for _, x := range r.Results {
		if x.Target == target && x.Size == size && x.Range == "" {
			return x.Median
		}
	}
	return sample{}
}

// getRange returns the median sample of a range target on a range case.
func (r *report) getRange(target, rangeCase string) sample {
	for _, x := range r.Results {
		if x.Target == target && x.Range == rangeCase {
			return x.Median
		}
	}
	return sample{}
}

// markdown renders the reports of a run, one section per regime.
func markdown(reps []*report) string {
	var b strings.Builder
	for _, r := range reps {
		fmt.Fprintf(&b, "### %s\n\n%s", r.Regime.Name, r.markdown())
	}
	return b.String()
}

// writeJSON writes the reports of a run.
func writeJSON(path string, reps []*report) error {
	b, err := json.MarshalIndent(reps, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// markdown renders the machine, the ratios and the full table.
func (r *report) markdown() string {
	var b strings.Builder
	m := r.Machine
	fmt.Fprintf(&b, "Measured %s on %s (%d cores, %d GiB), %s, nginx %s; %s; %d rounds of %gs per cell, interleaved; medians.\n\n",
		m.Date, m.CPU, m.Cores, m.MemGiB, m.Go, m.Nginx, r.Regime.describe(), r.Rounds, r.Seconds)
	if len(r.Sizes) > 0 {
		r.wholeMarkdown(&b)
	}
	if r.LargeSize > 0 {
		r.rangeMarkdown(&b)
	}
	return b.String()
}

// rangeMarkdown renders the range reads of the large object.
func (r *report) rangeMarkdown(b *strings.Builder) {
	fmt.Fprintf(b, "Range reads of a %s object, warm: s3cache holds it in 1 MiB blocks (CACHE_BLOCK_BYTES), nginx in 1 MiB slices (slice module); %d seeded ranges per row, sent in turn.\n\n",
		formatSize(r.LargeSize), rangesPerCase)
	b.WriteString("| Range | req/s s3cache / nginx | p50 s3cache / nginx | p99 s3cache / nginx | CPU/req s3cache / nginx |\n")
	b.WriteString("| --- | --- | --- | --- | --- |\n")
	for _, c := range r.Ranges {
		s3, ng := r.getRange("s3cache range hit", c), r.getRange("nginx slice hit", c)
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", c,
			ratio(s3.RPS, ng.RPS), ratio(s3.P50ms, ng.P50ms), ratio(s3.P99ms, ng.P99ms), ratio(s3.CPUus, ng.CPUus))
	}
	b.WriteString("\n| Range | Target | Connections | req/s | MB/s | p50 ms | p99 ms | server CPU µs/req (backend's) |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, c := range r.Ranges {
		for _, t := range rangeTargets {
			sampleRow(b, c, t.Name, r.getRange(t.Name, c))
		}
	}
}

// wholeMarkdown renders the ratios and the table of whole-object requests.
func (r *report) wholeMarkdown(b *strings.Builder) {
	b.WriteString("| Size | hit req/s s3cache / nginx | hit p99 s3cache / nginx | hit CPU/req s3cache / nginx | header-signed hit req/s / nginx | header-signed hit p99 / nginx | miss req/s s3cache / backend | miss CPU/req s3cache / backend | upload req/s s3cache / backend | upload CPU/req s3cache / backend |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, size := range r.Sizes {
		hit, ng := r.get("s3cache hit", size), r.get("nginx hit", size)
		hs := r.get("s3cache hit header-signed", size)
		miss, be := r.get("s3cache miss", size), r.get("backend GET", size)
		up, beUp := r.get("s3cache upload", size), r.get("backend upload", size)
		// The proxy's own CPU on a relayed request (all servers' less the
		// backend's) over the backend's on the same request sent directly.
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", formatSize(size),
			ratio(hit.RPS, ng.RPS), ratio(hit.P99ms, ng.P99ms), ratio(hit.CPUus, ng.CPUus),
			ratio(hs.RPS, ng.RPS), ratio(hs.P99ms, ng.P99ms),
			ratio(miss.RPS, be.RPS), ratio(miss.CPUus-miss.BackendCPUus, be.CPUus),
			ratio(up.RPS, beUp.RPS), ratio(up.CPUus-up.BackendCPUus, beUp.CPUus))
	}
	b.WriteString("\n| Size | Target | Connections | req/s | MB/s | p50 ms | p99 ms | server CPU µs/req (backend's) |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, size := range r.Sizes {
		for _, t := range targets {
			sampleRow(b, formatSize(size), t.Name, r.get(t.Name, size))
		}
	}
	b.WriteString("\n")
}

// sampleRow renders one row of a per-target table: what was read (size or
// range), the target and its medians.
func sampleRow(b *strings.Builder, what, target string, s sample) {
	fmt.Fprintf(b, "| %s | %s | %d | %.0f | %.0f | %.2f | %.2f | %.1f (%.1f) |\n",
		what, target, s.Connect, s.RPS, s.MBps, s.P50ms, s.P99ms, s.CPUus, s.BackendCPUus)
}

// ratio renders a/b as "1.23×".
func ratio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", a/b)
}
