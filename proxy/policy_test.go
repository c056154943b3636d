package proxy

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParsePolicy(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    []Rule
		wantErr string // substring, with the line
	}{
		{name: "empty", yaml: "", want: []Rule{}},
		{name: "rules", yaml: `
rules:
  - bucket: logs
    bypass: true
  - bucket: assets
    prefix: thumbs/
    ttl: 1h
    max_object_bytes: 4MiB
    ignore_cache_control: true
  - bucket: "*"
    ttl: 30s
`, want: []Rule{
			{Bucket: "logs", Bypass: true},
			{Bucket: "assets", Prefix: "thumbs/", TTL: time.Hour, MaxObjectBytes: 4 << 20, IgnoreCacheControl: true},
			{Bucket: "*", TTL: 30 * time.Second},
		}},
		{name: "unknown top-level field", yaml: "rules: []\ncolour: blue\n", wantErr: "line 2"},
		{name: "unknown rule field", yaml: "rules:\n  - bucket: a1b\n    tll: 1h\n", wantErr: `line 3: unknown field "tll"`},
		{name: "bad ttl", yaml: "rules:\n  - bucket: abc\n    ttl: banana\n", wantErr: `line 3: ttl "banana"`},
		{name: "negative ttl", yaml: "rules:\n  - bucket: abc\n    ttl: -1m\n", wantErr: "line 3: ttl"},
		{name: "bad size", yaml: "rules:\n  - bucket: abc\n\n    max_object_bytes: lots\n", wantErr: "line 4: max_object_bytes"},
		{name: "bad bool", yaml: "rules:\n  - bucket: abc\n    bypass: maybe\n", wantErr: "line 3"},
		{name: "missing bucket", yaml: "rules:\n  - prefix: a/\n", wantErr: `line 2: a rule needs "bucket"`},
		{name: "bad bucket", yaml: "rules:\n  - bucket: Not_Valid\n", wantErr: "line 2: bucket"},
		{name: "bypass with ttl", yaml: "rules:\n  - bucket: abc\n    bypass: true\n    ttl: 1m\n", wantErr: "line 2: a bypass rule"},
		{name: "rule not a mapping", yaml: "rules:\n  - abc\n", wantErr: "line 2"},
		{name: "two documents", yaml: "rules: []\n---\nrules: []\n", wantErr: "only one YAML document"},
		{name: "not YAML", yaml: "rules: [\n", wantErr: "policy.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePolicy(strings.NewReader(tt.yaml), "policy.yaml")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrPolicy) {
					t.Fatalf("err = %v, want ErrPolicy mentioning %q", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), "policy.yaml") {
					t.Errorf("err = %v, want the file name in it", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Rules) != len(tt.want) {
				t.Fatalf("got %d rules, want %d: %+v", len(p.Rules), len(tt.want), p.Rules)
			}
			for i := range tt.want {
				if p.Rules[i] != tt.want[i] {
					t.Errorf("rule %d = %+v, want %+v", i, p.Rules[i], tt.want[i])
				}
			}
		})
	}
}

func TestPolicyMatch(t *testing.T) {
	p := &Policy{Rules: []Rule{
		{Bucket: "assets", Prefix: "thumbs/", TTL: time.Hour},
		{Bucket: "assets", Bypass: true},
		{Bucket: "*", Prefix: "tmp/", Bypass: true},
	}}
	tests := []struct {
		bucket, key string
		want        int // index of the rule, -1 for none
	}{
		{"assets", "thumbs/a.png", 0},
		{"assets", "big/a.iso", 1},
		{"other", "tmp/x", 2},
		{"other", "keep/x", -1},
	}
	for _, tt := range tests {
		got := p.match(tt.bucket, tt.key)
		if (tt.want < 0) != (got == nil) || tt.want >= 0 && got != &p.Rules[tt.want] {
			t.Errorf("match(%s, %s) = %+v, want rule %d", tt.bucket, tt.key, got, tt.want)
		}
	}
	if (*Policy)(nil).match("a", "b") != nil {
		t.Error("nil policy matched")
	}
}

// TestPolicyApplied drives the rules through the proxy: bypass, a
// per-prefix TTL, a per-bucket size cap, and caching of no-store objects.
func TestPolicyApplied(t *testing.T) {
	fake, backend := newFakeS3(t)
	for _, k := range []string{"/logs/a", "/assets/thumbs/a", "/assets/other", "/big/obj", "/priv/nostore", "/open/nostore"} {
		fake.objects[k] = []byte(strings.Repeat("x", 2000))
	}
	fake.onGet = func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/nostore") {
			return false
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Length", "7")
		w.Write([]byte("private"))
		return true
	}
	clk := &offsetClock{}
	policy := &Policy{Rules: []Rule{
		{Bucket: "logs", Bypass: true},
		{Bucket: "assets", Prefix: "thumbs/", TTL: 10 * time.Minute},
		{Bucket: "big", MaxObjectBytes: 1000},
		{Bucket: "open", IgnoreCacheControl: true},
	}}
	_, srv := newTestProxy(t, backend, func(c *Config) {
		c.CacheTTL = time.Minute
		c.CachePolicy = policy
		c.Now = clk.Now
	})
	xcache := func(path string) string {
		t.Helper()
		res := do(t, "GET", srv.URL+path, nil, testSecret)
		readBody(t, res)
		return res.Header.Get("X-Cache")
	}
	for _, path := range []string{"/logs/a", "/assets/thumbs/a", "/assets/other", "/big/obj", "/priv/nostore", "/open/nostore"} {
		xcache(path) // first GET: fill where allowed
	}
	tests := []struct {
		path, want string
	}{
		{"/logs/a", "BYPASS; reason=policy-rule"},
		{"/big/obj", xCacheHit},         // 2000 bytes > the rule's 1000: cached in blocks
		{"/priv/nostore", xCacheMiss},   // no-store is honoured by default
		{"/open/nostore", xCacheHit},    // ...unless a rule says otherwise
		{"/assets/thumbs/a", xCacheHit}, // 10m rule TTL
		{"/assets/other", xCacheHit},    // global 1m TTL
	}
	for _, tt := range tests {
		if got := xcache(tt.path); got != tt.want {
			t.Errorf("GET %s: X-Cache %q, want %q", tt.path, got, tt.want)
		}
	}
	// Five minutes on, only the entry under the 10-minute rule is fresh.
	clk.Advance(5 * time.Minute)
	if got := xcache("/assets/thumbs/a"); got != xCacheHit {
		t.Errorf("rule TTL: X-Cache %q after 5m, want HIT", got)
	}
	if got := xcache("/assets/other"); got == xCacheHit {
		t.Errorf("global TTL: X-Cache %q after 5m, want not HIT", got)
	}
	if n := fake.getCount("/logs/a"); n != 2 {
		t.Errorf("bypassed object: backend GETs = %d, want 2", n)
	}
}

// TestEncryptedObjectsNotStored: objects the backend says are encrypted
// with SSE-KMS or SSE-C are relayed, never stored, whatever the policy.
func TestEncryptedObjectsNotStored(t *testing.T) {
	for _, tc := range []struct{ name, header, value string }{
		{"SSE-KMS", "X-Amz-Server-Side-Encryption", "aws:kms"},
		{"SSE-KMS-DSSE", "X-Amz-Server-Side-Encryption", "aws:kms:dsse"},
		{"SSE-C", "X-Amz-Server-Side-Encryption-Customer-Algorithm", "AES256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake, backend := newFakeS3(t)
			fake.onGet = func(w http.ResponseWriter, r *http.Request) bool {
				w.Header().Set(tc.header, tc.value)
				w.Header().Set("Content-Length", "6")
				w.Write([]byte("secret"))
				return true
			}
			_, srv := newTestProxy(t, backend, func(c *Config) {
				c.CachePolicy = &Policy{Rules: []Rule{{Bucket: "*", IgnoreCacheControl: true}}}
			})
			for i := range 2 {
				res := do(t, "GET", srv.URL+"/bkt/enc", nil, testSecret)
				if got := readBody(t, res); got != "secret" || res.Header.Get("X-Cache") != xCacheMiss {
					t.Errorf("GET %d: %q X-Cache %q, want secret MISS", i, got, res.Header.Get("X-Cache"))
				}
			}
			if n := fake.getCount("/bkt/enc"); n != 2 {
				t.Errorf("backend GETs = %d, want 2", n)
			}
		})
	}
}
