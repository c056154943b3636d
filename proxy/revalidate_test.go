package proxy

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// offsetClock is time.Now moved forward by Advance, so that entries expire
// without waiting while signatures (made with time.Now) stay within the
// allowed skew.
type offsetClock struct{ offset atomic.Int64 }

func (c *offsetClock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *offsetClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

func TestRevalidation(t *testing.T) {
	fake, backend := newFakeS3(t)
	fake.objects["/bkt/k"] = []byte("same bytes")
	clk := &offsetClock{}
	p, srv := newTestProxy(t, backend, func(c *Config) { c.CacheTTL = time.Minute; c.Now = clk.Now })

	get := func(wantXCache, wantBody string) {
		t.Helper()
		res := do(t, "GET", srv.URL+"/bkt/k", nil, testSecret)
		if got := readBody(t, res); res.StatusCode != 200 || got != wantBody || res.Header.Get("X-Cache") != wantXCache {
			t.Errorf("GET: %d %q X-Cache %q, want 200 %q %s", res.StatusCode, got, res.Header.Get("X-Cache"), wantBody, wantXCache)
		}
	}
	get(xCacheMiss, "same bytes")
	get(xCacheHit, "same bytes")
	// Expired (TTL 1m) but retained for one more TTL.
	clk.Advance(90 * time.Second)
	get(xCacheRevalidated, "same bytes")
	if got := fake.getCount("/bkt/k"); got != 2 {
		t.Errorf("backend GETs after revalidation = %d, want 2 (fill, conditional GET)", got)
	}
	get(xCacheHit, "same bytes")

	// Changed behind the proxy's back: the conditional GET returns the new
	// object, which replaces the entry.
	fake.mu.Lock()
	fake.objects["/bkt/k"] = []byte("changed directly")
	fake.mu.Unlock()
	clk.Advance(90 * time.Second)
	get(xCacheMiss, "changed directly")
	p.cache.Wait()
	get(xCacheHit, "changed directly")
}

func TestStaleIfError(t *testing.T) {
	tests := []struct {
		name        string
		staleIfErr  time.Duration
		advance     time.Duration
		deleteFirst bool
		wantStatus  int
		wantXCache  string
	}{
		{"within the window", 5 * time.Minute, 2 * time.Minute, false, 200, xCacheStale},
		{"past the window", 5 * time.Minute, 7 * time.Minute, false, 503, xCacheMiss},
		{"off", 0, 2 * time.Minute, false, 503, xCacheMiss},
		{"deleted through the proxy", 5 * time.Minute, 2 * time.Minute, true, 503, xCacheMiss},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, backend := newFakeS3(t)
			fake.objects["/bkt/k"] = []byte("old bytes")
			clk := &offsetClock{}
			_, srv := newTestProxy(t, backend, func(c *Config) {
				c.CacheTTL = time.Minute
				c.CacheStaleIfError = tt.staleIfErr
				c.Now = clk.Now
			})
			readBody(t, do(t, "GET", srv.URL+"/bkt/k", nil, testSecret))
			if tt.deleteFirst {
				do(t, "DELETE", srv.URL+"/bkt/k", nil, testSecret)
			}
			var failing atomic.Bool
			failing.Store(true)
			fake.onGet = func(w http.ResponseWriter, r *http.Request) bool {
				if !failing.Load() {
					return false
				}
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(http.StatusServiceUnavailable)
				w.Write([]byte("<Error><Code>ServiceUnavailable</Code></Error>"))
				return true
			}
			clk.Advance(tt.advance)
			res := do(t, "GET", srv.URL+"/bkt/k", nil, testSecret)
			body := readBody(t, res)
			if res.StatusCode != tt.wantStatus || res.Header.Get("X-Cache") != tt.wantXCache {
				t.Fatalf("GET while the backend fails: %d X-Cache %q, want %d %s", res.StatusCode, res.Header.Get("X-Cache"), tt.wantStatus, tt.wantXCache)
			}
			if tt.wantXCache == xCacheStale {
				if body != "old bytes" || !strings.Contains(res.Header.Get("Warning"), "110") {
					t.Errorf("stale answer: %q Warning %q, want old bytes and a 110 warning", body, res.Header.Get("Warning"))
				}
			} else if !strings.Contains(body, "ServiceUnavailable") {
				t.Errorf("backend error body %q not relayed", body)
			}
		})
	}
}
