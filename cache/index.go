package cache

import (
	"cmp"
	"slices"
	"strings"
	"sync"
)

// index is the cache's side index of committed entries, so that they can
// be listed (top keys, prefix purges) and freed when an invalidation makes
// them dead: ristretto keeps key hashes and cannot iterate.
//
// It holds at most one entry per cache key, the last one committed, in m,
// and chains the same entries into one list per generation stripe of their
// ticket, key stripes and bucket stripes (see [generations]): a stripe's
// list holds every entry that a bump of that stripe fences, whatever its
// kind (whole object, version, description of a large object, block), so
// an invalidation finds the entries it killed without a scan of the whole
// index. A list also holds the entries of the other keys (or buckets) that
// hash to its stripe: the bump fences them too, so they are freed with
// it. An invalidation frees every entry it walks but those committed since
// its bump, so the lists of written stripes stay short: over time a walk
// costs about one step per entry committed to its stripe since the last.
//
// It drops an entry when ristretto lets go of it (OnExit: eviction, expiry
// sweep, rejection, delete, replacement), so it never keeps memory alive
// that the store freed; unlinking an entry clears its links. The zero value
// is ready; it is safe for concurrent use.
//
// Get does not touch it: hits are counted in the entry itself. Commit adds
// to it under one mutex in constant time: a map insert and two list pushes.
type index struct {
	mu      sync.Mutex
	m       map[string]*Entry
	keys    [keyStripes]*Entry    // heads of the lists by key stripe
	buckets [bucketStripes]*Entry // heads of the lists by bucket stripe
	encoded int64                 // entries of m with an encoded body
	saved   int64                 // sum of their Entry.saved
}

// The lists an entry is chained into, indexes of Entry.links.
const (
	byKey = iota
	byBucket
)

// link is an entry's place in one of the index's lists.
type link struct{ prev, next *Entry }

// head returns the head of e's list l. The caller holds x.mu.
func (x *index) head(l int, e *Entry) **Entry {
	if l == byKey {
		return &x.keys[e.ticket.keyStripe]
	}
	return &x.buckets[e.ticket.bucketStripe]
}

// push puts e at the front of its lists. The caller holds x.mu.
func (x *index) push(e *Entry) {
	for l := range e.links {
		h := x.head(l, e)
		e.links[l] = link{next: *h}
		if *h != nil {
			(*h).links[l].prev = e
		}
		*h = e
	}
}

// unlink takes e out of its lists and clears its links. The caller holds
// x.mu.
func (x *index) unlink(e *Entry) {
	for l := range e.links {
		k := e.links[l]
		if k.prev != nil {
			k.prev.links[l].next = k.next
		} else {
			*x.head(l, e) = k.next
		}
		if k.next != nil {
			k.next.links[l].prev = k.prev
		}
		e.links[l] = link{}
	}
}

// add records e, committed under its cache key.
func (x *index) add(e *Entry) {
	x.mu.Lock()
	if x.m == nil {
		x.m = make(map[string]*Entry)
	}
	if prev := x.m[e.key]; prev != nil {
		x.count(prev, -1)
		x.unlink(prev)
	}
	x.m[e.key] = e
	x.push(e)
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
		x.unlink(e)
		x.count(e, -1)
	}
	x.mu.Unlock()
}

// holds reports whether e is the entry recorded under its key.
func (x *index) holds(e *Entry) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.m[e.key] == e
}

// stripe returns the entries of list l (byKey or byBucket) of the given
// stripe for which keep (if not nil) is true.
func (x *index) stripe(l int, stripe uint32, keep func(*Entry) bool) []*Entry {
	x.mu.Lock()
	defer x.mu.Unlock()
	var e *Entry
	if l == byKey {
		e = x.keys[stripe]
	} else {
		e = x.buckets[stripe]
	}
	var out []*Entry
	for ; e != nil; e = e.links[l].next {
		if keep == nil || keep(e) {
			out = append(out, e)
		}
	}
	return out
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

// snapshot returns the recorded entries for which keep (if not nil) is
// true.
func (x *index) snapshot(keep func(*Entry) bool) []*Entry {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make([]*Entry, 0, len(x.m))
	for _, e := range x.m {
		if keep == nil || keep(e) {
			out = append(out, e)
		}
	}
	return out
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

// live returns those of entries that Get would serve, for which match (if
// not nil) is true, with their bucket, key and version. Those that can no
// longer be served or revalidated are freed on the way.
func (c *Cache) live(entries []*Entry, match func(bucket, key string) bool) []liveEntry {
	if c == nil {
		return nil
	}
	now := c.now()
	var out []liveEntry
	for _, e := range entries {
		parts, ok := ParseKey(e.key)
		if !ok {
			continue
		}
		if !c.gens.currentFor(e.ticket, parts.Bucket, parts.Key) || !now.Before(e.Expires.Add(c.retain)) {
			c.drop(e)
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

// objects folds the entries of one object version into one KeyStat: the
// whole object's, or else its description's, with the bytes and hits of
// the other (a HEAD stores a description of an object also stored whole)
// and the bytes of the blocks of its ETag added. Blocks and part
// descriptions whose object is not listed are left out; they cannot be
// served without it.
func objects(all []liveEntry) []KeyStat {
	type version struct{ bucket, key, versionID, etag string }
	out := make([]KeyStat, 0, len(all))
	at := map[version]int{} // position in out
	for _, kind := range [...]KeyKind{KindObject, KindMeta} {
		for _, e := range all {
			if e.kind != kind {
				continue
			}
			v := version{e.Bucket, e.Key, e.VersionID, e.ETag}
			if i, ok := at[v]; ok {
				out[i].Bytes += e.Bytes
				out[i].Hits += e.Hits
				continue
			}
			at[v] = len(out)
			out = append(out, e.KeyStat)
		}
	}
	for _, e := range all {
		if e.kind != KindBlock && e.kind != KindPart {
			continue
		}
		if i, ok := at[version{e.Bucket, e.Key, e.VersionID, e.ETag}]; ok {
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
	if c == nil {
		return nil
	}
	all := objects(c.live(c.index.snapshot(nil), nil))
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
	if c == nil {
		return 0
	}
	ks, _ := c.gens.stripes(bucket, key)
	n := len(c.live(c.index.stripe(byKey, ks, nil), func(b, k string) bool { return b == bucket && k == key }))
	c.Invalidate(bucket, key)
	return n
}

// PurgePrefix invalidates every cached key of bucket that starts with
// prefix, each as [Cache.Invalidate] does, and returns how many live
// entries that removed, blocks included. Keys are found through the
// index: a fill of a key that is not cached yet is not fenced; the caller
// fences fills in flight with [Cache.Invalidate].
func (c *Cache) PurgePrefix(bucket, prefix string) int {
	if c == nil {
		return 0
	}
	_, bs := c.gens.stripes(bucket, "")
	found := c.live(c.index.stripe(byBucket, bs, nil), func(b, k string) bool { return b == bucket && strings.HasPrefix(k, prefix) })
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
	if c == nil {
		return 0
	}
	_, bs := c.gens.stripes(bucket, "")
	n := len(c.live(c.index.stripe(byBucket, bs, nil), func(b, _ string) bool { return b == bucket }))
	c.InvalidateBucket(bucket)
	return n
}

// PurgeAll invalidates every entry ([Cache.InvalidateAll]) and returns how
// many live entries that removed.
func (c *Cache) PurgeAll() int {
	if c == nil {
		return 0
	}
	n := len(c.live(c.index.snapshot(nil), nil))
	c.InvalidateAll()
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

// Peek returns the entry Get would serve under cacheKey, if any, without
// counting an access (as Fresh). The entry must not be modified.
func (c *Cache) Peek(bucket, key, cacheKey string) (*Entry, bool) {
	if c == nil {
		return nil, false
	}
	c.index.mu.Lock()
	e := c.index.m[cacheKey]
	c.index.mu.Unlock()
	if e == nil || !c.gens.currentFor(e.ticket, bucket, key) || !c.now().Before(e.Expires) || !c.trusted(e.ticket) {
		return nil, false
	}
	return e, true
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
