package proxy

import (
	"net/http"
	"strings"

	"github.com/s3cache/s3cache/cache"
	"github.com/s3cache/s3cache/proxy/internal/coherence"
)

// inlineMaxBytes bounds the body of a hit the front end's event loop
// answers itself (leanhttp.Server.Inline): a larger one may not fit in
// the socket at once, and the loop keeps a copy of what does not fit
// until a goroutine takes the connection over.
const inlineMaxBytes = 64 << 10

// answersAtOnce reports whether r is a plain read of an object the cache
// holds whole, fresh and at most inlineMaxBytes long, or of a range that
// long of cached blocks of a larger one: the handler then
// answers it without waiting on anything, and the front end's event loop
// serves it. It only looks, before authentication; the handler decides
// everything again, so a yes that turns out wrong (the entry went away
// meanwhile) costs the loop a wait, never a wrong answer. A replica of a
// coherent cache says no: its reads may wait for invalidations from
// Redis.
func (p *Proxy) answersAtOnce(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if _, ok := p.gens.(coherence.Standalone); !ok {
		return false
	}
	vbucket, vhost := vhostBucket(r.Host, p.domains)
	if !vhost && strings.HasPrefix(r.URL.Path, "/-/") {
		return false
	}
	bucket, key, _ := objectPath(r.URL.Path, vbucket, vhost)
	if bucket == "" || key == "" || !authQueryOnly(r.URL.RawQuery) {
		return false
	}
	if e, ok := p.cache.Peek(bucket, key, cache.Key(bucket, key, "")); ok {
		return max(len(e.Body), e.DecodedLen) <= inlineMaxBytes
	}
	return p.blocksAtOnce(r, bucket, key)
}

// blocksAtOnce reports whether r is a GET of one range, at most
// inlineMaxBytes long, of an object cached in blocks (see blocks.go) whose
// blocks for that range are all held.
func (p *Proxy) blocksAtOnce(r *http.Request, bucket, key string) bool {
	spec := firstValue(r.Header, "Range")
	if r.Method != http.MethodGet || spec == "" || strings.IndexByte(spec, ',') >= 0 || firstValue(r.Header, "If-Range") != "" {
		return false
	}
	if p.cfg.CachePolicy != nil && p.cfg.CachePolicy.match(bucket, key) != nil {
		return false // a rule may move the size above which objects go in blocks
	}
	meta, ok := p.cache.Peek(bucket, key, cache.MetaKey(bucket, key, ""))
	if !ok {
		return false
	}
	o, ok := p.largeObjectOf(&request{bucket: bucket, key: key}, "", meta)
	if !ok || o.size <= p.cfg.CacheMaxObjectBytes {
		return false
	}
	start, end, res := parseRange(spec, int(o.size))
	if res != rangeSatisfiable || end-start > inlineMaxBytes {
		return false
	}
	for i := int64(start) / o.blockSize; i <= int64(end-1)/o.blockSize; i++ {
		if !p.cached(o, i) {
			return false
		}
	}
	return true
}

// authQueryOnly reports whether a raw query holds nothing but a presigned
// URL's X-Amz-* parameters and the x-id the AWS SDKs add: nothing that
// names a version or a part or changes the answer.
func authQueryOnly(raw string) bool {
	for raw != "" {
		var p string
		p, raw, _ = strings.Cut(raw, "&")
		name, _, _ := strings.Cut(p, "=")
		if len(name) < 6 || !strings.EqualFold(name[:6], "x-amz-") {
			if name != "x-id" && name != "" {
				return false
			}
		}
	}
	return true
}
