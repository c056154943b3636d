package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"
)

// certReloader serves the listener's certificate from TLS_CERT_FILE and
// TLS_KEY_FILE and re-reads them when told to (SIGHUP) or when either
// file's modification time or size changed, so a renewed certificate is
// picked up without a restart. A pair that does not load keeps the one in
// force and is logged. check runs on one goroutine; getCertificate on any.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger

	cert  atomic.Pointer[tls.Certificate]
	stamp [2]fileStamp // of certFile and keyFile when last loaded
}

// fileStamp is what tells a changed file: modification time and size.
type fileStamp struct {
	mtime time.Time
	size  int64
}

func stampOf(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{fi.ModTime(), fi.Size()}
}

// newCertReloader loads the pair once; an error names both variables.
func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	c := &certReloader{certFile: certFile, keyFile: keyFile, log: log}
	if err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *certReloader) load() error {
	stamp := [2]fileStamp{stampOf(c.certFile), stampOf(c.keyFile)}
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	c.stamp = stamp
	if err != nil {
		return fmt.Errorf("TLS_CERT_FILE=%q, TLS_KEY_FILE=%q: %w", c.certFile, c.keyFile, err)
	}
	c.cert.Store(&cert)
	return nil
}

// check reloads the pair if force is set or a file changed, and reports
// whether a new certificate is in force.
func (c *certReloader) check(force bool) bool {
	if !force && stampOf(c.certFile) == c.stamp[0] && stampOf(c.keyFile) == c.stamp[1] {
		return false
	}
	if err := c.load(); err != nil {
		c.log.Error("TLS certificate not reloaded; keeping the current one", "error", err)
		return false
	}
	c.log.Info("TLS certificate reloaded", "file", c.certFile, "not_after", c.cert.Load().Leaf.NotAfter)
	return true
}

func (c *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.cert.Load(), nil
}

// serverTLS is the listener's TLS configuration: TLS 1.2 or newer, the
// certificate from c, HTTP/2 and HTTP/1.1 offered.
func serverTLS(c *certReloader) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: c.getCertificate,
		NextProtos:     []string{"h2", "http/1.1"},
	}
}

// caFile reads PEM certificates to trust for a TLS server (the backend,
// Redis), in addition to the system's roots.
func caFile(p **x509.CertPool) func(string) error {
	return func(path string) error {
		pem, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return errors.New("no PEM certificate in the file")
		}
		*p = pool
		return nil
	}
}
