package proxy

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/s3cache/s3cache/sigv4"
)

// statusProxy is a proxy with ADMIN_TOKEN and both prices set, in front of
// an in-process fake S3 (no sockets, so it runs in a synctest bubble).
func statusProxy(t *testing.T, objects map[string][]byte) *Proxy {
	t.Helper()
	fake := &fakeS3{
		t:        t,
		verifier: &sigv4.Verifier{Credentials: sigv4.StaticCredentials{testKey: testSecret}},
		objects:  objects, gets: map[string]int{}, heads: map[string]int{},
	}
	p, err := New(Config{
		Endpoint: "s3.test:9000", AccessKey: testKey, SecretKey: testSecret,
		Logger: discardLogger(), Transport: &handlerTransport{h: fake},
		AdminToken: testAdminToken, SavingsPricePerGB: 0.09, SavingsPricePer1kGet: 0.0004,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// serve sends a request signed with the test key (how "sigv4"), the admin
// token ("bearer") or nothing ("") to p and returns the answer.
func serve(t *testing.T, p *Proxy, how, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, "http://proxy.test"+path, nil)
	switch how {
	case "sigv4":
		signRequest(t, req, emptyPayloadHash, testSecret)
	case "bearer":
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
	}
	w := httptest.NewRecorder()
	p.ServeHTTP(w, req)
	p.cache.Wait()
	return w
}

// TestStatusJSON sends reads of two buckets and of a bucket that does
// not exist over two sampling intervals (in a synctest bubble, so time
// moves only when everything waits), then checks GET /-/status.json: the
// savings in total and by bucket, the money at the configured prices,
// the chart's intervals, and that its figures are those of
// /-/admin/stats and /-/metrics.
func TestStatusJSON(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, c := strings.Repeat("a", 100), strings.Repeat("c", 10)
		p := statusProxy(t, map[string][]byte{"/bk1/a": []byte(a), "/bk2/c": []byte(c)})
		read := func(method, path, want string) *httptest.ResponseRecorder {
			t.Helper()
			w := serve(t, p, "sigv4", method, path)
			if got := w.Header().Get("X-Cache"); got != want {
				t.Fatalf("%s %s: X-Cache %q (status %d %s), want %s", method, path, got, w.Code, w.Body, want)
			}
			return w
		}
		// The first interval: three misses (one of a missing key of a
		// bucket that does not exist), four hits (a HEAD among them).
		read("GET", "/bk1/a", "MISS")
		read("GET", "/bk1/a", "HIT")
		read("GET", "/bk1/a", "HIT")
		read("HEAD", "/bk1/a", "HIT")
		read("GET", "/bk2/c", "MISS")
		read("GET", "/bk2/c", "HIT")
		notFound := read("GET", "/nosuch/x", "MISS").Body.Len() // counted as read bytes
		time.Sleep(historyInterval)
		synctest.Wait()
		// The second: two hits.
		read("GET", "/bk1/a", "HIT")
		read("GET", "/bk1/a", "HIT")
		time.Sleep(historyInterval)
		synctest.Wait()

		w := serve(t, p, "bearer", "GET", statusJSONPath)
		if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("GET %s: %d %s %s", statusJSONPath, w.Code, w.Header().Get("Content-Type"), w.Body)
		}
		var s statusJSON
		if err := json.Unmarshal(w.Body.Bytes(), &s); err != nil {
			t.Fatal(err)
		}
		money := func(bytes, requests float64) *float64 {
			m := bytes/(1<<30)*0.09 + requests/1000*0.0004
			return &m
		}
		wantBuckets := []bucketSavingsJSON{
			{"bk1", savingsJSON{Reads: 6, ReadBytes: 500, RequestsSaved: 5, BytesSaved: 400, RequestHitRatio: 5.0 / 6, ByteHitRatio: 0.8, MoneySaved: money(400, 5)}},
			{"bk2", savingsJSON{Reads: 2, ReadBytes: 20, RequestsSaved: 1, BytesSaved: 10, RequestHitRatio: 0.5, ByteHitRatio: 0.5, MoneySaved: money(10, 1)}},
			{otherBucket, savingsJSON{Reads: 1, ReadBytes: uint64(notFound), MoneySaved: money(0, 0)}},
		}
		if len(s.Buckets) != len(wantBuckets) {
			t.Fatalf("buckets %+v, want %+v", s.Buckets, wantBuckets)
		}
		for i, want := range wantBuckets {
			if got := s.Buckets[i]; !sameSavings(got.savingsJSON, want.savingsJSON) || got.Bucket != want.Bucket {
				t.Errorf("bucket %d: got %+v money %v, want %+v money %v", i, got, *got.MoneySaved, want, *want.MoneySaved)
			}
		}
		wantTotal := savingsJSON{Reads: 9, ReadBytes: 520 + uint64(notFound), RequestsSaved: 6, BytesSaved: 410,
			RequestHitRatio: 6.0 / 9, ByteHitRatio: 410 / float64(520+notFound), MoneySaved: money(410, 6)}
		if !sameSavings(s.Savings, wantTotal) {
			t.Errorf("savings %+v, want %+v", s.Savings, wantTotal)
		}
		if !sameSavings(s.LastHour, wantTotal) {
			t.Errorf("last hour %+v, want %+v (everything happened in it)", s.LastHour, wantTotal)
		}
		if s.Prices == nil || s.Prices.PerGB != 0.09 || s.Prices.Per1kGet != 0.0004 {
			t.Errorf("prices %+v, want 0.09 and 0.0004", s.Prices)
		}
		if s.Reads["hit"] != 6 || s.Reads["miss"] != 3 || s.Redis != "off" || !s.Backend.Ready || s.Backend.Endpoint != "s3.test:9000" {
			t.Errorf("reads %v, redis %q, backend %+v", s.Reads, s.Redis, s.Backend)
		}

		// The chart: two intervals of 10 s, read from the same counters.
		h := s.History
		if len(h.End) != 2 || h.End[1]-h.End[0] != historyInterval.Milliseconds() {
			t.Fatalf("history ends %v, want two intervals %v apart", h.End, historyInterval)
		}
		for _, c := range []struct {
			name      string
			got, want []float64
		}{
			{"hits/s", h.Reads["hit"], []float64{0.4, 0.2}},
			{"misses/s", h.Reads["miss"], []float64{0.3, 0}},
			{"backend requests/s", h.BackendRequests, []float64{0.3, 0}},
			{"requests saved/s", h.RequestsSaved, []float64{0.4, 0.2}},
			{"bytes saved/s", h.BytesSaved, []float64{21, 20}},
		} {
			for i := range c.want {
				if math.Abs(c.got[i]-c.want[i]) > 1e-9 {
					t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
					break
				}
			}
		}
		// Time stands still in the bubble: the three backend requests took
		// 0 s, in the first bucket (up to 100 µs), whose middle is the
		// median; the second interval had none.
		if h.BackendP50[0] != 0.00005 || h.BackendP99[0] != 0.000099 {
			t.Errorf("backend p50 %v, p99 %v, want 50µs and 99µs first", h.BackendP50, h.BackendP99)
		}
		if !strings.Contains(w.Body.String(), `"backend_p50_seconds":[5e-05,null]`) {
			t.Errorf("an interval without backend requests is not null in JSON: %s", w.Body)
		}

		// The admin API shows the same figures.
		var stats adminStatsJSON
		if w := serve(t, p, "bearer", "GET", "/-/admin/stats"); json.Unmarshal(w.Body.Bytes(), &stats) != nil {
			t.Fatalf("GET /-/admin/stats: %d %s", w.Code, w.Body)
		}
		if !sameSavings(stats.Savings, wantTotal) || len(stats.Buckets) != 3 || stats.Hits != 6 || stats.HitRatio != 6.0/9 {
			t.Errorf("admin stats %+v, want the status page's figures", stats)
		}

		// /-/metrics exports them, and the per-bucket series add up to
		// the totals they break down.
		m := scrape(t, p)
		for series, want := range map[string]float64{
			`s3cache_backend_requests_saved_total{bucket="bk1"}`: 5,
			`s3cache_backend_bytes_saved_total{bucket="bk1"}`:    400,
			`s3cache_reads_total{bucket="bk1"}`:                  6,
			`s3cache_read_bytes_total{bucket="bk1"}`:             500,
			`s3cache_backend_requests_saved_total{bucket="bk2"}`: 1,
			`s3cache_backend_bytes_saved_total{bucket="bk2"}`:    10,
			`s3cache_reads_total{bucket="other"}`:                1,
			`s3cache_backend_bytes_saved_total{bucket="other"}`:  0,
		} {
			if m[series] != want {
				t.Errorf("%s = %v, want %v", series, m[series], want)
			}
		}
		sum := func(prefix string) (n float64) {
			for k, v := range m {
				if strings.HasPrefix(k, prefix) {
					n += v
				}
			}
			return n
		}
		for _, c := range []struct {
			what        string
			parts, want float64
		}{
			{"bytes saved, and bytes sent from the cache", sum("s3cache_backend_bytes_saved_total{"), m[`s3cache_response_bytes_total{source="cache"}`]},
			{"reads, and cache requests", sum("s3cache_reads_total{"), sum("s3cache_cache_requests_total{")},
			{"requests saved, and hit and shared reads", sum("s3cache_backend_requests_saved_total{"),
				m[`s3cache_cache_requests_total{result="hit"}`] + m[`s3cache_cache_requests_total{result="shared"}`]},
		} {
			if c.parts != c.want {
				t.Errorf("%s: the buckets add up to %v, want %v", c.what, c.parts, c.want)
			}
		}
	})
}

// sameSavings compares savings, ratios and money to within rounding.
func sameSavings(a, b savingsJSON) bool {
	near := func(x, y float64) bool { return math.Abs(x-y) <= 1e-12*max(1, math.Abs(y)) }
	if (a.MoneySaved == nil) != (b.MoneySaved == nil) || a.MoneySaved != nil && !near(*a.MoneySaved, *b.MoneySaved) {
		return false
	}
	return a.Reads == b.Reads && a.ReadBytes == b.ReadBytes && a.RequestsSaved == b.RequestsSaved &&
		a.BytesSaved == b.BytesSaved && near(a.RequestHitRatio, b.RequestHitRatio) && near(a.ByteHitRatio, b.ByteHitRatio)
}

// TestStatusAuth checks who gets the status page and its JSON twin: the
// page, which holds no figures, is served to anyone with a strict
// Content-Security-Policy; the twin needs the admin token or an admin's
// signature, as the admin API does; only GET and HEAD are answered.
func TestStatusAuth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := statusProxy(t, map[string][]byte{})
		for _, c := range []struct {
			how, method, path string
			wantStatus        int
		}{
			{"", "GET", statusPagePath, 200},
			{"", "HEAD", statusPagePath, 200},
			{"", "GET", statusJSONPath, 403},
			{"sigv4", "GET", statusJSONPath, 200},
			{"bearer", "GET", statusJSONPath, 200},
			{"bearer", "POST", statusJSONPath, 405},
			{"", "POST", statusPagePath, 405},
		} {
			w := serve(t, p, c.how, c.method, c.path)
			if w.Code != c.wantStatus {
				t.Errorf("%s %s (%q): %d %s, want %d", c.method, c.path, c.how, w.Code, w.Body, c.wantStatus)
			}
			if w.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("%s %s: Cache-Control %q, want no-store", c.method, c.path, w.Header().Get("Cache-Control"))
			}
		}
		req := httptest.NewRequest("GET", "http://proxy.test"+statusJSONPath, nil)
		req.Header.Set("Authorization", "Bearer wrong")
		w := httptest.NewRecorder()
		p.ServeHTTP(w, req)
		if w.Code != 403 || !strings.Contains(w.Body.String(), "<Code>AccessDenied</Code>") {
			t.Errorf("a wrong token: %d %s, want 403 AccessDenied", w.Code, w.Body)
		}

		w = serve(t, p, "", "GET", statusPagePath)
		if w.Body.String() != string(statusPage) || w.Header().Get("Content-Type") != "text/html; charset=utf-8" {
			t.Errorf("the page: %s %q", w.Header().Get("Content-Type"), w.Body.String()[:min(80, w.Body.Len())])
		}
		csp := w.Header().Get("Content-Security-Policy")
		_, script, _ := strings.Cut(string(statusPage), "<script>")
		script, _, _ = strings.Cut(script, "</script>")
		sum := sha256.Sum256([]byte(script))
		for _, want := range []string{"default-src 'none'", "script-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'", "connect-src 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
			}
		}
		if strings.Count(string(statusPage), "<script") != 1 || strings.Count(string(statusPage), "<style") != 1 || strings.Contains(string(statusPage), "style=\"") {
			t.Error("status.html must have one inline script, one inline style and no style attributes: the CSP allows only those two")
		}
		for _, external := range []string{"src=\"http", "href=\"http", "@import", "url("} {
			if strings.Contains(string(statusPage), external) {
				t.Errorf("status.html loads something from elsewhere (%q); it must work offline", external)
			}
		}
	})
}

// TestStatusWithoutPrices checks that without prices no money is shown.
func TestStatusWithoutPrices(t *testing.T) {
	_, backend := newFakeS3(t)
	p, srv := newTestProxy(t, backend, func(c *Config) { c.AdminToken = testAdminToken })
	res, body := adminDo(t, "bearer:"+testAdminToken, "GET", srv.URL+statusJSONPath, "")
	if res.StatusCode != 200 || !strings.Contains(body, `"prices":null`) || !strings.Contains(body, `"money_saved":null`) {
		t.Errorf("GET %s without prices: %d %s", statusJSONPath, res.StatusCode, body)
	}
	if s := p.adminStats(); s.Savings.MoneySaved != nil {
		t.Errorf("admin stats money %v, want none", *s.Savings.MoneySaved)
	}
}

// TestBucketLabels checks the bound on the bucket label: the first
// bucketLabels buckets read with success get one, in that order; a
// failed read takes none, nor does a bucket named "other"; the rest are
// counted under "other".
func TestBucketLabels(t *testing.T) {
	var bt bucketTable
	bt.init()
	bt.count("missing", 404, 1, sourceBackend, 100) // no label: it failed
	bt.count(otherBucket, 200, hitIndex, sourceCache, 5)
	for i := range bucketLabels + 5 {
		bt.count("bkt-"+string(rune('a'+i)), 200, hitIndex, sourceCache, 10)
	}
	bt.count("bkt-a", 404, 1, sourceBackend, 7) // labelled already: counted there
	reg := prometheus.NewRegistry()
	reg.MustRegister(bt.collectors()...)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	c := countersOf(families)
	if len(c.buckets) != bucketLabels+1 {
		t.Fatalf("%d bucket labels, want %d and other", len(c.buckets), bucketLabels)
	}
	for i := range bucketLabels + 5 {
		b := "bkt-" + string(rune('a'+i))
		if _, ok := c.buckets[b]; ok != (i < bucketLabels) {
			t.Errorf("%s labelled: %v, want %v", b, ok, i < bucketLabels)
		}
	}
	want := map[string]bucketCounts{
		"bkt-a":     {reads: 2, readBytes: 17, requestsSaved: 1, bytesSaved: 10},
		otherBucket: {reads: 7, readBytes: 155, requestsSaved: 6, bytesSaved: 55},
	}
	for b, w := range want {
		if c.buckets[b] != w {
			t.Errorf("%s: %+v, want %+v", b, c.buckets[b], w)
		}
	}
	for _, f := range families {
		if len(f.GetMetric()) != bucketLabels+1 {
			t.Errorf("%s has %d series, want %d", f.GetName(), len(f.GetMetric()), bucketLabels+1)
		}
	}
}

// TestBucketLabelsFollowTraffic: once every label is taken, a bucket read
// much more than a labelled one takes its label at the next rebalance;
// the bucket that gave it up keeps its series at what it counted, and its
// later reads count under other; no more than bucketLabelsEver labels are
// ever handed out, and a bucket that had one takes its series back.
func TestBucketLabelsFollowTraffic(t *testing.T) {
	var bt bucketTable
	bt.init()
	reg := prometheus.NewRegistry()
	reg.MustRegister(bt.collectors()...)
	reads := func() map[string]bucketCounts {
		t.Helper()
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		return countersOf(families).buckets
	}
	read := func(bucket string, n int) {
		for range n {
			bt.count(bucket, 200, hitIndex, sourceCache, 1)
		}
	}
	for i := range bucketLabels {
		read(fmt.Sprintf("quiet-%02d", i), 1+i) // quiet-00 is read least
	}
	bt.rebalance()
	read("hot", 50*candidateSample)
	read("quiet-00", 1) // one read since the last rebalance: the least of all
	for i := 1; i < bucketLabels; i++ {
		read(fmt.Sprintf("quiet-%02d", i), 2)
	}
	if _, ok := reads()["hot"]; ok {
		t.Fatal("hot labelled before a rebalance")
	}
	bt.rebalance()
	read("hot", 3)
	read("quiet-00", 4)
	c := reads()
	if got := c["hot"].reads; got != 3 {
		t.Errorf("hot after taking a label: %v reads under its label, want 3", got)
	}
	if got := c["quiet-00"].reads; got != 2 {
		t.Errorf("quiet-00 after giving its label up: %v reads, want the 2 it had", got)
	}
	if got, want := c[otherBucket].reads, float64(50*candidateSample+4); got != want {
		t.Errorf("other: %v reads, want %v (hot's before its label, quiet-00's after)", got, want)
	}

	// Labels change hands until bucketLabelsEver were handed out.
	for round := range 2 * bucketLabels {
		bt.rebalance()
		read(fmt.Sprintf("new-%02d", round), 10*candidateSample)
		bt.rebalance()
	}
	if got := len(reads()); got != bucketLabelsEver+1 {
		t.Errorf("%d bucket labels after many changes, want %d and other", got, bucketLabelsEver)
	}
	// quiet-00 had a label: it may take it back, at no cost.
	bt.rebalance()
	read("quiet-00", 10*candidateSample)
	bt.rebalance()
	read("quiet-00", 1)
	if got := reads()["quiet-00"].reads; got != 3 {
		t.Errorf("quiet-00 taking its label back: %v reads under it, want 3", got)
	}
	if got := len(reads()); got != bucketLabelsEver+1 {
		t.Errorf("%d bucket labels, want %d and other", got, bucketLabelsEver)
	}
}

// TestLatencyQuantile checks the estimate against histogram_quantile's
// rules on known bucket counts.
func TestLatencyQuantile(t *testing.T) {
	counts := func(per map[float64]float64) latencyCounts {
		var lc latencyCounts
		var cum float64
		for i, b := range durationBuckets {
			cum += per[b]
			lc[i] = cum
		}
		lc[len(durationBuckets)] = cum + per[math.Inf(1)]
		return lc
	}
	for _, c := range []struct {
		name string
		per  map[float64]float64 // observations by upper bound
		q    float64
		want float64
	}{
		{"none", nil, 0.5, math.NaN()},
		{"all in one bucket: its middle", map[float64]float64{0.01: 10}, 0.5, 0.0075},
		{"first bucket interpolates from 0", map[float64]float64{0.0001: 4}, 0.5, 0.00005},
		{"p99 in the slow tail", map[float64]float64{0.005: 98, 1: 2}, 0.99, 0.75},
		{"p50 among the fast", map[float64]float64{0.005: 98, 1: 2}, 0.5, 0.0025 + 0.0025*(50.0/98)},
		{"beyond the last bound", map[float64]float64{0.001: 1, math.Inf(1): 9}, 0.99, 30},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := counts(c.per).quantile(c.q)
			if math.IsNaN(c.want) != math.IsNaN(got) || !math.IsNaN(c.want) && math.Abs(got-c.want) > 1e-12 {
				t.Errorf("quantile(%v) = %v, want %v", c.q, got, c.want)
			}
		})
	}
}

// TestHistoryRing checks that the ring keeps the last historyLen+1
// samples, oldest first, and that an interval in progress is shown only
// once a second of it passed.
func TestHistoryRing(t *testing.T) {
	var h history
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(i int) sample {
		s := sample{at: t0.Add(time.Duration(i) * historyInterval)}
		s.reads[hitIndex] = float64(10 * i)
		return s
	}
	for i := range historyLen + 50 {
		h.add(at(i))
	}
	got := h.samples()
	if len(got) != historyLen+1 || !got[0].at.Equal(at(49).at) || !got[historyLen].at.Equal(at(historyLen+49).at) {
		t.Fatalf("%d samples from %v to %v, want %d from %v", len(got), got[0].at, got[len(got)-1].at, historyLen+1, at(49).at)
	}
	last := got[len(got)-1]
	for _, c := range []struct {
		name   string
		after  time.Duration
		points int
	}{
		{"at the sample", 0, historyLen},
		{"under a second later", 999 * time.Millisecond, historyLen},
		{"a second later", time.Second, historyLen + 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			now := last
			now.at = last.at.Add(c.after)
			now.reads[hitIndex] += 5
			hj := historyOf(got, now)
			if len(hj.End) != c.points {
				t.Fatalf("%d points, want %d", len(hj.End), c.points)
			}
			if r := hj.Reads["hit"][0]; r != 1 {
				t.Errorf("hit rate %v, want 1/s (10 reads in 10 s)", r)
			}
			if c.points > historyLen {
				if r := hj.Reads["hit"][c.points-1]; r != 5 {
					t.Errorf("hit rate of the interval in progress %v, want 5/s", r)
				}
			}
		})
	}
}

// TestPrices checks the money computation: GB of 2^30 bytes, GETs by the
// thousand.
func TestPrices(t *testing.T) {
	for _, c := range []struct {
		pr              prices
		bytes, requests float64
		want            float64
		valid           bool
	}{
		{prices{PerGB: 0.09}, 1 << 30, 1e6, 0.09, true},
		{prices{Per1kGet: 0.0004}, 1 << 30, 1e6, 0.4, true},
		{prices{PerGB: 0.09, Per1kGet: 0.0004}, 10 << 30, 2500, 0.9 + 0.001, true},
		{prices{}, 1 << 40, 1e9, 0, true},
		{prices{PerGB: -1}, 0, 0, 0, false},
		{prices{Per1kGet: math.Inf(1)}, 0, 0, 0, false},
		{prices{PerGB: math.NaN()}, 0, 0, 0, false},
	} {
		if c.pr.valid() != c.valid {
			t.Errorf("%+v valid: %v, want %v", c.pr, c.pr.valid(), c.valid)
			continue
		}
		if got := c.pr.saved(c.bytes, c.requests); c.valid && math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%+v saved(%v bytes, %v requests) = %v, want %v", c.pr, c.bytes, c.requests, got, c.want)
		}
	}
	if err := (Config{SavingsPricePerGB: -0.5}).Validate(); err == nil || !strings.Contains(err.Error(), "savings prices") {
		t.Errorf("Validate with a negative price: %v", err)
	}
}

// TestHistorySampler checks that the proxy samples its counters every
// historyInterval on its own, and stops when closed.
func TestHistorySampler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := statusProxy(t, map[string][]byte{})
		if n := len(p.history.samples()); n != 1 {
			t.Fatalf("%d samples at the start, want 1", n)
		}
		time.Sleep(5 * historyInterval)
		synctest.Wait()
		if n := len(p.history.samples()); n != 6 {
			t.Errorf("%d samples after 5 intervals, want 6", n)
		}
	})
}
