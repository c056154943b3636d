package proxy

import (
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/s3cache/s3cache/proxy/internal/s3api"
)

// TestKeyChecks: a key S3 refuses is refused by the proxy, in S3's words,
// on both front ends and for reads and writes alike, without asking the
// backend; a key at the limit goes through.
func TestKeyChecks(t *testing.T) {
	fake, backend := newFakeS3(t)
	_, srv := newTestProxy(t, backend, nil)
	stored := func() int { fake.mu.Lock(); defer fake.mu.Unlock(); return len(fake.objects) }
	at := strings.Repeat("é", s3api.MaxKeyBytes/2) // 1024 bytes in 512 characters
	over := at + "x"
	tests := []struct {
		name, method, key string
		status            int
		code, size        string
	}{
		{"PUT 2048 bytes", "PUT", strings.Repeat("k", 2048), 400, "KeyTooLongError", "2048"},
		{"GET 1025 bytes", "GET", over, 400, "KeyTooLongError", "1025"},
		{"DELETE 1025 bytes", "DELETE", over, 400, "KeyTooLongError", "1025"},
		{"PUT 1024 bytes", "PUT", at, 200, "", ""},
		{"GET 1024 bytes", "GET", at, 200, "", ""},
		{"PUT NUL", "PUT", "a\x00b", 400, "InvalidArgument", ""},
		{"GET NUL", "GET", "a\x00b", 400, "InvalidArgument", ""},
		{"PUT other control character", "PUT", "a\x01b", 200, "", ""},
	}
	for _, front := range []string{"/bkt/", "/objects/bkt/"} {
		for _, tt := range tests {
			t.Run(front+tt.name, func(t *testing.T) {
				before := stored()
				gets := fake.getCount("/bkt/" + tt.key)
				res := do(t, tt.method, srv.URL+front+url.PathEscape(tt.key), []byte("data"), testSecret)
				body := readBody(t, res)
				if res.StatusCode != tt.status {
					t.Fatalf("status %d, want %d; body %q", res.StatusCode, tt.status, body)
				}
				if tt.code == "" {
					return
				}
				e := parseErrorBody(t, body)
				if e.Code != tt.code || e.RequestID != res.Header.Get("X-Amz-Request-Id") {
					t.Errorf("error %+v, want code %s and the header's request id", e, tt.code)
				}
				if tt.size != "" && (e.Size != tt.size || e.MaxSizeAllowed != strconv.Itoa(s3api.MaxKeyBytes)) {
					t.Errorf("Size %q, MaxSizeAllowed %q; want %s and %d", e.Size, e.MaxSizeAllowed, tt.size, s3api.MaxKeyBytes)
				}
				if stored() != before || fake.getCount("/bkt/"+tt.key) != gets {
					t.Errorf("the backend was asked")
				}
			})
		}
	}
}
