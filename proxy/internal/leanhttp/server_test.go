package leanhttp

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// refuseInHeaders is a Refuse hook that shows the Refusal in the
// answer's header: X-Refusal-Code, X-Refusal-Header and X-Refusal-Id.
func refuseInHeaders(w http.ResponseWriter, method string, r Refusal) {
	h := w.Header()
	h.Set("X-Refusal-Code", r.Code)
	h.Set("X-Refusal-Header", r.Header)
	h.Set("X-Refusal-Id", r.RequestID)
	w.WriteHeader(r.Status)
	io.WriteString(w, r.Message)
}

// leanServer serves h with a Server, whose refusals refuseInHeaders
// writes, on a loopback port and returns its address; it is shut down
// when the test ends.
func leanServer(t *testing.T, h http.Handler) (*Server, string) {
	t.Helper()
	return startServer(t, &Server{Handler: h, Fallback: &http.Server{Handler: h}, Refuse: refuseInHeaders, Logger: discardLogger()})
}

// inlineReads is the tests' Server.Inline: every request the lean loop
// serves is answered on the event loop, unless it carries X-Not-Inline,
// which sends it, and its connection, to a goroutine and back.
func inlineReads(r *http.Request) bool { return r.Header.Get("X-Not-Inline") == "" }

// startServer serves s on a loopback port and returns its address; it
// is shut down when the test ends. Unless s.Inline is set, the event
// loops serve with inlineReads.
func startServer(t *testing.T, s *Server) (*Server, string) {
	t.Helper()
	if s.Inline == nil {
		s.Inline = inlineReads
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; err != http.ErrServerClosed {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return s, ln.Addr().String()
}

// testHandler answers by path: /len/<body> with Content-Length, /stream
// flushed in two pieces with no length, /empty with nothing, /304,
// /abort panics with http.ErrAbortHandler after part of the body, /pieces
// and /big write in several pieces, /echo with the request body; X-Lean
// says which server path served it.
func testHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lw, isLean := w.(*leanWriter)
		w.Header().Set("X-Lean", map[bool]string{true: "yes", false: "no"}[isLean])
		onLoop := isLean && isLoopWriter(lw.conn)
		w.Header().Set("X-Loop", map[bool]string{true: "yes", false: "no"}[onLoop])
		switch {
		case strings.HasPrefix(r.URL.Path, "/size/"):
			n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/size/"))
			w.Header().Set("Content-Length", strconv.Itoa(n))
			w.Write(bytes.Repeat([]byte{'s'}, n))
		case strings.HasPrefix(r.URL.Path, "/len/"):
			body := strings.TrimPrefix(r.URL.Path, "/len/")
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			io.WriteString(w, body)
		case r.URL.Path == "/stream":
			io.WriteString(w, "first ")
			http.NewResponseController(w).Flush()
			io.WriteString(w, "second")
		case r.URL.Path == "/empty":
		case r.URL.Path == "/304":
			w.WriteHeader(http.StatusNotModified)
		case r.URL.Path == "/abort":
			w.Header().Set("Content-Length", "100000")
			w.Write(make([]byte, 2*maxPending))
			panic(http.ErrAbortHandler)
		case r.URL.Path == "/pieces":
			// A known length written in small pieces: held back and sent
			// with the header once complete.
			w.Header().Set("Content-Length", "6")
			io.WriteString(w, "abc")
			io.WriteString(w, "def")
		case r.URL.Path == "/big":
			// An unknown length over the hold-back limit: chunked.
			for range 5 {
				w.Write(make([]byte, maxPending/2+1))
			}
		case r.URL.Path == "/echo":
			b, _ := io.ReadAll(r.Body)
			w.Write(b)
		default:
			http.NotFound(w, r)
		}
	})
}

// exchange writes raw to a new connection and reads responses with
// net/http's parser, one per method given.
func exchange(t *testing.T, addr, raw string, methods ...string) []*http.Response {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var out []*http.Response
	for _, m := range methods {
		res, err := http.ReadResponse(br, &http.Request{Method: m})
		for err == nil && res.StatusCode < 200 { // 100 Continue
			res, err = http.ReadResponse(br, &http.Request{Method: m})
		}
		if err != nil {
			t.Fatalf("reading response %d: %v", len(out)+1, err)
		}
		body, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatalf("reading body %d: %v", len(out)+1, err)
		}
		res.Body = io.NopCloser(bytes.NewReader(body))
		out = append(out, res)
	}
	return out
}

func bodyOf(res *http.Response) string {
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

func TestLeanServerFraming(t *testing.T) {
	_, addr := leanServer(t, testHandler())
	// Pipelined requests on one connection, each framed right.
	res := exchange(t, addr,
		"GET /len/hello HTTP/1.1\r\nHost: x\r\n\r\n"+
			"HEAD /len/hello HTTP/1.1\r\nHost: x\r\n\r\n"+
			"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"+
			"GET /empty HTTP/1.1\r\nHost: x\r\n\r\n"+
			"GET /304 HTTP/1.1\r\nHost: x\r\n\r\n"+
			"GET /pieces HTTP/1.1\r\nHost: x\r\n\r\n"+
			"GET /big HTTP/1.1\r\nHost: x\r\n\r\n"+
			"GET /len/bye HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		"GET", "HEAD", "GET", "GET", "GET", "GET", "GET", "GET")
	want := []struct {
		status  int
		body    string
		length  int64
		chunked bool
	}{
		{200, "hello", 5, false},
		{200, "", 5, false},
		{200, "first second", -1, true},
		{200, "", 0, false}, // nothing written: a length of 0, not chunked
		{304, "", 0, false},
		{200, "abcdef", 6, false},
		{200, string(make([]byte, 5*(maxPending/2+1))), -1, true},
		{200, "bye", 3, false},
	}
	for i, w := range want {
		r := res[i]
		if r.StatusCode != w.status || bodyOf(r) != w.body || r.ContentLength != w.length ||
			(len(r.TransferEncoding) > 0) != w.chunked || r.Header.Get("X-Lean") != "yes" || r.Header.Get("Date") == "" {
			t.Errorf("response %d: %d %q length %d TE %v lean %q date %q; want %+v",
				i+1, r.StatusCode, bodyOf(r), r.ContentLength, r.TransferEncoding, r.Header.Get("X-Lean"), r.Header.Get("Date"), w)
		}
	}
	if !res[7].Close {
		t.Error("Connection: close was not answered with close")
	}
}

// TestLeanServerHandsOff checks that what the lean loop does not read is
// served by the fallback server, with the bytes already read replayed.
func TestLeanServerHandsOff(t *testing.T) {
	_, addr := leanServer(t, testHandler())
	tests := []struct {
		name, raw  string
		wantStatus int
		wantBody   string
		wantLean   string
	}{
		{"upload", "PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody", 200, "body", "no"},
		{"GET with a body", "GET /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", 200, "abc", "no"},
		{"chunked", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 200, "abc", "no"},
		{"HTTP/1.0", "GET /len/ten HTTP/1.0\r\nHost: x\r\n\r\n", 200, "ten", "no"},
		{"folded header", "GET /len/x HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", 200, "x", "yes"},
		{"bare LF", "GET /len/lf HTTP/1.1\nHost: a\n\n", 200, "lf", "yes"},
		{"Expect: 100-continue", "PUT /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok", 200, "ok", "no"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := "GET"
			if strings.HasPrefix(tt.raw, "PUT") || strings.HasPrefix(tt.raw, "POST") {
				method = "PUT"
			}
			r := exchange(t, addr, tt.raw, method)[0]
			if r.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", r.StatusCode, tt.wantStatus)
			}
			if tt.wantBody != "" && bodyOf(r) != tt.wantBody {
				t.Errorf("body %q, want %q", bodyOf(r), tt.wantBody)
			}
			if tt.wantLean != "" && r.Header.Get("X-Lean") != tt.wantLean {
				t.Errorf("X-Lean %q, want %q", r.Header.Get("X-Lean"), tt.wantLean)
			}
		})
	}
	// After a hand-off the connection comes back to the lean loop, for a
	// pipelined request, after a chunked body, and after a POST followed
	// by a stray CRLF as old clients send.
	res := exchange(t, addr, "PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nz"+
		"GET /len/after HTTP/1.1\r\nHost: x\r\n\r\n"+
		"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2;ext=1\r\nab\r\n0\r\nX-Trailer: t\r\n\r\n\r\n"+
		"GET /len/again HTTP/1.1\r\nHost: x\r\n\r\n"+
		"PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\ny"+
		"GET /len/x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "PUT", "GET", "POST", "GET", "PUT", "GET")
	for i, want := range []struct{ body, lean string }{{"z", "no"}, {"after", "yes"}, {"ab", "no"}, {"again", "yes"}, {"y", "no"}} {
		if bodyOf(res[i]) != want.body || res[i].Header.Get("X-Lean") != want.lean {
			t.Errorf("response %d on one connection: %q lean %q, want %q lean %q", i+1, bodyOf(res[i]), res[i].Header.Get("X-Lean"), want.body, want.lean)
		}
	}
	// A bad head after a hand-off is refused by the lean loop.
	if r := res[5]; r.StatusCode != 400 || r.Header.Get("X-Refusal-Code") != "BadRequest" {
		t.Errorf("two Hosts after a hand-off: %d %q, want 400 BadRequest from Refuse", r.StatusCode, r.Header.Get("X-Refusal-Code"))
	}
}

// TestLeanServerAbort checks that a handler aborting mid-body closes the
// connection, so the client sees a short body rather than a hang.
func TestLeanServerAbort(t *testing.T) {
	_, addr := leanServer(t, testHandler())
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET /abort HTTP/1.1\r\nHost: x\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(res.Body); err != io.ErrUnexpectedEOF {
		t.Errorf("reading an aborted body: %v, want unexpected EOF", err)
	}
}

// TestLeanServerShutdown checks that Shutdown closes idle connections and
// returns.
func TestLeanServerShutdown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := testHandler()
	s := &Server{Handler: h, Fallback: &http.Server{Handler: h}, Inline: inlineReads}
	go s.Serve(ln)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET /len/a HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	if res, err := http.ReadResponse(br, nil); err != nil || bodyOf(res) != "a" {
		t.Fatalf("first response: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with an idle connection: %v", err)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("idle connection after Shutdown: read %v, want EOF", err)
	}
}

// TestLeanServerRefuses checks the heads the server refuses before any
// handler runs: S3's status and code given to Refuse with a request id,
// and the connection closed at once.
func TestLeanServerRefuses(t *testing.T) {
	_, addr := leanServer(t, testHandler())
	tests := []struct {
		name, raw, method string
		status            int
		code, header      string
	}{
		{"two Hosts", "GET /len/x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "GET", 400, "BadRequest", ""},
		{"Host with a space", "GET /len/x HTTP/1.1\r\nHost: a b\r\n\r\n", "GET", 400, "BadRequest", ""},
		{"no Host", "GET /len/x HTTP/1.1\r\n\r\n", "GET", 400, "BadRequest", ""},
		{"bad header name", "GET /len/x HTTP/1.1\r\nHost: a\r\nBad Name: v\r\n\r\n", "GET", 400, "BadRequest", ""},
		{"HTTP/9.9", "GET /len/x HTTP/9.9\r\nHost: a\r\n\r\n", "GET", 505, "HttpVersionNotSupported", ""},
		{"no version", "GET /len/x\r\nHost: a\r\n\r\n", "GET", 400, "BadRequest", ""},
		{"gzip transfer coding", "PUT /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", "PUT", 501, "NotImplemented", "Transfer-Encoding"},
		{"unknown expectation", "PUT /echo HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\nContent-Length: 1\r\n\r\nx", "PUT", 417, "ExpectationFailed", ""},
		{"header over 8 KiB", "GET /len/x HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("v", 8<<10) + "\r\n\r\n", "GET", 400, "RequestHeaderSectionTooLarge", ""},
		{"header of 64 KiB", "GET /len/x HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("v", 64<<10) + "\r\n\r\n", "GET", 400, "RequestHeaderSectionTooLarge", ""},
		{"HEAD refused", "HEAD /len/x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "HEAD", 400, "BadRequest", ""},
	}
	ids := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, br := refusal(t, addr, tt.raw, tt.method)
			h := res.Header
			id := h.Get("X-Refusal-Id")
			if res.StatusCode != tt.status || h.Get("X-Refusal-Code") != tt.code || h.Get("X-Refusal-Header") != tt.header || id == "" || !res.Close {
				t.Fatalf("got %d code %q header %q id %q close %v; want %d %q %q with an id, closing",
					res.StatusCode, h.Get("X-Refusal-Code"), h.Get("X-Refusal-Header"), id, res.Close, tt.status, tt.code, tt.header)
			}
			if ids[id] {
				t.Errorf("request id %q given twice", id)
			}
			ids[id] = true
			if body := bodyOf(res); tt.method == "HEAD" && body != "" || tt.method != "HEAD" && body == "" {
				t.Errorf("%s answered with body %q", tt.method, body)
			}
			if _, err := br.ReadByte(); err != io.EOF {
				t.Errorf("after the refusal: read %v, want EOF", err)
			}
		})
	}
}

// TestLeanServerRefusesPlain checks the answer to a refused head when
// Refuse is nil: the status and the code and message in plain text.
func TestLeanServerRefusesPlain(t *testing.T) {
	h := testHandler()
	_, addr := startServer(t, &Server{Handler: h, Fallback: &http.Server{Handler: h}, Logger: discardLogger()})
	tests := []struct {
		name, raw, method string
		status            int
		body              string
	}{
		{"GET", "GET /len/x HTTP/9.9\r\nHost: a\r\n\r\n", "GET", 505, "HttpVersionNotSupported: The HTTP version specified is not supported.\n"},
		{"HEAD", "HEAD /len/x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "HEAD", 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, _ := refusal(t, addr, tt.raw, tt.method)
			if body := bodyOf(res); res.StatusCode != tt.status || body != tt.body || res.Header.Get("Content-Type") != "text/plain; charset=utf-8" || !res.Close {
				t.Errorf("got %d %q %q close %v; want %d %q in plain text, closing", res.StatusCode, res.Header.Get("Content-Type"), body, res.Close, tt.status, tt.body)
			}
		})
	}
}

// refusal sends raw on a new connection and reads the one answer.
func refusal(t *testing.T, addr, raw, method string) (*http.Response, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, raw)
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body = io.NopCloser(bytes.NewReader(body))
	return res, br
}

// TestLeanServerHeaderTimeout checks that a head that stops arriving gets
// one 408 RequestTimeout, on a first request and after a handed-over one.
func TestLeanServerHeaderTimeout(t *testing.T) {
	h := testHandler()
	s := &Server{Handler: h, Fallback: &http.Server{Handler: h, ReadHeaderTimeout: time.Hour}, ReadHeaderTimeout: 100 * time.Millisecond, Refuse: refuseInHeaders, Logger: discardLogger(), Inline: inlineReads}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	for _, before := range []string{"", "PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nz"} {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		io.WriteString(c, before+"GET /len/x HTTP/1.1\r\nHost: x\r\n")
		br := bufio.NewReader(c)
		if before != "" {
			if res, err := http.ReadResponse(br, nil); err != nil || bodyOf(res) != "z" {
				t.Fatalf("handed-over request: %v", err)
			}
		}
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("after %q: %v", before, err)
		}
		if code := res.Header.Get("X-Refusal-Code"); res.StatusCode != http.StatusRequestTimeout || code != "RequestTimeout" {
			t.Errorf("stalled head after %q: %d %q, want 408 RequestTimeout", before, res.StatusCode, code)
		}
	}
}

// TestLeanServerWriteTimeout checks WriteTimeout on both paths: a client
// that reads nothing is cut, and a client that reads slowly, for longer
// than WriteTimeout in all, gets the whole body.
func TestLeanServerWriteTimeout(t *testing.T) {
	const size = 8 << 20
	ended := make(chan error, 4)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(size))
		_, err := w.Write(make([]byte, size))
		ended <- err
	})
	// WriteTimeout is a second: the slow reader below takes at least 1.28 s
	// (128 reads 10 ms apart), and under the race detector, with the e2e
	// suite running beside it on two cores, a reader starved for 250 ms
	// was once cut as a stalled one.
	s := &Server{Handler: h, Fallback: &http.Server{Handler: h}, WriteTimeout: time.Second, Logger: discardLogger(), Inline: inlineReads}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	// The requests go to a goroutine, whose writes wait on the client
	// (TestEventLoopCutsIdleAndStuckClients has the event loop's).
	for _, req := range []string{"GET / HTTP/1.1\r\nHost: x\r\nX-Not-Inline: 1\r\n\r\n", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"} {
		t.Run(strings.Fields(req)[0]+" not reading", func(t *testing.T) {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			io.WriteString(c, req)
			select {
			case err := <-ended:
				if err == nil {
					t.Fatal("the write to a client reading nothing succeeded")
				}
			case <-time.After(20 * time.Second):
				t.Fatal("the write to a client reading nothing still blocks after 20s")
			}
		})
		t.Run(strings.Fields(req)[0]+" reading slowly", func(t *testing.T) {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(time.Minute))
			io.WriteString(c, req)
			res, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			start, n, buf := time.Now(), 0, make([]byte, 64<<10)
			for {
				m, err := res.Body.Read(buf)
				n += m
				if err != nil {
					break
				}
				time.Sleep(10 * time.Millisecond) // a slow reader, never idle for WriteTimeout
			}
			if n != size || time.Since(start) < s.WriteTimeout {
				t.Fatalf("slow reader got %d of %d bytes in %v", n, size, time.Since(start))
			}
			if err := <-ended; err != nil {
				t.Fatalf("the write to a slow reader failed: %v", err)
			}
		})
	}
}

// TestLeanServerTLSState: over TLS, a request has its r.TLS whichever
// server answers it, as net/http gives it: a lean GET and a handed-over
// upload alike.
func TestLeanServerTLSState(t *testing.T) {
	certSrv := httptest.NewTLSServer(http.NotFoundHandler()) // for its certificate and a client that trusts it
	defer certSrv.Close()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, isLean := w.(*leanWriter)
		w.Header().Set("X-Lean", map[bool]string{true: "yes", false: "no"}[isLean])
		if r.TLS != nil && r.TLS.HandshakeComplete {
			w.Header().Set("X-TLS", r.TLS.ServerName+"|"+tls.VersionName(r.TLS.Version))
		}
		io.Copy(io.Discard, r.Body)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := certSrv.TLS.Clone()
	cfg.NextProtos = []string{"http/1.1"}
	s := &Server{Handler: h, Fallback: &http.Server{Handler: h}, TLSConfig: cfg, Logger: discardLogger()}
	go s.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	c := certSrv.Client()
	url := "https://" + ln.Addr().String() + "/obj"
	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodGet} {
		req, _ := http.NewRequest(method, url, strings.NewReader(map[bool]string{true: "upload"}[method == http.MethodPut]))
		req.Host = "example.com"
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		wantLean := map[bool]string{true: "yes", false: "no"}[method == http.MethodGet]
		if got := res.Header.Get("X-TLS"); !strings.HasPrefix(got, "|TLS 1.") || res.Header.Get("X-Lean") != wantLean {
			t.Errorf("%s: X-TLS %q, X-Lean %q; want the connection's TLS state (lean: %s)", method, got, res.Header.Get("X-Lean"), wantLean)
		}
	}
}
