package proxy

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/rueidis"

	"github.com/s3cache/s3cache/proxy/internal/zcodec"
)

// The shared second tier (CACHE_L2=redis).
//
// A replica's GET miss (the leader of its local flight) first asks Redis
// for the object's value ("<prefix>v:<bucket>/<key>[?<versionId>]"). A
// value carries the generation stamp its fill read (see genStamp) and is
// used only when the stamp equals the one this fill read: a write through
// any replica since has bumped a generation, so a stale value is never
// served. Without a usable value, the replica takes the object's fill lock
// ("<prefix>l:…", SET NX with a deadline of CACHE_L2_LOCK_TTL) and fetches
// from the backend, then stores the value and releases the lock. A replica
// that finds the lock taken waits for the value, polling, until it
// appears, the lock is released or lapses (its holder died), or the
// deadline passes; then it fetches for itself. Every failure of the tier
// is counted and skipped: the backend answers.

// l2Magic starts every value; the digit is the format's version.
const l2Magic = "s3c2"

// l2MaxHeaderFields bounds the header fields a value may claim.
const l2MaxHeaderFields = 256

// l2PollMin and l2PollMax bound the wait between two looks at a fill lock,
// should Redis not report its change first.
const (
	l2PollMin = 5 * time.Millisecond
	l2PollMax = 100 * time.Millisecond
)

// l2ReleaseScript deletes a lock only if it still holds our token.
var l2ReleaseScript = rueidis.NewLuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// sharedTier is the shared second tier in Redis. A nil *sharedTier is no
// tier: its methods do nothing.
type sharedTier struct {
	co       *coherence
	maxBytes int64
	lockTTL  time.Duration
	ttl      time.Duration // of values whose entry has no rule's TTL: CACHE_TTL
	compress bool
	// pollMin and pollMax bound the waits between looks at a fill lock:
	// l2PollMin and l2PollMax, but for tests.
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

func newSharedTier(cfg Config, co *coherence) *sharedTier {
	l := &sharedTier{
		co:       co,
		maxBytes: cfg.CacheL2MaxObjectBytes,
		lockTTL:  cfg.CacheL2LockTTL,
		ttl:      cfg.CacheTTL,
		compress: cfg.CacheL2Compress == "zstd",
		pollMin:  l2PollMin,
		pollMax:  l2PollMax,
	}
	hook := l.changed
	co.keyHook.Store(&hook)
	return l
}

func (l *sharedTier) valueKey(bucket, key, versionID string) string {
	k := l.co.prefix + "v:" + bucket + "/" + key
	if versionID != "" {
		k += "?" + versionID
	}
	return k
}

func (l *sharedTier) lockKey(bucket, key, versionID string) string {
	k := l.co.prefix + "l:" + bucket + "/" + key
	if versionID != "" {
		k += "?" + versionID
	}
	return k
}

// client returns the Redis client, or nil when Redis is not trusted now.
func (l *sharedTier) client() rueidis.Client {
	c := l.co.client.Load()
	if c == nil || !l.co.up.Load() {
		return nil
	}
	return *c
}

// obtain answers a leader's miss from the tier, or arranges its fill: it
// returns the object's header and body when a value with stamp is there
// (or appears while another replica holds the fill lock); else it returns
// nil, and lock is the token of the fill lock this replica now holds ("" if
// none), to pass to store or release.
func (l *sharedTier) obtain(ctx context.Context, stamp genStamp, bucket, key, versionID string) (h http.Header, body []byte, lock string) {
	if l == nil || !stamp.ok {
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
				l.release(ctx, bucket, key, versionID, token)
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
func (l *sharedTier) watch(ctx context.Context, c rueidis.Client, keys ...string) chan struct{} {
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
func (l *sharedTier) unwatch(ch chan struct{}, keys ...string) {
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
func (l *sharedTier) changed(key string) {
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
func (l *sharedTier) get(ctx context.Context, c rueidis.Client, vkey string, stamp genStamp) (http.Header, []byte, bool) {
	ctx, cancel := context.WithTimeout(ctx, l.co.timeout)
	defer cancel()
	raw, err := c.Do(ctx, c.B().Get().Key(vkey).Build()).AsBytes()
	if err != nil {
		if !rueidis.IsRedisNil(err) {
			l.errs.Add(1)
		}
		return nil, nil, false
	}
	got, h, body, err := decodeL2Value(raw, l.maxBytes)
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

// store writes an object the leader fetched, if it fits, with lifetime
// ttl (0: CACHE_TTL, as for entries), and releases the fill lock.
func (l *sharedTier) store(ctx context.Context, stamp genStamp, bucket, key, versionID string, h http.Header, body []byte, ttl time.Duration, lock string) {
	if l == nil {
		return
	}
	defer l.release(ctx, bucket, key, versionID, lock)
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
	v := encodeL2Value(stamp.gens, h, body, l.compress)
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

// release gives up a fill lock this replica holds ("" for none).
func (l *sharedTier) release(ctx context.Context, bucket, key, versionID, lock string) {
	if l == nil || lock == "" {
		return
	}
	c := l.co.client.Load()
	if c == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.co.timeout)
	defer cancel()
	if err := l2ReleaseScript.Exec(ctx, *c, []string{l.lockKey(bucket, key, versionID)}, []string{lock}).Error(); err != nil {
		l.errs.Add(1) // it lapses at its deadline
	}
}

// encodeL2Value lays out a value: magic, flags (1: body zstd), the stamp,
// the body's length, the header fields, then the body.
func encodeL2Value(gens [3]uint64, h http.Header, body []byte, compress bool) []byte {
	stored, encoded := body, false
	if compress {
		stored, encoded = zcodec.Encode(h, body)
		if !encoded {
			stored = body
		}
	}
	v := make([]byte, 0, len(stored)+256)
	v = append(v, l2Magic...)
	flags := byte(0)
	if encoded {
		flags = 1
	}
	v = append(v, flags)
	for _, g := range gens {
		v = binary.AppendUvarint(v, g)
	}
	v = binary.AppendUvarint(v, uint64(len(body)))
	v = binary.AppendUvarint(v, uint64(len(h)))
	for name, values := range h {
		v = appendL2String(v, name)
		v = binary.AppendUvarint(v, uint64(len(values)))
		for _, s := range values {
			v = appendL2String(v, s)
		}
	}
	return append(v, stored...)
}

func appendL2String(v []byte, s string) []byte {
	return append(binary.AppendUvarint(v, uint64(len(s))), s...)
}

// errBadL2Value is wrapped by every error of decodeL2Value.
var errBadL2Value = errors.New("shared tier value is malformed")

// decodeL2Value checks and decodes a value whose body may be at most
// maxBody bytes. Whatever raw holds, it allocates no more than that and
// the size of raw.
func decodeL2Value(raw []byte, maxBody int64) (gens [3]uint64, h http.Header, body []byte, err error) {
	bad := func(what string) error { return errors.Join(errBadL2Value, errors.New(what)) }
	if len(raw) < len(l2Magic)+1 || string(raw[:len(l2Magic)]) != l2Magic {
		return gens, nil, nil, bad("magic")
	}
	flags := raw[len(l2Magic)]
	rest := raw[len(l2Magic)+1:]
	uvarint := func() (uint64, bool) {
		n, k := binary.Uvarint(rest)
		if k <= 0 {
			return 0, false
		}
		rest = rest[k:]
		return n, true
	}
	str := func() (string, bool) {
		n, ok := uvarint()
		if !ok || n > uint64(len(rest)) {
			return "", false
		}
		s := string(rest[:n])
		rest = rest[n:]
		return s, true
	}
	for i := range gens {
		g, ok := uvarint()
		if !ok {
			return gens, nil, nil, bad("stamp")
		}
		gens[i] = g
	}
	size, ok := uvarint()
	if !ok || size > uint64(maxBody) {
		return gens, nil, nil, bad("length")
	}
	nfields, ok := uvarint()
	if !ok || nfields > l2MaxHeaderFields {
		return gens, nil, nil, bad("header count")
	}
	h = make(http.Header, nfields)
	for range nfields {
		name, ok := str()
		if !ok || name == "" {
			return gens, nil, nil, bad("header name")
		}
		nv, ok := uvarint()
		if !ok || nv > uint64(len(rest)) {
			return gens, nil, nil, bad("header values")
		}
		values := make([]string, 0, nv)
		for range nv {
			s, ok := str()
			if !ok {
				return gens, nil, nil, bad("header value")
			}
			values = append(values, s)
		}
		h[name] = values
	}
	switch flags {
	case 0:
		if uint64(len(rest)) != size {
			return gens, nil, nil, bad("body length")
		}
		return gens, h, rest, nil
	case 1:
		body, err := zcodec.Decode(rest, int(size))
		if err != nil {
			return gens, nil, nil, errors.Join(errBadL2Value, err)
		}
		return gens, h, body, nil
	}
	return gens, nil, nil, bad("flags " + strconv.Itoa(int(flags)))
}

// collectors are the shared tier's Prometheus metrics.
func (l *sharedTier) collectors() []prometheus.Collector {
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

// fromShared answers a leader's miss from the shared tier, if it can:
// the entry is stored in this replica's cache under the flight's ticket
// and published to the flight. It reports whether it did; when not, the
// flight may hold the fill lock (f.l2lock).
func (p *Proxy) fromShared(ctx context.Context, f *flight, rq *request, ckey, versionID string) bool {
	h, body, lock := p.l2.obtain(ctx, f.stamp, rq.bucket, rq.key, versionID)
	f.l2lock = lock
	if h == nil {
		return false
	}
	e := p.newEntry(h, body, entryTTL(rq))
	p.cache.Commit(f.ticket, ckey, e)
	f.entry, f.xcache = e, xCacheShared
	return true
}
