package proxy

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/s3cache/s3cache/cache"
)

// serveLarge answers a read of o from its description and blocks: the
// preconditions and a HEAD from the description alone (X-Cache: xcache), a
// GET block by block (serveBlocks).
func (p *Proxy) serveLarge(w http.ResponseWriter, r *http.Request, rq *request, rr *readRequest, ckey string, o *largeObject, xcache string) {
	if p.serveDescription(w, r, o, rr, xcache) {
		return
	}
	p.serveBlocks(w, r, rq, rr, ckey, o, false)
}

// serveDescription answers from o's description alone what needs no body:
// a HEAD (preconditions, range and overrides applied as on a hit), or a
// GET whose preconditions fail or find it unmodified. It reports whether
// it answered; a GET that needs the body is left to the caller.
func (p *Proxy) serveDescription(w http.ResponseWriter, r *http.Request, o *largeObject, rr *readRequest, xcache string) bool {
	if rr.conditional && p.answerPreconditions(w, r, o.meta.Header, xcache) {
		return true
	}
	if r.Method != http.MethodHead {
		return false
	}
	if start, end, status, ok := p.largeRange(w, r, o, rr, xcache); ok {
		writeLargeHeader(w, o, rr, start, end, status, xcache)
	}
	return true
}

// largeRange returns the part of o that rr asks for and its status, or
// answers 416 and returns false.
func (p *Proxy) largeRange(w http.ResponseWriter, r *http.Request, o *largeObject, rr *readRequest, xcache string) (start, end int64, status int, ok bool) {
	start, end, status = 0, o.size, http.StatusOK
	if rr.rangeSpec == "" {
		return start, end, status, true
	}
	switch s, e, res := parseRange(rr.rangeSpec, int(o.size)); res {
	case rangeUnsatisfiable:
		p.writeInvalidRange(w, r, rr.rangeSpec, o.size, xcache)
		return 0, 0, 0, false
	case rangeSatisfiable:
		start, end, status = int64(s), int64(e), http.StatusPartialContent
	}
	return start, end, status, true
}

// writeLargeHeader sends the status line and headers of the part
// [start, end) of o.
func writeLargeHeader(w http.ResponseWriter, o *largeObject, rr *readRequest, start, end int64, status int, xcache string) {
	h := w.Header()
	rr.objectHeader(h, o.meta.Header, int(start), int(end), int(o.size), status == http.StatusPartialContent)
	h.Set("X-Cache", xcache)
	h.Set("Content-Length", strconv.FormatInt(end-start, 10))
	w.WriteHeader(status)
}

// serveBlocks answers a GET of o, whole or a single range, block by block
// (see blocks.go). X-Cache is HIT when every block of the answer was cached
// when it began, else MISS.
//
// The first missing block's backend GET is sent before the status line:
// if it answers 412, the object changed since its description was
// stored, and the description is dropped and the GET served again as a
// new miss (once; retried says this is that second time). Any other
// answer that is not the blocks asked for is relayed by forwarding the
// client's request. A later run that fails, or answers 412, after bytes
// went out aborts the response: a body is never made of two versions.
func (p *Proxy) serveBlocks(w http.ResponseWriter, r *http.Request, rq *request, rr *readRequest, ckey string, o *largeObject, retried bool) {
	start, end, status, ok := p.largeRange(w, r, o, rr, xCacheHit)
	if !ok {
		return
	}
	first, last := start/o.blockSize, (end-1)/o.blockSize
	missing := int64(-1)
	for i := first; i <= last; i++ {
		if !p.cached(o, i) {
			missing = i
			break
		}
	}
	var pending *blockRun // the run of the first missing block, sent before the headers
	defer func() { pending.close() }()
	if missing >= 0 {
		run, res, err := p.openRun(r.Context(), o, missing, last+1, false)
		if run == nil && res == nil && err == nil {
			// Another read is fetching the block. Wait for it here, before
			// the status line, so that if it stalls and the block cannot
			// be had from the backend either, the client gets an error
			// status rather than a broken body.
			if f := p.blocks.inFlight(o.blockKey(missing)); f != nil {
				stalled, werr := p.awaitBlock(r.Context(), f)
				if werr != nil {
					return
				}
				if stalled {
					run, res, err = p.openStalled(r.Context(), o, missing, last+1)
				}
			}
		}
		switch {
		case res != nil && res.StatusCode == http.StatusPreconditionFailed && !retried:
			res.Body.Close()
			p.cache.Invalidate(o.bucket, o.key)
			p.fill(w, r, rq, rr, ckey, true)
			return
		case res != nil:
			res.Body.Close()
			if res.StatusCode == http.StatusNotFound || res.StatusCode == http.StatusPreconditionFailed {
				p.cache.Invalidate(o.bucket, o.key)
			}
			p.forward(w, r, rq, bypassValue("block-refused"))
			return
		case err != nil:
			if r.Context().Err() == nil {
				p.writeError(w, r, backendError(err))
			}
			return
		}
		pending = run // nil when another read is fetching the block
	}
	if p.cfg.CachePrefetchBlocks > 0 && p.blocks.sequential(o.metaKey(), start, end) {
		p.prefetch(o, last+1)
	}

	xcache, source := xCacheHit, sourceCache
	if missing >= 0 {
		xcache, source = xCacheMiss, sourceBackend
	} else if rr.described {
		xcache = xCacheMiss
	}
	writeLargeHeader(w, o, rr, start, end, status, xcache)
	sendingFrom(w, source)

	var cur *blockRun
	defer func() { cur.close() }()
	for i := first; i <= last; i++ {
		off, n := o.span(i)
		lo, hi := max(start-off, 0), min(end-off, n)
		for served := false; !served; {
			if cur != nil && cur.next != i {
				cur.close()
				cur = nil
			}
			if cur == nil && pending != nil && pending.next == i {
				cur, pending = pending, nil
			}
			if cur != nil {
				err := cur.copyBlock(w, i, lo, hi)
				if err != nil {
					if !errors.As(err, new(clientError)) {
						p.log.Warn("backend failed in a block of a large object; response aborted", "cause", err)
						bodyCut(w, err)
						abortIfBackend(r.Context(), err)
					}
					return
				}
				p.blocks.misses.Inc()
				if cur.next == cur.end {
					cur.close()
					cur = nil
				}
				served = true
				continue
			}
			if e, ok := p.cache.Get(o.bucket, o.key, o.blockKey(i)); ok && int64(len(e.Body)) == n {
				p.blocks.hits.Inc()
				if _, err := w.Write(e.Body[lo:hi]); err != nil {
					return
				}
				served = true
				continue
			}
			limit := last + 1
			if pending != nil {
				limit = pending.next
			}
			var run *blockRun
			var res *http.Response
			var err error
			if f := p.blocks.inFlight(o.blockKey(i)); f != nil {
				stalled, werr := p.awaitBlock(r.Context(), f)
				if werr != nil {
					return
				}
				if !stalled {
					if f.body != nil {
						p.blocks.misses.Inc()
						if _, err := w.Write(f.body[lo:hi]); err != nil {
							return
						}
						served = true
					}
					continue // the fetch failed: look again
				}
				run, res, err = p.openStalled(r.Context(), o, i, limit)
			} else {
				run, res, err = p.openRun(r.Context(), o, i, limit, false)
			}
			if res != nil {
				res.Body.Close()
			}
			if err != nil {
				p.log.Warn("backend failed a block request of a large object; response aborted", "cause", err)
				bodyCut(w, err)
				abortIfBackend(r.Context(), err)
				return
			}
			cur = run // nil: another read claimed the block meanwhile
		}
	}
}

// serveFillBlocks streams a whole-object 200 of o, the leader's fill of a
// large object, to its client while keeping its blocks: one backend trip
// fills the cache for later readers. Blocks already cached or being
// fetched by another read pass through. res and cancel are the leader's;
// ticket was taken before the request.
func (p *Proxy) serveFillBlocks(w http.ResponseWriter, r *http.Request, o *largeObject, rr *readRequest, res *http.Response, cancel context.CancelFunc, ticket cache.Ticket) {
	run := &blockRun{p: p, o: o, body: res.Body, cancel: cancel, ticket: ticket, end: o.count(), claims: make([]*blockFlight, o.count())}
	defer run.close()
	p.blocks.sequential(o.metaKey(), 0, o.size)
	hw := holdStatus(w) // until the first byte: a first block that fails gets an error status
	writeLargeHeader(hw, o, rr, 0, o.size, http.StatusOK, xCacheMiss)
	sendingFrom(w, sourceBackend)
	rc := http.NewResponseController(hw)
	// Blocks are claimed a few ahead of the one being read, not all at
	// once: a read of a later block does not wait for this client's pace,
	// and one that trails it still finds its blocks claimed.
	ahead := int64(max(p.cfg.CachePrefetchBlocks, 0)) + 1
	claimed := int64(0)
	for i := range o.count() {
		for ; claimed < min(i+ahead, o.count()); claimed++ {
			if !p.cached(o, claimed) {
				c, end := p.claim(o, claimed, claimed+1, true)
				if end > claimed {
					run.claims[claimed] = c[0]
				}
			}
		}
		_, n := o.span(i)
		if err := run.copyBlock(hw, i, 0, n); err != nil {
			if !errors.As(err, new(clientError)) {
				p.failBody(hw, r, err)
			}
			return
		}
		p.blocks.misses.Inc()
		// The block goes out before the next is read from the backend (a
		// no-op for blocks larger than the front end holds back).
		if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return
		}
	}
	hw.send()
}

// prefetch fetches up to CACHE_PREFETCH_BLOCKS blocks of o from block
// from on, in the background, for a sequential reader: only blocks
// neither cached nor being fetched, never past the end, and only while
// the fill budget has room to spare (see blockRun.reserve). It returns at
// once.
func (p *Proxy) prefetch(o *largeObject, from int64) {
	to := min(from+int64(p.cfg.CachePrefetchBlocks), o.count())
	if from >= to {
		return
	}
	t := &p.blocks
	t.mu.Lock() // orders the Add before idle's Wait
	t.wg.Add(1)
	t.mu.Unlock()
	go func() {
		defer t.wg.Done()
		for i := from; i < to; {
			if p.cached(o, i) || t.inFlight(o.blockKey(i)) != nil {
				i++
				continue
			}
			// Only as many blocks as the budget has room for, reserved
			// before the request is sent: a run stopped for want of room
			// halfway would leave the bytes the backend already sent
			// unused, to be fetched again, and a waiter on its next
			// block would fetch that block itself.
			room := p.filling.prefetchRoom() / o.blockSize
			if room < 1 {
				return
			}
			end := min(to, i+room)
			prepaid := (end - i) * o.blockSize
			if !p.filling.reserve(prepaid) {
				return
			}
			run, res, err := p.openRun(t.ctx, o, i, end, true)
			if res != nil {
				res.Body.Close()
			}
			if err != nil || run == nil {
				p.filling.release(prepaid)
				if err != nil {
					return
				}
				continue
			}
			// The run may be shorter: a block after its first was cached or
			// claimed meanwhile. What its blocks do not need goes back now.
			run.prepaid = (run.end - run.first) * o.blockSize
			p.filling.release(prepaid - run.prepaid)
			for run.next < run.end && err == nil {
				err = run.copyBlock(nil, run.next, 0, 0)
			}
			run.close()
			if err != nil {
				return // the budget is spent, the backend failed, or the proxy is closing
			}
			i = run.end
		}
	}()
}
