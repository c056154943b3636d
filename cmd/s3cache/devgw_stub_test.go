//go:build !dev

package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestDevNeedsTag: without the build tag dev, -dev fails at once and says
// how to get a binary that has the backend.
func TestDevNeedsTag(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), []string{"-dev", "-listen", "127.0.0.1:0"}, func(string) string { return "" }, &stdout, &stderr)
	if !errors.Is(err, errNoDevBackend) {
		t.Fatalf("run -dev: %v, want errNoDevBackend", err)
	}
	if !strings.Contains(err.Error(), "go run -tags dev ./cmd/s3cache -dev") {
		t.Errorf("run -dev: %q does not say how to run with the backend", err)
	}
}
