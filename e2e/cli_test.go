package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAWSCLI drives the proxy with the aws CLI: mb, cp up, ls, cp down,
// rm; the bytes round-trip.
func TestAWSCLI(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	e := h.endpoint()
	dir := t.TempDir()
	bucket := bucketName(t)
	src, dst := filepath.Join(dir, "src.bin"), filepath.Join(dir, "dst.bin")
	data := randomBytes(t, 300<<10)
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	url := "s3://" + bucket + "/dir/file.bin"

	steps := []struct {
		name  string
		args  []string
		check func(t *testing.T, out string)
	}{
		{name: "mb", args: []string{"s3", "mb", "s3://" + bucket}},
		{name: "cp up", args: []string{"s3", "cp", "--no-progress", src, url}},
		{name: "ls", args: []string{"s3", "ls", "--recursive", "s3://" + bucket}, check: func(t *testing.T, out string) {
			if !strings.Contains(out, "dir/file.bin") {
				t.Errorf("ls output %q does not list dir/file.bin", out)
			}
		}},
		{name: "cp down", args: []string{"s3", "cp", "--no-progress", url, dst}, check: func(t *testing.T, _ string) {
			got, err := os.ReadFile(dst)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Errorf("downloaded %d bytes differ from the %d uploaded", len(got), len(data))
			}
		}},
		{name: "rm", args: []string{"s3", "rm", url}},
		{name: "ls after rm", args: []string{"s3", "ls", "--recursive", "s3://" + bucket}, check: func(t *testing.T, out string) {
			if strings.Contains(out, "file.bin") {
				t.Errorf("ls after rm still lists the object: %q", out)
			}
		}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			out, err := awsCLI(t, e, s.args...)
			if err != nil && s.name != "ls after rm" { // ls of an empty bucket exits 1
				t.Fatal(err)
			}
			if s.check != nil {
				s.check(t, out)
			}
		})
	}
}
