package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestBackendDirect checks the harness without the proxy: versitygw, the
// counting relay and every client, pointed straight at the relay. When it
// fails, the other tests' failures say nothing about s3cache.
func TestBackendDirect(t *testing.T) {
	t.Parallel()
	r := newRelay(t, backendAddr(t))
	e := endpoint{URL: r.URL(), Access: testAccess, Secret: testSecret}
	bucket := newBucket(t, e)

	for _, c := range allClients {
		t.Run(c.name(), func(t *testing.T) {
			key := "direct/" + c.name()
			body := []byte("hello from " + c.name())
			putGetListDelete(t, c, e, bucket, key, body)
			if got := r.count("GET", bucket, key); got != 2 {
				t.Errorf("relay counted %d GETs of %s, want 2", got, key)
			}
		})
	}

	t.Run("aws cli", func(t *testing.T) {
		src := filepath.Join(t.TempDir(), "src")
		if err := os.WriteFile(src, []byte("cli bytes"), 0o644); err != nil {
			t.Fatal(err)
		}
		mustAWS(t, e, "s3", "cp", "--no-progress", src, "s3://"+bucket+"/cli/obj")
		if out := mustAWS(t, e, "s3", "ls", "s3://"+bucket+"/cli/"); !strings.Contains(out, "obj") {
			t.Errorf("aws s3 ls: %q, want obj listed", out)
		}
	})

	t.Run("curl", func(t *testing.T) {
		putBytes(t, e, bucket, "curl/obj", []byte("curl bytes"))
		res := curl(t, append(sigv4(e), objectURL(e, bucket, "curl/obj"))...)
		if res.Status != 200 || string(res.Body) != "curl bytes" {
			t.Errorf("curl GET: %d %q, want 200 %q", res.Status, res.Body, "curl bytes")
		}
		res = curl(t, objectURL(e, bucket, "curl/obj"))
		if res.Status != 403 || res.xmlCode() != "AccessDenied" {
			t.Errorf("anonymous curl GET: %d %q, want 403 AccessDenied", res.Status, res.Body)
		}
	})
}

// putGetListDelete puts body at bucket/key through e with client c, reads
// it back, lists it, deletes it and reads it again, and checks each answer.
func putGetListDelete(t *testing.T, c s3Client, e endpoint, bucket, key string, body []byte) {
	t.Helper()
	res := c.run(t, e, []op{
		{Op: "put", Bucket: bucket, Key: key, Body: body, ContentType: "text/plain"},
		{Op: "get", Bucket: bucket, Key: key},
		{Op: "list", Bucket: bucket, Prefix: key},
		{Op: "delete", Bucket: bucket, Key: key},
		{Op: "get", Bucket: bucket, Key: key},
	})
	if res[0].Status != 200 || res[0].Err != "" {
		t.Fatalf("put: %v", res[0])
	}
	if !bytes.Equal(res[1].Body, body) {
		t.Errorf("get: %v, want body %q", res[1], body)
	}
	if !slices.Equal(res[2].Keys, []string{key}) {
		t.Errorf("list: keys %q, want [%q]", res[2].Keys, key)
	}
	if res[3].Err != "" {
		t.Errorf("delete: %v", res[3])
	}
	if res[4].Status != 404 || res[4].Code != "NoSuchKey" {
		t.Errorf("get after delete: %v, want 404 NoSuchKey", res[4])
	}
}
