package main

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// runVersion is `s3cache version`: it prints the version and takes no
// arguments.
func runVersion(args []string, stdout io.Writer) error {
	if len(args) > 0 {
		return errors.New("version: takes no arguments")
	}
	info, ok := debug.ReadBuildInfo()
	return writeVersion(stdout, info, ok)
}

// writeVersion prints the module version, the VCS revision and time when
// the build recorded them, and the Go version and platform. ok is false
// when the binary carries no build information.
func writeVersion(w io.Writer, info *debug.BuildInfo, ok bool) error {
	version, goVersion := "(unknown)", runtime.Version()
	var revision, modified, time string
	if ok {
		if info.Main.Version != "" {
			version = info.Main.Version
		}
		if info.GoVersion != "" {
			goVersion = info.GoVersion
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.time":
				time = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					modified = " (modified)"
				}
			}
		}
	}
	out := "s3cache " + version + "\n"
	if revision != "" {
		out += "  revision " + revision + modified + "\n"
	}
	if time != "" {
		out += "  time     " + time + "\n"
	}
	out += fmt.Sprintf("  go       %s %s/%s\n", goVersion, runtime.GOOS, runtime.GOARCH)
	_, err := io.WriteString(w, out)
	return err
}
