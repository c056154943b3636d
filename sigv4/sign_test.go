package sigv4

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// TestSignHeadersMatchesSDK: the Transport's own signer gives the
// Authorization, X-Amz-Date, host and query the AWS SDK's signer (with
// URI path escaping disabled, as the Transport used it before) gives the
// same request: paths and queries that need escaping, repeated and empty
// parameters, headers with extra spaces, several values and non-canonical
// keys, default and other ports, bodies with and without a length.
func TestSignHeadersMatchesSDK(t *testing.T) {
	at := time.Date(2026, 12, 3, 22, 41, 7, 0, time.UTC)
	sdk := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	tr := &Transport{AccessKey: "AKIDEXAMPLE", SecretKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
	hash := "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	type req struct {
		method, url, host string
		length            int64
		header            http.Header
	}
	for _, tc := range []req{
		{method: "GET", url: "http://backend:9000/bucket/key"},
		{method: "GET", url: "http://backend:80/bucket/key", header: http.Header{"Range": {"bytes=0-99"}}},
		{method: "GET", url: "https://backend:443/bucket/key"},
		{method: "GET", url: "https://backend:8443/bucket/key"},
		{method: "GET", url: "http://[::1]:9000/bucket/key"},
		{method: "GET", url: "http://backend:9000/bucket/key", host: "bucket.backend:9000"},
		{method: "GET", url: "http://backend:9000/"},
		{method: "GET", url: "http://backend:9000/bucket?list-type=2&prefix=a%2Fb&delimiter=%2F&max-keys=3"},
		{method: "GET", url: "http://backend:9000/bucket?uploads&prefix="},
		{method: "GET", url: "http://backend:9000/bucket?b=2&a=1&a=0&c"},
		{method: "GET", url: "http://backend:9000/bucket/" + EscapePath("ünï/a//b sp+c%!*'()$,;=@:~") + "?versionId=v%2B1&response-content-type=text%2Fplain%3B%20charset%3Dutf-8"},
		{method: "GET", url: "http://backend:9000/bucket/k?prefix=a+b&x=%7E"},
		{method: "HEAD", url: "http://backend:9000/bucket/key", header: http.Header{
			"If-None-Match":     {`"abc"`},
			"If-Modified-Since": {"Wed, 02 Dec 2026 10:00:00 GMT"},
			"X-Amz-Meta-Two":    {"  spaced   out  ", "second"},
			"x-amz-meta-Lower":  {"non-canonical key"},
			"User-Agent":        {"s3cache"},
			"Accept-Encoding":   {"identity"},
			"Expect":            {"100-continue"},
		}},
		{method: "PUT", url: "http://backend:9000/bucket/key", length: 12345, header: http.Header{
			"Content-Type":                 {"application/octet-stream"},
			"Content-Encoding":             {"aws-chunked"},
			"X-Amz-Decoded-Content-Length": {"12000"},
			"X-Amz-Trailer":                {"x-amz-checksum-crc64nvme"},
			"Content-Length":               {"12345"},
		}},
		{method: "PUT", url: "http://backend:9000/bucket/key?partNumber=2&uploadId=a%2Fb", length: 0},
		{method: "POST", url: "http://backend:9000/bucket?delete", length: 200, header: http.Header{"Content-Md5": {"1B2M2Y8AsgTpgAmY7PhCfg=="}}},
		{method: "DELETE", url: "http://backend:9000/bucket/key?versionId=null"},
	} {
		t.Run(tc.method+" "+tc.url, func(t *testing.T) {
			mk := func() *http.Request {
				r, err := http.NewRequestWithContext(context.Background(), tc.method, tc.url, nil)
				if err != nil {
					t.Fatal(err)
				}
				r.Host = tc.host
				r.ContentLength = tc.length
				for k, v := range tc.header {
					r.Header[k] = append([]string(nil), v...)
				}
				r.Header.Set(headerContentSHA256, hash)
				return r
			}
			// What RoundTrip did before: the SDK signs a copy without
			// the unsignable headers.
			want := mk()
			signed := *want
			signed.Header = make(http.Header)
			for k, vs := range want.Header {
				if !unsignableHeaders[http.CanonicalHeaderKey(k)] {
					signed.Header[k] = vs
				}
			}
			creds := aws.Credentials{AccessKeyID: tr.AccessKey, SecretAccessKey: tr.SecretKey}
			if err := sdk.SignHTTP(context.Background(), creds, &signed, hash, "s3", "eu-west-1", at); err != nil {
				t.Fatal(err)
			}
			got := mk()
			tr.signHeaders(got, hash, "eu-west-1", at)
			for _, c := range []struct{ what, got, want string }{
				{"Authorization", got.Header.Get("Authorization"), signed.Header.Get("Authorization")},
				{"X-Amz-Date", got.Header.Get("X-Amz-Date"), signed.Header.Get("X-Amz-Date")},
				{"host", got.Host, hostOf(&signed)},
				{"query", got.URL.RawQuery, signed.URL.RawQuery},
			} {
				if c.got != c.want {
					t.Errorf("%s:\n got %q\nwant %q", c.what, c.got, c.want)
				}
			}
			if !strings.Contains(got.Header.Get("Authorization"), "Credential=AKIDEXAMPLE/20261203/eu-west-1/s3/aws4_request, ") {
				t.Errorf("Authorization %q", got.Header.Get("Authorization"))
			}
		})
	}
}

func hostOf(r *http.Request) string {
	if r.Host != "" {
		return r.Host
	}
	return r.URL.Host
}

// FuzzSignVerify: whatever path, query and header a client's request
// hands the Transport, what it signs is what it sends: the request, written
// to the wire as net/http writes it and read back as a server reads it,
// verifies with the package's Verifier under the backend's key.
func FuzzSignVerify(f *testing.F) {
	f.Add("/bucket/key", "versionId=abc", "Range", "bytes=0-9")
	f.Add("/bucket/"+EscapePath("a b/ü!*'()"), "prefix=a+b&delimiter=%2F&c&c=1&b=", "X-Amz-Meta-X", "  two   spaces ")
	f.Add("/", "", "x-amz-meta-Lower", "v")
	f.Fuzz(func(t *testing.T, path, query, name, value string) {
		u := &url.URL{Scheme: "http", Host: "backend:9000", Path: "/", RawQuery: query}
		if p, err := url.PathUnescape(path); err == nil && strings.HasPrefix(p, "/") {
			u.Path, u.RawPath = p, EscapePath(p)
		}
		req := &http.Request{Method: http.MethodGet, URL: u, Header: http.Header{}, Host: u.Host}
		if fieldName(name) && fieldValue(value) {
			req.Header[name] = []string{value}
		}
		var wire bytes.Buffer
		tr := &Transport{AccessKey: backendAccessKey, SecretKey: backendSecret, Region: "eu-central-1", Now: func() time.Time { return testNow },
			Base: roundTripFunc(func(out *http.Request) (*http.Response, error) {
				if err := out.Write(&wire); err != nil {
					return nil, err
				}
				return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, nil
			})}
		if _, err := tr.RoundTrip(req); err != nil {
			return // net/http refused to write it: nothing was sent
		}
		got, err := http.ReadRequest(bufio.NewReader(&wire))
		if err != nil {
			return // not a request a server reads
		}
		v := &Verifier{Credentials: StaticCredentials{backendAccessKey: backendSecret}, Region: "eu-central-1", Now: func() time.Time { return testNow }}
		if _, err := v.Verify(got); err != nil {
			t.Fatalf("the signed request does not verify: %v\n%s", err, wire.String())
		}
	})
}

// fieldName and fieldValue report whether a header name and value are
// ones net/http sends (letters, digits and '-'; no control characters).
func fieldName(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return s != ""
}

func fieldValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
