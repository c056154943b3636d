package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pki is a test CA and server certificates it signed, as PEM files.
type pki struct {
	dir    string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caFile string
	pool   *x509.CertPool
}

func testPKI(t *testing.T) *pki {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "s3cache test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	p := &pki{dir: t.TempDir(), ca: ca, caKey: key, pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	p.caFile = filepath.Join(p.dir, "ca.pem")
	writePEM(t, p.caFile, "CERTIFICATE", der)
	return p
}

// issue writes a certificate for 127.0.0.1 named cn and its key, and
// returns their paths.
func (p *pki) issue(t *testing.T, cn string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = filepath.Join(p.dir, cn+".pem")
	keyFile = filepath.Join(p.dir, cn+"-key.pem")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "PRIVATE KEY", kder)
	return certFile, keyFile
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// servedName connects to addr over TLS, trusting pool, and returns the
// common name of the certificate it was served.
func servedName(t *testing.T, addr string, pool *x509.CertPool) string {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatalf("TLS dial %s: %v", addr, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
}

// TestCertReloader serves HTTPS with a certificate, replaces the files and
// checks the new certificate is served after a check; a broken pair keeps
// the old one in force and is logged.
func TestCertReloader(t *testing.T) {
	p := testPKI(t)
	certFile, keyFile := p.issue(t, "first")
	var logs bytes.Buffer
	cr, err := newCertReloader(certFile, keyFile, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", serverTLS(cr))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.NotFoundHandler()}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	addr := ln.Addr().String()

	if got := servedName(t, addr, p.pool); got != "first" {
		t.Fatalf("served %q, want first", got)
	}
	if cr.check(false) {
		t.Fatal("reloaded unchanged files")
	}
	// A renewal writes new files over the old ones.
	second, secondKey := p.issue(t, "second")
	for _, f := range [][2]string{{second, certFile}, {secondKey, keyFile}} {
		if err := os.Rename(f[0], f[1]); err != nil {
			t.Fatal(err)
		}
	}
	later := time.Now().Add(time.Minute)
	os.Chtimes(certFile, later, later)
	if !cr.check(false) {
		t.Fatal("changed files not reloaded")
	}
	if got := servedName(t, addr, p.pool); got != "second" {
		t.Fatalf("served %q after the renewal, want second", got)
	}
	// A key that does not match its certificate is refused; the current
	// certificate stays.
	_, otherKey := p.issue(t, "third")
	if err := os.Rename(otherKey, keyFile); err != nil {
		t.Fatal(err)
	}
	if cr.check(true) {
		t.Fatal("a mismatched pair was applied")
	}
	if got := servedName(t, addr, p.pool); got != "second" {
		t.Fatalf("served %q after a bad reload, want second", got)
	}
	if !strings.Contains(logs.String(), "keeping the current one") {
		t.Errorf("bad reload not logged:\n%s", logs.String())
	}
	if _, err := newCertReloader(certFile, keyFile, slog.New(slog.DiscardHandler)); err == nil ||
		!strings.Contains(err.Error(), "TLS_CERT_FILE") {
		t.Errorf("loading a mismatched pair at start: err = %v, want one naming TLS_CERT_FILE", err)
	}
}

// TestRunServesTLS starts the command with TLS_CERT_FILE and TLS_KEY_FILE
// and checks its health endpoint answers over HTTPS and not over HTTP.
func TestRunServesTLS(t *testing.T) {
	p := testPKI(t)
	certFile, keyFile := p.issue(t, "s3cache")
	addr := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}()
	env := map[string]string{"LISTEN_ADDR": addr, "TLS_CERT_FILE": certFile, "TLS_KEY_FILE": keyFile, "S3_ENDPOINT": "127.0.0.1:1"}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, io.Discard, io.Discard) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.pool}}, Timeout: 10 * time.Second}
	var resp *http.Response
	var err error
	for range 100 {
		if resp, err = client.Get("https://" + addr + "/-/healthz"); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("run returned early: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Fatalf("GET /-/healthz over HTTPS: %d, TLS %v", resp.StatusCode, resp.TLS != nil)
	}
	resp, err = http.Get("http://" + addr + "/-/healthz")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP to the TLS listener: %d, want 400", resp.StatusCode)
		}
	}
}
