package e2e

import (
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// relay is a counting reverse proxy between s3cache and versitygw. It
// streams (no buffering), keeps the Host header so the proxy's signature
// still verifies at versitygw, records every request, and can inject
// faults. It is safe for concurrent use.
type relay struct {
	srv      *httptest.Server
	inflight atomic.Int64
	hang     atomic.Bool   // when set, requests get no answer until the relay closes
	cutPath  atomic.Value  // string: GET 200 bodies for this path are cut halfway
	closing  chan struct{} // closed when the relay shuts down, releasing hung requests

	mu   sync.Mutex
	reqs []relayRecord
}

// relayRecord is one request seen by the relay.
type relayRecord struct {
	Method string
	Path   string // decoded, e.g. "/bucket/a b"
	Query  string // raw query
}

// newRelay starts a relay to the backend at host:port target; it is closed
// when the test ends.
func newRelay(t *testing.T, target string) *relay {
	t.Helper()
	u, err := url.Parse("http://" + target)
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{closing: make(chan struct{})}
	r.cutPath.Store("")
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableCompression = true // relay bytes as they are
	tr.Proxy = nil
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host // signed by the proxy
		},
		Transport:     tr,
		FlushInterval: -1,
		ErrorLog:      log.New(io.Discard, "", 0),
		ModifyResponse: func(resp *http.Response) error {
			if resp.Request.Method == http.MethodGet && resp.StatusCode == http.StatusOK &&
				resp.ContentLength > 1 && resp.Request.URL.Path == r.cutPath.Load().(string) {
				resp.Body = &cutReader{rc: resp.Body, left: resp.ContentLength / 2}
			}
			return nil
		},
	}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.inflight.Add(1)
		defer r.inflight.Add(-1)
		r.mu.Lock()
		r.reqs = append(r.reqs, relayRecord{Method: req.Method, Path: req.URL.Path, Query: req.URL.RawQuery})
		r.mu.Unlock()
		if r.hang.Load() {
			select {
			case <-req.Context().Done():
			case <-r.closing:
			}
			return
		}
		rp.ServeHTTP(w, req)
	}))
	t.Cleanup(func() {
		close(r.closing)
		r.srv.Close()
	})
	return r
}

// Addr returns the relay's host:port, the proxy's S3_ENDPOINT.
func (r *relay) Addr() string { return strings.TrimPrefix(r.srv.URL, "http://") }

// URL returns the relay's base URL.
func (r *relay) URL() string { return r.srv.URL }

// count returns how many requests with method for /bucket/key the backend
// has seen (any query string).
func (r *relay) count(method, bucket, key string) int {
	path := "/" + bucket + "/" + key
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, rec := range r.reqs {
		if rec.Method == method && rec.Path == path {
			n++
		}
	}
	return n
}

// total returns how many requests the backend has seen.
func (r *relay) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reqs)
}

// records returns a copy of what the relay has seen.
func (r *relay) records() []relayRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]relayRecord(nil), r.reqs...)
}

// cutReader passes left bytes, then fails, so that ReverseProxy aborts the
// response mid-body.
type cutReader struct {
	rc   io.ReadCloser
	left int64
}

var errCut = errors.New("relay: body cut on purpose")

func (c *cutReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errCut
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.rc.Read(p)
	c.left -= int64(n)
	return n, err
}

func (c *cutReader) Close() error { return c.rc.Close() }
