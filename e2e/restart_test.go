package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWarmRestart stops a proxy gracefully with CACHE_STATE_FILE set and
// starts a new one with the same file: the new proxy reloads the keys in
// the background and then answers them from memory, with no backend GET
// per client read. A corrupt state file is ignored with a warning.
func TestWarmRestart(t *testing.T) {
	t.Parallel()
	r := newRelay(t, backendAddr(t))
	state := filepath.Join(t.TempDir(), "state.jsonl")
	env := map[string]string{"CACHE_STATE_FILE": state}
	first := startProxy(t, proxyOptions{Backend: r.Addr(), Env: env})
	e := first.endpoint()
	bucket := newBucket(t, e)
	keys := []string{"hot.txt", "warm/one.bin", "cold key.txt"}
	for i, key := range keys {
		putBytes(t, e, bucket, key, []byte(fmt.Sprintf("object %d: %s", i, key)))
		for range 3 - i {
			sdkGet(t, e, bucket, key)
		}
	}
	if err := first.stop(stopTimeout); err != nil {
		t.Fatalf("stopping the first proxy: %v", err)
	}
	saved, err := os.ReadFile(state)
	if err != nil || !strings.Contains(string(saved), `"key":"hot.txt"`) {
		t.Fatalf("state file after a graceful shutdown: %v\n%s", err, saved)
	}

	second := startProxy(t, proxyOptions{Backend: r.Addr(), Env: env})
	e2 := second.endpoint()
	err = poll(t.Context(), startTimeout, func(ctx context.Context) error {
		if got := scrapeMetrics(t, e2)["s3cache_warm_objects_total"]; got != float64(len(keys)) {
			return fmt.Errorf("s3cache_warm_objects_total = %v, want %d", got, len(keys))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("the restarted proxy did not reload its keys: %v\n%s", err, second.output())
	}
	before := map[string]int{}
	for _, key := range keys {
		before[key] = r.count("GET", bucket, key)
	}
	for i, key := range keys {
		g := sdkGet(t, e2, bucket, key)
		if want := fmt.Sprintf("object %d: %s", i, key); g.Status != 200 || !bytes.Equal(g.Body, []byte(want)) {
			t.Fatalf("GET %s after the restart: %d %q", key, g.Status, g.Body)
		}
		wantXCache(t, "GET "+key+" after the restart", g.Header, "HIT")
		if n := r.count("GET", bucket, key); n != before[key] {
			t.Errorf("GET %s after the restart reached the backend (%d GETs, %d before)", key, n, before[key])
		}
	}

	// A corrupt file: the proxy starts cold, and says why.
	if err := os.WriteFile(state, []byte("not a state file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	third := startProxy(t, proxyOptions{Backend: r.Addr(), Env: env})
	g := sdkGet(t, third.endpoint(), bucket, keys[0])
	wantXCache(t, "GET after starting with a corrupt state file", g.Header, "MISS")
	if out := third.output(); !strings.Contains(out, "cache state file ignored") {
		t.Errorf("no warning about the corrupt state file:\n%s", out)
	}
}
