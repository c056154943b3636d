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

// liveEntry is a live entry as live lists it.
type liveEntry struct {
	KeyStat
	kind KeyKind
}

// live returns the entries of the index that Get would serve or
// GetExpired would revalidate, and for which match (if not nil) is true,
// with their bucket, key and version. Dead entries are dropped from the
// index on the way.
func (c *Cache) live(match func(bucket, key string) bool) []liveEntry {
	if c == nil {
		return nil
	}
	now := c.now()
	var out []liveEntry
	for _, e := range c.index.snapshot() {
		parts, ok := ParseKey(e.key)
		if !ok {
			c.index.remove(e)
			continue
		}
		if !c.gens.currentFor(e.ticket, parts.Bucket, parts.Key) || !now.Before(e.Expires.Add(c.retain)) {
			c.index.remove(e)
			continue
		}
		if !now.Before(e.Expires) || match != nil && !match(parts.Bucket, parts.Key) {
			continue
		}
		etag := e.etag()
		out = append(out, liveEntry{
			KeyStat: KeyStat{Bucket: parts.Bucket, Key: parts.Key, VersionID: parts.VersionID, Hits: e.hits.Load(), Bytes: e.cost(), ETag: etag},
			kind:    parts.Kind,
		})
	}
	return out
}

// objects folds the entries of objects cached in blocks into one KeyStat
// per object version: the description's, with the bytes of the blocks of
// its ETag added. Blocks whose description is gone are left out; they
// cannot be served without it.
func objects(all []liveEntry) []KeyStat {
	type version struct{ bucket, key, versionID, etag string }
	out := make([]KeyStat, 0, len(all))
	metas := map[version]int{} // position in out
	for _, e := range all {
		if e.kind == KindMeta {
			metas[version{e.Bucket, e.Key, e.VersionID, e.ETag}] = len(out)
		}
		if e.kind != KindBlock {
			out = append(out, e.KeyStat)
		}
	}
	for _, e := range all {
		if e.kind != KindBlock {
			continue
		}
		if i, ok := metas[version{e.Bucket, e.Key, e.VersionID, e.ETag}]; ok {
			out[i].Bytes += e.Bytes
		}
	}
	return out
}

// TopKeys returns up to n live object versions with the most hits, most
// first (ties by bucket, key and version). An object cached in blocks is
// listed once, with the bytes of its blocks and the hits of its
// description (one per read). It walks every entry: call it for
// operators, not per request. On a nil Cache it returns nil.
func (c *Cache) TopKeys(n int) []KeyStat {
	all := objects(c.live(nil))
	slices.SortFunc(all, func(a, b KeyStat) int {
		return cmp.Or(cmp.Compare(b.Hits, a.Hits), cmp.Compare(a.Bucket, b.Bucket),
			cmp.Compare(a.Key, b.Key), cmp.Compare(a.VersionID, b.VersionID))
	})
	return all[:min(n, len(all))]
}

// PurgeKey invalidates every cached version of key in bucket, as a write
// does ([Cache.Invalidate]), and returns how many live entries that
// removed, blocks included.
func (c *Cache) PurgeKey(bucket, key string) int {
	n := len(c.live(func(b, k string) bool { return b == bucket && k == key }))
	c.Invalidate(bucket, key)
	return n
}

// PurgePrefix invalidates every cached key of bucket that starts with
// prefix, each as [Cache.Invalidate] does, and returns how many live
// entries that removed, blocks included. Keys are found through the
// index: a fill of a key that is not cached yet is not fenced; the caller
// fences fills in flight with [Cache.Invalidate].
func (c *Cache) PurgePrefix(bucket, prefix string) int {
	found := c.live(func(b, k string) bool { return b == bucket && strings.HasPrefix(k, prefix) })
	done := map[string]bool{}
	for _, s := range found {
		if !done[s.Key] {
			done[s.Key] = true
			c.Invalidate(s.Bucket, s.Key)
		}
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
	return e.etag()
}

// Fresh reports whether an entry Get would serve is stored under cacheKey:
// committed under the current generations, unexpired and trusted. It
// looks at the index only: unlike Get it counts no access, so asking does
// not change which entries the store's admission policy keeps.
func (c *Cache) Fresh(bucket, key, cacheKey string) bool {
	if c == nil {
		return false
	}
	c.index.mu.Lock()
	e := c.index.m[cacheKey]
	c.index.mu.Unlock()
	return e != nil && c.gens.currentFor(e.ticket, bucket, key) && c.now().Before(e.Expires) && c.trusted(e.ticket)
}

// etag returns the entry's ETag header, spelled as S3 does ("ETag") or as
// Go canonicalises it ("Etag"); "" if it has none.
func (e *Entry) etag() string {
	for _, k := range [...]string{"ETag", "Etag"} {
		if v := e.Header[k]; len(v) > 0 {
			return v[0]
		}
	}
	return ""
}
