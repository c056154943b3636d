package proxy

import (
	"net/http"
	"testing"
)

// TestDotSegmentsCannotCrossBuckets: a user of one bucket cannot name an
// object of another through dot segments, in the path or in a copy
// source; the backend is never asked. Dot segments that stay inside the
// bucket name a key as S3 keeps it.
func TestDotSegmentsCannotCrossBuckets(t *testing.T) {
	fake, backend := newFakeS3(t)
	fake.objects["/logs/a/../b"] = []byte("a key with dot segments")
	fake.objects["/photos/secret"] = []byte("not for bob")
	_, srv := newTestProxy(t, backend, func(c *Config) { c.Auth = testAuth(t) })
	for _, tc := range []struct {
		name, method, path, copySource string
		want                           int
	}{
		{"GET across buckets", "GET", "/logs/../photos/secret", "", http.StatusBadRequest},
		// Refused either way: 400, or 403 when the client's signer and the
		// verifier canonicalise the escaped dots differently.
		{"encoded dots", "GET", "/logs/%2E%2E/photos/secret", "", http.StatusForbidden},
		{"copy source across buckets", "PUT", "/logs/copy", "/logs/../photos/secret", http.StatusBadRequest},
		{"dots inside the bucket", "GET", "/logs/a/../b", "", http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			if tc.copySource != "" {
				req.Header.Set("X-Amz-Copy-Source", tc.copySource)
			}
			signAs(t, req, emptyPayloadHash, "bob", "bob-secret")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tc.want && !(tc.want == http.StatusForbidden && res.StatusCode == http.StatusBadRequest) {
				t.Fatalf("%s %s: %d, want %d", tc.method, tc.path, res.StatusCode, tc.want)
			}
			if n := fake.getCount("/photos/secret"); n != 0 {
				t.Errorf("the backend was asked for the other bucket's object %d times", n)
			}
		})
	}
}
