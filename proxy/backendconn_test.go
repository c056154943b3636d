package proxy

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// A backend fault, applied by sickBackend to one exchange.
const (
	faultPoison = "poison" // answer 499 now and on every later request of the connection, as MinIO does
	faultReset  = "reset"  // read the request, then reset the connection
	faultEOF    = "eof"    // read the request, then close without a status line
	faultCut    = "cut"    // answer with a Content-Length, send part of the body, close
)

// sickBackend serves fakeS3 and breaks the exchange after arm was called
// with a fault. It counts the 499s it sent.
type sickBackend struct {
	fake    *fakeS3
	srv     *httptest.Server
	armed   atomic.Value // string: the fault for the next request, "" for none
	aborted atomic.Int64 // 499 answers sent
}

type connStateKey struct{}

// connFlags is the state of one backend connection.
type connFlags struct{ poisoned atomic.Bool }

func newSickBackend(t *testing.T) *sickBackend {
	fake, _ := newFakeS3(t)
	b := &sickBackend{fake: fake}
	b.armed.Store("")
	b.srv = httptest.NewUnstartedServer(http.HandlerFunc(b.serve))
	b.srv.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		return context.WithValue(ctx, connStateKey{}, &connFlags{})
	}
	b.srv.Start()
	t.Cleanup(b.srv.Close)
	return b
}

// arm makes the next request that reaches the backend suffer fault.
func (b *sickBackend) arm(fault string) { b.armed.Store(fault) }

func (b *sickBackend) serve(w http.ResponseWriter, r *http.Request) {
	flags := r.Context().Value(connStateKey{}).(*connFlags)
	fault := b.armed.Swap("").(string)
	if fault == faultPoison {
		flags.poisoned.Store(true)
	}
	if flags.poisoned.Load() {
		// MinIO's answer on a connection whose context it cancelled: the
		// request's body is left unread, the connection kept open.
		b.aborted.Add(1)
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(statusClientClosed)
		return
	}
	switch fault {
	case faultReset, faultEOF:
		_, _ = io.Copy(io.Discard, r.Body)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		if tc, ok := conn.(*net.TCPConn); ok && fault == faultReset {
			tc.SetLinger(0) // close sends a RST
		}
		conn.Close()
		return
	case faultCut:
		_, _ = io.Copy(io.Discard, r.Body)
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nContent-Type: text/plain\r\nETag: \"cut\"\r\n\r\n0123456789")
		buf.Flush()
		conn.Close()
		return
	}
	b.fake.ServeHTTP(w, r)
}

// TestBrokenBackendConnectionHeals breaks one backend exchange in each of
// the ways a connection breaks, for each kind of request, and checks that
// an idempotent request is answered anyway (sent again on a new
// connection), a write gets a 502, and every later request succeeds: a
// connection that broke is never used again.
func TestBrokenBackendConnectionHeals(t *testing.T) {
	requests := []struct {
		name, method, prefix string // the path is prefix, then the request's number
		body                 []byte
		idempotent           bool
	}{
		{"GetObject", "GET", "/bkt/obj-", nil, true},
		{"HeadObject", "HEAD", "/bkt/obj-", nil, true},
		{"ListBuckets", "GET", "", nil, true},
		{"PutObject", "PUT", "/bkt/new-", []byte("uploaded"), false},
	}
	path := func(prefix string, i int) string {
		if prefix == "" {
			return "/"
		}
		return prefix + strconv.Itoa(i)
	}
	faults := []struct {
		fault, reason string
	}{
		{faultPoison, brokenAborted},
		{faultReset, brokenReset},
		{faultEOF, brokenEOF},
	}
	for _, f := range faults {
		for _, rqk := range requests {
			t.Run(f.fault+"/"+rqk.name, func(t *testing.T) {
				b := newSickBackend(t)
				for i := range 30 {
					b.fake.objects[fmt.Sprintf("/bkt/obj-%d", i)] = []byte(fmt.Sprintf("object %d", i))
				}
				p, srv := newTestProxy(t, b.srv, nil)
				// The faulted request is the first, on a new connection:
				// net/http itself sends an idempotent request again when a
				// kept connection fails before the status line, but not
				// when a new one does.
				b.arm(f.fault)
				res, err := send(t, rqk.method, srv.URL+path(rqk.prefix, 0), rqk.body, testSecret)
				if err != nil {
					t.Fatalf("faulted %s: %v", rqk.name, err)
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				want := http.StatusBadGateway
				if rqk.idempotent {
					want = http.StatusOK
				}
				if res.StatusCode != want {
					t.Fatalf("faulted %s: status %d, want %d", rqk.name, res.StatusCode, want)
				}
				// Every later request succeeds, writes (never sent twice)
				// included: the broken connection is not reused.
				for i := 1; i < 21; i++ {
					for _, next := range requests {
						res := do(t, next.method, srv.URL+path(next.prefix, i), next.body, testSecret)
						io.Copy(io.Discard, res.Body)
						res.Body.Close()
						if res.StatusCode != http.StatusOK {
							t.Fatalf("%s %d after the fault: status %d, want 200", next.name, i, res.StatusCode)
						}
					}
				}
				if f.fault == faultPoison && b.aborted.Load() != 1 {
					t.Errorf("the backend answered %d requests with 499, want 1: the poisoned connection was reused", b.aborted.Load())
				}
				m := scrape(t, p)
				errs := m[seriesName("s3cache_backend_errors_total", "kind", f.reason, "operation", rqk.name)]
				if errs != 1 {
					t.Errorf("s3cache_backend_errors_total{kind=%q,operation=%q} = %v, want 1", f.reason, rqk.name, errs)
				}
				retries := m[seriesName("s3cache_backend_retries_total", "operation", rqk.name)]
				wantRetries := 0.0
				if rqk.idempotent {
					wantRetries = 1
				}
				if retries != wantRetries {
					t.Errorf("s3cache_backend_retries_total{operation=%q} = %v, want %v", rqk.name, retries, wantRetries)
				}
			})
		}
	}
}

// TestCutBackendBodyNotReused cuts a backend body mid-way: the client's
// response is aborted, nothing is cached, and the next requests succeed.
func TestCutBackendBodyNotReused(t *testing.T) {
	b := newSickBackend(t)
	b.fake.objects["/bkt/obj"] = []byte("the whole object")
	b.fake.objects["/bkt/other"] = []byte("another object")
	_, srv := newTestProxy(t, b.srv, nil)
	b.arm(faultCut)
	if res, err := send(t, "GET", srv.URL+"/bkt/obj", nil, testSecret); err == nil {
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err == nil && res.StatusCode == http.StatusOK {
			t.Fatalf("a cut backend body reached the client as complete: %q", body)
		}
	}
	for range 10 {
		for _, path := range []string{"/bkt/obj", "/bkt/other"} {
			res := do(t, "GET", srv.URL+path, nil, testSecret)
			body, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err != nil || res.StatusCode != 200 || string(body) != string(b.fake.objects[path]) {
				t.Fatalf("GET %s after the cut: %d %q %v", path, res.StatusCode, body, err)
			}
		}
	}
}

// TestReadinessFailsOnBrokenConnection: the readiness check goes through
// the same chain as requests but is sent once: a backend that breaks the
// connection is not ready, and is asked once per check.
func TestReadinessFailsOnBrokenConnection(t *testing.T) {
	var abort atomic.Bool
	var asked atomic.Int64
	fake, _ := newFakeS3(t)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		if abort.Load() {
			w.WriteHeader(statusClientClosed)
			return
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(backend.Close)
	now := time.Now()
	var mu sync.Mutex
	_, srv := newTestProxy(t, backend, func(c *Config) {
		c.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	})
	ready := func() int {
		mu.Lock()
		now = now.Add(2 * readyTTL) // a fresh check each time
		mu.Unlock()
		res, err := http.Get(srv.URL + "/-/readyz")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if got := ready(); got != 200 {
		t.Fatalf("readyz: %d, want 200", got)
	}
	abort.Store(true)
	before := asked.Load()
	if got := ready(); got != http.StatusServiceUnavailable {
		t.Fatalf("readyz with the backend connection aborted: %d, want 503", got)
	}
	if n := asked.Load() - before; n != 1 {
		t.Errorf("the backend was asked %d times for one readiness check, want 1 (no retry)", n)
	}
	abort.Store(false)
	if got := ready(); got != 200 {
		t.Fatalf("readyz once the backend answers again: %d, want 200", got)
	}
}

// TestReadinessAnswersFast: /-/readyz answers 503 within 2 seconds,
// every time, when the backend refuses connections and when it accepts
// them and never answers, even with a long BACKEND_TIMEOUT.
func TestReadinessAnswersFast(t *testing.T) {
	hung := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hung:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(hung); hanging.Close() })
	refusing := httptest.NewServer(http.NotFoundHandler())
	refusing.Close() // nothing listens there any more
	tests := []struct {
		name    string
		backend *httptest.Server
	}{
		{"hung", hanging},
		{"refused", refusing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Now()
			var mu sync.Mutex
			_, srv := newTestProxy(t, tt.backend, func(c *Config) {
				c.BackendTimeout = time.Minute
				c.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
			})
			client := &http.Client{Timeout: 2 * time.Second}
			for i := range 3 {
				mu.Lock()
				now = now.Add(2 * readyTTL)
				mu.Unlock()
				res, err := client.Get(srv.URL + "/-/readyz")
				if err != nil {
					t.Fatalf("readyz #%d: %v (want an answer within 2s)", i+1, err)
				}
				res.Body.Close()
				if res.StatusCode != http.StatusServiceUnavailable {
					t.Errorf("readyz #%d: %d, want 503", i+1, res.StatusCode)
				}
			}
		})
	}
}

func TestBrokenConnReason(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{errConnAborted, brokenAborted},
		{fmt.Errorf("wrapped: %w", errConnAborted), brokenAborted},
		{&net.OpError{Op: "read", Err: syscall.ECONNRESET}, brokenReset},
		{&net.OpError{Op: "write", Err: syscall.EPIPE}, brokenReset},
		{fmt.Errorf("net/http: HTTP/1.x transport connection broken: %w", io.ErrUnexpectedEOF), brokenEOF},
		{io.EOF, brokenEOF},
		{context.Canceled, ""},
		{context.DeadlineExceeded, ""},
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, ""},
		{fmt.Errorf("net/http: HTTP/1.x transport connection broken: %w", errors.New(`malformed HTTP response "HTTP/1.1"`)), brokenMalformed},
		{&net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, ""},
		{x509.UnknownAuthorityError{}, ""},
	}
	for _, tt := range tests {
		if got := brokenConnReason(tt.err); got != tt.want {
			t.Errorf("brokenConnReason(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// TestClientAbortClosesBackendConnection: a client that leaves in the
// middle of an upload, or of a relayed download, leaves an exchange with
// the backend unfinished; the proxy closes that backend connection rather
// than return it to the pool, and later requests succeed.
func TestClientAbortClosesBackendConnection(t *testing.T) {
	for _, tc := range []string{"upload", "download"} {
		t.Run(tc, func(t *testing.T) {
			fake, _ := newFakeS3(t)
			// Larger than the client's and the proxy's socket buffers
			// together, so the abandoned download cannot end cleanly.
			fake.objects["/bkt/big"] = bytes.Repeat([]byte("x"), 32<<20)
			active, closed := make(chan struct{}, 16), make(chan struct{}, 16)
			backend := httptest.NewUnstartedServer(fake)
			backend.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				ch := active
				switch s {
				case http.StateActive:
				case http.StateClosed:
					ch = closed
				default:
					return
				}
				select {
				case ch <- struct{}{}:
				default: // only the first events matter
				}
			}
			backend.Start()
			t.Cleanup(backend.Close)
			_, srv := newTestProxy(t, backend, nil)

			client, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			client.(*net.TCPConn).SetReadBuffer(16 << 10)
			var req *http.Request
			if tc == "upload" {
				req, _ = http.NewRequest("PUT", srv.URL+"/bkt/half", nil)
				req.ContentLength = 1 << 20
				signRequest(t, req, "UNSIGNED-PAYLOAD", testSecret)
			} else {
				req, _ = http.NewRequest("GET", srv.URL+"/bkt/big?response-content-type=text%2Fplain", nil)
				signRequest(t, req, emptyPayloadHash, testSecret)
			}
			// The request's head, by hand: the upload sends 64 KiB of the
			// 1 MiB it declares.
			var head bytes.Buffer
			fmt.Fprintf(&head, "%s %s HTTP/1.1\r\nHost: %s\r\n", req.Method, req.URL.RequestURI(), req.Host)
			req.Header.Write(&head)
			if tc == "upload" {
				fmt.Fprintf(&head, "Content-Length: %d\r\n", req.ContentLength)
			}
			head.WriteString("\r\n")
			if _, err := client.Write(head.Bytes()); err != nil {
				t.Fatal(err)
			}
			if tc == "upload" {
				client.Write(make([]byte, 64<<10))
			}
			select {
			case <-active:
			case <-time.After(10 * time.Second):
				t.Fatal("the request never reached the backend")
			}
			if tc == "download" {
				io.ReadFull(client, make([]byte, 1024)) // some of the answer, not all
			}
			client.Close()
			select {
			case <-closed:
			case <-time.After(10 * time.Second):
				t.Fatal("the backend connection of the abandoned exchange was not closed")
			}
			for i := range 10 {
				res := do(t, "PUT", srv.URL+"/bkt/after", []byte(fmt.Sprint("after ", i)), testSecret)
				if res.StatusCode != 200 {
					t.Fatalf("PUT %d after the client left: %d", i, res.StatusCode)
				}
				if res := do(t, "GET", srv.URL+"/bkt/after", nil, testSecret); readBody(t, res) != fmt.Sprint("after ", i) {
					t.Fatalf("GET %d after the client left: %d", i, res.StatusCode)
				}
			}
		})
	}
}

// closeCounter counts the Closes of a body.
type closeCounter struct {
	io.Reader
	closes int
}

func (c *closeCounter) Close() error { c.closes++; return nil }

// TestWriteRetriedOnClosedConnection: a write whose pooled connection was
// already closed (net.ErrClosed) before a byte of its body was read is
// sent again, with the whole body; one that had read some of its body is
// not; the body is closed once either way.
func TestWriteRetriedOnClosedConnection(t *testing.T) {
	closed := &net.OpError{Op: "write", Net: "tcp", Err: net.ErrClosed}
	for _, tc := range []struct {
		name      string
		readFirst int // bytes the first attempt reads before failing
		want      string
	}{
		{"nothing read", 0, "the whole body"},
		{"some read", 3, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, backend := newFakeS3(t)
			p, _ := newTestProxy(t, backend, nil)
			body := &closeCounter{Reader: strings.NewReader("the whole body")}
			var sent string
			tr := &retryTransport{
				first: roundTripFunc(func(r *http.Request) (*http.Response, error) {
					if tc.readFirst > 0 {
						io.ReadFull(r.Body, make([]byte, tc.readFirst))
					}
					r.Body.Close()
					return nil, closed
				}),
				retry: roundTripFunc(func(r *http.Request) (*http.Response, error) {
					b, _ := io.ReadAll(r.Body)
					sent = string(b)
					r.Body.Close()
					return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
				}),
				metrics: p.metrics,
				log:     slog.New(slog.DiscardHandler),
			}
			req, _ := http.NewRequest(http.MethodPut, "http://backend/bkt/k", body)
			res, err := tr.RoundTrip(req)
			if tc.want != "" && (err != nil || res.StatusCode != 200 || sent != tc.want) {
				t.Fatalf("retry sent %q (%v), want %q", sent, err, tc.want)
			}
			if tc.want == "" && (err == nil || sent != "") {
				t.Fatalf("a write that had read its body was sent again (%q) or did not fail (%v)", sent, err)
			}
			if body.closes != 1 {
				t.Errorf("the body was closed %d times, want once", body.closes)
			}
		})
	}
}
