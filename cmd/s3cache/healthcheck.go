package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// healthTimeout bounds the whole healthcheck request.
const healthTimeout = 3 * time.Second

// runHealthcheck is `s3cache healthcheck [-url URL]`: one GET, nil (exit
// 0) on 200 and an error (exit 1) otherwise, so an image without a shell
// or curl can have a Docker HEALTHCHECK. Without -url it asks /-/healthz
// on LISTEN_ADDR, from the environment or else the config file (-config
// or $S3CACHE_CONFIG), over https when TLS_CERT_FILE is set.
func runHealthcheck(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("s3cache healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("url", "", "URL to GET (default: http://127.0.0.1:8080/-/healthz, from LISTEN_ADDR; https when TLS_CERT_FILE is set)")
	configFlag := fs.String("config", "", "config file to read LISTEN_ADDR and TLS_CERT_FILE from [$"+configEnv+"]")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("healthcheck: unexpected arguments: %q", fs.Args())
	}
	if *target == "" {
		var err error
		if *target, err = defaultHealthURL(*configFlag, isFlagSet(fs, "config"), getenv); err != nil {
			return fmt.Errorf("healthcheck: %w", err)
		}
	}
	status, err := probe(ctx, *target)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	fmt.Fprintf(stdout, "%s: %s\n", *target, status)
	return nil
}

// isFlagSet reports whether the flag name was given.
func isFlagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// defaultHealthURL derives the probe's URL from LISTEN_ADDR and
// TLS_CERT_FILE as the proxy would see them: the environment, else the
// config file, else the defaults.
func defaultHealthURL(configFlag string, configSet bool, getenv func(string) string) (string, error) {
	var scratch options
	file, _, err := loadConfigFile(configFlag, configSet, getenv, scratch.settings())
	if err != nil {
		return "", err
	}
	lookup := func(env string) string {
		if v := getenv(env); v != "" {
			return v
		}
		return file[env].value
	}
	listen := lookup("LISTEN_ADDR")
	if listen == "" {
		listen = defaultListen
	}
	return healthURL(listen, lookup("TLS_CERT_FILE") != "")
}

// healthURL is /-/healthz on the listen address: on loopback when it
// names no host or every interface.
func healthURL(listen string, https bool) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("LISTEN_ADDR=%q: %w", listen, err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	u := url.URL{Scheme: "http", Host: net.JoinHostPort(host, port), Path: "/-/healthz"}
	if https {
		u.Scheme = "https"
	}
	return u.String(), nil
}

// errUnhealthy is returned when the probe was answered with a status
// other than 200.
var errUnhealthy = errors.New("not healthy")

// probe GETs target once, within healthTimeout, and returns its status if
// it is 200. Redirects are not followed. The server's certificate is not
// verified: this is a liveness probe of a local process, it sends no
// credentials and reads nothing but the status.
func probe(ctx context.Context, target string) (string, error) {
	tr := &http.Transport{
		Proxy:           nil,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport:     tr,
		Timeout:       healthTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s: %w", target, resp.Status, errUnhealthy)
	}
	return resp.Status, nil
}
