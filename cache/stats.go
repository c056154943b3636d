package cache

// Stats is a snapshot of a [Cache]'s counters, for metrics. Counters are
// cumulative since New. The zero Stats is an empty, idle cache.
type Stats struct {
	// Entries is the number of entries held, live or not yet swept.
	Entries int64
	// Bytes is the cost held, never more than Config.MaxBytes.
	Bytes int64
	// Hits counts Gets that returned an entry.
	Hits uint64
	// Misses counts Gets that returned none, including those that found an
	// expired or invalidated entry.
	Misses uint64
	// Evictions counts entries removed to make room or because ristretto's
	// sweep found them expired. Deletes by Invalidate and Get are not counted.
	Evictions uint64
	// Rejected counts commits that were not stored: entries costing more
	// than Config.MaxBytes, and entries ristretto's admission policy refused.
	Rejected uint64
	// Dropped counts commits ristretto discarded because its write buffer
	// was full.
	Dropped uint64
	// EncodedEntries is the number of entries held whose body is encoded
	// (see [Entry.DecodedLen]).
	EncodedEntries int64
	// EncodedSaved is the bytes their encoding saves: the sum of
	// DecodedLen - len(Body) over them.
	EncodedSaved int64
}

// Stats returns the cache's counters. The fields are read one by one, so
// under concurrent use they need not be mutually consistent. On a nil Cache
// it returns the zero Stats. Stats is safe for concurrent use.
func (c *Cache) Stats() Stats {
	if c == nil {
		return Stats{}
	}
	m := c.store.Metrics
	// Read deadHits before Hits: each dead hit is counted by ristretto
	// first, so Hits - dead never underflows.
	dead := c.deadHits.Load()
	hits := m.Hits()
	encoded, saved := c.index.encoding()
	return Stats{
		Entries:   int64(m.KeysAdded() - m.KeysEvicted()),
		Bytes:     c.store.MaxCost() - c.store.RemainingCost(),
		Hits:      hits - dead,
		Misses:    m.Misses() + dead,
		Evictions: c.evictions.Load(),
		Rejected:  m.SetsRejected() + c.tooLarge.Load(),
		Dropped:   m.SetsDropped(),

		EncodedEntries: encoded,
		EncodedSaved:   saved,
	}
}
