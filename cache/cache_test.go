package cache

import (
	"bytes"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

const (
	testMaxBytes = 1 << 20
	testTTL      = time.Minute
)

// testClock is an injectable clock; it only moves when told to.
type testClock struct{ ns atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.ns.Store(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	return c
}

func (c *testClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *testClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func newTestCache(tb testing.TB, clk *testClock) *Cache {
	tb.Helper()
	c, err := New(Config{MaxBytes: testMaxBytes, TTL: testTTL, Now: clk.Now})
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	tb.Cleanup(c.Close)
	return c
}

// fill runs a whole fill of (bucket, key, version) with body and reports
// whether Commit offered it.
func fill(c *Cache, bucket, key, version, body string) bool {
	t := c.Begin(bucket, key)
	return c.Commit(t, Key(bucket, key, version), &Entry{
		Header: map[string][]string{"Etag": {`"` + body + `"`}},
		Body:   []byte(body),
	})
}

// sameStripes reports whether two objects share a generation stripe, in which
// case invalidating one legitimately costs the other a miss.
func sameStripes(c *Cache, b1, k1, b2, k2 string) bool {
	ks1, bs1 := c.gens.stripes(b1, k1)
	ks2, bs2 := c.gens.stripes(b2, k2)
	return ks1 == ks2 || bs1 == bs2
}

func TestCommitGet(t *testing.T) {
	type object struct{ bucket, key, version string }
	photo := object{"photos", "cat.jpg", ""}
	photoV1 := object{"photos", "cat.jpg", "v1"}
	tests := []struct {
		name string
		// run acts on a fresh cache and returns what Commit reported for the
		// fill that matters.
		run        func(c *Cache, clk *testClock) bool
		get        object
		collide    []object // skip if get shares a stripe with any of these
		wantCommit bool
		wantBody   string // "" means a miss
	}{
		{
			name:       "commit then get",
			run:        func(c *Cache, _ *testClock) bool { return fill(c, "photos", "cat.jpg", "", "one") },
			get:        photo,
			wantCommit: true,
			wantBody:   "one",
		},
		{
			name: "live until just before TTL",
			run: func(c *Cache, clk *testClock) bool {
				ok := fill(c, "photos", "cat.jpg", "", "one")
				clk.Advance(testTTL - time.Nanosecond)
				return ok
			},
			get:        photo,
			wantCommit: true,
			wantBody:   "one",
		},
		{
			name: "expired at TTL",
			run: func(c *Cache, clk *testClock) bool {
				ok := fill(c, "photos", "cat.jpg", "", "one")
				clk.Advance(testTTL)
				return ok
			},
			get:        photo,
			wantCommit: true,
		},
		{
			name: "invalidate during fill refuses commit",
			run: func(c *Cache, _ *testClock) bool {
				tk := c.Begin("photos", "cat.jpg")
				c.Invalidate("photos", "cat.jpg")
				return c.Commit(tk, Key("photos", "cat.jpg", ""), &Entry{Body: []byte("stale")})
			},
			get: photo,
		},
		{
			name: "invalidate after commit misses",
			run: func(c *Cache, _ *testClock) bool {
				ok := fill(c, "photos", "cat.jpg", "", "stale")
				c.Invalidate("photos", "cat.jpg")
				return ok
			},
			get:        photo,
			wantCommit: true,
		},
		{
			name: "set applied after invalidate misses",
			run: func(c *Cache, _ *testClock) bool {
				// The ticket check passes, then the invalidation lands
				// before ristretto sees the Set.
				c.testHookBeforeSet = func() { c.Invalidate("photos", "cat.jpg") }
				return fill(c, "photos", "cat.jpg", "", "stale")
			},
			get:        photo,
			wantCommit: true,
		},
		{
			name: "refill after invalidate hits",
			run: func(c *Cache, _ *testClock) bool {
				fill(c, "photos", "cat.jpg", "", "old")
				c.Wait()
				c.Invalidate("photos", "cat.jpg")
				return fill(c, "photos", "cat.jpg", "", "new")
			},
			get:        photo,
			wantCommit: true,
			wantBody:   "new",
		},
		{
			name: "recommit replaces",
			run: func(c *Cache, _ *testClock) bool {
				fill(c, "photos", "cat.jpg", "", "old")
				c.Wait()
				return fill(c, "photos", "cat.jpg", "", "new")
			},
			get:        photo,
			wantCommit: true,
			wantBody:   "new",
		},
		{
			name: "invalidate other key keeps entry",
			run: func(c *Cache, _ *testClock) bool {
				ok := fill(c, "photos", "cat.jpg", "", "one")
				c.Invalidate("photos", "dog.jpg")
				return ok
			},
			get:        photo,
			collide:    []object{{"photos", "dog.jpg", ""}},
			wantCommit: true,
			wantBody:   "one",
		},
		{
			name: "invalidate same key in other bucket keeps entry",
			run: func(c *Cache, _ *testClock) bool {
				ok := fill(c, "photos", "cat.jpg", "", "one")
				c.Invalidate("videos", "cat.jpg")
				return ok
			},
			get:        photo,
			collide:    []object{{"videos", "cat.jpg", ""}},
			wantCommit: true,
			wantBody:   "one",
		},
		{
			name: "invalidate bucket misses",
			run: func(c *Cache, _ *testClock) bool {
				ok := fill(c, "photos", "cat.jpg", "", "stale")
				c.InvalidateBucket("photos")
				return ok
			},
			get:        photo,
			wantCommit: true,
		},
		{
			name: "invalidate bucket during fill refuses commit",
			run: func(c *Cache, _ *testClock) bool {
				tk := c.Begin("photos", "cat.jpg")
				c.InvalidateBucket("photos")
				return c.Commit(tk, Key("photos", "cat.jpg", ""), &Entry{Body: []byte("stale")})
			},
			get: photo,
		},
		{
			name: "invalidate other bucket keeps entry",
			run: func(c *Cache, _ *testClock) bool {
				ok := fill(c, "photos", "cat.jpg", "", "one")
				c.InvalidateBucket("videos")
				return ok
			},
			get:        photo,
			collide:    []object{{"videos", "", ""}},
			wantCommit: true,
			wantBody:   "one",
		},
		{
			name: "invalidate all misses",
			run: func(c *Cache, _ *testClock) bool {
				ok := fill(c, "photos", "cat.jpg", "", "stale")
				c.InvalidateAll()
				return ok
			},
			get:        photo,
			wantCommit: true,
		},
		{
			name:       "versioned commit then get",
			run:        func(c *Cache, _ *testClock) bool { return fill(c, "photos", "cat.jpg", "v1", "one") },
			get:        photoV1,
			wantCommit: true,
			wantBody:   "one",
		},
		{
			name:       "versioned entry is not the current version",
			run:        func(c *Cache, _ *testClock) bool { return fill(c, "photos", "cat.jpg", "v1", "one") },
			get:        photo,
			wantCommit: true,
		},
		{
			name:       "current entry is not a version",
			run:        func(c *Cache, _ *testClock) bool { return fill(c, "photos", "cat.jpg", "", "one") },
			get:        photoV1,
			wantCommit: true,
		},
		{
			name: "invalidate key misses its versions",
			run: func(c *Cache, _ *testClock) bool {
				ok := fill(c, "photos", "cat.jpg", "v1", "stale")
				c.Wait()
				c.Invalidate("photos", "cat.jpg")
				return ok
			},
			get:        photoV1,
			wantCommit: true,
		},
		{
			name: "zero ticket refused",
			run: func(c *Cache, _ *testClock) bool {
				return c.Commit(Ticket{}, Key("photos", "cat.jpg", ""), &Entry{Body: []byte("x")})
			},
			get: photo,
		},
		{
			name: "nil entry refused",
			run: func(c *Cache, _ *testClock) bool {
				return c.Commit(c.Begin("photos", "cat.jpg"), Key("photos", "cat.jpg", ""), nil)
			},
			get: photo,
		},
		{
			name: "ticket of another object never served",
			run: func(c *Cache, _ *testClock) bool {
				tk := c.Begin("videos", "dog.mp4")
				return c.Commit(tk, Key("photos", "cat.jpg", ""), &Entry{Body: []byte("wrong")})
			},
			get:        photo,
			collide:    []object{{"videos", "dog.mp4", ""}},
			wantCommit: true,
		},
		{
			name: "larger than MaxBytes refused",
			run: func(c *Cache, _ *testClock) bool {
				return fill(c, "photos", "cat.jpg", "", string(make([]byte, testMaxBytes)))
			},
			get: photo,
		},
		{
			name: "exactly MaxBytes accepted",
			run: func(c *Cache, _ *testClock) bool {
				tk := c.Begin("photos", "cat.jpg")
				body := bytes.Repeat([]byte("a"), testMaxBytes-EntryOverhead)
				return c.Commit(tk, Key("photos", "cat.jpg", ""), &Entry{Body: body})
			},
			get:        photo,
			wantCommit: true,
			wantBody:   string(bytes.Repeat([]byte("a"), testMaxBytes-EntryOverhead)),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newTestClock()
			c := newTestCache(t, clk)
			for _, o := range tt.collide {
				if sameStripes(c, tt.get.bucket, tt.get.key, o.bucket, o.key) {
					t.Skipf("%q/%q shares a stripe with %q/%q under this seed", tt.get.bucket, tt.get.key, o.bucket, o.key)
				}
			}
			if got := tt.run(c, clk); got != tt.wantCommit {
				t.Fatalf("Commit = %v, want %v", got, tt.wantCommit)
			}
			cacheKey := Key(tt.get.bucket, tt.get.key, tt.get.version)
			// Before Wait a committed entry may not be visible yet, but a
			// fenced one must never be.
			if e, ok := c.Get(tt.get.bucket, tt.get.key, cacheKey); ok && tt.wantBody == "" {
				t.Fatalf("Get before Wait = hit %q, want miss", e.Body)
			}
			c.Wait()
			e, ok := c.Get(tt.get.bucket, tt.get.key, cacheKey)
			switch {
			case tt.wantBody == "" && ok:
				t.Fatalf("Get after Wait = hit %q, want miss", e.Body)
			case tt.wantBody != "" && !ok:
				t.Fatalf("Get after Wait = miss, want hit %q", tt.wantBody)
			case ok && string(e.Body) != tt.wantBody:
				t.Fatalf("Get after Wait body = %q, want %q", e.Body, tt.wantBody)
			}
			if ok {
				now := clk.Now()
				if e.Stored.After(now) || !e.Expires.Equal(e.Stored.Add(testTTL)) {
					t.Errorf("Stored, Expires = %v, %v; want Stored <= %v and Expires = Stored + %v", e.Stored, e.Expires, now, testTTL)
				}
			}
		})
	}
}

func TestGetDeletesDeadEntry(t *testing.T) {
	tests := []struct {
		name string
		kill func(c *Cache, clk *testClock)
	}{
		{name: "expired", kill: func(_ *Cache, clk *testClock) { clk.Advance(testTTL) }},
		{name: "versioned and invalidated", kill: func(c *Cache, _ *testClock) { c.Invalidate("photos", "cat.jpg") }},
		{name: "bucket invalidated", kill: func(c *Cache, _ *testClock) { c.InvalidateBucket("photos") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newTestClock()
			c := newTestCache(t, clk)
			fill(c, "photos", "cat.jpg", "v1", "one")
			c.Wait()
			if got := c.Stats().Entries; got != 1 {
				t.Fatalf("Entries after fill = %d, want 1", got)
			}
			tt.kill(c, clk)
			if _, ok := c.Get("photos", "cat.jpg", Key("photos", "cat.jpg", "v1")); ok {
				t.Fatal("Get = hit, want miss")
			}
			c.Wait()
			if got := c.Stats(); got.Entries != 0 || got.Bytes != 0 {
				t.Errorf("Entries, Bytes after dead Get = %d, %d; want 0, 0", got.Entries, got.Bytes)
			}
		})
	}
}

func TestStats(t *testing.T) {
	clk := newTestClock()
	c := newTestCache(t, clk)
	if !fill(c, "photos", "cat.jpg", "", "one") {
		t.Fatal("Commit = false, want true")
	}
	fill(c, "photos", "dog.jpg", "v1", "two")
	fill(c, "photos", "big", "", string(make([]byte, testMaxBytes))) // refused
	c.Wait()
	c.Get("photos", "cat.jpg", Key("photos", "cat.jpg", "")) // hit
	c.Get("photos", "cat.jpg", Key("photos", "cat.jpg", "")) // hit
	c.Get("photos", "nope", Key("photos", "nope", ""))       // miss: absent
	c.Invalidate("photos", "dog.jpg")
	c.Get("photos", "dog.jpg", Key("photos", "dog.jpg", "v1")) // miss: fenced
	c.Wait()

	e := &Entry{Header: map[string][]string{"Etag": {`"one"`}}, Body: []byte("one")}
	want := Stats{
		Entries:  1,
		Bytes:    e.cost(),
		Hits:     2,
		Misses:   2,
		Rejected: 1,
	}
	if got := c.Stats(); got != want {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
}

func TestEntryCost(t *testing.T) {
	tests := []struct {
		name  string
		entry *Entry
		want  int64
	}{
		{name: "zero", entry: &Entry{}, want: EntryOverhead},
		{name: "body", entry: &Entry{Body: make([]byte, 1000)}, want: EntryOverhead + 1000},
		{
			name: "headers",
			entry: &Entry{Header: map[string][]string{
				"Etag":           {`"abc"`},                // 4 + 5
				"X-Amz-Meta-Two": {"a", "bc"},              // 14 + 3
				"Empty":          nil,                      // 5
				"Content-Type":   {"application/json", ""}, // 12 + 16
			}},
			want: EntryOverhead + 4*HeaderFieldOverhead + 4 + 5 + 14 + 3 + 5 + 12 + 16,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.entry.cost(); got != tt.want {
				t.Errorf("cost() = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestCostBound writes far more than fits and checks the held cost never
// exceeds the budget once each write has been applied.
func TestCostBound(t *testing.T) {
	tests := []struct {
		name    string
		commits int
		// object returns the key and body size of the i-th commit.
		object func(i int) (key string, size int)
	}{
		{
			name:    "distinct keys",
			commits: 200,
			object:  func(i int) (string, int) { return "obj-" + strconv.Itoa(i), 64 << 10 },
		},
		{
			// Replacing a held key with a bigger body must make room too.
			name:    "growing replacements",
			commits: 200,
			object:  func(i int) (string, int) { return "obj-" + strconv.Itoa(i%16), (i/16 + 1) * (16 << 10) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCache(t, newTestClock())
			for i := range tt.commits {
				key, size := tt.object(i)
				tk := c.Begin("b", key)
				c.Commit(tk, Key("b", key, ""), &Entry{Body: make([]byte, size)})
				c.Wait()
				if got := c.Stats().Bytes; got > testMaxBytes {
					t.Fatalf("after %d commits Bytes = %d, want <= %d", i+1, got, testMaxBytes)
				}
			}
			s := c.Stats()
			if s.Bytes <= 0 || s.Entries <= 0 {
				t.Errorf("Stats() = %+v, want something held", s)
			}
			if s.Evictions+s.Rejected == 0 {
				t.Errorf("Stats() = %+v, want evictions or rejections after overfilling", s)
			}
		})
	}
}

func TestCloseAndNil(t *testing.T) {
	closed, err := New(Config{MaxBytes: testMaxBytes, TTL: testTTL})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	fill(closed, "b", "k", "", "x")
	closed.Wait()
	closed.Close()
	closed.Close()
	tests := []struct {
		name string
		c    *Cache
	}{
		{name: "closed", c: closed},
		{name: "nil", c: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if fill(tt.c, "b", "k", "", "x") {
				t.Error("Commit = true, want false")
			}
			tt.c.Wait()
			if e, ok := tt.c.Get("b", "k", Key("b", "k", "")); ok {
				t.Errorf("Get = hit %q, want miss", e.Body)
			}
			tt.c.Invalidate("b", "k")
			tt.c.InvalidateBucket("b")
			tt.c.InvalidateAll()
			tt.c.Stats()
			tt.c.Close()
		})
	}
}

func TestGetHitAllocs(t *testing.T) {
	c := newTestCache(t, newTestClock())
	fill(c, "photos", "cat.jpg", "", "one")
	c.Wait()
	cacheKey := Key("photos", "cat.jpg", "")
	if _, ok := c.Get("photos", "cat.jpg", cacheKey); !ok {
		t.Fatal("Get = miss, want hit")
	}
	if got := testing.AllocsPerRun(100, func() { c.Get("photos", "cat.jpg", cacheKey) }); got != 0 {
		t.Errorf("Get hit allocs = %v, want 0", got)
	}
}

func TestCurrent(t *testing.T) {
	c := newTestCache(t, newTestClock())
	tk := c.Begin("b", "k")
	if !c.Current(tk) {
		t.Fatal("fresh ticket: Current = false, want true")
	}
	c.Invalidate("b", "k")
	if c.Current(tk) {
		t.Error("after Invalidate: Current = true, want false")
	}
	tk = c.Begin("b", "k")
	c.InvalidateBucket("b")
	if c.Current(tk) {
		t.Error("after InvalidateBucket: Current = true, want false")
	}
	var nilCache *Cache
	if nilCache.Current(tk) {
		t.Error("nil cache: Current = true, want false")
	}
}

// TestRetain: an expired entry is never a Get hit, but GetExpired returns it
// until Retain has passed, and never once its key was invalidated.
func TestRetain(t *testing.T) {
	clk := newTestClock()
	c, err := New(Config{MaxBytes: 1 << 20, TTL: time.Minute, Retain: time.Hour, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	commit := func(key string) {
		t.Helper()
		if !c.Commit(c.Begin("b", key), Key("b", key, ""), &Entry{Body: []byte(key)}) {
			t.Fatalf("Commit %s refused", key)
		}
	}
	commit("k")
	commit("other")
	if _, ok := c.GetExpired("b", "k", Key("b", "k", "")); ok {
		t.Error("fresh entry: GetExpired hit, want miss")
	}
	clk.Advance(2 * time.Minute)
	if _, ok := c.Get("b", "k", Key("b", "k", "")); ok {
		t.Error("expired entry: Get hit, want miss")
	}
	if e, ok := c.GetExpired("b", "k", Key("b", "k", "")); !ok || string(e.Body) != "k" {
		t.Errorf("expired, retained entry: GetExpired = %v, %v; want the entry", e, ok)
	}
	c.Invalidate("b", "k")
	if _, ok := c.GetExpired("b", "k", Key("b", "k", "")); ok {
		t.Error("invalidated entry: GetExpired hit, want miss")
	}
	clk.Advance(time.Hour)
	if _, ok := c.GetExpired("b", "other", Key("b", "other", "")); ok {
		t.Error("entry past Retain: GetExpired hit, want miss")
	}
}

// TestWriteFence: while a write is in flight nothing of what it touches is
// stored or current; fills that began during it stay refused after End.
func TestWriteFence(t *testing.T) {
	tests := []struct {
		name  string
		begin func(c *Cache) *Write
	}{
		{"key", func(c *Cache) *Write { return c.BeginWrite("b", "k") }},
		{"several keys", func(c *Cache) *Write { return c.BeginWrite("b", "x", "k", "y") }},
		{"bucket", func(c *Cache) *Write { return c.BeginBucketWrite("b") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCache(t, newTestClock())
			ck := Key("b", "k", "")
			if !c.Commit(c.Begin("b", "k"), ck, &Entry{Body: []byte("old")}) {
				t.Fatal("Commit before the write refused")
			}
			w := tt.begin(c)
			if _, ok := c.Get("b", "k", ck); ok {
				t.Error("entry from before the write: Get hit during the write")
			}
			during := c.Begin("b", "k")
			if c.Current(during) {
				t.Error("ticket taken during the write is current")
			}
			if c.Commit(during, ck, &Entry{Body: []byte("raced")}) {
				t.Error("Commit during the write accepted")
			}
			w.End()
			w.End() // idempotent
			if c.Current(during) || c.Commit(during, ck, &Entry{Body: []byte("raced")}) {
				t.Error("fill that began during the write accepted after End")
			}
			after := c.Begin("b", "k")
			if !c.Commit(after, ck, &Entry{Body: []byte("new")}) {
				t.Fatal("Commit after End refused")
			}
			if e, ok := c.Get("b", "k", ck); !ok || string(e.Body) != "new" {
				t.Errorf("after End: Get = %v, %v; want the new entry", e, ok)
			}
		})
	}
	var nilCache *Cache
	nilCache.BeginWrite("b", "k").End()
	nilCache.BeginBucketWrite("b").End()
}

// TestEntryTTL: an entry's own TTL replaces Config.TTL.
func TestEntryTTL(t *testing.T) {
	clk := newTestClock()
	c := newTestCache(t, clk)
	long, short := Key("b", "long", ""), Key("b", "short", "")
	c.Commit(c.Begin("b", "long"), long, &Entry{Body: []byte("l"), TTL: 10 * c.ttl})
	c.Commit(c.Begin("b", "short"), short, &Entry{Body: []byte("s")})
	clk.Advance(2 * c.ttl)
	if _, ok := c.Get("b", "long", long); !ok {
		t.Error("entry with 10×TTL: miss after 2×TTL, want hit")
	}
	if _, ok := c.Get("b", "short", short); ok {
		t.Error("entry with the default TTL: hit after 2×TTL, want miss")
	}
}

// TestCleanupReturnsMemory: expired entries that nobody asks for again are
// swept by the cleanup ticker, so the bytes they held come back. Ristretto's
// sweep runs on the wall clock, so this polls (bounded) for the held bytes
// to reach zero.
func TestCleanupReturnsMemory(t *testing.T) {
	c, err := New(Config{MaxBytes: 1 << 20, TTL: 50 * time.Millisecond, CleanupInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	for i := range 10 {
		k := fmt.Sprint("k", i)
		if !c.Commit(c.Begin("b", k), Key("b", k, ""), &Entry{Body: make([]byte, 10<<10)}) {
			t.Fatalf("Commit %s refused", k)
		}
	}
	if held := c.Stats().Bytes; held < 10*10<<10 {
		t.Fatalf("held %d bytes after 10 commits of 10 KiB, want at least %d", held, 10*10<<10)
	}
	deadline := time.Now().Add(15 * time.Second)
	for c.Stats().Bytes != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("held %d bytes 15s after the entries expired, want 0", c.Stats().Bytes)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestFresh: Fresh says whether Get would serve an entry, and asking
// counts no access (the store's admission policy weighs accesses).
func TestFresh(t *testing.T) {
	clk := newTestClock()
	c := newTestCache(t, clk)
	k := Key("b", "k", "")
	if c.Fresh("b", "k", k) {
		t.Fatal("fresh before any fill")
	}
	if !fill(c, "b", "k", "", "v1") {
		t.Fatal("fill refused")
	}
	before := c.store.Metrics.Hits() + c.store.Metrics.Misses()
	if !c.Fresh("b", "k", k) {
		t.Fatal("not fresh after a fill")
	}
	if got := c.store.Metrics.Hits() + c.store.Metrics.Misses(); got != before {
		t.Errorf("Fresh counted %d accesses", got-before)
	}
	c.Distrust()
	if c.Fresh("b", "k", k) {
		t.Error("fresh after Distrust, which Get would not serve")
	}
	fill(c, "b", "k", "", "v2")
	clk.Advance(testTTL)
	if c.Fresh("b", "k", k) {
		t.Error("fresh after its TTL")
	}
	fill(c, "b", "k", "", "v3")
	c.Invalidate("b", "k")
	if c.Fresh("b", "k", k) {
		t.Error("fresh after Invalidate")
	}
}
