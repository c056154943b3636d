package sigv4

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

func hexString(b []byte) string { return hex.EncodeToString(b) }

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

const (
	testAccessKey = "AKTEST"
	testSecret    = "secret/with+chars"
	testRegion    = "us-east-1"
)

var testNow = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

func testVerifier() *Verifier {
	return &Verifier{
		Credentials: StaticCredentials{testAccessKey: testSecret},
		Now:         func() time.Time { return testNow },
	}
}

// outcome is what the verifying server saw.
type outcome struct {
	res  *Result
	body []byte
	err  error // from Verify or from reading the body
}

// verifyServer starts an httptest server whose handler verifies every
// request with v and reports the outcome on the returned channel.
func verifyServer(t testing.TB, v *Verifier) (*httptest.Server, <-chan outcome) {
	t.Helper()
	ch := make(chan outcome, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, err := v.Verify(r)
		if err != nil {
			ch <- outcome{err: err}
			http.Error(w, "denied", http.StatusForbidden)
			return
		}
		body, err := io.ReadAll(res.Body)
		ch <- outcome{res: res, body: body, err: err}
		if err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return srv, ch
}

// send performs req and returns the server's outcome.
func send(t testing.TB, req *http.Request, ch <-chan outcome) outcome {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("sending: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	select {
	case o := <-ch:
		return o
	case <-time.After(10 * time.Second):
		t.Fatal("server saw no request")
	}
	return outcome{}
}

// awsPath encodes an object key path the way S3 clients do.
func awsPath(p string) string { return string(appendEncoded(nil, p, true)) }

// newSDKSigner returns a fresh signer: the SDK caches derived keys by access
// key, not secret, so a shared one would hide a wrong-secret test.
func newSDKSigner() *v4.Signer {
	return v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
}

// sdkSign signs req in place with the aws-sdk-go-v2 signer.
func sdkSign(t testing.TB, req *http.Request, ak, secret, payloadHash string, at time.Time) {
	t.Helper()
	req.Header.Set("X-Amz-Content-Sha256", payloadHash)
	err := newSDKSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: ak, SecretAccessKey: secret}, req, payloadHash, "s3", testRegion, at)
	if err != nil {
		t.Fatalf("SignHTTP: %v", err)
	}
}

// sdkPresign presigns req with the aws-sdk-go-v2 signer and returns the URL.
func sdkPresign(t testing.TB, req *http.Request, ak, secret string, expires time.Duration, at time.Time) string {
	t.Helper()
	q := req.URL.Query()
	q.Set("X-Amz-Expires", fmt.Sprint(int(expires.Seconds())))
	req.URL.RawQuery = q.Encode()
	u, _, err := newSDKSigner().PresignHTTP(context.Background(), aws.Credentials{AccessKeyID: ak, SecretAccessKey: secret}, req, unsignedPayload, "s3", testRegion, at)
	if err != nil {
		t.Fatalf("PresignHTTP: %v", err)
	}
	return u
}

// chainSigner computes aws-chunked signatures for tests.
type chainSigner struct {
	key     []byte
	amzDate string
	scope   string
	prev    string
	trailer bool // a (possibly empty) signed trailer follows the chunks
}

func newChainSigner(secret string, at time.Time, seed string) *chainSigner {
	return &chainSigner{
		key:     deriveSigningKey(secret, at.Format(scopeDateLayout), testRegion, "s3"),
		amzDate: at.Format(amzDateLayout),
		scope:   at.Format(scopeDateLayout) + "/" + testRegion + "/s3/aws4_request",
		prev:    seed,
	}
}

func (s *chainSigner) sign(alg string, extra bool, hashHex string) string {
	m := hmac.New(sha256.New, s.key)
	sts := alg + "\n" + s.amzDate + "\n" + s.scope + "\n" + s.prev + "\n"
	if extra {
		sts += emptySHA256 + "\n"
	}
	m.Write([]byte(sts + hashHex))
	s.prev = hex.EncodeToString(m.Sum(nil))
	return s.prev
}

// encodeChunked frames payload as aws-chunked with chunks of chunkSize.
// With s non-nil every chunk is signed. trailers are "name:value" lines;
// with s non-nil and trailers given a trailer signature follows them.
func encodeChunked(payload []byte, chunkSize int, s *chainSigner, trailers ...string) []byte {
	var b bytes.Buffer
	for off := 0; ; off += chunkSize {
		off = min(off, len(payload))
		chunk := payload[off:min(off+chunkSize, len(payload))]
		fmt.Fprintf(&b, "%x", len(chunk))
		if s != nil {
			b.WriteString(";chunk-signature=" + s.sign(payloadAlgorithm, true, sha256Hex(chunk)))
		}
		b.WriteString("\r\n")
		if len(chunk) == 0 {
			break
		}
		b.Write(chunk)
		b.WriteString("\r\n")
	}
	if len(trailers) == 0 && (s == nil || !s.trailer) {
		b.WriteString("\r\n")
		return b.Bytes()
	}
	var canon string
	for _, tr := range trailers {
		b.WriteString(tr + "\r\n")
		canon += tr + "\n"
	}
	if s != nil {
		b.WriteString("x-amz-trailer-signature:" + s.sign(trailerAlgorithm, false, sha256Hex([]byte(canon))) + "\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

func crc32Trailer(payload []byte) string {
	return "x-amz-checksum-crc32:" + checksumB64(payload)
}

func checksumB64(payload []byte) string {
	h := crc32.NewIEEE()
	h.Write(payload)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// stepReader returns at most n bytes per Read.
type stepReader struct {
	r io.Reader
	n int
}

func (s *stepReader) Read(p []byte) (int, error) {
	if len(p) > s.n {
		p = p[:s.n]
	}
	return s.r.Read(p)
}

func itoa(n int) string { return fmt.Sprint(n) }

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// readAllStep reads r to the end with buffers of size step.
func readAllStep(r io.Reader, step int) ([]byte, error) {
	var out []byte
	buf := make([]byte, step)
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// sha256Hasher adapts crypto/sha256 to minio-go's md5simd.Hasher.
type sha256Hasher struct{ hash.Hash }

func (sha256Hasher) Close() {}

// crc64NVMETable is the CRC-64/NVME polynomial 0xAD93D23594C93659, in the
// reversed form hash/crc64 expects: the tests check the trailers the
// package computes and verifies with the standard library's CRC.
var crc64NVMETable = crc64.MakeTable(0x9a6c9329ac4bc9b5)
