package proxy

import (
	"bufio"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// s3ErrorBody is an S3 error body as a client parses it.
type s3ErrorBody struct {
	Code             string
	Message          string
	RequestID        string `xml:"RequestId"`
	Region           string
	RangeRequested   string
	ActualObjectSize string
	Size             string
	MaxSizeAllowed   string
}

func parseErrorBody(t *testing.T, body string) s3ErrorBody {
	t.Helper()
	var e s3ErrorBody
	if err := xml.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	return e
}

// TestInvalidRangeAnswer: wherever the proxy itself answers 416 (a hit, a
// miss answered from the fill, an object cached in blocks), the answer is
// S3's: InvalidRange with RangeRequested and ActualObjectSize, the
// Content-Range "bytes */size", and a RequestId that is the header's.
func TestInvalidRangeAnswer(t *testing.T) {
	fake, backend := newFakeS3(t)
	fake.objects["/bkt/small"] = []byte("0123456789")
	_, srv := newTestProxy(t, backend, nil)
	blocks, blockBackend := newRangeS3(t)
	large := randomBytes(1, 3*testBlock+5)
	blocks.put("/bkt/large", large)
	_, blockSrv := newBlockProxy(t, blockBackend, -1)
	// The block path learns the object's size from a first read.
	if res, _, err := getRange(t, blockSrv.URL+"/bkt/large", "bytes=0-0"); err != nil || res.StatusCode != http.StatusPartialContent {
		t.Fatalf("first range of the large object: %v %v", res, err)
	}

	tests := []struct {
		name, url, rangeSpec string
		size                 int
		xcache               string
	}{
		{"miss", srv.URL + "/bkt/small", "bytes=10-", 10, xCacheMiss},
		{"hit", srv.URL + "/bkt/small", "bytes=100-200", 10, xCacheHit},
		{"suffix of nothing on a hit", srv.URL + "/bkt/small", "bytes=-0", 10, xCacheHit},
		{"blocks", blockSrv.URL + "/bkt/large", "bytes=99999-", len(large), xCacheHit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.xcache == xCacheHit {
				// The miss's fill is stored after its answer went out.
				waitFor(t, "the object to be cached", func() bool {
					res, _, err := getRange(t, tt.url, "")
					return err == nil && res.Header.Get("X-Cache") == xCacheHit
				})
			}
			res, body, err := getRange(t, tt.url, tt.rangeSpec)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != http.StatusRequestedRangeNotSatisfiable {
				t.Fatalf("status %d, want 416; body %q", res.StatusCode, body)
			}
			size := strconv.Itoa(tt.size)
			if got, want := res.Header.Get("Content-Range"), "bytes */"+size; got != want {
				t.Errorf("Content-Range %q, want %q", got, want)
			}
			if got := res.Header.Get("X-Cache"); got != tt.xcache {
				t.Errorf("X-Cache %q, want %q", got, tt.xcache)
			}
			e := parseErrorBody(t, string(body))
			want := s3ErrorBody{Code: "InvalidRange", Message: "The requested range is not satisfiable",
				RequestID: res.Header.Get("X-Amz-Request-Id"), RangeRequested: tt.rangeSpec, ActualObjectSize: size}
			if e != want || want.RequestID == "" {
				t.Errorf("error body %+v, want %+v", e, want)
			}
		})
	}
}

// TestRegionErrorAnswer: a request signed for another region is told the
// region to sign for, as S3 tells it: in the message and in a Region
// element, under the code S3 uses for the header and for a presigned URL.
func TestRegionErrorAnswer(t *testing.T) {
	_, backend := newFakeS3(t)
	_, srv := newTestProxy(t, backend, func(c *Config) { c.Region = "eu-central-1" })
	creds := aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}
	header := func() *http.Request {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/bkt/k", nil)
		req.Header.Set("X-Amz-Content-Sha256", emptyPayloadHash)
		if err := newTestSigner().SignHTTP(context.Background(), creds, req, emptyPayloadHash, "s3", "us-west-2", time.Now()); err != nil {
			t.Fatal(err)
		}
		return req
	}
	presigned := func() *http.Request {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/bkt/k?X-Amz-Expires=900", nil)
		u, _, err := newTestSigner().PresignHTTP(context.Background(), creds, req, "UNSIGNED-PAYLOAD", "s3", "us-west-2", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		req, _ = http.NewRequest(http.MethodGet, u, nil)
		return req
	}
	tests := []struct {
		name  string
		req   func() *http.Request
		code  string
		start string
	}{
		{"header", header, "AuthorizationHeaderMalformed", "The authorization header is malformed"},
		{"presigned", presigned, "AuthorizationQueryParametersError", "Error parsing the X-Amz-Credential parameter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := http.DefaultClient.Do(tt.req())
			if err != nil {
				t.Fatal(err)
			}
			body := readBody(t, res)
			res.Body.Close()
			if res.StatusCode != http.StatusBadRequest {
				t.Errorf("status %d, want 400", res.StatusCode)
			}
			got := parseErrorBody(t, body)
			want := s3ErrorBody{Code: tt.code, Message: tt.start + "; the region 'us-west-2' is wrong; expecting 'eu-central-1'",
				RequestID: res.Header.Get("X-Amz-Request-Id"), Region: "eu-central-1"}
			if got != want {
				t.Errorf("error body %+v, want %+v", got, want)
			}
		})
	}
}

func TestWithRequestID(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"replaced", `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<Error><Code>NoSuchKey</Code><RequestId>BACKEND1</RequestId><HostId>h</HostId></Error>`,
			`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<Error><Code>NoSuchKey</Code><RequestId>abc&amp;1</RequestId><HostId>h</HostId></Error>`},
		{"empty replaced", `<Error><Code>X</Code><RequestId></RequestId></Error>`, `<Error><Code>X</Code><RequestId>abc&amp;1</RequestId></Error>`},
		{"added", `<Error><Code>NoSuchKey</Code></Error>` + "\n", `<Error><Code>NoSuchKey</Code><RequestId>abc&amp;1</RequestId></Error>` + "\n"},
		{"not an error document", `<ListBucketResult><RequestId>x</RequestId></ListBucketResult>`, `<ListBucketResult><RequestId>x</RequestId></ListBucketResult>`},
		{"unterminated declaration", `<?xml <Error></Error>`, `<?xml <Error></Error>`},
		{"plain text", `Bad Gateway`, `Bad Gateway`},
		{"unclosed RequestId", `<Error><RequestId>x</Error>`, `<Error><RequestId>x</Error>`},
		{"RequestId in the declaration", `<?xml<RequestId>?><Error></RequestId></Error>`, `<?xml<RequestId>?><Error></RequestId><RequestId>abc&amp;1</RequestId></Error>`},
		{"white space before the root", " \n<Error><RequestId>x</RequestId></Error>", " \n<Error><RequestId>abc&amp;1</RequestId></Error>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := []byte(tt.body)
			if got := string(withRequestID(in, "abc&1")); got != tt.want {
				t.Errorf("withRequestID(%q) = %q, want %q", tt.body, got, tt.want)
			}
			if string(in) != tt.body {
				t.Errorf("the input was modified: %q", in)
			}
		})
	}
}

// FuzzWithRequestID: whatever the backend sends, the rewrite never
// panics nor modifies its input, leaves what is no error document alone,
// and gives an error document the id as its only RequestId text.
func FuzzWithRequestID(f *testing.F) {
	f.Add([]byte(`<?xml version="1.0"?><Error><Code>A</Code><RequestId>B</RequestId></Error>`))
	f.Add([]byte(`<Error></Error>`))
	f.Add([]byte(`<Error><RequestId></Error>`))
	f.Add([]byte(`<?xml<RequestId>?><Error></RequestId></Error>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		orig := string(body)
		out := withRequestID(body, "ID1")
		if string(body) != orig {
			t.Fatalf("input modified")
		}
		if !isErrorDocument(body) {
			if string(out) != orig {
				t.Fatalf("%q is no error document but became %q", orig, out)
			}
			return
		}
		if !isErrorDocument(out) {
			t.Fatalf("%q became %q, no error document", orig, out)
		}
	})
}

// TestRelayedErrorRequestID: an S3 error the backend sends reaches the
// client with the proxy's request id both in X-Amz-Request-Id and in the
// body's RequestId, however it is relayed: a miss's shared fill, a fill
// not shared (unknown length), a bypassed read and a pass-through write.
// Bodies that are too long to rewrite, and HEAD answers, pass as sent.
func TestRelayedErrorRequestID(t *testing.T) {
	const backendErr = `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><RequestId>BACKEND</RequestId></Error>`
	long := `<Error><Code>X</Code><Message>` + strings.Repeat("m", maxErrorBody) + `</Message><RequestId>BACKEND</RequestId></Error>`
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Amz-Request-Id", "BACKEND")
		w.Header().Set("Content-Type", "application/xml")
		body := backendErr
		switch {
		case strings.HasSuffix(r.URL.Path, "/long"):
			body = long
		case strings.HasSuffix(r.URL.Path, "/chunked"):
			w.WriteHeader(http.StatusNotFound)
			w.(http.Flusher).Flush() // no Content-Length: sent chunked
			io.WriteString(w, body)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, body)
	}))
	t.Cleanup(backend.Close)
	_, srv := newTestProxy(t, backend, nil)

	tests := []struct {
		name, method, path string
		want               string // RequestId in the body: "header" for the proxy's
	}{
		{"shared fill", "GET", "/bkt/missing", "header"},
		{"fill of unknown length", "GET", "/bkt/chunked", "header"},
		{"bypassed read", "GET", "/bkt/missing?response-content-type=text%2Fplain", "header"},
		{"pass-through write", "PUT", "/bkt/missing", "header"},
		{"objects API", "GET", "/objects/bkt/missing", "header"},
		{"too long to rewrite", "GET", "/bkt/long", "BACKEND"},
		{"HEAD", "HEAD", "/bkt/missing", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := do(t, tt.method, srv.URL+tt.path, nil, testSecret)
			body := readBody(t, res)
			id := res.Header.Get("X-Amz-Request-Id")
			if res.StatusCode != http.StatusNotFound || id == "" || id == "BACKEND" {
				t.Fatalf("status %d, X-Amz-Request-Id %q; want 404 and the proxy's id", res.StatusCode, id)
			}
			if cl := res.Header.Get("Content-Length"); tt.method == "GET" && cl != strconv.Itoa(len(body)) {
				t.Errorf("Content-Length %q for a %d-byte body", cl, len(body))
			}
			if tt.want == "" {
				if body != "" {
					t.Errorf("HEAD body %q, want none", body)
				}
				return
			}
			want := tt.want
			if want == "header" {
				want = id
			}
			if got := parseErrorBody(t, body); got.RequestID != want || got.Code == "" {
				t.Errorf("body RequestId %q (code %q), want %q", got.RequestID, got.Code, want)
			}
		})
	}
}

// sendRaw writes req's request line and signed headers to addr, then
// body exactly as given, and returns the answer's status and body.
func sendRaw(t *testing.T, addr string, req *http.Request, body string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", req.Method, req.URL.RequestURI(), req.Host)
	for k, vs := range req.Header {
		fmt.Fprintf(&b, "%s: %s\r\n", k, vs[0])
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	defer res.Body.Close()
	return res.StatusCode, readBody(t, res)
}

// TestMalformedChunkedBody: a request body whose HTTP chunked framing is
// broken is the client's fault: a 4xx S3 error, never a proxy-made 500,
// and the backend never receives it whole. A PutObject without a
// declared length gets 411 MissingContentLength before its body is read,
// as from S3.
func TestMalformedChunkedBody(t *testing.T) {
	var complete atomic.Int64 // backend requests whose body arrived whole
	fake, _ := newFakeS3(t)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err == nil && r.ContentLength != 0 {
			complete.Add(1)
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(backend.Close)
	_, srv := newTestProxy(t, backend, nil)
	addr := strings.TrimPrefix(srv.URL, "http://")
	framings := map[string]string{
		"size zz":         "zz\r\nhello\r\n0\r\n\r\n",
		"size -1":         "-1\r\nhello\r\n0\r\n\r\n",
		"size too large":  "ffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
		"missing CRLF":    "5\r\nhello0\r\n\r\n",
		"70 KB extension": "5;" + strings.Repeat("x", 70<<10) + "\r\nhello\r\n0\r\n\r\n",
	}
	// net/http takes a size of 2^64-1 and waits for its bytes; a request
	// refused before its body is read must not wait for them.
	unread := "ffffffffffffffff\r\nhello"
	requests := []struct {
		name, method, target string
		status               int
		code                 string
	}{
		{"PutObject", "PUT", "/bkt/k", http.StatusLengthRequired, "MissingContentLength"},
		{"/objects PUT", "PUT", "/objects/bkt/k", http.StatusLengthRequired, "MissingContentLength"},
		{"PutObjectTagging", "PUT", "/bkt/k?tagging", http.StatusBadRequest, "IncompleteBody"},
		{"DeleteObjects", "POST", "/bkt?delete", http.StatusBadRequest, "IncompleteBody"},
	}
	for _, rt := range requests {
		framings := maps.Clone(framings)
		if rt.status == http.StatusLengthRequired {
			framings["size 2^64-1, unread"] = unread
		}
		for name, body := range framings {
			t.Run(rt.name+"/"+name, func(t *testing.T) {
				req, _ := http.NewRequest(rt.method, srv.URL+rt.target, nil)
				req.Header.Set("Transfer-Encoding", "chunked")
				signRequest(t, req, "UNSIGNED-PAYLOAD", testSecret)
				status, got := sendRaw(t, addr, req, body)
				e := parseErrorBody(t, got)
				if status != rt.status || e.Code != rt.code {
					t.Errorf("status %d %s, want %d %s; body %q", status, e.Code, rt.status, rt.code, got)
				}
			})
		}
	}
	if n := complete.Load(); n != 0 {
		t.Errorf("the backend received %d malformed bodies whole", n)
	}
}
