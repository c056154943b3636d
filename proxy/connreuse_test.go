package proxy

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// TestBackendConnectionsReused sends sequential requests that reach the
// backend — relayed reads (bypass), cache fills and uploads — and checks
// they share kept-alive backend connections instead of dialling anew.
func TestBackendConnectionsReused(t *testing.T) {
	fake, _ := newFakeS3(t)
	var dials atomic.Int64
	backend := httptest.NewUnstartedServer(fake)
	backend.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dials.Add(1)
		}
	}
	backend.Start()
	t.Cleanup(backend.Close)
	fake.objects["/bkt/k"] = []byte("0123456789")
	p, srv := newTestProxy(t, backend, nil)
	const n = 40
	for i := range n {
		// A relayed read, a fill of a new key, and an upload.
		if res := do(t, "GET", srv.URL+"/bkt/k?partNumber=1", nil, testSecret); !strings.HasPrefix(res.Header.Get("X-Cache"), xCacheBypass) {
			t.Fatalf("X-Cache %q, want BYPASS", res.Header.Get("X-Cache"))
		}
		key := "/bkt/fill-" + strconv.Itoa(i)
		fake.mu.Lock()
		fake.objects[key] = []byte("body")
		fake.mu.Unlock()
		if res := do(t, "GET", srv.URL+key, nil, testSecret); res.Header.Get("X-Cache") != xCacheMiss {
			t.Fatalf("X-Cache %q, want MISS", res.Header.Get("X-Cache"))
		}
		if res := do(t, "PUT", srv.URL+"/bkt/up", []byte("data"), testSecret); res.StatusCode != 200 {
			t.Fatalf("PUT: %d", res.StatusCode)
		}
	}
	p.cache.Wait()
	// A few dials are fine (a fill runs on its own goroutine and may
	// overlap the next request); one per request is the bug.
	if d := dials.Load(); d > 6 {
		t.Errorf("%d backend connections for %d sequential requests, want them reused", d, 3*n)
	}
}
