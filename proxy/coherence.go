package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/rueidis"

	"github.com/s3cache/s3cache/cache"
)

// Coherence across replicas.
//
// Every object, bucket and the whole cache have a generation hash in Redis
// ("<prefix>o:<bucket>/<key>", "<prefix>b:<bucket>", "<prefix>all"). A write
// through any replica runs writeBeginScript on what it touches before it is
// forwarded, and writeEndScript after the backend answered: each bumps the
// hash's "g" field, and the begin adds a field "w:<id>" (removed by the end)
// whose value is the write's fence deadline, so fills anywhere can tell a
// write is in flight.
//
// A fill reads the hashes of its object, bucket and the whole cache with
// Redis's server-assisted client-side caching (RESP3 CLIENT TRACKING, as
// rueidis implements it) after taking its local ticket: the read is answered
// from rueidis's local copy when it has one, and registers this replica's
// interest in the keys with Redis. From then on Redis pushes an invalidation
// for any change of them to this replica, and onInvalidations bumps the
// local generations, which makes the fill and its entry unservable. A hit
// therefore costs no Redis round trip: it checks local generations and the
// trust epoch, as without Redis.
//
// Whenever invalidations may have been lost (the connection broke, a health
// check failed, Redis flushed its keys) the cache is distrusted: entries
// committed before are revalidated with the backend before they are served
// again, and fills while Redis is unreachable are kept unconfirmed, so they
// too are revalidated. A write that cannot reach Redis still goes to the
// backend; its bumps are replayed when Redis answers again, and a replica
// trusts Redis again only after it answered for recoverGrace, by which time
// every live replica has replayed its own.

// writeFenceTTL bounds how long a write's "in flight" mark makes other
// replicas refuse to store fills of what it touches, should its replica
// die before the write ends.
const writeFenceTTL = 10 * time.Minute

// trackTTL is how long rueidis keeps a generation hash it read; Redis's
// invalidations remove it sooner when it changes.
const trackTTL = time.Hour

// maxPendingBumps bounds the invalidations kept for replay while Redis is
// unreachable; beyond it, one invalidation of everything is replayed.
const maxPendingBumps = 10000

// writeBeginScript bumps a generation hash and, with a write id, marks the
// write in flight until ARGV[2] ms from now (Redis's clock). Marks of
// writes whose deadline passed (their replica died) are dropped.
var writeBeginScript = rueidis.NewLuaScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local h = redis.call('HGETALL', KEYS[1])
for i = 1, #h, 2 do
  if string.sub(h[i], 1, 2) == 'w:' and tonumber(h[i + 1]) < now then
    redis.call('HDEL', KEYS[1], h[i])
  end
end
redis.call('HINCRBY', KEYS[1], 'g', 1)
if ARGV[1] ~= '' then
  redis.call('HSET', KEYS[1], 'w:' .. ARGV[1], now + tonumber(ARGV[2]))
end
return now
`)

// writeEndScript bumps a generation hash and removes the marks of the
// write ids in ARGV (empty ones are skipped).
var writeEndScript = rueidis.NewLuaScript(`
redis.call('HINCRBY', KEYS[1], 'g', 1)
for i = 1, #ARGV do
  if ARGV[i] ~= '' then
    redis.call('HDEL', KEYS[1], 'w:' .. ARGV[i])
  end
end
return 1
`)

// coherence keeps this replica's cache coherent with the others' through
// Redis. Build it with newCoherence; a nil *coherence is a proxy without
// Redis, whose methods do nothing.
type coherence struct {
	opt     rueidis.ClientOption
	prefix  string
	timeout time.Duration
	cache   *cache.Cache
	log     *slog.Logger
	now     func() time.Time
	idPre   string // makes write ids unique across replicas

	client atomic.Pointer[rueidis.Client] // nil until the first connection
	// up is whether Redis answered recently enough to trust; fills confirm
	// against it only while it is set.
	up          atomic.Bool
	answering   time.Time // when Redis began answering again; zero while up or down; health loop only
	everUp      bool      // Redis answered once; health loop only
	warnedStart bool      // the first failure to connect was logged; health loop only
	writeSeq    atomic.Uint64
	pushes      atomic.Uint64 // invalidation keys received
	errs        atomic.Uint64 // failed Redis calls
	distrusted  atomic.Uint64 // times the cache was distrusted

	mu      sync.Mutex
	pending map[string]struct{} // generation keys to bump when Redis answers
	// inWrite counts this replica's writes in flight by generation key. A
	// Redis that restarted lost their marks, so they are marked again
	// (under the id remarkID) before the replica trusts Redis again.
	inWrite map[string]int

	conns redisConns // open connections, for settle
	// keyHook, if set, is told of every other key of ours that changed
	// ("" when any may have): the shared tier's values and locks.
	keyHook atomic.Pointer[func(string)]

	stop chan struct{}
	done chan struct{}
}

// parseRedisURL turns REDIS_URL (one URL, or a comma-separated list of
// cluster nodes as URLs or host:port) into client options.
func parseRedisURL(s string) (rueidis.ClientOption, error) {
	var opt rueidis.ClientOption
	var addrs []string
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if !strings.Contains(part, "://") {
			addrs = append(addrs, part)
			continue
		}
		o, err := rueidis.ParseURL(part)
		if err != nil {
			// Never the URL itself in the message: it may hold a password.
			var uerr *url.Error
			if errors.As(err, &uerr) {
				err = uerr.Err
			}
			return opt, fmt.Errorf("redis URL %d: %w", i+1, err)
		}
		if len(opt.InitAddress) == 0 {
			opt = o
		}
		addrs = append(addrs, o.InitAddress...)
	}
	if len(addrs) == 0 {
		return opt, errors.New("redis URL: no address")
	}
	opt.InitAddress = addrs
	return opt, nil
}

// newCoherence starts the connection to Redis and its health loop. An
// unreachable Redis is not an error: the replica starts distrusting and
// keeps trying.
func newCoherence(cfg Config, c *cache.Cache, idPrefix string) (*coherence, error) {
	opt, err := parseRedisURL(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	co := &coherence{
		prefix:  cfg.RedisPrefix,
		timeout: cfg.RedisTimeout,
		cache:   c,
		log:     cfg.Logger,
		now:     cfg.Now,
		idPre:   idPrefix,
		pending: map[string]struct{}{},
		inWrite: map[string]int{},
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	if opt.TLSConfig != nil {
		opt.TLSConfig.MinVersion = tls.VersionTLS12
		if cfg.RedisRootCAs != nil {
			opt.TLSConfig.RootCAs = cfg.RedisRootCAs
		}
	}
	opt.OnInvalidations = co.onInvalidations
	opt.DialCtxFn = co.conns.dial
	opt.Dialer.Timeout = cfg.RedisTimeout
	opt.ConnWriteTimeout = 3 * cfg.RedisTimeout
	opt.CacheSizeEachConn = 16 << 20
	opt.DisableRetry = true
	co.opt = opt
	go co.run()
	return co, nil
}

// close stops the health loop and the client.
func (co *coherence) close() {
	if co == nil {
		return
	}
	close(co.stop)
	<-co.done
	if c := co.client.Load(); c != nil {
		(*c).Close()
	}
}

// run connects, then checks Redis every timeout until close.
func (co *coherence) run() {
	defer close(co.done)
	t := time.NewTicker(co.timeout)
	defer t.Stop()
	for {
		co.check()
		select {
		case <-co.stop:
			return
		case <-t.C:
		}
	}
}

// recoverGrace is how long Redis must answer before a replica trusts it
// again: every replica's health loop (one check per timeout) has then
// replayed its invalidations and re-marked its writes in flight.
func (co *coherence) recoverGrace() time.Duration { return 2 * co.timeout }

// check pings Redis and moves between trusting and distrusting it.
func (co *coherence) check() {
	ctx, cancel := context.WithTimeout(context.Background(), co.timeout)
	defer cancel()
	err := co.ping(ctx)
	if err == nil {
		err = co.replay(ctx, !co.up.Load())
	}
	if err != nil {
		co.errs.Add(1)
		co.answering = time.Time{}
		switch {
		case co.up.Swap(false):
			co.distrust()
			co.log.Warn("redis unreachable; cache entries are revalidated with the backend until it answers", slog.Any("cause", err))
		case !co.everUp && !co.warnedStart:
			co.warnedStart = true
			co.log.Warn("redis unreachable at start; reads are revalidated with the backend until it answers", slog.Any("cause", err))
		}
		return
	}
	if co.up.Load() {
		return
	}
	now := co.now()
	if co.answering.IsZero() {
		co.answering = now
	}
	// The first time, there is nothing to recover from.
	if first := !co.everUp; first || now.Sub(co.answering) >= co.recoverGrace() {
		co.everUp = true
		co.answering = time.Time{}
		// Fills begun while distrusting are unconfirmed; the epoch moves
		// once more so nothing taken before this point is trusted.
		co.distrust()
		co.up.Store(true)
		if first {
			co.log.Info("connected to redis; writes through any replica invalidate this one")
		} else {
			co.log.Info("redis answering again; replicas are coherent again")
		}
	}
}

// ping connects if needed and pings Redis.
func (co *coherence) ping(ctx context.Context) error {
	c := co.client.Load()
	if c == nil {
		cl, err := rueidis.NewClient(co.opt)
		if err != nil {
			return err
		}
		c = &cl
		co.client.Store(c)
	}
	return (*c).Do(ctx, (*c).B().Ping().Build()).Error()
}

// distrust makes every entry and fill so far unservable until revalidated.
func (co *coherence) distrust() {
	co.distrusted.Add(1)
	co.cache.Distrust()
}

// onInvalidations receives Redis's pushes: the generation keys that
// changed, or nil when the connection broke or Redis flushed, in which
// case invalidations may have been lost. It runs on rueidis's reading
// goroutine and must be quick.
func (co *coherence) onInvalidations(msgs []rueidis.RedisMessage) {
	hook := co.keyHook.Load()
	if msgs == nil {
		co.distrust()
		if hook != nil {
			(*hook)("")
		}
		return
	}
	for i := range msgs {
		k, err := msgs[i].ToString()
		if err != nil {
			continue
		}
		co.pushes.Add(1)
		rest, ok := strings.CutPrefix(k, co.prefix)
		if !ok {
			continue
		}
		switch {
		case rest == "all":
			co.cache.InvalidateAll()
		case strings.HasPrefix(rest, "b:"):
			co.cache.InvalidateBucket(rest[2:])
		case strings.HasPrefix(rest, "o:"):
			if bucket, key, ok := strings.Cut(rest[2:], "/"); ok {
				co.cache.Invalidate(bucket, key)
			}
		case hook != nil:
			(*hook)(k)
		}
	}
}

// settle returns true once every invalidation Redis pushed before the call
// has been applied (see redisConn), or false if that could not be made
// sure of within the Redis timeout: then the read must not be answered
// from the cache. Call it before a read looks at the cache.
func (co *coherence) settle() bool {
	if co == nil {
		return true
	}
	return co.conns.settle(time.Now().Add(co.timeout))
}

// Generation keys.
func (co *coherence) objectKey(bucket, key string) string {
	return co.prefix + "o:" + bucket + "/" + key
}
func (co *coherence) bucketKey(bucket string) string { return co.prefix + "b:" + bucket }
func (co *coherence) allKey() string                 { return co.prefix + "all" }

// confirm checks a fill of (bucket, key), whose local ticket t was taken
// just before, against Redis, and registers this replica for
// invalidations of it. It returns t when no write to the object is in
// flight anywhere; the zero ticket (never stored, never joined) when one
// is; t unconfirmed when Redis cannot tell.
//
// The stamp is the generations read, valid (ok) only when t is returned
// confirmed: the shared tier's values carry it.
func (co *coherence) confirm(ctx context.Context, t cache.Ticket, bucket, key string) (cache.Ticket, genStamp) {
	if co == nil {
		return t, genStamp{}
	}
	c := co.client.Load()
	if !co.up.Load() || c == nil {
		return t.Unconfirmed(), genStamp{}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), co.timeout)
	defer cancel()
	cl := *c
	res := cl.DoMultiCache(ctx,
		rueidis.CT(cl.B().Hgetall().Key(co.objectKey(bucket, key)).Cache(), trackTTL),
		rueidis.CT(cl.B().Hgetall().Key(co.bucketKey(bucket)).Cache(), trackTTL),
		rueidis.CT(cl.B().Hgetall().Key(co.allKey()).Cache(), trackTTL),
	)
	nowMS := co.now().UnixMilli()
	var stamp genStamp
	for i, r := range res {
		m, err := r.AsStrMap()
		if err != nil {
			co.errs.Add(1)
			return t.Unconfirmed(), genStamp{}
		}
		for f, v := range m {
			if f == "g" {
				stamp.gens[i], _ = strconv.ParseUint(v, 10, 64)
				continue
			}
			if !strings.HasPrefix(f, "w:") {
				continue
			}
			if deadline, err := strconv.ParseInt(v, 10, 64); err != nil || deadline >= nowMS {
				return cache.Ticket{}, genStamp{}
			}
		}
	}
	stamp.ok = true
	return t, stamp
}

// genStamp is the generations of an object, its bucket and the whole
// cache as a fill read them in Redis. Values of the shared tier carry the
// stamp of their fill, and are used only by fills that read the same one.
type genStamp struct {
	gens [3]uint64 // object, bucket, all
	ok   bool      // read from Redis with no write in flight
}

// remoteWrite is a write in flight as the other replicas see it. A nil
// *remoteWrite touches nothing.
type remoteWrite struct {
	co    *coherence
	id    string
	keys  []string // generation keys
	ended bool
}

// beginWrite marks a write to keys of bucket (or to the whole bucket) in
// flight for every replica, before it is forwarded. When Redis cannot be
// reached the write goes on; it is re-marked and its bumps replayed when
// Redis answers.
func (co *coherence) beginWrite(ctx context.Context, bucket string, keys []string, wholeBucket bool) *remoteWrite {
	if co == nil {
		return nil
	}
	w := &remoteWrite{co: co, id: co.idPre + strconv.FormatUint(co.writeSeq.Add(1), 16)}
	if wholeBucket {
		w.keys = []string{co.bucketKey(bucket)}
	} else {
		w.keys = make([]string, len(keys))
		for i, k := range keys {
			w.keys[i] = co.objectKey(bucket, k)
		}
	}
	co.mu.Lock()
	for _, k := range w.keys {
		co.inWrite[k]++
	}
	co.mu.Unlock()
	if !co.up.Load() {
		// Not tried while Redis is distrusted, so a Redis that hangs does
		// not slow every write by its timeout; the write is marked again
		// when Redis is back (inWrite) and its end replayed.
		return w
	}
	fence := strconv.FormatInt(writeFenceTTL.Milliseconds(), 10)
	if err := co.exec(ctx, writeBeginScript, w.keys, w.id, fence); err != nil {
		co.log.LogAttrs(ctx, slog.LevelWarn, "redis unreachable; write forwarded, other replicas revalidate until it answers", slog.Any("cause", err))
	}
	return w
}

// remarkID is the write id under which a replica marks again its writes in
// flight after Redis came back.
func (co *coherence) remarkID() string { return co.idPre + "remark" }

// end bumps the generations again once the backend answered, so fills
// that began during the write are refused everywhere. Later calls do
// nothing.
func (w *remoteWrite) end(ctx context.Context) {
	if w == nil || w.ended {
		return
	}
	w.ended = true
	co := w.co
	// The last of this replica's writes of a key also removes the mark
	// made again after a Redis restart, if any.
	last := true
	co.mu.Lock()
	for _, k := range w.keys {
		if co.inWrite[k]--; co.inWrite[k] <= 0 {
			delete(co.inWrite, k)
		} else {
			last = false
		}
	}
	co.mu.Unlock()
	remark := ""
	if last {
		remark = co.remarkID()
	}
	co.bumpMarked(ctx, w.keys, w.id, remark)
}

// bump invalidates generation keys everywhere (purges). When Redis cannot
// be reached, the bumps are replayed when it answers.
func (co *coherence) bump(ctx context.Context, keys ...string) {
	if co == nil || len(keys) == 0 {
		return
	}
	co.bumpMarked(ctx, keys)
}

// bumpMarked bumps keys, removes the marks of the write ids given, and
// returns once every replica was sent the invalidations (delivered). When
// Redis is distrusted or fails, the keys are kept to be bumped when it
// answers again.
func (co *coherence) bumpMarked(ctx context.Context, keys []string, ids ...string) {
	if !co.up.Load() {
		co.addPending(keys...)
		return
	}
	if err := co.exec(ctx, writeEndScript, keys, ids...); err != nil {
		co.addPending(keys...)
		return
	}
	co.delivered(ctx, keys)
}

// purgeKeys returns the generation keys a purge bumps for the other
// replicas: a prefix purge invalidates the whole bucket there, as
// generations are kept per object and per bucket only.
func (co *coherence) purgeKeys(pr *purgeRequest) []string {
	if co == nil {
		return nil
	}
	if pr.All {
		return []string{co.allKey()}
	}
	var keys []string
	for _, b := range pr.Buckets {
		keys = append(keys, co.bucketKey(b))
	}
	for _, k := range pr.Prefixes {
		keys = append(keys, co.bucketKey(k.Bucket))
	}
	for _, k := range pr.Keys {
		keys = append(keys, co.objectKey(k.Bucket, k.Key))
	}
	return keys
}

// exec runs script once per key, bounded by the Redis timeout.
func (co *coherence) exec(ctx context.Context, script *rueidis.Lua, keys []string, args ...string) error {
	c := co.client.Load()
	if c == nil {
		co.errs.Add(1)
		return errors.New("redis: not connected")
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), co.timeout)
	defer cancel()
	multi := make([]rueidis.LuaExec, len(keys))
	for i, k := range keys {
		multi[i] = rueidis.LuaExec{Keys: []string{k}, Args: args}
	}
	for _, r := range script.ExecMulti(ctx, *c, multi...) {
		if err := r.Error(); err != nil {
			co.errs.Add(1)
			return err
		}
	}
	return nil
}

// delivered returns once Redis has written the invalidations of keys,
// caused by a command this replica already got the answer to, to every
// replica's socket. Redis queues pushes and replies while it runs a
// command and writes them all before it reads the next commands, so the
// answer to a later command on the same node (PTTL, by key so a cluster
// routes it there) comes after every push of the earlier one was written.
// With settle on the readers, a write acknowledged after delivered is seen
// by every read that reaches any replica afterwards.
func (co *coherence) delivered(ctx context.Context, keys []string) error {
	c := co.client.Load()
	if c == nil {
		return errors.New("redis: not connected")
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), co.timeout)
	defer cancel()
	cl := *c
	cmds := make(rueidis.Commands, len(keys))
	for i, k := range keys {
		cmds[i] = cl.B().Pttl().Key(k).Build()
	}
	for _, r := range cl.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			co.errs.Add(1)
			return err
		}
	}
	return nil
}

// addPending records generation keys to bump when Redis answers.
func (co *coherence) addPending(keys ...string) {
	co.mu.Lock()
	defer co.mu.Unlock()
	for _, k := range keys {
		if len(co.pending) >= maxPendingBumps {
			clear(co.pending)
			co.pending[co.allKey()] = struct{}{}
			return
		}
		co.pending[k] = struct{}{}
	}
}

// replay sends the bumps of writes that could not reach Redis and, with
// remark, marks this replica's writes in flight again.
func (co *coherence) replay(ctx context.Context, remark bool) error {
	co.mu.Lock()
	// Pending keys with no write of this replica in flight any more also
	// drop the mark made again for them, if any (done, below); the others
	// keep it until their last write ends.
	var done, busy []string
	for k := range co.pending {
		if co.inWrite[k] > 0 {
			busy = append(busy, k)
		} else {
			done = append(done, k)
		}
	}
	inWrite := make([]string, 0, len(co.inWrite))
	for k := range co.inWrite {
		inWrite = append(inWrite, k)
	}
	co.mu.Unlock()
	if remark && len(inWrite) > 0 {
		// One mark per key for all of this replica's writes of it; the
		// last of them to end removes it.
		fence := strconv.FormatInt(writeFenceTTL.Milliseconds(), 10)
		if err := co.exec(ctx, writeBeginScript, inWrite, co.remarkID(), fence); err != nil {
			return err
		}
	}
	for _, batch := range []struct {
		keys []string
		id   string
	}{{done, co.remarkID()}, {busy, ""}} {
		if len(batch.keys) == 0 {
			continue
		}
		if err := co.exec(ctx, writeEndScript, batch.keys, "", batch.id); err != nil {
			return err
		}
		co.mu.Lock()
		for _, k := range batch.keys {
			delete(co.pending, k)
		}
		co.mu.Unlock()
	}
	return nil
}

// state is what /-/readyz and the metrics say of Redis.
func (co *coherence) state() string {
	switch {
	case co == nil:
		return ""
	case co.up.Load():
		return "ok"
	default:
		return "unreachable"
	}
}

// collectors are the Prometheus metrics of the coherence through Redis.
func (co *coherence) collectors() []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "s3cache_redis_up",
			Help: "1 while Redis answers and this replica trusts its cache; 0 while entries are revalidated with the backend because invalidations from other replicas could be missed.",
		}, func() float64 {
			if co.up.Load() {
				return 1
			}
			return 0
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "s3cache_redis_invalidations_total",
			Help: "Invalidations Redis pushed to this replica (keys changed by writes through any replica).",
		}, func() float64 { return float64(co.pushes.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "s3cache_redis_errors_total",
			Help: "Redis calls that failed or timed out.",
		}, func() float64 { return float64(co.errs.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "s3cache_cache_distrusts_total",
			Help: "Times every cache entry was marked for revalidation because invalidations could have been lost (Redis unreachable, connection broken, flushed).",
		}, func() float64 { return float64(co.distrusted.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "s3cache_redis_pending_invalidations",
			Help: "Invalidations of writes through this replica waiting for Redis to answer.",
		}, func() float64 {
			co.mu.Lock()
			defer co.mu.Unlock()
			return float64(len(co.pending))
		}),
	}
}
