package proxy

import (
	"context"
	"sync"
	"time"

	"github.com/s3cache/s3cache/cache"
	"github.com/s3cache/s3cache/proxy/internal/coherence"
)

// fence is a write in flight through this proxy: fenced in its own cache
// (cache.Write) and, with Redis, in every replica's (coherence.Write). A
// nil *fence is a write that touches nothing.
type fence struct {
	ctx    context.Context
	local  *cache.Write
	remote coherence.Write
}

// beginWrite fences keys of bucket, or the whole bucket, before a write is
// forwarded to the backend. Call End when the backend answered or failed,
// before the client sees the answer.
func (p *Proxy) beginWrite(ctx context.Context, bucket string, keys []string, wholeBucket bool) *fence {
	f := &fence{ctx: context.WithoutCancel(ctx)}
	if wholeBucket {
		f.local = p.cache.BeginBucketWrite(bucket)
		f.remote = p.gens.BeginBucketWrite(ctx, bucket)
	} else {
		f.local = p.cache.BeginWrite(bucket, keys...)
		f.remote = p.gens.BeginWrite(ctx, bucket, keys)
	}
	return f
}

// End ends the write everywhere. Later calls do nothing.
func (f *fence) End() {
	if f == nil {
		return
	}
	f.local.End()
	f.remote.End(f.ctx)
}

// quarantines are the fences of writes whose outcome is unknown, each
// ended by a timer. The zero value holds none; it is safe for concurrent
// use.
type quarantines struct {
	mu     sync.Mutex
	timers map[*time.Timer]struct{}
	closed bool
}

// hold keeps f for d, then ends it. f itself ends nothing from now on, so
// the caller's deferred End leaves the fence in place.
func (q *quarantines) hold(f *fence, d time.Duration) {
	if f == nil {
		return
	}
	g := *f
	f.local, f.remote = nil, coherence.Write{}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	if q.timers == nil {
		q.timers = map[*time.Timer]struct{}{}
	}
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		q.mu.Lock()
		delete(q.timers, t)
		q.mu.Unlock()
		g.End()
	})
	q.timers[t] = struct{}{}
}

// close stops every timer: the proxy is going away with its cache.
func (q *quarantines) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	for t := range q.timers {
		t.Stop()
	}
	q.timers = nil
}

// beginFill takes the ticket a fill of (bucket, key) is stored under:
// the local generations, then, with Redis, the replicas' (which also makes
// Redis tell this replica of every later write to it). Take it before the
// backend is asked.
func (p *Proxy) beginFill(ctx context.Context, bucket, key string) (cache.Ticket, coherence.Stamp) {
	return p.gens.Confirm(ctx, p.cache.Begin(bucket, key), bucket, key)
}
