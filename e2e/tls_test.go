package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"hash/crc32"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"
)

// testCA is a certificate authority made for the suite: it issues server
// certificates for 127.0.0.1, and its client trusts nothing else.
type testCA struct {
	dir    string
	caFile string // PEM of the CA certificate
	cert   *x509.Certificate
	key    *ecdsa.PrivateKey
	client *http.Client // trusts only this CA
}

func newTestCA(dir string) (*testCA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "s3cache e2e CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	ca := &testCA{dir: dir, caFile: filepath.Join(dir, "ca.pem"), cert: cert, key: key}
	if err := writePEMFile(ca.caFile, "CERTIFICATE", der); err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	ca.client = &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{
		Proxy:               nil,
		DisableCompression:  true,
		MaxIdleConnsPerHost: 4,
		TLSClientConfig:     &tls.Config{RootCAs: pool},
	}}
	return ca, nil
}

func writePEMFile(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}

// issueFiles writes a server certificate for 127.0.0.1 and localhost and
// its key, and returns their paths.
func (ca *testCA) issueFiles(name string) (certFile, keyFile string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return "", "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return "", "", err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", err
	}
	dir, err := os.MkdirTemp(ca.dir, name+"-")
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := writePEMFile(certFile, "CERTIFICATE", der); err != nil {
		return "", "", err
	}
	return certFile, keyFile, writePEMFile(keyFile, "PRIVATE KEY", kder)
}

func (ca *testCA) issue(t testing.TB, name string) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile, err := ca.issueFiles(name)
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// tlsBackend returns the suite's CA and host:port of a versitygw serving
// HTTPS with a certificate it issued, starting both on first use.
func tlsBackend(t *testing.T) (*testCA, string) {
	t.Helper()
	suite.tlsOnce.Do(func() {
		dir := filepath.Join(suite.dir, "pki")
		if suite.tlsErr = os.MkdirAll(dir, 0o755); suite.tlsErr != nil {
			return
		}
		if suite.tlsCA, suite.tlsErr = newTestCA(dir); suite.tlsErr != nil {
			return
		}
		suite.tlsBackend, suite.tlsAddr, suite.tlsErr = startVersity("versitygw-tls", suite.tlsCA)
	})
	if suite.tlsErr != nil {
		t.Fatalf("versitygw with TLS (the real S3 backend) did not start: %v", suite.tlsErr)
	}
	if suite.tlsBackend.exited() {
		t.Fatalf("versitygw with TLS exited early: %v\n%s", suite.tlsBackend.waitErr, suite.tlsBackend.output())
	}
	return suite.tlsCA, suite.tlsAddr
}

// sentHeaders is an http.RoundTripper that remembers the header of every
// request it sends.
type sentHeaders struct {
	base http.RoundTripper
	mu   sync.Mutex
	all  []http.Header
}

func (s *sentHeaders) RoundTrip(req *http.Request) (*http.Response, error) {
	s.mu.Lock()
	s.all = append(s.all, req.Header.Clone())
	s.mu.Unlock()
	return s.base.RoundTrip(req)
}

// trailerUploads counts the requests sent with checksum trailers.
func (s *sentHeaders) trailerUploads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, h := range s.all {
		if strings.HasPrefix(h.Get("X-Amz-Content-Sha256"), "STREAMING-") && h.Get("X-Amz-Trailer") != "" {
			n++
		}
	}
	return n
}

func crc32Base64(b []byte) string {
	c := crc32.ChecksumIEEE(b)
	return base64.StdEncoding.EncodeToString([]byte{byte(c >> 24), byte(c >> 16), byte(c >> 8), byte(c)})
}

// onlyReader hides every method but Read, so the SDK cannot seek the body
// and must send its checksum as a trailer.
type onlyReader struct{ io.Reader }

// TestTLS runs the proxy with HTTPS on both sides: clients reach it over
// TLS, and it reaches a versitygw serving TLS with a certificate from a CA
// only S3_CA_FILE trusts. Over HTTPS the SDKs send checksums as trailers
// of aws-chunked bodies; the backend must receive and record them, so
// single and multipart uploads keep the checksum the client asked for.
func TestTLS(t *testing.T) {
	t.Parallel()
	ca, backend := tlsBackend(t)
	p := startProxy(t, proxyOptions{Backend: backend, TLS: ca, Env: map[string]string{
		"S3_USE_SSL": "true",
		"S3_CA_FILE": ca.caFile,
	}})
	e := p.endpoint()
	bucket := newBucket(t, e)

	sent := &sentHeaders{base: e.client().Transport}
	sdk := s3.New(s3.Options{
		Region:           testRegion,
		BaseEndpoint:     aws.String(e.URL),
		UsePathStyle:     true,
		Credentials:      sdkClient(e).Options().Credentials,
		RetryMaxAttempts: 1,
		HTTPClient:       &http.Client{Transport: sent, Timeout: 2 * time.Minute},
	})

	t.Run("aws-sdk-go-v2 PutObject with a trailing checksum", func(t *testing.T) {
		body := randomBytes(t, 300<<10)
		before := sent.trailerUploads()
		ctx, cancel := context.WithTimeout(t.Context(), cmdTimeout)
		defer cancel()
		_, err := sdk.PutObject(ctx, &s3.PutObjectInput{
			Bucket: &bucket, Key: aws.String("sdk.bin"), Body: onlyReader{bytes.NewReader(body)},
			ContentLength: aws.Int64(int64(len(body))), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
		})
		if err != nil {
			t.Fatalf("PutObject over HTTPS: %v", err)
		}
		if sent.trailerUploads() != before+1 {
			t.Fatalf("the SDK did not send a trailing checksum; the test proves nothing")
		}
		for _, want := range []string{"MISS", "HIT"} {
			out, err := sdk.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("sdk.bin"), ChecksumMode: types.ChecksumModeEnabled})
			if err != nil {
				t.Fatalf("GetObject: %v", err)
			}
			got, err := io.ReadAll(out.Body)
			out.Body.Close()
			if err != nil || !bytes.Equal(got, body) {
				t.Fatalf("GetObject: %d bytes, %v; want the %d uploaded", len(got), err, len(body))
			}
			// The backend recorded the client's CRC32, which the SDK has
			// just validated against the bytes.
			if c := aws.ToString(out.ChecksumCRC32); c != crc32Base64(body) {
				t.Errorf("GetObject ChecksumCRC32 = %q, want %q", c, crc32Base64(body))
			}
			wantXCache(t, "GetObject over HTTPS", rawHeader(out.ResultMetadata), want)
		}
	})

	t.Run("aws-sdk-go-v2 multipart upload with part checksums", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), cmdTimeout)
		defer cancel()
		key := aws.String("multipart.bin")
		parts := [][]byte{randomBytes(t, 5<<20), randomBytes(t, 1<<20)[:777_777]}
		up, err := sdk.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: key, ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
		if err != nil {
			t.Fatalf("CreateMultipartUpload: %v", err)
		}
		var done []types.CompletedPart
		before := sent.trailerUploads()
		for i, part := range parts {
			out, err := sdk.UploadPart(ctx, &s3.UploadPartInput{
				Bucket: &bucket, Key: key, UploadId: up.UploadId, PartNumber: aws.Int32(int32(i + 1)),
				Body: onlyReader{bytes.NewReader(part)}, ContentLength: aws.Int64(int64(len(part))),
				ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
			})
			if err != nil {
				t.Fatalf("UploadPart %d: %v", i+1, err)
			}
			if c := aws.ToString(out.ChecksumCRC32); c != crc32Base64(part) {
				t.Errorf("UploadPart %d: ChecksumCRC32 = %q, want %q", i+1, c, crc32Base64(part))
			}
			done = append(done, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(int32(i + 1)), ChecksumCRC32: out.ChecksumCRC32})
		}
		if sent.trailerUploads() != before+len(parts) {
			t.Fatalf("the SDK sent %d of %d parts with trailing checksums", sent.trailerUploads()-before, len(parts))
		}
		if _, err := sdk.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
			Bucket: &bucket, Key: key, UploadId: up.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: done},
		}); err != nil {
			t.Fatalf("CompleteMultipartUpload with part checksums: %v", err)
		}
		got := sdkGet(t, e, bucket, *key)
		if want := bytes.Join(parts, nil); got.Status != 200 || !bytes.Equal(got.Body, want) {
			t.Fatalf("GetObject after multipart: %d, %d bytes; want %d", got.Status, len(got.Body), len(want))
		}
	})

	t.Run("aws CLI cp up and down, multipart", func(t *testing.T) {
		data := randomBytes(t, 12<<20)
		dir := t.TempDir()
		src, dst := filepath.Join(dir, "src.bin"), filepath.Join(dir, "dst.bin")
		if err := os.WriteFile(src, data, 0o644); err != nil {
			t.Fatal(err)
		}
		mustAWS(t, e, "s3", "cp", "--no-progress", src, "s3://"+bucket+"/cli.bin")
		mustAWS(t, e, "s3", "cp", "--no-progress", "s3://"+bucket+"/cli.bin", dst)
		got, err := os.ReadFile(dst)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("aws s3 cp round trip over HTTPS: %d bytes, %v; want %d", len(got), err, len(data))
		}
		out := mustAWS(t, e, "s3api", "put-object", "--bucket", bucket, "--key", "cli-small.txt", "--body", src[:len(src)-len("src.bin")]+"src.bin", "--checksum-algorithm", "CRC32")
		if !strings.Contains(out, "ChecksumCRC32") {
			t.Errorf("aws s3api put-object --checksum-algorithm CRC32: no checksum in the answer:\n%s", out)
		}
	})

	t.Run("boto3, presigned GET and curl over HTTPS", func(t *testing.T) {
		body := randomBytes(t, 10<<10)
		res := (boto3Ops{}).run(t, e, []op{
			{Op: "put", Bucket: bucket, Key: "boto3.bin", Body: body},
			{Op: "get", Bucket: bucket, Key: "boto3.bin"},
			{Op: "get", Bucket: bucket, Key: "boto3.bin"},
			{Op: "presign_get", Bucket: bucket, Key: "boto3.bin"},
		})
		if res[0].Status != 200 {
			t.Fatalf("boto3 put over HTTPS: %v", res[0])
		}
		for i, want := range []string{"MISS", "HIT"} {
			if r := res[1+i]; r.Status != 200 || !bytes.Equal(r.Body, body) || r.XCache != want {
				t.Errorf("boto3 get %d: %v, want 200 %s with the bytes", i+1, r, want)
			}
		}
		r := curl(t, "--cacert", ca.caFile, res[3].URL)
		if r.Status != 200 || !bytes.Equal(r.Body, body) {
			t.Errorf("curl of the boto3-presigned URL: %d, %d bytes", r.Status, len(r.Body))
		}
		wantXCache(t, "curl of the boto3-presigned URL", r.Header, "HIT")
		r = curl(t, append(sigv4(e), "--cacert", ca.caFile, objectURL(e, bucket, "boto3.bin"))...)
		if r.Status != 200 || !bytes.Equal(r.Body, body) {
			t.Errorf("curl --aws-sigv4 over HTTPS: %d, %d bytes", r.Status, len(r.Body))
		}
	})

	t.Run("a boto3 POST form over HTTPS", func(t *testing.T) {
		f := presignedPost(t, e, bucket, map[string]any{"key": "form.txt"})
		a := sendForm(t, e, f.URL, f.Fields, "form.txt", []byte("posted over https"))
		if a.Status != http.StatusNoContent || a.Header.Get("Location") != e.URL+"/"+bucket+"/form.txt" {
			t.Fatalf("POST: %v, Location %q; want 204 and an https Location", a, a.Header.Get("Location"))
		}
		if g := sdkGet(t, e, bucket, "form.txt"); string(g.Body) != "posted over https" {
			t.Errorf("GET: %d %q", g.Status, g.Body)
		}
	})

	t.Run("minio-go", func(t *testing.T) {
		c, _ := minioClient(t, e)
		body := randomBytes(t, 200<<10)
		ctx, cancel := context.WithTimeout(t.Context(), cmdTimeout)
		defer cancel()
		if _, err := c.PutObject(ctx, bucket, "minio.bin", bytes.NewReader(body), int64(len(body)),
			minio.PutObjectOptions{Checksum: minio.ChecksumCRC32C}); err != nil {
			t.Fatalf("minio PutObject over HTTPS: %v", err)
		}
		obj, err := c.GetObject(ctx, bucket, "minio.bin", minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer obj.Close()
		got, err := io.ReadAll(obj)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("minio GetObject over HTTPS: %d bytes, %v", len(got), err)
		}
	})
}

// TestTLSUntrustedBackend points the proxy at the HTTPS backend without
// S3_CA_FILE: it must not trust the certificate, say so in /-/readyz and
// answer requests with an S3 error, not bytes.
func TestTLSUntrustedBackend(t *testing.T) {
	t.Parallel()
	_, backend := tlsBackend(t)
	p := startProxy(t, proxyOptions{Backend: backend, Ready: "/-/healthz", Env: map[string]string{"S3_USE_SSL": "true"}})
	e := p.endpoint()
	if got, err := statusOf(t.Context(), e.URL+"/-/readyz"); err != nil || got != http.StatusServiceUnavailable {
		t.Errorf("/-/readyz with an untrusted backend certificate: %d, %v; want 503", got, err)
	}
	r := curl(t, append(sigv4(e), objectURL(e, "any-bucket", "key"))...)
	if r.Status != http.StatusBadGateway || r.xmlCode() != "BadGateway" {
		t.Errorf("GET through a proxy that cannot trust its backend: %d %s, want 502 BadGateway", r.Status, r.Body)
	}
	if out := p.output(); !strings.Contains(out, "certificate") {
		t.Errorf("the proxy's log does not mention the certificate problem:\n%s", out)
	}
}
