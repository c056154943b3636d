package e2e

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestSigV4Completeness: presigned GET, PUT, HEAD and DELETE made by
// aws-sdk-go-v2 for the proxy's host work; an expired presigned URL, a
// request too far from the proxy's clock, a session token, a wrong region
// and aws-cli v1's SigV2 presigned URL each get the S3 error, without the
// backend being asked.
func TestSigV4Completeness(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	e := h.endpoint()
	bucket := newBucket(t, e)
	presign := s3.NewPresignClient(sdkClient(e))
	do := func(t *testing.T, method, u string, body []byte) httpResult {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, u, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body == nil {
			req.Body = http.NoBody
		}
		r, err := httpDo(t, req)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	t.Run("presigned PUT, HEAD, GET, DELETE", func(t *testing.T) {
		const key = "presigned/all.bin"
		body := randomBytes(t, 10<<10)
		put, err := presign.PresignPutObject(t.Context(), &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		if r := do(t, put.Method, put.URL, body); r.Status != 200 {
			t.Fatalf("presigned PUT: %d %s", r.Status, r.Body)
		}
		head, err := presign.PresignHeadObject(t.Context(), &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		if r := do(t, head.Method, head.URL, nil); r.Status != 200 || r.Header.Get("Content-Length") != "10240" {
			t.Fatalf("presigned HEAD: %d, Content-Length %q", r.Status, r.Header.Get("Content-Length"))
		}
		get, err := presign.PresignGetObject(t.Context(), &s3.GetObjectInput{Bucket: &bucket, Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		if r := do(t, get.Method, get.URL, nil); r.Status != 200 || !bytes.Equal(r.Body, body) {
			t.Fatalf("presigned GET: %d, %d bytes", r.Status, len(r.Body))
		}
		del, err := presign.PresignDeleteObject(t.Context(), &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		if r := do(t, del.Method, del.URL, nil); r.Status != 204 {
			t.Fatalf("presigned DELETE: %d %s", r.Status, r.Body)
		}
		if r := do(t, get.Method, get.URL, nil); r.Status != 404 || r.xmlCode() != "NoSuchKey" {
			t.Errorf("presigned GET after DELETE: %d %s, want 404 NoSuchKey", r.Status, r.Body)
		}
	})

	t.Run("presigned PUT and GET made by boto3", func(t *testing.T) {
		const key = "presigned/boto3.bin"
		body := randomBytes(t, 4<<10)
		urls := (boto3Ops{}).run(t, e, []op{{Op: "presign_put", Bucket: bucket, Key: key}, {Op: "presign_get", Bucket: bucket, Key: key}})
		for _, u := range urls {
			if u.URL == "" || !strings.Contains(u.URL, "X-Amz-Signature=") {
				t.Fatalf("boto3 presign: %v, want a SigV4 URL", u)
			}
		}
		if r := do(t, http.MethodPut, urls[0].URL, body); r.Status != 200 {
			t.Fatalf("boto3-presigned PUT: %d %s", r.Status, r.Body)
		}
		for _, want := range []string{"MISS", "HIT"} {
			r := do(t, http.MethodGet, urls[1].URL, nil)
			if r.Status != 200 || !bytes.Equal(r.Body, body) {
				t.Fatalf("boto3-presigned GET: %d, %d bytes", r.Status, len(r.Body))
			}
			wantXCache(t, "boto3-presigned GET", r.Header, want)
		}
	})

	const key = "presigned/kept.txt"
	putBytes(t, e, bucket, key, []byte("kept"))
	objURL := objectURL(e, bucket, key)
	creds := aws.Credentials{AccessKeyID: e.Access, SecretAccessKey: e.Secret}

	// Each of these is refused before the backend is asked.
	tests := []struct {
		name       string
		request    func(t *testing.T) httpResult
		wantStatus int
		wantCode   string
		wantText   string
	}{
		{"expired presigned URL", func(t *testing.T) httpResult {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, objURL+"?X-Amz-Expires=60", nil)
			u, _, err := v4.NewSigner().PresignHTTP(t.Context(), creds, req, "UNSIGNED-PAYLOAD", "s3", testRegion, time.Now().Add(-time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			return do(t, http.MethodGet, u, nil)
		}, 403, "AccessDenied", "Request has expired"},
		{"clock skew of 20 minutes", func(t *testing.T) httpResult {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, objURL, nil)
			req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
			if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, "UNSIGNED-PAYLOAD", "s3", testRegion, time.Now().Add(-20*time.Minute)); err != nil {
				t.Fatal(err)
			}
			r, err := httpDo(t, req)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}, 403, "RequestTimeTooSkewed", ""},
		{"session token", func(t *testing.T) httpResult {
			return sdkRaw(t, e, func(o *s3.Options) {
				o.Credentials = awscreds.NewStaticCredentialsProvider(e.Access, e.Secret, "a-session-token")
			}, bucket, key)
		}, 403, "InvalidToken", ""},
		{"wrong region", func(t *testing.T) httpResult {
			return sdkRaw(t, e, func(o *s3.Options) { o.Region = "eu-west-1" }, bucket, key)
		}, 400, "AuthorizationHeaderMalformed", ""},
		{"wrong region, curl", func(t *testing.T) httpResult {
			return curl(t, "--aws-sigv4", "aws:amz:eu-west-1:s3", "--user", e.Access+":"+e.Secret,
				"-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", objURL)
		}, 400, "AuthorizationHeaderMalformed", "The authorization header is malformed; the region 'eu-west-1' is wrong; expecting '" + testRegion + "'"},
		{"wrong region, presigned URL", func(t *testing.T) httpResult {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, objURL+"?X-Amz-Expires=60", nil)
			u, _, err := v4.NewSigner().PresignHTTP(t.Context(), creds, req, "UNSIGNED-PAYLOAD", "s3", "eu-west-1", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			return do(t, http.MethodGet, u, nil)
		}, 400, "AuthorizationQueryParametersError", "Error parsing the X-Amz-Credential parameter; the region 'eu-west-1' is wrong; expecting '" + testRegion + "'"},
		// A signature that is not 64 hex digits is a wrong one, as S3,
		// MinIO and versitygw answer it; a presigned URL's query that
		// lacks one is malformed, named after the query.
		{"presigned URL, signature cut short", func(t *testing.T) httpResult {
			u := presignedURL(t, objURL, creds)
			sig := url.QueryEscape(mustQuery(t, u).Get("X-Amz-Signature"))
			return do(t, http.MethodGet, strings.Replace(u, "X-Amz-Signature="+sig, "X-Amz-Signature="+sig[:62], 1), nil)
		}, 403, "SignatureDoesNotMatch", ""},
		{"presigned URL, signature too long", func(t *testing.T) httpResult {
			u := presignedURL(t, objURL, creds)
			sig := url.QueryEscape(mustQuery(t, u).Get("X-Amz-Signature"))
			return do(t, http.MethodGet, strings.Replace(u, "X-Amz-Signature="+sig, "X-Amz-Signature="+sig+"abcd", 1), nil)
		}, 403, "SignatureDoesNotMatch", ""},
		{"presigned URL, signature not hex", func(t *testing.T) httpResult {
			u := presignedURL(t, objURL, creds)
			sig := url.QueryEscape(mustQuery(t, u).Get("X-Amz-Signature"))
			return do(t, http.MethodGet, strings.Replace(u, "X-Amz-Signature="+sig, "X-Amz-Signature=zz"+sig[2:], 1), nil)
		}, 403, "SignatureDoesNotMatch", ""},
		{"presigned URL without its signature", func(t *testing.T) httpResult {
			u := presignedURL(t, objURL, creds)
			sig := url.QueryEscape(mustQuery(t, u).Get("X-Amz-Signature"))
			return do(t, http.MethodGet, strings.Replace(u, "&X-Amz-Signature="+sig, "", 1), nil)
		}, 400, "AuthorizationQueryParametersError", ""},
		{"Authorization header, signature not hex", func(t *testing.T) httpResult {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, objURL, nil)
			req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
			if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, "UNSIGNED-PAYLOAD", "s3", testRegion, time.Now()); err != nil {
				t.Fatal(err)
			}
			a := req.Header.Get("Authorization")
			i := strings.Index(a, "Signature=") + len("Signature=")
			req.Header.Set("Authorization", a[:i]+"zz"+a[i+2:])
			r, err := httpDo(t, req)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}, 403, "SignatureDoesNotMatch", ""},
		{"aws-cli v1 presign (SigV2)", func(t *testing.T) httpResult {
			u := strings.TrimSpace(mustAWS(t, e, "s3", "presign", "s3://"+bucket+"/"+key))
			if q, err := url.Parse(u); err != nil || q.Query().Get("AWSAccessKeyId") == "" {
				t.Logf("aws s3 presign made %q; expected a SigV2 URL", u)
			}
			return do(t, http.MethodGet, u, nil)
		}, 400, "InvalidRequest", "Signature Version 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := h.relay.total()
			r := tc.request(t)
			var msg struct{ Message string }
			_ = xml.Unmarshal(r.Body, &msg) // the SDK rows carry only a code
			if r.Status != tc.wantStatus || r.xmlCode() != tc.wantCode || !strings.Contains(msg.Message, tc.wantText) {
				t.Errorf("got %d %s; want %d <Code>%s</Code> mentioning %q", r.Status, r.Body, tc.wantStatus, tc.wantCode, tc.wantText)
			}
			if n := h.relay.total() - before; n != 0 {
				t.Errorf("backend asked %d times for a refused request", n)
			}
			if strings.Contains(tc.wantText, "region") {
				// S3 names the expected region in an element of its own.
				if got := parseS3Error(t, tc.name, r.Body); got.Region != testRegion || got.RequestID != r.Header.Get("X-Amz-Request-Id") {
					t.Errorf("Region %q, RequestId %q; want %q and the header's %q", got.Region, got.RequestID, testRegion, r.Header.Get("X-Amz-Request-Id"))
				}
			}
		})
	}
}

// sdkRaw GETs bucket/key with an aws-sdk-go-v2 client changed by mod and
// returns the raw answer, errors included.
func sdkRaw(t *testing.T, e endpoint, mod func(*s3.Options), bucket, key string) httpResult {
	t.Helper()
	c := s3.New(s3.Options{
		Region:           testRegion,
		BaseEndpoint:     aws.String(e.URL),
		UsePathStyle:     true,
		Credentials:      awscreds.NewStaticCredentialsProvider(e.Access, e.Secret, ""),
		RetryMaxAttempts: 1,
		HTTPClient:       httpClient,
	}, mod)
	ctx, cancel := context.WithTimeout(t.Context(), cmdTimeout)
	defer cancel()
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		// The SDK consumed the body: carry the error code it parsed.
		status, code, hdr := sdkErr(err)
		return httpResult{Status: status, Header: hdr, Body: []byte("<Error><Code>" + code + "</Code></Error>")}
	}
	defer out.Body.Close()
	return httpResult{Status: 200, Header: rawHeader(out.ResultMetadata)}
}

// presignedURL presigns a GET of objURL for an hour with the SDK's signer.
func presignedURL(t *testing.T, objURL string, creds aws.Credentials) string {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, objURL+"?X-Amz-Expires=3600", nil)
	u, _, err := v4.NewSigner().PresignHTTP(t.Context(), creds, req, "UNSIGNED-PAYLOAD", "s3", testRegion, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// mustQuery returns the query parameters of URL u.
func mustQuery(t *testing.T, u string) url.Values {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.Query()
}

// TestSignatureMismatchBody: a request signed with the wrong secret, by
// the SDK's signer in a header and as a presigned URL, gets S3's
// SignatureDoesNotMatch whose body says what the proxy signed. The
// string to sign it returns is the one the client signed: HMAC'd with
// the client's own (wrong) key, it gives the signature the client sent;
// its hash line is the SHA-256 of the canonical request returned beside
// it; both are given as bytes too. None of it reaches the log, even at
// debug level.
func TestSignatureMismatchBody(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]string{"LOG_LEVEL": "debug"}) // every cause logged
	e := h.endpoint()
	bucket := newBucket(t, e)
	putBytes(t, e, bucket, "k", []byte("v"))
	objURL := objectURL(e, bucket, "k")
	const wrong = "not-the-secret"
	creds := aws.Credentials{AccessKeyID: e.Access, SecretAccessKey: wrong}
	now := time.Now().UTC()

	header, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, objURL, nil)
	header.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	if err := v4.NewSigner().SignHTTP(t.Context(), creds, header, "UNSIGNED-PAYLOAD", "s3", testRegion, now); err != nil {
		t.Fatal(err)
	}
	presigned, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, objURL+"?X-Amz-Expires=600", nil)
	u, _, err := v4.NewSigner().PresignHTTP(t.Context(), creds, presigned, "UNSIGNED-PAYLOAD", "s3", testRegion, now)
	if err != nil {
		t.Fatal(err)
	}
	presigned, _ = http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)

	for name, req := range map[string]*http.Request{"header": header, "presigned": presigned} {
		t.Run(name, func(t *testing.T) {
			r, err := httpDo(t, req)
			if err != nil {
				t.Fatal(err)
			}
			var body struct {
				Code, AWSAccessKeyId, StringToSign, SignatureProvided      string
				StringToSignBytes, CanonicalRequest, CanonicalRequestBytes string
			}
			if err := xml.Unmarshal(r.Body, &body); err != nil || r.Status != 403 || body.Code != "SignatureDoesNotMatch" {
				t.Fatalf("got %d %s (%v); want 403 SignatureDoesNotMatch", r.Status, r.Body, err)
			}
			key := hmacSHA256([]byte("AWS4"+wrong), now.Format("20060102"))
			for _, s := range []string{testRegion, "s3", "aws4_request"} {
				key = hmacSHA256(key, s)
			}
			if got := hex.EncodeToString(hmacSHA256(key, body.StringToSign)); got != body.SignatureProvided {
				t.Errorf("the string to sign returned, signed with the client's key, gives %s; the client sent %s\n%s", got, body.SignatureProvided, body.StringToSign)
			}
			sent := req.Header.Get("Authorization") + req.URL.RawQuery
			if body.SignatureProvided == "" || !strings.Contains(sent, body.SignatureProvided) || body.AWSAccessKeyId != e.Access {
				t.Errorf("SignatureProvided %q, AWSAccessKeyId %q: not what the request carried", body.SignatureProvided, body.AWSAccessKeyId)
			}
			lines := strings.Split(body.StringToSign, "\n")
			canon := sha256.Sum256([]byte(body.CanonicalRequest))
			if len(lines) != 4 || lines[3] != hex.EncodeToString(canon[:]) {
				t.Errorf("the string to sign does not end in the canonical request's hash\n%s\n%s", body.StringToSign, body.CanonicalRequest)
			}
			if !strings.HasPrefix(body.CanonicalRequest, "GET\n/"+bucket+"/k\n") {
				t.Errorf("canonical request %q is not of this GET", body.CanonicalRequest)
			}
			if body.StringToSignBytes != spaced(body.StringToSign) || body.CanonicalRequestBytes != spaced(body.CanonicalRequest) {
				t.Errorf("the Bytes elements are not the texts' bytes")
			}
		})
	}
	// They go to the client, not to the log: a presigned URL's canonical
	// request holds its query's values.
	out := h.proxy.output()
	for _, s := range []string{"X-Amz-Credential=", "x-amz-content-sha256:"} {
		if strings.Contains(out, s) {
			t.Errorf("the proxy's log holds %q", s)
		}
	}
}

func hmacSHA256(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return m.Sum(nil)
}

// spaced is s's bytes as two hex digits each, separated by spaces.
func spaced(s string) string {
	parts := make([]string, len(s))
	for i := range len(s) {
		parts[i] = hex.EncodeToString([]byte{s[i]})
	}
	return strings.Join(parts, " ")
}
