package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/s3cache/s3cache/proxy"
)

// reloadPollInterval is how often AUTH_CONFIG and the TLS files are checked
// for a change.
const reloadPollInterval = time.Second

// authReloader re-reads the AUTH_CONFIG file when told to (SIGHUP) or when
// its modification time or size changed, and hands a good configuration to
// set. A bad file keeps the configuration in force and is logged with its
// name and line; secrets are never logged. Not safe for concurrent use: one
// goroutine runs it.
type authReloader struct {
	path string
	set  func(*proxy.AuthConfig)
	log  *slog.Logger

	mtime time.Time
	size  int64
}

// newAuthReloader remembers the file's current state: the configuration
// already in force was read from it.
func newAuthReloader(path string, set func(*proxy.AuthConfig), log *slog.Logger) *authReloader {
	r := &authReloader{path: path, set: set, log: log}
	if fi, err := os.Stat(path); err == nil {
		r.mtime, r.size = fi.ModTime(), fi.Size()
	}
	return r
}

// check reloads the file if force is set or the file changed since the
// last check, and reports whether a new configuration was applied.
func (r *authReloader) check(force bool) bool {
	fi, err := os.Stat(r.path)
	if err != nil {
		if force || !r.mtime.IsZero() {
			r.log.Error("auth config not reloaded; keeping the current one", "file", r.path, "error", err)
		}
		r.mtime, r.size = time.Time{}, 0
		return false
	}
	if !force && fi.ModTime().Equal(r.mtime) && fi.Size() == r.size {
		return false
	}
	r.mtime, r.size = fi.ModTime(), fi.Size()
	cfg, err := readAuthConfig(r.path)
	if err != nil {
		r.log.Error("auth config not reloaded; keeping the current one", "file", r.path, "error", err)
		return false
	}
	r.set(cfg)
	r.log.Info("auth config reloaded", "file", r.path, "users", cfg.Users())
	return true
}

// reloader re-reads a file it watches when forced (SIGHUP) or when the file
// changed, and reports whether it applied a new version.
type reloader interface {
	check(force bool) bool
}

// watch runs every reloader's check on each tick (unforced) and on each
// hup (forced) until ctx is done. One goroutine runs it, so the reloaders
// need no locking of their own state.
func watch(ctx context.Context, hup <-chan os.Signal, tick <-chan time.Time, rs ...reloader) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			for _, r := range rs {
				r.check(true)
			}
		case <-tick:
			for _, r := range rs {
				r.check(false)
			}
		}
	}
}
