package cache

import (
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// Cache holds object responses in memory under a cost budget, with a lifetime
// and generation-based invalidation; see the package documentation.
//
// All methods are safe for concurrent use, except that Close must not race
// with other calls. A nil *Cache is a cache that holds nothing: Get misses,
// Commit refuses, and the other methods do nothing, so a proxy with caching
// disabled can pass nil. The zero Cache is not usable; build one with [New].
type Cache struct {
	store    *ristretto.Cache[string, *Entry]
	gens     *generations
	now      func() time.Time
	ttl      time.Duration
	retain   time.Duration
	maxEntry int64 // largest cost Commit offers to the store
	index    index // committed entries by cache key, for listing
	// epoch is the trust epoch: entries committed under an older one are
	// only revalidated, never served as fresh. See Distrust.
	epoch atomic.Uint64

	deadHits  atomic.Uint64 // ristretto hits we turned into misses
	tooLarge  atomic.Uint64 // entries never offered because of their cost
	evictions atomic.Uint64 // ristretto OnEvict calls (pressure and expiry)
	closeOnce sync.Once

	// testHookBeforeSet, if set, runs in Commit after the ticket check and
	// before the entry is handed to ristretto.
	testHookBeforeSet func()
}

// New validates cfg, applies its defaults and returns a running Cache. The
// caller must Close it to stop ristretto's goroutines.
func New(cfg Config) (*Cache, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return newCache(cfg, cfg.tuning())
}

// newCache builds a Cache from cfg, whose defaults are already applied, with
// the store sized by tn. New passes cfg.tuning(); the hit-ratio benchmarks
// pass other values to compare them.
func newCache(cfg Config, tn tuning) (*Cache, error) {
	c := &Cache{
		gens:     &generations{seed: maphash.MakeSeed()},
		now:      cfg.Now,
		ttl:      cfg.TTL,
		retain:   cfg.Retain,
		maxEntry: min(cfg.MaxBytes, tn.maxEntryCost),
	}
	store, err := ristretto.NewCache(&ristretto.Config[string, *Entry]{
		NumCounters:            tn.numCounters,
		MaxCost:                cfg.MaxBytes,
		BufferItems:            tn.bufferItems,
		Metrics:                true,
		IgnoreInternalCost:     true,
		TtlTickerDurationInSec: cfg.cleanupSeconds(),
		OnEvict:                func(*ristretto.Item[*Entry]) { c.evictions.Add(1) },
		// Every value ristretto lets go of (evicted, swept, rejected,
		// deleted or replaced) leaves the index too.
		OnExit: c.index.remove,
	})
	if err != nil {
		return nil, fmt.Errorf("cache: ristretto: %w", err)
	}
	c.store = store
	return c, nil
}

// Close stops the cache and frees what it holds. Call it once every other
// call has returned; later calls to any method, Close included, are harmless
// (Get misses, Commit refuses).
func (c *Cache) Close() {
	if c == nil {
		return
	}
	c.closeOnce.Do(c.store.Close)
}

// Begin starts a fill of (bucket, key): call it before asking the backend,
// and pass the ticket to Commit once the response is complete. On a nil Cache
// it returns the zero Ticket.
func (c *Cache) Begin(bucket, key string) Ticket {
	if c == nil {
		return Ticket{}
	}
	t := c.gens.snapshot(bucket, key)
	t.epoch = c.epoch.Load()
	return t
}

// Distrust makes every entry committed so far, and every fill begun so
// far, untrusted: Get no longer serves them as fresh, GetExpired returns
// them for revalidation, and Current is false for the fills. Call it when
// invalidations from elsewhere may have been lost, as when the connection
// to the replicas' shared generations broke. Entries committed under
// tickets taken afterwards are trusted again.
func (c *Cache) Distrust() {
	if c == nil {
		return
	}
	c.epoch.Add(1)
}

// trusted reports whether t's fill may be served as fresh: confirmed, and
// taken in the current trust epoch.
func (c *Cache) trusted(t Ticket) bool {
	return !t.unconfirmed && t.epoch == c.epoch.Load()
}

// Current reports whether no invalidation of the key or bucket t was taken
// for happened since, no write to them is in flight, and t is trusted (see
// [Cache.Distrust] and [Ticket.Unconfirmed]). A fill in flight
// whose ticket is not current may hold bytes that predate a write; nobody
// new should join it.
func (c *Cache) Current(t Ticket) bool {
	return c != nil && c.gens.current(t) && c.trusted(t)
}

// Commit stores e under cacheKey, which must be [Key] of the bucket and key t
// was taken for, unless the key or its bucket was invalidated since t was
// taken or e's cost exceeds [Config.MaxBytes]. It sets e.Stored and e.Expires
// from the cache's clock; e belongs to the cache afterwards (see [Entry]).
//
// It reports whether e was offered to the store, and returns once the store
// has processed the offer, so an admitted entry is visible to the next Get.
// Ristretto's admission policy may still refuse it, so true does not
// promise a later hit; false promises a miss.
func (c *Cache) Commit(t Ticket, cacheKey string, e *Entry) bool {
	if c == nil || e == nil || !c.gens.current(t) {
		return false
	}
	e.key = cacheKey
	cost := e.cost()
	if cost > c.maxEntry {
		c.tooLarge.Add(1)
		return false
	}
	ttl := c.ttl
	if e.TTL > 0 {
		ttl = e.TTL
	}
	now := c.now()
	e.Stored = now
	e.Expires = now.Add(ttl)
	e.ticket = t
	if c.testHookBeforeSet != nil {
		c.testHookBeforeSet()
	}
	// Replacing a present key in place would let ristretto raise its cost
	// without evicting anything, overrunning MaxBytes. Deleting first makes
	// the Set a new item, which the policy admits only after making room.
	c.store.Del(cacheKey)
	// Recorded before the Set, so that a rejection or an eviction that
	// ristretto reports while applying it removes it again.
	c.index.add(e)
	// An invalidation landing between the ticket check above and this Set
	// is harmless: the entry carries t, and Get will find it stale.
	if !c.store.SetWithTTL(cacheKey, e, cost, ttl+c.retain) {
		c.index.remove(e)
		return false
	}
	// Ristretto applies Sets asynchronously. Waiting for this one makes a
	// fill visible to the very next Get, so a client that reads an object
	// twice in a row gets a hit the second time. It costs a channel round
	// trip on the miss path only.
	c.store.Wait()
	// An invalidation between the ticket check and here may have walked
	// the index before e was in it, or deleted the key before the Set was
	// applied: free e as it would have. Get would never serve it anyway.
	if c.gens.fenced(t) {
		c.drop(e)
	}
	return true
}

// Get returns the entry stored under cacheKey, which must be [Key] of bucket
// and key, if it is live: not expired on the cache's clock, committed
// under the current generations of key and bucket, and trusted (see
// [Cache.Distrust]). Otherwise it reports a
// miss and deletes the entry if it can no longer be used at all. The
// returned entry is shared and read-only.
func (c *Cache) Get(bucket, key, cacheKey string) (*Entry, bool) {
	e, fresh := c.lookup(bucket, key, cacheKey)
	if !fresh {
		if e != nil {
			c.deadHits.Add(1) // retained for revalidation, a miss for Get
		}
		return nil, false
	}
	e.hits.Add(1)
	return e, true
}

// GetExpired returns the entry under cacheKey if it is expired but still
// retained (see [Config.Retain]), or live but untrusted (see
// [Cache.Distrust]), and was committed under the current
// generations of key and bucket: an entry a write made unservable is never
// returned. Call it after Get missed, to revalidate the entry or to serve
// it stale when the backend fails.
func (c *Cache) GetExpired(bucket, key, cacheKey string) (*Entry, bool) {
	e, fresh := c.lookup(bucket, key, cacheKey)
	if e == nil || fresh {
		return nil, false
	}
	return e, true
}

// lookup returns the usable entry under cacheKey, fresh or retained, and
// whether it is fresh. It deletes an entry that is of no use any more.
func (c *Cache) lookup(bucket, key, cacheKey string) (e *Entry, fresh bool) {
	if c == nil {
		return nil, false
	}
	e, ok := c.store.Get(cacheKey)
	if !ok || e == nil {
		return nil, false
	}
	if c.gens.currentFor(e.ticket, bucket, key) {
		now := c.now()
		if now.Before(e.Expires) {
			// An untrusted entry is kept for revalidation, as if expired.
			return e, c.trusted(e.ticket)
		}
		if now.Before(e.Expires.Add(c.retain)) {
			return e, false
		}
	}
	c.deadHits.Add(1)
	// The Del may remove a live entry committed since our read; that only
	// costs a miss.
	c.store.Del(cacheKey)
	return nil, false
}

// Write is a write in flight through the proxy, from [Cache.BeginWrite] or
// [Cache.BeginBucketWrite] to End. While it is in flight no fill of what it
// touches is stored and [Cache.Current] is false for fills of it, so a
// read that raced the write can neither be cached nor shared with readers
// that come later. A Write is owned by one goroutine; a nil *Write is a
// write that touches nothing.
type Write struct {
	c       *Cache
	bucket  string
	keys    []string
	buckets bool // the whole bucket
	ended   bool
}

// BeginWrite fences keys of bucket for a write about to be forwarded to the
// backend: their entries (every version) become unservable at once, and
// until End no fill of them may be stored or joined. Call End exactly when
// the backend answered or failed, before the client sees the answer.
func (c *Cache) BeginWrite(bucket string, keys ...string) *Write {
	if c == nil {
		return nil
	}
	for _, k := range keys {
		ks, _ := c.gens.stripes(bucket, k)
		c.gens.keysBusy[ks].Add(1)
		c.Invalidate(bucket, k)
	}
	return &Write{c: c, bucket: bucket, keys: keys}
}

// BeginBucketWrite is BeginWrite for a write that may touch every key of
// bucket (DeleteBucket, bucket configuration, unknown operations).
func (c *Cache) BeginBucketWrite(bucket string) *Write {
	if c == nil {
		return nil
	}
	_, bs := c.gens.stripes(bucket, "")
	c.gens.bucketBusy[bs].Add(1)
	c.InvalidateBucket(bucket)
	return &Write{c: c, bucket: bucket, buckets: true}
}

// End ends the write: fills that began while it was in flight are refused
// for good, and new fills may be stored again. Later calls do nothing.
func (w *Write) End() {
	if w == nil || w.ended {
		return
	}
	w.ended = true
	g := w.c.gens
	if w.buckets {
		w.c.InvalidateBucket(w.bucket)
		_, bs := g.stripes(w.bucket, "")
		g.bucketBusy[bs].Add(-1)
		return
	}
	for _, k := range w.keys {
		w.c.Invalidate(w.bucket, k)
		ks, _ := g.stripes(w.bucket, k)
		g.keysBusy[ks].Add(-1)
	}
}

// Invalidate makes every cached version of key in bucket unservable, and
// makes Commit refuse fills of it that began before: call it when a write to
// the key is forwarded (before and after the backend answers, to fence fills
// that start while the write is in flight). It frees at once every entry
// the invalidation made unservable: every version, the description and
// blocks of a large object, and the entries of the rare other keys that
// share the key's generation stripe (they miss once, as the shared
// generation makes them). Entries committed since under a newer ticket are
// kept.
func (c *Cache) Invalidate(bucket, key string) {
	if c == nil {
		return
	}
	ks := c.gens.bumpKey(bucket, key)
	c.free(c.index.stripe(byKey, ks, c.fenced))
}

// InvalidateBucket does what Invalidate does for every key of bucket, and
// frees their entries at once.
func (c *Cache) InvalidateBucket(bucket string) {
	if c == nil {
		return
	}
	bs := c.gens.bumpBucket(bucket)
	c.free(c.index.stripe(byBucket, bs, c.fenced))
}

// InvalidateAll does what Invalidate does for every key of every bucket,
// and frees every entry at once.
func (c *Cache) InvalidateAll() {
	if c == nil {
		return
	}
	c.gens.bumpAll()
	c.free(c.index.snapshot(c.fenced))
}

// fenced reports whether e can never be served again: an invalidation of
// its key or bucket happened since its fill began.
func (c *Cache) fenced(e *Entry) bool { return c.gens.fenced(e.ticket) }

// free deletes es from the store, and so from the index; see drop. If
// there were any, it returns once the store has applied the deletes, so
// that Stats shows the freed bytes as soon as the invalidation returns: a
// write's answer reaches its client after them. It costs a channel round
// trip on writes to cached keys only.
func (c *Cache) free(es []*Entry) {
	for _, e := range es {
		c.drop(e)
	}
	if len(es) > 0 {
		c.store.Wait()
	}
}

// drop deletes e from the store if the index still holds it under its key.
// The store's delete calls back into the index, so the caller must not hold
// its lock. A Commit of the same key between the check and the delete loses
// its entry, which only costs a miss.
func (c *Cache) drop(e *Entry) {
	if c.index.holds(e) {
		c.store.Del(e.key)
	}
}

// Wait blocks until every Commit and delete issued before it has been applied
// by ristretto. It exists for tests; correctness never depends on it.
func (c *Cache) Wait() {
	if c == nil {
		return
	}
	c.store.Wait()
}
