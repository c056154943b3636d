// Package proxy is the HTTP side of s3cache: two front ends on one handler,
// the S3 operation table, the cache read path and the pass-through to the
// backend.
//
// The life of a request:
//
//  1. Route (router.go). "/-/…" are ops endpoints (healthz, readyz).
//     "/objects/{bucket}/{key...}" is the simple object API. Everything else
//     is path-style S3: "/{bucket}/{key}" plus query subresources. Paths are
//     split by hand and never cleaned, so "a//b" and "a/../b" are keys.
//  2. Authenticate (sigv4.Verifier): header, presigned and streaming
//     signatures. The result carries the verified, decoded body; nothing
//     happens before this step, the cache included.
//  3. Classify (operation.go): one table maps method, path level, query
//     subresource and header to the S3 operation name and what it does to
//     cached objects.
//     4a. Read (fill.go): GetObject and HeadObject of whole objects are served
//     from the cache (X-Cache: HIT); a GET miss fetches the object once,
//     streams it to the client and stores it at EOF if it is a complete 200
//     under the size cap and no write fenced the key meanwhile (X-Cache:
//     MISS). Ranges, conditionals and other variants go to the backend
//     (X-Cache: BYPASS).
//     4b. Everything else (passthrough.go, objects.go): writes invalidate the
//     keys they touch, are forwarded re-signed through
//     httputil.ReverseProxy with bodies streamed, and invalidate again when
//     the backend answered, before the client sees the answer.
//
// Errors are S3 XML, written by one writer (errors.go); backend S3 errors
// are relayed as received and never cached.
package proxy
