package coherence

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/rueidis"
)

// Defaults of TierOptions' zero fields.
const (
	DefaultMaxObjectBytes = 1 << 20
	DefaultLockTTL        = 10 * time.Second
	DefaultValueTTL       = 5 * time.Minute
	DefaultPollMin        = 5 * time.Millisecond
	DefaultPollMax        = 100 * time.Millisecond
)

// TierOptions are the settings of the shared tier.
type TierOptions struct {
	// MaxObjectBytes is the largest body stored (CACHE_L2_MAX_OBJECT_BYTES).
	// Zero means DefaultMaxObjectBytes.
	MaxObjectBytes int64
	// LockTTL bounds how long replicas wait for another replica's fill of
	// the same object, should it die holding the fill lock
	// (CACHE_L2_LOCK_TTL). Zero means DefaultLockTTL.
	LockTTL time.Duration
	// TTL is the lifetime of values stored with none of their own
	// (CACHE_TTL). Zero means DefaultValueTTL.
	TTL time.Duration
	// Compress stores compressible bodies zstd-compressed (zcodec).
	// False stores them as they are.
	Compress bool
	// PollMin and PollMax bound the wait between two looks at a fill lock
	// another replica holds, should Redis not report its change first.
	// Zero means DefaultPollMin and DefaultPollMax.
	PollMin, PollMax time.Duration
}

// releaseScript deletes a lock only if it still holds our token.
var releaseScript = rueidis.NewLuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// SharedTier is the shared second tier in Redis, over the connection of a
// Redis. Build it with NewSharedTier; its methods are safe for concurrent
// use.
type SharedTier struct {
	co       *Redis
	maxBytes int64
	lockTTL  time.Duration
	ttl      time.Duration // of values stored with no TTL of their own
	compress bool
	// pollMin and pollMax bound the waits between looks at a fill lock.
	pollMin, pollMax time.Duration

	mu       sync.Mutex
	watchers map[string][]chan struct{} // waiters for a value or lock key to change

	hits, misses, stale, errs  atomic.Uint64
	stores, storedBytes, saved atomic.Uint64
	waitServed, waitFetched    atomic.Uint64
	lockTaken                  atomic.Uint64
	wokenByRedis, wokenByPoll  atomic.Uint64
	waiting                    atomic.Int64 // misses waiting now
}

// NewSharedTier returns the shared tier kept in co's Redis. Build at most
// one per Redis: it is told of the changes of its keys through co.
func NewSharedTier(co *Redis, opts TierOptions) *SharedTier {
	l := &SharedTier{
		co:       co,
		maxBytes: cmp.Or(opts.MaxObjectBytes, DefaultMaxObjectBytes),
		lockTTL:  cmp.Or(opts.LockTTL, DefaultLockTTL),
		ttl:      cmp.Or(opts.TTL, DefaultValueTTL),
		compress: opts.Compress,
		pollMin:  cmp.Or(opts.PollMin, DefaultPollMin),
		pollMax:  cmp.Or(opts.PollMax, DefaultPollMax),
	}
	hook := l.changed
	co.keyHook.Store(&hook)
	return l
}

func (l *SharedTier) valueKey(bucket, key, versionID string) string {
	k := l.co.prefix + "v:" + bucket + "/" + key
	if versionID != "" {
		k += "?" + versionID
	}
	return k
}

func (l *SharedTier) lockKey(bucket, key, versionID string) string {
	k := l.co.prefix + "l:" + bucket + "/" + key
	if versionID != "" {
		k += "?" + versionID
	}
	return k
}

// client returns the Redis client, or nil when Redis is not trusted now.
func (l *SharedTier) client() rueidis.Client {
	c := l.co.client.Load()
	if c == nil || !l.co.up.Load() {
		return nil
	}
	return *c
}

// Obtain answers a leader's miss from the tier, or arranges its fill: it
// returns the object's header and body when a value with stamp is there
// (or appears while another replica holds the fill lock); else it returns
// nil, and lock is the token of the fill lock this replica now holds ("" if
// none), to pass to Store or Release. The body is shared: it must not be
// modified.
func (l *SharedTier) Obtain(ctx context.Context, stamp Stamp, bucket, key, versionID string) (h http.Header, body []byte, lock string) {
	if !stamp.ok {
		return nil, nil, ""
	}
	c := l.client()
	if c == nil {
		return nil, nil, ""
	}
	vkey, lkey := l.valueKey(bucket, key, versionID), l.lockKey(bucket, key, versionID)
	if h, body, ok := l.get(ctx, c, vkey, stamp); ok {
		l.hits.Add(1)
		return h, body, ""
	}
	l.misses.Add(1)
	var tok [12]byte
	rand.Read(tok[:])
	token := hex.EncodeToString(tok[:])
	deadline := time.Now().Add(l.lockTTL)
	wait := l.pollMin
	for first := true; ; first = false {
		cctx, cancel := context.WithTimeout(ctx, l.co.timeout)
		err := c.Do(cctx, c.B().Set().Key(lkey).Value(token).Nx().Px(l.lockTTL).Build()).Error()
		cancel()
		switch {
		case err == nil:
			// Another replica may have stored the value and released the
			// lock between the look above and taking it.
			if h, body, ok := l.get(ctx, c, vkey, stamp); ok {
				l.Release(ctx, bucket, key, versionID, token)
				l.waitServed.Add(1)
				return h, body, ""
			}
			if first {
				l.lockTaken.Add(1)
			} else {
				// The holder released the lock without a value (the
				// object was not storable) or died: this replica fetches.
				l.waitFetched.Add(1)
			}
			return nil, nil, token
		case !rueidis.IsRedisNil(err):
			l.errs.Add(1)
			return nil, nil, ""
		}
		if time.Now().Add(wait).After(deadline) {
			l.waitFetched.Add(1)
			return nil, nil, ""
		}
		// Wake when Redis reports the value stored or the lock gone, or
		// after wait at the latest (a lock that lapses is reported only
		// when Redis expires it).
		changed := l.watch(ctx, c, vkey, lkey)
		if h, body, ok := l.get(ctx, c, vkey, stamp); ok {
			l.unwatch(changed, vkey, lkey)
			l.waitServed.Add(1)
			return h, body, ""
		}
		t := time.NewTimer(wait)
		l.waiting.Add(1)
		select {
		case <-ctx.Done():
		case <-changed:
			l.wokenByRedis.Add(1)
		case <-t.C:
			l.wokenByPoll.Add(1)
		}
		l.waiting.Add(-1)
		t.Stop()
		l.unwatch(changed, vkey, lkey)
		if ctx.Err() != nil {
			return nil, nil, ""
		}
		wait = min(2*wait, l.pollMax)
		if h, body, ok := l.get(ctx, c, vkey, stamp); ok {
			l.waitServed.Add(1)
			return h, body, ""
		}
	}
}

// watch returns a channel closed when Redis reports a change of any of
// keys (or a broken connection), registering this replica for their
// invalidations with a cached STRLEN of each.
func (l *SharedTier) watch(ctx context.Context, c rueidis.Client, keys ...string) chan struct{} {
	ch := make(chan struct{})
	l.mu.Lock()
	if l.watchers == nil {
		l.watchers = map[string][]chan struct{}{}
	}
	for _, k := range keys {
		l.watchers[k] = append(l.watchers[k], ch)
	}
	l.mu.Unlock()
	cmds := make([]rueidis.CacheableTTL, len(keys))
	for i, k := range keys {
		cmds[i] = rueidis.CT(c.B().Strlen().Key(k).Cache(), l.lockTTL)
	}
	ctx, cancel := context.WithTimeout(ctx, l.co.timeout)
	defer cancel()
	c.DoMultiCache(ctx, cmds...)
	return ch
}

// unwatch forgets a watch that is no longer waited on.
func (l *SharedTier) unwatch(ch chan struct{}, keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		chs := slices.DeleteFunc(l.watchers[k], func(c chan struct{}) bool { return c == ch })
		if len(chs) == 0 {
			delete(l.watchers, k)
		} else {
			l.watchers[k] = chs
		}
	}
}

// changed wakes the watchers of key; "" wakes every watcher. It runs on
// rueidis's reading goroutine.
func (l *SharedTier) changed(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var woken []chan struct{}
	if key == "" {
		for k, chs := range l.watchers {
			woken = append(woken, chs...)
			delete(l.watchers, k)
		}
	} else {
		woken = l.watchers[key]
		delete(l.watchers, key)
	}
	for _, ch := range woken {
		select {
		case <-ch: // closed through another of its keys
		default:
			close(ch)
		}
	}
}

// get reads and decodes the value under vkey, usable only with stamp.
func (l *SharedTier) get(ctx context.Context, c rueidis.Client, vkey string, stamp Stamp) (http.Header, []byte, bool) {
	ctx, cancel := context.WithTimeout(ctx, l.co.timeout)
	defer cancel()
	raw, err := c.Do(ctx, c.B().Get().Key(vkey).Build()).AsBytes()
	if err != nil {
		if !rueidis.IsRedisNil(err) {
			l.errs.Add(1)
		}
		return nil, nil, false
	}
	got, h, body, err := decodeValue(raw, l.maxBytes)
	if err != nil {
		l.errs.Add(1)
		l.co.log.Warn("shared tier: undecodable value ignored", slog.Any("cause", err))
		return nil, nil, false
	}
	if got != stamp.gens {
		l.stale.Add(1)
		return nil, nil, false
	}
	return h, body, true
}

// Store writes an object the leader fetched, if it fits, with lifetime
// ttl (0: TierOptions.TTL), and releases the fill lock, if any.
func (l *SharedTier) Store(ctx context.Context, stamp Stamp, bucket, key, versionID string, h http.Header, body []byte, ttl time.Duration, lock string) {
	defer l.Release(ctx, bucket, key, versionID, lock)
	if !stamp.ok || int64(len(body)) > l.maxBytes {
		return
	}
	c := l.client()
	if c == nil {
		return
	}
	if ttl == 0 {
		ttl = l.ttl
	}
	v := encodeValue(stamp.gens, h, body, l.compress)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.co.timeout)
	defer cancel()
	if err := c.Do(ctx, c.B().Set().Key(l.valueKey(bucket, key, versionID)).Value(rueidis.BinaryString(v)).Px(ttl).Build()).Error(); err != nil {
		l.errs.Add(1)
		return
	}
	l.stores.Add(1)
	l.storedBytes.Add(uint64(len(v)))
	if len(v) < len(body) {
		l.saved.Add(uint64(len(body) - len(v)))
	}
}

// Release gives up a fill lock this replica holds ("" for none).
func (l *SharedTier) Release(ctx context.Context, bucket, key, versionID, lock string) {
	if lock == "" {
		return
	}
	c := l.co.client.Load()
	if c == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.co.timeout)
	defer cancel()
	if err := releaseScript.Exec(ctx, *c, []string{l.lockKey(bucket, key, versionID)}, []string{lock}).Error(); err != nil {
		l.errs.Add(1) // it lapses at its deadline
	}
}

// Collectors are the shared tier's Prometheus metrics, to register once.
func (l *SharedTier) Collectors() []prometheus.Collector {
	counter := func(name, help string, v *atomic.Uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v.Load()) })
	}
	lookups := prometheus.NewDesc("s3cache_l2_lookups_total",
		"Shared tier lookups by local misses, by result: hit, miss, stale (a write since the value was stored), error.", []string{"result"}, nil)
	wakeups := prometheus.NewDesc("s3cache_l2_lock_wakeups_total",
		"Times a miss waiting for another replica's fill looked again, by cause: redis (Redis reported the value stored or the lock gone), poll (its timer).", []string{"cause"}, nil)
	waits := prometheus.NewDesc("s3cache_l2_lock_waits_total",
		"Misses that found another replica's fill lock, by outcome: served (its value arrived), fetched (lock released, lapsed or waited out: fetched from the backend).", []string{"outcome"}, nil)
	return []prometheus.Collector{
		collectorFunc{descs: []*prometheus.Desc{lookups, waits, wakeups}, collect: func(ch chan<- prometheus.Metric) {
			ch <- prometheus.MustNewConstMetric(wakeups, prometheus.CounterValue, float64(l.wokenByRedis.Load()), "redis")
			ch <- prometheus.MustNewConstMetric(wakeups, prometheus.CounterValue, float64(l.wokenByPoll.Load()), "poll")
			for _, r := range []struct {
				result string
				v      *atomic.Uint64
			}{{"hit", &l.hits}, {"miss", &l.misses}, {"stale", &l.stale}, {"error", &l.errs}} {
				ch <- prometheus.MustNewConstMetric(lookups, prometheus.CounterValue, float64(r.v.Load()), r.result)
			}
			ch <- prometheus.MustNewConstMetric(waits, prometheus.CounterValue, float64(l.waitServed.Load()), "served")
			ch <- prometheus.MustNewConstMetric(waits, prometheus.CounterValue, float64(l.waitFetched.Load()), "fetched")
		}},
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "s3cache_l2_lock_waiting",
			Help: "Misses waiting now for another replica's fill of the same object.",
		}, func() float64 { return float64(l.waiting.Load()) }),
		counter("s3cache_l2_fill_locks_total", "Fill locks this replica took to fetch an object for every replica.", &l.lockTaken),
		counter("s3cache_l2_stores_total", "Objects this replica stored in the shared tier.", &l.stores),
		counter("s3cache_l2_stored_bytes_total", "Bytes of the values this replica stored in the shared tier, after compression.", &l.storedBytes),
		counter("s3cache_l2_compression_saved_bytes_total", "Bytes compression saved on the values this replica stored in the shared tier.", &l.saved),
	}
}

// collectorFunc is a prometheus.Collector of fixed descriptions whose
// values are read at scrape time.
type collectorFunc struct {
	descs   []*prometheus.Desc
	collect func(chan<- prometheus.Metric)
}

func (c collectorFunc) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c collectorFunc) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }
