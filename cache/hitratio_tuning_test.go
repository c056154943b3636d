package cache

import "testing"

// tuningVariant is a named way to size the store for a Config, compared
// against the default by BenchmarkHitRatioTuning.
type tuningVariant struct {
	name string
	tune func(cfg Config) tuning
}

// withMeanEntryCost returns a variant that sizes the admission sketch for
// entries of n bytes.
func withMeanEntryCost(name string, n int64) tuningVariant {
	return tuningVariant{name: name, tune: func(cfg Config) tuning {
		cfg.MeanEntryCost = n
		return cfg.tuning()
	}}
}

// withBufferItems returns a variant with Get buffers of n accesses.
func withBufferItems(name string, n int64) tuningVariant {
	return tuningVariant{name: name, tune: func(cfg Config) tuning {
		tn := cfg.tuning()
		tn.bufferItems = n
		return tn
	}}
}

// withMaxEntry returns a variant that refuses entries costing more than
// 1/div of the budget.
func withMaxEntry(name string, div int64) tuningVariant {
	return tuningVariant{name: name, tune: func(cfg Config) tuning {
		tn := cfg.tuning()
		tn.maxEntryCost = cfg.MaxBytes / div
		return tn
	}}
}

// tuningVariants are the store sizings BenchmarkHitRatioTuning compares.
var tuningVariants = []tuningVariant{
	{name: "default", tune: Config.tuning},
	withMeanEntryCost("mean=4KiB", 4<<10), // the sizing before DefaultMeanEntryCost
	withMeanEntryCost("mean=16KiB", 16<<10),
	withMeanEntryCost("mean=256KiB", 256<<10),
	withBufferItems("buffer=8", 8),
	withBufferItems("buffer=256", 256),
	withMaxEntry("maxentry=1/4", 4),
	withMaxEntry("maxentry=1/16", 16),
}

// tuningWorkloads are the hit-ratio workloads plus one of small objects
// only, whose mean entry cost is far below DefaultMeanEntryCost.
var tuningWorkloads = append(hitRatioWorkloads[:len(hitRatioWorkloads):len(hitRatioWorkloads)], workload{
	name: "zipf0.9-small", objects: 200000, zipfS: 0.9, requests: 2000000, warmup: 400000, seed: 3,
	sizes: []sizeClass{{permille: 1000, lo: 1 << 10, hi: 16 << 10}},
})

// BenchmarkHitRatioTuning replays the tuning workloads through caches sized
// by each tuning variant, to decide the defaults with numbers. Like
// BenchmarkHitRatio it is meant for -benchtime=1x; ristretto's random
// seeds move s3cache's ratios by up to a point or two between runs, so
// compare with -count.
func BenchmarkHitRatioTuning(b *testing.B) {
	for _, w := range tuningWorkloads {
		b.Run(w.name, func(b *testing.B) {
			t := cachedTrace(w)
			for _, budget := range hitRatioBudgets {
				b.Run(budget.name, func(b *testing.B) {
					for _, v := range tuningVariants {
						b.Run(v.name, func(b *testing.B) {
							cfg := Config{MaxBytes: budget.bytes(t), TTL: 1}.withDefaults()
							tn := v.tune(cfg)
							p := policy{name: v.name, make: func(t *trace, budget int64) (replayer, error) {
								return newCacheSim(t, budget, &tn)
							}}
							var h hitRatio
							for b.Loop() {
								var err error
								if h, err = runPolicy(t, p, cfg.MaxBytes); err != nil {
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
