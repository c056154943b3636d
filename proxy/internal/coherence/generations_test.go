package coherence

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/s3cache/s3cache/cache"
	"github.com/s3cache/s3cache/proxy/internal/coherence/coherencetest"
)

// newReplica connects a cache of its own to redis and waits until it
// trusts Redis.
func newReplica(t *testing.T, redis *coherencetest.Redis) (*Redis, *cache.Cache) {
	t.Helper()
	c, err := cache.New(cache.Config{MaxBytes: 1 << 20, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	r, err := New(Options{
		URL:     redis.URL(),
		Prefix:  "test:",
		Timeout: 100 * time.Millisecond,
		Logger:  slog.New(slog.DiscardHandler),
	}, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	deadline := time.Now().Add(10 * time.Second)
	for r.State() != "ok" {
		if time.Now().After(deadline) {
			t.Fatalf("Redis state %q, never ok", r.State())
		}
		time.Sleep(10 * time.Millisecond) // polling the health loop's first look at an outside process
	}
	return r, c
}

func TestWritesReachOtherReplicas(t *testing.T) {
	redis := coherencetest.StartRedis(t)
	a, ca := newReplica(t, redis)
	b, cb := newReplica(t, redis)
	ctx := context.Background()

	// A fill through B with no write in flight is confirmed, and B is now
	// told of every change of the object.
	fill, stamp := b.Confirm(ctx, cb.Begin("bkt", "k"), "bkt", "k")
	if !cb.Current(fill) || !stamp.ok {
		t.Fatalf("fill with no write in flight: current %v, stamp ok %v; want both", cb.Current(fill), stamp.ok)
	}

	// While a write through A is in flight, a fill through B is refused.
	// ("new" has never been read through B, so Confirm asks Redis.)
	w := a.BeginWrite(ctx, "bkt", []string{"k", "new"})
	if got, stamp := b.Confirm(ctx, cb.Begin("bkt", "new"), "bkt", "new"); got != (cache.Ticket{}) || stamp.ok {
		t.Errorf("fill during a write: ticket %+v, stamp ok %v; want the zero ticket and stamp", got, stamp.ok)
	}

	// Once the write ended, B's fill from before is not current after B
	// settled.
	w.End(ctx)
	w.End(ctx) // later calls do nothing
	if !b.Settle() {
		t.Fatal("B did not settle")
	}
	if cb.Current(fill) {
		t.Error("B's fill from before A's write is still current")
	}
	if got, stamp := b.Confirm(ctx, cb.Begin("bkt", "new"), "bkt", "new"); !cb.Current(got) || !stamp.ok {
		t.Errorf("fill after the write ended: current %v, stamp ok %v; want both", cb.Current(got), stamp.ok)
	}

	// A purge of a prefix through B drops the whole bucket in A.
	other, _ := a.Confirm(ctx, ca.Begin("bkt", "o/x"), "bkt", "o/x")
	b.Purge(ctx, Purge{Prefixes: []Object{{Bucket: "bkt", Key: "o/"}}})
	if !a.Settle() {
		t.Fatal("A did not settle")
	}
	if ca.Current(other) {
		t.Error("A's fill in the bucket is current after B's purge of a prefix in it")
	}
}

// The no-ops keep a fill's local ticket and touch nothing.
func TestStandalone(t *testing.T) {
	c, err := cache.New(cache.Config{MaxBytes: 1 << 20, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	var s Standalone
	local := c.Begin("bkt", "k")
	if got, stamp := s.Confirm(ctx, local, "bkt", "k"); got != local || stamp != (Stamp{}) {
		t.Errorf("Confirm: %+v %+v, want the local ticket and the zero stamp", got, stamp)
	}
	if !s.Settle() || s.State() != "" {
		t.Errorf("Settle %v State %q, want true and \"\"", s.Settle(), s.State())
	}
	w := s.BeginWrite(ctx, "bkt", []string{"k"})
	w.End(ctx)
	bw := s.BeginBucketWrite(ctx, "bkt")
	bw.End(ctx)
	s.Purge(ctx, Purge{All: true})
	s.Close()
	if !c.Current(local) {
		t.Error("the local ticket is no longer current")
	}

	var n NoSharedTier
	if h, body, lock := n.Obtain(ctx, Stamp{ok: true}, "bkt", "k", ""); h != nil || body != nil || lock != "" {
		t.Errorf("Obtain: %v %q %q, want nothing", h, body, lock)
	}
	n.Store(ctx, Stamp{ok: true}, "bkt", "k", "", nil, nil, 0, "")
	n.Release(ctx, "bkt", "k", "", "lock")
}
