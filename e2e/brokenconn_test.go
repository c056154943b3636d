package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestConditionalPutKeepsProxyHealthy reproduces, against MinIO, the
// exchange that once took a proxy down for everyone, as ceph/s3-tests'
// test_atomic_conditional_write_1mb sends it: a PUT with If-Match: *
// whose body stops half-way while the client GETs the same key. MinIO
// holds the GET until the PUT ends, the proxy gives up on the GET, and
// MinIO, having given up on the stalled body, keeps the PUT's connection
// open but answers every later request on it with 499. The test passes
// only if that happened (the proxy counted a 499) and 100 ordinary
// requests of every kind afterwards all succeed.
func TestConditionalPutKeepsProxyHealthy(t *testing.T) {
	p := startProxy(t, proxyOptions{Backend: minioAddr(t), Env: map[string]string{
		// Longer than MinIO's body read deadline, so the stalled body
		// breaks the connection on MinIO's side before the proxy gives
		// up on the GET.
		"BACKEND_TIMEOUT": (minioIdleTimeout + 2*time.Second).String(),
		// Signed chunks, as s3-tests' client sent them: with the
		// checksum trailer UPLOAD_FRAMING=auto picks for MinIO, MinIO
		// answers the GET at once and never breaks the connection.
		"UPLOAD_FRAMING": "chunked",
	}})
	e := p.endpoint()
	bucket := newBucket(t, e)
	const key, size = "testobj", 1 << 20
	putBytes(t, e, bucket, key, bytes.Repeat([]byte("A"), size))

	body, w := io.Pipe()
	put := unsignedPayloadRequest(t, e, http.MethodPut, objectURL(e, bucket, key), body, size)
	put.Header.Set("If-Match", "*")
	putDone := make(chan string, 1)
	go func() {
		res, err := httpDo(t, put)
		if err != nil {
			putDone <- err.Error()
			return
		}
		putDone <- fmt.Sprintf("%d %s", res.Status, res.xmlCode())
	}()
	// The body stops near its end (urllib3 has sent most of it when
	// s3-tests' callback runs): what is left is small enough for MinIO's
	// HTTP server to read and keep the connection.
	const tail = 64 << 10
	if _, err := w.Write(bytes.Repeat([]byte("B"), size-tail)); err != nil {
		t.Fatal(err)
	}
	get := signedGet(t, e, bucket, key)
	if _, err := w.Write(bytes.Repeat([]byte("B"), tail)); err != nil {
		t.Logf("the rest of the PUT's body: %v", err)
	}
	w.Close()
	// Bare MinIO fails s3-tests' test too: the GET cannot be answered
	// while the PUT holds the key. What matters is what comes after.
	t.Logf("GET during the PUT: %d %s; the PUT: %s", get.Status, get.xmlCode(), <-putDone)

	c := sdkClient(e)
	ops := []struct {
		name string
		call func(ctx context.Context, i int) error
	}{
		{"ListBuckets", func(ctx context.Context, _ int) error {
			_, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
			return err
		}},
		{"HeadObject", func(ctx context.Context, _ int) error {
			_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String(key)})
			return err
		}},
		{"GetObject", func(ctx context.Context, _ int) error {
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String(key)})
			if err == nil {
				_, err = io.Copy(io.Discard, out.Body)
				out.Body.Close()
			}
			return err
		}},
		{"PutObject", func(ctx context.Context, i int) error {
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(fmt.Sprintf("after-%d", i)),
				Body: strings.NewReader(fmt.Sprintf("after %d", i))})
			return err
		}},
		{"ListObjectsV2", func(ctx context.Context, _ int) error {
			_, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: aws.String("after-")})
			return err
		}},
	}
	failed := 0
	for i := range 100 {
		op := ops[i%len(ops)]
		ctx, cancel := context.WithTimeout(t.Context(), cmdTimeout)
		err := op.call(ctx, i)
		cancel()
		if err != nil {
			failed++
			if failed <= 5 {
				t.Errorf("request %d after the conditional PUT, %s: %v", i, op.name, err)
			}
		}
	}
	if failed > 0 {
		t.Errorf("%d of 100 ordinary requests failed after the conditional PUT", failed)
	}
	m := scrapeMetrics(t, e)
	if aborted := sumSeries(m, "s3cache_backend_errors_total", `kind="aborted"`); aborted < 1 {
		t.Errorf("the proxy counted %v backend 499s: MinIO did not break the connection, so the test proved nothing", aborted)
	}
}

// unsignedPayloadRequest returns a request to url with body (of length
// size) signed with e's keys, its payload unsigned, so the body can be
// sent as it is produced.
func unsignedPayloadRequest(t *testing.T, e endpoint, method, url string, body io.Reader, size int64) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = size
	const hash = "UNSIGNED-PAYLOAD"
	req.Header.Set("X-Amz-Content-Sha256", hash)
	creds := aws.Credentials{AccessKeyID: e.Access, SecretAccessKey: e.Secret}
	if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, hash, "s3", testRegion, time.Now()); err != nil {
		t.Fatal(err)
	}
	return req
}

// sumSeries adds up the samples of metric name (as scrapeMetrics keys
// them) whose labels include label, for example `kind="aborted"`.
func sumSeries(m map[string]float64, name, label string) float64 {
	sum := 0.0
	for series, v := range m {
		if rest, ok := strings.CutPrefix(series, name+"{"); ok && strings.Contains(rest, label) {
			sum += v
		}
	}
	return sum
}
