package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/s3cache/s3cache/proxy"
)

// restoreState warms p from the CACHE_STATE_FILE a previous process
// saved. A missing file is a first start; a file that cannot be read or
// is not a state file is ignored with a warning: the proxy starts cold.
func restoreState(p *proxy.Proxy, path string, log *slog.Logger) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		log.Info("no cache state file yet; starting cold", "file", path)
		return
	}
	if err != nil {
		log.Warn("cache state file ignored; starting cold", "file", path, "error", err)
		return
	}
	defer f.Close()
	n, err := p.RestoreState(f)
	if err != nil {
		log.Warn("cache state file ignored; starting cold", "file", path, "error", err)
		return
	}
	log.Info("restoring the cache from its state file in the background", "file", path, "keys", n)
}

// saveState writes p's cache state to path through a temporary file in
// the same directory, renamed into place once complete, so a crash never
// leaves half a file.
func saveState(p *proxy.Proxy, path string, log *slog.Logger) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".s3cache-state-*")
	if err != nil {
		return fmt.Errorf("CACHE_STATE_FILE=%q: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename, nothing to remove
	n, err := p.SaveState(tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("CACHE_STATE_FILE=%q: %w", path, err)
	}
	log.Info("cache state saved", "file", path, "keys", n)
	return nil
}
