package proxy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// roundTripFunc adapts a function to http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// scrape GETs /-/metrics through the handler and returns every sample by
// series: `name{label="value",...}` with labels sorted, histograms as
// name_count and name_sum.
func scrape(t *testing.T, h http.Handler) map[string]float64 {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "http://proxy/-/metrics", nil))
	if w.Code != http.StatusOK {
		t.Fatalf("GET /-/metrics: %d %s", w.Code, w.Body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(w.Body)
	if err != nil {
		t.Fatalf("parsing /-/metrics: %v", err)
	}
	samples := map[string]float64{}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName(), l.GetValue())
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				samples[seriesName(name, labels...)] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				samples[seriesName(name, labels...)] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				samples[seriesName(name+"_count", labels...)] = float64(m.GetHistogram().GetSampleCount())
				samples[seriesName(name+"_sum", labels...)] = m.GetHistogram().GetSampleSum()
			default:
				samples[seriesName(name, labels...)] = m.GetUntyped().GetValue()
			}
		}
	}
	return samples
}

// seriesName renders a series as `name{a="1",b="2"}`, labels sorted by
// name; labels are name, value pairs.
func seriesName(name string, labels ...string) string {
	var pairs []string
	for i := 0; i+1 < len(labels); i += 2 {
		pairs = append(pairs, labels[i]+`="`+labels[i+1]+`"`)
	}
	slices.Sort(pairs)
	return name + "{" + strings.Join(pairs, ",") + "}"
}

// TestMetrics sends a miss, hits through both front ends, a bypass, a
// rate-limited request, two coalesced misses, uploads through both front
// ends and three kinds of backend failure, then scrapes /-/metrics and
// checks that every series of the proxy's request, cache and backend
// metrics holds exactly what those requests make it hold.
func TestMetrics(t *testing.T) {
	fake, backend := newFakeS3(t)
	fake.objects["/bkt/obj"] = []byte("hello world")   // 11 bytes
	fake.objects["/bkt/co"] = []byte("coalesced body") // 14 bytes
	// The first GET of /bkt/co waits in the backend until released.
	entered, released := make(chan struct{}), make(chan struct{})
	var releaseOnce, enterOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(released) }) }
	t.Cleanup(release)
	fake.onGet = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/bkt/co" {
			first := false
			enterOnce.Do(func() { first = true })
			if first {
				close(entered)
				<-released
			}
		}
		return false
	}
	// Backend failures by key, as the transport reports them.
	failures := map[string]error{
		"/bkt/down":   &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED},
		"/bkt/slow":   fmt.Errorf("reading response headers: %w", os.ErrDeadlineExceeded),
		"/bkt/broken": errors.New("malformed HTTP response"),
	}
	base := &http.Transport{}
	t.Cleanup(base.CloseIdleConnections)
	transport := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if err := failures[r.URL.Path]; err != nil {
			return nil, err
		}
		return base.RoundTrip(r)
	})
	// One token per second: every request but the rate-limited one
	// advances the clock by a second first.
	clk := &offsetClock{}
	const maxBytes = 8 << 20
	p, _ := newTestProxy(t, backend, func(c *Config) {
		c.Transport = transport
		c.Now = clk.Now
		c.RateLimit, c.RateBurst = 1, 1
		c.CacheMaxBytes = maxBytes
	})
	sign := func(method, target string, body []byte, header ...string) *http.Request {
		req := httptest.NewRequest(method, "http://proxy"+target, bytes.NewReader(body))
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		sum := sha256.Sum256(body)
		signRequest(t, req, hex.EncodeToString(sum[:]), testSecret)
		return req
	}
	serve := func(req *http.Request) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		p.ServeHTTP(w, req)
		return w
	}
	steps := []struct {
		name, method, target string
		body                 []byte
		header               []string
		limited              bool // sent right after the previous step, without a token
		status               int
		xcache               string
	}{
		{name: "miss", method: "GET", target: "/bkt/obj", status: 200, xcache: xCacheMiss},
		{name: "hit", method: "GET", target: "/bkt/obj", status: 200, xcache: xCacheHit},
		{name: "hit through /objects", method: "GET", target: "/objects/bkt/obj", status: 200, xcache: xCacheHit},
		{name: "bypass", method: "GET", target: "/bkt/obj", header: []string{"Range", "bytes=0-1,3-4"}, status: 200, xcache: "BYPASS; reason=multi-range"},
		{name: "rate-limited", method: "GET", target: "/bkt/obj", limited: true, status: 503},
		{name: "upload", method: "PUT", target: "/bkt/up", body: []byte("new"), status: 200},
		{name: "upload through /objects", method: "PUT", target: "/objects/bkt/up2", body: []byte("newer"), status: 200},
		{name: "backend unreachable", method: "GET", target: "/bkt/down", status: 503},
		{name: "backend timeout", method: "GET", target: "/bkt/slow", status: 504},
		{name: "backend failure on an upload", method: "PUT", target: "/bkt/broken", body: []byte("x"), status: 502},
	}
	for _, s := range steps {
		if !s.limited {
			clk.Advance(time.Second)
		}
		w := serve(sign(s.method, s.target, s.body, s.header...))
		if w.Code != s.status || w.Header().Get("X-Cache") != s.xcache {
			t.Fatalf("%s: %d X-Cache %q, want %d %q: %s", s.name, w.Code, w.Header().Get("X-Cache"), s.status, s.xcache, w.Body)
		}
		p.cache.Wait()
	}

	// Two concurrent misses on /bkt/co: the second joins the first's fill.
	var wg sync.WaitGroup
	results := make([]*httptest.ResponseRecorder, 2)
	for i := range results {
		clk.Advance(time.Second)
		req := sign("GET", "/bkt/co", nil)
		wg.Go(func() { results[i] = serve(req) })
		if i == 0 {
			<-entered
		}
	}
	waitFor(t, "the second miss to join the first's fill", func() bool { return p.flights.joined.Load() == 1 })
	release()
	wg.Wait()
	for i, w := range results {
		if w.Code != 200 || w.Body.String() != "coalesced body" || w.Header().Get("X-Cache") != xCacheMiss {
			t.Errorf("coalesced GET %d: %d %q X-Cache %q, want 200, the body, MISS", i, w.Code, w.Body, w.Header().Get("X-Cache"))
		}
	}
	if n := fake.getCount("/bkt/co"); n != 1 {
		t.Errorf("backend GETs of /bkt/co = %d, want 1", n)
	}
	p.cache.Wait()

	got := scrape(t, p)
	req := func(front, op, code string) string {
		return seriesName("s3cache_requests_total", "frontend", front, "operation", op, "code", code)
	}
	reqDur := func(front, op string) string {
		return seriesName("s3cache_request_duration_seconds_count", "frontend", front, "operation", op)
	}
	be := func(op, code string) string {
		return seriesName("s3cache_backend_requests_total", "operation", op, "code", code)
	}
	beDur := func(op string) string {
		return seriesName("s3cache_backend_request_duration_seconds_count", "operation", op)
	}
	beErr := func(op, kind string) string {
		return seriesName("s3cache_backend_errors_total", "operation", op, "kind", kind)
	}
	cacheReq := func(result string) string { return seriesName("s3cache_cache_requests_total", "result", result) }
	bytesFrom := func(source string) string { return seriesName("s3cache_response_bytes_total", "source", source) }
	want := map[string]float64{
		// miss, hit, bypass, two coalesced misses
		req("s3", "GetObject", "200"):      5,
		req("objects", "GetObject", "200"): 1,
		// rate-limited, backend unreachable
		req("s3", "GetObject", "503"):      2,
		req("s3", "GetObject", "504"):      1,
		req("s3", "PutObject", "200"):      1,
		req("s3", "PutObject", "502"):      1,
		req("objects", "PutObject", "200"): 1,
		reqDur("s3", "GetObject"):          8,
		reqDur("objects", "GetObject"):     1,
		reqDur("s3", "PutObject"):          2,
		reqDur("objects", "PutObject"):     1,

		cacheReq("hit"):         2,
		cacheReq("miss"):        3,
		cacheReq("bypass"):      1,
		cacheReq("stale"):       0,
		cacheReq("revalidated"): 0,
		cacheReq("shared"):      0,
		// Two hits of 11 bytes; a miss and a bypass of 11, two coalesced
		// misses of 14.
		bytesFrom("cache"):   22,
		bytesFrom("backend"): 11 + 11 + 2*14,

		"s3cache_coalesced_waiters_total{}": 1,
		"s3cache_rate_limited_total{}":      1,

		// The miss, the bypass and the coalesced fill; both uploads.
		be("GetObject", "200"):                       3,
		be("PutObject", "200"):                       2,
		beDur("GetObject"):                           3,
		beDur("PutObject"):                           2,
		beErr("GetObject", errorUnreachable):         1,
		beErr("GetObject", errorTimeout):             1,
		beErr("PutObject", brokenMalformed):          1, // not an HTTP answer
		"s3cache_cache_entries{}":                    2,
		"s3cache_cache_max_bytes{}":                  maxBytes,
		"s3cache_cache_evictions_total{}":            0,
		"s3cache_cache_admission_rejections_total{}": 0,
		// CACHE_COMPRESS is off by default.
		"s3cache_cache_compressed_entries{}":      0,
		"s3cache_cache_compression_saved_bytes{}": 0,
	}
	// Every series of these families is in want, and every wanted series
	// is there.
	families := []string{
		"s3cache_requests_total", "s3cache_request_duration_seconds_count",
		"s3cache_cache_requests_total", "s3cache_response_bytes_total",
		"s3cache_backend_requests_total", "s3cache_backend_request_duration_seconds_count",
		"s3cache_backend_errors_total",
	}
	for series, v := range got {
		name, _, _ := strings.Cut(series, "{")
		if _, wanted := want[series]; !wanted && slices.Contains(families, name) {
			t.Errorf("unexpected series %s = %v", series, v)
		}
	}
	for series, w := range want {
		if v, ok := got[series]; !ok || v != w {
			t.Errorf("%s = %v (present: %v), want %v", series, v, ok, w)
		}
	}
	if v := got["s3cache_cache_bytes{}"]; v <= 25 || v > maxBytes {
		t.Errorf("s3cache_cache_bytes = %v, want more than the 25 body bytes held, at most %d", v, maxBytes)
	}
	if v := got[seriesName("s3cache_request_duration_seconds_sum", "frontend", "s3", "operation", "GetObject")]; v <= 0 {
		t.Errorf("request durations sum to %v, want more than 0", v)
	}
	for _, name := range []string{"go_goroutines{}", "process_resident_memory_bytes{}"} {
		if v, ok := got[name]; !ok || v <= 0 {
			t.Errorf("%s = %v (present: %v), want a positive value", name, v, ok)
		}
	}
}

// TestMetricsPerProxy: two proxies in one process count separately.
func TestMetricsPerProxy(t *testing.T) {
	fake, backend := newFakeS3(t)
	fake.objects["/bkt/k"] = []byte("x")
	p1, srv1 := newTestProxy(t, backend, nil)
	p2, _ := newTestProxy(t, backend, nil)
	readBody(t, do(t, "GET", srv1.URL+"/bkt/k", nil, testSecret))
	series := seriesName("s3cache_requests_total", "frontend", "s3", "operation", "GetObject", "code", "200")
	// The request is counted once its handler returned, which may be
	// after the client read the whole body.
	waitFor(t, "the first proxy to count the GET", func() bool { return scrape(t, p1)[series] >= 1 })
	if got := scrape(t, p1)[series]; got != 1 {
		t.Errorf("first proxy: %s = %v, want 1", series, got)
	}
	if got, ok := scrape(t, p2)[series]; ok {
		t.Errorf("second proxy: %s = %v, want absent", series, got)
	}
}

// TestRequestLog checks the per-request line: at INFO the summary, at
// DEBUG the details too, never the query; below INFO nothing.
func TestRequestLog(t *testing.T) {
	fake, backend := newFakeS3(t)
	fake.objects["/bkt/k"] = []byte("0123456789")
	tests := []struct {
		level  slog.Level
		want   []string // regular expressions the line must match
		absent []string // substrings it must not hold
	}{
		{slog.LevelInfo,
			[]string{`level=INFO msg=request method=GET operation=GetObject bucket=bkt key=k status=200 bytes=10 x_cache=MISS duration=\S+ request_id=[0-9a-f]+$`},
			[]string{"remote=", "principal=", "bytes_in=", "frontend=", "X-Amz"}},
		{slog.LevelDebug,
			[]string{`level=INFO msg=request method=GET operation=GetObject bucket=bkt key=k status=200 bytes=10 x_cache=MISS duration=\S+ request_id=[0-9a-f]+ frontend=s3 remote=192\.0\.2\.7:51234 principal=` + testKey + ` bytes_in=0$`},
			[]string{"X-Amz"}},
		{slog.LevelWarn, nil, []string{"msg=request"}},
	}
	for _, tt := range tests {
		t.Run(tt.level.String(), func(t *testing.T) {
			var buf lockedBuffer
			p, _ := newTestProxy(t, backend, func(c *Config) {
				c.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: tt.level}))
			})
			w := serveAs(t, p, "GET", "http://proxy/bkt/k?X-Amz-Expires=60", testKey, testSecret, nil, true)
			if w.Code != 200 {
				t.Fatalf("GET: %d %s", w.Code, w.Body)
			}
			var line string
			for l := range strings.SplitSeq(buf.String(), "\n") {
				if strings.Contains(l, "msg=request ") {
					if line != "" {
						t.Fatalf("two request lines:\n%s", buf.String())
					}
					line = l
				}
			}
			for _, re := range tt.want {
				if !regexp.MustCompile(re).MatchString(line) {
					t.Errorf("request line %q, want it to match %s", line, re)
				}
			}
			for _, s := range tt.absent {
				if strings.Contains(buf.String(), s) {
					t.Errorf("log holds %q:\n%s", s, buf.String())
				}
			}
		})
	}
}

// BenchmarkRequestMetrics measures what counting a finished request costs.
func BenchmarkRequestMetrics(b *testing.B) {
	_, backend := newFakeS3(b)
	p, err := New(Config{Endpoint: backend.Listener.Addr().String(), Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p.metrics.request(frontS3, "GetObject", "bkt", 200, 100*time.Microsecond, xCacheHit, sourceCache, 4096)
		}
	})
}
