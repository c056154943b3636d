package proxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// auditLines parses every line of an audit log, failing on anything that
// is not one JSON object with exactly the schema's fields.
func auditLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	fields := []string{"time", "request_id", "principal", "source_ip", "operation", "bucket", "key",
		"status", "bytes_in", "bytes_out", "cache", "latency_ms"}
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		if len(m) != len(fields) {
			t.Errorf("audit line %q: %d fields, want %d", line, len(m), len(fields))
		}
		for _, f := range fields {
			if _, ok := m[f]; !ok {
				t.Errorf("audit line %q: no %q", line, f)
			}
		}
		recs = append(recs, m)
	}
	return recs
}

// serveAs runs one request through p's handler (so that its audit line is
// written when it returns) from remote, signed with access and secret
// (anonymous when access is ""), or presigned when presign is set.
func serveAs(t *testing.T, p *Proxy, method, target, access, secret string, body []byte, presign bool) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, bytes.NewReader(body))
	req.RemoteAddr = "192.0.2.7:51234"
	creds := aws.Credentials{AccessKeyID: access, SecretAccessKey: secret}
	switch {
	case access == "":
	case presign:
		q := req.URL.Query()
		q.Set("X-Amz-Expires", "300")
		req.URL.RawQuery = q.Encode()
		u, _, err := newTestSigner().PresignHTTP(context.Background(), creds, req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if req.URL, err = url.Parse(u); err != nil {
			t.Fatal(err)
		}
		req.RequestURI = req.URL.RequestURI()
	default:
		sum := sha256.Sum256(body)
		signAs(t, req, hex.EncodeToString(sum[:]), access, secret)
	}
	w := httptest.NewRecorder()
	p.ServeHTTP(w, req)
	return w
}

// TestAuditLog sends a miss, a hit, a PUT with a body, a denied GET, a
// bad signature, a presigned GET, an anonymous GET, a DELETE through
// /objects and an ops request,
// and checks every field of every line, and that no secret, signature,
// credential or Authorization value is in the log.
func TestAuditLog(t *testing.T) {
	fake, backend := newFakeS3(t)
	fake.objects["/photos/a b"] = []byte("0123456789")
	fake.objects["/public/p"] = []byte("pub")
	audit := &lockedBuffer{}
	var debugLog bytes.Buffer
	p, _ := newTestProxy(t, backend, func(c *Config) {
		c.Auth = testAuth(t)
		c.AuditLog = audit
		c.Logger = slog.New(slog.NewTextHandler(&debugLog, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	start := time.Now()
	type want struct {
		principal, op, bucket, key, cache string
		status                            int
		in, out                           int64
	}
	var ids []string
	var secrets []string // must appear nowhere
	steps := []struct {
		name                   string
		method, target, access string
		secret                 string
		body                   []byte
		presign                bool
		want                   *want // nil: no line
	}{
		{"signed GET miss", "GET", "/photos/a%20b", "alice", "alice-secret", nil, false,
			&want{"alice", "GetObject", "photos", "a b", "MISS", 200, 0, 10}},
		{"signed GET hit", "GET", "/photos/a%20b", "alice", "alice-secret", nil, false,
			&want{"alice", "GetObject", "photos", "a b", "HIT", 200, 0, 10}},
		{"PUT with a body", "PUT", "/photos/new", "alice", "alice-secret", []byte("eleven byte"), false,
			&want{"alice", "PutObject", "photos", "new", "", 200, 11, 0}},
		{"403: bob may not read photos", "GET", "/photos/a%20b", "bob", "bob-secret", nil, false,
			&want{"bob", "GetObject", "photos", "a b", "", 403, 0, -1}},
		{"403: bad signature", "GET", "/photos/a%20b", "alice", "not-alice-secret", nil, false,
			&want{"", "", "photos", "a b", "", 403, 0, -1}},
		{"presigned GET", "GET", "/photos/a%20b?response-cache-control=no-cache", "carol", "carol-secret", nil, true,
			&want{"carol", "GetObject", "photos", "a b", "HIT", 200, 0, 10}},
		{"anonymous GET", "GET", "/public/p", "", "", nil, false,
			&want{"anonymous", "GetObject", "public", "p", "MISS", 200, 0, 3}},
		{"DELETE through /objects", "DELETE", "/objects/photos/new", "root", "root-secret", nil, false,
			&want{"root", "DeleteObject", "photos", "new", "", 204, 0, 0}},
		{"ops endpoint", "GET", "/-/healthz", "", "", nil, false, nil},
	}
	for _, s := range steps {
		w := serveAs(t, p, s.method, "http://proxy"+s.target, s.access, s.secret, s.body, s.presign)
		if s.want != nil && w.Code != s.want.status {
			t.Fatalf("%s: status %d, want %d: %s", s.name, w.Code, s.want.status, w.Body)
		}
		if s.want != nil {
			ids = append(ids, w.Header().Get("X-Amz-Request-Id"))
		}
		if s.secret != "" {
			secrets = append(secrets, s.secret)
		}
	}
	recs := auditLines(t, audit.String())
	var wants []*want
	var names []string
	for _, s := range steps {
		if s.want != nil {
			wants, names = append(wants, s.want), append(names, s.name)
		}
	}
	if len(recs) != len(wants) {
		t.Fatalf("%d audit lines, want %d:\n%s", len(recs), len(wants), audit.String())
	}
	for i, rec := range recs {
		w := wants[i]
		str := func(f string) string { s, _ := rec[f].(string); return s }
		num := func(f string) float64 { n, _ := rec[f].(float64); return n }
		check := func(f string, got, want any) {
			if got != want {
				t.Errorf("%s: %s = %v, want %v", names[i], f, got, want)
			}
		}
		check("request_id", str("request_id"), ids[i])
		check("principal", str("principal"), w.principal)
		check("source_ip", str("source_ip"), "192.0.2.7")
		check("operation", str("operation"), w.op)
		check("bucket", str("bucket"), w.bucket)
		check("key", str("key"), w.key)
		check("cache", str("cache"), w.cache)
		check("status", num("status"), float64(w.status))
		check("bytes_in", num("bytes_in"), float64(w.in))
		if w.out >= 0 {
			check("bytes_out", num("bytes_out"), float64(w.out))
		} else if num("bytes_out") <= 0 {
			t.Errorf("%s: bytes_out = %v, want the error body's length", names[i], rec["bytes_out"])
		}
		ts, err := time.Parse(time.RFC3339Nano, str("time"))
		if err != nil || ts.Before(start.Add(-time.Second)) || ts.After(time.Now()) || len(str("time")) != len("2006-01-02T15:04:05.000Z") {
			t.Errorf("%s: time %q (%v), want RFC 3339 in ms, UTC, during the test", names[i], str("time"), err)
		}
		if l, ok := rec["latency_ms"].(float64); !ok || l < 0 || l > float64(time.Since(start).Milliseconds()+1) {
			t.Errorf("%s: latency_ms %v", names[i], rec["latency_ms"])
		}
	}

	// The presigned request's query, and every secret, signature and
	// Authorization value, are in neither the audit log nor the debug log.
	out := audit.String() + debugLog.String()
	for _, s := range append(secrets, "X-Amz-Signature", "X-Amz-Credential", "Signature=", "AWS4-HMAC-SHA256", "Credential=", "response-cache-control") {
		if strings.Contains(out, s) {
			t.Errorf("the logs contain %q", s)
		}
	}
}

// failingWriter fails every write.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// TestAuditLogFailure: a failing audit log never fails a request, and is
// reported once, not once per request.
func TestAuditLogFailure(t *testing.T) {
	fake, backend := newFakeS3(t)
	fake.objects["/bkt/k"] = []byte("v")
	var log lockedBuffer
	p, _ := newTestProxy(t, backend, func(c *Config) {
		c.AuditLog = failingWriter{}
		c.Logger = slog.New(slog.NewTextHandler(&log, nil))
	})
	for i := range 5 {
		if w := serveAs(t, p, "GET", "http://proxy/bkt/k", testKey, testSecret, nil, false); w.Code != 200 || w.Body.String() != "v" {
			t.Fatalf("GET %d: %d %q, want 200", i+1, w.Code, w.Body)
		}
	}
	if n := strings.Count(log.String(), "audit log write failed"); n != 1 {
		t.Errorf("the failure was logged %d times, want once:\n%s", n, log.String())
	}
}

// TestAuditLogConcurrent: lines written by concurrent requests never
// interleave.
func TestAuditLogConcurrent(t *testing.T) {
	fake, backend := newFakeS3(t)
	fake.objects["/bkt/k"] = bytes.Repeat([]byte("x"), 1000)
	audit := &lockedBuffer{}
	_, srv := newTestProxy(t, backend, func(c *Config) { c.AuditLog = audit })
	var wg sync.WaitGroup
	const n = 40
	for range n {
		wg.Go(func() {
			res, err := send(t, "GET", srv.URL+"/bkt/"+strings.Repeat("k", 1), nil, testSecret)
			if err != nil {
				t.Error(err)
				return
			}
			readBody(t, res)
		})
	}
	wg.Wait()
	srv.Close() // waits for the handlers, and so for their audit lines
	if recs := auditLines(t, audit.String()); len(recs) != n {
		t.Errorf("%d audit lines, want %d", len(recs), n)
	}
}
