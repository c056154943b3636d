package main

import (
	"bytes"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHealthcheck runs `s3cache healthcheck` against servers that answer
// 200, 503, a redirect, nothing, and never: only 200 is healthy (exit 0,
// run returns nil); everything else is exit 1.
func TestHealthcheck(t *testing.T) {
	handler := func(status int) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/-/healthz" {
				http.NotFound(w, r)
				return
			}
			if status == http.StatusFound {
				http.Redirect(w, r, "/elsewhere", status)
				return
			}
			w.WriteHeader(status)
		})
	}
	ok := httptest.NewServer(handler(http.StatusOK))
	defer ok.Close()
	unavailable := httptest.NewServer(handler(http.StatusServiceUnavailable))
	defer unavailable.Close()
	redirect := httptest.NewServer(handler(http.StatusFound))
	defer redirect.Close()
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer hung.Close()
	tlsOK := httptest.NewUnstartedServer(handler(http.StatusOK))
	tlsOK.Config.ErrorLog = log.New(io.Discard, "", 0) // the plain-HTTP case's handshake error
	tlsOK.StartTLS()
	defer tlsOK.Close()
	closed := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}()
	hostPort := func(s *httptest.Server) string {
		return strings.TrimPrefix(strings.TrimPrefix(s.URL, "http://"), "https://")
	}

	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		healthy bool
	}{
		{name: "200", args: []string{"-url", ok.URL + "/-/healthz"}, healthy: true},
		{name: "503", args: []string{"-url", unavailable.URL + "/-/healthz"}},
		{name: "404", args: []string{"-url", ok.URL + "/nothing"}},
		{name: "redirect not followed", args: []string{"-url", redirect.URL + "/-/healthz"}},
		{name: "nothing listening", args: []string{"-url", "http://" + closed + "/-/healthz"}},
		{name: "no answer within the timeout", args: []string{"-url", hung.URL + "/-/healthz"}},
		{name: "URL from LISTEN_ADDR", env: map[string]string{"LISTEN_ADDR": hostPort(ok)}, healthy: true},
		{name: "URL from LISTEN_ADDR, nothing listening", env: map[string]string{"LISTEN_ADDR": closed}},
		{name: "https with TLS_CERT_FILE, not verified", healthy: true,
			env: map[string]string{"LISTEN_ADDR": hostPort(tlsOK), "TLS_CERT_FILE": "/etc/s3cache/tls.crt"}},
		{name: "http to an https listener", env: map[string]string{"LISTEN_ADDR": hostPort(tlsOK)}},
		{name: "URL from the config file", healthy: true,
			args: []string{"-config", writeConfig(t, "listen_addr: "+hostPort(ok)+"\n")}},
		{name: "URL from S3CACHE_CONFIG", healthy: true,
			env: map[string]string{configEnv: writeConfig(t, "listen_addr: "+hostPort(tlsOK)+"\ntls_cert_file: c.pem\ntls_key_file: k.pem\n")}},
		{name: "env wins over the config file", healthy: true,
			env: map[string]string{"LISTEN_ADDR": hostPort(ok), configEnv: writeConfig(t, "listen_addr: "+closed+"\n")}},
		{name: "bad config file", env: map[string]string{configEnv: writeConfig(t, "listen_adr: x\n")}},
		{name: "stray argument", args: []string{"-url", ok.URL + "/-/healthz", "extra"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout bytes.Buffer
			args := append([]string{"healthcheck"}, tt.args...)
			err := run(t.Context(), args, func(k string) string { return tt.env[k] }, &stdout, io.Discard)
			if tt.healthy {
				if err != nil {
					t.Fatalf("exit 1 (%v), want 0", err)
				}
				if !strings.Contains(stdout.String(), "200 OK") {
					t.Errorf("stdout %q, want the 200 status", stdout.String())
				}
				return
			}
			if err == nil {
				t.Fatalf("exit 0, want 1; stdout %q", stdout.String())
			}
		})
	}
	t.Run("503 reported", func(t *testing.T) {
		err := run(t.Context(), []string{"healthcheck", "-url", unavailable.URL + "/-/healthz"}, func(string) string { return "" }, io.Discard, io.Discard)
		if !errors.Is(err, errUnhealthy) || !strings.Contains(err.Error(), "503") {
			t.Errorf("err = %v, want errUnhealthy naming 503", err)
		}
	})
}

// TestHealthURL checks the URL derived from LISTEN_ADDR and TLS_CERT_FILE.
func TestHealthURL(t *testing.T) {
	tests := []struct {
		listen  string
		https   bool
		want    string
		wantErr bool
	}{
		{listen: ":8080", want: "http://127.0.0.1:8080/-/healthz"},
		{listen: ":8443", https: true, want: "https://127.0.0.1:8443/-/healthz"},
		{listen: "0.0.0.0:9000", want: "http://127.0.0.1:9000/-/healthz"},
		{listen: "[::]:9000", want: "http://[::1]:9000/-/healthz"},
		{listen: "10.1.2.3:9000", want: "http://10.1.2.3:9000/-/healthz"},
		{listen: "localhost:9000", want: "http://localhost:9000/-/healthz"},
		{listen: "8080", wantErr: true},
	}
	for _, tt := range tests {
		got, err := healthURL(tt.listen, tt.https)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("healthURL(%q, %v) = %q, %v; want %q, error %v", tt.listen, tt.https, got, err, tt.want, tt.wantErr)
		}
	}
}
