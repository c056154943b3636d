package e2e

import (
	"bytes"
	"context"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// cachedHeaders must be the same on a hit as on the miss that filled it.
var cachedHeaders = []string{
	"Content-Type", "Content-Length", "ETag", "Last-Modified",
	"X-Amz-Meta-Color", "Content-Disposition", "Cache-Control",
}

// TestMissThenHit GETs an object twice with each client: MISS then HIT,
// the same body and headers, and the backend sees one GET. A HEAD after
// the GETs is a HIT too.
func TestMissThenHit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	e := h.endpoint()
	bucket := newBucket(t, e)

	sdkGetFn := func(t *testing.T, key string) httpResult {
		g := sdkGet(t, e, bucket, key)
		return httpResult{Status: g.Status, Header: g.Header, Body: g.Body}
	}
	sdkHeadFn := func(t *testing.T, key string) httpResult {
		ctx, cancel := context.WithTimeout(t.Context(), cmdTimeout)
		defer cancel()
		out, err := sdkClient(e).HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
		if err != nil {
			status, _, hdr := sdkErr(err)
			return httpResult{Status: status, Header: hdr}
		}
		return httpResult{Status: 200, Header: rawHeader(out.ResultMetadata)}
	}
	curlGetFn := func(t *testing.T, key string) httpResult {
		return curl(t, append(sigv4(e), objectURL(e, bucket, key))...)
	}
	curlHeadFn := func(t *testing.T, key string) httpResult {
		return curl(t, append(sigv4(e), "-I", objectURL(e, bucket, key))...)
	}

	tests := []struct {
		name      string
		get, head func(*testing.T, string) httpResult
	}{
		{name: "aws-sdk-go-v2", get: sdkGetFn, head: sdkHeadFn},
		{name: "curl", get: curlGetFn, head: curlHeadFn},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := "hit/" + tc.name + ".txt"
			body := randomBytes(t, 64<<10)
			putObject(t, e, &s3.PutObjectInput{
				Bucket: &bucket, Key: &key, Body: bytes.NewReader(body),
				ContentType:        aws.String("text/x-e2e"),
				ContentDisposition: aws.String(`attachment; filename="hit.txt"`),
				CacheControl:       aws.String("max-age=60"),
				Metadata:           map[string]string{"color": "blue"},
			})

			miss := tc.get(t, key)
			hit := tc.get(t, key)
			for i, r := range []httpResult{miss, hit} {
				if r.Status != 200 || !bytes.Equal(r.Body, body) {
					t.Errorf("GET #%d: status %d, %d bytes; want 200 with the %d stored", i+1, r.Status, len(r.Body), len(body))
				}
			}
			wantXCache(t, "first GET", miss.Header, "MISS")
			wantXCache(t, "second GET", hit.Header, "HIT")
			for _, name := range cachedHeaders {
				if m, h := miss.Header.Get(name), hit.Header.Get(name); m == "" || m != h {
					t.Errorf("header %s: miss %q, hit %q; want equal and present", name, m, h)
				}
			}
			if got := miss.Header.Get("X-Amz-Meta-Color"); got != "blue" {
				t.Errorf("x-amz-meta-color = %q, want blue", got)
			}
			if n := h.relay.count(http.MethodGet, bucket, key); n != 1 {
				t.Errorf("backend saw %d GETs of the key, want 1", n)
			}

			head := tc.head(t, key)
			if head.Status != 200 {
				t.Fatalf("HEAD: status %d", head.Status)
			}
			wantXCache(t, "HEAD after GET", head.Header, "HIT")
			for _, name := range cachedHeaders {
				if m, got := miss.Header.Get(name), head.Header.Get(name); m != got {
					t.Errorf("HEAD header %s = %q, want %q as on the GET", name, got, m)
				}
			}
			if n := h.relay.count(http.MethodHead, bucket, key) + h.relay.count(http.MethodGet, bucket, key); n != 1 {
				t.Errorf("backend saw %d GET/HEAD requests for the key after the HEAD, want 1", n)
			}
		})
	}
}

// TestOverwriteAndDelete checks with each client that a write through the
// proxy invalidates: an overwrite is read back (MISS) with the new bytes,
// and a delete makes the key 404 NoSuchKey.
func TestOverwriteAndDelete(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	e := h.endpoint()
	bucket := newBucket(t, e)
	for _, c := range allClients {
		t.Run(c.name(), func(t *testing.T) {
			key := "overwrite/" + c.name()
			v1, v2 := []byte("version one via "+c.name()), []byte("version two, longer, via "+c.name())
			res := c.run(t, e, []op{
				{Op: "put", Bucket: bucket, Key: key, Body: v1},
				{Op: "get", Bucket: bucket, Key: key},
				{Op: "get", Bucket: bucket, Key: key},
				{Op: "put", Bucket: bucket, Key: key, Body: v2},
				{Op: "get", Bucket: bucket, Key: key},
				{Op: "delete", Bucket: bucket, Key: key},
				{Op: "get", Bucket: bucket, Key: key},
			})
			checks := []struct {
				what   string
				got    opResult
				body   []byte
				xcache string
			}{
				{"GET v1", res[1], v1, "MISS"},
				{"GET v1 again", res[2], v1, "HIT"},
				{"GET after overwrite", res[4], v2, "MISS"},
			}
			if res[0].Err != "" || res[3].Err != "" || res[5].Err != "" {
				t.Fatalf("writes: put %v; put %v; delete %v", res[0], res[3], res[5])
			}
			for _, ck := range checks {
				if ck.got.Status != 200 || !bytes.Equal(ck.got.Body, ck.body) {
					t.Errorf("%s: %v, want 200 with %q", ck.what, ck.got, ck.body)
				}
				if ck.got.XCache != ck.xcache {
					t.Errorf("%s: X-Cache %q, want %q", ck.what, ck.got.XCache, ck.xcache)
				}
			}
			if g := res[6]; g.Status != 404 || g.Code != "NoSuchKey" {
				t.Errorf("GET after delete: %v, want 404 NoSuchKey", g)
			}
		})
	}
}
