package proxy

import (
	"log/slog"
	"math"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// counters are the values of the proxy's metrics that the admin API and
// the status page show, gathered from metrics.status: the collectors
// /-/metrics exports, so what they show and what Prometheus scrapes are
// one set of numbers. The zero value is a proxy that counted nothing.
type counters struct {
	reads            [len(xCacheResults)]float64 // s3cache_cache_requests_total by cacheResultIndex
	requests         float64                     // s3cache_requests_total, every label summed
	backendRequests  float64                     // s3cache_backend_requests_total, summed
	backendErrors    float64                     // s3cache_backend_errors_total, summed
	backendLatency   latencyCounts               // s3cache_backend_request_duration_seconds, every operation
	coalesced        float64                     // s3cache_coalesced_waiters_total
	buckets          map[string]bucketCounts     // by bucket label
	entries, bytes   float64                     // s3cache_cache_entries, s3cache_cache_bytes
	maxBytes         float64                     // s3cache_cache_max_bytes
	evictions        float64                     // s3cache_cache_evictions_total
	rejected         float64                     // s3cache_cache_admission_rejections_total
	cacheBytesSent   float64                     // s3cache_response_bytes_total{source="cache"}
	backendBytesSent float64                     // s3cache_response_bytes_total{source="backend"}
	redis            bool                        // s3cache_redis_up is exported: REDIS_URL is set
	redisUp          bool                        // s3cache_redis_up is 1
}

// latencyCounts are a duration histogram's cumulative counts: one per
// bound of durationBuckets, then the +Inf bucket (every observation).
type latencyCounts [len(durationBuckets) + 1]float64

// bucketCounts are one bucket label's counters (see bucketTable).
type bucketCounts struct {
	reads, readBytes, requestsSaved, bytesSaved float64
}

// sub returns b less an earlier count of the same counters.
func (b bucketCounts) sub(earlier bucketCounts) bucketCounts {
	return bucketCounts{
		reads: max(0, b.reads-earlier.reads), readBytes: max(0, b.readBytes-earlier.readBytes),
		requestsSaved: max(0, b.requestsSaved-earlier.requestsSaved), bytesSaved: max(0, b.bytesSaved-earlier.bytesSaved),
	}
}

// total returns the counts of every bucket summed.
func (c *counters) total() bucketCounts {
	var t bucketCounts
	for _, b := range c.buckets {
		t.reads += b.reads
		t.readBytes += b.readBytes
		t.requestsSaved += b.requestsSaved
		t.bytesSaved += b.bytesSaved
	}
	return t
}

// gatherCounters reads the counters from the collectors of the metrics.
// A collector that fails is logged, and what was gathered is used.
func (p *Proxy) gatherCounters() counters {
	families, err := p.metrics.status.Gather()
	if err != nil {
		p.log.Warn("status: gathering the metrics", slog.Any("err", err))
	}
	return countersOf(families)
}

// countersOf reads counters from gathered metric families.
func countersOf(families []*dto.MetricFamily) counters {
	c := counters{buckets: map[string]bucketCounts{}}
	for _, f := range families {
		name := f.GetName()
		for _, m := range f.GetMetric() {
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue() + m.GetUntyped().GetValue()
			switch name {
			case "s3cache_cache_requests_total":
				for i, x := range xCacheResults {
					if labelValue(m, "result") == strings.ToLower(x) {
						c.reads[i] = v
					}
				}
			case "s3cache_requests_total":
				c.requests += v
			case "s3cache_backend_requests_total":
				c.backendRequests += v
			case "s3cache_backend_errors_total":
				c.backendErrors += v
			case "s3cache_backend_request_duration_seconds":
				c.backendLatency.add(m.GetHistogram())
			case "s3cache_redis_up":
				c.redis, c.redisUp = true, v == 1
			case "s3cache_coalesced_waiters_total":
				c.coalesced = v
			case "s3cache_cache_entries":
				c.entries = v
			case "s3cache_cache_bytes":
				c.bytes = v
			case "s3cache_cache_max_bytes":
				c.maxBytes = v
			case "s3cache_cache_evictions_total":
				c.evictions = v
			case "s3cache_cache_admission_rejections_total":
				c.rejected = v
			case "s3cache_response_bytes_total":
				switch labelValue(m, "source") {
				case "cache":
					c.cacheBytesSent = v
				case "backend":
					c.backendBytesSent = v
				}
			case "s3cache_reads_total", "s3cache_read_bytes_total", "s3cache_backend_requests_saved_total", "s3cache_backend_bytes_saved_total":
				bucket := labelValue(m, "bucket")
				b := c.buckets[bucket]
				switch name {
				case "s3cache_reads_total":
					b.reads = v
				case "s3cache_read_bytes_total":
					b.readBytes = v
				case "s3cache_backend_requests_saved_total":
					b.requestsSaved = v
				default:
					b.bytesSaved = v
				}
				c.buckets[bucket] = b
			}
		}
	}
	return c
}

// labelValue returns the value of m's label name, or "".
func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// add adds the cumulative counts of h, a histogram with durationBuckets'
// bounds.
func (lc *latencyCounts) add(h *dto.Histogram) {
	for _, b := range h.GetBucket() {
		for i, bound := range durationBuckets {
			if b.GetUpperBound() == bound {
				lc[i] += float64(b.GetCumulativeCount())
			}
		}
	}
	lc[len(durationBuckets)] += float64(h.GetSampleCount())
}

// sub returns lc less an earlier count of the same histogram.
func (lc latencyCounts) sub(earlier latencyCounts) latencyCounts {
	for i := range lc {
		lc[i] = max(0, lc[i]-earlier[i])
	}
	return lc
}

// quantile estimates the q-quantile, in seconds, of the observations
// counted, as Prometheus's histogram_quantile does: linear interpolation
// within the bucket that holds it (from 0 in the first), and the highest
// finite bound when it is in the +Inf bucket. NaN without observations.
func (lc latencyCounts) quantile(q float64) float64 {
	total := lc[len(durationBuckets)]
	if total <= 0 {
		return math.NaN()
	}
	rank := q * total
	for i, bound := range durationBuckets {
		if lc[i] < rank {
			continue
		}
		lower, below := 0.0, 0.0
		if i > 0 {
			lower, below = durationBuckets[i-1], lc[i-1]
		}
		if lc[i] == below {
			return bound
		}
		return lower + (bound-lower)*(rank-below)/(lc[i]-below)
	}
	return durationBuckets[len(durationBuckets)-1]
}

// sample is what the status page's chart keeps of the counters for one
// moment.
type sample struct {
	at              time.Time
	reads           [len(xCacheResults)]float64
	backendRequests float64
	backendErrors   float64
	backendLatency  latencyCounts
	saved           bucketCounts // every bucket summed
}

// sample returns the part of c the chart keeps, taken at.
func (c *counters) sample(at time.Time) sample {
	return sample{
		at: at, reads: c.reads, backendRequests: c.backendRequests, backendErrors: c.backendErrors,
		backendLatency: c.backendLatency, saved: c.total(),
	}
}
