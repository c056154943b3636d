package cache

import (
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// TestNoStaleHitUnderConcurrency races fills, reads and invalidations the way
// the proxy issues them. A writer publishes a new object version, invalidates,
// then records the version as invalidated. Workers Get; on a miss they fill,
// reading the backend's version between Begin and Commit. A worker that saw
// version v invalidated before its Get must never be served a body older
// than v.
func TestNoStaleHitUnderConcurrency(t *testing.T) {
	const (
		workers         = 2
		readsPerVersion = 50
	)
	tests := []struct {
		name     string
		keys     int
		versions int
		// bucketEvery makes every n-th invalidation bucket-wide; 0 never.
		bucketEvery int
	}{
		{name: "one key", keys: 1, versions: 300},
		{name: "many keys", keys: 8, versions: 300},
		{name: "bucket invalidations", keys: 4, versions: 300, bucketEvery: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCache(t, newTestClock())
			type object struct {
				name        string
				cacheKey    string
				current     atomic.Uint64 // version the backend serves
				invalidated atomic.Uint64 // version whose invalidation completed
			}
			objs := make([]*object, tt.keys)
			for i := range objs {
				name := "k" + strconv.Itoa(i)
				objs[i] = &object{name: name, cacheKey: Key("b", name, "")}
			}
			var done atomic.Bool
			var gets, hits, stale atomic.Uint64
			var wg sync.WaitGroup

			wg.Go(func() { // writer
				defer done.Store(true)
				for v := uint64(1); v <= uint64(tt.versions); v++ {
					o := objs[int(v)%len(objs)]
					o.current.Store(v)
					if tt.bucketEvery > 0 && v%uint64(tt.bucketEvery) == 0 {
						c.InvalidateBucket("b")
					} else {
						c.Invalidate("b", o.name)
					}
					o.invalidated.Store(v)
					// Let fills land and workers read before the next write,
					// so hits race with invalidations rather than never
					// happening.
					for start := gets.Load(); gets.Load() < start+readsPerVersion; {
						runtime.Gosched()
					}
				}
			})
			for w := range workers {
				wg.Go(func() {
					for i := w; !done.Load(); i++ {
						o := objs[i%len(objs)]
						floor := o.invalidated.Load()
						e, ok := c.Get("b", o.name, o.cacheKey)
						gets.Add(1)
						if !ok {
							tk := c.Begin("b", o.name)
							v := o.current.Load() // the backend GET
							c.Commit(tk, o.cacheKey, &Entry{Body: strconv.AppendUint(nil, v, 10)})
							continue
						}
						hits.Add(1)
						got, err := strconv.ParseUint(string(e.Body), 10, 64)
						if err != nil || got < floor {
							stale.Add(1)
							t.Errorf("Get(%s) = version %q after version %d was invalidated", o.name, e.Body, floor)
						}
					}
				})
			}
			wg.Wait()
			t.Logf("%d gets, %d hits, %d stale", gets.Load(), hits.Load(), stale.Load())
			if hits.Load() == 0 {
				t.Error("no Get hit; the test exercised nothing")
			}
		})
	}
}
