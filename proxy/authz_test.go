package proxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
)

// testAuth is the configuration of the authorization tests, internal/identity/testdata/users.yaml:
// alice owns photos, bob reads logs, carol reads photos, root may do
// everything.
func testAuth(t testing.TB) *AuthConfig {
	t.Helper()
	f, err := os.Open("internal/identity/testdata/users.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a, err := ParseAuthConfig(f, "users.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// doAs sends a request signed with access and secret (anonymous when
// access is "") with the given headers.
func doAs(t *testing.T, method, url, access, secret string, body []byte, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if access != "" {
		sum := sha256.Sum256(body)
		signAs(t, req, hex.EncodeToString(sum[:]), access, secret)
	}
	res, err := rawClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

// TestCachedObjectNeedsRead fills the cache as alice and checks that bob,
// who may not read the bucket, gets 403 with nothing of the object while
// the backend never hears of him, and that carol, who may, gets a hit.
func TestCachedObjectNeedsRead(t *testing.T) {
	fake, backend := newFakeS3(t)
	_, srv := newTestProxy(t, backend, func(c *Config) { c.Auth = testAuth(t) })
	const secret = "alice's cached bytes"
	for _, front := range []string{"/photos/", "/objects/photos/"} {
		t.Run(front, func(t *testing.T) {
			key := "k" + strings.ReplaceAll(front, "/", "")
			u := srv.URL + front + key
			if res := doAs(t, "PUT", u, "alice", "alice-secret", []byte(secret), nil); res.StatusCode/100 != 2 {
				t.Fatalf("alice PUT: %d %s", res.StatusCode, readBody(t, res))
			}
			for _, want := range []string{"MISS", "HIT"} {
				res := doAs(t, "GET", u, "alice", "alice-secret", nil, nil)
				if body := readBody(t, res); res.StatusCode != 200 || body != secret || res.Header.Get("X-Cache") != want {
					t.Fatalf("alice GET: %d X-Cache %q %q, want 200 %s", res.StatusCode, res.Header.Get("X-Cache"), body, want)
				}
			}
			gets := fake.getCount("/photos/" + key)
			for _, m := range []string{"GET", "HEAD"} {
				for _, who := range []struct{ access, secret string }{{"bob", "bob-secret"}, {"", ""}} {
					res := doAs(t, m, u, who.access, who.secret, nil, map[string]string{"Range": "bytes=0-3"})
					body := readBody(t, res)
					if res.StatusCode != http.StatusForbidden || (m == "GET" && !strings.Contains(body, "<Code>AccessDenied</Code>")) {
						t.Errorf("%s %s as %q: %d %q, want 403 AccessDenied", m, u, who.access, res.StatusCode, body)
					}
					if strings.Contains(body, "alice") || res.Header.Get("X-Cache") != "" || res.Header.Get("ETag") != "" {
						t.Errorf("%s as %q leaked the object: X-Cache %q ETag %q body %q", m, who.access, res.Header.Get("X-Cache"), res.Header.Get("ETag"), body)
					}
				}
			}
			res := doAs(t, "GET", u, "carol", "carol-secret", nil, nil)
			if body := readBody(t, res); res.StatusCode != 200 || body != secret || res.Header.Get("X-Cache") != "HIT" {
				t.Errorf("carol GET: %d X-Cache %q %q, want 200 HIT", res.StatusCode, res.Header.Get("X-Cache"), body)
			}
			if res := doAs(t, "PUT", u, "carol", "carol-secret", []byte("overwrite"), nil); res.StatusCode != http.StatusForbidden {
				t.Errorf("carol PUT: %d, want 403", res.StatusCode)
			}
			if got := fake.getCount("/photos/" + key); got != gets {
				t.Errorf("backend saw %d more GETs after the fill, want 0", got-gets)
			}
		})
	}
}

const listBucketsXML = `<?xml version="1.0" encoding="UTF-8"?>
<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>o</ID><DisplayName>o</DisplayName></Owner><Buckets>
  <Bucket><Name>logs</Name><CreationDate>2026-01-01T00:00:00.000Z</CreationDate></Bucket>
  <Bucket><Name>photos</Name><CreationDate>2026-01-02T00:00:00.000Z</CreationDate></Bucket>
  <Bucket><Name>public</Name><CreationDate>2026-01-03T00:00:00.000Z</CreationDate></Bucket>
</Buckets></ListAllMyBucketsResult>`

func TestListBucketsFiltered(t *testing.T) {
	fake, backend := newFakeS3(t)
	fake.onGet = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/" {
			return false
		}
		w.Header().Set("Content-Type", "application/xml")
		io.WriteString(w, listBucketsXML)
		return true
	}
	_, srv := newTestProxy(t, backend, func(c *Config) { c.Auth = testAuth(t) })
	drop := func(names ...string) string {
		s := listBucketsXML
		for _, n := range names {
			i := strings.Index(s, "<Bucket><Name>"+n+"<")
			j := strings.Index(s[i:], "</Bucket>") + i + len("</Bucket>")
			s = s[:i] + s[j:]
		}
		return s
	}
	tests := []struct{ user, want string }{
		{"alice", drop("public")},
		{"bob", drop("photos", "public")},
		{"writer", drop("logs", "photos", "public")},
		{"root", listBucketsXML},
		{"auditor", listBucketsXML},
	}
	for _, tc := range tests {
		t.Run(tc.user, func(t *testing.T) {
			res := doAs(t, "GET", srv.URL+"/", tc.user, tc.user+"-secret", nil, map[string]string{"Accept-Encoding": "gzip"})
			body := readBody(t, res)
			if res.StatusCode != 200 || body != tc.want {
				t.Errorf("ListBuckets: %d\n%s\nwant\n%s", res.StatusCode, body, tc.want)
			}
			if res.ContentLength != int64(len(tc.want)) {
				t.Errorf("Content-Length %d, want %d", res.ContentLength, len(tc.want))
			}
		})
	}
	if res := doAs(t, "GET", srv.URL+"/", "", "", nil, nil); res.StatusCode != http.StatusForbidden {
		t.Errorf("anonymous ListBuckets: %d, want 403", res.StatusCode)
	}
}

// TestSetAuth swaps the configuration while the proxy runs: bob gains
// read on photos, alice loses her access, and the default single user
// comes back with nil.
func TestSetAuth(t *testing.T) {
	_, backend := newFakeS3(t)
	p, srv := newTestProxy(t, backend, func(c *Config) { c.Auth = testAuth(t) })
	u := srv.URL + "/photos/k"
	if res := doAs(t, "PUT", u, "alice", "alice-secret", []byte("v"), nil); res.StatusCode != 200 {
		t.Fatalf("alice PUT: %d", res.StatusCode)
	}
	if res := doAs(t, "GET", u, "bob", "bob-secret", nil, nil); res.StatusCode != 403 {
		t.Fatalf("bob GET before reload: %d, want 403", res.StatusCode)
	}
	next, err := NewAuthConfig([]User{{AccessKey: "bob", SecretKey: "bob-secret", Buckets: map[string]Permission{"photos": PermRead}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.SetAuth(next)
	if res := doAs(t, "GET", u, "bob", "bob-secret", nil, nil); res.StatusCode != 200 {
		t.Errorf("bob GET after reload: %d, want 200", res.StatusCode)
	}
	res := doAs(t, "GET", u, "alice", "alice-secret", nil, nil)
	if body := readBody(t, res); res.StatusCode != 403 || !strings.Contains(body, "InvalidAccessKeyId") {
		t.Errorf("alice GET after reload: %d %s, want 403 InvalidAccessKeyId", res.StatusCode, body)
	}
	p.SetAuth(nil)
	if res := doAs(t, "GET", u, testKey, testSecret, nil, nil); res.StatusCode != 200 {
		t.Errorf("default user after SetAuth(nil): %d, want 200", res.StatusCode)
	}
	if res := doAs(t, "GET", u, "", "", nil, nil); res.StatusCode != 403 {
		t.Errorf("anonymous after SetAuth(nil): %d, want 403", res.StatusCode)
	}
}
