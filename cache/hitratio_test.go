package cache

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

// hitRatioTable turns on TestHitRatioTable, which replays the full
// workloads (tens of seconds) and prints their hit ratios as a markdown table.
var hitRatioTable = flag.Bool("hitratio.table", false, "run TestHitRatioTable: replay the hit-ratio workloads and print a markdown table")

// hitRatioWorkloads are the traces BenchmarkHitRatio and TestHitRatioTable
// replay. The first fifth of each trace warms the caches up and is not
// counted; the scan, when there is one, comes halfway through.
var hitRatioWorkloads = []workload{
	{name: "zipf0.9", objects: 30000, zipfS: 0.9, requests: 600000, warmup: 120000, seed: 1},
	{name: "zipf1.1", objects: 30000, zipfS: 1.1, requests: 600000, warmup: 120000, seed: 2},
	{name: "zipf0.9+scan", objects: 30000, zipfS: 0.9, requests: 600000, scan: 15000, warmup: 120000, seed: 1},
}

// hitRatioBudget is a cache budget as a share of a workload's working set.
type hitRatioBudget struct {
	name     string
	permille int64
}

// hitRatioBudgets are the budgets every workload is replayed with.
var hitRatioBudgets = []hitRatioBudget{{name: "1%", permille: 10}, {name: "5%", permille: 50}}

// bytes returns the budget for t: its share of t's working set.
func (b hitRatioBudget) bytes(t *trace) int64 { return t.workingSet * b.permille / 1000 }

// runPolicy replays t under a fresh replayer of p with the given budget.
func runPolicy(t *trace, p policy, budget int64) (hitRatio, error) {
	r, err := p.make(t, budget)
	if err != nil {
		return hitRatio{}, fmt.Errorf("%s: %w", p.name, err)
	}
	defer r.close()
	h := replay(t, r)
	if s, ok := r.(*cacheSim); ok {
		h.dropped = s.droppedPct()
	}
	return h, nil
}

// reportHitRatio reports h as the metrics of b.
func reportHitRatio(b *testing.B, h hitRatio) {
	b.ReportMetric(h.bytePct(), "byte-hit-%")
	b.ReportMetric(h.objPct(), "obj-hit-%")
	if h.dropped > 0 {
		b.ReportMetric(h.dropped, "dropped-%")
	}
}

// BenchmarkHitRatio replays each workload under each budget and policy and
// reports the byte and object hit ratios after warmup. One replay is the
// whole measurement, so -benchtime=1x is enough; more iterations replay the
// trace again on a fresh cache (the ratios of s3cache vary a little between
// runs because ristretto seeds its hashes and samples randomly).
func BenchmarkHitRatio(b *testing.B) {
	for _, w := range hitRatioWorkloads {
		b.Run(w.name, func(b *testing.B) {
			t := cachedTrace(w)
			for _, budget := range hitRatioBudgets {
				b.Run(budget.name, func(b *testing.B) {
					for _, p := range policies {
						b.Run(p.name, func(b *testing.B) {
							var h hitRatio
							for b.Loop() {
								var err error
								if h, err = runPolicy(t, p, budget.bytes(t)); err != nil {
									b.Fatal(err)
								}
							}
							reportHitRatio(b, h)
						})
					}
				})
			}
		})
	}
}

// TestHitRatioTable prints the hit ratios of every workload, budget and
// policy as a markdown table for the README. It is a report, not a check,
// and runs only with -hitratio.table, which go test passes on only after
// the package:
//
//	go test -run TestHitRatioTable -v ./cache -hitratio.table
func TestHitRatioTable(t *testing.T) {
	if !*hitRatioTable {
		t.Skip("a report; run with -hitratio.table")
	}
	var sb strings.Builder
	sb.WriteString("| workload | budget | s3cache | LRU | Belady |\n|---|---|---|---|---|\n")
	for _, w := range hitRatioWorkloads {
		tr := cachedTrace(w)
		for _, budget := range hitRatioBudgets {
			fmt.Fprintf(&sb, "| %s | %s (%d MiB) |", w.name, budget.name, budget.bytes(tr)>>20)
			for _, p := range policies {
				h, err := runPolicy(tr, p, budget.bytes(tr))
				if err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(&sb, " %.1f / %.1f |", h.bytePct(), h.objPct())
			}
			sb.WriteString("\n")
		}
	}
	sb.WriteString("\nCells are byte hit ratio / object hit ratio, in percent, after warmup.\n")
	for _, w := range hitRatioWorkloads {
		tr := cachedTrace(w)
		fmt.Fprintf(&sb, "%s: %d objects (%.1f GiB), Zipf s=%.1f, %d requests of which the first %d are not counted",
			w.name, w.objects, float64(tr.workingSet)/(1<<30), w.zipfS, len(tr.reqs), w.warmup)
		if w.scan > 0 {
			fmt.Fprintf(&sb, ", %d of them a one-pass scan of cold objects halfway through", w.scan)
		}
		sb.WriteString(".\n")
	}
	sb.WriteString("Belady evicts the object read furthest in the future and ignores sizes: a reference, not a bound; " +
		"admission that favours small objects can beat its object hit ratio.\n")
	fmt.Fprint(os.Stdout, sb.String())
}
