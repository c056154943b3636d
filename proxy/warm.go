package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/minio/minio-go/v7"

	"github.com/s3cache/s3cache/cache"
	"github.com/s3cache/s3cache/proxy/internal/s3api"
)

// WarmTarget names objects to load into the cache before anyone asks for
// them: every object of Bucket whose key starts with Prefix, until
// MaxBytes of them were loaded. The zero MaxBytes means the cache size.
type WarmTarget struct {
	Bucket   string `json:"bucket"`
	Prefix   string `json:"prefix"`
	MaxBytes int64  `json:"max_bytes"`
}

// maxWarmJobs is how many jobs GET /-/admin/warm lists; older finished
// ones are forgotten.
const maxWarmJobs = 100

// warmParallel is how many objects are fetched for warming at once, over
// every job.
const warmParallel = 2

// ParseWarmTargets reads CACHE_WARM: comma-separated bucket/prefix pairs,
// e.g. "assets/thumbs/,logs/" ("bucket/" or "bucket" warms the whole
// bucket), each with no byte cap beyond the cache size.
func ParseWarmTargets(s string) ([]WarmTarget, error) {
	var out []WarmTarget
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		b, prefix, _ := strings.Cut(item, "/")
		if !s3api.ValidBucketName(b) {
			return nil, fmt.Errorf("%q: bucket %q is not a valid bucket name", item, b)
		}
		out = append(out, WarmTarget{Bucket: b, Prefix: prefix})
	}
	return out, nil
}

// warmJob is one target being warmed. Its counters are read while it runs.
type warmJob struct {
	target  WarmTarget
	source  string       // "prefix", or "state file" for a restore (CACHE_STATE_FILE)
	state   atomic.Value // "running", "done" or "failed"
	listed  atomic.Int64
	warmed  atomic.Int64
	bytes   atomic.Int64
	errs    atomic.Int64
	changed atomic.Int64
	lastErr atomic.Value  // string: the last error, for operators
	done    chan struct{} // closed when the job ended
}

// warmJobJSON is a job as GET /-/admin/warm lists it.
type warmJobJSON struct {
	Bucket        string `json:"bucket"`
	Prefix        string `json:"prefix"`
	MaxBytes      int64  `json:"max_bytes"`
	State         string `json:"state"`
	ObjectsListed int64  `json:"objects_listed"`
	ObjectsWarmed int64  `json:"objects_warmed"`
	BytesWarmed   int64  `json:"bytes_warmed"`
	Errors        int64  `json:"errors"`
	LastError     string `json:"last_error,omitempty"`
	Source        string `json:"source"`            // prefix, or state file
	Changed       int64  `json:"changed,omitempty"` // state file: objects whose ETag changed since the save
}

func (j *warmJob) json() warmJobJSON {
	le, _ := j.lastErr.Load().(string)
	return warmJobJSON{
		Bucket: j.target.Bucket, Prefix: j.target.Prefix, MaxBytes: j.target.MaxBytes,
		State: j.state.Load().(string), ObjectsListed: j.listed.Load(), ObjectsWarmed: j.warmed.Load(),
		BytesWarmed: j.bytes.Load(), Errors: j.errs.Load(), LastError: le,
		Source: j.source, Changed: j.changed.Load(),
	}
}

// warmer runs warm jobs in the background and keeps the last ones for
// listing. The zero value is not usable; Proxy.New builds it. It is safe
// for concurrent use.
type warmer struct {
	ctx    context.Context // cancelled by stop
	cancel context.CancelFunc
	wg     sync.WaitGroup
	slots  chan struct{} // warmParallel fetches at once

	mu   sync.Mutex
	jobs []*warmJob
}

func newWarmer() *warmer {
	ctx, cancel := context.WithCancel(context.Background())
	return &warmer{ctx: ctx, cancel: cancel, slots: make(chan struct{}, warmParallel)}
}

// list returns every job kept, oldest first.
func (wm *warmer) list() []warmJobJSON {
	wm.mu.Lock()
	defer wm.mu.Unlock()
	out := make([]warmJobJSON, 0, len(wm.jobs))
	for _, j := range wm.jobs {
		out = append(out, j.json())
	}
	return out
}

// stop cancels every job and waits for them to return.
func (wm *warmer) stop() {
	wm.cancel()
	wm.wg.Wait()
}

// Warm starts one background job per target that loads its objects into
// the cache through the same path as a GET miss, so concurrent misses
// share the fetches and writes fence them. Progress is listed by
// GET /-/admin/warm and counted in s3cache_warm_*_total. Close stops
// the jobs still running.
func (p *Proxy) Warm(targets []WarmTarget) { p.startWarm(targets) }

// startWarm is Warm, returning the started jobs' first state.
func (p *Proxy) startWarm(targets []WarmTarget) []warmJobJSON {
	out := make([]warmJobJSON, 0, len(targets))
	for _, t := range targets {
		if t.MaxBytes <= 0 {
			t.MaxBytes = p.cfg.CacheMaxBytes
		}
		j := &warmJob{target: t, source: "prefix", done: make(chan struct{})}
		p.warmer.start(j, func(ctx context.Context) { p.runWarm(ctx, j) })
		out = append(out, j.json())
	}
	return out
}

// start lists j and runs it in the background until it ends or the
// warmer stops.
func (wm *warmer) start(j *warmJob, run func(context.Context)) {
	j.state.Store("running")
	wm.mu.Lock()
	wm.jobs = append(wm.jobs, j)
	if len(wm.jobs) > maxWarmJobs {
		wm.jobs = dropFinished(wm.jobs, len(wm.jobs)-maxWarmJobs)
	}
	wm.mu.Unlock()
	wm.wg.Add(1)
	go func() {
		defer wm.wg.Done()
		run(wm.ctx)
	}()
}

// dropFinished removes the n oldest jobs that are not running.
func dropFinished(jobs []*warmJob, n int) []*warmJob {
	kept := jobs[:0]
	for _, j := range jobs {
		if n > 0 && j.state.Load() != "running" {
			n--
			continue
		}
		kept = append(kept, j)
	}
	return kept
}

// runWarm lists the job's prefix and warms each object that fits the
// cache, the policy and the job's byte budget, one at a time.
func (p *Proxy) runWarm(ctx context.Context, j *warmJob) {
	// Cancelled on return, so the listing stops if the loop does.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	t := j.target
	fail := func(err error) {
		j.errs.Add(1)
		j.lastErr.Store(err.Error())
	}
	var budget int64 = t.MaxBytes
	state := "done"
	for obj := range p.minio.ListObjects(ctx, t.Bucket, minio.ListObjectsOptions{Prefix: t.Prefix, Recursive: true}) {
		if obj.Err != nil {
			if ctx.Err() == nil {
				fail(fmt.Errorf("listing %s/%s: %w", t.Bucket, t.Prefix, obj.Err))
			}
			state = "failed"
			break
		}
		j.listed.Add(1)
		rule := p.cfg.CachePolicy.match(t.Bucket, obj.Key)
		rq := &request{bucket: t.Bucket, key: obj.Key, op: s3api.Operation{Name: "GetObject"}, rule: rule}
		if rule != nil && rule.Bypass || obj.Size > p.maxObjectBytes(rq) || obj.Size > budget {
			continue
		}
		n, _ := p.warmCounted(ctx, j, rq)
		if ctx.Err() != nil {
			state = "failed"
			break
		}
		budget -= n
	}
	if ctx.Err() != nil {
		state = "failed"
		j.lastErr.Store("stopped: the proxy is shutting down")
	}
	j.state.Store(state)
	close(j.done)
	p.log.LogAttrs(ctx, slog.LevelInfo, "cache warm finished", slog.String("bucket", t.Bucket),
		slog.String("prefix", t.Prefix), slog.String("state", state), slog.Int64("objects", j.warmed.Load()),
		slog.Int64("bytes", j.bytes.Load()), slog.Int64("errors", j.errs.Load()))
}

// warmCounted warms rq's object in one of the warmer's slots and counts
// the outcome in j and in the metrics. It returns the bytes stored (0 if
// the object was cached already) and whether it was warmed; a failure is
// recorded in j.
func (p *Proxy) warmCounted(ctx context.Context, j *warmJob, rq *request) (int64, bool) {
	select {
	case p.warmer.slots <- struct{}{}:
	case <-ctx.Done():
		return 0, false
	}
	n, err := p.warmOne(ctx, rq)
	<-p.warmer.slots
	if err != nil {
		j.errs.Add(1)
		j.lastErr.Store(err.Error())
		return 0, false
	}
	j.warmed.Add(1)
	j.bytes.Add(n)
	p.metrics.warmObjects.Inc()
	p.metrics.warmBytes.Add(float64(n))
	return n, true
}

// errNotStorable says a warmed object's answer could not be cached.
var errNotStorable = errors.New("the backend's answer cannot be cached")

// warmOne fills the cache with the current version of rq's object through
// the read path a client's GET takes (serveRead), with a ResponseWriter
// that keeps nothing: it joins a fill in flight or leads one, and is
// fenced by writes, coalesced and stored exactly as a client's miss is. It
// returns the bytes stored, 0 if the object was cached already, or -1
// with an error if nothing could be stored.
func (p *Proxy) warmOne(ctx context.Context, rq *request) (int64, error) {
	r := (&http.Request{
		Method: http.MethodGet, URL: &url.URL{Path: "/" + rq.bucket + "/" + rq.key},
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{}, Body: http.NoBody,
	}).WithContext(ctx)
	w := &warmWriter{h: http.Header{}}
	p.serveRead(w, r, rq)
	if err := ctx.Err(); err != nil {
		return -1, err
	}
	xcache := w.h.Get("X-Cache")
	switch {
	case w.status != http.StatusOK:
		return -1, fmt.Errorf("%s/%s: %w (status %d, X-Cache %s)", rq.bucket, rq.key, errNotStorable, w.status, xcache)
	case xcache == xCacheHit:
		return 0, nil
	case !p.cache.Fresh(rq.bucket, rq.key, cache.Key(rq.bucket, rq.key, "")):
		return -1, fmt.Errorf("%s/%s: %w (X-Cache %s)", rq.bucket, rq.key, errNotStorable, xcache)
	}
	return w.n, nil
}

// warmWriter is the ResponseWriter of a warm-up read: it keeps the status
// and the header, and counts the body, which goes nowhere.
type warmWriter struct {
	h      http.Header
	status int   // the first status written; 0 before
	n      int64 // body bytes written
}

func (w *warmWriter) Header() http.Header { return w.h }

func (w *warmWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *warmWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.n += int64(len(b))
	return len(b), nil
}

// serveWarm starts the warm jobs a POST /-/admin/warm body asks for and
// answers 202 Accepted with their first state.
func (p *Proxy) serveWarm(w http.ResponseWriter, r *http.Request, data []byte) {
	targets, err := parseWarm(data)
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	p.log.LogAttrs(r.Context(), slog.LevelInfo, "admin warm", slog.Int("targets", len(targets)))
	p.writeJSON(w, http.StatusAccepted, p.startWarm(targets))
}

// parseWarm reads and checks a warm request body: a JSON list of targets.
// Its error is an S3 error to send: 400 InvalidRequest.
func parseWarm(data []byte) ([]WarmTarget, error) {
	var targets []WarmTarget
	if err := decodeJSON(data, &targets); err != nil {
		return nil, err
	}
	bad := func(format string, a ...any) error {
		return errBadAdminBody.WithMessage(fmt.Sprintf(format, a...))
	}
	switch {
	case len(targets) == 0:
		return nil, bad("Name at least one bucket and prefix to warm.")
	case len(targets) > maxWarmItems:
		return nil, bad("A warm request may name at most %d targets.", maxWarmItems)
	}
	for _, t := range targets {
		if !s3api.ValidBucketName(t.Bucket) {
			return nil, bad("Bucket %q is not a valid bucket name.", t.Bucket)
		}
		if t.MaxBytes < 0 {
			return nil, bad("max_bytes %d: must not be negative.", t.MaxBytes)
		}
	}
	return targets, nil
}
