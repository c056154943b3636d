package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Faults the chaos relay applies to one exchange between the proxy and
// the backend.
const (
	chaosHold          = "hold"           // the backend's answer, held past the proxy's BACKEND_TIMEOUT
	chaosCutBeforeHead = "cut-0"          // the backend did the work; the connection closes before the status line
	chaosCutStatus     = "cut-status"     // closed in the middle of the status line
	chaosCutHeaders    = "cut-headers"    // closed in the middle of the header block
	chaosCutBody       = "cut-body"       // closed half-way through the body (or the headers, when there is none)
	chaosReset         = "reset"          // the request is read, then the connection reset
	chaosServerError   = "5xx"            // 500 InternalError, in S3's XML, without asking the backend
	chaosStop          = "stop"           // the request is read and never answered
	chaosHalfRequest   = "halfclose-req"  // the request is read, the relay's side half-closed, no answer
	chaosHalfResponse  = "halfclose-resp" // the whole answer, then the relay's side half-closed: the connection looks kept
	chaosAbort         = "499"            // 499 on this exchange and every later one of its connection, as MinIO does
)

// chaosFaults lists every fault, in the order the test applies them.
var chaosFaults = []string{
	chaosHold, chaosCutBeforeHead, chaosCutStatus, chaosCutHeaders, chaosCutBody,
	chaosReset, chaosServerError, chaosStop, chaosHalfRequest, chaosHalfResponse, chaosAbort,
}

// chaosRelay sits between the proxy and a real backend and breaks one
// exchange in every `every` with the current fault. The others are
// relayed as they are, streamed, with the Host header the proxy signed.
// It is safe for concurrent use.
type chaosRelay struct {
	srv      *httptest.Server
	target   *url.URL
	rp       *httputil.ReverseProxy
	tr       *http.Transport
	fault    atomic.Value // string: "" relays everything
	every    int64
	hold     time.Duration // how long chaosHold holds an answer
	seen     atomic.Int64  // exchanges since the fault was set
	fired    atomic.Int64  // exchanges broken, in all
	inflight atomic.Int64
	closing  chan struct{}
}

type chaosConnKey struct{}

// chaosConn is the relay's state of one connection from the proxy.
type chaosConn struct{ aborted atomic.Bool }

func newChaosRelay(t *testing.T, target string, every int64, hold time.Duration) *chaosRelay {
	t.Helper()
	u, err := url.Parse("http://" + target)
	if err != nil {
		t.Fatal(err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableCompression = true
	tr.Proxy = nil
	r := &chaosRelay{target: u, tr: tr, every: every, hold: hold, closing: make(chan struct{})}
	r.fault.Store("")
	r.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host // signed by the proxy
		},
		Transport:     tr,
		FlushInterval: -1,
		ErrorLog:      log.New(io.Discard, "", 0),
	}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	r.srv.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		return context.WithValue(ctx, chaosConnKey{}, &chaosConn{})
	}
	r.srv.Start()
	t.Cleanup(func() {
		close(r.closing)
		r.srv.Close()
		tr.CloseIdleConnections()
	})
	return r
}

// Addr is the relay's host:port, the proxy's S3_ENDPOINT.
func (r *chaosRelay) Addr() string { return strings.TrimPrefix(r.srv.URL, "http://") }

// set makes fault break every `every`-th exchange from now on ("" for
// none).
func (r *chaosRelay) set(fault string) {
	r.seen.Store(0)
	r.fault.Store(fault)
}

func (r *chaosRelay) serve(w http.ResponseWriter, req *http.Request) {
	r.inflight.Add(1)
	defer r.inflight.Add(-1)
	conn := req.Context().Value(chaosConnKey{}).(*chaosConn)
	fault := r.fault.Load().(string)
	if fault == "" || r.seen.Add(1)%r.every != 0 {
		fault = ""
	}
	if fault != "" {
		r.fired.Add(1)
	}
	if conn.aborted.Load() {
		// The connection stays broken: an answer the proxy must never
		// see again, since it is no new fault but the old one inherited.
		fault = chaosAbort
	}
	switch fault {
	case "":
		r.rp.ServeHTTP(w, req)
	case chaosAbort:
		conn.aborted.Store(true)
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(499)
	case chaosServerError:
		_, _ = io.Copy(io.Discard, req.Body)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>relay: failing on purpose</Message><RequestId>chaos</RequestId></Error>`)
	case chaosStop:
		_, _ = io.Copy(io.Discard, req.Body)
		select {
		case <-req.Context().Done():
		case <-r.closing:
		}
	case chaosReset:
		_, _ = io.Copy(io.Discard, req.Body)
		c, _ := r.hijack(w)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // Close sends a RST
		}
		c.Close()
	case chaosHalfRequest:
		_, _ = io.Copy(io.Discard, req.Body)
		c, buf := r.hijack(w)
		halfClose(c, buf)
	case chaosHold:
		res, err := r.forward(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer res.Body.Close()
		select {
		case <-time.After(r.hold):
		case <-req.Context().Done():
			return
		case <-r.closing:
			return
		}
		for k, v := range res.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(res.StatusCode)
		_, _ = io.Copy(w, res.Body)
	default: // the cuts and the half-close after an answer
		res, err := r.forward(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		raw, head, err := rawResponse(res)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		c, buf := r.hijack(w)
		statusEnd := bytes.IndexByte(raw, '\n') + 1
		switch fault {
		case chaosCutBeforeHead:
			raw = nil
		case chaosCutStatus:
			raw = raw[:statusEnd/2]
		case chaosCutHeaders:
			raw = raw[:statusEnd+(head-statusEnd)/2]
		case chaosCutBody:
			if body := len(raw) - head; body > 1 {
				raw = raw[:head+body/2]
			} else {
				raw = raw[:statusEnd+(head-statusEnd)/2]
			}
		}
		_, _ = buf.Write(raw)
		_ = buf.Flush()
		if fault == chaosHalfResponse {
			halfClose(c, buf)
			return
		}
		c.Close()
	}
}

// forward sends req to the backend as the relay's ReverseProxy would, and
// returns the backend's response with its body unread.
func (r *chaosRelay) forward(req *http.Request) (*http.Response, error) {
	out := req.Clone(req.Context())
	out.RequestURI = ""
	out.URL.Scheme, out.URL.Host = r.target.Scheme, r.target.Host
	out.Host = req.Host
	out.Header.Del("Connection")
	if req.ContentLength == 0 {
		out.Body = nil
	}
	return r.tr.RoundTrip(out)
}

// rawResponse reads res whole and returns it as it would go on the wire,
// and where its body starts.
func rawResponse(res *http.Response) ([]byte, int, error) {
	body, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	res.Body.Close()
	if err != nil {
		return nil, 0, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %s\r\n", res.Status)
	res.Header.Del("Transfer-Encoding")
	res.Header.Del("Connection")
	if res.Request.Method != http.MethodHead {
		res.Header.Set("Content-Length", fmt.Sprint(len(body)))
	}
	if err := res.Header.Write(&b); err != nil {
		return nil, 0, err
	}
	b.WriteString("\r\n")
	head := b.Len()
	if res.Request.Method != http.MethodHead {
		b.Write(body)
	}
	return b.Bytes(), head, nil
}

// hijack takes the connection of w from the relay's HTTP server.
func (r *chaosRelay) hijack(w http.ResponseWriter) (net.Conn, *bufio.ReadWriter) {
	c, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(fmt.Sprintf("chaos relay: hijack: %v", err))
	}
	return c, buf
}

// halfClose shuts the relay's sending side of c, then reads (and drops)
// whatever the proxy still sends until it closes its side or the relay
// shuts down.
func halfClose(c net.Conn, buf *bufio.ReadWriter) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	go func() {
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(time.Minute))
		_, _ = io.Copy(io.Discard, buf)
	}()
}

// TestChaos breaks one exchange in every three between the proxy and a
// real backend (versitygw, then MinIO), with each fault in turn, while a
// client sends a steady mix of uploads, HEADs, GETs (cache fills) and
// listings. Every request during which no exchange broke must succeed:
// no broken connection, answer or timeout is ever inherited by a later
// request. A request whose own exchange broke gets an answer within the
// proxy's bounds; an idempotent one whose connection broke before the
// status line is answered anyway, sent again on a new connection; none
// is a complete-looking 200 with the wrong bytes. Afterwards every object
// read through the proxy is the backend's.
func TestChaos(t *testing.T) {
	t.Parallel()
	for _, b := range realBackends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			chaos(t, b.addr(t))
		})
	}
}

// chaos runs TestChaos against the backend at addr.
func chaos(t *testing.T, addr string) {
	const backendTimeout = 2 * time.Second
	relay := newChaosRelay(t, addr, 3, backendTimeout+time.Second)
	p := startProxy(t, proxyOptions{Backend: relay.Addr(), Env: map[string]string{
		"BACKEND_TIMEOUT": backendTimeout.String(),
	}})
	e := p.endpoint()
	bucket := newBucket(t, e)

	type step struct {
		name   string
		method string
		url    func(i int) string
		body   func(i int) []byte
		// retried: an idempotent request, answered even when its own
		// connection broke before the status line.
		retried bool
	}
	key := func(i int) string { return fmt.Sprintf("chaos/obj-%03d", i) }
	content := func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i%26)}, 16<<10+i) }
	steps := []step{
		{"PutObject", http.MethodPut, func(i int) string { return objectURL(e, bucket, key(i)) }, content, false},
		{"HeadObject", http.MethodHead, func(i int) string { return objectURL(e, bucket, key(i)) }, nil, true},
		{"GetObject", http.MethodGet, func(i int) string { return objectURL(e, bucket, key(i)) }, nil, true},
		{"ListObjectsV2", http.MethodGet, func(int) string { return e.URL + "/" + bucket + "?list-type=2&prefix=chaos%2F" }, nil, true},
		{"ListBuckets", http.MethodGet, func(int) string { return e.URL + "/" }, nil, true},
	}
	// A fault breaks the connection before any status line.
	beforeStatus := map[string]bool{chaosCutBeforeHead: true, chaosCutStatus: true, chaosCutHeaders: true,
		chaosReset: true, chaosHalfRequest: true, chaosAbort: true}

	written := map[int]bool{} // objects whose upload the proxy acknowledged
	obj := 0
	for _, fault := range chaosFaults {
		relay.set(fault)
		firedBefore := relay.fired.Load()
		for round := range 3 {
			obj++
			uncertain := false // the upload broke: the object may not exist
			for _, s := range steps {
				var body []byte
				if s.body != nil {
					body = s.body(obj)
				}
				before := relay.fired.Load()
				req := signedRequest(t, e, s.method, s.url(obj), body)
				res, err := httpDo(t, req)
				broke := relay.fired.Load() != before
				what := fmt.Sprintf("%s, round %d, %s of object %d", fault, round, s.name, obj)
				if broke && s.name == "PutObject" {
					uncertain = true
				}
				missing := uncertain && err == nil && res.Status == http.StatusNotFound && s.method != http.MethodPut
				switch {
				case !broke && err != nil:
					t.Errorf("%s: no exchange broke, yet the request failed: %v", what, err)
				case !broke && res.Status/100 != 2 && !missing:
					t.Errorf("%s: no exchange broke, yet the answer was %d %s", what, res.Status, res.xmlCode())
				case broke && s.retried && beforeStatus[fault] && (err != nil || res.Status/100 != 2 && !missing):
					t.Errorf("%s: the connection broke before the status line; want the request sent again and answered, got %v %v", what, res.Status, err)
				case broke && err == nil && res.Status/100 != 2 && res.Status < 500:
					t.Errorf("%s: a broken exchange answered %d %s, want a 5xx", what, res.Status, res.xmlCode())
				}
				if err == nil && res.Status == http.StatusOK {
					if s.name == "PutObject" {
						written[obj] = true
					}
					if s.name == "GetObject" && !bytes.Equal(res.Body, content(obj)) {
						t.Errorf("%s: 200 with %d bytes that are not the object's %d", what, len(res.Body), len(content(obj)))
					}
				}
			}
		}
		if relay.fired.Load() == firedBefore {
			t.Errorf("fault %s never fired", fault)
		}
	}
	relay.set("")

	// Nothing wrong was kept: every object reads through the proxy as the
	// backend has it, uploads the proxy acknowledged included.
	direct := endpoint{URL: "http://" + addr, Access: testAccess, Secret: testSecret}
	for i := 1; i <= obj; i++ {
		want, err := httpDo(t, signedRequest(t, direct, http.MethodGet, objectURL(direct, bucket, key(i)), nil))
		if err != nil {
			t.Fatalf("GET %s from the backend: %v", key(i), err)
		}
		if written[i] && (want.Status != http.StatusOK || !bytes.Equal(want.Body, content(i))) {
			t.Errorf("%s: the proxy acknowledged its upload, the backend has %d and %d bytes", key(i), want.Status, len(want.Body))
		}
		for range 2 { // a miss, then (for objects) a hit
			got := signedGet(t, e, bucket, key(i))
			if got.Status != want.Status || want.Status == http.StatusOK && sha256.Sum256(got.Body) != sha256.Sum256(want.Body) {
				t.Errorf("%s through the proxy: %d, %d bytes (X-Cache %s); the backend has %d, %d bytes",
					key(i), got.Status, len(got.Body), got.Header.Get("X-Cache"), want.Status, len(want.Body))
			}
		}
	}
	m := scrapeMetrics(t, e)
	for _, kind := range []string{"aborted", "reset", "eof", "timeout"} {
		if v := sumSeries(m, "s3cache_backend_errors_total", `kind="`+kind+`"`); v < 1 {
			t.Errorf("s3cache_backend_errors_total{kind=%q} = %v, want at least 1", kind, v)
		}
	}
	if v := sumSeries(m, "s3cache_backend_retries_total", "operation="); v < 1 {
		t.Errorf("s3cache_backend_retries_total = %v, want at least 1", v)
	}
	t.Logf("%d exchanges broken; backend errors by kind: aborted %v, reset %v, eof %v, timeout %v, other %v; retries %v",
		relay.fired.Load(),
		sumSeries(m, "s3cache_backend_errors_total", `kind="aborted"`), sumSeries(m, "s3cache_backend_errors_total", `kind="reset"`),
		sumSeries(m, "s3cache_backend_errors_total", `kind="eof"`), sumSeries(m, "s3cache_backend_errors_total", `kind="timeout"`),
		sumSeries(m, "s3cache_backend_errors_total", `kind="other"`), sumSeries(m, "s3cache_backend_retries_total", "operation="))
}
