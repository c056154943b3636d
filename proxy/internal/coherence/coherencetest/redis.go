// Package coherencetest starts real redis-servers for the tests of
// package coherence and of the proxy's replicas: plain, over TLS, or a
// cluster of three masters, on loopback ports. A missing or failing
// redis-server fails the test.
package coherencetest

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Redis is a real redis-server on a loopback port, for the tests of
// coherence across replicas. It can be stopped and started again on the
// same port. It is not safe for concurrent use.
type Redis struct {
	// Addr is the server's host:port.
	Addr string
	t    testing.TB
	dir  string
	cmd  *exec.Cmd
	tls  []string // redis-server's TLS arguments; nil for plain TCP
}

// StartRedis starts redis-server without persistence, stopped when the
// test ends. A missing or failing redis-server fails the test.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	return StartRedisTLS(t, nil)
}

// StartRedisTLS starts redis-server with tlsArgs (certificate and key
// files, see TLSFiles) serving TLS only, or plain TCP when tlsArgs is nil.
func StartRedisTLS(t testing.TB, tlsArgs []string) *Redis {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	r := &Redis{t: t, Addr: addr, dir: t.TempDir(), tls: tlsArgs}
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

// URL is the server's redis:// URL.
func (r *Redis) URL() string { return "redis://" + r.Addr }

// Start starts the server again after Stop, on the same port, empty.
func (r *Redis) Start() {
	r.t.Helper()
	_, port, _ := net.SplitHostPort(r.Addr)
	args := []string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", r.dir}
	if r.tls != nil {
		args = append(append(args, "--port", "0", "--tls-port", port, "--tls-auth-clients", "no"), r.tls...)
	}
	r.cmd = exec.Command("redis-server", args...)
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("redis-server (install it: apt-get install redis-server): %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := r.ping()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server on %s does not answer: %v", r.Addr, err)
		}
		time.Sleep(20 * time.Millisecond) // polling a process start, not synchronising
	}
}

// Stop kills the server, as a crash would. Stopping a stopped server
// does nothing.
func (r *Redis) Stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	r.cmd.Process.Kill()
	r.cmd.Wait()
	r.cmd = nil
}

// ping sends PING in RESP and checks the answer.
func (r *Redis) ping() error {
	var c net.Conn
	var err error
	if r.tls != nil {
		c, err = tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", r.Addr, &tls.Config{InsecureSkipVerify: true})
	} else {
		c, err = net.DialTimeout("tcp", r.Addr, time.Second)
	}
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// StartCluster starts a Redis Cluster of three masters on loopback ports,
// stopped when the test ends, and returns their addresses.
func StartCluster(t testing.TB) []string {
	t.Helper()
	var addrs []string
	for range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		_, port, _ := net.SplitHostPort(addr)
		dir := t.TempDir()
		cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1",
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--save", "", "--appendonly", "no", "--dir", dir)
		if err := cmd.Start(); err != nil {
			t.Fatalf("redis-server: %v", err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		r := &Redis{t: t, Addr: addr}
		deadline := time.Now().Add(10 * time.Second)
		for r.ping() != nil {
			if time.Now().After(deadline) {
				t.Fatalf("cluster node %s does not answer", addr)
			}
			time.Sleep(20 * time.Millisecond) // polling a process start
		}
		addrs = append(addrs, addr)
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	// The nodes agree on the slots shortly after.
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, _ := exec.Command("redis-cli", "-h", "127.0.0.1", "-p", strings.Split(addrs[0], ":")[1], "cluster", "info").Output()
		if strings.Contains(string(out), "cluster_state:ok") {
			return addrs
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster never became ok: %s", out)
		}
		time.Sleep(50 * time.Millisecond) // polling the cluster's own convergence
	}
}

// TLSFiles writes a CA and a certificate for 127.0.0.1 signed by it into
// dir, and returns redis-server's TLS arguments and a pool trusting the CA.
func TLSFiles(t testing.TB, dir string) ([]string, *x509.CertPool) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "s3cache test Redis CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, b []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	args := []string{
		"--tls-cert-file", write("redis.pem", "CERTIFICATE", der),
		"--tls-key-file", write("redis.key", "EC PRIVATE KEY", keyDER),
		"--tls-ca-cert-file", write("ca.pem", "CERTIFICATE", caDER),
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return args, pool
}
