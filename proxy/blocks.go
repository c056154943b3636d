package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/s3cache/s3cache/cache"
)

// Objects larger than the cache's object size cap (CACHE_MAX_OBJECT_BYTES,
// or a policy rule's max_object_bytes) are cached in aligned blocks of
// CACHE_BLOCK_BYTES: a description entry (cache.MetaKey: the whole
// object's headers, its size and ETag, no body) and one entry per block
// (cache.BlockKey: bucket, key, version, ETag and index). A GET of such an
// object, whole or a range, is answered block by block: cached blocks are
// written as stored, and each run of adjacent missing blocks is one ranged
// backend GET pinned to the description's ETag with If-Match, streamed to
// the client while each completed block is stored. So two versions'
// blocks never meet in one body: a block is keyed by its ETag, and a
// backend that no longer has that ETag answers 412.
//
// Every entry is committed with a ticket taken before its backend
// request, so a write through the proxy makes the description and every
// block unservable at once, as for whole objects.

// errBlockResponse is wrapped when a ranged backend GET of blocks did not
// answer with exactly the bytes asked for.
var errBlockResponse = errors.New("proxy: backend answered a block request with other bytes")

// errPrefetchBudget ends a prefetch when the fill budget has no room to
// spare for its next block.
var errPrefetchBudget = errors.New("proxy: fill budget spent; prefetch stopped")

// largeObject is one version of an object cached in blocks, as its
// description entry says. It is read-only once built.
type largeObject struct {
	bucket, key, versionID string
	meta                   *cache.Entry        // the description: the whole object's headers
	size                   int64               // bytes of the object, > 0
	etag                   string              // as the backend sent it, quotes included
	blockSize              int64               // CACHE_BLOCK_BYTES
	blockHeader            map[string][]string // the header of every block entry: its ETag
	ttl                    time.Duration       // of every entry; 0 means CACHE_TTL
}

// largeObjectOf reads a description entry; ok is false if it is not one
// (no size or ETag).
func (p *Proxy) largeObjectOf(rq *request, versionID string, meta *cache.Entry) (*largeObject, bool) {
	size, err := strconv.ParseInt(firstValue(meta.Header, "Content-Length"), 10, 64)
	etag := headerETag(meta.Header)
	if err != nil || size <= 0 || etag == "" {
		return nil, false
	}
	return &largeObject{
		bucket: rq.bucket, key: rq.key, versionID: versionID,
		meta: meta, size: size, etag: etag,
		blockSize:   p.cfg.CacheBlockBytes,
		blockHeader: map[string][]string{etagS3: {etag}},
		ttl:         entryTTL(rq),
	}, true
}

// count is the number of blocks of o.
func (o *largeObject) count() int64 { return (o.size + o.blockSize - 1) / o.blockSize }

// span returns the offset and length of block i.
func (o *largeObject) span(i int64) (off, n int64) {
	off = i * o.blockSize
	return off, min(o.blockSize, o.size-off)
}

func (o *largeObject) blockKey(i int64) string {
	return cache.BlockKey(o.bucket, o.key, o.versionID, o.etag, i)
}

func (o *largeObject) metaKey() string { return cache.MetaKey(o.bucket, o.key, o.versionID) }

// cached reports whether block i is in the cache, without counting a hit.
func (p *Proxy) cached(o *largeObject, i int64) bool {
	return p.cache.StoredETag(o.bucket, o.key, o.blockKey(i)) != ""
}

// blockable returns the description of a large object from the headers
// of a whole-object 200 that the cache may keep in blocks, or nil: known
// length above the object size cap, an ETag, and nothing that forbids
// storing it (see storable).
func (p *Proxy) blockable(rq *request, versionID string, res *http.Response) *largeObject {
	if res.StatusCode != http.StatusOK || res.ContentLength <= p.maxObjectBytes(rq) || res.Header.Get("Etag") == "" {
		return nil
	}
	if !p.storableHeaders(rq, res.Header) {
		return nil
	}
	h := storedHeader(res.Header)
	h.Set("Content-Length", strconv.FormatInt(res.ContentLength, 10))
	o, _ := p.largeObjectOf(rq, versionID, &cache.Entry{Header: h, TTL: entryTTL(rq)})
	return o
}

// storableHeaders is storable's test of the headers alone.
func (p *Proxy) storableHeaders(rq *request, h http.Header) bool {
	return h.Get("Content-Range") == "" && p.cacheableHeaders(rq, h)
}

// cacheableHeaders is storableHeaders but for the test of Content-Range,
// for the description of a part, which has one.
func (p *Proxy) cacheableHeaders(rq *request, h http.Header) bool {
	if h.Get("X-Amz-Server-Side-Encryption-Customer-Algorithm") != "" {
		return false
	}
	if sse := h.Get("X-Amz-Server-Side-Encryption"); strings.HasPrefix(sse, "aws:kms") {
		return false
	}
	if rq.rule != nil && rq.rule.IgnoreCacheControl {
		return true
	}
	cc := strings.ToLower(h.Get("Cache-Control"))
	return !strings.Contains(cc, "no-store") && !strings.Contains(cc, "private")
}

// blockTable holds the blocks being fetched, so that concurrent readers of
// a missing block wait for one fetch instead of each sending their own
// (each wait bounded by BackendTimeout, see awaitBlock), and where the last read of each large object ended, to spot sequential
// readers. It owns the prefetch goroutines. Build it with init.
type blockTable struct {
	mu      sync.Mutex
	flights map[string]*blockFlight // by block key
	ends    map[string]int64        // by description key: end of the last read

	ctx  context.Context // of prefetches; cancelled by close
	stop context.CancelFunc
	wg   sync.WaitGroup // prefetches running

	hits, misses, prefetched prometheus.Counter
}

// maxSequentialObjects bounds blockTable.ends; past it the table starts
// over, which costs at most one missed prefetch per object.
const maxSequentialObjects = 4096

// blockFlight is one block being fetched. body is set, to the complete
// block, before done is closed; nil means the fetch failed or did not keep
// the block, and the waiter fetches it itself.
type blockFlight struct {
	done chan struct{}
	body []byte
}

// init registers the block counters in m and makes t ready.
func (t *blockTable) init(m *metrics) {
	t.flights = map[string]*blockFlight{}
	t.ends = map[string]int64{}
	t.ctx, t.stop = context.WithCancel(context.Background())
	blocks := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "s3cache_block_reads_total",
		Help: "Blocks of objects cached in blocks (larger than CACHE_MAX_OBJECT_BYTES) that GETs read, by result: hit (from the cache), miss (fetched from the backend, or from another read's fetch).",
	}, []string{"result"})
	t.hits, t.misses = blocks.WithLabelValues("hit"), blocks.WithLabelValues("miss")
	t.prefetched = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "s3cache_block_prefetches_total",
		Help: "Blocks fetched ahead of sequential readers (CACHE_PREFETCH_BLOCKS) and stored.",
	})
	m.add(blocks, t.prefetched)
}

// close stops the prefetches and waits for them to end.
func (t *blockTable) close() {
	if t.stop != nil {
		t.stop()
	}
	t.wg.Wait()
}

// idle waits for the prefetches started so far to end.
func (t *blockTable) idle() {
	t.mu.Lock()
	t.mu.Unlock() //nolint:staticcheck // orders prefetch's Add before the Wait
	t.wg.Wait()
}

// inFlight returns the fetch of the block under key, or nil.
func (t *blockTable) inFlight(key string) *blockFlight {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.flights[key]
}

// finish publishes the outcome of f, the fetch of the block under key.
func (t *blockTable) finish(key string, f *blockFlight, body []byte) {
	t.mu.Lock()
	if t.flights[key] == f {
		delete(t.flights, key)
	}
	t.mu.Unlock()
	f.body = body
	close(f.done)
}

// awaitBlock waits for f, another read's fetch of a block, for at most
// BackendTimeout: that read writes each block to its own client before it
// reads the next, so a slow client of its own would otherwise set the pace
// of every reader waiting on it. stalled is true when the wait ran out; err
// is ctx's when the caller's client went away first. Otherwise f is done
// and f.body is the block, or nil if the fetch did not keep it.
func (p *Proxy) awaitBlock(ctx context.Context, f *blockFlight) (stalled bool, err error) {
	select {
	case <-f.done:
		return false, nil
	default:
	}
	t := time.NewTimer(p.cfg.BackendTimeout)
	defer t.Stop()
	select {
	case <-f.done:
		return false, nil
	case <-t.C:
		return true, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// openStalled sends the ranged GET of blocks of o from block from on that
// other reads claimed and did not deliver within BackendTimeout (see
// awaitBlock): block from and the blocks after it, before to, that are
// still being fetched and not cached. The run claims none of them, so it
// stores nothing: its bytes pass through to the one client, and the
// claims stay with the fetches that made them. It returns like openRun.
func (p *Proxy) openStalled(parent context.Context, o *largeObject, from, to int64) (run *blockRun, res *http.Response, err error) {
	end := from + 1
	for end < to && p.blocks.inFlight(o.blockKey(end)) != nil && !p.cached(o, end) {
		end++
	}
	ctx, cancel := context.WithCancel(parent)
	run = &blockRun{p: p, o: o, body: http.NoBody, cancel: cancel, first: from, next: from, end: end, claims: make([]*blockFlight, end-from)}
	res, err = p.fetchBlocks(ctx, o, from, end, cancel)
	if err == nil && !o.answers(res, from, end) {
		err = errBlockResponse
	}
	if err != nil {
		run.close()
		return nil, res, err
	}
	run.body = res.Body
	return run, nil, nil
}

// sequential records that a read of the object under metaKey covered
// [start, end) and reports whether it began where the last one ended.
func (t *blockTable) sequential(metaKey string, start, end int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	prev, ok := t.ends[metaKey]
	if len(t.ends) >= maxSequentialObjects {
		clear(t.ends)
	}
	t.ends[metaKey] = end
	return ok && prev == start
}

// blockRun is one backend response carrying blocks [next, end) of o: a
// ranged GET of a run of missing blocks, or a whole-object fill. Blocks
// it claimed are kept: stored in the cache and handed to the readers
// waiting for them. Others (already cached, or claimed by another run)
// pass through in constant memory. A run is used by one goroutine.
type blockRun struct {
	p         *Proxy
	o         *largeObject
	body      io.ReadCloser
	cancel    context.CancelFunc
	ticket    cache.Ticket
	first     int64
	next, end int64
	claims    []*blockFlight // by block - first; nil where not claimed
	prefetch  bool           // keep blocks only within half the fill budget
	// prepaid is fill budget reserved for the run's blocks before its
	// request was sent (a prefetch's), spent by reserve and the rest
	// returned by close.
	prepaid int64
}

// claim registers fetches of blocks [from, to) of o that are neither
// cached nor being fetched. With contiguous it stops at the first such
// block; else it skips them. Block from was missing when the caller
// looked, but another read's fetch may have stored it since: it is claimed
// only if Get would still miss it, so that its fetch is not repeated. It returns the claims by block - from, and the block after the
// last claimed one (from when none).
func (p *Proxy) claim(o *largeObject, from, to int64, contiguous bool) (claims []*blockFlight, end int64) {
	t := &p.blocks
	t.mu.Lock()
	defer t.mu.Unlock()
	end = from
	for i := from; i < to; i++ {
		key := o.blockKey(i)
		cached := i == from && p.cache.Fresh(o.bucket, o.key, key) || i > from && p.cached(o, i)
		if t.flights[key] != nil || cached {
			if contiguous {
				break
			}
			claims = append(claims, nil)
			continue
		}
		f := &blockFlight{done: make(chan struct{})}
		t.flights[key] = f
		claims = append(claims, f)
		end = i + 1
	}
	return claims[:end-from], end
}

// openRun claims the run of missing blocks of o from block from (up to
// to, exclusive) and sends its ranged GET, pinned to o's ETag. It returns
// nil and no error when block from is being fetched by another run. A
// response that is not the run's bytes (412: the object changed; 404; any
// error) is returned as res, for the caller to close, with an error.
func (p *Proxy) openRun(parent context.Context, o *largeObject, from, to int64, prefetch bool) (run *blockRun, res *http.Response, err error) {
	ticket, _ := p.beginFill(parent, o.bucket, o.key) // before the backend request
	claims, end := p.claim(o, from, to, true)
	if end == from {
		return nil, nil, nil
	}
	ctx, cancel := context.WithCancel(parent)
	run = &blockRun{p: p, o: o, cancel: cancel, ticket: ticket, first: from, next: from, end: end, claims: claims, prefetch: prefetch}
	res, err = p.fetchBlocks(ctx, o, from, end, cancel)
	if err == nil && !o.answers(res, from, end) {
		err = errBlockResponse
	}
	if err != nil {
		run.body = http.NoBody
		run.close()
		return nil, res, err
	}
	run.body = res.Body
	return run, nil, nil
}

// fetchBlocks sends the ranged backend GET of blocks [from, to) of o,
// with If-Match: o's ETag, bounding each wait for body bytes as fetch does.
func (p *Proxy) fetchBlocks(ctx context.Context, o *largeObject, from, to int64, cancel context.CancelFunc) (*http.Response, error) {
	query := ""
	if o.versionID != "" {
		query = "versionId=" + escapeQuery(o.versionID)
	}
	out, err := http.NewRequestWithContext(withBackendCall(ctx, getObjectCall), http.MethodGet, "", nil)
	if err != nil {
		return nil, err
	}
	out.URL = p.backendURL(o.bucket, o.key, query)
	out.Host = out.URL.Host
	start, _ := o.span(from)
	lastOff, lastLen := o.span(to - 1)
	out.Header.Set("Range", "bytes="+strconv.FormatInt(start, 10)+"-"+strconv.FormatInt(lastOff+lastLen-1, 10))
	out.Header.Set("If-Match", o.etag)
	res, err := p.backend.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	res.Body = newBackendBody(res.Body, p.cfg.BackendTimeout, cancel)
	return res, nil
}

// answers reports whether res carries exactly blocks [from, to) of o: a
// 206 of that range of an object of o's size and ETag, or a 200 of all of
// it when that is what was asked.
func (o *largeObject) answers(res *http.Response, from, to int64) bool {
	if etag := res.Header.Get("Etag"); etag != "" && etag != o.etag {
		return false
	}
	start, _ := o.span(from)
	lastOff, lastLen := o.span(to - 1)
	end := lastOff + lastLen
	switch res.StatusCode {
	case http.StatusPartialContent:
		s, e, size, ok := parseContentRange(res.Header.Get("Content-Range"))
		return ok && s == start && e == end && size == o.size && (res.ContentLength < 0 || res.ContentLength == end-start)
	case http.StatusOK:
		return start == 0 && end == o.size && res.ContentLength == o.size
	}
	return false
}

// parseContentRange parses a Content-Range of a 206, "bytes a-b/size",
// into [start, end) and size. A "*" size, an unsatisfied range or anything
// malformed gives ok false.
func parseContentRange(s string) (start, end, size int64, ok bool) {
	rest, ok := strings.CutPrefix(s, "bytes ")
	if !ok {
		return 0, 0, 0, false
	}
	rng, total, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, 0, false
	}
	first, last, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, 0, false
	}
	a, okA := parseDigits(first)
	b, okB := parseDigits(last)
	n, okN := parseDigits(total)
	if !okA || !okB || !okN || b < a || b >= n || n == 1<<63-1 {
		return 0, 0, 0, false
	}
	return a, b + 1, n, true
}

// close ends the run: its backend request is cancelled, and the readers
// waiting for blocks it claimed and did not deliver fetch them themselves.
func (run *blockRun) close() {
	if run == nil {
		return
	}
	run.cancel()
	run.body.Close()
	run.p.filling.release(run.prepaid)
	run.prepaid = 0
	for i, f := range run.claims {
		if f != nil {
			run.p.blocks.finish(run.o.blockKey(run.first+int64(i)), f, nil)
			run.claims[i] = nil
		}
	}
}

// clientError wraps an error writing to the client, to tell it from a
// backend failure.
type clientError struct{ error }

// copyBlock reads block i, the run's next, from the backend body and
// writes its bytes [lo, hi) to w (nil: none). A claimed block is read
// whole into a buffer reserved from the fill budget until it is stored
// and handed to its waiters, then written; when the budget is spent it
// passes through like the others, and its waiters fetch it themselves. A
// failed write returns a clientError; anything else is the backend's.
func (run *blockRun) copyBlock(w io.Writer, i, lo, hi int64) error {
	p, o := run.p, run.o
	_, n := o.span(i)
	run.next = i + 1
	f := run.claims[i-run.first]
	run.claims[i-run.first] = nil
	key := o.blockKey(i)
	if f != nil && run.reserve(n) {
		buf := make([]byte, n)
		if _, err := io.ReadFull(run.body, buf); err != nil {
			p.filling.release(n)
			p.blocks.finish(key, f, nil)
			return err
		}
		stored := p.cache.Commit(run.ticket, key, &cache.Entry{Header: o.blockHeader, Body: buf, TTL: o.ttl})
		// Committed, the block is the cache's, counted in its bytes; if it
		// was refused, it is one block this run holds until its client has
		// it, as a relay holds its buffer. Either way the fill is over: a
		// slow client must not keep the budget from other reads' blocks
		// (which would then pass through unstored and be fetched again).
		p.filling.release(n)
		p.blocks.finish(key, f, buf)
		if run.prefetch && stored {
			p.blocks.prefetched.Inc()
		}
		if w != nil && hi > lo {
			if _, err := w.Write(buf[lo:hi]); err != nil {
				return clientError{err}
			}
		}
		return nil
	}
	if f != nil {
		p.blocks.finish(key, f, nil)
	}
	if run.prefetch {
		return errPrefetchBudget
	}
	if w == nil {
		w, lo, hi = io.Discard, 0, 0
	}
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	src := io.LimitReader(run.body, n)
	if err := skip(src, lo, *bp); err != nil {
		return err
	}
	cw := &checkedWriter{w: w}
	if m, err := io.CopyBuffer(cw, io.LimitReader(src, hi-lo), *bp); cw.err != nil {
		return clientError{cw.err}
	} else if err == nil && m < hi-lo {
		return io.ErrUnexpectedEOF
	} else if err != nil {
		return err
	}
	return skip(src, n-hi, *bp)
}

// reserve takes n bytes of the fill budget for a block buffer. A
// prefetch takes them only while half the budget stays free for the
// reads of clients.
func (run *blockRun) reserve(n int64) bool {
	if run.prepaid >= n {
		run.prepaid -= n
		return true
	}
	f := &run.p.filling
	if run.prefetch && n > f.prefetchRoom() {
		return false
	}
	return f.reserve(n)
}

// skip reads and drops n bytes of src.
func skip(src io.Reader, n int64, buf []byte) error {
	if n <= 0 {
		return nil
	}
	m, err := io.CopyBuffer(io.Discard, io.LimitReader(src, n), buf)
	if err == nil && m < n {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// checkedWriter remembers the first error of its writer.
type checkedWriter struct {
	w   io.Writer
	err error
}

func (c *checkedWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}
