package main

import (
	"bytes"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// TestWriteVersion checks what `s3cache version` prints for builds with
// and without VCS information.
func TestWriteVersion(t *testing.T) {
	platform := runtime.GOOS + "/" + runtime.GOARCH
	tests := []struct {
		name string
		info *debug.BuildInfo
		ok   bool
		want string
	}{
		{name: "release build", ok: true, info: &debug.BuildInfo{
			GoVersion: "go1.26.8",
			Main:      debug.Module{Path: "github.com/s3cache/s3cache", Version: "v1.4.0"},
			Settings: []debug.BuildSetting{
				{Key: "vcs", Value: "git"},
				{Key: "vcs.revision", Value: "72c8279e1f0a2b3c4d5e6f708192a3b4c5d6e7f8"},
				{Key: "vcs.time", Value: "2026-11-25T19:50:05Z"},
				{Key: "vcs.modified", Value: "false"},
			}},
			want: "s3cache v1.4.0\n  revision 72c8279e1f0a2b3c4d5e6f708192a3b4c5d6e7f8\n  time     2026-11-25T19:50:05Z\n  go       go1.26.8 " + platform + "\n"},
		{name: "modified checkout", ok: true, info: &debug.BuildInfo{
			GoVersion: "go1.26.8",
			Main:      debug.Module{Version: "v0.0.0-20261125195005-72c8279e1f0a+dirty"},
			Settings:  []debug.BuildSetting{{Key: "vcs.revision", Value: "72c8279"}, {Key: "vcs.modified", Value: "true"}},
		}, want: "s3cache v0.0.0-20261125195005-72c8279e1f0a+dirty\n  revision 72c8279 (modified)\n  go       go1.26.8 " + platform + "\n"},
		{name: "no VCS", ok: true, info: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			want: "s3cache (devel)\n  go       go1.26.8 " + platform + "\n"},
		{name: "no build information", ok: false,
			want: "s3cache (unknown)\n  go       " + runtime.Version() + " " + platform + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := writeVersion(&b, tt.info, tt.ok); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), tt.want)
			}
		})
	}
}

// TestRunVersion checks that `version` and `-version` print the version
// and start nothing, even with a bad configuration.
func TestRunVersion(t *testing.T) {
	env := map[string]string{"CACHE_TTL": "banana", "LISTEN_ADDR": "192.0.2.1:1"}
	for _, args := range [][]string{{"version"}, {"-version"}} {
		var stdout bytes.Buffer
		if err := run(t.Context(), args, func(k string) string { return env[k] }, &stdout, io.Discard); err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		out := stdout.String()
		if !strings.HasPrefix(out, "s3cache ") || !strings.Contains(out, runtime.Version()) {
			t.Errorf("%q printed %q, want s3cache's version and %s", args, out, runtime.Version())
		}
	}
	if err := run(t.Context(), []string{"version", "extra"}, func(string) string { return "" }, io.Discard, io.Discard); err == nil {
		t.Error("version with an argument: no error")
	}
}
