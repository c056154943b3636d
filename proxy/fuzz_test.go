package proxy

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

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
