package e2e

import (
	"bytes"
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// fillCache GETs bucket/key through e until the second GET is a HIT.
func fillCache(t *testing.T, e endpoint, bucket, key string, want []byte) {
	t.Helper()
	for _, x := range []string{"MISS", "HIT"} {
		g := sdkGet(t, e, bucket, key)
		if g.Status != 200 || !bytes.Equal(g.Body, want) {
			t.Fatalf("filling GET %s: status %d, body %q; want %q", key, g.Status, g.Body, want)
		}
		wantXCache(t, "filling GET "+key, g.Header, x)
	}
}

// TestPassthrough checks S3 operations the proxy forwards, and that the
// writes among them invalidate cached objects.
func TestPassthrough(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	e := h.endpoint()
	c := sdkClient(e)
	bucket := newBucket(t, e)
	ctx := func(t *testing.T) context.Context {
		ctx, cancel := context.WithTimeout(t.Context(), cmdTimeout)
		t.Cleanup(cancel)
		return ctx
	}

	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"ListBuckets", func(t *testing.T) {
			out, err := c.ListBuckets(ctx(t), &s3.ListBucketsInput{})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(out.Buckets, func(b s3types.Bucket) bool { return aws.ToString(b.Name) == bucket }) {
				t.Errorf("ListBuckets does not list %s", bucket)
			}
		}},
		{"ListObjectsV2 prefix and delimiter", func(t *testing.T) {
			for _, k := range []string{"list/a", "list/b", "list/sub/c", "listless", "other"} {
				putBytes(t, e, bucket, k, []byte(k))
			}
			out, err := c.ListObjectsV2(ctx(t), &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: aws.String("list/"), Delimiter: aws.String("/")})
			if err != nil {
				t.Fatal(err)
			}
			var keys, prefixes []string
			for _, o := range out.Contents {
				keys = append(keys, aws.ToString(o.Key))
			}
			for _, p := range out.CommonPrefixes {
				prefixes = append(prefixes, aws.ToString(p.Prefix))
			}
			if want := []string{"list/a", "list/b"}; !slices.Equal(keys, want) {
				t.Errorf("keys %q, want %q", keys, want)
			}
			if want := []string{"list/sub/"}; !slices.Equal(prefixes, want) {
				t.Errorf("common prefixes %q, want %q", prefixes, want)
			}
		}},
		{"CopyObject over a cached destination", func(t *testing.T) {
			putBytes(t, e, bucket, "copy/src", []byte("source bytes"))
			putBytes(t, e, bucket, "copy/dst", []byte("old destination"))
			fillCache(t, e, bucket, "copy/dst", []byte("old destination"))
			if _, err := c.CopyObject(ctx(t), &s3.CopyObjectInput{Bucket: &bucket, Key: aws.String("copy/dst"),
				CopySource: aws.String(bucket + "/copy/src")}); err != nil {
				t.Fatal(err)
			}
			g := sdkGet(t, e, bucket, "copy/dst")
			if string(g.Body) != "source bytes" {
				t.Errorf("GET after copy: %d %q, want the source's bytes", g.Status, g.Body)
			}
			wantXCache(t, "GET after copy", g.Header, "MISS")
		}},
		{"DeleteObjects of cached keys", func(t *testing.T) {
			keys := []string{"batch/one", "batch/two"}
			var ids []s3types.ObjectIdentifier
			for _, k := range keys {
				putBytes(t, e, bucket, k, []byte(k))
				fillCache(t, e, bucket, k, []byte(k))
				ids = append(ids, s3types.ObjectIdentifier{Key: aws.String(k)})
			}
			out, err := c.DeleteObjects(ctx(t), &s3.DeleteObjectsInput{Bucket: &bucket, Delete: &s3types.Delete{Objects: ids}})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Errors) != 0 || len(out.Deleted) != len(keys) {
				t.Fatalf("DeleteObjects: %d deleted, errors %+v", len(out.Deleted), out.Errors)
			}
			for _, k := range keys {
				if g := sdkGet(t, e, bucket, k); g.Status != 404 || g.Code != "NoSuchKey" {
					t.Errorf("GET %s after DeleteObjects: %d %q, want 404 NoSuchKey", k, g.Status, g.Code)
				}
			}
		}},
		{"object tagging", func(t *testing.T) {
			const k = "tagged"
			putBytes(t, e, bucket, k, []byte("tag me"))
			fillCache(t, e, bucket, k, []byte("tag me"))
			tags := []s3types.Tag{{Key: aws.String("team"), Value: aws.String("cache")}}
			if _, err := c.PutObjectTagging(ctx(t), &s3.PutObjectTaggingInput{Bucket: &bucket, Key: aws.String(k),
				Tagging: &s3types.Tagging{TagSet: tags}}); err != nil {
				t.Fatal(err)
			}
			out, err := c.GetObjectTagging(ctx(t), &s3.GetObjectTaggingInput{Bucket: &bucket, Key: aws.String(k)})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.TagSet) != 1 || aws.ToString(out.TagSet[0].Key) != "team" || aws.ToString(out.TagSet[0].Value) != "cache" {
				t.Errorf("GetObjectTagging: %+v, want team=cache", out.TagSet)
			}
			wantXCache(t, "GET after tagging", sdkGet(t, e, bucket, k).Header, "MISS")
		}},
		{"presigned GET", func(t *testing.T) {
			const k = "presigned.bin"
			body := randomBytes(t, 4096)
			putBytes(t, e, bucket, k, body)
			ps, err := s3.NewPresignClient(c).PresignGetObject(ctx(t), &s3.GetObjectInput{Bucket: &bucket, Key: aws.String(k)},
				s3.WithPresignExpires(10*time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"MISS", "HIT"} {
				req, err := http.NewRequestWithContext(t.Context(), ps.Method, ps.URL, nil)
				if err != nil {
					t.Fatal(err)
				}
				r, err := httpDo(t, req)
				if err != nil {
					t.Fatal(err)
				}
				if r.Status != 200 || !bytes.Equal(r.Body, body) {
					t.Fatalf("presigned GET: status %d, body %.200q", r.Status, r.Body)
				}
				wantXCache(t, "presigned GET", r.Header, want)
			}
			if n := h.relay.count(http.MethodGet, bucket, k); n != 1 {
				t.Errorf("backend saw %d GETs, want 1", n)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}
