package cache

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
)

// workload describes a synthetic, deterministic request trace: Zipf-popular
// reads of a fixed set of objects whose sizes are a fixed function of their
// names, optionally with a one-pass scan of cold objects in the middle.
type workload struct {
	name     string
	objects  int     // distinct objects the Zipf requests draw from
	zipfS    float64 // Zipf exponent: the k-th most popular object is drawn with weight 1/k^s
	requests int     // Zipf requests, not counting the scan
	// scan is how many cold objects, never read otherwise, are read once
	// each, in sequence, halfway through the trace (a backup or a crawler).
	// Zero means no scan.
	scan int
	// warmup is how many requests at the start are replayed but not counted.
	warmup int
	seed   uint64
	// sizes is the object size mix; nil means defaultSizes.
	sizes []sizeClass
}

// trace is a workload made concrete: the object read by each request, and
// each object's name, headers, body size and cost.
type trace struct {
	reqs   []int32 // object index of each request
	warmup int     // leading requests not counted

	names     []string              // object key, per object
	cacheKeys []string              // Key("bench", name, ""), per object
	headers   []map[string][]string // response headers, per object
	size      []int64               // body bytes, per object
	cost      []int64               // Entry cost, per object

	// nextUse[i] is the index of the next request for the object of
	// request i, or len(reqs) if it is never read again.
	nextUse []int32

	workingSet int64 // total cost of every object the Zipf requests may read
}

// traceBucket is the bucket every trace object lives in.
const traceBucket = "bench"

// sizeClass is a share, in thousandths, of a trace's objects whose sizes
// are spread log-uniformly over [lo, hi).
type sizeClass struct {
	permille int
	lo, hi   int64
}

// defaultSizes is the object size mix of the traces: mostly small objects,
// whose bytes are dwarfed by a few large ones.
var defaultSizes = []sizeClass{
	{permille: 850, lo: 1 << 10, hi: 64 << 10},  // small: thumbnails, JSON, pages
	{permille: 130, lo: 256 << 10, hi: 1 << 20}, // medium: photos, small archives
	{permille: 20, lo: 4 << 20, hi: 16 << 20},   // large: media, archives
}

// objectSize returns the body size of the object named name: a fixed
// function of the name, drawn from the mix classes, whose shares must add
// up to 1000.
func objectSize(name string, classes []sizeClass) int64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	x := splitmix64(h.Sum64())
	pick := int(x % 1000)
	// Where the size falls within its class comes from a second mix, so it
	// does not depend on the class.
	frac := float64(splitmix64(x)>>11) / (1 << 53)
	for _, c := range classes {
		if pick < c.permille {
			return int64(float64(c.lo) * math.Pow(float64(c.hi)/float64(c.lo), frac))
		}
		pick -= c.permille
	}
	panic("size class shares do not add up to 1000")
}

// splitmix64 is the SplitMix64 finaliser: a fixed bijective mix of x.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// objectHeader returns realistic response headers of an object, as the proxy
// would cache them.
func objectHeader(name string, size int64) map[string][]string {
	h := fnv.New128a()
	h.Write([]byte(name))
	contentType := "application/octet-stream"
	switch {
	case size < 64<<10:
		contentType = "application/json"
	case size < 1<<20:
		contentType = "image/jpeg"
	}
	return map[string][]string{
		"Accept-Ranges":  {"bytes"},
		"Content-Length": {strconv.FormatInt(size, 10)},
		"Content-Type":   {contentType},
		"Etag":           {fmt.Sprintf(`"%x"`, h.Sum(nil))},
		"Last-Modified":  {"Mon, 02 Jun 2025 15:04:05 GMT"},
	}
}

// zipfSampler draws ranks 0..n-1, rank k with weight 1/(k+1)^s. Unlike
// rand.Zipf it accepts any s > 0.
type zipfSampler struct {
	cdf []float64 // cumulative weights; the last is the total
	r   *rand.Rand
}

// newZipfSampler returns a sampler of n ranks with exponent s drawing from r.
func newZipfSampler(r *rand.Rand, n int, s float64) *zipfSampler {
	cdf := make([]float64, n)
	total := 0.0
	for k := range n {
		total += math.Pow(float64(k+1), -s)
		cdf[k] = total
	}
	return &zipfSampler{cdf: cdf, r: r}
}

// next returns the next rank.
func (z *zipfSampler) next() int {
	u := z.r.Float64() * z.cdf[len(z.cdf)-1]
	k, _ := slices.BinarySearch(z.cdf, u)
	return min(k, len(z.cdf)-1)
}

// build generates the workload's trace. The same workload always gives the
// same trace.
func (w workload) build() *trace {
	r := rand.New(rand.NewPCG(w.seed, w.seed^0x5eed))
	total := w.objects + w.scan
	sizes := w.sizes
	if sizes == nil {
		sizes = defaultSizes
	}
	t := &trace{
		warmup:    w.warmup,
		names:     make([]string, total),
		cacheKeys: make([]string, total),
		headers:   make([]map[string][]string, total),
		size:      make([]int64, total),
		cost:      make([]int64, total),
	}
	for i := range total {
		name := "objects/" + strconv.Itoa(i) + ".bin"
		if i >= w.objects {
			name = "cold/" + strconv.Itoa(i) + ".bin"
		}
		t.names[i] = name
		t.cacheKeys[i] = Key(traceBucket, name, "")
		t.size[i] = objectSize(name, sizes)
		t.headers[i] = objectHeader(name, t.size[i])
		t.cost[i] = t.entry(int32(i)).cost()
		if i < w.objects {
			t.workingSet += t.cost[i]
		}
	}
	// Popularity is independent of size: rank k is a random object.
	perm := r.Perm(w.objects)
	zipf := newZipfSampler(r, w.objects, w.zipfS)
	t.reqs = make([]int32, 0, w.requests+w.scan)
	for i := range w.requests {
		if i == w.requests/2 {
			for j := range w.scan {
				t.reqs = append(t.reqs, int32(w.objects+j))
			}
		}
		t.reqs = append(t.reqs, int32(perm[zipf.next()]))
	}
	t.indexNextUse()
	return t
}

// indexNextUse fills t.nextUse from t.reqs.
func (t *trace) indexNextUse() {
	t.nextUse = make([]int32, len(t.reqs))
	last := make([]int32, len(t.size))
	for i := range last {
		last[i] = int32(len(t.reqs))
	}
	for i := len(t.reqs) - 1; i >= 0; i-- {
		id := t.reqs[i]
		t.nextUse[i] = last[id]
		last[id] = int32(i)
	}
}

// traceCache memoises built traces by workload name, so that the
// sub-benchmarks of one workload share one trace.
var traceCache struct {
	sync.Mutex
	m map[string]*trace
}

// cachedTrace returns w's trace, building it on first use.
func cachedTrace(w workload) *trace {
	traceCache.Lock()
	defer traceCache.Unlock()
	if t, ok := traceCache.m[w.name]; ok {
		return t
	}
	if traceCache.m == nil {
		traceCache.m = make(map[string]*trace)
	}
	t := w.build()
	traceCache.m[w.name] = t
	return t
}

// traceBlob backs every trace body: bodies are never read, so they share it.
var traceBlob = make([]byte, 16<<20)

// entry returns a fresh Entry for object id, as the proxy would commit it.
func (t *trace) entry(id int32) *Entry {
	return &Entry{Header: t.headers[id], Body: traceBlob[:t.size[id]:t.size[id]]}
}
