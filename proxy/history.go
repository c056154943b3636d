package proxy

import (
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The status page's chart covers the last hour in intervals of
// historyInterval: historyLen intervals, between historyLen+1 samples.
const (
	historyInterval = 10 * time.Second
	historyLen      = 360
)

// history keeps the last historyLen+1 samples of the counters, one every
// historyInterval, in a ring. The zero value holds none. It is safe for
// concurrent use.
type history struct {
	mu   sync.Mutex
	ring [historyLen + 1]sample
	n    int // samples held
	next int // where the next one goes
}

// add keeps s, dropping the oldest sample when the ring is full.
func (h *history) add(s sample) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ring[h.next] = s
	h.next = (h.next + 1) % len(h.ring)
	h.n = min(h.n+1, len(h.ring))
}

// samples returns the samples held, oldest first.
func (h *history) samples() []sample {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]sample, 0, h.n)
	for i := range h.n {
		out = append(out, h.ring[(h.next-h.n+i+len(h.ring))%len(h.ring)])
	}
	return out
}

// runHistory samples the counters, and moves bucket labels to the busiest
// buckets (bucketTable.rebalance), every historyInterval until stop is
// closed. Proxy.New starts it; Close stops it and waits for it.
func (p *Proxy) runHistory(stop <-chan struct{}) {
	t := time.NewTicker(historyInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			c := p.gatherCounters()
			p.history.add(c.sample(p.cfg.Now()))
			p.metrics.buckets.rebalance()
		case <-stop:
			return
		}
	}
}

// historyJSON is the chart's data: one column per series, one row per
// interval, oldest first. Rates are per second over the interval.
type historyJSON struct {
	IntervalSeconds float64 `json:"interval_seconds"`
	// End is when each interval ended, in Unix milliseconds; the last one
	// may be the interval in progress, ending now.
	End []int64 `json:"end"`
	// Reads are reads per second by X-Cache result (hit, miss, bypass,
	// stale, revalidated, shared).
	Reads           map[string][]float64 `json:"reads"`
	BackendRequests []float64            `json:"backend_requests"` // answered, per second
	BackendErrors   []float64            `json:"backend_errors"`   // failed without an answer, per second
	// BackendP50 and BackendP99 are the backend's latency to its
	// response headers, in seconds, estimated from the histogram's
	// buckets; null for an interval without backend requests.
	BackendP50    []optFloat `json:"backend_p50_seconds"`
	BackendP99    []optFloat `json:"backend_p99_seconds"`
	RequestsSaved []float64  `json:"backend_requests_saved"` // per second
	BytesSaved    []float64  `json:"backend_bytes_saved"`    // per second
}

// optFloat is a number that is null in JSON when NaN.
type optFloat float64

func (f optFloat) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, float64(f), 'g', 6, 64), nil
}

// historyOf turns consecutive samples into the chart's intervals; now,
// when later than the last sample by a second or more, ends one more
// interval: the one in progress.
func historyOf(samples []sample, now sample) historyJSON {
	if n := len(samples); n > 0 && now.at.Sub(samples[n-1].at) >= time.Second {
		samples = append(samples, now)
	}
	h := historyJSON{IntervalSeconds: historyInterval.Seconds(), End: []int64{}, Reads: map[string][]float64{},
		BackendRequests: []float64{}, BackendErrors: []float64{}, BackendP50: []optFloat{}, BackendP99: []optFloat{},
		RequestsSaved: []float64{}, BytesSaved: []float64{}}
	for _, x := range xCacheResults {
		h.Reads[strings.ToLower(x)] = []float64{}
	}
	for i := 1; i < len(samples); i++ {
		a, b := samples[i-1], samples[i]
		secs := b.at.Sub(a.at).Seconds()
		if secs <= 0 {
			continue
		}
		rate := func(x, y float64) float64 { return max(0, y-x) / secs }
		h.End = append(h.End, b.at.UnixMilli())
		for j, x := range xCacheResults {
			k := strings.ToLower(x)
			h.Reads[k] = append(h.Reads[k], rate(a.reads[j], b.reads[j]))
		}
		h.BackendRequests = append(h.BackendRequests, rate(a.backendRequests, b.backendRequests))
		h.BackendErrors = append(h.BackendErrors, rate(a.backendErrors, b.backendErrors))
		d := b.backendLatency.sub(a.backendLatency)
		h.BackendP50 = append(h.BackendP50, optFloat(d.quantile(0.5)))
		h.BackendP99 = append(h.BackendP99, optFloat(d.quantile(0.99)))
		h.RequestsSaved = append(h.RequestsSaved, rate(a.saved.requestsSaved, b.saved.requestsSaved))
		h.BytesSaved = append(h.BytesSaved, rate(a.saved.bytesSaved, b.saved.bytesSaved))
	}
	return h
}
