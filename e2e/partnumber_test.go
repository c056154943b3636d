package e2e

import (
	"bytes"
	"net/http"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestPartNumberFidelity reads each part of multipart objects by
// partNumber, as aws-sdk-go-v2's transfer manager downloads, through a
// cold proxy and then a warm one, and compares every answer with
// versitygw's own: same status, Content-Range, parts count, ETag and
// bytes. The object, whole (12 MiB) or in blocks (20 MiB, over the 16 MiB
// object cap), is read from the backend once over both passes.
func TestPartNumberFidelity(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	e := h.endpoint()
	direct := endpoint{URL: "http://" + backendAddr(t), Access: testAccess, Secret: testSecret}
	bucket := newBucket(t, e)
	c := sdkClient(direct)
	checksums := map[string]string{"X-Amz-Checksum-Mode": "ENABLED"}
	for _, tc := range []struct {
		name  string
		parts []int // part sizes
	}{
		{"whole", []int{5 << 20, 5 << 20, 2 << 20}},
		{"in blocks", []int{8 << 20, 8 << 20, 4 << 20}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "parts/" + tc.name
			var body []byte
			up, err := c.CreateMultipartUpload(t.Context(), &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key})
			if err != nil {
				t.Fatalf("CreateMultipartUpload: %v", err)
			}
			var done []s3types.CompletedPart
			for i, n := range tc.parts {
				b := randomBytes(t, n)
				body = append(body, b...)
				out, err := c.UploadPart(t.Context(), &s3.UploadPartInput{Bucket: &bucket, Key: &key, UploadId: up.UploadId,
					PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(b)})
				if err != nil {
					t.Fatalf("UploadPart %d: %v", i+1, err)
				}
				done = append(done, s3types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(int32(i + 1))})
			}
			if _, err := c.CompleteMultipartUpload(t.Context(), &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: &key,
				UploadId: up.UploadId, MultipartUpload: &s3types.CompletedMultipartUpload{Parts: done}}); err != nil {
				t.Fatalf("CompleteMultipartUpload: %v", err)
			}
			head := fidelityRequest(t, direct, "HEAD", bucket, key, "", checksums)
			etag, lastModified := head.Header.Get("ETag"), head.Header.Get("Last-Modified")

			mark := h.relay.mark()
			for _, pass := range []string{"MISS", "HIT"} {
				for i := range tc.parts {
					query := "partNumber=" + strconv.Itoa(i+1)
					got := fidelityRequest(t, e, "GET", bucket, key, query, checksums)
					want := fidelityRequest(t, direct, "GET", bucket, key, query, checksums)
					if want.Status != http.StatusPartialContent {
						t.Fatalf("versitygw answers part %d with %d, want 206", i+1, want.Status)
					}
					wantXCache(t, pass+" pass, part "+strconv.Itoa(i+1), got.Header, pass)
					if got.Status != want.Status {
						t.Errorf("part %d: status %d, versitygw %d", i+1, got.Status, want.Status)
					}
					compareFidelity(t, got, want, len(body), etag, lastModified)
				}
				if pass == "MISS" {
					h.relay.quiet(t)
				}
			}
			h.relay.quiet(t)
			if got := h.relay.since(mark, "/"+bucket+"/"+key); got.Bytes > int64(len(body)) {
				t.Errorf("the backend sent %d body bytes for two passes over an object of %d", got.Bytes, len(body))
			}
		})
	}
}
