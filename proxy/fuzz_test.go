package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/s3cache/s3cache/proxy/internal/s3api"
)

// FuzzHandler sends requests with fuzzed method, target, host and
// authentication headers and bodies through the whole handler. None of them
// carries a valid signature, so every one must end in a 4xx S3 XML error
// and none may reach the backend.
func FuzzHandler(f *testing.F) {
	seeds := []struct{ method, target, host, authz, date, sha, body string }{
		{"GET", "/bucket/key", "proxy.test", "AWS4-HMAC-SHA256 Credential=" + testKey + "/20240301/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + strings.Repeat("ab", 32), "20240301T000000Z", "UNSIGNED-PAYLOAD", ""},
		{"PUT", "/bucket/a//b?uploadId=1&partNumber=2", "bucket.s3.example.test", "AWS4-HMAC-SHA256 Credential=x", "", "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "5\r\nhello\r\n0\r\n\r\n"},
		{"GET", "/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20240301%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20240301T000000Z&X-Amz-Expires=604801&X-Amz-SignedHeaders=host&X-Amz-Signature=00", "proxy.test", "", "", "", ""},
		{"GET", "/objects/b/k?AWSAccessKeyId=a&Signature=b&Expires=1", "proxy.test", "AWS a:b", "", "", ""},
		{"DELETE", "/b?delete", "x.s3.example.test", "", "", "", "<Delete><Object><Key>k</Key></Object></Delete>"},
		{"HEAD", "/", "Bad_Name.s3.example.test", "", "", "", ""},
	}
	for _, s := range seeds {
		f.Add(s.method, s.target, s.host, s.authz, s.date, s.sha, s.body)
	}
	var backendHits atomic.Int64
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		backendHits.Add(1)
	}))
	f.Cleanup(backend.Close)
	p, err := New(Config{
		Endpoint:           strings.TrimPrefix(backend.URL, "http://"),
		AccessKey:          testKey,
		SecretKey:          testSecret,
		VirtualHostDomains: []string{"s3.example.test"},
		Logger:             discardLogger(),
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(p.Close)

	f.Fuzz(func(t *testing.T, method, target, host, authz, date, sha, body string) {
		u, err := url.ParseRequestURI(target)
		if err != nil || !validMethod(method) || strings.HasPrefix(u.Path, "/-/") {
			return // the HTTP server refuses these itself, or they are ops endpoints
		}
		r := &http.Request{
			Method:        method,
			URL:           u,
			RequestURI:    target,
			Proto:         "HTTP/1.1",
			ProtoMajor:    1,
			ProtoMinor:    1,
			Host:          host,
			Header:        http.Header{},
			Body:          http.NoBody,
			RemoteAddr:    "192.0.2.1:1234",
			ContentLength: int64(len(body)),
		}
		if body != "" {
			r.Body = readCloser{strings.NewReader(body)}
		}
		for k, v := range map[string]string{"Authorization": authz, "X-Amz-Date": date, "X-Amz-Content-Sha256": sha} {
			if v != "" {
				r.Header.Set(k, v)
			}
		}
		before := backendHits.Load()
		w := httptest.NewRecorder()
		p.ServeHTTP(w, r)
		if w.Code < 400 || w.Code >= 500 {
			t.Fatalf("%s %q (Host %q, Authorization %q): status %d, want 4xx\n%s", method, target, host, authz, w.Code, w.Body)
		}
		if method != http.MethodHead && !bytes.Contains(w.Body.Bytes(), []byte("<Code>")) {
			t.Fatalf("%s %q: %d without an S3 XML error: %q", method, target, w.Code, w.Body)
		}
		if backendHits.Load() != before {
			t.Fatalf("%s %q with a bad signature reached the backend", method, target)
		}
	})
}

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }

// validMethod reports whether m is an HTTP token, as the server requires.
func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for _, c := range m {
		if c <= ' ' || c >= 0x7f || strings.ContainsRune("()<>@,;:\\\"/[]?={}", c) {
			return false
		}
	}
	return true
}

func FuzzParsePolicy(f *testing.F) {
	f.Add("rules:\n  - bucket: media\n    prefix: thumbs/\n    ttl: 1h\n    max_object_bytes: 64MiB\n  - bucket: \"*\"\n    bypass: true\n")
	f.Add("rules: [{bucket: a, ignore_cache_control: true}]")
	f.Add("rules:\n  - prefix: x\n")
	f.Fuzz(func(t *testing.T, in string) {
		p, err := ParsePolicy(strings.NewReader(in), "fuzz.yaml")
		if err != nil {
			if p != nil || !errors.Is(err, ErrPolicy) {
				t.Fatalf("error %v with policy %v, or not ErrPolicy", err, p)
			}
			return
		}
		for _, r := range p.Rules {
			if r.Bucket != "*" && !s3api.ValidBucketName(r.Bucket) || r.TTL < 0 || r.MaxObjectBytes < 0 {
				t.Fatalf("accepted rule %+v", r)
			}
		}
	})
}

// FuzzLeanHead sends arbitrary bytes as the start of a connection to
// net/http's own server and to the lean loop (Server), each on a loopback
// port, and compares what they do with the first request: both serve it
// (with the same method, target, Host, header and Close), or both refuse
// it with the same status — the lean loop's in S3 XML, its RequestId the
// X-Amz-Request-Id header. A head over 8 KiB, which net/http would read,
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
		s := &Server{Handler: h, Fallback: &http.Server{Handler: h, ErrorLog: log.New(io.Discard, "", 0)}, Logger: discardLogger()}
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
		case n > maxHeadBytes:
			if got != nil || gotStatus != 400 || !strings.Contains(answerBody(res), "<Code>RequestHeaderSectionTooLarge</Code>") {
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
			if res != nil && res.Header.Get("Content-Type") != "application/xml" {
				t.Fatalf("refusal %d without XML: %q", gotStatus, res.Header.Get("Content-Type"))
			}
			body := answerBody(res)
			if id := res.Header.Get("X-Amz-Request-Id"); id == "" || !strings.HasPrefix(head2(data), "HEAD ") && !strings.Contains(body, "<RequestId>"+id+"</RequestId>") {
				t.Fatalf("refusal %d: request id %q, body %q", gotStatus, id, body)
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

func answerBody(res *http.Response) string {
	if res == nil {
		return ""
	}
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

// head2 returns the first bytes of b as a string, enough to see a method.
func head2(b []byte) string { return string(b[:min(len(b), 5)]) }
