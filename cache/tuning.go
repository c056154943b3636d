package cache

// tuning holds the store's sizing knobs that Config does not expose: the
// size of ristretto's admission sketch, the batch size of its access
// buffers, and the largest entry Commit offers. New derives it from the
// Config with [Config.tuning]; the hit-ratio benchmarks build caches with
// other values to compare them against the defaults.
type tuning struct {
	// numCounters is ristretto's NumCounters: the counters of its TinyLFU
	// frequency sketch, which is also how many accesses the sketch counts
	// before it halves every counter (its aging window).
	numCounters int64
	// bufferItems is ristretto's BufferItems: how many accesses a Get buffer
	// collects before it hands them to the admission policy in one batch.
	bufferItems int64
	// maxEntryCost is the largest cost Commit offers to the store; larger
	// entries are refused like entries over Config.MaxBytes.
	maxEntryCost int64
}

// tuning returns the store sizing New uses for c, whose defaults must
// already be applied.
//
// BenchmarkHitRatioTuning backs the two fixed choices. Buffers of 8 or 256
// accesses instead of ristretto's advised 64 moved hit ratios by no more
// than a run's noise (about a point). Refusing entries that cost more than
// a quarter of MaxBytes changed nothing beyond noise either; refusing those
// over a sixteenth raised object hit ratios by 3 to 10 points at a budget
// of 1% of the data but cut byte hit ratios by three quarters, so only
// MaxBytes bounds an entry and TinyLFU's frequency test decides the rest.
func (c Config) tuning() tuning {
	return tuning{
		numCounters:  c.numCounters(),
		bufferItems:  64,
		maxEntryCost: c.MaxBytes,
	}
}
