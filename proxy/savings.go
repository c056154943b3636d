package proxy

import (
	"cmp"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// What the cache saves, by bucket. A read is a GetObject or HeadObject
// answered with an X-Cache header (s3cache_cache_requests_total). Of
// reads:
//
//   - A backend request is saved by a read answered HIT or SHARED: no
//     request of its own reached the backend. STALE and REVALIDATED reads
//     did ask the backend (a request that failed, or a 304), and a
//     coalesced waiter is a MISS: it shared another read's GET, but may
//     still have fetched alone when that body could not be shared, which
//     is known only later; s3cache_coalesced_waiters_total counts them.
//   - Bytes are saved when a body is sent from a cache entry: HIT, SHARED,
//     STALE and REVALIDATED bodies, and the cached blocks of a large
//     object. Summed over buckets they are s3cache_response_bytes_total
//     {source="cache"}.
//
// The hit ratio by requests is requests saved over reads; by bytes, bytes
// saved over the body bytes reads sent.

// bucketLabels is how many buckets get a bucket label of their own in the
// per-bucket metrics at a time; reads of every other bucket are counted
// under otherBucket. Each label costs four series, so with
// bucketLabelsEver the per-bucket metrics stay under 170 series whatever
// clients ask for, and a dashboard legend or the status page's table
// stays readable.
const bucketLabels = 20

// bucketLabelsEver bounds the labels ever handed out (see rebalance): a
// bucket that gives its label up to a busier one keeps its series, at what
// it counted, as a counter's series must go on.
const bucketLabelsEver = 2 * bucketLabels

// otherBucket is the bucket label of the reads of buckets without a label
// of their own. The bucket named "other", if there is one, never gets a
// label of its own: its reads are counted there too.
const otherBucket = "other"

// candidateSample and maxCandidates bound what counting the reads of
// buckets without a label costs: one read in candidateSample is counted
// towards a label, for at most maxCandidates buckets between two
// rebalances.
const (
	candidateSample = 16
	maxCandidates   = 256
)

// bucketSeries are one bucket label's counters.
type bucketSeries struct {
	reads, readBytes, requestsSaved, bytesSaved prometheus.Counter
	n                                           atomic.Int64 // reads, for rebalance
}

// bucketTable counts reads and savings by bucket, under a label of the
// bucket's own for the busiest buckets, bucketLabels at a time, and under
// otherBucket for the rest. Labels go to the first buckets that answer a
// read with success (2xx or 304), so reads of buckets that do not exist
// take none; once all are taken, rebalance moves a label from a bucket
// read little to one read much more, until bucketLabelsEver labels were
// handed out. A restart hands them out afresh.
//
// Looking up a labelled bucket costs one atomic load and a map lookup,
// and allocates nothing. The zero value is not usable; call init. It is
// safe for concurrent use.
type bucketTable struct {
	reads, readBytes, requestsSaved, bytesSaved *prometheus.CounterVec

	labelled atomic.Pointer[map[string]*bucketSeries] // replaced whole under mu
	full     atomic.Bool                              // bucketLabels buckets are labelled
	other    *bucketSeries
	seq      atomic.Uint64 // reads of buckets without a label, for sampling

	mu         sync.Mutex
	ever       int                      // labels handed out
	retired    map[string]*bucketSeries // buckets that gave their label up
	candidates map[string]int64         // sampled reads of buckets without a label since the last rebalance
	base       map[string]int64         // each labelled bucket's reads at the last rebalance
}

func (t *bucketTable) init() {
	vec := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"bucket"})
	}
	const by = ", by bucket (the busiest 20 at a time; the rest as \"other\")."
	t.reads = vec("s3cache_reads_total", "GetObject and HeadObject requests answered with an X-Cache header"+by)
	t.readBytes = vec("s3cache_read_bytes_total", "Body bytes sent in answer to GetObject, from the cache or the backend"+by)
	t.requestsSaved = vec("s3cache_backend_requests_saved_total", "Reads answered without a backend request: X-Cache HIT or SHARED"+by)
	t.bytesSaved = vec("s3cache_backend_bytes_saved_total", "Body bytes sent from cache entries instead of the backend: HIT, SHARED, STALE and REVALIDATED bodies and cached blocks"+by)
	t.other = t.series(otherBucket)
	t.labelled.Store(&map[string]*bucketSeries{})
	t.retired = map[string]*bucketSeries{}
	t.candidates = map[string]int64{}
	t.base = map[string]int64{}
}

func (t *bucketTable) collectors() []prometheus.Collector {
	return []prometheus.Collector{t.reads, t.readBytes, t.requestsSaved, t.bytesSaved}
}

func (t *bucketTable) series(label string) *bucketSeries {
	return &bucketSeries{
		reads:         t.reads.WithLabelValues(label),
		readBytes:     t.readBytes.WithLabelValues(label),
		requestsSaved: t.requestsSaved.WithLabelValues(label),
		bytesSaved:    t.bytesSaved.WithLabelValues(label),
	}
}

// get returns the counters of bucket. A bucket without a label gets one
// if there is room and its read succeeded (status), so that reads of
// buckets that do not exist take no label; with no room, the read may be
// sampled towards one (see rebalance).
func (t *bucketTable) get(bucket string, status int) *bucketSeries {
	if s, ok := (*t.labelled.Load())[bucket]; ok {
		return s
	}
	if bucket == "" || bucket == otherBucket || !(status >= 200 && status < 300 || status == 304) {
		return t.other
	}
	if t.full.Load() {
		if t.seq.Add(1)%candidateSample == 0 {
			t.sample(bucket)
		}
		return t.other
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.labelled.Load()
	if s, ok := old[bucket]; ok {
		return s
	}
	if len(old) >= bucketLabels || t.ever >= bucketLabelsEver && t.retired[bucket] == nil {
		return t.other
	}
	m := make(map[string]*bucketSeries, len(old)+1)
	for b, s := range old {
		m[b] = s
	}
	m[bucket] = t.label(bucket)
	t.labelled.Store(&m)
	t.full.Store(len(m) >= bucketLabels)
	return m[bucket]
}

// label returns the series of bucket, taken back from retired or new.
// t.mu is held.
func (t *bucketTable) label(bucket string) *bucketSeries {
	if s := t.retired[bucket]; s != nil {
		delete(t.retired, bucket)
		return s
	}
	t.ever++
	return t.series(bucket)
}

// sample counts one sampled read of bucket, which has no label.
func (t *bucketTable) sample(bucket string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.candidates[bucket]; ok || len(t.candidates) < maxCandidates {
		t.candidates[bucket]++
	}
}

// rebalance moves labels to the busiest buckets: while a bucket without a
// label was read (by its sampled reads) more than twice as often since
// the last rebalance as the labelled bucket read least, the label passes
// to it, as long as labels remain to hand out (bucketLabelsEver; a bucket
// that had one before takes its series back and costs none). The bucket
// that gives its label up keeps its series, at what it counted; its later
// reads count under otherBucket. The history sampler calls it every
// historyInterval.
func (t *bucketTable) rebalance() {
	t.mu.Lock()
	defer t.mu.Unlock()
	cur := *t.labelled.Load()
	candidates := t.candidates
	t.candidates = map[string]int64{}
	type reads struct {
		bucket string
		n      int64
	}
	var weak, strong []reads
	for b, s := range cur {
		weak = append(weak, reads{b, s.n.Load() - t.base[b]})
	}
	for b, n := range candidates {
		strong = append(strong, reads{b, n * candidateSample})
	}
	slices.SortFunc(weak, func(x, y reads) int { return cmp.Or(cmp.Compare(x.n, y.n), strings.Compare(x.bucket, y.bucket)) })
	slices.SortFunc(strong, func(x, y reads) int { return cmp.Or(cmp.Compare(y.n, x.n), strings.Compare(x.bucket, y.bucket)) })
	next := cur
	for i := 0; len(cur) >= bucketLabels && i < len(strong) && i < len(weak); i++ {
		if strong[i].n <= 2*weak[i].n || t.ever >= bucketLabelsEver && t.retired[strong[i].bucket] == nil {
			break
		}
		if i == 0 {
			next = maps.Clone(cur)
		}
		t.retired[weak[i].bucket] = next[weak[i].bucket]
		delete(next, weak[i].bucket)
		next[strong[i].bucket] = t.label(strong[i].bucket)
	}
	if len(next) > 0 && !maps.EqualFunc(next, cur, func(a, b *bucketSeries) bool { return a == b }) {
		t.labelled.Store(&next)
	}
	clear(t.base)
	for b, s := range next {
		t.base[b] = s.n.Load()
	}
}

// count counts one read of bucket answered with status and X-Cache result
// i (a cacheResultIndex), which sent sent body bytes from source.
func (t *bucketTable) count(bucket string, status, i int, source byteSource, sent int64) {
	s := t.get(bucket, status)
	s.n.Add(1)
	s.reads.Inc()
	if i == hitIndex || i == sharedIndex {
		s.requestsSaved.Inc()
	}
	if sent > 0 {
		s.readBytes.Add(float64(sent))
		if source == sourceCache {
			s.bytesSaved.Add(float64(sent))
		}
	}
}

// prices are what the backend charges (Config.SavingsPricePerGB and
// SavingsPricePer1kGet), to put a price on what the cache saves. The zero
// value prices nothing.
type prices struct {
	PerGB    float64 `json:"per_gb"`     // per GB (2^30 bytes) sent by the backend
	Per1kGet float64 `json:"per_1k_get"` // per 1000 GET (and HEAD) requests
}

// set reports whether any price is set.
func (pr prices) set() bool { return pr.PerGB > 0 || pr.Per1kGet > 0 }

// valid reports whether both prices are finite and not negative.
func (pr prices) valid() bool {
	for _, v := range []float64{pr.PerGB, pr.Per1kGet} {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

// saved is the price of bytes and requests the backend did not serve.
func (pr prices) saved(bytes, requests float64) float64 {
	return bytes/(1<<30)*pr.PerGB + requests/1000*pr.Per1kGet
}
