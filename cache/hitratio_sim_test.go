package cache

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
)

// handTrace returns a trace over len(sizes) objects of the given body sizes
// that reads objects in the order reqs, all counted.
func handTrace(sizes []int64, reqs []int32) *trace {
	t := &trace{reqs: reqs}
	for i, size := range sizes {
		name := "hand/" + strconv.Itoa(i)
		t.names = append(t.names, name)
		t.cacheKeys = append(t.cacheKeys, Key(traceBucket, name, ""))
		t.headers = append(t.headers, objectHeader(name, size))
		t.size = append(t.size, size)
		t.cost = append(t.cost, t.entry(int32(i)).cost())
		t.workingSet += t.cost[i]
	}
	t.indexNextUse()
	return t
}

// TestSimPolicies checks the LRU and Belady simulators against hand-counted
// hits on tiny traces of equal-sized objects.
func TestSimPolicies(t *testing.T) {
	const a, b, c, d, e = 0, 1, 2, 3, 4
	tests := []struct {
		name       string
		reqs       []int32
		capacity   float64 // budget in objects
		lru, opt   int64   // hits
		lruHeldEnd int     // objects LRU holds at the end
	}{
		// LRU always evicts the object read next; Belady keeps two of three.
		{name: "cycle over capacity", reqs: []int32{a, b, c, a, b, c, a, b, c}, capacity: 2, lru: 0, opt: 4, lruHeldEnd: 2},
		{name: "everything fits", reqs: []int32{a, b, c, a, b, c}, capacity: 3, lru: 3, opt: 3, lruHeldEnd: 3},
		{name: "one hot object", reqs: []int32{a, b, a, c, a, d, a, e, a}, capacity: 2, lru: 4, opt: 4, lruHeldEnd: 2},
		{name: "nothing fits", reqs: []int32{a, a, a}, capacity: 0.5, lru: 0, opt: 0, lruHeldEnd: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := handTrace([]int64{1000, 1000, 1000, 1000, 1000}, tt.reqs)
			budget := int64(tt.capacity * float64(tr.cost[0]))
			lru := newLRUSim(tr, budget)
			if got := replay(tr, lru); got.hits != tt.lru || got.hitBytes != 1000*tt.lru || got.reqs != int64(len(tt.reqs)) {
				t.Errorf("LRU: %+v, want %d hits of %d requests", got, tt.lru, len(tt.reqs))
			}
			if held := lru.used / tr.cost[0]; held != int64(tt.lruHeldEnd) || lru.used > budget {
				t.Errorf("LRU holds %d bytes (%d objects), want %d objects within %d", lru.used, held, tt.lruHeldEnd, budget)
			}
			if got := replay(tr, newBeladySim(tr, budget)); got.hits != tt.opt {
				t.Errorf("Belady: %+v, want %d hits", got, tt.opt)
			}
		})
	}
}

// TestSimEverythingFits: with a budget that holds every object, every
// policy misses only the first read of each object, and the real cache
// charges exactly the cost the simulators charge.
func TestSimEverythingFits(t *testing.T) {
	tr := workload{name: "fits", objects: 300, zipfS: 0.9, requests: 6000, seed: 11}.build()
	distinct := map[int32]bool{}
	var distinctCost int64
	for _, id := range tr.reqs {
		if !distinct[id] {
			distinct[id] = true
			distinctCost += tr.cost[id]
		}
	}
	wantHits := int64(len(tr.reqs) - len(distinct))

	lru := newLRUSim(tr, tr.workingSet)
	if got := replay(tr, lru); got.hits != wantHits {
		t.Errorf("LRU: %d hits, want %d", got.hits, wantHits)
	}
	if lru.used != distinctCost {
		t.Errorf("LRU holds %d bytes, want %d", lru.used, distinctCost)
	}
	if got := replay(tr, newBeladySim(tr, tr.workingSet)); got.hits != wantHits {
		t.Errorf("Belady: %d hits, want %d", got.hits, wantHits)
	}
	s, err := newCacheSim(tr, tr.workingSet, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if got := replay(tr, s); got.hits != wantHits {
		t.Errorf("s3cache: %d hits, want %d", got.hits, wantHits)
	}
	s.c.Wait()
	if st := s.c.Stats(); st.Bytes != distinctCost || st.Entries != int64(len(distinct)) {
		t.Errorf("s3cache holds %d entries, %d bytes; want %d, %d as the simulators count them", st.Entries, st.Bytes, len(distinct), distinctCost)
	}
}

// TestSimBeladyBest: with equal sizes, evicting the object read furthest in
// the future is optimal, so no policy may beat the Belady simulator.
func TestSimBeladyBest(t *testing.T) {
	tr := workload{
		name: "equal sizes", objects: 2000, zipfS: 0.9, requests: 40000, warmup: 8000, seed: 12,
		sizes: []sizeClass{{permille: 1000, lo: 16 << 10, hi: 16<<10 + 1}},
	}.build()
	for _, permille := range []int64{10, 50} {
		budget := hitRatioBudget{name: fmt.Sprint(permille / 10), permille: permille}
		t.Run(budget.name+"%", func(t *testing.T) {
			results := map[string]hitRatio{}
			for _, p := range policies {
				h, err := runPolicy(tr, p, budget.bytes(tr))
				if err != nil {
					t.Fatal(err)
				}
				results[p.name] = h
			}
			opt := results["Belady"]
			for name, h := range results {
				if h.hits > opt.hits || h.hitBytes > opt.hitBytes {
					t.Errorf("%s: %d hits, %d bytes; more than Belady's %d, %d", name, h.hits, h.hitBytes, opt.hits, opt.hitBytes)
				}
				if h.hits == 0 {
					t.Errorf("%s: no hits on a Zipf trace", name)
				}
			}
			if lru := results["LRU"]; lru.hits == opt.hits {
				t.Errorf("LRU as good as Belady (%d hits): the simulators do not differ", lru.hits)
			}
		})
	}
}

// TestTraceDeterministic: a workload always gives the same trace, object
// sizes follow the mix, and the Zipf head is as popular as it should be.
func TestTraceDeterministic(t *testing.T) {
	w := workload{name: "det", objects: 5000, zipfS: 1.1, requests: 50000, scan: 1000, seed: 13}
	t1, t2 := w.build(), w.build()
	if !slices.Equal(t1.reqs, t2.reqs) || !slices.Equal(t1.size, t2.size) {
		t.Fatal("two builds of one workload differ")
	}
	if got, want := len(t1.reqs), w.requests+w.scan; got != want {
		t.Fatalf("%d requests, want %d", got, want)
	}
	// The scan reads each cold object once, in order, halfway through.
	for j := range w.scan {
		if id := t1.reqs[w.requests/2+j]; id != int32(w.objects+j) {
			t.Fatalf("request %d reads object %d, want cold object %d", w.requests/2+j, id, w.objects+j)
		}
	}
	counts := make([]int, len(defaultSizes))
	for _, size := range t1.size {
		found := false
		for i, c := range defaultSizes {
			if size >= c.lo && size < c.hi {
				counts[i]++
				found = true
			}
		}
		if !found {
			t.Fatalf("object size %d outside every size class", size)
		}
	}
	for i, c := range defaultSizes {
		got := 1000 * float64(counts[i]) / float64(len(t1.size))
		if want := float64(c.permille); got < want*0.8-5 || got > want*1.2+5 {
			t.Errorf("size class %d: %.0f‰ of objects, want about %.0f‰", i, got, want)
		}
	}
	// The most requested object gets about 1/H of the Zipf requests.
	freq := map[int32]int{}
	top := 0
	for _, id := range t1.reqs {
		freq[id]++
		top = max(top, freq[id])
	}
	z := newZipfSampler(nil, w.objects, w.zipfS)
	want := float64(w.requests) / z.cdf[len(z.cdf)-1]
	if got := float64(top); got < 0.9*want || got > 1.1*want {
		t.Errorf("most requested object read %.0f times, want about %.0f", got, want)
	}
}
