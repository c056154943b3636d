package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
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

// rawExchange sends req's request line and headers on a connection of its
// own, then body exactly as given, and returns the answer.
func rawExchange(t *testing.T, e endpoint, req *http.Request, body string) httpResult {
	t.Helper()
	conn, err := net.Dial("tcp", e.Host())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", req.Method, req.URL.RequestURI(), req.Host)
	for k, vs := range req.Header {
		fmt.Fprintf(&b, "%s: %s\r\n", k, vs[0])
	}
	if req.ContentLength > 0 {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", req.ContentLength)
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	if err := conn.SetReadDeadline(time.Now().Add(cmdTimeout)); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	defer res.Body.Close()
	got, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("reading the answer's body: %v", err)
	}
	return httpResult{Status: res.StatusCode, Header: res.Header, Body: got}
}

// TestMalformedUploadFraming: uploads whose framing is broken — a chunk
// size of "zz" or "-1", a chunk larger than declared or absurdly large, a
// missing CRLF, a 70 KB chunk extension — get S3's 4xx in XML on both
// front ends, never a 5xx, and nothing reaches the backend as an object:
// in aws-chunked bodies (unsigned and signed, framed by Content-Length or
// by HTTP chunking) and in HTTP chunking itself. A PutObject framed by HTTP
// chunking alone declares no length: S3 answers 411 before the body.
func TestMalformedUploadFraming(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	e := h.endpoint()
	bucket := newBucket(t, e)
	const sig = ";chunk-signature=0000000000000000000000000000000000000000000000000000000000000000"
	chunks := []struct{ name, unsigned, signed string }{
		{"size zz", "zz\r\nhello\r\n0\r\n\r\n", "zz" + sig + "\r\nhello\r\n"},
		{"size -1", "-1\r\nhello\r\n0\r\n\r\n", "-1" + sig + "\r\nhello\r\n"},
		{"chunk larger than declared", "6\r\nhello!\r\n0\r\n\r\n", "6" + sig + "\r\nhello!\r\n"},
		{"absurd size", "ffffffffffffffff\r\nhello\r\n0\r\n\r\n", "ffffffffffffffff" + sig + "\r\nhello\r\n"},
		{"missing CRLF", "5\r\nhello0\r\n\r\n", "5" + sig + "hello\r\n"},
		{"70 KB chunk extension", "5;" + strings.Repeat("x", 70<<10) + "\r\nhello\r\n0\r\n\r\n", "5;" + strings.Repeat("x", 70<<10) + "\r\nhello\r\n"},
	}
	// put sends an upload of a 5-byte object to url, its body framed as
	// given, and returns the answer.
	put := func(t *testing.T, url, payloadHash, body string, httpChunked bool) httpResult {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Amz-Content-Sha256", payloadHash)
		if payloadHash != "UNSIGNED-PAYLOAD" {
			req.Header.Set("Content-Encoding", "aws-chunked")
			req.Header.Set("X-Amz-Decoded-Content-Length", "5")
		}
		if httpChunked {
			req.Header.Set("Transfer-Encoding", "chunked")
			body = fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(body), body)
		} else {
			req.ContentLength = int64(len(body))
		}
		creds := aws.Credentials{AccessKeyID: e.Access, SecretAccessKey: e.Secret}
		if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, payloadHash, "s3", testRegion, time.Now()); err != nil {
			t.Fatal(err)
		}
		return rawExchange(t, e, req, body)
	}
	fronts := []struct {
		name string
		url  func(key string) string
	}{
		{"S3", func(key string) string { return objectURL(e, bucket, key) }},
		{"/objects", func(key string) string { return objectsURL(e, bucket, key) }},
	}
	n := 0
	for _, front := range fronts {
		for _, c := range chunks {
			for _, form := range []struct {
				name, hash, body string
				httpChunked      bool
			}{
				{"unsigned aws-chunked", "STREAMING-UNSIGNED-PAYLOAD-TRAILER", c.unsigned, false},
				{"unsigned aws-chunked in HTTP chunks", "STREAMING-UNSIGNED-PAYLOAD-TRAILER", c.unsigned, true},
				{"signed aws-chunked", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", c.signed, false},
				{"HTTP chunking", "UNSIGNED-PAYLOAD", "", false},
			} {
				t.Run(front.name+"/"+c.name+"/"+form.name, func(t *testing.T) {
					n++
					key := fmt.Sprintf("framing/%d", n)
					var r httpResult
					status, code := http.StatusBadRequest, "IncompleteBody"
					if form.hash == "UNSIGNED-PAYLOAD" {
						// The broken framing is HTTP's own.
						req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, front.url(key), nil)
						if err != nil {
							t.Fatal(err)
						}
						req.Header.Set("Transfer-Encoding", "chunked")
						req.Header.Set("X-Amz-Content-Sha256", form.hash)
						creds := aws.Credentials{AccessKeyID: e.Access, SecretAccessKey: e.Secret}
						if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, form.hash, "s3", testRegion, time.Now()); err != nil {
							t.Fatal(err)
						}
						r = rawExchange(t, e, req, c.unsigned)
						status, code = http.StatusLengthRequired, "MissingContentLength"
					} else {
						r = put(t, front.url(key), form.hash, form.body, form.httpChunked)
					}
					if got := parseS3Error(t, "PUT", r.Body); r.Status != status || got.Code != code {
						t.Errorf("PUT: %d %s, want %d %s; body %q", r.Status, got.Code, status, code, r.Body)
					}
					if g := sdkGet(t, h.backend(), bucket, key); g.Status != http.StatusNotFound {
						t.Errorf("the backend has the object after the malformed upload: status %d, %d bytes", g.Status, len(g.Body))
					}
				})
			}
		}
	}

	t.Run("DeleteObjects in broken HTTP chunks", func(t *testing.T) {
		putBytes(t, e, bucket, "kept", []byte("kept"))
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.URL+"/"+bucket+"?delete", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Transfer-Encoding", "chunked")
		req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		creds := aws.Credentials{AccessKeyID: e.Access, SecretAccessKey: e.Secret}
		if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, "UNSIGNED-PAYLOAD", "s3", testRegion, time.Now()); err != nil {
			t.Fatal(err)
		}
		r := rawExchange(t, e, req, "zz\r\n<Delete><Object><Key>kept</Key></Object></Delete>\r\n0\r\n\r\n")
		if got := parseS3Error(t, "POST ?delete", r.Body); r.Status != http.StatusBadRequest || got.Code != "IncompleteBody" {
			t.Errorf("POST ?delete: %d %s, want 400 IncompleteBody; body %q", r.Status, got.Code, r.Body)
		}
		if g := sdkGet(t, h.backend(), bucket, "kept"); g.Status != http.StatusOK {
			t.Errorf("the object named in the malformed DeleteObjects: status %d, want 200 (kept)", g.Status)
		}
	})
}

// TestKeysS3Refuses: a key longer than S3's 1024 bytes gets 400
// KeyTooLongError (with Size and MaxSizeAllowed), as the backend itself
// answers it, and a key with a NUL 400 InvalidArgument (the backend
// answers 500), from the proxy on every front end — path style, virtual
// host, /objects — for uploads and reads, without the backend being
// asked. A long key the backend takes works.
func TestKeysS3Refuses(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"S3_VIRTUAL_HOST_DOMAINS": vhostDomain})
	e := h.endpoint()
	bucket := newBucket(t, e)
	_, port, _ := net.SplitHostPort(e.Host())
	vhost := bucket + "." + vhostDomain + ":" + port
	fronts := []struct {
		name string
		url  func(key string) string
		args []string
	}{
		{"path style", func(key string) string { return objectURL(e, bucket, key) }, nil},
		{"virtual host", func(key string) string { return "http://" + vhost + "/" + escapeKey(key) }, []string{"--connect-to", vhost + ":" + e.Host()}},
		{"/objects", func(key string) string { return objectsURL(e, bucket, key) }, nil},
	}
	upload := filepath.Join(t.TempDir(), "upload")
	if err := os.WriteFile(upload, randomBytes(t, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("k", 2048)
	// What the backend says of the long key, asked directly.
	direct := curl(t, append(sigv4(e), "-X", "PUT", "--data-binary", "x", objectURL(h.backend(), bucket, long))...)
	tests := []struct {
		name, key string
		put       bool
		code      string
		size      string
	}{
		{"PUT of a 2048-byte key", long, true, "KeyTooLongError", "2048"},
		{"GET of a 2048-byte key", long, false, "KeyTooLongError", "2048"},
		{"PUT of a key with NUL", "nul\x00key", true, "InvalidArgument", ""},
		{"GET of a key with NUL", "nul\x00key", false, "InvalidArgument", ""},
	}
	if got := parseS3Error(t, "the backend's PUT of a long key", direct.Body); direct.Status != 400 || got.Code != "KeyTooLongError" {
		t.Logf("quirk: the backend answers a PUT of a 2048-byte key %d %s", direct.Status, got.Code)
	}
	for _, front := range fronts {
		for _, tt := range tests {
			t.Run(front.name+"/"+tt.name, func(t *testing.T) {
				args := append(append(sigv4(e), front.args...), front.url(tt.key))
				if tt.put {
					args = append(args, "-X", "PUT", "--data-binary", "@"+upload)
				}
				before := h.relay.total()
				r := curl(t, args...)
				got := parseS3Error(t, tt.name, r.Body)
				if r.Status != http.StatusBadRequest || got.Code != tt.code || got.RequestID != r.Header.Get("X-Amz-Request-Id") {
					t.Errorf("%d %s (RequestId %q, header %q); want 400 %s with the header's id", r.Status, got.Code, got.RequestID, r.Header.Get("X-Amz-Request-Id"), tt.code)
				}
				if tt.size != "" && (got.Size != tt.size || got.MaxSizeAllowed != "1024") {
					t.Errorf("Size %q, MaxSizeAllowed %q; want %s and 1024", got.Size, got.MaxSizeAllowed, tt.size)
				}
				if n := h.relay.total() - before; n != 0 {
					t.Errorf("the backend was asked %d times", n)
				}
			})
		}
		t.Run(front.name+"/a 1000-byte key", func(t *testing.T) {
			// versitygw takes keys up to 1023 bytes, in path segments of at
			// most 255 bytes (file names).
			key := strings.ReplaceAll(front.name, " ", "-") + "/" + strings.Repeat(strings.Repeat("s", 200)+"/", 5)
			key = key[:1000]
			args := append(sigv4(e), front.args...)
			if r := curl(t, append(args, "-X", "PUT", "--data-binary", "@"+upload, front.url(key))...); r.Status != 200 {
				t.Fatalf("PUT: %d %s", r.Status, r.Body)
			}
			if r := curl(t, append(args, front.url(key))...); r.Status != 200 || len(r.Body) != 1<<20 {
				t.Errorf("GET: %d, %d bytes", r.Status, len(r.Body))
			}
		})
	}
}
