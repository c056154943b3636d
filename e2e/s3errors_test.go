package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"os/exec"
	"strconv"
	"testing"
)

// s3Error is an S3 error body as a client parses it: the elements S3
// sends for the codes these tests provoke.
type s3Error struct {
	Code             string
	Message          string
	RequestID        string `xml:"RequestId"`
	Region           string
	RangeRequested   string
	ActualObjectSize string
	Size             string
	MaxSizeAllowed   string
}

// parseS3Error parses an S3 error body; the test fails if it is none.
func parseS3Error(t *testing.T, what string, body []byte) s3Error {
	t.Helper()
	var e s3Error
	if err := xml.Unmarshal(body, &e); err != nil || e.Code == "" {
		t.Fatalf("%s: body %q is no S3 error (%v)", what, body, err)
	}
	return e
}

// objectsURL returns the /objects API URL of bucket/key under e.
func objectsURL(e endpoint, bucket, key string) string {
	return e.URL + "/objects/" + bucket + "/" + escapeKey(key)
}

// TestInvalidRangeLikeS3: a Range past the end of an object gets S3's 416
// InvalidRange, with RangeRequested and ActualObjectSize in the body and
// Content-Range "bytes */size", whether the proxy answers it from a miss,
// a hit or an object cached in blocks, on both front ends.
func TestInvalidRangeLikeS3(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{
		"CACHE_MAX_OBJECT_BYTES": strconv.Itoa(64 << 10),
		"CACHE_BLOCK_BYTES":      strconv.Itoa(16 << 10),
	})
	e := h.endpoint()
	bucket := newBucket(t, e)
	small, large := randomBytes(t, 1000), randomBytes(t, 100<<10)
	putBytes(t, e, bucket, "small", small)
	putBytes(t, e, bucket, "large", large)

	tests := []struct {
		name, url, rangeSpec string
		size                 int
		xcache               string // "" when not checked
	}{
		{"miss", objectURL(e, bucket, "small"), "bytes=1000-", len(small), "MISS"},
		{"hit", objectURL(e, bucket, "small"), "bytes=5000-6000", len(small), "HIT"},
		{"hit via /objects", objectsURL(e, bucket, "small"), "bytes=1000-1000", len(small), "HIT"},
		{"large, first read", objectURL(e, bucket, "large"), "bytes=200000-", len(large), ""},
		{"large, from its blocks' description", objectURL(e, bucket, "large"), "bytes=102400-", len(large), "HIT"},
		{"large via /objects", objectsURL(e, bucket, "large"), "bytes=999999-", len(large), "HIT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.xcache == "HIT" {
				// A miss's fill is stored after its answer went out.
				waitFor(t, "the object to be cached", func() bool {
					r := curl(t, append(sigv4(e), tt.url)...)
					return r.Header.Get("X-Cache") == "HIT"
				})
			}
			r := curl(t, append(sigv4(e), "-H", "Range: "+tt.rangeSpec, tt.url)...)
			if r.Status != http.StatusRequestedRangeNotSatisfiable {
				t.Fatalf("status %d, want 416; body %q", r.Status, r.Body)
			}
			size := strconv.Itoa(tt.size)
			if got, want := r.Header.Get("Content-Range"), "bytes */"+size; got != want {
				t.Errorf("Content-Range %q, want %q", got, want)
			}
			if tt.xcache != "" {
				wantXCache(t, "416", r.Header, tt.xcache)
			}
			got := parseS3Error(t, "416", r.Body)
			want := s3Error{Code: "InvalidRange", Message: "The requested range is not satisfiable",
				RequestID: r.Header.Get("X-Amz-Request-Id"), RangeRequested: tt.rangeSpec, ActualObjectSize: size}
			if got != want {
				t.Errorf("error body %+v, want %+v", got, want)
			}
		})
	}
}

// TestErrorRequestIDMatchesHeader: every error body's RequestId is the
// X-Amz-Request-Id header's, as ceph/s3-tests'
// test_object_requestid_matches_header_on_error checks with boto3: for
// errors the backend sends (relayed from a miss or passed through) and
// errors the proxy makes, on both front ends.
func TestErrorRequestIDMatchesHeader(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	e := h.endpoint()
	bucket := newBucket(t, e)
	missing := bucketName(t)

	t.Run("boto3", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), cmdTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "python3", "testdata/requestid.py")
		cmd.Env = append(awsEnv(t, e), "S3_E2E_BUCKET="+bucket, "S3_E2E_MISSING_BUCKET="+missing)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("python3 testdata/requestid.py: %v\n%s", err, stderr.String())
		}
		var calls map[string]struct {
			Status       int
			Code         string
			Header, Body string
		}
		if err := json.Unmarshal(out, &calls); err != nil {
			t.Fatalf("requestid.py output: %v\n%s", err, out)
		}
		for name, c := range calls {
			if c.Status < 400 || c.Code == "" || c.Header == "" || c.Body != c.Header {
				t.Errorf("%s: status %d %s, body RequestId %q, header %q; want an error whose RequestIds agree",
					name, c.Status, c.Code, c.Body, c.Header)
			}
		}
	})

	tests := []struct {
		name   string
		args   []string
		status int
	}{
		{"GET of a missing key", []string{objectURL(e, bucket, "no/such/key")}, 404},
		{"/objects GET of a missing key", []string{objectsURL(e, bucket, "no/such/key")}, 404},
		{"GET bypassing the cache", []string{objectURL(e, bucket, "no/such/key") + "?response-content-type=text%2Fplain"}, 404},
		{"PUT to a missing bucket", []string{"-X", "PUT", "--data-binary", "x", objectURL(e, missing, "k")}, 404},
		{"/objects PUT to a missing bucket", []string{"-X", "PUT", "--data-binary", "x", objectsURL(e, missing, "k")}, 404},
		{"/objects DELETE in a missing bucket", []string{"-X", "DELETE", objectsURL(e, missing, "k")}, 404},
		{"an error of the proxy's own", []string{"-X", "PATCH", objectsURL(e, bucket, "k")}, 405},
	}
	for _, tt := range tests {
		t.Run("curl "+tt.name, func(t *testing.T) {
			r := curl(t, append(sigv4(e), tt.args...)...)
			got := parseS3Error(t, tt.name, r.Body)
			if r.Status != tt.status || got.RequestID == "" || got.RequestID != r.Header.Get("X-Amz-Request-Id") {
				t.Errorf("status %d, body RequestId %q, header %q; want %d and the same id", r.Status, got.RequestID, r.Header.Get("X-Amz-Request-Id"), tt.status)
			}
		})
	}
}
