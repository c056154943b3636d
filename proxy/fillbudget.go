package proxy

import "sync/atomic"

// fillBudget bounds the bytes held by cache fills in progress: each fill
// holds its object's whole body until it is committed, on top of what the
// cache holds. A miss that would exceed the budget is relayed to its client
// without being stored, as an object too large to cache would be. The zero
// value admits nothing.
type fillBudget struct {
	limit int64
	used  atomic.Int64
}

// reserve takes n bytes of the budget and reports whether it could.
func (b *fillBudget) reserve(n int64) bool {
	for {
		cur := b.used.Load()
		if cur+n > b.limit {
			return false
		}
		if b.used.CompareAndSwap(cur, cur+n) {
			return true
		}
	}
}

// prefetchRoom is what prefetches may still take: they keep half the
// budget free for the reads clients are waiting on.
func (b *fillBudget) prefetchRoom() int64 { return b.limit/2 - b.used.Load() }

// release returns n reserved bytes.
func (b *fillBudget) release(n int64) { b.used.Add(-n) }

// fillLimit is the budget of fills in progress: the largest object any
// rule lets the cache store, so one fill of it always fits, and at least
// room for a few blocks of objects cached in blocks (see blocks.go).
func (c Config) fillLimit() int64 {
	limit := max(c.CacheMaxObjectBytes, min(4*c.CacheBlockBytes, c.CacheMaxBytes))
	if c.CachePolicy != nil {
		for _, r := range c.CachePolicy.Rules {
			limit = max(limit, min(r.MaxObjectBytes, c.CacheMaxBytes))
		}
	}
	return limit
}

// SoftMemoryLimit is the heap size the Go runtime should aim below
// (runtime/debug.SetMemoryLimit) for this configuration: the cache's
// budget, the fills in progress and a margin for everything else (buffers
// of requests streaming through, the runtime). Without it the garbage
// collector lets the heap grow to about twice what the cache holds before
// collecting.
func (c Config) SoftMemoryLimit() int64 {
	c = c.withDefaults()
	return c.CacheMaxBytes + c.fillLimit() + memoryMargin
}

// memoryMargin is the heap allowed beyond the cache and its fills.
const memoryMargin = 24 << 20
