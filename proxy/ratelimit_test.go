package proxy

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestRateLimit runs the proxy with a limit of one request per 10 s and
// bursts of 2: each user, and each anonymous client IP, gets two
// requests, then 503 SlowDown with Retry-After until the clock has moved
// on; refused requests never reach the cache or the backend; the ops
// endpoints are not limited.
func TestRateLimit(t *testing.T) {
	fake, backend := newFakeS3(t)
	fake.objects["/photos/a"] = []byte("alice's")
	fake.objects["/public/p"] = []byte("public")
	clk := &offsetClock{}
	p, srv := newTestProxy(t, backend, func(c *Config) {
		c.Auth = testAuth(t)
		c.Now = clk.Now
		c.RateLimit = 0.1
		c.RateBurst = 2
	})
	get := func(access, secret string) *http.Response {
		return doAs(t, "GET", srv.URL+"/photos/a", access, secret, nil, nil)
	}
	wantSlowDown := func(t *testing.T, what string, res *http.Response) {
		t.Helper()
		body := readBody(t, res)
		if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "<Code>SlowDown</Code>") ||
			res.Header.Get("Content-Type") != "application/xml" || res.Header.Get("X-Amz-Request-Id") == "" {
			t.Errorf("%s: %d %q %q, want 503 SlowDown (S3 XML)", what, res.StatusCode, res.Header.Get("Content-Type"), body)
		}
		if got := res.Header.Get("Retry-After"); got != "10" && got != "9" {
			t.Errorf("%s: Retry-After %q, want 10 (or 9 on a slow machine)", what, got)
		}
		if res.Header.Get("X-Cache") != "" {
			t.Errorf("%s: X-Cache %q: the cache was asked", what, res.Header.Get("X-Cache"))
		}
	}

	for i, want := range []string{"MISS", "HIT"} {
		res := get("alice", "alice-secret")
		// The whole body, so the miss has filled the cache (a request sent
		// after only the headers would join the fill: MISS again).
		body := readBody(t, res)
		if res.StatusCode != 200 || res.Header.Get("X-Cache") != want || body != "alice's" {
			t.Fatalf("alice GET %d: %d %s %q, want 200 %s", i+1, res.StatusCode, res.Header.Get("X-Cache"), body, want)
		}
	}
	gets := fake.getCount("/photos/a")
	wantSlowDown(t, "alice GET 3 (a hit if allowed)", get("alice", "alice-secret"))
	wantSlowDown(t, "alice PUT", doAs(t, "PUT", srv.URL+"/photos/b", "alice", "alice-secret", []byte("x"), nil))
	// carol, who may read photos, is not slowed down by alice.
	for i := range 2 {
		if res := get("carol", "carol-secret"); res.StatusCode != 200 {
			t.Errorf("carol GET %d: %d, want 200", i+1, res.StatusCode)
		}
	}
	wantSlowDown(t, "carol GET 3", get("carol", "carol-secret"))
	// Limited before authorization: bob's denied requests use up his tokens.
	for i := range 2 {
		if res := get("bob", "bob-secret"); res.StatusCode != http.StatusForbidden {
			t.Errorf("bob GET %d: %d, want 403", i+1, res.StatusCode)
		}
	}
	wantSlowDown(t, "bob GET 3", get("bob", "bob-secret"))
	// A bad signature is not a principal: refused by authentication, not limited.
	for i := range 3 {
		if res := doAs(t, "GET", srv.URL+"/photos/a", "alice", "wrong", nil, nil); res.StatusCode != http.StatusForbidden {
			t.Errorf("forged GET %d: %d, want 403", i+1, res.StatusCode)
		}
	}

	// Anonymous requests are limited per client IP (RemoteAddr), whatever
	// X-Forwarded-For says.
	anon := func(ip, xff string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "http://proxy/public/p", nil)
		r.RemoteAddr = ip + ":40000"
		if xff != "" {
			r.Header.Set("X-Forwarded-For", xff)
		}
		w := httptest.NewRecorder()
		p.ServeHTTP(w, r)
		return w
	}
	for i, xff := range []string{"", "203.0.113.1"} {
		if w := anon("192.0.2.1", xff); w.Code != 200 {
			t.Errorf("anonymous GET %d from 192.0.2.1: %d, want 200", i+1, w.Code)
		}
	}
	if w := anon("192.0.2.1", "203.0.113.2"); w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Errorf("anonymous GET 3 from 192.0.2.1: %d, Retry-After %q; want 503 with Retry-After", w.Code, w.Header().Get("Retry-After"))
	}
	if w := anon("192.0.2.2", ""); w.Code != 200 {
		t.Errorf("anonymous GET from 192.0.2.2: %d, want 200 (its own bucket)", w.Code)
	}
	if w := anon("2001:db8::1", ""); w.Code != 200 {
		t.Errorf("anonymous GET from 2001:db8::1: %d, want 200", w.Code)
	}

	for i := range 5 {
		if res := doAs(t, "GET", srv.URL+"/-/healthz", "", "", nil, nil); res.StatusCode != 200 {
			t.Errorf("healthz %d: %d, want 200 (ops endpoints are not limited)", i+1, res.StatusCode)
		}
	}
	if got := fake.getCount("/photos/a") - gets; got != 0 {
		t.Errorf("the backend saw %d GETs of /photos/a after the fill, want 0 (carol's were hits; the rest refused)", got)
	}
	if _, ok := fake.objects["/photos/b"]; ok {
		t.Error("the refused PUT reached the backend")
	}

	clk.Advance(10 * time.Second)
	if res := get("alice", "alice-secret"); res.StatusCode != 200 {
		t.Errorf("alice GET 10s later: %d, want 200 (one token refilled)", res.StatusCode)
	}
	wantSlowDown(t, "alice GET 10s later, again", get("alice", "alice-secret"))
}

func TestRateLimitConfig(t *testing.T) {
	for _, tc := range []struct {
		limit     float64
		burst     int
		wantBurst int
		wantErr   bool
	}{
		{0, 0, 0, false},
		{0.5, 0, 1, false},
		{5, 0, 5, false},
		{2.5, 0, 3, false},
		{5, 20, 20, false},
		{-1, 0, 0, true},
		{1, -1, 0, true},
	} {
		c := Config{RateLimit: tc.limit, RateBurst: tc.burst}
		if err := c.Validate(); (err != nil) != tc.wantErr {
			t.Errorf("limit %v burst %d: Validate = %v, want error %v", tc.limit, tc.burst, err, tc.wantErr)
			continue
		}
		if got := c.withDefaults().RateBurst; !tc.wantErr && got != tc.wantBurst {
			t.Errorf("limit %v burst %d: burst %d, want %d", tc.limit, tc.burst, got, tc.wantBurst)
		}
	}
}
