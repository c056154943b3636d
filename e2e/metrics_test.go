package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestMetrics PUTs an object, GETs it twice (MISS, then HIT) and checks
// through /-/metrics, scraped over HTTP without credentials, that the hit
// was counted, that its bytes were counted as sent from the cache, that
// the miss made one backend GetObject, and that the Go runtime's and the
// process's metrics are there.
func TestMetrics(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	e := h.endpoint()
	bucket := newBucket(t, e)
	const key = "metrics/object.bin"
	body := randomBytes(t, 48<<10)
	putBytes(t, e, bucket, key, body)

	before := scrapeMetrics(t, e)
	for i, want := range []string{"MISS", "HIT"} {
		g := sdkGet(t, e, bucket, key)
		if g.Status != 200 || len(g.Body) != len(body) {
			t.Fatalf("GET #%d: status %d, %d bytes; want 200 with %d", i+1, g.Status, len(g.Body), len(body))
		}
		wantXCache(t, fmt.Sprintf("GET #%d", i+1), g.Header, want)
	}
	// A request is counted when its handler returns, which may be just
	// after its client read the last byte: wait until both GETs are.
	want := map[string]float64{
		`s3cache_requests_total{code="200",frontend="s3",operation="GetObject"}`: 2,
		`s3cache_cache_requests_total{result="hit"}`:                             1,
		`s3cache_cache_requests_total{result="miss"}`:                            1,
		`s3cache_response_bytes_total{source="cache"}`:                           float64(len(body)),
		`s3cache_response_bytes_total{source="backend"}`:                         float64(len(body)),
		`s3cache_backend_requests_total{code="200",operation="GetObject"}`:       1,
	}
	var after map[string]float64
	err := poll(t.Context(), 10*time.Second, func(context.Context) error {
		after = scrapeMetrics(t, e)
		for series, w := range want {
			if d := after[series] - before[series]; d < w {
				return fmt.Errorf("%s grew by %v, want %v", series, d, w)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for series, w := range want {
		if d := after[series] - before[series]; d != w {
			t.Errorf("%s grew by %v, want %v", series, d, w)
		}
	}
	if n := h.relay.count(http.MethodGet, bucket, key); n != 1 {
		t.Errorf("backend saw %d GETs of the key, want 1", n)
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if v, ok := after[name]; !ok || v <= 0 {
			t.Errorf("%s = %v (present: %v), want a positive value", name, v, ok)
		}
	}
}

// scrapeMetrics GETs /-/metrics from e, unsigned, and returns every
// counter and gauge sample by series: `name{label="value",...}` with
// labels sorted, or the bare name for a series without labels.
func scrapeMetrics(t testing.TB, e endpoint) map[string]float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), cmdTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.URL+"/-/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.client().Do(req)
	if err != nil {
		t.Fatalf("GET /-/metrics: %v", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("GET /-/metrics: %d %s", res.StatusCode, b)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("GET /-/metrics: Content-Type %q, want text/plain", ct)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(res.Body)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("parsing /-/metrics: %v", err)
	}
	samples := map[string]float64{}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			var pairs []string
			for _, l := range m.GetLabel() {
				pairs = append(pairs, l.GetName()+"="+strconv.Quote(l.GetValue()))
			}
			slices.Sort(pairs)
			series := name
			if len(pairs) > 0 {
				series += "{" + strings.Join(pairs, ",") + "}"
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				samples[series] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				samples[series] = m.GetGauge().GetValue()
			}
		}
	}
	return samples
}
