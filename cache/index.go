package cache

import (
	"cmp"
	"slices"
	"strings"
	"sync"
)

// index is the cache's side index of committed entries by cache key, so
// that they can be listed (top keys, prefix purges): ristretto keeps key
// hashes and cannot iterate. It holds at most one entry per cache key, the
// last one committed, and drops an entry when ristretto lets go of it
// (OnExit: eviction, expiry sweep, rejection, delete, replacement), so it
// never keeps memory alive that the store freed. Entries the generations
// fenced (InvalidateBucket, InvalidateAll, versioned entries of a written
// key) are dropped when a listing finds them dead. The zero value is ready;
// it is safe for concurrent use.
//
// Get does not touch it: hits are counted in the entry itself.
type index struct {
	mu      sync.Mutex
	m       map[string]*Entry
	encoded int64 // entries of m with an encoded body
	saved   int64 // sum of their Entry.saved
}

// add records e, committed under its cache key.
func (x *index) add(e *Entry) {
	x.mu.Lock()
	if x.m == nil {
		x.m = make(map[string]*Entry)
	}
	if prev := x.m[e.key]; prev != nil {
		x.count(prev, -1)
	}
	x.m[e.key] = e
	x.count(e, 1)
	x.mu.Unlock()
}

// remove forgets e if it is still the entry recorded under its key.
func (x *index) remove(e *Entry) {
	if e == nil {
		return
	}
	x.mu.Lock()
	if x.m[e.key] == e {
		delete(x.m, e.key)
		x.count(e, -1)
	}
	x.mu.Unlock()
}

// count adds (sign 1) or takes away (-1) e's share of the encoding
// totals. The caller holds x.mu.
func (x *index) count(e *Entry, sign int64) {
	if e.Encoded() {
		x.encoded += sign
		x.saved += sign * e.saved()
	}
}

// encoding returns the number of recorded entries with an encoded body and
// the bytes their encoding saves.
func (x *index) encoding() (entries, saved int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.encoded, x.saved
}

// snapshot returns the recorded entries.
func (x *index) snapshot() []*Entry {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make([]*Entry, 0, len(x.m))
	for _, e := range x.m {
		out = append(out, e)
	}
	return out
}

// clear forgets every entry.
func (x *index) clear() {
	x.mu.Lock()
	clear(x.m)
	x.encoded, x.saved = 0, 0
	x.mu.Unlock()
}

// KeyStat is one cached object version as listed by [Cache.TopKeys]. The
// zero KeyStat is the current version of an empty key, never hit.
type KeyStat struct {
	Bucket    string
	Key       string
	VersionID string // "" for the current version
	Hits      uint64 // Gets that returned the entry since it was committed
	Bytes     int64  // the entry's cost
	ETag      string // the entry's ETag header, "" if none
}

// live returns the entries of the index that Get would serve or
// GetExpired would revalidate, and for which match (if not nil) is true,
// with their bucket, key and version. Dead entries are dropped from the
// index on the way.
func (c *Cache) live(match func(bucket, key string) bool) []KeyStat {
	if c == nil {
		return nil
	}
	now := c.now()
	var out []KeyStat
	for _, e := range c.index.snapshot() {
		bucket, version, key, ok := SplitKey(e.key)
		if !ok {
			c.index.remove(e)
			continue
		}
		if !c.gens.currentFor(e.ticket, bucket, key) || !now.Before(e.Expires.Add(c.retain)) {
			c.index.remove(e)
			continue
		}
		if !now.Before(e.Expires) || match != nil && !match(bucket, key) {
			continue
		}
		var etag string
		if v := e.Header["Etag"]; len(v) > 0 {
			etag = v[0]
		}
		out = append(out, KeyStat{Bucket: bucket, Key: key, VersionID: version, Hits: e.hits.Load(), Bytes: e.cost(), ETag: etag})
	}
	return out
}

// TopKeys returns up to n live entries with the most hits, most first (ties
// by bucket, key and version). It walks every entry: call it for
// operators, not per request. On a nil Cache it returns nil.
func (c *Cache) TopKeys(n int) []KeyStat {
	all := c.live(nil)
	slices.SortFunc(all, func(a, b KeyStat) int {
		return cmp.Or(cmp.Compare(b.Hits, a.Hits), cmp.Compare(a.Bucket, b.Bucket),
			cmp.Compare(a.Key, b.Key), cmp.Compare(a.VersionID, b.VersionID))
	})
	return all[:min(n, len(all))]
}

// PurgeKey invalidates every cached version of key in bucket, as a write
// does ([Cache.Invalidate]), and returns how many live entries that
// removed.
func (c *Cache) PurgeKey(bucket, key string) int {
	n := len(c.live(func(b, k string) bool { return b == bucket && k == key }))
	c.Invalidate(bucket, key)
	return n
}

// PurgePrefix invalidates every cached key of bucket that starts with
// prefix, each as [Cache.Invalidate] does, and returns how many live
// entries that removed. Keys are found through the index: a fill of a key
// that is not cached yet is not fenced; the caller fences fills in flight
// with [Cache.Invalidate].
func (c *Cache) PurgePrefix(bucket, prefix string) int {
	found := c.live(func(b, k string) bool { return b == bucket && strings.HasPrefix(k, prefix) })
	for _, s := range found {
		c.Invalidate(s.Bucket, s.Key)
	}
	return len(found)
}

// PurgeBucket invalidates every key of bucket ([Cache.InvalidateBucket])
// and returns how many live entries that removed.
func (c *Cache) PurgeBucket(bucket string) int {
	n := len(c.live(func(b, _ string) bool { return b == bucket }))
	c.InvalidateBucket(bucket)
	return n
}

// PurgeAll invalidates every entry ([Cache.InvalidateAll]) and returns how
// many live entries that removed.
func (c *Cache) PurgeAll() int {
	n := len(c.live(nil))
	c.InvalidateAll()
	if c != nil {
		c.index.clear()
	}
	return n
}

// StoredETag returns the ETag header of the live entry under cacheKey (see
// [Key]) for bucket and key, or "" when there is none. Unlike Get it does
// not count a hit.
func (c *Cache) StoredETag(bucket, key, cacheKey string) string {
	if c == nil {
		return ""
	}
	c.index.mu.Lock()
	e := c.index.m[cacheKey]
	c.index.mu.Unlock()
	if e == nil || !c.gens.currentFor(e.ticket, bucket, key) || !c.now().Before(e.Expires) {
		return ""
	}
	if v := e.Header["Etag"]; len(v) > 0 {
		return v[0]
	}
	return ""
}
