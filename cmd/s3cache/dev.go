package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3afero"

	"github.com/s3cache/s3cache/proxy"
)

// startDevBackend runs an S3 server in this process, storing objects as
// files under o.devDir, and points o.proxy at it. gofakes3 with its afero
// file-system backend was chosen because it is a small pure-Go library
// (a few hundred KiB in the binary) that needs no external process;
// a full server such as versitygw would add its whole web stack.
func startDevBackend(ctx context.Context, o *options, log *slog.Logger) (stop func(), err error) {
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
	fs, err := s3afero.FsPath(dir, 0)
	if err != nil {
		return nil, fmt.Errorf("DEV_DATA_DIR=%q: %w", dir, err)
	}
	backend, err := s3afero.MultiBucket(fs)
	if err != nil {
		return nil, fmt.Errorf("dev backend: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("dev backend: %w", err)
	}
	faker := gofakes3.New(backend, gofakes3.WithAutoBucket(false))
	srv := &http.Server{Handler: faker.Server(), ReadHeaderTimeout: 30 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("dev backend stopped", "err", err)
		}
	}()
	o.proxy.Endpoint = ln.Addr().String()
	o.proxy.UseSSL = false
	if o.proxy.AccessKey == "" {
		o.proxy.AccessKey = proxy.DefaultAccessKey
	}
	if o.proxy.SecretKey == "" {
		o.proxy.SecretKey = proxy.DefaultSecretKey
	}
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}, nil
}

// printDevBanner tells a newcomer where the proxy is and how to use it.
func printDevBanner(w io.Writer, o options, scheme string, addr net.Addr) {
	host := addr.String()
	if tcp, ok := addr.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		host = net.JoinHostPort("127.0.0.1", fmt.Sprint(tcp.Port))
	}
	region := o.proxy.Region
	if region == "" {
		region = proxy.DefaultRegion
	}
	fmt.Fprintf(w, `s3cache dev mode: proxy with an embedded S3 backend
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

`, host, o.proxy.AccessKey, o.proxy.SecretKey, region, o.devDir, scheme)
}
