package sigv4

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

const (
	backendAccessKey = "AKBACKEND"
	backendSecret    = "backend-secret"
)

// backendSeen is what the test backend observed of one request.
type backendSeen struct {
	header   http.Header
	rawQuery string
	body     []byte
	trailers []string // name:value of each trailer the body carried
	err      error
}

func backendServer(t *testing.T) (*httptest.Server, <-chan backendSeen) {
	t.Helper()
	v := &Verifier{Credentials: StaticCredentials{backendAccessKey: backendSecret}, Region: "eu-central-1"}
	ch := make(chan backendSeen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen := backendSeen{header: r.Header.Clone(), rawQuery: r.URL.RawQuery}
		res, err := v.Verify(r)
		if err == nil {
			if res.AccessKey != backendAccessKey {
				err = errors.New("wrong access key")
			} else {
				seen.body, err = io.ReadAll(res.Body)
				values, _ := res.Trailers.Values()
				for i, name := range res.Trailers.Names() {
					seen.trailers = append(seen.trailers, name+":"+values[i])
				}
			}
		}
		seen.err = err
		ch <- seen
		if err != nil {
			w.WriteHeader(http.StatusForbidden)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, ch
}

func TestTransport(t *testing.T) {
	srv, ch := backendServer(t)
	tr := &Transport{AccessKey: backendAccessKey, SecretKey: backendSecret, Region: "eu-central-1"}
	client := &http.Client{Transport: tr}
	payload := []byte("the decoded payload")

	tests := []struct {
		name        string
		method      string
		path, query string
		body        []byte
		header      http.Header
		payloadHash string
		wantQuery   string
		wantHeader  http.Header // values that must arrive; "" means absent
	}{
		{
			name:   "client header auth and aws-chunked removed",
			method: http.MethodPut,
			path:   "/bucket/" + awsPath("ünï/a//b sp+c%"),
			body:   payload,
			header: http.Header{
				"Authorization":                {"AWS4-HMAC-SHA256 Credential=AKCLIENT/20240301/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=" + testSeed},
				"X-Amz-Date":                   {"20240301T000000Z"},
				"X-Amz-Content-Sha256":         {streamingSignedTrailer},
				"X-Amz-Security-Token":         {"token"},
				"X-Amz-Decoded-Content-Length": {"19"},
				"X-Amz-Trailer":                {"x-amz-checksum-crc32"},
				"Content-Encoding":             {"aws-chunked, gzip"},
				"X-Amz-Sdk-Checksum-Algorithm": {"CRC32"},
				"X-Amz-Meta-Color":             {"blue"},
				"User-Agent":                   {"client/1.0"},
				"Expect":                       {"100-continue"},
			},
			wantHeader: http.Header{
				"X-Amz-Security-Token":         {""},
				"X-Amz-Decoded-Content-Length": {""},
				"X-Amz-Trailer":                {""},
				"X-Amz-Sdk-Checksum-Algorithm": {""},
				"Content-Encoding":             {"gzip"},
				"X-Amz-Meta-Color":             {"blue"},
				"X-Amz-Content-Sha256":         {unsignedPayload},
			},
		},
		{
			name:       "only aws-chunked: Content-Encoding dropped",
			method:     http.MethodPut,
			path:       "/bucket/k",
			body:       payload,
			header:     http.Header{"Content-Encoding": {"aws-chunked"}},
			wantHeader: http.Header{"Content-Encoding": {""}},
		},
		{
			name:        "signed payload hash",
			method:      http.MethodPut,
			path:        "/bucket/k",
			body:        payload,
			payloadHash: sha256Hex(payload),
			header:      http.Header{"X-Amz-Checksum-Crc32": {"AAAAAA=="}, "X-Amz-Sdk-Checksum-Algorithm": {"CRC32"}},
			wantHeader: http.Header{
				"X-Amz-Content-Sha256":         {sha256Hex(payload)},
				"X-Amz-Sdk-Checksum-Algorithm": {"CRC32"},
				"X-Amz-Checksum-Crc32":         {"AAAAAA=="},
			},
		},
		{
			name:   "presign parameters removed",
			method: http.MethodGet,
			path:   "/bucket/" + awsPath("~k ey"),
			query: "versionId=a%2Fb&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKCLIENT%2F20240301%2Fus-east-1%2Fs3%2Faws4_request" +
				"&X-Amz-Date=20240301T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=" + testSeed + "&X-Amz-Security-Token=t&partNumber=2",
			wantQuery: "partNumber=2&versionId=a%2Fb",
		},
		{
			name:      "subresource",
			method:    http.MethodGet,
			path:      "/bucket/",
			query:     "uploads&prefix=a%20b",
			wantQuery: "prefix=a%20b&uploads=",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := srv.URL + tt.path
			if tt.query != "" {
				target += "?" + tt.query
			}
			ctx := context.Background()
			if tt.payloadHash != "" {
				ctx = WithPayloadHash(ctx, tt.payloadHash)
			}
			var body io.Reader
			if tt.body != nil {
				body = bytes.NewReader(tt.body)
			}
			req, err := http.NewRequestWithContext(ctx, tt.method, target, body)
			if err != nil {
				t.Fatal(err)
			}
			for k, vs := range tt.header {
				req.Header[k] = vs
			}
			before := req.Header.Clone()
			beforeQuery := req.URL.RawQuery
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			resp.Body.Close()
			seen := <-ch
			if seen.err != nil {
				t.Fatalf("backend verification: %v", seen.err)
			}
			if !bytes.Equal(seen.body, tt.body) {
				t.Errorf("backend body = %q, want %q", seen.body, tt.body)
			}
			if tt.wantQuery != "" && seen.rawQuery != tt.wantQuery {
				t.Errorf("backend query = %q, want %q", seen.rawQuery, tt.wantQuery)
			}
			if strings.Contains(seen.rawQuery, "X-Amz-") {
				t.Errorf("presign parameter reached the backend: %q", seen.rawQuery)
			}
			if a := seen.header.Get("Authorization"); !strings.Contains(a, "Credential="+backendAccessKey+"/") {
				t.Errorf("Authorization = %q, want the backend's", a)
			}
			for k, vs := range tt.wantHeader {
				if got := seen.header.Get(k); got != vs[0] {
					t.Errorf("backend %s = %q, want %q", k, got, vs[0])
				}
			}
			if !equalHeader(req.Header, before) || req.URL.RawQuery != beforeQuery {
				t.Errorf("the caller's request was modified")
			}
		})
	}
}

func equalHeader(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, va := range a {
		vb := b[k]
		if strings.Join(va, "\x00") != strings.Join(vb, "\x00") {
			return false
		}
	}
	return true
}

func TestStripPresignQuery(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"none", "a=1&b=%2F", "a=1&b=%2F"},
		{"all", "X-Amz-Signature=x&X-Amz-Date=y", ""},
		{"middle", "a=1&X-Amz-Credential=AK%2Fx&b=c+d", "a=1&b=c+d"},
		{"encoded name", "X%2DAmz%2DSignature=x&k", "k"},
		{"other x-amz kept", "x-amz-meta=1&X-Amz-Expires=3", "x-amz-meta=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := stripPresignQuery(tt.in); got != tt.want {
				t.Errorf("stripPresignQuery(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestTransportFixedTime(t *testing.T) {
	var got *http.Request
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		got = r
		return &http.Response{StatusCode: 200, Body: http.NoBody, Request: r}, nil
	})
	tr := &Transport{Base: base, AccessKey: "AK", SecretKey: "SK", Now: func() time.Time { return testNow }}
	req, _ := http.NewRequest(http.MethodGet, "http://bucket.example.com/key", nil)
	if _, err := tr.RoundTrip(req); err != nil {
		t.Fatal(err)
	}
	if d := got.Header.Get("X-Amz-Date"); d != "20240301T120000Z" {
		t.Errorf("X-Amz-Date = %q", d)
	}
	v := &Verifier{Credentials: StaticCredentials{"AK": "SK"}, Now: func() time.Time { return testNow }}
	got.RequestURI = got.URL.RequestURI()
	if _, err := v.Verify(got); err != nil {
		t.Errorf("Verify(outbound): %v", err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestDropAWSChunked: the aws-chunked token goes from Content-Encoding,
// in any case and place, and the header with it when nothing is left.
func TestDropAWSChunked(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{"aws-chunked"}, ""},
		{[]string{"AWS-Chunked"}, ""},
		{[]string{"gzip"}, "gzip"},
		{[]string{"aws-chunked,gzip"}, "gzip"},
		{[]string{"aws-chunked, gzip, br"}, "gzip,br"},
		{[]string{"gzip,aws-chunked"}, "gzip"},
		{[]string{"aws-chunked", "gzip"}, "gzip"},
	} {
		h := http.Header{}
		for _, v := range tc.in {
			h.Add("Content-Encoding", v)
		}
		dropAWSChunked(h)
		if got := strings.Join(h.Values("Content-Encoding"), ","); got != tc.want {
			t.Errorf("%q: Content-Encoding %q, want %q", tc.in, got, tc.want)
		}
		if _, present := h["Content-Encoding"]; present != (tc.want != "") {
			t.Errorf("%q: header present %v, want %v", tc.in, present, tc.want != "")
		}
	}
}
