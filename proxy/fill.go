package proxy

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/s3cache/s3cache/cache"
)

// Values of the X-Cache response header.
const (
	xCacheHit    = "HIT"
	xCacheMiss   = "MISS"
	xCacheBypass = "BYPASS"
)

// serveRead answers GetObject and HeadObject from either front end: from
// the cache when it can, else from the backend, filling the cache on a
// GET miss.
func (p *Proxy) serveRead(w http.ResponseWriter, r *http.Request, rq *request) {
	if reason := bypassReason(r); reason != "" {
		p.log.LogAttrs(r.Context(), slog.LevelDebug, "cache bypass", slog.String("reason", reason))
		p.forward(w, r, rq, xCacheBypass)
		return
	}
	versionID := r.URL.Query().Get("versionId")
	ckey := cache.Key(rq.bucket, rq.key, versionID)
	if e, ok := p.cache.Get(rq.bucket, rq.key, ckey); ok {
		serveEntry(w, r, e, xCacheHit)
		return
	}
	if r.Method == http.MethodHead {
		p.forward(w, r, rq, xCacheMiss)
		return
	}
	p.fill(w, r, rq, ckey, versionID)
}

// fill fetches a whole object from the backend for a GET miss, streams it
// to the client and, when the response is a complete 200 no larger than
// CacheMaxObjectBytes and no write to the key happened meanwhile, stores it.
// Larger objects stream through a pooled buffer in constant memory.
func (p *Proxy) fill(w http.ResponseWriter, r *http.Request, rq *request, ckey, versionID string) {
	ticket := p.cache.Begin(rq.bucket, rq.key)
	query := ""
	if versionID != "" {
		query = "versionId=" + escapeQuery(versionID)
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	out, err := http.NewRequestWithContext(ctx, http.MethodGet, "", nil)
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	out.URL = p.backendURL(rq.bucket, rq.key, query)
	out.Host = out.URL.Host
	// Ask for the object's checksums so the entry carries them for every
	// client that validates them (botocore and aws-sdk-go-v2 ask by default).
	out.Header.Set("X-Amz-Checksum-Mode", "ENABLED")
	res, err := p.backend.RoundTrip(out)
	if err != nil {
		if r.Context().Err() != nil {
			return
		}
		p.writeError(w, r, backendError(err))
		return
	}
	res.Body = newBackendBody(res.Body, p.cfg.BackendTimeout, cancel)
	defer res.Body.Close()

	stored := storedHeader(res.Header)
	h := w.Header()
	for k, v := range stored {
		h[k] = v
	}
	h.Set("X-Cache", xCacheMiss)
	if res.ContentLength >= 0 {
		h.Set("Content-Length", strconv.FormatInt(res.ContentLength, 10))
	}
	w.WriteHeader(res.StatusCode)

	if !p.storable(res) {
		buf := copyBuffers.Get().(*[]byte)
		defer copyBuffers.Put(buf)
		if _, err := io.CopyBuffer(w, res.Body, *buf); err != nil {
			abortIfBackend(r.Context(), err)
		}
		return
	}

	// Read straight into the entry's buffer and write each piece on, so a
	// cached body is copied exactly once.
	body := make([]byte, res.ContentLength)
	for off := 0; off < len(body); {
		end := min(off+32<<10, len(body))
		n, err := io.ReadFull(res.Body, body[off:end])
		if n > 0 {
			if _, werr := w.Write(body[off : off+n]); werr != nil {
				return // client gone; the fill dies with it
			}
		}
		if err != nil {
			abortIfBackend(r.Context(), err)
			return
		}
		off += n
	}
	// The backend must end the body exactly at Content-Length.
	var one [1]byte
	if n, err := res.Body.Read(one[:]); n != 0 || err != io.EOF && err != nil {
		p.log.LogAttrs(r.Context(), slog.LevelWarn, "backend body longer than its Content-Length or broken; not cached",
			slog.String("bucket", rq.bucket), slog.Any("cause", err))
		return
	}
	p.cache.Commit(ticket, ckey, &cache.Entry{Header: stored, Body: body})
}

// storable reports whether a backend response may be cached.
func (p *Proxy) storable(res *http.Response) bool {
	h := res.Header
	if res.StatusCode != http.StatusOK || res.ContentLength < 0 || res.ContentLength > p.cfg.CacheMaxObjectBytes {
		return false
	}
	if h.Get("Content-Range") != "" || h.Get("X-Amz-Server-Side-Encryption-Customer-Algorithm") != "" {
		return false
	}
	if sse := h.Get("X-Amz-Server-Side-Encryption"); strings.HasPrefix(sse, "aws:kms") {
		return false
	}
	cc := strings.ToLower(h.Get("Cache-Control"))
	return !strings.Contains(cc, "no-store") && !strings.Contains(cc, "private")
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
	return h
}
