package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithymiddleware "github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"
)

// httpClient is the plain HTTP client of the suite: no proxy from the
// environment, bounded.
var httpClient = &http.Client{
	Timeout:   2 * time.Minute,
	Transport: &http.Transport{Proxy: nil, DisableCompression: true, MaxIdleConnsPerHost: 4},
}

// sdkClient returns an aws-sdk-go-v2 S3 client for e: path style, no
// retries (a retry would hide a failure and skew backend counts).
func sdkClient(e endpoint) *s3.Client {
	return s3.New(s3.Options{
		Region:           testRegion,
		BaseEndpoint:     aws.String(e.URL),
		UsePathStyle:     true,
		Credentials:      awscreds.NewStaticCredentialsProvider(e.Access, e.Secret, ""),
		RetryMaxAttempts: 1,
		HTTPClient:       e.client(),
	})
}

func createBucketInput(name string) *s3.CreateBucketInput {
	return &s3.CreateBucketInput{Bucket: aws.String(name)}
}

// rawHeader returns the HTTP response header behind SDK output metadata.
func rawHeader(md smithymiddleware.Metadata) http.Header {
	if r, ok := awsmiddleware.GetRawResponse(md).(*smithyhttp.Response); ok {
		return r.Header
	}
	return nil
}

// sdkErr returns the HTTP status, S3 error code and response header of an
// SDK error (zero values where there was no response).
func sdkErr(err error) (status int, code string, h http.Header) {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
		if re.Response != nil {
			h = re.Response.Header
		}
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	return status, code, h
}

// recorder is an http.RoundTripper that remembers the last response
// header, for clients (minio-go) that do not expose it.
type recorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	last http.Header
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.base.RoundTrip(req)
	if err == nil {
		r.mu.Lock()
		r.last = resp.Header.Clone()
		r.mu.Unlock()
	}
	return resp, err
}

func (r *recorder) lastHeader() http.Header {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// minioClient returns a minio-go client for e (path style)
// and the recorder of its responses.
func minioClient(t *testing.T, e endpoint) (*minio.Client, *recorder) {
	t.Helper()
	rec := &recorder{base: e.client().Transport}
	c, err := minio.New(e.Host(), &minio.Options{
		Creds:        miniocreds.NewStaticV4(e.Access, e.Secret, ""),
		Secure:       e.TLS != nil,
		Region:       testRegion,
		BucketLookup: minio.BucketLookupPath,
		Transport:    rec,
		MaxRetries:   1,
		// Checksums go in trailers, as aws-chunked bodies: signed ones
		// over HTTP, unsigned over HTTPS.
		TrailingHeaders: true,
	})
	if err != nil {
		t.Fatalf("minio.New: %v", err)
	}
	return c, rec
}

// op is one S3 operation in a client-independent script; it is also the
// input format of testdata/s3ops.py (Body is base64 in JSON).
type op struct {
	Op          string `json:"op"` // put, get, head, delete, list; presign_get, presign_put, download_file (boto3 only)
	Bucket      string `json:"bucket"`
	Key         string `json:"key,omitempty"`
	Body        []byte `json:"body,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	Prefix      string `json:"prefix,omitempty"`
	Path        string `json:"path,omitempty"` // download_file: the file written
}

// opResult is the outcome of one op.
type opResult struct {
	Status int      `json:"status"`  // HTTP status; 0 without a response
	XCache string   `json:"x_cache"` // the X-Cache response header
	Body   []byte   `json:"body"`    // get: the object
	Code   string   `json:"code"`    // S3 error code
	Keys   []string `json:"keys"`    // list: the keys under Prefix
	URL    string   `json:"url"`     // presign_*: the presigned URL
	Err    string   `json:"error"`   // any failure, as text
}

func (r opResult) String() string {
	return fmt.Sprintf("status=%d x-cache=%q code=%q len(body)=%d keys=%q err=%q",
		r.Status, r.XCache, r.Code, len(r.Body), r.Keys, r.Err)
}

// s3Client runs op scripts with one real client library.
type s3Client interface {
	name() string
	run(t *testing.T, e endpoint, ops []op) []opResult
}

// allClients are the clients the cross-client tests run with.
var allClients = []s3Client{sdkOps{}, minioOps{}, boto3Ops{}}

type sdkOps struct{}

func (sdkOps) name() string { return "aws-sdk-go-v2" }

func (sdkOps) run(t *testing.T, e endpoint, ops []op) []opResult {
	t.Helper()
	c := sdkClient(e)
	out := make([]opResult, 0, len(ops))
	for _, o := range ops {
		ctx, cancel := context.WithTimeout(t.Context(), cmdTimeout)
		var (
			res opResult
			md  smithymiddleware.Metadata
			err error
		)
		switch o.Op {
		case "put":
			in := &s3.PutObjectInput{Bucket: &o.Bucket, Key: &o.Key, Body: bytes.NewReader(o.Body)}
			if o.ContentType != "" {
				in.ContentType = &o.ContentType
			}
			var po *s3.PutObjectOutput
			if po, err = c.PutObject(ctx, in); err == nil {
				md = po.ResultMetadata
			}
		case "get":
			var g *s3.GetObjectOutput
			if g, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: &o.Bucket, Key: &o.Key}); err == nil {
				md = g.ResultMetadata
				res.Body, err = io.ReadAll(g.Body)
				g.Body.Close()
			}
		case "head":
			var g *s3.HeadObjectOutput
			if g, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &o.Bucket, Key: &o.Key}); err == nil {
				md = g.ResultMetadata
			}
		case "delete":
			var d *s3.DeleteObjectOutput
			if d, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &o.Bucket, Key: &o.Key}); err == nil {
				md = d.ResultMetadata
			}
		case "list":
			res.Keys = []string{}
			p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: &o.Bucket, Prefix: &o.Prefix})
			for page := 0; p.HasMorePages() && page < 100; page++ {
				var l *s3.ListObjectsV2Output
				if l, err = p.NextPage(ctx); err != nil {
					break
				}
				md = l.ResultMetadata
				for _, obj := range l.Contents {
					res.Keys = append(res.Keys, aws.ToString(obj.Key))
				}
			}
		default:
			t.Fatalf("unknown op %q", o.Op)
		}
		cancel()
		if err != nil {
			var h http.Header
			res.Status, res.Code, h = sdkErr(err)
			res.XCache = h.Get("X-Cache")
			res.Err = err.Error()
		} else {
			res.Status = 200
			res.XCache = rawHeader(md).Get("X-Cache")
		}
		out = append(out, res)
	}
	return out
}

type minioOps struct{}

func (minioOps) name() string { return "minio-go" }

func (minioOps) run(t *testing.T, e endpoint, ops []op) []opResult {
	t.Helper()
	c, rec := minioClient(t, e)
	out := make([]opResult, 0, len(ops))
	for _, o := range ops {
		ctx, cancel := context.WithTimeout(t.Context(), cmdTimeout)
		var (
			res opResult
			err error
		)
		switch o.Op {
		case "put":
			_, err = c.PutObject(ctx, o.Bucket, o.Key, bytes.NewReader(o.Body), int64(len(o.Body)),
				minio.PutObjectOptions{ContentType: o.ContentType})
		case "get":
			var obj *minio.Object
			if obj, err = c.GetObject(ctx, o.Bucket, o.Key, minio.GetObjectOptions{}); err == nil {
				res.Body, err = io.ReadAll(obj)
				obj.Close()
			}
		case "head":
			_, err = c.StatObject(ctx, o.Bucket, o.Key, minio.StatObjectOptions{})
		case "delete":
			err = c.RemoveObject(ctx, o.Bucket, o.Key, minio.RemoveObjectOptions{})
		case "list":
			res.Keys = []string{}
			for obj := range c.ListObjects(ctx, o.Bucket, minio.ListObjectsOptions{Prefix: o.Prefix, Recursive: true}) {
				if obj.Err != nil {
					err = obj.Err
					break
				}
				res.Keys = append(res.Keys, obj.Key)
			}
		default:
			t.Fatalf("unknown op %q", o.Op)
		}
		cancel()
		res.XCache = rec.lastHeader().Get("X-Cache")
		if err != nil {
			er := minio.ToErrorResponse(err)
			res.Status, res.Code, res.Err = er.StatusCode, er.Code, err.Error()
			res.Body = nil
		} else {
			res.Status = 200
		}
		out = append(out, res)
	}
	return out
}

type boto3Ops struct{}

func (boto3Ops) name() string { return "boto3" }

// run runs the whole script in one python process (testdata/s3ops.py).
func (boto3Ops) run(t *testing.T, e endpoint, ops []op) []opResult {
	t.Helper()
	in, err := json.Marshal(ops)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "python3", "testdata/s3ops.py")
	cmd.Env = awsEnv(t, e)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3 testdata/s3ops.py: %v\n%s", err, stderr.String())
	}
	var out []opResult
	if err := json.Unmarshal(stdout, &out); err != nil {
		t.Fatalf("s3ops.py output: %v\n%s\n%s", err, stdout, stderr.String())
	}
	if len(out) != len(ops) {
		t.Fatalf("s3ops.py returned %d results for %d ops", len(out), len(ops))
	}
	return out
}

// awsEnv is the environment of the python clients (aws CLI, boto3): keys
// and endpoint from e, isolated from any configuration on the machine.
func awsEnv(t *testing.T, e endpoint) []string {
	dir := t.TempDir()
	env := map[string]string{
		"AWS_ACCESS_KEY_ID":           e.Access,
		"AWS_SECRET_ACCESS_KEY":       e.Secret,
		"AWS_DEFAULT_REGION":          testRegion,
		"AWS_CONFIG_FILE":             filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_MAX_ATTEMPTS":            "1",
		"S3_E2E_ENDPOINT":             e.URL,
		"PYTHONDONTWRITEBYTECODE":     "1",
	}
	if e.TLS != nil {
		env["AWS_CA_BUNDLE"] = e.TLS.caFile
	}
	return cleanEnv(env)
}

// awsCLI runs `python3 -m awscli --endpoint-url e.URL args...` and returns
// its stdout; a failure is returned with stderr in the error.
func awsCLI(t *testing.T, e endpoint, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), cmdTimeout)
	defer cancel()
	argv := append([]string{"-m", "awscli", "--endpoint-url", e.URL}, args...)
	cmd := exec.CommandContext(ctx, "python3", argv...)
	cmd.Env = awsEnv(t, e)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("aws %s: %w\nstdout: %s\nstderr: %s",
			strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// mustAWS is awsCLI that fails the test on error.
func mustAWS(t *testing.T, e endpoint, args ...string) string {
	t.Helper()
	out, err := awsCLI(t, e, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// httpResult is a response as curl or net/http saw it.
type httpResult struct {
	Status int
	Header http.Header
	Body   []byte
}

// xmlCode returns the <Code> of an S3 XML error body, or "".
func (r httpResult) xmlCode() string { return xmlCode(r.Body) }

func xmlCode(body []byte) string {
	_, rest, ok := strings.Cut(string(body), "<Code>")
	if !ok {
		return ""
	}
	code, _, _ := strings.Cut(rest, "</Code>")
	return code
}

// sigv4 returns curl's arguments to sign with e's keys.
func sigv4(e endpoint) []string {
	return []string{"--aws-sigv4", "aws:amz:" + testRegion + ":s3", "--user", e.Access + ":" + e.Secret,
		// curl 7.88 signs but does not send the payload hash S3 requires.
		"-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"}
}

// curl runs curl with args and returns the final response; the test fails
// if curl itself fails (no response).
func curl(t *testing.T, args ...string) httpResult {
	t.Helper()
	dir := t.TempDir()
	hdr, body := filepath.Join(dir, "headers"), filepath.Join(dir, "body")
	ctx, cancel := context.WithTimeout(t.Context(), cmdTimeout)
	defer cancel()
	argv := append([]string{"-sS", "--max-time", "60", "--noproxy", "*", "-D", hdr, "-o", body, "-w", "%{http_code}"}, args...)
	cmd := exec.CommandContext(ctx, "curl", argv...)
	cmd.Env = cleanEnv(nil)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("curl %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	var res httpResult
	var err error
	if res.Status, err = strconv.Atoi(strings.TrimSpace(stdout.String())); err != nil {
		t.Fatalf("curl status %q: %v", stdout.String(), err)
	}
	res.Body, _ = os.ReadFile(body) // absent for HEAD
	raw, err := os.ReadFile(hdr)
	if err != nil {
		t.Fatal(err)
	}
	res.Header = lastHeaderBlock(t, raw)
	return res
}

// lastHeaderBlock parses the last response header block of a curl -D file
// (after any 100 Continue).
func lastHeaderBlock(t *testing.T, raw []byte) http.Header {
	t.Helper()
	s := string(raw)
	if i := strings.LastIndex(s, "\r\nHTTP/"); i >= 0 {
		s = s[i+2:]
	}
	_, rest, _ := strings.Cut(s, "\r\n") // the status line
	if !strings.HasSuffix(rest, "\r\n\r\n") {
		rest += "\r\n"
	}
	h, err := textproto.NewReader(bufio.NewReader(strings.NewReader(rest))).ReadMIMEHeader()
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("parsing curl headers %q: %v", raw, err)
	}
	return http.Header(h)
}

// httpDo sends req with the suite's plain HTTP client and reads the body.
func httpDo(t *testing.T, req *http.Request) (httpResult, error) {
	t.Helper()
	resp, err := httpClient.Do(req)
	if err != nil {
		return httpResult{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return httpResult{Status: resp.StatusCode, Header: resp.Header, Body: body}, err
}

// objectURL returns the path-style URL of bucket/key under e, escaped the
// way S3 clients do.
func objectURL(e endpoint, bucket, key string) string {
	return e.URL + "/" + bucket + "/" + escapeKey(key)
}

func escapeKey(key string) string {
	var b strings.Builder
	for _, c := range []byte(key) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == '~', c == '/':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// putObject stores body at bucket/key through e with the SDK.
func putObject(t *testing.T, e endpoint, in *s3.PutObjectInput) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), cmdTimeout)
	defer cancel()
	if _, err := sdkClient(e).PutObject(ctx, in); err != nil {
		t.Fatalf("PutObject %s/%s: %v", aws.ToString(in.Bucket), aws.ToString(in.Key), err)
	}
}

// putBytes stores body at bucket/key through e with the SDK.
func putBytes(t *testing.T, e endpoint, bucket, key string, body []byte) {
	t.Helper()
	putObject(t, e, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(body)})
}

// getResult is one SDK GetObject's outcome.
type getResult struct {
	Status int
	Header http.Header
	Body   []byte
	Code   string
}

// sdkGet gets bucket/key through e with the SDK.
func sdkGet(t *testing.T, e endpoint, bucket, key string) getResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), cmdTimeout)
	defer cancel()
	out, err := sdkClient(e).GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		status, code, h := sdkErr(err)
		if status == 0 {
			t.Fatalf("GetObject %s/%s: %v", bucket, key, err)
		}
		return getResult{Status: status, Header: h, Code: code}
	}
	defer out.Body.Close()
	body, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatalf("GetObject %s/%s: reading body: %v", bucket, key, err)
	}
	return getResult{Status: 200, Header: rawHeader(out.ResultMetadata), Body: body}
}

// wantXCache fails the test unless h has X-Cache: want.
func wantXCache(t *testing.T, what string, h http.Header, want string) {
	t.Helper()
	if got := h.Get("X-Cache"); got != want {
		t.Errorf("%s: X-Cache = %q, want %q", what, got, want)
	}
}
