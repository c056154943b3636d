package cache

import (
	"hash/maphash"
	"sync/atomic"
)

// Stripe counts of the generation arrays. Their memory is fixed
// (8 bytes each) however many keys and buckets the cache sees.
const (
	keyStripes    = 4096
	bucketStripes = 1024
)

// Ticket is a snapshot of the generations an object's fill started under,
// returned by [Cache.Begin] and checked by [Cache.Commit] and [Cache.Get].
// It is a small value, safe to copy and to use from any goroutine.
//
// The zero Ticket is never current: Commit refuses it.
type Ticket struct {
	keyGen, bucketGen, globalGen uint64
	// epoch is the cache's trust epoch when the ticket was taken (see
	// [Cache.Distrust]).
	epoch                   uint64
	keyStripe, bucketStripe uint32
	valid                   bool
	// unconfirmed marks a fill whose freshness another authority (the
	// replicas' shared generations) could not confirm; see
	// [Ticket.Unconfirmed].
	unconfirmed bool
}

// Unconfirmed returns t marked as not confirmed by the authority that
// coordinates several caches: an entry committed under it is kept, but
// [Cache.Get] never serves it as fresh; it is only returned by
// [Cache.GetExpired], to be revalidated with the origin. [Cache.Current]
// is false for it, so no later reader joins its fill.
func (t Ticket) Unconfirmed() Ticket {
	t.unconfirmed = true
	return t
}

// generations holds the striped invalidation counters. Every method is safe
// for concurrent use; the zero value is not usable (it has no seed).
type generations struct {
	seed   maphash.Seed
	global atomic.Uint64
	keys   [keyStripes]atomic.Uint64
	bucket [bucketStripes]atomic.Uint64
	// Writes in flight per stripe: while one is, no ticket of the stripe is
	// current, so no fill of it is stored or joined.
	keysBusy   [keyStripes]atomic.Int32
	bucketBusy [bucketStripes]atomic.Int32
}

// stripes returns the key stripe of (bucket, key) and the bucket stripe of
// bucket.
func (g *generations) stripes(bucket, key string) (keyStripe, bucketStripe uint32) {
	var h maphash.Hash
	h.SetSeed(g.seed)
	h.WriteString(bucket)
	bucketStripe = uint32(h.Sum64() % bucketStripes)
	// A NUL cannot occur in a bucket name, so (bucket, key) pairs are
	// separated; a collision would only cost misses anyway.
	h.WriteByte(0)
	h.WriteString(key)
	keyStripe = uint32(h.Sum64() % keyStripes)
	return keyStripe, bucketStripe
}

// snapshot returns the current ticket of (bucket, key).
func (g *generations) snapshot(bucket, key string) Ticket {
	ks, bs := g.stripes(bucket, key)
	return g.snapshotStripes(ks, bs)
}

func (g *generations) snapshotStripes(ks, bs uint32) Ticket {
	return Ticket{
		keyGen:       g.keys[ks].Load(),
		bucketGen:    g.bucket[bs].Load(),
		globalGen:    g.global.Load(),
		keyStripe:    ks,
		bucketStripe: bs,
		valid:        true,
	}
}

// current reports whether no invalidation touching t's stripes has happened
// since t was taken and no write to them is in flight.
func (g *generations) current(t Ticket) bool {
	return t.valid &&
		g.keysBusy[t.keyStripe].Load() == 0 &&
		g.bucketBusy[t.bucketStripe].Load() == 0 &&
		g.keys[t.keyStripe].Load() == t.keyGen &&
		g.bucket[t.bucketStripe].Load() == t.bucketGen &&
		g.global.Load() == t.globalGen
}

// currentFor reports whether t is current and was taken for (bucket, key)'s
// stripes, so an entry committed under another object's ticket is never
// served.
func (g *generations) currentFor(t Ticket, bucket, key string) bool {
	ks, bs := g.stripes(bucket, key)
	return t.keyStripe == ks && t.bucketStripe == bs && g.current(t)
}

// fenced reports whether an invalidation touching t's stripes happened
// since t was taken: an entry committed under t is never served again.
// Unlike current it ignores writes in flight, which fence only new fills.
func (g *generations) fenced(t Ticket) bool {
	return g.keys[t.keyStripe].Load() != t.keyGen ||
		g.bucket[t.bucketStripe].Load() != t.bucketGen ||
		g.global.Load() != t.globalGen
}

// bumpKey bumps (bucket, key)'s key stripe and returns it.
func (g *generations) bumpKey(bucket, key string) uint32 {
	ks, _ := g.stripes(bucket, key)
	g.keys[ks].Add(1)
	return ks
}

// bumpBucket bumps bucket's stripe and returns it.
func (g *generations) bumpBucket(bucket string) uint32 {
	_, bs := g.stripes(bucket, "")
	g.bucket[bs].Add(1)
	return bs
}

func (g *generations) bumpAll() { g.global.Add(1) }

// SharesFence reports whether invalidating one of two objects also makes
// the other miss: their generations share a stripe (keys, or buckets, are
// hashed to a fixed number of counters). It is rare and costs only a miss.
func (c *Cache) SharesFence(bucket1, key1, bucket2, key2 string) bool {
	if c == nil {
		return false
	}
	k1, b1 := c.gens.stripes(bucket1, key1)
	k2, b2 := c.gens.stripes(bucket2, key2)
	return k1 == k2 || b1 == b2 && bucket1 != bucket2
}
