package proxy

import (
	"log/slog"
	"strings"
	"testing"
)

// TestReadDecisionsLogged: every debug line about why a read bypassed the
// cache names the request (its id, as the client got it in
// X-Amz-Request-Id), the bucket, the key and the reason.
func TestReadDecisionsLogged(t *testing.T) {
	fake, backend := newFakeS3(t)
	fake.objects["/bkt/some key"] = []byte("0123456789")
	log := &lockedBuffer{}
	_, srv := newTestProxy(t, backend, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	for _, c := range []struct {
		name, query, reason string
		header              map[string]string
	}{
		{"multiple ranges", "", "reason=multi-range", map[string]string{"Range": "bytes=0-1,4-5"}},
		{"customer-key encryption", "", "reason=sse-c", map[string]string{"X-Amz-Server-Side-Encryption-Customer-Algorithm": "AES256"}},
		{"a query the cache does not know", "?made-up=1", "reason=query-made-up", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := doSigned(t, "GET", srv.URL+"/bkt/some%20key"+c.query, c.header)
			readBody(t, res)
			id := res.Header.Get("X-Amz-Request-Id")
			for _, line := range strings.Split(log.String(), "\n") {
				if strings.Contains(line, "request_id="+id) && strings.Contains(line, "cache bypass") {
					if !strings.Contains(line, "bucket=bkt") || !strings.Contains(line, `key="some key"`) || !strings.Contains(line, c.reason) {
						t.Errorf("bypass line %q lacks the bucket, the key or %s", line, c.reason)
					}
					return
				}
			}
			t.Errorf("no bypass line with request_id=%s in:\n%s", id, log.String())
		})
	}
}
