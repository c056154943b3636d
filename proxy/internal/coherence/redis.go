package coherence

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/rueidis"

	"github.com/s3cache/s3cache/cache"
)

// DefaultTimeout is Options.Timeout when it is zero.
const DefaultTimeout = time.Second

// Options are what New needs to keep a cache coherent through Redis.
type Options struct {
	// URL is one redis:// or rediss:// URL, or a comma-separated list of
	// cluster nodes as URLs or host:port (REDIS_URL). It is required.
	URL string
	// Prefix starts every key kept in Redis, so several deployments can
	// share one Redis. "" means keys without a prefix.
	Prefix string
	// Timeout bounds each Redis call and is the period of the health
	// check. Zero means DefaultTimeout.
	Timeout time.Duration
	// RootCAs are the certificate authorities trusted for a rediss://
	// Redis's certificate. Nil means the system's roots.
	RootCAs *x509.CertPool
	// Logger receives the warnings of Redis becoming unreachable and
	// answering again. Nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// ReplicaID makes this replica's write ids unique among the replicas
	// sharing Redis. "" means 8 random bytes.
	ReplicaID string
}

// Redis keeps one replica's cache coherent with the others' through Redis:
// it holds the client, applies the invalidations Redis pushes to the
// cache, and checks Redis's health. Build it with New and stop it with
// Close; its methods are safe for concurrent use.
type Redis struct {
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

	conns redisConns // open connections, for Settle
	// keyHook, if set, is told of every other key of ours that changed
	// ("" when any may have): the shared tier's values and locks.
	keyHook atomic.Pointer[func(string)]

	stop chan struct{}
	done chan struct{}
}

// parseURL turns Options.URL (one URL, or a comma-separated list of
// cluster nodes as URLs or host:port) into client options.
func parseURL(s string) (rueidis.ClientOption, error) {
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

// New starts the connection to Redis and its health loop, which applies
// Redis's invalidations to c. An unreachable Redis is not an error: the
// replica starts distrusting c and keeps trying. Only a malformed
// Options.URL is.
func New(opts Options, c *cache.Cache) (*Redis, error) {
	opt, err := parseURL(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("coherence: %w", err)
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ReplicaID == "" {
		var id [8]byte
		rand.Read(id[:])
		opts.ReplicaID = hex.EncodeToString(id[:])
	}
	co := &Redis{
		prefix:  opts.Prefix,
		timeout: opts.Timeout,
		cache:   c,
		log:     opts.Logger,
		now:     opts.Now,
		idPre:   opts.ReplicaID + ":",
		pending: map[string]struct{}{},
		inWrite: map[string]int{},
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	if opt.TLSConfig != nil {
		opt.TLSConfig.MinVersion = tls.VersionTLS12
		if opts.RootCAs != nil {
			opt.TLSConfig.RootCAs = opts.RootCAs
		}
	}
	opt.OnInvalidations = co.onInvalidations
	opt.DialCtxFn = co.conns.dial
	opt.Dialer.Timeout = opts.Timeout
	opt.ConnWriteTimeout = 3 * opts.Timeout
	opt.CacheSizeEachConn = 16 << 20
	opt.DisableRetry = true
	co.opt = opt
	go co.run()
	return co, nil
}

// Close stops the health loop and the client. Call it once, after the
// last use.
func (co *Redis) Close() {
	close(co.stop)
	<-co.done
	if c := co.client.Load(); c != nil {
		(*c).Close()
	}
}

// run connects, then checks Redis every timeout until Close.
func (co *Redis) run() {
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
func (co *Redis) recoverGrace() time.Duration { return 2 * co.timeout }

// check pings Redis and moves between trusting and distrusting it.
func (co *Redis) check() {
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
func (co *Redis) ping(ctx context.Context) error {
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
func (co *Redis) distrust() {
	co.distrusted.Add(1)
	co.cache.Distrust()
}

// onInvalidations receives Redis's pushes: the generation keys that
// changed, or nil when the connection broke or Redis flushed, in which
// case invalidations may have been lost. It runs on rueidis's reading
// goroutine and must be quick.
func (co *Redis) onInvalidations(msgs []rueidis.RedisMessage) {
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

// State is what /-/readyz and the metrics say of Redis: "ok" while it
// answers and is trusted, else "unreachable".
func (co *Redis) State() string {
	if co.up.Load() {
		return "ok"
	}
	return "unreachable"
}

// Collectors are the Prometheus metrics of the coherence through Redis,
// to register once.
func (co *Redis) Collectors() []prometheus.Collector {
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
