package cache

import (
	"container/heap"
	"fmt"
	"runtime"
	"time"
)

// replayer serves the requests of one trace, in order, under some caching
// policy.
type replayer interface {
	// access serves request i, which reads object id, and reports whether
	// it was a hit.
	access(i int, id int32) bool
	// close releases what the replayer holds.
	close()
}

// hitRatio counts the requests of a replay and those served from cache.
// The zero hitRatio is an empty count.
type hitRatio struct {
	reqs, hits         int64 // requests
	reqBytes, hitBytes int64 // body bytes
	// dropped is the share of access records the store dropped, in percent
	// (see cacheSim); zero for the simulated policies.
	dropped float64
}

// bytePct returns the share of requested body bytes served from cache, in
// percent.
func (h hitRatio) bytePct() float64 { return pct(h.hitBytes, h.reqBytes) }

// objPct returns the share of requests served from cache, in percent.
func (h hitRatio) objPct() float64 { return pct(h.hits, h.reqs) }

// pct returns 100*n/d, or 0 if d is 0.
func pct(n, d int64) float64 {
	if d == 0 {
		return 0
	}
	return 100 * float64(n) / float64(d)
}

// replay runs every request of t through p and counts those after the
// warmup.
func replay(t *trace, p replayer) hitRatio {
	var h hitRatio
	for i, id := range t.reqs {
		hit := p.access(i, id)
		if i < t.warmup {
			continue
		}
		h.reqs++
		h.reqBytes += t.size[id]
		if hit {
			h.hits++
			h.hitBytes += t.size[id]
		}
	}
	return h
}

// policy names a replayer and builds one for a trace and a byte budget.
type policy struct {
	name string
	make func(t *trace, budget int64) (replayer, error)
}

// policies are the replayers BenchmarkHitRatio and TestHitRatioTable compare.
var policies = []policy{
	{name: "s3cache", make: func(t *trace, budget int64) (replayer, error) {
		return newCacheSim(t, budget, nil)
	}},
	{name: "LRU", make: func(t *trace, budget int64) (replayer, error) { return newLRUSim(t, budget), nil }},
	{name: "Belady", make: func(t *trace, budget int64) (replayer, error) { return newBeladySim(t, budget), nil }},
}

// cacheSim replays a trace through a real Cache the way the proxy uses it:
// Get on every request and, on a miss, Begin and Commit of a fresh entry.
// Commit returns once ristretto applied the Set, so an admitted entry is
// visible to the next request.
//
// Ristretto records Gets in buffers that a goroutine of its own feeds to the
// admission policy, and drops a batch when that goroutine lags. A replay
// loop that never blocks starves it and, depending on the machine's load,
// loses up to half of the accesses. A proxy blocks on the network between
// requests, so access yields once per request, like a request would; the
// share still dropped is reported by droppedPct.
type cacheSim struct {
	t *trace
	c *Cache
}

// newCacheSim returns a cacheSim over a Cache of the given budget, with the
// default tuning if tn is nil and *tn otherwise. Its clock never moves, so
// nothing expires during a replay.
func newCacheSim(t *trace, budget int64, tn *tuning) (*cacheSim, error) {
	start := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	cfg := Config{MaxBytes: budget, TTL: 24 * time.Hour, Now: func() time.Time { return start }}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cache sim: %w", err)
	}
	cfg = cfg.withDefaults()
	tun := cfg.tuning()
	if tn != nil {
		tun = *tn
	}
	c, err := newCache(cfg, tun)
	if err != nil {
		return nil, fmt.Errorf("cache sim: %w", err)
	}
	return &cacheSim{t: t, c: c}, nil
}

// access serves request i from the cache, filling it on a miss.
func (s *cacheSim) access(_ int, id int32) bool {
	runtime.Gosched()
	name, ck := s.t.names[id], s.t.cacheKeys[id]
	if _, ok := s.c.Get(traceBucket, name, ck); ok {
		return true
	}
	s.c.Commit(s.c.Begin(traceBucket, name), ck, s.t.entry(id))
	return false
}

// droppedPct returns the share of Gets so far whose access record ristretto
// dropped, in percent.
func (s *cacheSim) droppedPct() float64 {
	m := s.c.store.Metrics
	dropped := int64(m.GetsDropped())
	return pct(dropped, dropped+int64(m.GetsKept()))
}

// close closes the cache.
func (s *cacheSim) close() { s.c.Close() }

// lruSim is a byte-bounded LRU cache of trace objects, charging each the
// same cost as the Cache does. It admits every object that fits the budget.
type lruSim struct {
	t            *trace
	budget, used int64
	// An intrusive list of the held objects, most recent at head.
	prev, next []int32
	held       []bool
	head, tail int32
}

// newLRUSim returns an empty lruSim for t with the given budget.
func newLRUSim(t *trace, budget int64) *lruSim {
	n := len(t.size)
	s := &lruSim{t: t, budget: budget, prev: make([]int32, n), next: make([]int32, n), held: make([]bool, n), head: -1, tail: -1}
	return s
}

// access serves request i: a hit moves the object to the head, a miss
// inserts it there and evicts from the tail until the budget holds.
func (s *lruSim) access(_ int, id int32) bool {
	if s.held[id] {
		s.unlink(id)
		s.pushHead(id)
		return true
	}
	cost := s.t.cost[id]
	if cost > s.budget {
		return false
	}
	s.pushHead(id)
	s.held[id] = true
	s.used += cost
	for s.used > s.budget {
		v := s.tail
		s.unlink(v)
		s.held[v] = false
		s.used -= s.t.cost[v]
	}
	return false
}

// unlink removes id from the list.
func (s *lruSim) unlink(id int32) {
	p, n := s.prev[id], s.next[id]
	if p >= 0 {
		s.next[p] = n
	} else {
		s.head = n
	}
	if n >= 0 {
		s.prev[n] = p
	} else {
		s.tail = p
	}
}

// pushHead inserts id at the head of the list.
func (s *lruSim) pushHead(id int32) {
	s.prev[id], s.next[id] = -1, s.head
	if s.head >= 0 {
		s.prev[s.head] = id
	} else {
		s.tail = id
	}
	s.head = id
}

// close does nothing.
func (s *lruSim) close() {}

// beladySim is the usual practical stand-in for the optimal policy with
// variable object sizes: it admits every object that fits the budget and,
// while over budget, evicts the held object whose next read is furthest in
// the future (the new object itself included, which amounts to not
// admitting it). With equal sizes this is Belady's optimum. With variable
// sizes the exact optimum is NP-hard and this heuristic, which ignores
// sizes, is a reference rather than a bound: it is hard to beat on byte hit
// ratio, but a policy that favours small objects can beat its object hit
// ratio.
type beladySim struct {
	t            *trace
	budget, used int64
	heap         beladyHeap
}

// newBeladySim returns an empty beladySim for t with the given budget.
func newBeladySim(t *trace, budget int64) *beladySim {
	pos := make([]int32, len(t.size))
	for i := range pos {
		pos[i] = -1
	}
	return &beladySim{t: t, budget: budget, heap: beladyHeap{pos: pos, next: make([]int32, len(t.size))}}
}

// access serves request i, which knows its object's next read from the
// trace.
func (s *beladySim) access(i int, id int32) bool {
	nu := s.t.nextUse[i]
	if p := s.heap.pos[id]; p >= 0 {
		s.heap.next[id] = nu
		heap.Fix(&s.heap, int(p))
		return true
	}
	cost := s.t.cost[id]
	if cost > s.budget {
		return false
	}
	s.heap.next[id] = nu
	heap.Push(&s.heap, id)
	s.used += cost
	for s.used > s.budget {
		v := heap.Pop(&s.heap).(int32)
		s.used -= s.t.cost[v]
	}
	return false
}

// close does nothing.
func (s *beladySim) close() {}

// beladyHeap is a max-heap of held object ids ordered by next read, for
// container/heap.
type beladyHeap struct {
	ids  []int32
	pos  []int32 // index in ids per object, -1 if not held
	next []int32 // next read per held object
}

// Len returns the number of held objects.
func (h *beladyHeap) Len() int { return len(h.ids) }

// Less orders the object read furthest in the future first.
func (h *beladyHeap) Less(i, j int) bool { return h.next[h.ids[i]] > h.next[h.ids[j]] }

// Swap swaps two ids and keeps pos up to date.
func (h *beladyHeap) Swap(i, j int) {
	h.ids[i], h.ids[j] = h.ids[j], h.ids[i]
	h.pos[h.ids[i]], h.pos[h.ids[j]] = int32(i), int32(j)
}

// Push appends x, an int32 object id.
func (h *beladyHeap) Push(x any) {
	id := x.(int32)
	h.pos[id] = int32(len(h.ids))
	h.ids = append(h.ids, id)
}

// Pop removes and returns the last id.
func (h *beladyHeap) Pop() any {
	id := h.ids[len(h.ids)-1]
	h.ids = h.ids[:len(h.ids)-1]
	h.pos[id] = -1
	return id
}
