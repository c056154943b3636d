package identity

import (
	"math"
	"net"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Bounds of the rate limiters' memory.
const (
	// limiterIdle is how long a limiter may go unused before the sweep
	// drops it (at least until its bucket has refilled, when dropping it
	// changes nothing).
	limiterIdle = 5 * time.Minute
	// limiterSweepInterval is how often idle limiters are dropped.
	limiterSweepInterval = time.Minute
	// maxLimiters bounds how many limiters are kept at once: anonymous
	// requests get one per client IP, and those can be many.
	maxLimiters = 1 << 16
)

// limiterKey names whose token bucket a request draws from: a user's
// access key, or the client IP of an anonymous request.
type limiterKey struct {
	ip bool
	id string
}

type limiterEntry struct {
	lim  *rate.Limiter
	last time.Time // of the last request; guarded by RateLimiter.mu
}

// RateLimiter is one token bucket per principal (and per client IP for
// anonymous requests), created on first use and dropped when idle. It
// never queues: a request either takes a token at once or is refused, and
// the caller answers it with s3api.ErrSlowDown and a Retry-After of
// RetryAfter. Build it with NewRateLimiter, which starts its sweeper, and
// stop that with Close; the zero value is not usable. It is safe for
// concurrent use.
type RateLimiter struct {
	limit rate.Limit
	burst int
	idle  time.Duration // max(limiterIdle, time to refill a bucket)
	max   int           // limiters kept at most: maxLimiters

	mu sync.Mutex
	m  map[limiterKey]*limiterEntry

	stop chan struct{} // closed by close
	done chan struct{} // closed when the sweeper has returned
}

// NewRateLimiter returns limiters of perSecond requests per second with
// bursts of burst, and starts their sweeper (on the real clock, dropping
// by now's), which Close stops. perSecond and burst must be positive.
func NewRateLimiter(perSecond float64, burst int, now func() time.Time) *RateLimiter {
	refill := time.Duration(float64(burst) / perSecond * float64(time.Second))
	rl := &RateLimiter{
		limit: rate.Limit(perSecond),
		burst: burst,
		idle:  max(limiterIdle, refill),
		max:   maxLimiters,
		m:     make(map[limiterKey]*limiterEntry),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	go func() {
		defer close(rl.done)
		t := time.NewTicker(limiterSweepInterval)
		defer t.Stop()
		for {
			select {
			case <-rl.stop:
				return
			case <-t.C:
				rl.sweep(now())
			}
		}
	}()
	return rl
}

// Close stops the sweeper and waits for it. Allow must not be called
// after it.
func (rl *RateLimiter) Close() {
	close(rl.stop)
	<-rl.done
}

// keyOf returns the limiter key of a request made by pr from remoteAddr.
func keyOf(pr *Principal, remoteAddr string) limiterKey {
	if pr.name != "" {
		return limiterKey{id: pr.name}
	}
	return limiterKey{ip: true, id: ClientIP(remoteAddr)}
}

// ClientIP returns the host part of an http.Request's RemoteAddr.
// X-Forwarded-For and the like are not trusted.
func ClientIP(remoteAddr string) string {
	if h, _, err := net.SplitHostPort(remoteAddr); err == nil {
		return h
	}
	return remoteAddr
}

// Allow takes a token at now from the bucket of a request that pr (never
// nil) sent from remoteAddr: pr's own, or the client IP's for anonymous
// requests. When there is none it returns false and how long until there
// will be one.
func (rl *RateLimiter) Allow(pr *Principal, remoteAddr string, now time.Time) (bool, time.Duration) {
	return rl.allow(keyOf(pr, remoteAddr), now)
}

// allow takes a token from k's bucket at now. When there is none it
// returns false and how long until there will be one.
func (rl *RateLimiter) allow(k limiterKey, now time.Time) (bool, time.Duration) {
	rl.mu.Lock()
	e := rl.m[k]
	if e == nil {
		if len(rl.m) >= rl.max {
			rl.evictLocked(now)
		}
		e = &limiterEntry{lim: rate.NewLimiter(rl.limit, rl.burst)}
		rl.m[k] = e
	}
	e.last = now
	rl.mu.Unlock()
	if e.lim.AllowN(now, 1) {
		return true, 0
	}
	missing := 1 - e.lim.TokensAt(now)
	return false, time.Duration(missing / float64(rl.limit) * float64(time.Second))
}

// sweep drops the limiters unused for longer than rl.idle.
func (rl *RateLimiter) sweep(now time.Time) {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	for k, e := range rl.m {
		if now.Sub(e.last) > rl.idle {
			delete(rl.m, k)
		}
	}
}

// evictLocked makes room for more limiters when rl.max are kept: it drops
// those whose bucket has refilled (a fresh one is the same), and if that
// is not an eighth of them, arbitrary ones until it is, so that a flood of
// new client IPs costs one scan per rl.max/8 of them. rl.mu is held.
func (rl *RateLimiter) evictLocked(now time.Time) {
	refill := time.Duration(float64(rl.burst) / float64(rl.limit) * float64(time.Second))
	for k, e := range rl.m {
		if now.Sub(e.last) >= refill {
			delete(rl.m, k)
		}
	}
	target := rl.max - max(1, rl.max/8)
	for k := range rl.m {
		if len(rl.m) <= target {
			break
		}
		delete(rl.m, k)
	}
}

// len returns how many limiters are kept.
func (rl *RateLimiter) len() int {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	return len(rl.m)
}

// RetryAfter is the Retry-After value for a wait of d: whole seconds,
// rounded up, at least 1.
func RetryAfter(d time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}
