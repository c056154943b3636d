package proxy

import (
	"bufio"
	"bytes"

	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawPUT writes a signed PUT of body to path on a connection of its own
// and returns the connection, with the whole request sent.
func rawPUT(t *testing.T, srvURL, path string, body []byte) net.Conn {
	t.Helper()
	req, _ := http.NewRequest("PUT", srvURL+path, bytes.NewReader(body))
	signRequest(t, req, "UNSIGNED-PAYLOAD", testSecret)
	conn, err := net.Dial("tcp", strings.TrimPrefix(srvURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	return conn
}

// getBody GETs path through the proxy and returns the body and X-Cache.
func getBody(t *testing.T, srvURL, path string) (string, string) {
	t.Helper()
	res := do(t, "GET", srvURL+path, nil, testSecret)
	return readBody(t, res), res.Header.Get("X-Cache")
}

// TestWriteFenceOutlivesClient: a client that sends a whole PUT and
// leaves does not end the write's fence: while the backend has not
// answered, a read of the key stores nothing, and once it has, reads get
// the new object, not the old one cached in the meantime.
func TestWriteFenceOutlivesClient(t *testing.T) {
	fake, backend := newFakeS3(t)
	fake.objects["/bkt/k"] = []byte("old")
	entered, release := make(chan struct{}), make(chan struct{})
	fake.onPut = func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
	}
	var once sync.Once
	releaseBackend := func() { once.Do(func() { close(release) }) }
	t.Cleanup(releaseBackend) // a failed test leaves no handler waiting
	p, srv := newTestProxy(t, backend, nil)
	if body, _ := getBody(t, srv.URL, "/bkt/k"); body != "old" {
		t.Fatalf("first GET: %q", body)
	}
	conn := rawPUT(t, srv.URL, "/bkt/k", []byte("new"))
	<-entered
	conn.Close() // the client leaves; the backend has the whole body
	for i := range 3 {
		body, xc := getBody(t, srv.URL, "/bkt/k")
		p.cache.Wait() // a fill that was stored shows as a hit next time
		if body != "old" || xc == xCacheHit {
			t.Fatalf("GET %d while the PUT is in flight: %q, X-Cache %s; want the backend's old bytes, not from the cache", i, body, xc)
		}
	}
	releaseBackend()
	deadline := time.Now().Add(5 * time.Second)
	for {
		body, _ := getBody(t, srv.URL, "/bkt/k")
		if body == "new" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GETs still return %q after the backend stored the new object", body)
		}
	}
	// The GETs that saw the new object may have raced the write's end
	// (the client left, so nothing says when the proxy took the
	// backend's answer): once it ended, a GET fills the cache and the
	// next one is a hit of the new object, never of the old.
	for {
		getBody(t, srv.URL, "/bkt/k")
		p.cache.Wait()
		body, xc := getBody(t, srv.URL, "/bkt/k")
		if body != "new" {
			t.Fatalf("GET after the write: %q, X-Cache %s; want the new object", body, xc)
		}
		if xc == xCacheHit {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GETs after the write are still %s, not hits of the new object", xc)
		}
	}
}

// TestHalfClosedWriteGetsTheBackendsAnswer: a client that sends its whole
// PUT and half-closes its side gets the backend's answer, not an empty
// 200 from a handler that gave up.
func TestHalfClosedWriteGetsTheBackendsAnswer(t *testing.T) {
	fake, backend := newFakeS3(t)
	entered, release := make(chan struct{}), make(chan struct{})
	fake.onPut = func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, "<Error><Code>AccessDenied</Code></Error>")
	}
	var once sync.Once
	releaseBackend := func() { once.Do(func() { close(release) }) }
	t.Cleanup(releaseBackend)
	_, srv := newTestProxy(t, backend, nil)
	conn := rawPUT(t, srv.URL, "/bkt/k", []byte("new"))
	<-entered
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	releaseBackend()
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer after a half-close: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "AccessDenied") {
		t.Errorf("after a half-close: %d %q, want the backend's 403 AccessDenied", res.StatusCode, body)
	}
}

// TestUnknownWriteOutcomeKeepsKeyUncached: a PUT whose whole body reached
// a backend that then did not answer in time may still be committed: its
// client gets 504, and the key is not cached while that could happen.
func TestUnknownWriteOutcomeKeepsKeyUncached(t *testing.T) {
	fake, backend := newFakeS3(t)
	fake.objects["/bkt/k"] = []byte("old")
	release := make(chan struct{})
	fake.onPut = func(w http.ResponseWriter, r *http.Request) { <-release }
	t.Cleanup(func() { close(release) })
	_, srv := newTestProxy(t, backend, func(c *Config) { c.BackendTimeout = 300 * time.Millisecond })
	res := do(t, "PUT", srv.URL+"/bkt/k", []byte("new"), testSecret)
	if res.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("PUT to a backend that does not answer: %d, want 504", res.StatusCode)
	}
	before := fake.getCount("/bkt/k")
	for i := range 3 {
		if body, xc := getBody(t, srv.URL, "/bkt/k"); xc == xCacheHit {
			t.Fatalf("GET %d after a write of unknown outcome: a hit of %q", i, body)
		}
	}
	if n := fake.getCount("/bkt/k") - before; n != 3 {
		t.Errorf("the backend saw %d GETs of the key for 3 reads, want 3: nothing may be cached", n)
	}
}
