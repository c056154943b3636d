package cache

import (
	"strconv"
	"testing"
)

// commitObjectKinds commits every kind of entry of (bucket, key): the
// current version whole, two versions, the description of the object
// cached in blocks and blocks of it. It returns their cache keys and the
// cost they hold.
func commitObjectKinds(t *testing.T, c *Cache, bucket, key string, blocks int) (keys []string, cost int64) {
	t.Helper()
	h := map[string][]string{"Etag": {`"e"`}}
	keys = []string{Key(bucket, key, ""), Key(bucket, key, "v1"), Key(bucket, key, "v2"), MetaKey(bucket, key, "")}
	for i := range blocks {
		keys = append(keys, BlockKey(bucket, key, "", `"e"`, int64(i)))
	}
	tk := c.Begin(bucket, key)
	for i, k := range keys {
		e := &Entry{Header: h, Body: make([]byte, 1000+i)}
		if !c.Commit(tk, k, e) {
			t.Fatalf("Commit %q refused", k)
		}
		cost += e.cost()
	}
	return keys, cost
}

// indexLen returns how many entries c's index holds.
func indexLen(c *Cache) int {
	c.index.mu.Lock()
	defer c.index.mu.Unlock()
	return len(c.index.m)
}

// TestInvalidateFrees: an invalidation frees at once every entry it makes
// unservable, whatever its kind, and nothing else.
func TestInvalidateFrees(t *testing.T) {
	tests := []struct {
		name       string
		invalidate func(c *Cache)
		// keepOther is whether the entries of the other object stay.
		keepOther bool
	}{
		{name: "key", invalidate: func(c *Cache) { c.Invalidate("bkt", "big") }, keepOther: true},
		{name: "bucket", invalidate: func(c *Cache) { c.InvalidateBucket("bkt") }, keepOther: true},
		{name: "all", invalidate: func(c *Cache) { c.InvalidateAll() }},
		{name: "purge key", invalidate: func(c *Cache) { c.PurgeKey("bkt", "big") }, keepOther: true},
		{name: "purge prefix", invalidate: func(c *Cache) { c.PurgePrefix("bkt", "b") }, keepOther: true},
		{name: "purge bucket", invalidate: func(c *Cache) { c.PurgeBucket("bkt") }, keepOther: true},
		{name: "purge all", invalidate: func(c *Cache) { c.PurgeAll() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCache(t, newTestClock())
			// The other object is in another bucket, so that a bucket
			// invalidation leaves it too.
			if sameStripes(c, "bkt", "big", "other", "small") {
				t.Skip("the two objects share a generation stripe")
			}
			keys, cost := commitObjectKinds(t, c, "bkt", "big", 5)
			if !fill(c, "other", "small", "", "kept") {
				t.Fatal("fill of the other object refused")
			}
			c.Wait()
			before := c.Stats()
			if before.Entries != int64(len(keys))+1 {
				t.Fatalf("Entries before = %d, want %d", before.Entries, len(keys)+1)
			}

			// No Wait: an invalidation returns once the store applied
			// its deletes, so that a scrape after a write sees them.
			tt.invalidate(c)
			got := c.Stats()
			wantEntries, wantBytes := before.Entries-int64(len(keys)), before.Bytes-cost
			if !tt.keepOther {
				wantEntries, wantBytes = 0, 0
			}
			if got.Entries != wantEntries || got.Bytes != wantBytes {
				t.Errorf("after the invalidation Entries, Bytes = %d, %d; want %d, %d", got.Entries, got.Bytes, wantEntries, wantBytes)
			}
			if n := indexLen(c); int64(n) != got.Entries {
				t.Errorf("index holds %d entries, store %d", n, got.Entries)
			}
			for _, k := range keys {
				if _, ok := c.Get("bkt", "big", k); ok {
					t.Errorf("Get %q hit after the invalidation", k)
				}
			}
			if _, ok := c.Get("other", "small", Key("other", "small", "")); ok != tt.keepOther {
				t.Errorf("Get of the other object hit=%v, want %v", ok, tt.keepOther)
			}
		})
	}
}

// TestInvalidateFreesStripeSharers: entries of another key that shares the
// invalidated key's generation stripe are unservable too, and freed with it.
func TestInvalidateFreesStripeSharers(t *testing.T) {
	c := newTestCache(t, newTestClock())
	a, b := "k0", ""
	for i := 1; b == ""; i++ {
		if k := "k" + strconv.Itoa(i); c.SharesFence("bkt", a, "bkt", k) {
			b = k
		}
	}
	fill(c, "bkt", a, "", "a")
	fill(c, "bkt", b, "", "b")
	c.Invalidate("bkt", a)
	if s := c.Stats(); s.Entries != 0 || s.Bytes != 0 {
		t.Errorf("Entries, Bytes = %d, %d; want 0, 0", s.Entries, s.Bytes)
	}
}

// TestInvalidateDuringCommitFrees: an invalidation that lands between
// Commit's ticket check and its Set, before the entry is in the index,
// still leaves nothing held.
func TestInvalidateDuringCommitFrees(t *testing.T) {
	tests := []struct {
		name       string
		invalidate func(c *Cache)
	}{
		{"key", func(c *Cache) { c.Invalidate("b", "k") }},
		{"bucket", func(c *Cache) { c.InvalidateBucket("b") }},
		{"all", func(c *Cache) { c.InvalidateAll() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCache(t, newTestClock())
			c.testHookBeforeSet = func() { tt.invalidate(c) }
			fill(c, "b", "k", "", "raced")
			c.testHookBeforeSet = nil
			c.Wait()
			if s := c.Stats(); s.Entries != 0 || s.Bytes != 0 {
				t.Errorf("Entries, Bytes = %d, %d; want 0, 0", s.Entries, s.Bytes)
			}
			if n := indexLen(c); n != 0 {
				t.Errorf("index holds %d entries, want 0", n)
			}
		})
	}
}

// TestInvalidatedBlocksLeaveRoom: a large object cached in blocks and read
// often fills the cache; once it is invalidated, a new object of about the
// same size, read a few times, is admitted and served. Entries the
// invalidation left in the store would keep winning admission.
func TestInvalidatedBlocksLeaveRoom(t *testing.T) {
	const (
		blockSize = 64 << 10
		oldBlocks = 15 // with the new object's, more than testMaxBytes
		newBlocks = 14
		reads     = 3
	)
	c := newTestCache(t, newTestClock())
	h := map[string][]string{"Etag": {`"old"`}}
	// read reads every block of (key, etag), each as a GET of the proxy
	// does: a miss is filled from the backend and committed.
	read := func(key, etag string, n int) (hits int) {
		tk := c.Begin("bkt", key)
		for i := range n {
			bk := BlockKey("bkt", key, "", etag, int64(i))
			if _, ok := c.Get("bkt", key, bk); ok {
				hits++
				continue
			}
			c.Commit(tk, bk, &Entry{Header: h, Body: make([]byte, blockSize)})
		}
		return hits
	}
	for range 10 {
		read("old", `"old"`, oldBlocks)
	}
	if hits := read("old", `"old"`, oldBlocks); hits != oldBlocks {
		t.Fatalf("old object: %d of %d blocks hit, want all", hits, oldBlocks)
	}
	c.Invalidate("bkt", "old")
	for r := range reads - 1 {
		read("new", `"new"`, newBlocks)
		t.Logf("read %d: %+v", r+1, c.Stats())
	}
	if hits := read("new", `"new"`, newBlocks); hits != newBlocks {
		t.Errorf("new object, read %d: %d of %d blocks hit, want all", reads, hits, newBlocks)
	}
}
