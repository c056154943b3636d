package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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
// still verifies at versitygw, records every request with the body bytes
// of its answer, and can inject faults. Put in front of a proxy instead,
// it records what clients ask. It is safe for concurrent use.
type relay struct {
	srv      *httptest.Server
	inflight atomic.Int64
	hang     atomic.Bool   // when set, requests get no answer until the relay closes
	cutPath  atomic.Value  // string: GET 200 bodies for this path are cut halfway
	closing  chan struct{} // closed when the relay shuts down, releasing hung requests

	held atomic.Pointer[relayHold] // set by holdGETs
	fail sync.Map                  // path → struct{}: GETs answered 503 (failGETs)

	mu   sync.Mutex
	reqs []relayRecord
}

// relayRecord is one request seen by the relay.
type relayRecord struct {
	Method string
	Path   string      // decoded, e.g. "/bucket/a b"
	Query  string      // raw query
	Header http.Header // the request's headers, as the proxy sent them
	Status int         // final status sent back to the proxy; 0 before (or without) one
	Bytes  int64       // response body bytes sent to the proxy so far
}

// relayHold keeps backend answers to GETs of one path from the proxy until
// it is released. It is safe for concurrent use.
type relayHold struct {
	path     string
	once     sync.Once
	released chan struct{}
	waiting  atomic.Int64 // answers held right now
}

// release lets every held answer, and every later one, go to the proxy.
// It may be called more than once.
func (h *relayHold) release() { h.once.Do(func() { close(h.released) }) }

// holding returns how many answers are held right now.
func (h *relayHold) holding() int { return int(h.waiting.Load()) }

// holdGETs makes the relay hold the backend's answers to GETs of path:
// each is read whole from the backend (the first 64 MiB), so that it is
// the object as it was when the backend answered, and kept from the proxy
// until release. Only one hold is active; the hold is released when the
// test ends, so a failing test leaves nothing hanging.
func (r *relay) holdGETs(t *testing.T, path string) *relayHold {
	t.Helper()
	h := &relayHold{path: path, released: make(chan struct{})}
	if old := r.held.Swap(h); old != nil {
		old.release()
	}
	t.Cleanup(h.release)
	return h
}

// failGETs makes the relay answer every later GET of path with
// 503 ServiceUnavailable (S3 XML) without asking the backend.
func (r *relay) failGETs(path string) { r.fail.Store(path, struct{}{}) }

// holdResponse reads resp's body whole and waits until h is released, the
// relay closes or the proxy gives up; the proxy then gets the bytes read.
func (r *relay) holdResponse(h *relayHold, resp *http.Response) error {
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	resp.Body.Close()
	if err != nil {
		return err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	h.waiting.Add(1)
	defer h.waiting.Add(-1)
	select {
	case <-h.released:
	case <-r.closing:
	case <-resp.Request.Context().Done():
		return resp.Request.Context().Err()
	}
	return nil
}

// unavailableXML is the relay's 503 body in failGETs mode.
const unavailableXML = `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>ServiceUnavailable</Code><Message>relay: failing on purpose</Message><RequestId>relay-503</RequestId></Error>`

// statusWriter records the final status of a response in the relay's
// record of its request.
type statusWriter struct {
	http.ResponseWriter
	r     *relay
	index int
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	if code >= 200 && !w.wrote {
		w.wrote = true
		w.r.mu.Lock()
		w.r.reqs[w.index].Status = code
		w.r.mu.Unlock()
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write sends p to the proxy and counts what went out in the record.
func (w *statusWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(p)
	w.r.mu.Lock()
	w.r.reqs[w.index].Bytes += int64(n)
	w.r.mu.Unlock()
	return n, err
}

// Unwrap gives http.ResponseController (ReverseProxy's flushes) the
// underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// newRelay starts a relay to the backend at host:port target; it is closed
// when the test ends.
func newRelay(t testing.TB, target string) *relay {
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
			if h := r.held.Load(); h != nil && resp.Request.Method == http.MethodGet &&
				resp.Request.URL.Path == h.path {
				select {
				case <-h.released:
				default:
					return r.holdResponse(h, resp)
				}
			}
			return nil
		},
	}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.inflight.Add(1)
		defer r.inflight.Add(-1)
		r.mu.Lock()
		r.reqs = append(r.reqs, relayRecord{Method: req.Method, Path: req.URL.Path, Query: req.URL.RawQuery,
			Header: req.Header.Clone()})
		w = &statusWriter{ResponseWriter: w, r: r, index: len(r.reqs) - 1}
		r.mu.Unlock()
		if _, failing := r.fail.Load(req.URL.Path); failing && req.Method == http.MethodGet {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, unavailableXML)
			return
		}
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

// mark returns the relay's position in its history of requests, for
// since.
func (r *relay) mark() int { return r.total() }

// relayTraffic is what the backend sent for some requests.
type relayTraffic struct {
	Requests int   // requests
	Bytes    int64 // response body bytes sent to the proxy
}

// since sums the requests for path (decoded, e.g. "/bucket/key"; any
// query string) that arrived after mark, and the body bytes sent for them
// so far. Bytes of a request still in flight may grow; wait for quiet
// first for a final count.
func (r *relay) since(mark int, path string) relayTraffic {
	r.mu.Lock()
	defer r.mu.Unlock()
	var t relayTraffic
	for _, rec := range r.reqs[min(mark, len(r.reqs)):] {
		if rec.Path == path {
			t.Requests++
			t.Bytes += rec.Bytes
		}
	}
	return t
}

// quiet waits until no request is in flight at the relay; the test fails
// if that takes longer than startTimeout.
func (r *relay) quiet(t testing.TB) {
	t.Helper()
	err := poll(t.Context(), startTimeout, func(context.Context) error {
		if n := r.inflight.Load(); n > 0 {
			return fmt.Errorf("%d requests in flight at the relay", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// records returns a copy of what the relay has seen (the Header maps are
// shared and must not be modified).
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
