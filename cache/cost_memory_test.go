package cache

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// heapInUse returns the bytes of live heap objects after a full collection.
// The second collection also empties sync.Pool victim caches.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// commitFresh commits n entries to c, each with a freshly allocated body of
// size(i) bytes and freshly allocated headers like those the proxy copies
// from a backend response, so that nothing but c keeps them. Like the
// proxy's copy, the header map is sized for the backend's headers before
// the per-connection ones (Date, Server and two request ids) are dropped.
func commitFresh(tb testing.TB, c *Cache, n int, size func(i int) int) {
	tb.Helper()
	for i := range n {
		name := "objects/" + strconv.Itoa(i) + ".bin"
		body := make([]byte, size(i))
		h := make(map[string][]string, 9)
		h["Content-Length"] = []string{strconv.Itoa(len(body))}
		h["Content-Type"] = []string{"application/" + "octet-stream"}
		h["Etag"] = []string{fmt.Sprintf(`"%032x"`, i)}
		h["Last-Modified"] = []string{time.Unix(int64(i), 0).UTC().Format(time.RFC1123)}
		h["X-Amz-Meta-Id"] = []string{strconv.Itoa(1_000_000 + i)}
		e := &Entry{Header: h, Body: body}
		if !c.Commit(c.Begin("bucket", name), Key("bucket", name, ""), e) {
			tb.Fatalf("Commit %s refused", name)
		}
	}
	c.Wait()
}

// TestCostMatchesMemory commits entries of known sizes to a cache that keeps
// them all and compares the heap they really hold with the cost the cache
// charges for them, per entry. The charged cost may not fall short of the
// heap by more than 10%, nor exceed twice of it.
func TestCostMatchesMemory(t *testing.T) {
	tests := []struct {
		name string
		n    int
		size func(r *rand.Rand) int
	}{
		// Bodies dominate: the rounding of allocations up to the
		// allocator's size classes and pages (about 6% here) is what the
		// cost does not see.
		{name: "1-64 KiB bodies", n: 2000, size: func(r *rand.Rand) int { return 1<<10 + r.IntN(63<<10) }},
		// Overheads dominate: this is where EntryOverhead and
		// HeaderFieldOverhead are checked.
		{name: "0-256 byte bodies", n: 20000, size: func(r *rand.Rand) int { return r.IntN(257) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			sizes := make([]int, tt.n)
			for i := range sizes {
				sizes[i] = tt.size(r)
			}
			// A budget far above what is committed: nothing is evicted.
			c, err := New(Config{MaxBytes: 1 << 40, TTL: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			before := heapInUse()
			commitFresh(t, c, tt.n, func(i int) int { return sizes[i] })
			after := heapInUse()
			runtime.KeepAlive(c)

			st := c.Stats()
			if st.Entries != int64(tt.n) {
				t.Fatalf("cache holds %d entries, want all %d", st.Entries, tt.n)
			}
			measured := float64(int64(after)-int64(before)) / float64(tt.n)
			charged := float64(st.Bytes) / float64(tt.n)
			t.Logf("per entry: %.0f bytes of heap, %.0f bytes charged (%.2f×)", measured, charged, charged/measured)
			if charged < 0.9*measured {
				t.Errorf("charged %.0f bytes per entry, more than 10%% under the %.0f bytes of heap they hold", charged, measured)
			}
			if charged > 2*measured {
				t.Errorf("charged %.0f bytes per entry, over twice the %.0f bytes of heap they hold", charged, measured)
			}
		})
	}
}
