package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3cache/s3cache/proxy/internal/leanhttp"
)

// testServer is a proxy served on a loopback port through the front end
// s3cache runs: NewServer's lean loop, with a net/http Fallback and the
// default WRITE_TIMEOUT. The proxy's unit tests go through it, so that a
// difference between the lean loop and net/http shows below e2e.
type testServer struct {
	URL  string // "http://" and the address
	Addr string // host:port

	srv  *leanhttp.Server
	done chan error // Serve's result
	once sync.Once
	err  error // of closing
}

// serveFrontEnd starts a testServer for p; it is closed when the test
// ends.
func serveFrontEnd(t testing.TB, p *Proxy) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{URL: "http://" + ln.Addr().String(), Addr: ln.Addr().String(), srv: NewServer(p, nil), done: make(chan error, 1)}
	s.srv.WriteTimeout = time.Minute // as WRITE_TIMEOUT's default
	go func() { s.done <- s.srv.Serve(ln) }()
	t.Cleanup(func() {
		if s.Close(); s.err != nil {
			t.Errorf("closing the front end: %v", s.err)
		}
	})
	return s
}

// Close shuts the server down and waits for the requests in flight and
// their handlers to finish. Later calls do nothing.
func (s *testServer) Close() {
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if s.err = s.srv.Shutdown(ctx); s.err != nil {
			return
		}
		if err := <-s.done; err != http.ErrServerClosed {
			s.err = fmt.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
}

// TestServerRefusesWithS3Errors checks the heads the front end refuses
// before any handler runs: S3's status, code and message in XML, the
// body's RequestId equal to X-Amz-Request-Id, and the connection closed
// at once.
func TestServerRefusesWithS3Errors(t *testing.T) {
	_, backend := newFakeS3(t)
	p, _ := newTestProxy(t, backend, nil)
	addr := serveFrontEnd(t, p).Addr
	const badRequest = `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<Error><Code>BadRequest</Code><Message>An error occurred when parsing the HTTP request.</Message><RequestId>ID</RequestId></Error>`
	tests := []struct {
		name, raw, method string
		status            int
		body              string // with the request id as "ID"; "" for none
	}{
		{"two Hosts", "GET /b/k HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "GET", 400, badRequest},
		{"no Host", "GET /b/k HTTP/1.1\r\n\r\n", "GET", 400, badRequest},
		{"HTTP/9.9", "GET /b/k HTTP/9.9\r\nHost: a\r\n\r\n", "GET", 505, `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
			`<Error><Code>HttpVersionNotSupported</Code><Message>The HTTP version specified is not supported.</Message><RequestId>ID</RequestId></Error>`},
		{"gzip transfer coding", "PUT /b/k HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", "PUT", 501, `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
			`<Error><Code>NotImplemented</Code><Message>A header you provided implies functionality that is not implemented</Message><Header>Transfer-Encoding</Header><RequestId>ID</RequestId></Error>`},
		{"unknown expectation", "PUT /b/k HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\nContent-Length: 1\r\n\r\nx", "PUT", 417, `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
			`<Error><Code>ExpectationFailed</Code><Message>The Expect header you provided is not supported.</Message><RequestId>ID</RequestId></Error>`},
		{"header over 8 KiB", "GET /b/k HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("v", 8<<10) + "\r\n\r\n", "GET", 400, `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
			`<Error><Code>RequestHeaderSectionTooLarge</Code><Message>Your request header section exceeds the maximum allowed size.</Message><RequestId>ID</RequestId></Error>`},
		{"cut mid-head", "GET /b/k HTTP/1.1\r\nHost: a\r\n", "GET", 400, badRequest},
		{"HEAD", "HEAD /b/k HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "HEAD", 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(c, tt.raw)
			if !strings.HasSuffix(tt.raw, "\r\n\r\n") && !strings.HasSuffix(tt.raw, "x") {
				c.(*net.TCPConn).CloseWrite()
			}
			br := bufio.NewReader(c)
			res, err := http.ReadResponse(br, &http.Request{Method: tt.method})
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			id := res.Header.Get("X-Amz-Request-Id")
			if res.StatusCode != tt.status || res.Header.Get("Content-Type") != "application/xml" || id == "" || !res.Close {
				t.Fatalf("got %d %q id %q close %v; want %d application/xml with an id, closing", res.StatusCode, res.Header.Get("Content-Type"), id, res.Close, tt.status)
			}
			if got := strings.ReplaceAll(string(body), "<RequestId>"+id+"</RequestId>", "<RequestId>ID</RequestId>"); got != tt.body {
				t.Errorf("body\n%s\nwant\n%s", got, tt.body)
			}
			if _, err := br.ReadByte(); err != io.EOF {
				t.Errorf("after the refusal: read %v, want EOF", err)
			}
		})
	}
}
