// Package cache holds the objects s3cache serves without asking the backend.
//
// It is a thin layer over a cost-bounded ristretto cache that adds the two
// things a caching proxy cannot get from ristretto alone: a lifetime measured
// on an injected clock, and invalidation that is correct although ristretto
// applies writes asynchronously and in no promised order.
//
// # Life of a fill
//
// The proxy calls [Cache.Begin] before it asks the backend for an object. The
// [Ticket] it gets back records the generation counters of the object's
// bucket and key. When the body has been read to EOF it builds an [Entry] and
// calls [Cache.Commit] with that ticket. Commit refuses the entry if the key or
// the bucket was invalidated in between, and otherwise stores it together with
// the ticket.
//
// # Why generations and not deletes
//
// A write request for a key calls [Cache.Invalidate], which bumps the key's
// generation and then deletes every entry the bump fenced: every version,
// the description and blocks of a large object. The deletes only free
// memory, at once, so that dead entries neither hold the budget nor win
// admission over live ones; correctness comes from the generation:
// [Cache.Get] compares the ticket stored with an entry to the current
// counters and treats any difference as a miss. So a Set that ristretto
// applies after the Invalidate that should have removed it, or an entry a
// delete missed, can never be served. A side index lists the committed
// entries by generation stripe, so an invalidation finds the entries it
// fenced without a scan.
//
// Generations live in fixed arrays of striped counters indexed by a hash, so
// their memory is bounded however many keys pass through. Two keys sharing a
// stripe only cost each other extra misses, never a stale hit.
//
// # Hit ratio
//
// Admission is ristretto's TinyLFU: a new entry displaces held ones only if
// it was asked for at least as often as they were. BenchmarkHitRatio replays
// Zipf traces of mixed object sizes through the cache, a byte-bounded LRU
// and Belady's furthest-next-use policy, and BenchmarkHitRatioTuning
// compares the store's sizing knobs; [Config.MeanEntryCost] is the one a
// deployment may need to set.
//
// The package imports neither net/http nor anything else from this module.
package cache
