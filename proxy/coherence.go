package proxy

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/s3cache/s3cache/cache"
	"github.com/s3cache/s3cache/proxy/internal/coherence"
)

// The proxy as one replica of a coherent cache (Config.RedisURL) and its
// shared tier (Config.CacheL2): what it needs of package coherence, which
// holds both. Without Redis the proxy holds coherence.Standalone and
// coherence.NoSharedTier, whose methods do nothing.

// generations keeps this replica's cache coherent with the others': the
// read path settles and confirms against it, the write fence and the
// admin purge tell it what changed.
type generations interface {
	// Settle reports whether every invalidation received so far was
	// applied; if not, the read must not be answered from the cache.
	Settle() bool
	// Confirm checks a fill's local ticket against the other replicas
	// (see beginFill).
	Confirm(ctx context.Context, t cache.Ticket, bucket, key string) (cache.Ticket, coherence.Stamp)
	// BeginWrite and BeginBucketWrite fence a write in every replica
	// until its End (see fence).
	BeginWrite(ctx context.Context, bucket string, keys []string) coherence.Write
	BeginBucketWrite(ctx context.Context, bucket string) coherence.Write
	// Purge drops in every replica what an admin purge dropped here.
	Purge(ctx context.Context, pr coherence.Purge)
	// State is Redis's for /-/readyz: "ok", "unreachable", or "" without
	// Redis.
	State() string
	Close()
}

// sharedTier is the shared second tier, which a fill's leader asks before
// the backend (fromShared) and gives what it fetched (pump).
type sharedTier interface {
	Obtain(ctx context.Context, stamp coherence.Stamp, bucket, key, versionID string) (h http.Header, body []byte, lock string)
	Store(ctx context.Context, stamp coherence.Stamp, bucket, key, versionID string, h http.Header, body []byte, ttl time.Duration, lock string)
	Release(ctx context.Context, bucket, key, versionID, lock string)
}

var (
	_ generations = (*coherence.Redis)(nil)
	_ generations = coherence.Standalone{}
	_ sharedTier  = (*coherence.SharedTier)(nil)
	_ sharedTier  = coherence.NoSharedTier{}
)

// startCoherence sets p.gens and p.l2 from cfg: with Config.RedisURL, a
// connection to Redis (and with Config.CacheL2 the shared tier in it),
// whose metrics join p's; else the no-ops.
func (p *Proxy) startCoherence(cfg Config) error {
	p.gens, p.l2 = coherence.Standalone{}, coherence.NoSharedTier{}
	if cfg.RedisURL == "" {
		return nil
	}
	r, err := coherence.New(coherence.Options{
		URL:     cfg.RedisURL,
		Prefix:  cfg.RedisPrefix,
		Timeout: cfg.RedisTimeout,
		RootCAs: cfg.RedisRootCAs,
		Logger:  cfg.Logger,
		Now:     cfg.Now,
	}, p.cache)
	if err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	p.gens = r
	p.metrics.add(r.Collectors()...)
	if cfg.CacheL2 == "redis" {
		t := coherence.NewSharedTier(r, coherence.TierOptions{
			MaxObjectBytes: cfg.CacheL2MaxObjectBytes,
			LockTTL:        cfg.CacheL2LockTTL,
			TTL:            cfg.CacheTTL,
			Compress:       cfg.CacheL2Compress == "zstd",
			PollMin:        cfg.sharedTierPoll,
			PollMax:        cfg.sharedTierPoll,
		})
		p.l2 = t
		p.metrics.add(t.Collectors()...)
	}
	return nil
}

// fromShared answers a leader's miss from the shared tier, if it can:
// the entry is stored in this replica's cache under the flight's ticket
// and published to the flight. It reports whether it did; when not, the
// flight may hold the fill lock (f.l2lock).
func (p *Proxy) fromShared(ctx context.Context, f *flight, rq *request, ckey, versionID string) bool {
	h, body, lock := p.l2.Obtain(ctx, f.stamp, rq.bucket, rq.key, versionID)
	f.l2lock = lock
	if h == nil {
		return false
	}
	e := p.newEntry(h, body, entryTTL(rq))
	p.cache.Commit(f.ticket, ckey, e)
	f.entry, f.xcache = e, xCacheShared
	return true
}
