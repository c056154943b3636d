package leanhttp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

// FuzzLeanHead sends arbitrary bytes as the start of a connection to
// net/http's own server and to the lean loop (Server), each on a loopback
// port, and compares what they do with the first request: both serve it
// (with the same method, target, Host, header and Close), or both refuse
// it with the same status — the lean loop's through Refuse, with a code
// and a request id. A head over MaxHeadBytes, which net/http would read,
// is the one deliberate difference: the lean loop refuses it with 400
// RequestHeaderSectionTooLarge.
func FuzzLeanHead(f *testing.F) {
	for _, s := range []string{
		"GET /b/k?x=1 HTTP/1.1\r\nHost: h\r\nX-Amz-Date: 1\r\n\r\n",
		"HEAD / HTTP/1.1\r\nhost: h\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
		"GET /a%20b HTTP/1.1\r\nHost: h\r\nRange: bytes=0-1\r\nX: \t v \r\n\r\n",
		"GET / HTTP/1.1\nHost: h\n\n",
		"GET / HTTP/1.1\r\nHost: h\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
		"GET / HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.0\r\n\r\n",
		"GET / HTTP/9.9\r\nHost: h\r\n\r\n",
		"GET / HTTP/2.0\r\nHost: h\r\n\r\n",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"GET http://h/x HTTP/1.1\r\nHost: other\r\n\r\n",
		"CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n",
		"PUT /b/k HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n",
		"PUT /b/k HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
		"PUT /b/k HTTP/1.0\r\nTransfer-Encoding: gzip\r\nContent-Length: 1\r\n\r\n",
		"PUT /b/k HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"PUT /b/k HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nExpect: teapot\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nPragma: no-cache\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nX-A: b\r\n c\r\n\r\n",
		"GET / HTTP/1.1\r\n Host: h\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\n: empty\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nX-A : b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nX-A: \x00\r\n\r\n",
		"GET /\x7f HTTP/1.1\r\nHost: h\r\n\r\n",
		"G@T / HTTP/1.1\r\nHost: h\r\n\r\n",
		"\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nX: " + strings.Repeat("v", 8<<10) + "\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	std := startHeadOracle(f, func(h http.Handler) serveFunc {
		s := &http.Server{Handler: h, ErrorLog: log.New(io.Discard, "", 0)}
		return serveFunc{s.Serve, s.Shutdown}
	})
	lean := startHeadOracle(f, func(h http.Handler) serveFunc {
		s := &Server{Handler: h, Fallback: &http.Server{Handler: h, ErrorLog: log.New(io.Discard, "", 0)}, Refuse: refuseInHeaders, Logger: discardLogger()}
		return serveFunc{s.Serve, s.Shutdown}
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		n := headEnd(data)
		if n < 0 {
			return // an unfinished head: both wait for more
		}
		head := data[:n]
		want, wantStatus := std.send(t, head)
		var res *http.Response
		got, gotStatus := lean.sendFull(t, head, &res)
		switch {
		case n > MaxHeadBytes:
			if got != nil || gotStatus != 400 || res.Header.Get("X-Refusal-Code") != "RequestHeaderSectionTooLarge" {
				t.Fatalf("head of %d bytes: lean loop answered %d (served %v), want 400 RequestHeaderSectionTooLarge", n, gotStatus, got != nil)
			}
			return
		case want == nil && got != nil:
			t.Fatalf("lean loop served what net/http refuses with %d:\n%q", wantStatus, head)
		case want != nil && got == nil:
			t.Fatalf("lean loop refused with %d what net/http serves:\n%q", gotStatus, head)
		case want == nil:
			if gotStatus != wantStatus {
				t.Fatalf("lean loop refused with %d, net/http with %d:\n%q", gotStatus, wantStatus, head)
			}
			if res == nil {
				return // neither answered
			}
			if code, id := res.Header.Get("X-Refusal-Code"), res.Header.Get("X-Refusal-Id"); code == "" || id == "" {
				t.Fatalf("refusal %d: code %q, request id %q", gotStatus, code, id)
			}
		default:
			if want.Method != got.Method || want.RequestURI != got.RequestURI || want.Host != got.Host ||
				want.URL != got.URL || want.Close != got.Close || !reflect.DeepEqual(want.Header, got.Header) {
				t.Fatalf("for %q\nnet/http served %+v\nlean loop    %+v", head, *want, *got)
			}
		}
	})
}

// seenRequest is what a handler saw of a request.
type seenRequest struct {
	Method, RequestURI, Host, URL string
	Close                         bool
	Header                        http.Header
}

type serveFunc struct {
	serve    func(net.Listener) error
	shutdown func(context.Context) error
}

// headOracle is a server on a loopback port whose handler reports each
// request it serves.
type headOracle struct {
	addr string
	seen chan seenRequest
}

func startHeadOracle(f *testing.F, start func(http.Handler) serveFunc) *headOracle {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	o := &headOracle{addr: ln.Addr().String(), seen: make(chan seenRequest, 1)}
	s := start(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case o.seen <- seenRequest{r.Method, r.RequestURI, r.Host, r.URL.String(), r.Close, r.Header.Clone()}:
		default:
		}
		w.Header().Set("Connection", "close")
	}))
	done := make(chan struct{})
	go func() { s.serve(ln); close(done) }()
	f.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.shutdown(ctx)
		<-done
	})
	return o
}

// send writes head as the start of a connection, ends the client's side
// and returns the request the handler saw first, or nil and the status of
// the server's answer (0 for none).
func (o *headOracle) send(t *testing.T, head []byte) (*seenRequest, int) {
	var res *http.Response
	return o.sendFull(t, head, &res)
}

func (o *headOracle) sendFull(t *testing.T, head []byte, res **http.Response) (*seenRequest, int) {
	t.Helper()
	c, err := net.Dial("tcp", o.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Closed with a reset once read, so that tens of thousands of runs do
	// not leave as many ports in TIME_WAIT.
	c.(*net.TCPConn).SetLinger(0)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(head); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	raw, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("reading the answer: %v", err)
	}
	select {
	case s := <-o.seen:
		return &s, 0
	default:
	}
	r, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
	if err != nil {
		return nil, 0
	}
	*res = r
	return nil, r.StatusCode
}
