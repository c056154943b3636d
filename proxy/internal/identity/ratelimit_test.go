package identity

import (
	"fmt"
	"testing"
	"time"
)

// TestRateLimiters drives the token buckets with a fixed clock: a burst,
// then refusals with the wait until the next token, then the refill; one
// principal's bucket never drains another's; idle buckets are dropped.
func TestRateLimiters(t *testing.T) {
	rl := NewRateLimiter(2, 3, time.Now) // 2/s, bursts of 3
	defer rl.Close()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	alice, bob := limiterKey{id: "alice"}, limiterKey{id: "bob"}
	ipA := limiterKey{ip: true, id: "192.0.2.1"}
	steps := []struct {
		name     string
		k        limiterKey
		at       time.Duration // after t0
		want     bool
		wantWait time.Duration // when refused
	}{
		{"alice 1", alice, 0, true, 0},
		{"alice 2", alice, 0, true, 0},
		{"alice 3", alice, 0, true, 0},
		{"alice over the burst", alice, 0, false, 500 * time.Millisecond},
		{"alice still over", alice, 100 * time.Millisecond, false, 400 * time.Millisecond},
		{"bob has his own bucket", bob, 100 * time.Millisecond, true, 0},
		{"an IP named like alice is another bucket", limiterKey{ip: true, id: "alice"}, 100 * time.Millisecond, true, 0},
		{"alice refilled one token", alice, 500 * time.Millisecond, true, 0},
		{"alice empty again", alice, 500 * time.Millisecond, false, 500 * time.Millisecond},
		{"anonymous IP burst 1", ipA, time.Second, true, 0},
		{"anonymous IP burst 2", ipA, time.Second, true, 0},
		{"anonymous IP burst 3", ipA, time.Second, true, 0},
		{"anonymous IP over", ipA, time.Second, false, 500 * time.Millisecond},
		{"alice after 10s: a full burst", alice, 10 * time.Second, true, 0},
		{"alice 2 after 10s", alice, 10 * time.Second, true, 0},
		{"alice 3 after 10s", alice, 10 * time.Second, true, 0},
		{"alice over after 10s: the bucket holds no more than the burst", alice, 10 * time.Second, false, 500 * time.Millisecond},
	}
	for _, s := range steps {
		ok, wait := rl.allow(s.k, t0.Add(s.at))
		if ok != s.want || (!ok && (wait < s.wantWait-time.Millisecond || wait > s.wantWait+time.Millisecond)) {
			t.Errorf("%s: allow = %v, wait %v; want %v, wait %v", s.name, ok, wait, s.want, s.wantWait)
		}
	}
	if n := rl.len(); n != 4 {
		t.Errorf("%d limiters kept, want 4", n)
	}
	rl.sweep(t0.Add(10*time.Second + limiterIdle - time.Second))
	if n := rl.len(); n != 1 {
		t.Errorf("after a sweep, %d limiters kept, want 1 (alice, the only one recently used)", n)
	}
	rl.sweep(t0.Add(10*time.Second + limiterIdle + time.Second))
	if n := rl.len(); n != 0 {
		t.Errorf("after a later sweep, %d limiters kept, want 0", n)
	}
}

// TestRateLimitersBounded: many anonymous IPs never keep more than the
// bound of buckets.
func TestRateLimitersBounded(t *testing.T) {
	rl := NewRateLimiter(1, 1, time.Now)
	defer rl.Close()
	rl.max = 80
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range 1000 {
		// Every bucket is still draining: eviction must drop arbitrary ones.
		rl.allow(limiterKey{ip: true, id: fmt.Sprint(i)}, t0)
		if n := rl.len(); n > rl.max {
			t.Fatalf("after %d IPs, %d limiters kept, want at most %d", i+1, n, rl.max)
		}
	}
	// Once refilled, they are all dropped to make room.
	for i := range rl.max {
		rl.allow(limiterKey{id: fmt.Sprint("late", i)}, t0.Add(2*time.Second))
	}
	if ok, _ := rl.allow(limiterKey{id: "late0"}, t0.Add(2*time.Second)); ok {
		t.Error("late0's bucket was evicted while it was draining and the others were full")
	}
}

func TestRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{{0, "1"}, {time.Millisecond, "1"}, {time.Second, "1"}, {1001 * time.Millisecond, "2"}, {10 * time.Second, "10"}} {
		if got := RetryAfter(tc.d); got != tc.want {
			t.Errorf("RetryAfter(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}
