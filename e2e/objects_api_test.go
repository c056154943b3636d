package e2e

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// TestObjectsAPI drives the simple /objects/{bucket}/{key} API with curl,
// and checks that it shares the cache with the S3 API.
func TestObjectsAPI(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	e := h.endpoint()
	bucket := newBucket(t, e)
	objURL := func(key string) string { return e.URL + "/objects/" + bucket + "/" + escapeKey(key) }
	data := randomBytes(t, 10<<10)
	src := filepath.Join(t.TempDir(), "src.csv")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	const key = "docs/report.csv"
	signed := func(args ...string) []string { return append(sigv4(e), args...) }
	put := func(t *testing.T, key string) {
		t.Helper()
		r := curl(t, signed("-X", "PUT", "-H", "Content-Type: text/csv", "--data-binary", "@"+src, objURL(key))...)
		if r.Status != http.StatusOK {
			t.Fatalf("PUT /objects: status %d, body %q; want 200", r.Status, r.Body)
		}
	}
	var miss httpResult

	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"PUT", func(t *testing.T) { put(t, key) }},
		{"GET miss", func(t *testing.T) {
			miss = curl(t, signed(objURL(key))...)
			if miss.Status != 200 || !bytes.Equal(miss.Body, data) {
				t.Fatalf("GET: status %d, %d bytes; want 200 with the %d stored", miss.Status, len(miss.Body), len(data))
			}
			want := map[string]string{"Content-Type": "text/csv", "Content-Length": strconv.Itoa(len(data)), "X-Cache": "MISS"}
			for name, v := range want {
				if got := miss.Header.Get(name); got != v {
					t.Errorf("%s = %q, want %q", name, got, v)
				}
			}
			for _, name := range []string{"ETag", "Last-Modified"} {
				if miss.Header.Get(name) == "" {
					t.Errorf("%s missing", name)
				}
			}
		}},
		{"GET hit", func(t *testing.T) {
			r := curl(t, signed(objURL(key))...)
			if r.Status != 200 || !bytes.Equal(r.Body, data) {
				t.Fatalf("GET: status %d, %d bytes", r.Status, len(r.Body))
			}
			wantXCache(t, "second GET", r.Header, "HIT")
			for _, name := range []string{"Content-Type", "Content-Length", "ETag", "Last-Modified"} {
				if got, want := r.Header.Get(name), miss.Header.Get(name); got != want {
					t.Errorf("%s on hit = %q, want %q", name, got, want)
				}
			}
			if n := h.relay.count(http.MethodGet, bucket, key); n != 1 {
				t.Errorf("backend saw %d GETs, want 1", n)
			}
		}},
		{"HEAD", func(t *testing.T) {
			r := curl(t, signed("-I", objURL(key))...)
			if r.Status != 200 || r.Header.Get("Content-Length") != strconv.Itoa(len(data)) {
				t.Errorf("HEAD: status %d, Content-Length %q", r.Status, r.Header.Get("Content-Length"))
			}
			if r.Header.Get("X-Cache") == "" {
				t.Errorf("HEAD: no X-Cache header")
			}
		}},
		{"GET documented curl form", func(t *testing.T) {
			// Exactly the README's form, without the x-amz-content-sha256 header.
			args := []string{"--aws-sigv4", "aws:amz:" + testRegion + ":s3", "--user", e.Access + ":" + e.Secret, objURL(key)}
			if r := curl(t, args...); r.Status != 200 || !bytes.Equal(r.Body, data) {
				t.Errorf("GET: status %d, body %.200q", r.Status, r.Body)
			}
		}},
		{"DELETE", func(t *testing.T) {
			if r := curl(t, signed("-X", "DELETE", objURL(key))...); r.Status != http.StatusNoContent {
				t.Errorf("DELETE: status %d, body %q; want 204", r.Status, r.Body)
			}
		}},
		{"GET after delete", func(t *testing.T) {
			r := curl(t, signed(objURL(key))...)
			if r.Status != 404 || r.xmlCode() != "NoSuchKey" {
				t.Errorf("GET: status %d, body %q; want 404 <Code>NoSuchKey</Code>", r.Status, r.Body)
			}
		}},
		{"written via objects, hit via S3 API", func(t *testing.T) {
			const k = "shared/one.csv"
			put(t, k)
			if r := curl(t, signed(objURL(k))...); r.Status != 200 {
				t.Fatalf("GET /objects: %d", r.Status)
			} else {
				wantXCache(t, "GET /objects", r.Header, "MISS")
			}
			r := curl(t, signed(objectURL(e, bucket, k))...)
			if r.Status != 200 || !bytes.Equal(r.Body, data) {
				t.Fatalf("GET via S3 API: status %d, %d bytes", r.Status, len(r.Body))
			}
			wantXCache(t, "GET via S3 API after /objects fill", r.Header, "HIT")
			if n := h.relay.count(http.MethodGet, bucket, k); n != 1 {
				t.Errorf("backend saw %d GETs, want 1", n)
			}
		}},
		{"written via S3 API, hit via objects", func(t *testing.T) {
			const k = "shared/two.bin"
			putBytes(t, e, bucket, k, data)
			g := sdkGet(t, e, bucket, k)
			wantXCache(t, "SDK GET", g.Header, "MISS")
			r := curl(t, signed(objURL(k))...)
			if r.Status != 200 || !bytes.Equal(r.Body, data) {
				t.Fatalf("GET /objects: status %d, %d bytes", r.Status, len(r.Body))
			}
			wantXCache(t, "GET /objects after S3 API fill", r.Header, "HIT")
			if n := h.relay.count(http.MethodGet, bucket, k); n != 1 {
				t.Errorf("backend saw %d GETs, want 1", n)
			}
		}},
	}
	for _, s := range steps {
		t.Run(s.name, s.run)
	}
}
