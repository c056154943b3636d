package proxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/s3cache/s3cache/cache"
	"github.com/s3cache/s3cache/proxy/internal/coherence"
)

// flight is one backend GET shared by every concurrent miss on the same
// object version. The first miss (the leader) sends the request; misses
// that arrive while it is in flight (followers) wait for its headers and
// then stream the body from the shared buffer as it arrives, not after it
// finished. The body is read by a goroutine of the flight's own, detached
// from every client, so a client that goes away never cuts the fill short
// for the others; each per-read wait is still bounded by BackendTimeout.
//
// Only bodies of a known length no larger than CacheMaxObjectBytes are
// shared, so memory never follows object size. Other responses go to the
// leader alone, and each follower fetches for itself.
type flight struct {
	ticket  cache.Ticket
	ready   chan struct{} // closed once the fields below are set
	waiters atomic.Int64  // followers that joined

	// Set before ready is closed, read-only afterwards.
	entry  *cache.Entry // answer from this cached entry (revalidated or stale)
	xcache string       // X-Cache value for entry
	err    error        // the round trip failed
	status int          // backend status
	header http.Header  // headers to send, as stored
	shared bool         // body is shared through buf
	buf    []byte       // the whole body when shared
	large  *largeObject // the object is cached in blocks; its description is stored
	stored bool         // pump offered the body to the cache; set before done is published

	// Leader only: the generations its fill read in Redis, and the shared
	// tier's fill lock it holds ("" for none).
	stamp  coherence.Stamp
	l2lock string

	mu       sync.Mutex
	filled   int           // bytes of buf received
	bodyErr  error         // the body failed; buf is incomplete
	done     bool          // no more bytes will come
	progress chan struct{} // closed and replaced when filled, bodyErr or done change
}

// flights holds the fills in flight by cache key. The zero value is ready.
type flights struct {
	mu     sync.Mutex
	m      map[string]*flight
	joined atomic.Int64 // misses served by another miss's backend request
}

// join returns the flight for ckey that a new miss may share, or starts a
// new one, in which case the caller is its leader. A flight whose ticket
// is no longer current began before a write to the key returned: a miss
// arriving now must not get its bytes, so it starts a new flight.
//
// The cache is checked again here, under the table's lock: the miss that
// brought the caller here may have raced a flight that stored the object
// and left the table since, and a flight leaves only after its Commit, so
// this look finds the entry. hit is that entry, if any.
//
// t is the ticket a new flight fills under, taken (see Proxy.beginFill)
// before the caller looked for the entry.
func (fs *flights) join(c *cache.Cache, bucket, key, ckey string, t cache.Ticket) (f *flight, leader bool, hit *cache.Entry) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f := fs.m[ckey]; f != nil && c.Current(f.ticket) {
		f.waiters.Add(1)
		fs.joined.Add(1)
		return f, false, nil
	}
	if e, ok := c.Get(bucket, key, ckey); ok {
		return nil, false, e
	}
	f = &flight{ticket: t, ready: make(chan struct{}), progress: make(chan struct{})}
	if fs.m == nil {
		fs.m = make(map[string]*flight)
	}
	fs.m[ckey] = f
	return f, true, nil
}

// under returns the bucket and key of every flight in the table whose
// bucket is bucket and whose key starts with prefix.
func (fs *flights) under(bucket, prefix string) (keys []string) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for ckey := range fs.m {
		if b, _, k, ok := cache.SplitKey(ckey); ok && b == bucket && strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	return keys
}

// publish ends the leader's part of f: the followers waiting on ready see
// its outcome (an entry, an error, a large object, a shared body or one
// for the leader alone). A flight whose body is not shared through buf
// leaves the table now, so that the next miss starts a flight of its own;
// a shared one leaves once pump offered its body to the cache.
func (fs *flights) publish(ckey string, f *flight) {
	if !f.shared {
		fs.leave(ckey, f)
	}
	close(f.ready)
}

// leave forgets f if it is still the flight for ckey.
func (fs *flights) leave(ckey string, f *flight) {
	fs.mu.Lock()
	if fs.m[ckey] == f {
		delete(fs.m, ckey)
	}
	fs.mu.Unlock()
}

// advance publishes bytes received, an error, or the end of the body.
func (f *flight) advance(filled int, err error, done bool) {
	f.mu.Lock()
	f.filled = filled
	if err != nil && f.bodyErr == nil {
		f.bodyErr = err
	}
	f.done = f.done || done
	close(f.progress)
	f.progress = make(chan struct{})
	f.mu.Unlock()
}

// state returns what has been published so far, and a channel closed at
// the next change.
func (f *flight) state() (filled int, err error, done bool, next <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.filled, f.bodyErr, f.done, f.progress
}

// fill answers a GET miss through a flight: the leader fetches, everyone
// (leader included) streams the shared body.
//
// A miss with a range, preconditions or response-* overrides fetches the
// whole object, not what it asks for: when the object is shareable (at
// most CACHE_MAX_OBJECT_BYTES, or the rule's size) one trip then answers
// it as a hit would (412, 304, 206 or 200, overrides applied; the range as
// soon as its bytes arrived), and fills the cache for the next reader,
// which costs little more than the range alone would. Concurrent part
// GETs of one object share that trip. (A range of an object not yet
// described comes here only once serveRead learnt with a HEAD that the
// object is small.) When the object may not be kept, the whole-object
// answer is dropped after its headers and the request is relayed
// (X-Cache: BYPASS).
//
// An object larger than that which the cache may keep in blocks (see
// blocks.go) is not dropped: its description is stored, the leader of a
// whole GET streams it while storing its blocks, and a range, a
// precondition or a follower is answered from the description and block
// by block. retried says the GET is served again because the object
// changed under its description.
func (p *Proxy) fill(w http.ResponseWriter, r *http.Request, rq *request, rr *readRequest, ckey string, retried bool) {
	t, stamp := p.beginFill(r.Context(), rq.bucket, rq.key)
	f, leader, hit := p.flights.join(p.cache, rq.bucket, rq.key, ckey, t)
	if hit != nil {
		if !rr.sameObject(hit.Header) {
			p.bypass(w, r, rq, "object-changed")
			return
		}
		p.serveEntry(w, r, hit, rr, xCacheHit)
		return
	}
	if leader {
		f.stamp = stamp
		res, cancel := p.lead(r, f, rq, ckey, rr.versionID)
		if res != nil && f.large != nil && !rr.sameObject(f.large.meta.Header) {
			res.Body.Close()
			cancel()
			p.bypass(w, r, rq, "object-changed")
			return
		}
		if res != nil && f.large != nil {
			if rr.conditional && p.answerPreconditions(w, r, f.large.meta.Header, xCacheMiss) {
				res.Body.Close()
				cancel()
				return
			}
			if rr.rangeSpec != "" {
				res.Body.Close()
				cancel()
				p.serveBlocks(w, r, rq, rr, ckey, f.large, retried)
				return
			}
			stop := context.AfterFunc(r.Context(), cancel)
			defer stop()
			p.serveFillBlocks(w, r, f.large, rr, res, cancel, f.ticket)
			return
		}
		if res != nil {
			// Not shareable: the leader streams it alone, and stops when its
			// client goes away.
			defer cancel()
			if rr.rangeSpec != "" || rr.variant() {
				res.Body.Close()
				p.bypass(w, r, rq, "not-cacheable")
				return
			}
			stop := context.AfterFunc(r.Context(), cancel)
			defer stop()
			p.streamResponse(w, r, res, rr.checksumMode)
			return
		}
	} else {
		select {
		case <-f.ready:
		case <-r.Context().Done():
			return
		}
	}
	// A part's range is answered from this object only if it is the one
	// the part's description is of.
	if rr.part != nil && (f.entry != nil && !rr.sameObject(f.entry.Header) ||
		f.large != nil && !rr.sameObject(f.large.meta.Header) ||
		f.err == nil && f.entry == nil && f.large == nil && f.status == http.StatusOK && !rr.sameObject(f.header)) {
		p.bypass(w, r, rq, "object-changed")
		return
	}
	switch {
	case f.entry != nil:
		if f.xcache == xCacheStale {
			w.Header().Set("Warning", `110 - "Response is Stale"`)
		}
		p.serveEntry(w, r, f.entry, rr, f.xcache)
	case f.err != nil:
		if r.Context().Err() == nil {
			p.writeError(w, r, backendError(f.err))
		}
	case f.large != nil:
		p.serveLargeFill(w, r, rq, rr, ckey, f.large, retried)
	case !f.shared && (rr.rangeSpec != "" || rr.variant()):
		p.bypass(w, r, rq, "not-cacheable")
	case !f.shared:
		p.fetchAlone(w, r, rq, rr)
	default:
		p.serveFlight(w, r, f, rr)
	}
}

// serveLargeFill answers a miss of o, whose description this fill just
// stored, from the description and block by block.
func (p *Proxy) serveLargeFill(w http.ResponseWriter, r *http.Request, rq *request, rr *readRequest, ckey string, o *largeObject, retried bool) {
	if rr.conditional && p.answerPreconditions(w, r, o.meta.Header, xCacheMiss) {
		return
	}
	p.serveBlocks(w, r, rq, rr, ckey, o, retried)
}

// lead sends the flight's backend GET, detached from the leader's client,
// and publishes its outcome. When an expired entry of the object is
// retained, the GET revalidates it: a 304 refreshes the entry without
// moving the body, and a backend failure within CACHE_STALE_IF_ERROR
// serves it stale. A shareable body is read into the flight's buffer by a
// goroutine of its own, and lead returns nil. Else lead returns the
// response, for the leader alone, and the function that cancels its
// request.
func (p *Proxy) lead(r *http.Request, f *flight, rq *request, ckey, versionID string) (*http.Response, context.CancelFunc) {
	// Whichever way lead returns, its outcome is published once.
	defer p.flights.publish(ckey, f)
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	expired, _ := p.cache.GetExpired(rq.bucket, rq.key, ckey)
	etag := ""
	if expired != nil {
		etag = headerETag(expired.Header)
	} else if p.fromShared(ctx, f, rq, ckey, versionID) {
		cancel()
		return nil, nil
	}
	res, err := p.fetch(ctx, rq, versionID, etag, cancel)
	switch {
	case err != nil && p.usableStale(expired):
		f.entry, f.xcache = expired, xCacheStale
		p.logRead(r, rq, slog.LevelWarn, "backend failed; serving a stale entry", slog.Any("cause", err))
	case err != nil:
		f.err = err
	case res.StatusCode == http.StatusNotModified && expired != nil:
		// Same ETag, same bytes: a new entry shares the stored body and
		// headers, with a new lifetime.
		refreshed := renewedEntry(expired, entryTTL(rq))
		p.cache.Commit(f.ticket, ckey, refreshed)
		f.entry, f.xcache = refreshed, xCacheRevalidated
	case res.StatusCode >= 500 && p.usableStale(expired):
		f.entry, f.xcache = expired, xCacheStale
		p.logRead(r, rq, slog.LevelWarn, "backend failed; serving a stale entry", slog.Int("status", res.StatusCode))
	}
	if f.entry != nil || f.err != nil {
		if res != nil {
			res.Body.Close()
		}
		p.l2.Release(ctx, rq.bucket, rq.key, versionID, f.l2lock)
		cancel()
		return nil, nil
	}
	f.status = res.StatusCode
	f.header = storedHeader(res.Header)
	if f.l2lock != "" && (res.ContentLength > p.cfg.CacheL2MaxObjectBytes || !p.storable(rq, res)) {
		// No value will come: other replicas waiting for one fetch now.
		p.l2.Release(ctx, rq.bucket, rq.key, versionID, f.l2lock)
		f.l2lock = ""
	}
	if o := p.blockable(rq, versionID, res); o != nil && p.cache.Commit(f.ticket, o.metaKey(), o.meta) {
		// Large: the leader streams it and keeps its blocks; followers
		// read it block by block.
		f.large = o
		return res, cancel
	}
	if res.ContentLength < 0 || res.ContentLength > p.maxObjectBytes(rq) || !p.filling.reserve(res.ContentLength) {
		return res, cancel
	}
	f.shared = true
	f.buf = make([]byte, res.ContentLength) // released by pump
	p.fills.Add(1)
	go func() {
		defer p.fills.Done()
		p.pump(f, rq, res, cancel, ckey, versionID)
	}()
	return nil, nil
}

// usableStale reports whether an expired entry may still be served when the
// backend fails: it expired less than CACHE_STALE_IF_ERROR ago.
func (p *Proxy) usableStale(e *cache.Entry) bool {
	return e != nil && p.cfg.CacheStaleIfError > 0 && p.cfg.Now().Before(e.Expires.Add(p.cfg.CacheStaleIfError))
}

// pump reads the shared body into the flight's buffer and, if it is a
// complete cacheable response and no write to the key happened since the
// flight began, stores it. It owns res and cancel.
func (p *Proxy) pump(f *flight, rq *request, res *http.Response, cancel context.CancelFunc, ckey, versionID string) {
	// The fill lock, if still held, is released on every way out; store
	// releases it after writing the value.
	defer func() { p.l2.Release(context.Background(), rq.bucket, rq.key, versionID, f.l2lock) }()
	defer p.filling.release(int64(len(f.buf)))
	defer cancel()
	defer res.Body.Close()
	// The flight leaves the table before its end is published, so no miss
	// joins a flight that has already failed, and after a Commit, so
	// newcomers always find the flight or the entry.
	finish := func(err error) {
		p.flights.leave(ckey, f)
		f.advance(len(f.buf), err, true)
	}
	off := 0
	for off < len(f.buf) {
		n, err := res.Body.Read(f.buf[off:min(off+32<<10, len(f.buf))])
		off += n
		if err == io.EOF && off < len(f.buf) {
			err = io.ErrUnexpectedEOF
		}
		if err != nil && err != io.EOF {
			p.flights.leave(ckey, f)
			f.advance(off, err, true)
			return
		}
		if off < len(f.buf) {
			// The last bytes are published only by finish, after the
			// Commit: a client that read the whole object and asks again
			// gets a hit.
			f.advance(off, nil, false)
		}
	}
	// The backend must end the body exactly at its Content-Length.
	var one [1]byte
	if n, err := res.Body.Read(one[:]); n != 0 || err != nil && err != io.EOF {
		p.log.Warn("backend body longer than its Content-Length or broken; not cached")
		finish(nil)
		return
	}
	storable := p.storable(rq, res)
	if storable {
		f.stored = p.cache.Commit(f.ticket, ckey, p.newEntry(f.header, f.buf, entryTTL(rq)))
	}
	finish(nil)
	// For the other replicas, after this one's clients got their bytes;
	// the body is read-only from here.
	if storable && f.l2lock != "" {
		p.l2.Store(context.Background(), f.stamp, rq.bucket, rq.key, versionID, f.header, f.buf, entryTTL(rq), f.l2lock)
		f.l2lock = ""
	}
}

// serveFlight answers one client from a shared body as the bytes arrive:
// rr's preconditions, range and overrides applied to a 200 as a hit
// would apply them; any other status relayed.
func (p *Proxy) serveFlight(w http.ResponseWriter, r *http.Request, f *flight, rr *readRequest) {
	if relaysErrorBody(f.status, f.header, int64(len(f.buf))) {
		p.serveFlightError(w, r, f)
		return
	}
	if f.status == http.StatusOK && rr.conditional && p.answerPreconditions(w, r, f.header, xCacheMiss) {
		return
	}
	size := len(f.buf)
	start, end, status := 0, size, f.status
	if rr.rangeSpec != "" && f.status == http.StatusOK {
		switch s, e, res := parseRange(rr.rangeSpec, size); res {
		case rangeUnsatisfiable:
			p.writeInvalidRange(w, r, rr.rangeSpec, int64(size), xCacheMiss)
			return
		case rangeSatisfiable:
			start, end, status = s, e, http.StatusPartialContent
		}
	}
	hw := holdStatus(w) // until the first byte: a fill that fails before it gets an error status
	defer hw.send()
	h := hw.Header()
	if f.status == http.StatusOK {
		rr.objectHeader(h, f.header, start, end, size, status == http.StatusPartialContent)
	} else {
		copyObjectHeader(h, f.header, rr.checksumMode)
	}
	h.Set("X-Cache", xCacheMiss)
	h.Set("Content-Length", strconv.Itoa(end-start))
	hw.WriteHeader(status)
	sendingFrom(w, sourceBackend) // through the flight's buffer
	rc := http.NewResponseController(hw)
	sent := start
	for sent < end {
		filled, err, done, next := f.state()
		if filled > sent {
			if _, werr := hw.Write(f.buf[sent:min(filled, end)]); werr != nil {
				return // client gone; the flight goes on for the others
			}
			sent = min(filled, end)
			continue
		}
		if err != nil {
			p.failBody(hw, r, err)
			return
		}
		if done {
			return
		}
		// Nothing more yet: what was written goes out before the wait.
		if sent > start {
			if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
				return
			}
		}
		select {
		case <-next:
		case <-r.Context().Done():
			return
		}
	}
}

// serveFlightError answers with a shared backend error (see errorbody.go):
// once the whole body arrived, with this request's id as its RequestId.
// The shared buffer is read, never modified.
func (p *Proxy) serveFlightError(w http.ResponseWriter, r *http.Request, f *flight) {
	for {
		_, err, done, next := f.state()
		if err != nil {
			if r.Context().Err() == nil {
				p.writeError(w, r, backendError(err))
			}
			return
		}
		if done {
			break
		}
		select {
		case <-next:
		case <-r.Context().Done():
			return
		}
	}
	body := withRequestID(f.buf, w.Header().Get("X-Amz-Request-Id"))
	h := w.Header()
	for k, v := range f.header {
		h[k] = v
	}
	h.Set("X-Cache", xCacheMiss)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(f.status)
	sendingFrom(w, sourceBackend)
	w.Write(body)
}

// fetchAlone answers one GET miss with a backend request of its own, for a
// follower of a flight whose body could not be shared.
func (p *Proxy) fetchAlone(w http.ResponseWriter, r *http.Request, rq *request, rr *readRequest) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	res, err := p.fetch(ctx, rq, rr.versionID, "", cancel)
	if err != nil {
		if r.Context().Err() == nil {
			p.writeError(w, r, backendError(err))
		}
		return
	}
	p.streamResponse(w, r, res, rr.checksumMode)
}
