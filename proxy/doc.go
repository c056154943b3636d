// Package proxy is the HTTP side of s3cache: two front ends on one handler,
// the cache read path and the pass-through to the backend. The S3
// vocabulary it speaks (error codes and their writer, the operation
// table, query parsing, bucket and key rules) is package internal/s3api.
//
// The life of a request:
//
//  0. Read (internal/leanhttp, wired in server.go by NewServer): the
//     HTTP/1 server reads every request head itself and refuses a bad one
//     before any handler runs, with an S3 error written by s3api.Write; it
//     serves GET and HEAD, and hands other requests to net/http one at a
//     time, which also serves HTTP/2.
//  1. Route (router.go). "/-/…" are ops endpoints (healthz, readyz,
//     metrics), unauthenticated and not counted in the request metrics.
//     "/objects/{bucket}/{key...}" is the simple object API. Everything else
//     is path-style S3: "/{bucket}/{key}" plus query subresources. Paths are
//     split by hand and never cleaned, so "a//b" and "a/../b" are keys;
//     the bucket name and the key are checked by S3's rules
//     (internal/s3api: ValidBucketName, KeyLeavesBucket, CheckKey).
//  2. Authenticate (sigv4.Verifier, its keys from the AuthConfig in force,
//     an internal/identity.Config; auth.go keeps the proxy's names for it):
//     header, presigned and streaming signatures; an unsigned request is
//     anonymous if the AuthConfig allows any anonymous reads. The result
//     carries the verified, decoded body; nothing happens before this
//     step, the cache included.
//  3. Classify (internal/s3api's ParseQuery and Classify, its
//     operation.go): one table maps method, path level, query subresource
//     and header to the S3 operation name and what it does to cached
//     objects (its Effect). Then rate limit (identity.RateLimiter): with
//     Config.RateLimit, a user (or, for anonymous requests, a client IP)
//     without a token left gets 503 SlowDown and nothing else happens.
//     Then authorize (identity.Authorize): the principal (a user of the
//     AuthConfig in force, or anonymous) needs read or write on the
//     bucket, as the operation says, before the cache is looked at; else
//     403 AccessDenied. ListBuckets answers are filtered to the user's
//     buckets (identity.FilterListBuckets, from passthrough.go).
//  4. Reads (read.go, hit.go, fill.go): GetObject and HeadObject are
//     answered from the cache when the object is there (X-Cache: HIT),
//     ranges, preconditions and response overrides included. A GET miss,
//     whatever range, preconditions or overrides it carries, joins the
//     fill in flight for the object or starts one: one backend GET of the
//     whole object, detached from any one client, whose body every waiting
//     client streams as it arrives, each answered as its hit would be; it
//     is stored at EOF if it is a complete 200 under the size cap and no
//     write fenced the key meanwhile (X-Cache: MISS). A HEAD miss sends a
//     HEAD of the proxy's own and stores the object's description. Objects over the size cap are cached in aligned
//     blocks (blocks.go, blocks_serve.go): a read serves cached blocks and
//     fetches each run of missing ones with one ranged GET pinned to the
//     ETag, or waits, at most BackendTimeout, for another read's fetch of
//     them. What the cache cannot answer goes to the backend
//     (X-Cache: BYPASS; reason=…). With Config.CacheL2, a miss first asks the shared
//     tier in Redis (coherence.go's fromShared over
//     internal/coherence.SharedTier; X-Cache: SHARED), and misses of one
//     object on several replicas wait for one fetch.
//     The rules of CACHE_POLICY_FILE (policy.go) say per bucket and key
//     prefix what may be cached and for how long; a fill stores its body
//     compressed when Config.CacheCompress says so and it pays
//     (compress.go over internal/zcodec); fills in progress share a
//     memory budget (fillbudget.go); answers keep S3's header names
//     (headernames.go).
//  5. Everything else (passthrough.go, objects.go): a write fences the keys
//     it touches (fence.go: cache.Write, and with Config.RedisURL the
//     replicas' generations in Redis, internal/coherence) from before it is
//     forwarded until the backend answered, before the client sees the
//     answer; requests are forwarded re-signed through
//     httputil.ReverseProxy with bodies streamed, over the backend
//     transport chain that never reuses a broken connection
//     (backendconn.go). A browser POST upload (postupload.go, over
//     internal/postpolicy) is authenticated by its form's policy instead
//     of step 2, and stored by a PutObject of the proxy's own through the
//     same forwarding.
//
// Around the requests, under /-/admin/ (admin.go; ADMIN_TOKEN or an admin
// user): cache statistics and the hottest keys; purges of a key, a prefix,
// a bucket or everything (purge.go), which also end fills in flight and,
// with Redis, reach every replica; and warm jobs (warm.go) that list a
// prefix and read each object through serveRead, as a client's GET
// would, with a ResponseWriter that only counts. A warm restart
// (state.go) writes the cached keys at shutdown and warms them again,
// hottest first, at start. /-/healthz and /-/readyz (health.go; readiness
// is one signed ListBuckets, at most 1.5 s) need no signature. The status
// page at /-/ (status.go, status.html) is static; its JSON twin,
// /-/status.json, authenticated as the admin API is, reads the figures
// from the collectors /-/metrics exports (counters.go), with the last
// hour sampled every 10 s (history.go).
//
// With Config.RedisURL the proxy is one replica of a coherent cache: its
// fills register with Redis for the generations they read, Redis pushes
// every change, and reads first apply every push already received
// (Settle), so hits cost no Redis round trip. Package internal/coherence
// holds the Redis side; the proxy uses it through two small interfaces
// declared in coherence.go, and without Redis holds its no-ops.
//
// Each request ends (accesslog.go) by being counted in the Prometheus
// metrics served at /-/metrics (metrics.go; every backend request is
// counted by a transport under the signer, backendmetrics.go; reads and
// what they saved by bucket, savings.go), with one
// INFO log line when the logger takes INFO, an ERROR line when a backend
// body failed after the header went out, and, with Config.AuditLog, one
// JSON line (audit.go builds it, identity.AuditLog writes it), all from
// the same response wrapper.
//
// Errors are S3 XML: one type, internal/s3api.Error, and one writer,
// s3api.Write, which the lean loop also uses for the heads it refuses;
// errors.go turns any failure into one (sigv4's sentinel errors and
// backend failures included), logs it and sends it. Backend S3 errors
// are relayed as received, with the proxy's request id (errorbody.go),
// and never cached.
package proxy
