package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/s3cache/s3cache/proxy"
)

// The backend of -dev is versitygw (its posix backend, run through its
// embedgw package), the S3 server the end-to-end suite tests the proxy
// against, so that -dev answers as that server does: metadata as S3
// keeps it, listings without the prefixes of deleted objects, multipart
// ETags, versioning. It is compiled in only with the build tag dev
// (devgw.go): it adds about 19 MB to the binary, which the production
// build does not carry (devgw_stub.go).
//
// It runs in a child process, the same binary started as
// `s3cache dev-backend`, because the posix backend changes its process's
// working directory to its data directory and keeps package-level state:
// in a process of its own it cannot move the proxy's relative paths
// (AUTH_CONFIG, CACHE_STATE_FILE…) from under it. The child reads its
// configuration as one JSON line on its standard input, so the secret key
// is in neither its arguments nor its environment, and runs until that
// input is closed: by the proxy when it stops, or by the kernel when the
// proxy dies. It tells the proxy where it listens on its file descriptor
// 3, once it accepts connections.

// devBackendCommand is the subcommand -dev runs in its child process.
const devBackendCommand = "dev-backend"

// devBackendStartTimeout bounds how long -dev waits for its backend to
// listen.
const devBackendStartTimeout = time.Minute

// devBackendStopTimeout bounds how long -dev waits for its backend to
// exit once told to, before killing it: versitygw gives the requests in
// flight up to 10 s.
const devBackendStopTimeout = 15 * time.Second

// errNoDevBackend is returned for -dev by a binary built without the
// build tag dev.
var errNoDevBackend = errors.New("-dev: this binary was built without the embedded S3 backend; " +
	"run it with: go run -tags dev ./cmd/s3cache -dev")

// devBackendConfig is what -dev tells its backend process.
type devBackendConfig struct {
	Dir    string `json:"dir"` // the data directory (DEV_DATA_DIR), absolute
	Access string `json:"access"`
	Secret string `json:"secret"`
	Region string `json:"region"`
}

// The directories of the dev backend under DEV_DATA_DIR.
const (
	devBackendRoot     = "versitygw"          // one directory per bucket, its objects as files
	devBackendVersions = "versitygw-versions" // the older versions of objects in versioned buckets
	devBackendSidecar  = "versitygw-meta"     // metadata, where the file system has no extended attributes
)

// startDevBackend starts the dev backend in a child process, storing
// objects as files under o.devDir, and points o.proxy at it. The child's
// output goes to stderr. stop tells it to exit and waits for it.
func startDevBackend(ctx context.Context, o *options, stderr io.Writer) (stop func(), err error) {
	if !devBackendBuilt {
		return nil, errNoDevBackend
	}
	if o.devDir == "" {
		o.devDir = filepath.Join(os.TempDir(), "s3cache-dev")
	}
	dir, err := filepath.Abs(o.devDir)
	if err != nil {
		return nil, fmt.Errorf("DEV_DATA_DIR=%q: %w", o.devDir, err)
	}
	o.devDir = dir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("DEV_DATA_DIR=%q: %w", dir, err)
	}
	if o.proxy.AccessKey == "" {
		o.proxy.AccessKey = proxy.DefaultAccessKey
	}
	if o.proxy.SecretKey == "" {
		o.proxy.SecretKey = proxy.DefaultSecretKey
	}
	if o.proxy.Region == "" {
		o.proxy.Region = proxy.DefaultRegion
	}
	cfg, err := json.Marshal(devBackendConfig{Dir: dir, Access: o.proxy.AccessKey, Secret: o.proxy.SecretKey, Region: o.proxy.Region})
	if err != nil {
		return nil, fmt.Errorf("dev backend: %w", err)
	}

	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("dev backend: %w", err)
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("dev backend: %w", err)
	}
	defer readyR.Close()
	cmd := exec.Command(exe, devBackendCommand)
	cmd.Stdout, cmd.Stderr = stderr, stderr
	cmd.ExtraFiles = []*os.File{readyW} // fd 3
	stdin, err := cmd.StdinPipe()
	if err != nil {
		readyW.Close()
		return nil, fmt.Errorf("dev backend: %w", err)
	}
	err = cmd.Start()
	readyW.Close() // the child holds its own copy
	if err != nil {
		return nil, fmt.Errorf("dev backend: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop = func() {
		stdin.Close()
		select {
		case <-exited:
		case <-time.After(devBackendStopTimeout):
			cmd.Process.Kill()
			<-exited
		}
	}

	addr, err := awaitDevBackend(ctx, stdin, readyR, append(cfg, '\n'))
	if err != nil {
		stop()
		return nil, fmt.Errorf("dev backend: %w", err)
	}
	o.proxy.Endpoint = addr
	o.proxy.UseSSL = false
	return stop, nil
}

// awaitDevBackend sends the child its configuration and returns the
// address it reports on ready, its fd 3, once it listens there. A child
// that exits first closes ready without a word.
func awaitDevBackend(ctx context.Context, stdin io.Writer, ready *os.File, cfg []byte) (string, error) {
	if _, err := stdin.Write(cfg); err != nil {
		return "", err
	}
	deadline := time.Now().Add(devBackendStartTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := ready.SetReadDeadline(deadline); err != nil {
		return "", err
	}
	stopWatch := context.AfterFunc(ctx, func() { ready.SetReadDeadline(time.Now()) })
	defer stopWatch()
	line, err := bufio.NewReader(ready).ReadString('\n')
	switch {
	case errors.Is(err, io.EOF):
		return "", errors.New("exited before it listened (its output is above)")
	case errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() != nil:
		return "", ctx.Err()
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "", fmt.Errorf("not listening after %v", devBackendStartTimeout)
	case err != nil:
		return "", err
	}
	addr := strings.TrimSpace(line)
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return "", fmt.Errorf("reported address %q: %w", addr, err)
	}
	return addr, nil
}

// printDevBanner tells a newcomer where the proxy is and how to use it.
func printDevBanner(w io.Writer, o options, scheme string, addr net.Addr) {
	host := addr.String()
	if tcp, ok := addr.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		host = net.JoinHostPort("127.0.0.1", fmt.Sprint(tcp.Port))
	}
	fmt.Fprintf(w, `s3cache dev mode: proxy with an embedded S3 backend (%[7]s)
  endpoint    %[6]s://%[1]s
  access key  %[2]s
  secret key  %[3]s
  region      %[4]s
  data        %[5]s

Try it:
  export AWS_ACCESS_KEY_ID=%[2]s AWS_SECRET_ACCESS_KEY=%[3]s AWS_DEFAULT_REGION=%[4]s
  aws --endpoint-url %[6]s://%[1]s s3 mb s3://demo
  echo hello | aws --endpoint-url %[6]s://%[1]s s3 cp - s3://demo/hello.txt
  curl -i --aws-sigv4 "aws:amz:%[4]s:s3" --user %[2]s:%[3]s %[6]s://%[1]s/objects/demo/hello.txt

`, host, o.proxy.AccessKey, o.proxy.SecretKey, o.proxy.Region, o.devDir, scheme, devBackendName())
}
