// Package coherence keeps the caches of several s3cache replicas coherent
// through Redis (REDIS_URL), and holds the shared second tier in Redis
// (CACHE_L2=redis).
//
// It provides two services, each as a concrete type and a no-op:
//
//   - Generations (*Redis, or Standalone without Redis): a write through
//     any replica invalidates every replica's entries of what it touched
//     (BeginWrite, BeginBucketWrite, Purge); a fill learns whether a write
//     is in flight anywhere and registers for later ones (Confirm); a read
//     first applies the invalidations already received (Settle).
//   - The shared tier (*SharedTier, or NoSharedTier without it): a
//     replica's miss is answered from a value another replica stored, and
//     misses of one object on several replicas wait for one fetch
//     (Obtain, Store, Release).
//
// The proxy declares the small interfaces it needs of them where it uses
// them (proxy/coherence.go), as Go interfaces belong to their consumer;
// this package returns concrete types, and the no-ops mean the proxy
// always holds a working value, never a nil one to test for. The proxy
// uses them in its read path (proxy/read.go: Settle), its fill
// (proxy/fill.go: Confirm through beginFill in proxy/fence.go; the
// shared tier in lead, through fromShared in proxy/coherence.go, and in
// pump), its write fence (proxy/fence.go) and its admin purge
// (proxy/purge.go).
//
// # Generations
//
// Every object, bucket and the whole cache have a generation hash in Redis
// ("<prefix>o:<bucket>/<key>", "<prefix>b:<bucket>", "<prefix>all"). A write
// through any replica runs writeBeginScript on what it touches before it is
// forwarded, and writeEndScript after the backend answered: each bumps the
// hash's "g" field, and the begin adds a field "w:<id>" (removed by the end)
// whose value is the write's fence deadline, so fills anywhere can tell a
// write is in flight.
//
// A fill reads the hashes of its object, bucket and the whole cache with
// Redis's server-assisted client-side caching (RESP3 CLIENT TRACKING, as
// rueidis implements it) after taking its local ticket: the read is answered
// from rueidis's local copy when it has one, and registers this replica's
// interest in the keys with Redis. From then on Redis pushes an invalidation
// for any change of them to this replica, and onInvalidations bumps the
// local generations, which makes the fill and its entry unservable. A hit
// therefore costs no Redis round trip: it checks local generations and the
// trust epoch, as without Redis.
//
// Whenever invalidations may have been lost (the connection broke, a health
// check failed, Redis flushed its keys) the cache is distrusted: entries
// committed before are revalidated with the backend before they are served
// again, and fills while Redis is unreachable are kept unconfirmed, so they
// too are revalidated. A write that cannot reach Redis still goes to the
// backend; its bumps are replayed when Redis answers again, and a replica
// trusts Redis again only after it answered for recoverGrace, by which time
// every live replica has replayed its own.
//
// # The shared tier
//
// A replica's GET miss (the leader of its local flight) first asks Redis
// for the object's value ("<prefix>v:<bucket>/<key>[?<versionId>]"). A
// value carries the generation stamp its fill read (see Stamp) and is used
// only when the stamp equals the one this fill read: a write through any
// replica since has bumped a generation, so a stale value is never served.
// Without a usable value, the replica takes the object's fill lock
// ("<prefix>l:…", SET NX with a deadline of TierOptions.LockTTL) and
// fetches from the backend, then stores the value and releases the lock. A
// replica that finds the lock taken waits for the value, polling, until it
// appears, the lock is released or lapses (its holder died), or the
// deadline passes; then it fetches for itself. Every failure of the tier is
// counted and skipped: the backend answers.
package coherence
