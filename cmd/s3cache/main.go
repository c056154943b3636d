// Command s3cache is a caching reverse proxy for S3: point any S3 client at
// it and reads of hot objects come from memory. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/s3cache/s3cache/proxy"
)

// defaultShutdownTimeout bounds how long a graceful shutdown waits for
// requests in flight, unless SHUTDOWN_TIMEOUT says otherwise.
const defaultShutdownTimeout = 30 * time.Second

// gcBallast is never read or written: its bytes count as live heap, so
// the garbage collector's next target (twice the live heap) is at least
// twice its size, and a proxy whose cache holds little collects a few
// times a second rather than every few milliseconds of hits, without
// using the memory (pages never touched are never resident).
var gcBallast []byte

// gcBallastBytes is gcBallast's size; the memory limit is raised by as
// much, as the limit counts it.
const gcBallastBytes = 16 << 20

// defaultWriteTimeout is WRITE_TIMEOUT's default: as long as
// CLIENT_IDLE_TIMEOUT gives a client that stops sending, long enough for
// a client pausing on a slow or lossy link, short enough that clients
// that stop reading cannot hold their responses' memory for long.
const defaultWriteTimeout = time.Minute

// main runs the command and exits 1 on an error.
func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "s3cache: %v\n", err)
		os.Exit(1)
	}
}

// run is the command: the subcommands version and healthcheck (and
// dev-backend, which -dev starts in a child process), or the proxy,
// configured by args, getenv and the config file, until ctx is done. A
// nil error means exit 0.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "version":
			return runVersion(args[1:], stdout)
		case "healthcheck":
			return runHealthcheck(ctx, args[1:], getenv, stdout, stderr)
		case devBackendCommand:
			return runDevBackend(ctx, args[1:], os.Stdin, stderr)
		}
	}
	o, err := parseOptions(args, getenv, stderr)
	if err != nil {
		return err
	}
	switch {
	case o.version:
		return runVersion(nil, stdout)
	case o.printConfig:
		return printConfig(stdout, &o)
	case o.dev && !devBackendBuilt:
		return errNoDevBackend
	}
	var handler slog.Handler = slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: o.logLevel})
	if o.logFormat == "json" {
		handler = slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: o.logLevel})
	}
	log := slog.New(handler)
	o.proxy.Logger = log
	if getenv("GOMEMLIMIT") == "" {
		// Keep the heap near what the cache may hold, not twice that.
		debug.SetMemoryLimit(o.proxy.SoftMemoryLimit() + gcBallastBytes)
	}
	if getenv("GOGC") == "" {
		gcBallast = make([]byte, gcBallastBytes)
	}
	var certs *certReloader
	scheme := "http"
	if o.tlsCert != "" {
		if certs, err = newCertReloader(o.tlsCert, o.tlsKey, log); err != nil {
			return err
		}
		scheme = "https"
	}

	o.listen = listenAddr(o)
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("LISTEN_ADDR=%q: %w", o.listen, err)
	}
	defer ln.Close()

	if o.dev {
		stopDev, err := startDevBackend(ctx, &o, stderr)
		if err != nil {
			return err
		}
		defer stopDev()
		printDevBanner(stdout, o, scheme, ln.Addr())
	}

	if o.auditLog != "" {
		w, closeAudit, err := openAuditLog(o.auditLog, stdout)
		if err != nil {
			return err
		}
		defer func() {
			if err := closeAudit(); err != nil {
				log.Error("closing the audit log", "err", err)
			}
		}()
		o.proxy.AuditLog = w
	}

	p, err := proxy.New(o.proxy)
	if err != nil {
		return err
	}
	// Closed only once no request runs: after a shutdown that drained
	// them, or when the server never started serving. Requests still
	// running past SHUTDOWN_TIMEOUT end with the process instead.
	drained := true
	defer func() {
		if drained {
			p.Close()
		}
	}()
	if o.stateFile != "" {
		restoreState(p, o.stateFile, log)
	}
	p.Warm(o.warm)

	var watched []reloader
	if o.authPath != "" {
		watched = append(watched, newAuthReloader(o.authPath, p.SetAuth, log))
	}
	if certs != nil {
		watched = append(watched, certs)
	}
	if len(watched) > 0 {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		tick := time.NewTicker(reloadPollInterval)
		defer tick.Stop()
		rctx, stopReload := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			watch(rctx, hup, tick.C, watched...)
		}()
		defer func() { stopReload(); <-done }()
	}

	if o.pprofAddr != "" {
		ps, err := startPprof(o.pprofAddr, log)
		if err != nil {
			return err
		}
		defer ps.Close()
	}

	// HTTP/1 requests are read by the lean loop (proxy.NewServer), which
	// answers GETs and HEADs itself and hands other requests to srv one at
	// a time; over TLS, HTTP/2 connections are srv's.
	srv := &http.Server{
		Handler:           p,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// HTTP/2 only: the header list a client may send. Over 8 KiB,
		// the handler answers 400 RequestHeaderSectionTooLarge.
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(handler, slog.LevelDebug),
	}
	lean := proxy.NewServer(p, srv)
	lean.WriteTimeout = o.writeTimeout
	if certs != nil {
		srv.TLSConfig = serverTLS(certs)
		// A copy: srv adjusts its own when HTTP/2 is set up.
		lean.TLSConfig = srv.TLSConfig.Clone()
	}
	errc := make(chan error, 1)
	go func() { errc <- lean.Serve(ln) }()
	shutdown := lean.Shutdown
	log.Info("s3cache listening", "addr", ln.Addr().String(), "scheme", scheme, "backend", o.proxy.Endpoint)

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "drain", o.shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
	defer cancel()
	if err := shutdown(sctx); err != nil {
		drained = false
		// The requests still running are cut off as the process exits:
		// an upload among them reaches the backend without its final
		// aws-chunked chunk (UPLOAD_FRAMING=chunked), and the backend
		// refuses it.
		return fmt.Errorf("shutdown: requests still running after SHUTDOWN_TIMEOUT (%v) were cut off: %w", o.shutdownTimeout, err)
	}
	if o.stateFile != "" {
		if err := saveState(p, o.stateFile, log); err != nil {
			return err
		}
	}
	return nil
}
