package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/s3cache/s3cache/proxy"
)

// TestAuthReloader checks that a changed file is applied, a bad one keeps
// the configuration in force and is logged with file and line but without
// its secrets, and SIGHUP forces a reload.
func TestAuthReloader(t *testing.T) {
	path := writeFile(t, "users:\n  - access_key: a\n    secret_key: s1\n")
	var logs bytes.Buffer
	var got []*proxy.AuthConfig
	rl := newAuthReloader(path, func(a *proxy.AuthConfig) { got = append(got, a) },
		slog.New(slog.NewTextHandler(&logs, nil)))
	touch := func(content string, mtime time.Time) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	base := time.Now().Add(-time.Hour)

	if rl.check(false) || len(got) != 0 {
		t.Fatal("reloaded an unchanged file")
	}
	touch("users:\n  - access_key: a\n    secret_key: s1\n  - access_key: b\n    secret_key: SECRET-B\n", base)
	if !rl.check(false) || len(got) != 1 || got[0].Users() != 2 {
		t.Fatalf("changed file not applied: %v", got)
	}
	touch("users:\n  - access_key: a\n    secret_key: TOPSECRET\n    buckets:\n      photos: everything\n", base.Add(time.Second))
	if rl.check(false) || len(got) != 1 {
		t.Fatal("a bad file was applied")
	}
	out := logs.String()
	if !strings.Contains(out, path) || !strings.Contains(out, "line 5") || !strings.Contains(out, "level=ERROR") {
		t.Errorf("log does not name the file and line at ERROR:\n%s", out)
	}
	if strings.Contains(out, "TOPSECRET") || strings.Contains(out, "SECRET-B") {
		t.Errorf("log contains a secret:\n%s", out)
	}
	// The same bad file is not re-read on every tick...
	logs.Reset()
	if rl.check(false) || logs.Len() != 0 {
		t.Errorf("unchanged bad file re-read: %s", logs.String())
	}
	// ...but SIGHUP forces a reload, which succeeds once the file is fixed
	// even with the same size and time.
	touch("users:\n  - access_key: a\n    secret_key: XXXXXXXXX\n    buckets:\n      photos: read-write\n", base.Add(time.Second))
	if !rl.check(true) || len(got) != 2 {
		t.Fatal("forced reload of a fixed file not applied")
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if rl.check(false) || len(got) != 2 {
		t.Error("a removed file changed the configuration")
	}
}

// TestWatch checks the loop: a signal reloads, and it returns
// when its context ends.
func TestWatch(t *testing.T) {
	path := writeFile(t, "users:\n  - access_key: a\n    secret_key: s1\n")
	applied := make(chan *proxy.AuthConfig, 1)
	rl := newAuthReloader(path, func(a *proxy.AuthConfig) { applied <- a },
		slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	hup := make(chan os.Signal, 1)
	done := make(chan struct{})
	go func() { watch(ctx, hup, nil, rl); close(done) }()
	hup <- os.Interrupt // any signal value: the channel is what matters
	if a := <-applied; a.Users() != 1 {
		t.Errorf("reloaded %d users, want 1", a.Users())
	}
	cancel()
	<-done
}
