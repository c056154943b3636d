package cache

import (
	"os/exec"
	"strings"
	"testing"
)

func TestKeyDistinct(t *testing.T) {
	type triple struct{ bucket, key, version string }
	tests := []struct {
		name string
		a, b triple
	}{
		{name: "version vs current", a: triple{"b", "k", ""}, b: triple{"b", "k", "v1"}},
		{name: "bucket vs key boundary", a: triple{"ab", "c", ""}, b: triple{"a", "bc", ""}},
		{name: "NUL in key vs version", a: triple{"b", "a\x00", "x"}, b: triple{"b", "a", "\x00x"}},
		{name: "NUL in bucket", a: triple{"a\x00", "k", ""}, b: triple{"a", "\x00k", ""}},
		{name: "digits after bucket", a: triple{"b1", "k", ""}, b: triple{"b", "k", "1"}},
		{name: "version vs key suffix", a: triple{"b", "kv", ""}, b: triple{"b", "k", "v"}},
		{name: "empty key", a: triple{"b", "", "v"}, b: triple{"b", "v", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ka := Key(tt.a.bucket, tt.a.key, tt.a.version)
			kb := Key(tt.b.bucket, tt.b.key, tt.b.version)
			if ka == kb {
				t.Errorf("Key(%q) == Key(%q) == %q, want distinct", tt.a, tt.b, ka)
			}
			if again := Key(tt.a.bucket, tt.a.key, tt.a.version); again != ka {
				t.Errorf("Key(%q) = %q then %q, want stable", tt.a, ka, again)
			}
		})
	}
}

// TestImports keeps the package a leaf: no net/http, nothing from this module.
func TestImports(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go tool not found: %v", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for dep := range strings.FieldsSeq(string(out)) {
		if dep == "net/http" || (strings.HasPrefix(dep, "github.com/s3cache/s3cache/") && dep != "github.com/s3cache/s3cache/cache") {
			t.Errorf("cache depends on %s", dep)
		}
	}
}
