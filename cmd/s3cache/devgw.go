//go:build dev

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
	"path/filepath"
	"runtime/debug"
	"sync/atomic"

	"github.com/versity/versitygw/backend/meta"
	"github.com/versity/versitygw/backend/posix"
	"github.com/versity/versitygw/embedgw"
	"github.com/versity/versitygw/s3api"
)

// devBackendBuilt says that this binary has the dev backend.
const devBackendBuilt = true

// devBackendModule is the module of the dev backend.
const devBackendModule = "github.com/versity/versitygw"

// devBackendName names the dev backend and its version, for the banner.
func devBackendName() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, m := range info.Deps {
			if m.Path == devBackendModule {
				return "versitygw " + m.Version
			}
		}
	}
	return "versitygw"
}

// runDevBackend is `s3cache dev-backend`, the child process of -dev: it
// reads a devBackendConfig as one JSON line from stdin, serves S3 on a
// free loopback port with versitygw's posix backend under the config's
// Dir, writes that port's address as a line to file descriptor 3 once it
// listens, and stops when stdin is closed. Signals do not stop it: the
// proxy that started it does, once its own requests are drained.
func runDevBackend(ctx context.Context, args []string, stdin io.Reader, stderr io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("%s: unexpected arguments: %q", devBackendCommand, args)
	}
	in := bufio.NewReader(stdin)
	line, err := in.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("%s: reading the configuration: %w", devBackendCommand, err)
	}
	var cfg devBackendConfig
	if err := json.Unmarshal(line, &cfg); err != nil {
		return fmt.Errorf("%s: the configuration: %w", devBackendCommand, err)
	}
	ready := os.NewFile(3, "ready")
	if ready == nil {
		return fmt.Errorf("%s: no file descriptor 3 to report readiness on", devBackendCommand)
	}
	defer ready.Close()

	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	go func() {
		io.Copy(io.Discard, in)
		cancel()
	}()

	// A port another process takes between the probe and versitygw's
	// bind fails that bind before anything listened: try another.
	for attempt := 1; ; attempt++ {
		listening, err := serveDevBackend(ctx, cfg, ready)
		if err == nil || listening || ctx.Err() != nil || attempt == 3 {
			if err != nil {
				return fmt.Errorf("%s: %w", devBackendCommand, err)
			}
			return nil
		}
		fmt.Fprintf(stderr, "%s: %v; trying another port\n", devBackendCommand, err)
	}
}

// serveDevBackend runs versitygw until ctx is done; listening reports
// whether it got as far as accepting connections.
func serveDevBackend(ctx context.Context, cfg devBackendConfig, ready *os.File) (bool, error) {
	root := filepath.Join(cfg.Dir, devBackendRoot)
	if err := os.MkdirAll(root, 0o700); err != nil {
		return false, err
	}
	// Versioning as S3 has it (a bucket is unversioned until
	// PutBucketVersioning), and versitygw's command-line default where
	// the zero value differs: CopyObject up to S3's 5 GiB.
	opts := posix.PosixOpts{
		VersioningDir:       filepath.Join(cfg.Dir, devBackendVersions),
		CopyObjectThreshold: 5 << 30,
	}
	if err := os.MkdirAll(opts.VersioningDir, 0o700); err != nil {
		return false, err
	}
	// Metadata lives in extended attributes where the file system has
	// them (as in the end-to-end suite), else in a sidecar directory.
	var ms meta.MetadataStorer = meta.XattrMeta{}
	if (meta.XattrMeta{}).Test(root) != nil {
		side := filepath.Join(cfg.Dir, devBackendSidecar)
		if err := os.MkdirAll(side, 0o700); err != nil {
			return false, err
		}
		sc, err := meta.NewSideCar(side)
		if err != nil {
			return false, err
		}
		ms, opts.SideCarDir = sc, side
	}
	be, err := posix.New(root, ms, opts)
	if err != nil {
		return false, err
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return false, err
	}
	var listening atomic.Bool // set by versitygw's server goroutine
	onListen := func() {
		if listening.CompareAndSwap(false, true) {
			fmt.Fprintln(ready, addr)
			ready.Close()
		}
	}
	err = embedgw.RunVersityGW(ctx, be, &embedgw.Config{
		RootUserAccess: cfg.Access,
		RootUserSecret: cfg.Secret,
		Region:         cfg.Region,
		Ports:          []string{addr},
		// versitygw's own defaults, as the end-to-end suite runs it.
		MaxConnections:    250000,
		MaxRequests:       100000,
		MultipartMaxParts: 10000,
		Quiet:             true,
		S3Options:         []s3api.Option{s3api.WithOnListen(onListen)},
	})
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return listening.Load(), err
}

// freeLoopbackAddr returns a loopback host:port that was free a moment
// ago: versitygw takes addresses, not listeners.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}
