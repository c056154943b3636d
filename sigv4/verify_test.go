package sigv4

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7/pkg/signer"
)

var awkwardKeys = []string{
	"plain.txt",
	"a//b",
	"a/./b",
	"a/../b",
	"sp ace",
	"plus+sign",
	"per%cent",
	"ünï/cødé",
	"~tilde",
	"semi;colon=eq&amp",
	"star*paren()!'",
	"trailing/",
}

func TestRoundTripHeaderAuth(t *testing.T) {
	srv, ch := verifyServer(t, testVerifier())
	for _, key := range awkwardKeys {
		t.Run("GET "+key, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/bucket/"+awsPath(key), nil)
			req.Header.Set("Range", "bytes=0-9")
			sdkSign(t, req, testAccessKey, testSecret, emptySHA256, testNow)
			o := send(t, req, ch)
			if o.err != nil {
				t.Fatalf("Verify: %v", o.err)
			}
			if o.res.AccessKey != testAccessKey || o.res.Presigned {
				t.Errorf("got %+v", o.res)
			}
		})
		t.Run("PUT "+key, func(t *testing.T) {
			payload := []byte("hello, " + key)
			req, _ := http.NewRequest(http.MethodPut, srv.URL+"/bucket/"+awsPath(key), bytes.NewReader(payload))
			req.Header.Set("Content-Type", "text/plain")
			req.Header.Set("X-Amz-Meta-Note", "  two   spaces  ")
			sdkSign(t, req, testAccessKey, testSecret, sha256Hex(payload), testNow)
			o := send(t, req, ch)
			if o.err != nil {
				t.Fatalf("Verify: %v", o.err)
			}
			if !bytes.Equal(o.body, payload) {
				t.Errorf("body = %q, want %q", o.body, payload)
			}
			if o.res.PayloadHash != sha256Hex(payload) || o.res.ContentLength != int64(len(payload)) {
				t.Errorf("PayloadHash %q ContentLength %d", o.res.PayloadHash, o.res.ContentLength)
			}
		})
	}
}

func TestRoundTripQuery(t *testing.T) {
	srv, ch := verifyServer(t, testVerifier())
	tests := []struct {
		name, query string
		plusSpaces  bool // send spaces as '+' after signing, as some clients do
	}{
		{name: "uploads", query: "uploads"},
		{name: "version and part", query: "versionId=3%2Fx&partNumber=1"},
		{name: "list v2", query: "list-type=2&prefix=a%20b%2Fc&delimiter=%2F&max-keys=10"},
		{name: "repeated names", query: "b=2&a=2&a=1"},
		{name: "unicode prefix", query: "prefix=%C3%BCn%C3%AF&encoding-type=url"},
		{name: "plus as space", query: "prefix=a%20b%20c", plusSpaces: true},
		{name: "empty value", query: "acl="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/bucket/?"+tt.query, nil)
			sdkSign(t, req, testAccessKey, testSecret, unsignedPayload, testNow)
			if tt.plusSpaces {
				req.URL.RawQuery = strings.ReplaceAll(req.URL.RawQuery, "%20", "+")
			}
			if o := send(t, req, ch); o.err != nil {
				t.Fatalf("Verify: %v", o.err)
			}
		})
	}
}

func TestRoundTripPresigned(t *testing.T) {
	srv, ch := verifyServer(t, testVerifier())
	for _, key := range awkwardKeys {
		t.Run(key, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/bucket/"+awsPath(key)+"?versionId=v1", nil)
			u := sdkPresign(t, req, testAccessKey, testSecret, time.Hour, testNow.Add(-30*time.Minute))
			get, _ := http.NewRequest(http.MethodGet, u, nil)
			o := send(t, get, ch)
			if o.err != nil {
				t.Fatalf("Verify: %v", o.err)
			}
			if !o.res.Presigned || o.res.PayloadHash != unsignedPayload {
				t.Errorf("got %+v", o.res)
			}
		})
	}
	t.Run("PUT with body", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPut, srv.URL+"/bucket/up", nil)
		u := sdkPresign(t, req, testAccessKey, testSecret, time.Hour, testNow)
		put, _ := http.NewRequest(http.MethodPut, u, strings.NewReader("data"))
		o := send(t, put, ch)
		if o.err != nil || string(o.body) != "data" {
			t.Fatalf("got %q, %v", o.body, o.err)
		}
	})
}

// TestRoundTripMinio signs with minio-go's signer, including its
// aws-chunked streaming forms.
func TestRoundTripMinio(t *testing.T) {
	srv, ch := verifyServer(t, testVerifier())
	payload := bytes.Repeat([]byte("0123456789abcdef"), 9000) // 144000 bytes: 3 chunks of 64 KiB
	tests := []struct {
		name  string
		build func() *http.Request
	}{
		{"SignV4 unsigned payload", func() *http.Request {
			req, _ := http.NewRequest(http.MethodPut, srv.URL+"/bucket/"+awsPath("ünï/c ød+é"), bytes.NewReader(payload))
			req.Header.Set("X-Amz-Content-Sha256", unsignedPayload)
			return signer.SignV4(*req, testAccessKey, testSecret, "", testRegion)
		}},
		{"StreamingSignV4", func() *http.Request {
			req, _ := http.NewRequest(http.MethodPut, srv.URL+"/bucket/stream", bytes.NewReader(payload))
			return signer.StreamingSignV4(req, testAccessKey, testSecret, "", testRegion, int64(len(payload)), time.Now().UTC(), sha256Hasher{sha256.New()})
		}},
		{"StreamingSignV4 with trailer", func() *http.Request {
			req, _ := http.NewRequest(http.MethodPut, srv.URL+"/bucket/stream", bytes.NewReader(payload))
			req.Trailer = http.Header{"x-amz-checksum-crc32": {checksumB64(payload)}}
			return signer.StreamingSignV4(req, testAccessKey, testSecret, "", testRegion, int64(len(payload)), time.Now().UTC(), sha256Hasher{sha256.New()})
		}},
		{"SignV4Trailer unsigned chunks", func() *http.Request {
			req, _ := http.NewRequest(http.MethodPut, srv.URL+"/bucket/stream", bytes.NewReader(payload))
			req.Header.Set("X-Amz-Content-Sha256", streamingUnsignedTrailer)
			return signer.SignV4Trailer(*req, testAccessKey, testSecret, "", testRegion, http.Header{"x-amz-checksum-crc32": {checksumB64(payload)}})
		}},
	}
	v := testVerifier()
	v.Now = time.Now
	srv, ch = verifyServer(t, v)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := send(t, tt.build(), ch)
			if o.err != nil {
				t.Fatalf("Verify: %v", o.err)
			}
			if !bytes.Equal(o.body, payload) {
				t.Errorf("body: got %d bytes, want %d", len(o.body), len(payload))
			}
		})
	}
}

func TestVerifyErrors(t *testing.T) {
	newGet := func(target string) *http.Request {
		return httptest.NewRequest(http.MethodGet, "http://example.com"+target, nil)
	}
	signed := func(ak, secret string, at time.Time) *http.Request {
		r := newGet("/bucket/key")
		sdkSign(t, r, ak, secret, emptySHA256, at)
		return r
	}
	presigned := func(expires time.Duration, at time.Time) *http.Request {
		r := newGet("/bucket/key")
		u := sdkPresign(t, r, testAccessKey, testSecret, expires, at)
		return httptest.NewRequest(http.MethodGet, u, nil)
	}
	tests := []struct {
		name  string
		build func() *http.Request
		want  error
	}{
		{"no auth", func() *http.Request { return newGet("/b/k") }, ErrMissingAuth},
		{"wrong secret", func() *http.Request { return signed(testAccessKey, "nope", testNow) }, ErrSignatureMismatch},
		{"unknown key", func() *http.Request { return signed("AKOTHER", testSecret, testNow) }, ErrInvalidAccessKeyID},
		{"skew past", func() *http.Request { return signed(testAccessKey, testSecret, testNow.Add(-16*time.Minute)) }, ErrTimeSkewed},
		{"skew future", func() *http.Request { return signed(testAccessKey, testSecret, testNow.Add(16*time.Minute)) }, ErrTimeSkewed},
		{"tampered header", func() *http.Request {
			r := newGet("/bucket/key")
			r.Header.Set("Range", "bytes=0-1")
			sdkSign(t, r, testAccessKey, testSecret, emptySHA256, testNow)
			r.Header.Set("Range", "bytes=0-2")
			return r
		}, ErrSignatureMismatch},
		{"tampered path", func() *http.Request {
			r := signed(testAccessKey, testSecret, testNow)
			r.RequestURI = "/bucket/other"
			return r
		}, ErrSignatureMismatch},
		{"presign expired", func() *http.Request { return presigned(time.Minute, testNow.Add(-2*time.Minute)) }, ErrRequestExpired},
		{"presign in the future", func() *http.Request { return presigned(time.Hour, testNow.Add(20*time.Minute)) }, ErrTimeSkewed},
		{"presign expires too long", func() *http.Request {
			return newGet("/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKTEST%2F20240301%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20240301T120000Z&X-Amz-Expires=604801&X-Amz-SignedHeaders=host&X-Amz-Signature=" + strings.Repeat("0", 64))
		}, ErrMalformedPresign},
		{"presign expires zero: valid for no time, as S3 and MinIO answer it", func() *http.Request {
			return newGet("/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKTEST%2F20240301%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20240301T120000Z&X-Amz-Expires=0&X-Amz-SignedHeaders=host&X-Amz-Signature=" + strings.Repeat("0", 64))
		}, ErrRequestExpired},
		{"presign missing signature", func() *http.Request {
			return newGet("/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKTEST%2F20240301%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20240301T120000Z&X-Amz-Expires=10&X-Amz-SignedHeaders=host")
		}, ErrMalformedPresign},
		{"presign signature not hex", func() *http.Request {
			r := presigned(time.Hour, testNow)
			r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "X-Amz-Signature=", "X-Amz-Signature=zz", 1)
			return r
		}, ErrSignatureMismatch},
		{"presign signature too long", func() *http.Request {
			r := presigned(time.Hour, testNow)
			r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "X-Amz-Signature=", "X-Amz-Signature=abcd", 1)
			return r
		}, ErrSignatureMismatch},
		{"header signature too long", func() *http.Request {
			r := signed(testAccessKey, testSecret, testNow)
			r.Header.Set("Authorization", r.Header.Get("Authorization")+"abcd")
			return r
		}, ErrSignatureMismatch},
		{"header signature cut short", func() *http.Request {
			r := signed(testAccessKey, testSecret, testNow)
			a := r.Header.Get("Authorization")
			r.Header.Set("Authorization", a[:len(a)-2])
			return r
		}, ErrSignatureMismatch},
		{"header signature empty", func() *http.Request {
			r := newGet("/b/k")
			r.Header.Set("X-Amz-Date", "20240301T120000Z")
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKTEST/20240301/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=")
			return r
		}, ErrMalformedAuth},
		{"presign tampered query", func() *http.Request {
			r := presigned(time.Hour, testNow)
			r.URL.RawQuery += "&versionId=x"
			return r
		}, ErrSignatureMismatch},
		{"sigv2 header", func() *http.Request {
			r := newGet("/b/k")
			r.Header.Set("Authorization", "AWS AKTEST:c2lnbmF0dXJl")
			return r
		}, ErrSignatureV2},
		{"sigv2 query", func() *http.Request { return newGet("/b/k?AWSAccessKeyId=AKTEST&Expires=1700000000&Signature=abc") }, ErrSignatureV2},
		{"token header", func() *http.Request {
			r := signed(testAccessKey, testSecret, testNow)
			r.Header.Set("X-Amz-Security-Token", "tok")
			return r
		}, ErrSecurityToken},
		{"token query", func() *http.Request { return newGet("/b/k?X-Amz-Security-Token=tok") }, ErrSecurityToken},
		{"region mismatch", func() *http.Request {
			r := newGet("/b/k")
			r.Header.Set("X-Amz-Date", "20240301T120000Z")
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKTEST/20240301/eu-west-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature="+strings.Repeat("a", 64))
			return r
		}, ErrRegionMismatch},
		{"scope date differs", func() *http.Request {
			r := newGet("/b/k")
			r.Header.Set("X-Amz-Date", "20240301T120000Z")
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKTEST/20240302/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature="+strings.Repeat("a", 64))
			return r
		}, ErrMalformedAuth},
		{"host not signed", func() *http.Request {
			r := newGet("/b/k")
			r.Header.Set("X-Amz-Date", "20240301T120000Z")
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKTEST/20240301/us-east-1/s3/aws4_request, SignedHeaders=x-amz-date, Signature="+strings.Repeat("a", 64))
			return r
		}, ErrMalformedAuth},
		{"no date", func() *http.Request {
			r := newGet("/b/k")
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKTEST/20240301/us-east-1/s3/aws4_request, SignedHeaders=host, Signature="+strings.Repeat("a", 64))
			return r
		}, ErrMalformedAuth},
		{"header and presign", func() *http.Request {
			r := presigned(time.Hour, testNow)
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x")
			return r
		}, ErrMalformedAuth},
		{"unknown payload mode", func() *http.Request {
			r := newGet("/b/k")
			sdkSign(t, r, testAccessKey, testSecret, "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD", testNow)
			return r
		}, ErrUnsupportedPayload},
		{"body without x-amz-content-sha256", func() *http.Request {
			r := httptest.NewRequest(http.MethodPut, "http://example.com/b/k", strings.NewReader("data"))
			sdkSign(t, r, testAccessKey, testSecret, "UNSIGNED-PAYLOAD", testNow)
			r.Header.Del("X-Amz-Content-Sha256")
			return r
		}, ErrMissingContentSHA256},
		{"chunked without decoded length", func() *http.Request {
			r := httptest.NewRequest(http.MethodPut, "http://example.com/b/k", strings.NewReader("0\r\n\r\n"))
			sdkSign(t, r, testAccessKey, testSecret, streamingUnsignedTrailer, testNow)
			return r
		}, ErrMissingContentLength},
		{"wrong hash on empty body", func() *http.Request {
			r := newGet("/b/k")
			sdkSign(t, r, testAccessKey, testSecret, sha256Hex([]byte("x")), testNow)
			return r
		}, ErrContentSHA256Mismatch},
		{"nil credentials", func() *http.Request { return signed(testAccessKey, testSecret, testNow) }, ErrInvalidAccessKeyID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := testVerifier()
			if tt.name == "nil credentials" {
				v.Credentials = nil
			}
			_, err := v.Verify(tt.build())
			if !errors.Is(err, tt.want) {
				t.Errorf("Verify: got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSignedPayloadMismatch(t *testing.T) {
	tests := []struct {
		name   string
		signed string
		sent   string
		want   error
	}{
		{"different bytes", "hello", "hellO", ErrContentSHA256Mismatch},
		{"shorter than declared", "hello", "hell", ErrIncompleteBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPut, "http://example.com/b/k", strings.NewReader(tt.sent))
			r.ContentLength = int64(len(tt.signed))
			r.Header.Set("Content-Length", "5")
			sdkSign(t, r, testAccessKey, testSecret, sha256Hex([]byte(tt.signed)), testNow)
			res, err := testVerifier().Verify(r)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			got, err := io.ReadAll(res.Body)
			if !errors.Is(err, tt.want) {
				t.Errorf("read: got %v, want %v", err, tt.want)
			}
			if len(got) >= len(tt.signed) {
				t.Errorf("handed out %d of %d bytes before failing; the last must be held back", len(got), len(tt.signed))
			}
		})
	}
}

func TestSHA256BodyReads(t *testing.T) {
	payload := bytes.Repeat([]byte("xyz"), 1000)
	for _, step := range []int{1, 2, 7, 4096} {
		t.Run("step "+strings.Repeat("x", 0)+itoa(step), func(t *testing.T) {
			var want [32]byte
			copy(want[:], mustHex(sha256Hex(payload)))
			b := newSHA256Body(io.NopCloser(&stepReader{bytes.NewReader(payload), step}), want, int64(len(payload)))
			got, err := readAllStep(b, step)
			if err != nil || !bytes.Equal(got, payload) {
				t.Fatalf("got %d bytes, %v", len(got), err)
			}
		})
	}
}

// TestRegionError: a scope naming another region fails with a
// *RegionError that says which region was sent and which is wanted, and
// whether it came from the header or the query.
func TestRegionError(t *testing.T) {
	header := httptest.NewRequest(http.MethodGet, "http://example.com/b/k", nil)
	header.Header.Set("X-Amz-Date", "20240301T120000Z")
	header.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+testAccessKey+"/20240301/eu-west-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature="+strings.Repeat("a", 64))
	query := httptest.NewRequest(http.MethodGet, "http://example.com/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="+testAccessKey+"%2F20240301%2Fap-south-2%2Fs3%2Faws4_request&X-Amz-Date=20240301T120000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature="+strings.Repeat("0", 64), nil)
	tests := []struct {
		name string
		r    *http.Request
		want RegionError
	}{
		{"header", header, RegionError{Got: "eu-west-1", Want: "us-east-1"}},
		{"presigned", query, RegionError{Got: "ap-south-2", Want: "us-east-1", Presigned: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := testVerifier().Verify(tt.r)
			var re *RegionError
			if !errors.As(err, &re) || !errors.Is(err, ErrRegionMismatch) {
				t.Fatalf("Verify: %v, want a *RegionError wrapping ErrRegionMismatch", err)
			}
			if *re != tt.want {
				t.Errorf("RegionError %+v, want %+v", *re, tt.want)
			}
		})
	}
}
