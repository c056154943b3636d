package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// signedRequest returns a request to url signed with e's keys (SigV4,
// header auth, the payload hash of body).
func signedRequest(t *testing.T, e endpoint, method, url string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	creds := aws.Credentials{AccessKeyID: e.Access, SecretAccessKey: e.Secret}
	if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, hash, "s3", testRegion, time.Now()); err != nil {
		t.Fatal(err)
	}
	return req
}

// TestAuth checks that the proxy rejects bad credentials with the S3 error
// codes, and never serves a cached object to such a request nor asks the
// backend on its behalf.
func TestAuth(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	e := h.endpoint()
	bucket := newBucket(t, e)
	const key = "private/secret.txt"
	secret := []byte("cached secret bytes that must not leak")
	putBytes(t, e, bucket, key, secret)
	for _, want := range []string{"MISS", "HIT"} {
		wantXCache(t, "filling GET", sdkGet(t, e, bucket, key).Header, want)
	}

	s3URL := objectURL(e, bucket, key)
	objURL := e.URL + "/objects/" + bucket + "/" + key
	tests := []struct {
		name     string
		args     []string
		wantCode string
	}{
		{"wrong secret", append(sigv4(e.withKeys(testAccess, "not-the-secret")), s3URL), "SignatureDoesNotMatch"},
		{"unknown access key", append(sigv4(e.withKeys("NOSUCHACCESSKEY", testSecret)), s3URL), "InvalidAccessKeyId"},
		{"no auth", []string{s3URL}, "AccessDenied"},
		{"wrong secret HEAD", append(sigv4(e.withKeys(testAccess, "not-the-secret")), "-I", s3URL), ""},
		{"wrong secret objects API", append(sigv4(e.withKeys(testAccess, "not-the-secret")), objURL), "SignatureDoesNotMatch"},
		{"unknown access key objects API", append(sigv4(e.withKeys("NOSUCHACCESSKEY", testSecret)), objURL), "InvalidAccessKeyId"},
		{"no auth objects API", []string{objURL}, "AccessDenied"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := h.relay.total()
			r := curl(t, tc.args...)
			if r.Status != http.StatusForbidden {
				t.Errorf("status %d, want 403; body %q", r.Status, r.Body)
			}
			if tc.wantCode != "" && r.xmlCode() != tc.wantCode {
				t.Errorf("body %q, want <Code>%s</Code>", r.Body, tc.wantCode)
			}
			if bytes.Contains(r.Body, secret) || r.Header.Get("X-Cache") == "HIT" {
				t.Errorf("cached object served to a bad request: X-Cache %q, body %q", r.Header.Get("X-Cache"), r.Body)
			}
			if n := h.relay.total() - before; n != 0 {
				t.Errorf("backend contacted %d times for a rejected request", n)
			}
		})
	}
}

// TestBadInput sends malformed requests: each gets a 4xx S3 XML error, and
// a PUT cut short does not create the object.
func TestBadInput(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	e := h.endpoint()
	bucket := newBucket(t, e)
	putBytes(t, e, bucket, "exists", []byte("x"))

	xmlTests := []struct {
		name string
		args []string
	}{
		{"malformed Authorization", []string{"-H", "Authorization: AWS4-HMAC-SHA256 garbage", objectURL(e, bucket, "exists")}},
		{"Authorization without signature", []string{"-H", "Authorization: AWS4-HMAC-SHA256 Credential=" + testAccess +
			"/20250101/us-east-1/s3/aws4_request, SignedHeaders=host", objectURL(e, bucket, "exists")}},
		{"unknown Authorization scheme", []string{"-H", "Authorization: Bearer abc", objectURL(e, bucket, "exists")}},
		{"invalid bucket name GET", append(sigv4(e), e.URL+"/Invalid_Bucket..Name/key")},
		{"invalid bucket name create", append(sigv4(e), "-X", "PUT", e.URL+"/ab")},
	}
	for _, tc := range xmlTests {
		t.Run(tc.name, func(t *testing.T) {
			r := curl(t, tc.args...)
			if r.Status < 400 || r.Status > 499 {
				t.Errorf("status %d, want 4xx; body %q", r.Status, r.Body)
			}
			if r.xmlCode() == "" || !strings.Contains(r.Header.Get("Content-Type"), "xml") {
				t.Errorf("want an S3 XML error; Content-Type %q, body %q", r.Header.Get("Content-Type"), r.Body)
			}
		})
	}

	shortTests := []struct {
		name      string
		halfClose bool // close only the write side and read the answer
	}{
		{"short PUT body, half close", true},
		{"short PUT body, close", false},
	}
	for i, tc := range shortTests {
		t.Run(tc.name, func(t *testing.T) {
			key := fmt.Sprintf("short/%d", i)
			shortPut(t, e, bucket, key, tc.halfClose)
			// Let the proxy finish with the request: bounded, returns as soon
			// as the backend has seen the PUT and nothing is in flight.
			_ = poll(t.Context(), 5*time.Second, func(context.Context) error {
				if h.relay.count(http.MethodPut, bucket, key) == 0 || h.relay.inflight.Load() != 0 {
					return errors.New("PUT not finished at the backend")
				}
				return nil
			})
			for _, via := range []endpoint{e, h.backend()} {
				if g := sdkGet(t, via, bucket, key); g.Status != 404 {
					t.Errorf("GET via %s after a short PUT: status %d, %d bytes; want 404", via.URL, g.Status, len(g.Body))
				}
			}
		})
	}
}

// shortPut sends a signed PUT announcing 1000 bytes, sends 500 and closes.
func shortPut(t *testing.T, e endpoint, bucket, key string, halfClose bool) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, objectURL(e, bucket, key), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = 1000
	req.Header.Set("Content-Length", "1000")
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	creds := aws.Credentials{AccessKeyID: e.Access, SecretAccessKey: e.Secret}
	if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, "UNSIGNED-PAYLOAD", "s3", testRegion, time.Now()); err != nil {
		t.Fatal(err)
	}
	conn, err := (&net.Dialer{Timeout: 10 * time.Second}).DialContext(t.Context(), "tcp", e.Host())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "PUT %s HTTP/1.1\r\nHost: %s\r\n", req.URL.RequestURI(), req.URL.Host)
	for k, vs := range req.Header {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	b.WriteString("\r\n")
	b.Write(bytes.Repeat([]byte("s"), 500))
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	if !halfClose {
		return
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(io.LimitReader(conn, 64<<10)) // EOF, a reset or a 4xx are all fine
	if bytes.HasPrefix(answer, []byte("HTTP/1.1 2")) {
		t.Errorf("short PUT answered with success: %q", answer)
	}
}
