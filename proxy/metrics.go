package proxy

import (
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/s3cache/s3cache/cache"
	"github.com/s3cache/s3cache/proxy/internal/s3api"
)

// durationBuckets are the upper bounds, in seconds, of the request
// duration histograms: from a cache hit (about 100 µs) to a backend that
// takes the whole default BACKEND_TIMEOUT (30 s).
var durationBuckets = [...]float64{
	.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05,
	.1, .25, .5, 1, 2.5, 5, 10, 30,
}

// statusText holds the decimal text of the status codes below 600, so a
// code label costs no formatting.
var statusText = func() (t [600]string) {
	for c := range t {
		t[c] = strconv.Itoa(c)
	}
	return t
}()

// opNames lists every operation name a request can be classified as
// (s3api.Classify, objectsOperation), "Unknown" included; opIndex is the
// position of each in opNames.
var opNames, opIndex = func() ([]string, map[string]int) {
	names := append(s3api.OperationNames(), opUnknown)
	index := make(map[string]int, len(names))
	for i, n := range names {
		index[n] = i
	}
	return names, index
}()

// opUnknown is the operation label of requests the table does not know,
// and of those refused before they were classified.
const opUnknown = "Unknown"

// opPosition returns the position of an operation name in opNames; a name
// not in it is "Unknown".
func opPosition(name string) int {
	if i, ok := opIndex[name]; ok {
		return i
	}
	return opIndex[opUnknown]
}

// frontLabels are the values of the frontend label, by frontEnd.
var frontLabels = [...]string{frontS3: "s3", frontObjects: "objects"}

// byteSource says where the body bytes of a response came from, for
// s3cache_response_bytes_total. The zero value is sourceNone.
type byteSource uint8

const (
	sourceNone    byteSource = iota // written by the proxy itself (errors), or nothing
	sourceCache                     // a cache entry
	sourceBackend                   // relayed from the backend: misses and pass-through
)

// metrics are the Prometheus metrics of one Proxy, in a registry of its
// own, so that several proxies in one process do not collide. Every child
// a request touches is resolved once and kept (series), so counting a
// request allocates nothing. The zero value is not usable; build one with
// newMetrics. It is safe for concurrent use.
type metrics struct {
	reg        *prometheus.Registry
	collectors []prometheus.Collector // everything in reg
	// status holds the same collectors as reg but the Go runtime's and
	// the process's: what the status page and the admin API read, so
	// that they show what /-/metrics exports.
	status *prometheus.Registry
	log    *slog.Logger

	requests       [len(frontLabels)]seriesTable // by front end, then operation
	backend        seriesTable                   // by operation
	backendErrors  *prometheus.CounterVec        // operation, kind
	backendRetries *prometheus.CounterVec        // operation
	cacheResults   [6]prometheus.Counter         // by cacheResultIndex
	buckets        bucketTable                   // reads and savings by bucket
	cacheBytes     prometheus.Counter
	backendBytes   prometheus.Counter
	rateLimited    prometheus.Counter
	warmObjects    prometheus.Counter // objects stored by warm jobs
	warmBytes      prometheus.Counter // body bytes stored by warm jobs
}

// Kinds of backend errors (the kind label), as backendError maps them;
// a broken connection is counted by its reason (brokenAborted,
// brokenReset, brokenEOF, brokenMalformed), and answers 502 BadGateway.
const (
	errorUnreachable = "unreachable" // 503 ServiceUnavailable
	errorTimeout     = "timeout"     // 504 GatewayTimeout
	errorOther       = "other"       // 502 BadGateway
)

// newMetrics registers the proxy's metrics, the Go runtime's and the
// process's in a new registry. c is read at scrape time for the cache
// gauges, maxBytes is CACHE_MAX_BYTES, joined counts coalesced waiters,
// and log receives errors of scrapes.
func newMetrics(c *cache.Cache, maxBytes int64, joined *atomic.Int64, log *slog.Logger) *metrics {
	m := &metrics{reg: prometheus.NewRegistry(), status: prometheus.NewRegistry(), log: log}
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "s3cache_requests_total",
		Help: "Requests answered, by front end, S3 operation and HTTP status (0: nothing was sent). Ops endpoints under /-/ are not counted.",
	}, []string{"frontend", "operation", "code"})
	durations := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "s3cache_request_duration_seconds",
		Help:    "Time from a request's arrival until its handler returned, by front end and S3 operation.",
		Buckets: durationBuckets[:],
	}, []string{"frontend", "operation"})
	for f := range m.requests {
		m.requests[f].init(requests, durations, frontLabels[f])
	}
	backendRequests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "s3cache_backend_requests_total",
		Help: "Requests to the backend that got a response, by S3 operation and HTTP status.",
	}, []string{"operation", "code"})
	backendDurations := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "s3cache_backend_request_duration_seconds",
		Help:    "Time from sending a request to the backend until its response headers arrived, by S3 operation.",
		Buckets: durationBuckets[:],
	}, []string{"operation"})
	m.backend.init(backendRequests, backendDurations)
	m.backendErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "s3cache_backend_errors_total",
		Help: "Requests to the backend that failed without a response, by S3 operation and kind: unreachable (answered 503), timeout (504), a broken connection (aborted: a 499 answer, reset, eof: closed before the status line, malformed: a status line or header cut short; 502), other (502). Each attempt is counted.",
	}, []string{"operation", "kind"})
	m.backendRetries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "s3cache_backend_retries_total",
		Help: "Idempotent backend requests sent again on a new connection after their connection broke, by S3 operation.",
	}, []string{"operation"})
	cacheRequests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "s3cache_cache_requests_total",
		Help: "GetObject and HeadObject requests by cache outcome, as sent in X-Cache.",
	}, []string{"result"})
	for _, x := range xCacheResults {
		m.cacheResults[cacheResultIndex(x)] = cacheRequests.WithLabelValues(strings.ToLower(x))
	}
	responseBytes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "s3cache_response_bytes_total",
		Help: "Response body bytes sent to clients, by source: cache entries, or relayed from the backend (misses and pass-through).",
	}, []string{"source"})
	m.cacheBytes = responseBytes.WithLabelValues("cache")
	m.backendBytes = responseBytes.WithLabelValues("backend")
	m.rateLimited = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "s3cache_rate_limited_total",
		Help: "Requests refused with 503 SlowDown because their user or client IP was over RATE_LIMIT.",
	})
	m.warmObjects = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "s3cache_warm_objects_total",
		Help: "Objects loaded into the cache by warm jobs (CACHE_WARM, POST /-/admin/warm), already cached ones included.",
	})
	m.warmBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "s3cache_warm_bytes_total",
		Help: "Body bytes warm jobs fetched from the backend and stored in the cache.",
	})
	coalesced := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "s3cache_coalesced_waiters_total",
		Help: "GET misses that joined another request's backend GET instead of sending their own.",
	}, func() float64 { return float64(joined.Load()) })
	m.buckets.init()
	own := append([]prometheus.Collector{
		requests, durations, backendRequests, backendDurations, m.backendErrors, m.backendRetries,
		cacheRequests, responseBytes, m.rateLimited, m.warmObjects, m.warmBytes, coalesced,
		&cacheCollector{c: c, maxBytes: maxBytes},
	}, m.buckets.collectors()...)
	m.status.MustRegister(own...)
	m.collectors = append(own,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.reg.MustRegister(m.collectors...)
	return m
}

// add registers more collectors (those of optional parts, such as Redis).
func (m *metrics) add(cs ...prometheus.Collector) {
	m.collectors = append(m.collectors, cs...)
	m.reg.MustRegister(cs...)
	m.status.MustRegister(cs...)
}

// handler serves the registry in the Prometheus exposition formats.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(m.log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// request counts one finished client request of bucket. xcache is its
// X-Cache value ("" for none), sent how many body bytes it sent, from
// source.
func (m *metrics) request(front frontEnd, op, bucket string, status int, d time.Duration, xcache string, source byteSource, sent int64) {
	m.requests[front].get(opPosition(op)).observe(status, d)
	if i := cacheResultIndex(xcache); i >= 0 {
		m.cacheResults[i].Inc()
		m.buckets.count(bucket, status, i, source, sent)
	}
	switch {
	case sent <= 0:
	case source == sourceCache:
		m.cacheBytes.Add(float64(sent))
	case source == sourceBackend:
		m.backendBytes.Add(float64(sent))
	}
}

// xCacheResults are the X-Cache values of reads, in cacheResultIndex order.
var xCacheResults = [...]string{xCacheHit, xCacheMiss, xCacheBypass, xCacheStale, xCacheRevalidated, xCacheShared}

// Positions of cacheResultIndex: the results that save a backend request.
const (
	hitIndex    = 0
	sharedIndex = 5
)

// cacheResultIndex returns the position of an X-Cache value in
// metrics.cacheResults, or -1 for none.
func cacheResultIndex(xcache string) int {
	switch xcache {
	case xCacheHit:
		return hitIndex
	case xCacheMiss:
		return 1
	case xCacheBypass:
		return 2
	case xCacheStale:
		return 3
	case xCacheRevalidated:
		return 4
	case xCacheShared:
		return sharedIndex
	}
	if strings.HasPrefix(xcache, xCacheBypass) { // "BYPASS; reason=…"
		return 2
	}
	return -1
}

// backendResponse counts one backend response that arrived d after its
// request was sent.
func (m *metrics) backendResponse(op string, status int, d time.Duration) {
	m.backend.get(opPosition(op)).observe(status, d)
}

// backendFailure counts one backend request that failed without a
// response, of the kind backendError gives it.
func (m *metrics) backendFailure(op string, err error) {
	kind := errorOther
	switch backendFailure(err) {
	case s3api.ErrUnavailable:
		kind = errorUnreachable
	case s3api.ErrGatewayTimeout:
		kind = errorTimeout
	default:
		if r := brokenConnReason(err); r != "" {
			kind = r
		}
	}
	m.backendErrors.WithLabelValues(opNames[opPosition(op)], kind).Inc()
}

// backendRetry counts one idempotent backend request sent again after its
// connection broke.
func (m *metrics) backendRetry(op string) {
	m.backendRetries.WithLabelValues(opNames[opPosition(op)]).Inc()
}

// seriesTable resolves, per operation, the children of a request counter
// (labels: prefix, operation, code) and of a duration histogram (prefix,
// operation), each the first time it is used: a table of pointers, so a
// lookup costs one atomic load and no allocation, and only operations
// that were seen appear in the exposition. The zero value is not usable;
// call init.
type seriesTable struct {
	counts    *prometheus.CounterVec
	durations *prometheus.HistogramVec
	prefix    []string                   // label values before the operation
	ops       []atomic.Pointer[opSeries] // by position in opNames
}

func (t *seriesTable) init(counts *prometheus.CounterVec, durations *prometheus.HistogramVec, prefix ...string) {
	t.counts, t.durations, t.prefix = counts, durations, prefix
	t.ops = make([]atomic.Pointer[opSeries], len(opNames))
}

// get returns the series of the operation at position i of opNames.
func (t *seriesTable) get(i int) *opSeries {
	if s := t.ops[i].Load(); s != nil {
		return s
	}
	labels := append(slices.Clip(t.prefix), opNames[i])
	s := &opSeries{counts: t.counts, labels: labels, duration: t.durations.WithLabelValues(labels...)}
	if t.ops[i].CompareAndSwap(nil, s) {
		return s
	}
	return t.ops[i].Load()
}

// opSeries is the request counter of one operation, a child per status
// code resolved on first use, and its duration histogram. Only
// seriesTable.get builds one; it is safe for concurrent use.
type opSeries struct {
	counts   *prometheus.CounterVec
	labels   []string // label values before the code
	duration prometheus.Observer
	codes    [len(statusText)]atomic.Pointer[prometheus.Counter]
}

// observe counts one request answered with status after d.
func (s *opSeries) observe(status int, d time.Duration) {
	s.duration.Observe(d.Seconds())
	s.code(status).Inc()
}

// code returns the counter of status.
func (s *opSeries) code(status int) prometheus.Counter {
	if status < 0 || status >= len(s.codes) {
		return s.counts.WithLabelValues(append(slices.Clip(s.labels), strconv.Itoa(status))...)
	}
	if c := s.codes[status].Load(); c != nil {
		return *c
	}
	c := s.counts.WithLabelValues(append(slices.Clip(s.labels), statusText[status])...)
	s.codes[status].Store(&c) // a racing store keeps the same child
	return c
}

// cacheCollector reports the cache's gauges and counters, read once per
// scrape from cache.Stats. The zero value reports an empty cache of
// 0 bytes at most.
type cacheCollector struct {
	c        *cache.Cache
	maxBytes int64
}

var (
	descCacheEntries = prometheus.NewDesc("s3cache_cache_entries",
		"Entries the cache holds, live or expired and not yet swept.", nil, nil)
	descCacheBytes = prometheus.NewDesc("s3cache_cache_bytes",
		"Bytes the cache holds: bodies, headers and a per-entry overhead.", nil, nil)
	descCacheMaxBytes = prometheus.NewDesc("s3cache_cache_max_bytes",
		"Bytes the cache may hold (CACHE_MAX_BYTES).", nil, nil)
	descCacheEvictions = prometheus.NewDesc("s3cache_cache_evictions_total",
		"Entries removed to make room, or swept because they expired.", nil, nil)
	descCacheRejections = prometheus.NewDesc("s3cache_cache_admission_rejections_total",
		"Fills that were not stored: larger than the cache, refused by its admission policy, or dropped because its write buffer was full.", nil, nil)
	descCacheCompressed = prometheus.NewDesc("s3cache_cache_compressed_entries",
		"Entries the cache holds compressed (CACHE_COMPRESS=zstd).", nil, nil)
	descCacheCompressionSaved = prometheus.NewDesc("s3cache_cache_compression_saved_bytes",
		"Bytes compression saves in the cache: the bodies' length less what their compressed forms hold.", nil, nil)
)

func (cc *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descCacheEntries
	ch <- descCacheBytes
	ch <- descCacheMaxBytes
	ch <- descCacheEvictions
	ch <- descCacheRejections
	ch <- descCacheCompressed
	ch <- descCacheCompressionSaved
}

func (cc *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	s := cc.c.Stats()
	ch <- prometheus.MustNewConstMetric(descCacheEntries, prometheus.GaugeValue, float64(s.Entries))
	ch <- prometheus.MustNewConstMetric(descCacheBytes, prometheus.GaugeValue, float64(s.Bytes))
	ch <- prometheus.MustNewConstMetric(descCacheMaxBytes, prometheus.GaugeValue, float64(cc.maxBytes))
	ch <- prometheus.MustNewConstMetric(descCacheEvictions, prometheus.CounterValue, float64(s.Evictions))
	ch <- prometheus.MustNewConstMetric(descCacheRejections, prometheus.CounterValue, float64(s.Rejected+s.Dropped))
	ch <- prometheus.MustNewConstMetric(descCacheCompressed, prometheus.GaugeValue, float64(s.EncodedEntries))
	ch <- prometheus.MustNewConstMetric(descCacheCompressionSaved, prometheus.GaugeValue, float64(s.EncodedSaved))
}
