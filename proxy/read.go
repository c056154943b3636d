package proxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/s3cache/s3cache/cache"
)

// Values of the X-Cache response header.
const (
	xCacheHit    = "HIT"
	xCacheMiss   = "MISS"
	xCacheBypass = "BYPASS"
	// An expired entry the backend confirmed unchanged (304).
	xCacheRevalidated = "REVALIDATED"
	// An expired entry served because the backend failed
	// (CACHE_STALE_IF_ERROR).
	xCacheStale = "STALE"
	// A miss answered from the shared tier in Redis (CACHE_L2=redis): another
	// replica fetched the object earlier.
	xCacheShared = "SHARED"
)

// serveRead answers GetObject and HeadObject from either front end: from
// the cache when it can, else from the backend, filling the cache on a
// GET miss.
func (p *Proxy) serveRead(w http.ResponseWriter, r *http.Request, rq *request) {
	rr, reason := parseRead(r, rq.query, rq.badQuery)
	if reason != "" {
		p.bypass(w, r, rq, reason)
		return
	}
	rq.rule = p.cfg.CachePolicy.match(rq.bucket, rq.key)
	if rq.rule != nil && rq.rule.Bypass {
		p.bypass(w, r, rq, "policy-rule")
		return
	}
	versionID := rr.versionID
	ckey := cache.Key(rq.bucket, rq.key, versionID)
	// Invalidations that reached this replica before the request are
	// applied before the cache is read.
	if !p.gens.Settle() {
		p.logRead(r, rq, slog.LevelWarn, "cache bypass: invalidations from Redis still being applied")
		p.forward(w, r, rq, bypassValue("invalidations-pending"))
		return
	}
	// A part number names a range of the object: its description says
	// which, and the range is then answered like any other.
	if rr.partNumber > 0 && !p.withPart(w, r, rq, &rr) {
		return
	}
	if e, ok := p.cache.Get(rq.bucket, rq.key, ckey); ok && rr.sameObject(e.Header) {
		p.serveEntry(w, r, e, &rr, xCacheHit)
		return
	}
	// The object's description (headers and size, no body), stored by a
	// HEAD miss or by the fill of an object too large to store whole,
	// answers HEAD and the preconditions that decide without the body; an
	// object too large to store whole is then read block by block.
	if meta, ok := p.cache.Get(rq.bucket, rq.key, cache.MetaKey(rq.bucket, rq.key, versionID)); ok {
		if o, ok := p.largeObjectOf(rq, versionID, meta); ok && rr.sameObject(meta.Header) {
			if o.size > p.maxObjectBytes(rq) {
				p.serveLarge(w, r, rq, &rr, ckey, o, xCacheHit)
				return
			}
			if p.serveDescription(w, r, o, &rr, xCacheHit) {
				return
			}
		}
	}
	if r.Method == http.MethodHead {
		p.headMiss(w, r, rq, &rr)
		return
	}
	// A range of an object not described yet: its size decides whether the
	// whole object is fetched and kept, or only the blocks the range needs.
	// A HEAD learns it (and stores the description) before any body is
	// asked for, so no byte of an object cached in blocks is fetched twice.
	// A part's description gives the object's size already: a small
	// object is fetched whole without asking.
	if rr.rangeSpec != "" && (rr.part == nil || rr.objectSize > p.maxObjectBytes(rq)) {
		o, res, err := p.describe(r.Context(), rq, versionID)
		switch {
		case err != nil:
			if r.Context().Err() == nil {
				p.writeError(w, r, backendError(err))
			}
			return
		case o != nil && !rr.sameObject(o.meta.Header):
			p.bypass(w, r, rq, "object-changed")
			return
		case o != nil && o.size > p.maxObjectBytes(rq):
			p.serveLarge(w, r, rq, &rr, ckey, o, xCacheMiss)
			return
		case o == nil && res.StatusCode == http.StatusOK:
			p.bypass(w, r, rq, "not-cacheable")
			return
		}
		// Else a small object, fetched whole below even when the
		// preconditions decide, so that it is cached; or an answer other
		// than 200, which the GET gets with its body.
	}
	p.fill(w, r, rq, &rr, ckey, false)
}

// bypass relays a read the cache does not answer, saying why in the
// X-Cache header and, at debug level, in the log.
func (p *Proxy) bypass(w http.ResponseWriter, r *http.Request, rq *request, reason string) {
	p.logRead(r, rq, slog.LevelDebug, "cache bypass", slog.String("reason", reason))
	p.forward(w, r, rq, bypassValue(reason))
}

// bypassValue is the X-Cache value of a read relayed for reason, a token:
// "BYPASS; reason=sse-c".
func bypassValue(reason string) string {
	return xCacheBypass + "; reason=" + reason
}

// headMiss answers a HeadObject miss from describe: from the stored
// description, the client's preconditions, range and overrides applied as
// a hit applies them. A 200 that may not be cached, or a 5xx, is answered
// by relaying the client's own HEAD; any other answer is relayed as the
// backend gave it.
func (p *Proxy) headMiss(w http.ResponseWriter, r *http.Request, rq *request, rr *readRequest) {
	o, res, err := p.describe(r.Context(), rq, rr.versionID)
	switch {
	case err != nil:
		if r.Context().Err() == nil {
			p.writeError(w, r, backendError(err))
		}
	case o != nil:
		p.serveDescription(w, r, o, rr, xCacheMiss)
	case res.StatusCode == http.StatusOK:
		p.bypass(w, r, rq, "not-cacheable")
	case res.StatusCode >= 500:
		// The proxy's own HEAD (which asks for checksums) failed: the
		// client's own HEAD gets the answer it would get without the proxy.
		p.bypass(w, r, rq, "backend-error")
	default:
		writeHeaders(w, res.StatusCode, storedHeader(res.Header), -1, xCacheMiss)
	}
}

// describe sends a HEAD of the proxy's own for the object, asking for its
// checksums, and stores the object's description (its headers and size)
// when it may be cached: later HEADs and preconditions are then answered
// without the backend, and an object too large to store whole is read
// block by block. It returns the description, or nil and the backend's
// answer (its body closed).
func (p *Proxy) describe(ctx context.Context, rq *request, versionID string) (*largeObject, *http.Response, error) {
	t, res, err := p.headOwn(ctx, rq, versionID, 0)
	if err != nil {
		return nil, nil, err
	}
	if res.StatusCode != http.StatusOK || res.ContentLength < 0 || headerETag(res.Header) == "" || !p.storableHeaders(rq, res.Header) {
		return nil, res, nil
	}
	h := storedHeader(res.Header)
	h.Set("Content-Length", strconv.FormatInt(res.ContentLength, 10))
	meta := &cache.Entry{Header: h, TTL: entryTTL(rq)}
	p.cache.Commit(t, cache.MetaKey(rq.bucket, rq.key, versionID), meta)
	o, ok := p.largeObjectOf(rq, versionID, meta)
	if !ok {
		return nil, res, nil
	}
	return o, res, nil
}

// headOwn sends a HEAD of the proxy's own for the object (or its part
// number part, when not 0), asking for its checksums, and returns the
// answer, its body closed, with the ticket an entry made from it is
// committed under (taken before the request).
func (p *Proxy) headOwn(ctx context.Context, rq *request, versionID string, part int) (cache.Ticket, *http.Response, error) {
	t, _ := p.beginFill(ctx, rq.bucket, rq.key)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	res, err := p.fetchPart(ctx, http.MethodHead, rq, versionID, part, "", cancel)
	if err != nil {
		return t, nil, err
	}
	res.Body.Close()
	return t, res, nil
}

// withPart finds the description of the part rr asks for (the backend's
// headers for it: its Content-Range, the parts count, its checksums), in
// the cache or with a HEAD of the proxy's own, which stores it. It answers
// a HEAD and the preconditions that decide from it, and returns false.
// Else it turns rr into the range of the object the part covers, to be
// answered with the part's headers, and returns true. A part the backend
// does not describe as a cacheable 206 is relayed.
func (p *Proxy) withPart(w http.ResponseWriter, r *http.Request, rq *request, rr *readRequest) bool {
	pkey := cache.PartKey(rq.bucket, rq.key, rr.versionID, rr.partNumber)
	part, ok := p.cache.Get(rq.bucket, rq.key, pkey)
	xcache := xCacheHit
	if !ok {
		xcache = xCacheMiss
		t, res, err := p.headOwn(r.Context(), rq, rr.versionID, rr.partNumber)
		if err != nil {
			if r.Context().Err() == nil {
				p.writeError(w, r, backendError(err))
			}
			return false
		}
		start, end, _, okRange := parseContentRange(res.Header.Get("Content-Range"))
		if res.StatusCode != http.StatusPartialContent || !okRange || res.ContentLength != end-start ||
			headerETag(res.Header) == "" || !p.cacheableHeaders(rq, res.Header) {
			p.bypass(w, r, rq, "part-not-cacheable")
			return false
		}
		part = &cache.Entry{Header: storedHeader(res.Header), TTL: entryTTL(rq)}
		p.cache.Commit(t, pkey, part)
	}
	start, end, size, ok := parseContentRange(firstValue(part.Header, "Content-Range"))
	if !ok {
		p.bypass(w, r, rq, "part-not-cacheable")
		return false
	}
	if rr.conditional && p.answerPreconditions(w, r, part.Header, xcache) {
		return false
	}
	rr.part, rr.objectSize, rr.described = part, size, xcache == xCacheMiss
	if r.Method == http.MethodHead {
		h := w.Header()
		rr.objectHeader(h, nil, 0, 0, 0, true)
		h.Set("X-Cache", xcache)
		h.Set("Content-Length", strconv.FormatInt(end-start, 10))
		namedAsS3(w)
		w.WriteHeader(http.StatusPartialContent)
		return false
	}
	rr.rangeSpec = "bytes=" + strconv.FormatInt(start, 10) + "-" + strconv.FormatInt(end-1, 10)
	rr.conditional = false // answered above
	return true
}

// logRead logs a decision of the read path about rq, with what an
// operator needs to find the request: its id, bucket and key.
func (p *Proxy) logRead(r *http.Request, rq *request, level slog.Level, msg string, attrs ...slog.Attr) {
	if !p.log.Enabled(r.Context(), level) {
		return
	}
	attrs = append([]slog.Attr{slog.String("request_id", rq.id), slog.String("bucket", rq.bucket), slog.String("key", rq.key)}, attrs...)
	p.log.LogAttrs(r.Context(), level, msg, attrs...)
}

// fetch sends the backend GET of a whole object (or of versionID) and
// bounds each wait for body bytes by BackendTimeout, calling cancel, the
// CancelFunc of ctx, when one is exceeded. The request asks for the
// object's checksums so that an entry carries them for every client that
// validates them (botocore and aws-sdk-go-v2 ask by default).
// A non-empty etag makes it a revalidation: If-None-Match asks for a 304
// when the object is unchanged.
func (p *Proxy) fetch(ctx context.Context, rq *request, versionID, etag string, cancel context.CancelFunc) (*http.Response, error) {
	return p.fetchPart(ctx, http.MethodGet, rq, versionID, 0, etag, cancel)
}

// fetchPart is fetch with method GET or HEAD, of part number part of the
// object (0 for the whole object).
func (p *Proxy) fetchPart(ctx context.Context, method string, rq *request, versionID string, part int, etag string, cancel context.CancelFunc) (*http.Response, error) {
	query := ""
	if part > 0 {
		query = "partNumber=" + strconv.Itoa(part)
	}
	if versionID != "" {
		if query != "" {
			query += "&"
		}
		query += "versionId=" + escapeQuery(versionID)
	}
	call := getObjectCallFor(rq)
	if method == http.MethodHead {
		call = &backendCall{op: "HeadObject", reqID: rq.id}
	}
	out, err := http.NewRequestWithContext(withBackendCall(ctx, call), method, "", nil)
	if err != nil {
		return nil, err
	}
	out.URL = p.backendURL(rq.bucket, rq.key, query)
	out.Host = out.URL.Host
	out.Header.Set("X-Amz-Checksum-Mode", "ENABLED")
	if etag != "" {
		out.Header.Set("If-None-Match", etag)
	}
	res, err := p.backend.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	res.Body = newBackendBody(res.Body, p.cfg.BackendTimeout, cancel)
	return res, nil
}

// writeHeaders sends the status line and headers of an object response.
func writeHeaders(w http.ResponseWriter, status int, header http.Header, length int64, xcache string) {
	h := w.Header()
	for k, v := range header {
		h[k] = v
	}
	h.Set("X-Cache", xcache)
	if length >= 0 {
		h.Set("Content-Length", strconv.FormatInt(length, 10))
	}
	w.WriteHeader(status)
}

// streamResponse relays a backend response to a fetch of the proxy's own
// that is not cached, through a pooled buffer in constant memory. The
// checksums the fetch asked for go to the client only if it asked too.
func (p *Proxy) streamResponse(w http.ResponseWriter, r *http.Request, res *http.Response, checksums bool) {
	defer res.Body.Close()
	if err := rewriteErrorBody(res, w.Header().Get("X-Amz-Request-Id")); err != nil {
		if r.Context().Err() == nil {
			p.writeError(w, r, backendError(err))
		}
		return
	}
	h := storedHeader(res.Header)
	if !checksums {
		dropChecksums(h)
	}
	hw := holdStatus(w) // until the first byte: a body that fails before it gets an error status
	writeHeaders(hw, res.StatusCode, h, res.ContentLength, xCacheMiss)
	sendingFrom(w, sourceBackend)
	buf := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(buf)
	rc := http.NewResponseController(hw)
	for {
		n, err := res.Body.Read(*buf)
		if n > 0 {
			// Each piece goes out as it came, not held for the next: the
			// backend may be slow to send more.
			if _, werr := hw.Write((*buf)[:n]); werr != nil {
				abortIfBackend(r.Context(), werr)
				return
			}
			if ferr := rc.Flush(); ferr != nil && !errors.Is(ferr, http.ErrNotSupported) {
				abortIfBackend(r.Context(), ferr)
				return
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			p.failBody(hw, r, err)
			return
		}
	}
	hw.send()
}

// relayFlushInterval bounds how long the pass-through holds relayed bytes
// back (the lean front end batches up to 32 KiB of them) when the backend
// sends nothing more.
const relayFlushInterval = 100 * time.Millisecond

// maxObjectBytes is the largest object stored for rq.
func (p *Proxy) maxObjectBytes(rq *request) int64 {
	if rq.rule != nil && rq.rule.MaxObjectBytes > 0 {
		return rq.rule.MaxObjectBytes
	}
	return p.cfg.CacheMaxObjectBytes
}

// entryTTL is the lifetime of an entry for rq; 0 means CACHE_TTL.
func entryTTL(rq *request) time.Duration {
	if rq.rule != nil {
		return rq.rule.TTL
	}
	return 0
}

// storable reports whether a backend response for rq may be cached.
func (p *Proxy) storable(rq *request, res *http.Response) bool {
	if res.StatusCode != http.StatusOK || res.ContentLength < 0 || res.ContentLength > p.maxObjectBytes(rq) {
		return false
	}
	return p.storableHeaders(rq, res.Header)
}

// abortIfBackend ends a response whose body failed after the headers went
// out, so the client sees a broken response rather than a short one that
// looks complete. A client that went away needs nothing.
func abortIfBackend(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return
	}
	panic(http.ErrAbortHandler)
}

// hopHeaders are never stored or replayed: they describe one connection or
// one request, not the object.
var hopHeaders = []string{
	"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Date", "Server",
	"X-Amz-Request-Id", "X-Amz-Id-2",
}

// storedHeader copies the backend's response headers that describe the
// object: everything but hop-by-hop and per-request headers.
func storedHeader(src http.Header) http.Header {
	h := make(http.Header, len(src))
	for k, v := range src {
		h[k] = append([]string(nil), v...)
	}
	for _, k := range hopHeaders {
		delete(h, k)
	}
	// Stored as S3 spells them, so a hit writes them without renaming.
	s3HeaderNames(h)
	return h
}
