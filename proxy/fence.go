package proxy

import (
	"context"

	"github.com/s3cache/s3cache/cache"
)

// fence is a write in flight through this proxy: fenced in its own cache
// (cache.Write) and, with Redis, in every replica's (remoteWrite). A nil
// *fence is a write that touches nothing.
type fence struct {
	ctx    context.Context
	local  *cache.Write
	remote *remoteWrite
}

// beginWrite fences keys of bucket, or the whole bucket, before a write is
// forwarded to the backend. Call End when the backend answered or failed,
// before the client sees the answer.
func (p *Proxy) beginWrite(ctx context.Context, bucket string, keys []string, wholeBucket bool) *fence {
	f := &fence{ctx: context.WithoutCancel(ctx)}
	if wholeBucket {
		f.local = p.cache.BeginBucketWrite(bucket)
	} else {
		f.local = p.cache.BeginWrite(bucket, keys...)
	}
	f.remote = p.coherence.beginWrite(ctx, bucket, keys, wholeBucket)
	return f
}

// End ends the write everywhere. Later calls do nothing.
func (f *fence) End() {
	if f == nil {
		return
	}
	f.local.End()
	f.remote.end(f.ctx)
}

// beginFill takes the ticket a fill of (bucket, key) is stored under:
// the local generations, then, with Redis, the replicas' (which also makes
// Redis tell this replica of every later write to it). Take it before the
// backend is asked.
func (p *Proxy) beginFill(ctx context.Context, bucket, key string) (cache.Ticket, genStamp) {
	return p.coherence.confirm(ctx, p.cache.Begin(bucket, key), bucket, key)
}
