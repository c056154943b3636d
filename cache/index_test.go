package cache

import (
	"slices"
	"testing"
)

// commitKey fills (bucket, key) with body and fails the test if the cache
// refused it.
func commitKey(t *testing.T, c *Cache, bucket, key, body string) {
	t.Helper()
	if !c.Commit(c.Begin(bucket, key), Key(bucket, key, ""), &Entry{Body: []byte(body)}) {
		t.Fatalf("Commit %s/%s refused", bucket, key)
	}
}

func hit(t *testing.T, c *Cache, bucket, key string, n int) {
	t.Helper()
	for range n {
		if _, ok := c.Get(bucket, key, Key(bucket, key, "")); !ok {
			t.Fatalf("Get %s/%s missed", bucket, key)
		}
	}
}

func TestTopKeys(t *testing.T) {
	c := newTestCache(t, newTestClock())
	commitKey(t, c, "bkt", "a", "1")
	commitKey(t, c, "bkt", "b", "22")
	commitKey(t, c, "other", "c", "333")
	hit(t, c, "bkt", "b", 3)
	hit(t, c, "other", "c", 1)
	got := c.TopKeys(2)
	want := []KeyStat{
		{Bucket: "bkt", Key: "b", Hits: 3, Bytes: EntryOverhead + 2},
		{Bucket: "other", Key: "c", Hits: 1, Bytes: EntryOverhead + 3},
	}
	if !slices.Equal(got, want) {
		t.Errorf("TopKeys(2) = %+v, want %+v", got, want)
	}
	// A write removes the key from the listing.
	c.Invalidate("bkt", "b")
	c.Wait()
	if got := c.TopKeys(10); len(got) != 2 || got[0].Key != "c" || got[1].Key != "a" {
		t.Errorf("after Invalidate: TopKeys = %+v, want c then a", got)
	}
}

// TestTopKeysFoldsDescriptions: an object stored whole, its description
// (stored by a HEAD) and the description of one of its parts are listed
// once, with their bytes and hits together.
func TestTopKeysFoldsDescriptions(t *testing.T) {
	c := newTestCache(t, newTestClock())
	h := map[string][]string{"ETag": {`"e1"`}}
	for _, k := range []string{Key("bkt", "k", ""), MetaKey("bkt", "k", ""), PartKey("bkt", "k", "", 1)} {
		if !c.Commit(c.Begin("bkt", "k"), k, &Entry{Header: h, Body: []byte("xy")}) {
			t.Fatalf("Commit %q refused", k)
		}
	}
	hit(t, c, "bkt", "k", 2)
	if _, ok := c.Get("bkt", "k", MetaKey("bkt", "k", "")); !ok {
		t.Fatal("the description missed")
	}
	got := c.TopKeys(10)
	cost := (&Entry{Header: h, Body: []byte("xy")}).cost()
	want := []KeyStat{{Bucket: "bkt", Key: "k", Hits: 3, Bytes: 3 * cost, ETag: `"e1"`}}
	if !slices.Equal(got, want) {
		t.Errorf("TopKeys = %+v, want %+v", got, want)
	}
}

func TestPurge(t *testing.T) {
	c := newTestCache(t, newTestClock())
	for _, k := range []string{"p/1", "p/2", "q/1"} {
		commitKey(t, c, "bkt", k, "x")
	}
	commitKey(t, c, "two", "p/1", "x")
	stale := c.Begin("bkt", "p/3") // a fill racing the purge
	if n := c.PurgePrefix("bkt", "p/"); n != 2 {
		t.Errorf("PurgePrefix removed %d, want 2", n)
	}
	c.Invalidate("bkt", "p/3") // as the proxy does for fills in flight
	if c.Commit(stale, Key("bkt", "p/3", ""), &Entry{}) {
		t.Error("a fill that began before the purge was stored")
	}
	for k, want := range map[string]bool{"p/1": false, "p/2": false, "q/1": true} {
		if _, ok := c.Get("bkt", k, Key("bkt", k, "")); ok != want {
			t.Errorf("after PurgePrefix: Get bkt/%s hit=%v, want %v", k, ok, want)
		}
	}
	if n := c.PurgeKey("bkt", "q/1"); n != 1 {
		t.Errorf("PurgeKey removed %d, want 1", n)
	}
	if n := c.PurgeBucket("two"); n != 1 {
		t.Errorf("PurgeBucket removed %d, want 1", n)
	}
	commitKey(t, c, "bkt", "z", "x")
	if n := c.PurgeAll(); n != 1 {
		t.Errorf("PurgeAll removed %d, want 1", n)
	}
	if got := c.TopKeys(10); len(got) != 0 {
		t.Errorf("after purging everything: TopKeys = %+v, want none", got)
	}
}

// TestIndexFollowsEvictions fills far more than fits: the index must not
// keep entries the store let go of.
func TestIndexFollowsEvictions(t *testing.T) {
	c := newTestCache(t, newTestClock())
	body := string(make([]byte, 64<<10))
	for i := range 200 {
		k := string(rune('a'+i%26)) + string(rune('a'+i/26))
		c.Commit(c.Begin("bkt", k), Key("bkt", k, ""), &Entry{Body: []byte(body)})
	}
	c.Wait()
	c.index.mu.Lock()
	n := len(c.index.m)
	c.index.mu.Unlock()
	if max := testMaxBytes / (64 << 10); n > max {
		t.Errorf("index holds %d entries, more than the %d that fit", n, max)
	}
}

func TestSplitKey(t *testing.T) {
	for _, k := range [][3]string{{"b", "", "k"}, {"bkt", "v1", "a\x00b/c"}, {"bkt", "", ""}} {
		b, v, key, ok := SplitKey(Key(k[0], k[2], k[1]))
		if !ok || b != k[0] || v != k[1] || key != k[2] {
			t.Errorf("SplitKey(Key(%q)) = %q %q %q %v", k, b, v, key, ok)
		}
	}
	for _, bad := range []string{"", "x", "3\x00ab", "01\x00a0\x00k", "1\x00a"} {
		if _, _, _, ok := SplitKey(bad); ok {
			t.Errorf("SplitKey(%q) ok", bad)
		}
	}
}
