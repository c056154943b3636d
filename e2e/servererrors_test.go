package e2e

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestBadRequestsGetS3Errors sends malformed and unsupported requests on
// raw connections, plain and TLS, and checks that s3cache answers each as
// S3 does — status, application/xml, the error code, a RequestId equal to
// X-Amz-Request-Id — at once (well within the 30 s header timeout), and
// closes the connection; a head with bare-LF line ends is served at once.
func TestBadRequestsGetS3Errors(t *testing.T) {
	t.Parallel()
	plain := newHarness(t, nil).proxy
	ca, backend := tlsBackend(t)
	secure := startProxy(t, proxyOptions{Backend: backend, TLS: ca, Env: map[string]string{"S3_USE_SSL": "true", "S3_CA_FILE": ca.caFile}})
	tests := []struct {
		name, raw string
		status    int
		code      string
	}{
		{"two Host headers", "GET /b/k HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "BadRequest"},
		{"Host with a space", "GET /b/k HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "BadRequest"},
		{"gzip Transfer-Encoding", "PUT /b/k HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "NotImplemented"},
		{"HTTP/9.9", "GET /b/k HTTP/9.9\r\nHost: a\r\n\r\n", 505, "HttpVersionNotSupported"},
		{"malformed request line", "GET /b/k\r\nHost: a\r\n\r\n", 400, "BadRequest"},
		{"header of 9 KiB", "GET /b/k HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("v", 9<<10) + "\r\n\r\n", 400, "RequestHeaderSectionTooLarge"},
		{"header of 64 KiB", "GET /b/k HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("v", 64<<10) + "\r\n\r\n", 400, "RequestHeaderSectionTooLarge"},
		{"after a request with a body on the same connection", "GET /-/healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx" +
			"GET /b/k HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "BadRequest"},
		{"bare LF line ends", "GET /-/healthz HTTP/1.1\nHost: a\nConnection: close\n\n", 200, ""},
	}
	for _, p := range []*proxyProc{plain, secure} {
		for _, tt := range tests {
			name := "plain/" + tt.name
			if p.TLS != nil {
				name = "TLS/" + tt.name
			}
			t.Run(name, func(t *testing.T) {
				c := rawConn(t, p)
				c.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := io.WriteString(c, tt.raw); err != nil {
					t.Fatal(err)
				}
				br := bufio.NewReader(c)
				res, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("no answer within 10s: %v", err)
				}
				if strings.HasPrefix(tt.name, "after a request with a body") {
					// Handed to net/http for its body, which it reads;
					// then the connection is the lean loop's again. (A
					// refused upload's unread body would close it.)
					body, _ := io.ReadAll(res.Body)
					if res.StatusCode != 200 {
						t.Fatalf("the GET with a body: %d %s", res.StatusCode, body)
					}
					if res, err = http.ReadResponse(br, nil); err != nil {
						t.Fatalf("no second answer within 10s: %v", err)
					}
				}
				body, err := io.ReadAll(res.Body)
				if err != nil {
					t.Fatal(err)
				}
				if res.StatusCode != tt.status {
					t.Fatalf("status %d, want %d; body %s", res.StatusCode, tt.status, body)
				}
				if tt.code == "" {
					return
				}
				id := res.Header.Get("X-Amz-Request-Id")
				if ct := res.Header.Get("Content-Type"); ct != "application/xml" || id == "" {
					t.Errorf("Content-Type %q, X-Amz-Request-Id %q; want application/xml and an id", ct, id)
				}
				if !strings.Contains(string(body), "<Code>"+tt.code+"</Code>") || !strings.Contains(string(body), "<RequestId>"+id+"</RequestId>") {
					t.Errorf("body %s; want code %s and RequestId %s", body, tt.code, id)
				}
				if _, err := br.ReadByte(); err != io.EOF {
					t.Errorf("after the error: read %v, want the connection closed", err)
				}
			})
		}
	}

	// HTTP/2 (over TLS) has no request line to get wrong, but its header
	// list is bounded the same.
	t.Run("TLS/HTTP/2 header of 9 KiB", func(t *testing.T) {
		pool := x509.NewCertPool()
		pool.AddCert(ca.cert)
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{RootCAs: pool}}}
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, secure.endpoint().URL+"/b/k", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Big", strings.Repeat("v", 9<<10))
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		id := res.Header.Get("X-Amz-Request-Id")
		if res.ProtoMajor != 2 || res.StatusCode != 400 || !strings.Contains(string(body), "<Code>RequestHeaderSectionTooLarge</Code>") || !strings.Contains(string(body), "<RequestId>"+id+"</RequestId>") {
			t.Errorf("HTTP/%d %d %s; want HTTP/2 400 RequestHeaderSectionTooLarge with RequestId %q", res.ProtoMajor, res.StatusCode, body, id)
		}
	})
}

// rawConn opens a connection to p: TCP, or TLS speaking HTTP/1.1.
func rawConn(t *testing.T, p *proxyProc) net.Conn {
	t.Helper()
	var c net.Conn
	var err error
	if p.TLS != nil {
		pool := x509.NewCertPool()
		pool.AddCert(p.TLS.cert)
		c, err = tls.Dial("tcp", p.Addr, &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}})
	} else {
		c, err = net.Dial("tcp", p.Addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
