package e2e

import (
	"encoding/xml"
	"net/http"
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
