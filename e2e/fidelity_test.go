package e2e

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// fidelityIgnored are the response headers that may differ between the
// proxy and the backend for the same request: hop-by-hop and per-response
// headers, and the proxy's own X-Cache.
var fidelityIgnored = []string{
	"Connection", "Keep-Alive", "Transfer-Encoding", "Date", "Server",
	"X-Amz-Request-Id", "X-Amz-Id-2", "X-Cache",
}

// fidelityRequest sends method to bucket/key at e with the raw query and
// headers, signed with e's keys (the headers are signed too).
func fidelityRequest(t *testing.T, e endpoint, method, bucket, key, rawQuery string, header map[string]string) httpResult {
	t.Helper()
	url := objectURL(e, bucket, key)
	if rawQuery != "" {
		url += "?" + rawQuery
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	const hash = "UNSIGNED-PAYLOAD"
	req.Header.Set("X-Amz-Content-Sha256", hash)
	creds := aws.Credentials{AccessKeyID: e.Access, SecretAccessKey: e.Secret}
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if err := signer.SignHTTP(t.Context(), creds, req, hash, "s3", testRegion, time.Now()); err != nil {
		t.Fatal(err)
	}
	res, err := httpDo(t, req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return res
}

// TestHitFidelity sends the same requests — plain, ranged, conditional,
// with response-* overrides — to the proxy, which answers them from a
// cached entry, and directly to versitygw, and requires the same status,
// body and headers.
//
// Allowed differences, each checked on its own:
//   - The headers in fidelityIgnored.
//   - Error responses (412, 416): the XML bodies carry different request
//     ids, and versitygw adds fields (RangeRequested, ActualObjectSize,
//     Condition, HostId), so the error codes are compared, and
//     Content-Length with them.
//   - 416: the proxy sends Content-Range: bytes */{size} (RFC 9110 §15.5.17);
//     versitygw sends none.
//   - 304: the proxy sends ETag, Last-Modified, Cache-Control and Expires
//     and no Content-Type, as AWS S3 and RFC 9110 §15.4.5 do; versitygw
//     sends Content-Type: application/xml and no validators.
//
// Where versitygw deviates from AWS S3 (aws is set), the proxy must give
// AWS's answer and versitygw's is only logged.
func TestHitFidelity(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	e := h.endpoint()
	direct := endpoint{URL: "http://" + backendAddr(t), Access: testAccess, Secret: testSecret}
	bucket := newBucket(t, e)
	const key = "fidelity/object.bin"
	const size = 4096
	body := randomBytes(t, size)
	putObject(t, e, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body),
		ContentType:        aws.String("text/x-fidelity"),
		ContentDisposition: aws.String(`attachment; filename="object.bin"`),
		CacheControl:       aws.String("max-age=60, must-revalidate"),
		ContentEncoding:    aws.String("gzip"),
		ContentLanguage:    aws.String("de-CH"),
		Expires:            aws.Time(time.Date(2037, 1, 1, 0, 0, 0, 0, time.UTC)),
		Metadata:           map[string]string{"color": "blue", "shape": "round"},
	})

	// Every request asks for checksums, as the SDKs do and as the fill does.
	checksums := map[string]string{"X-Amz-Checksum-Mode": "ENABLED"}
	var etag, lastModified string
	for _, want := range []string{"MISS", "HIT"} {
		r := fidelityRequest(t, e, "GET", bucket, key, "", checksums)
		if r.Status != 200 || !bytes.Equal(r.Body, body) {
			t.Fatalf("warming GET: status %d, %d bytes; want 200 with %d", r.Status, len(r.Body), size)
		}
		wantXCache(t, "warming GET", r.Header, want)
		etag, lastModified = r.Header.Get("ETag"), r.Header.Get("Last-Modified")
	}
	tests := fidelityCases(t, etag, lastModified)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = "GET"
			}
			header := map[string]string{}
			for k, v := range checksums {
				header[k] = v
			}
			for k, v := range tc.header {
				header[k] = v
			}
			before := h.relay.total()
			got := fidelityRequest(t, e, method, bucket, key, tc.query, header)
			backendSaw := h.relay.total() - before
			want := fidelityRequest(t, direct, method, bucket, key, tc.query, header)

			wantX := tc.xcache
			if wantX == "" {
				wantX = "HIT"
			}
			wantXCache(t, "proxy", got.Header, wantX)
			if wantX == "HIT" && backendSaw != 0 {
				t.Errorf("a hit sent %d requests to the backend", backendSaw)
			}
			if got.Status != tc.status {
				t.Errorf("proxy status %d, want %d", got.Status, tc.status)
			}
			if tc.aws != "" {
				if want.Status != tc.status {
					t.Logf("versitygw answers %d where AWS S3 answers %d: %s", want.Status, tc.status, tc.aws)
				}
				return
			}
			if want.Status != tc.status {
				t.Fatalf("versitygw status %d, want %d: the case is wrong", want.Status, tc.status)
			}
			compareFidelity(t, got, want, size, etag, lastModified)
		})
	}
}

// TestMissFidelity sends each read of TestHitFidelity to a cold cache:
// the proxy fills the cache from one backend request of its own (the
// whole object, or a HEAD) and must still answer exactly as versitygw
// answers the read itself, with the differences TestHitFidelity allows.
// The next plain read of the object is then a hit.
func TestMissFidelity(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	e := h.endpoint()
	direct := endpoint{URL: "http://" + backendAddr(t), Access: testAccess, Secret: testSecret}
	bucket := newBucket(t, e)
	const size = 4096
	body := randomBytes(t, size)
	checksums := map[string]string{"X-Amz-Checksum-Mode": "ENABLED"}
	for i, tc := range fidelityCases(t, `"x"`, time.Now().UTC().Format(http.TimeFormat)) {
		t.Run(tc.name, func(t *testing.T) {
			key := "miss-fidelity/" + strconv.Itoa(i)
			putObject(t, direct, &s3.PutObjectInput{
				Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body),
				ContentType:  aws.String("text/x-fidelity"),
				CacheControl: aws.String("max-age=60"),
				Metadata:     map[string]string{"color": "blue"},
			})
			// The case again, with this object's validators.
			head := fidelityRequest(t, direct, "HEAD", bucket, key, "", checksums)
			etag, lastModified := head.Header.Get("ETag"), head.Header.Get("Last-Modified")
			tc := fidelityCases(t, etag, lastModified)[i]

			method := cmpOr(tc.method, "GET")
			header := map[string]string{}
			maps.Copy(header, checksums)
			maps.Copy(header, tc.header)
			before := h.relay.total()
			got := fidelityRequest(t, e, method, bucket, key, tc.query, header)
			backendSaw := h.relay.total() - before
			want := fidelityRequest(t, direct, method, bucket, key, tc.query, header)

			wantX := cmpOr(tc.xcache, "MISS")
			wantXCache(t, "cold proxy", got.Header, wantX)
			// A range of an object the proxy knows nothing of asks
			// for its size first, with a HEAD.
			wantRequests := max(tc.requests, 1)
			if method == "GET" && tc.header["Range"] != "" {
				wantRequests = 2
			}
			if wantX == "MISS" && backendSaw != wantRequests {
				t.Errorf("the miss sent %d requests to the backend, want %d", backendSaw, wantRequests)
			}
			if got.Status != tc.status {
				t.Errorf("proxy status %d, want %d", got.Status, tc.status)
			}
			if tc.aws == "" {
				if want.Status != tc.status {
					t.Fatalf("versitygw status %d, want %d: the case is wrong", want.Status, tc.status)
				}
				compareFidelity(t, got, want, size, etag, lastModified)
			}
			if wantX != "MISS" {
				return
			}
			// The miss filled the cache: the object for a GET, its
			// description for a HEAD. An answer that needed no body (304,
			// 412, HEAD) may come before the fill ends: a read meanwhile
			// joins the fill (MISS) without a backend request of its own.
			before = h.relay.total()
			err := poll(t.Context(), 10*time.Second, func(context.Context) error {
				again := fidelityRequest(t, e, method, bucket, key, "", checksums)
				if method == "GET" && !bytes.Equal(again.Body, body) {
					t.Fatalf("plain GET after the miss: %d bytes, not the object", len(again.Body))
				}
				if x := again.Header.Get("X-Cache"); x != "HIT" {
					return fmt.Errorf("plain %s after the miss: X-Cache %q", method, x)
				}
				return nil
			})
			if err != nil {
				t.Error(err)
			}
			if n := h.relay.total() - before; n != 0 {
				t.Errorf("plain %ss after the miss sent %d requests to the backend", method, n)
			}
		})
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// fidelityCase is a read sent both to the proxy and to versitygw.
type fidelityCase struct {
	name   string
	method string // "" is GET
	query  string
	header map[string]string
	status int    // the answer of both, or AWS's where aws is set
	xcache string // "" is HIT (MISS on a cold cache)
	aws    string // set where versitygw deviates from AWS S3: why
	// requests is how many backend requests the read sends to a cold
	// cache; 0 means 1.
	requests int
}

// fidelityCases are the reads TestHitFidelity and TestMissFidelity send,
// for an object of 4096 bytes with etag, last modified at lastModified.
func fidelityCases(t *testing.T, etag, lastModified string) []fidelityCase {
	t.Helper()
	lm, err := http.ParseTime(lastModified)
	if err != nil {
		t.Fatalf("Last-Modified %q: %v", lastModified, err)
	}
	date := func(t time.Time) string { return t.UTC().Format(http.TimeFormat) }
	past, future := date(lm.Add(-time.Hour)), date(time.Now().Add(time.Hour))
	overrides := "response-cache-control=no-cache&response-content-disposition=inline" +
		"&response-content-encoding=identity&response-content-language=fr" +
		"&response-content-type=text%2Fplain&response-expires=Fri%2C%2001%20Jan%202038%2000%3A00%3A00%20GMT"

	return []fidelityCase{
		{name: "plain GET", status: 200},
		{name: "HEAD", method: "HEAD", status: 200},
		{name: "range a-b", header: map[string]string{"Range": "bytes=0-99"}, status: 206},
		{name: "range a-", header: map[string]string{"Range": "bytes=4000-"}, status: 206},
		{name: "range -n", header: map[string]string{"Range": "bytes=-100"}, status: 206},
		{name: "range beyond end", header: map[string]string{"Range": "bytes=4000-9999"}, status: 206},
		{name: "range unsatisfiable", header: map[string]string{"Range": "bytes=4096-"}, status: 416},
		{name: "range -0", header: map[string]string{"Range": "bytes=-0"}, status: 416},
		{name: "range reversed is ignored", header: map[string]string{"Range": "bytes=100-50"}, status: 200},
		{name: "range garbage is ignored", header: map[string]string{"Range": "bytes=abc"}, status: 200},
		{name: "multi-range is relayed", header: map[string]string{"Range": "bytes=0-1,3-4"}, status: 200, xcache: "BYPASS; reason=multi-range"},
		{name: "HEAD range", method: "HEAD", header: map[string]string{"Range": "bytes=0-99"}, status: 206},
		{name: "If-None-Match match", header: map[string]string{"If-None-Match": etag}, status: 304},
		{name: "If-None-Match other", header: map[string]string{"If-None-Match": `"0123"`}, status: 200},
		{name: "HEAD If-None-Match match", method: "HEAD", header: map[string]string{"If-None-Match": etag}, status: 304},
		{name: "If-None-Match list", header: map[string]string{"If-None-Match": `"0123", ` + etag}, status: 304,
			aws: "versitygw takes the whole header as one tag; RFC 9110 §13.1.2 allows a list"},
		{name: "If-Match match", header: map[string]string{"If-Match": etag}, status: 200},
		{name: "If-Match mismatch", header: map[string]string{"If-Match": `"0123"`}, status: 412},
		{name: "HEAD If-Match mismatch", method: "HEAD", header: map[string]string{"If-Match": `"0123"`}, status: 412},
		{name: "If-Modified-Since past", header: map[string]string{"If-Modified-Since": past}, status: 200},
		{name: "If-Modified-Since future is ignored", header: map[string]string{"If-Modified-Since": future}, status: 200},
		{name: "If-Modified-Since Last-Modified", header: map[string]string{"If-Modified-Since": lastModified}, status: 304,
			aws: "versitygw compares with the file's sub-second mtime, not the Last-Modified it sent"},
		{name: "If-Unmodified-Since past", header: map[string]string{"If-Unmodified-Since": past}, status: 412},
		{name: "If-Unmodified-Since Last-Modified", header: map[string]string{"If-Unmodified-Since": lastModified}, status: 200,
			aws: "versitygw compares with the file's sub-second mtime, not the Last-Modified it sent"},
		{name: "S3: If-Match true, If-Unmodified-Since false", header: map[string]string{"If-Match": etag, "If-Unmodified-Since": past}, status: 200},
		{name: "S3: If-None-Match false, If-Modified-Since true", header: map[string]string{"If-None-Match": etag, "If-Modified-Since": past}, status: 304},
		{name: "preconditions before range", header: map[string]string{"If-None-Match": etag, "Range": "bytes=4096-"}, status: 304},
		{name: "response overrides", query: overrides, status: 200},
		{name: "HEAD response overrides", method: "HEAD", query: overrides, status: 200},
		{name: "response overrides and range", query: overrides, header: map[string]string{"Range": "bytes=10-19"}, status: 206},
		// The part's description comes from a HEAD: a MISS, even when
		// the object's bytes are cached.
		{name: "partNumber", query: "partNumber=1", status: 206, xcache: "MISS", requests: 2},
	}
}

// compareFidelity compares the proxy's answer got with versitygw's want,
// allowing the differences TestHitFidelity lists.
func compareFidelity(t *testing.T, got, want httpResult, size int, etag, lastModified string) {
	t.Helper()
	gh, wh := got.Header.Clone(), want.Header.Clone()
	for _, k := range fidelityIgnored {
		gh.Del(k)
		wh.Del(k)
	}
	switch {
	case got.Status == http.StatusNotModified:
		for k, v := range map[string]string{"Etag": etag, "Last-Modified": lastModified} {
			if g := gh.Get(k); g != v {
				t.Errorf("304 %s = %q, want %q", k, g, v)
			}
		}
		if ct := gh.Get("Content-Type"); ct != "" {
			t.Errorf("304 Content-Type = %q, want none", ct)
		}
		if len(got.Body) != 0 {
			t.Errorf("304 with a %d-byte body", len(got.Body))
		}
		return // versitygw's 304 headers are not S3's
	case got.Status >= 400:
		if len(got.Body) > 0 || len(want.Body) > 0 {
			if g, w := xmlCode(got.Body), xmlCode(want.Body); g != w {
				t.Errorf("error code %q, versitygw %q", g, w)
			}
		}
		gh.Del("Content-Length")
		wh.Del("Content-Length")
		if got.Status == http.StatusRequestedRangeNotSatisfiable {
			if cr, w := gh.Get("Content-Range"), "bytes */"+strconv.Itoa(size); cr != w {
				t.Errorf("416 Content-Range = %q, want %q", cr, w)
			}
			gh.Del("Content-Range")
		}
	default:
		if !bytes.Equal(got.Body, want.Body) {
			t.Errorf("body: %d bytes, versitygw %d; not equal", len(got.Body), len(want.Body))
		}
	}
	for _, k := range unionKeys(gh, wh) {
		if g, w := gh[k], wh[k]; !slices.Equal(g, w) {
			t.Errorf("header %s: proxy %q, versitygw %q", k, g, w)
		}
	}
}

func unionKeys(a, b http.Header) []string {
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}
