package proxy

import (
	"math"
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
// per-bucket metrics; reads of every other bucket are counted under
// otherBucket. Each labelled bucket costs four series, so the bound keeps
// the per-bucket metrics at 84 series whatever clients ask for, and a
// dashboard legend or the status page's table stays readable.
const bucketLabels = 20

// otherBucket is the bucket label of the reads of buckets without a label
// of their own. The bucket named "other", if there is one, never gets a
// label of its own: its reads are counted there too.
const otherBucket = "other"

// bucketSeries are one bucket label's counters.
type bucketSeries struct {
	reads, readBytes, requestsSaved, bytesSaved prometheus.Counter
}

// bucketTable counts reads and savings by bucket, under a label of the
// bucket's own for the first bucketLabels buckets that answered a read
// with success (2xx or 304), and under otherBucket for the rest: a label
// is never taken back, as the series of a counter must go on, so the
// buckets that get one are those read first, which on a running proxy are
// the busy ones. A restart hands them out afresh.
//
// Looking up a labelled bucket costs one atomic load and a map lookup,
// and allocates nothing. The zero value is not usable; call init. It is
// safe for concurrent use.
type bucketTable struct {
	reads, readBytes, requestsSaved, bytesSaved *prometheus.CounterVec

	labelled atomic.Pointer[map[string]*bucketSeries] // replaced whole under mu
	full     atomic.Bool                              // bucketLabels buckets are labelled
	other    *bucketSeries
	mu       sync.Mutex
}

func (t *bucketTable) init() {
	vec := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"bucket"})
	}
	const by = ", by bucket (the first 20 buckets read with success; the rest as \"other\")."
	t.reads = vec("s3cache_reads_total", "GetObject and HeadObject requests answered with an X-Cache header"+by)
	t.readBytes = vec("s3cache_read_bytes_total", "Body bytes sent in answer to GetObject, from the cache or the backend"+by)
	t.requestsSaved = vec("s3cache_backend_requests_saved_total", "Reads answered without a backend request: X-Cache HIT or SHARED"+by)
	t.bytesSaved = vec("s3cache_backend_bytes_saved_total", "Body bytes sent from cache entries instead of the backend: HIT, SHARED, STALE and REVALIDATED bodies and cached blocks"+by)
	t.other = t.series(otherBucket)
	t.labelled.Store(&map[string]*bucketSeries{})
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
// buckets that do not exist take no label.
func (t *bucketTable) get(bucket string, status int) *bucketSeries {
	if s, ok := (*t.labelled.Load())[bucket]; ok {
		return s
	}
	if t.full.Load() || bucket == "" || bucket == otherBucket || !(status >= 200 && status < 300 || status == 304) {
		return t.other
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.labelled.Load()
	if s, ok := old[bucket]; ok {
		return s
	}
	if len(old) >= bucketLabels {
		return t.other
	}
	m := make(map[string]*bucketSeries, len(old)+1)
	for b, s := range old {
		m[b] = s
	}
	s := t.series(bucket)
	m[bucket] = s
	t.labelled.Store(&m)
	t.full.Store(len(m) >= bucketLabels)
	return s
}

// count counts one read of bucket answered with status and X-Cache result
// i (a cacheResultIndex), which sent sent body bytes from source.
func (t *bucketTable) count(bucket string, status, i int, source byteSource, sent int64) {
	s := t.get(bucket, status)
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
