package proxy

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsPointDown enforces the dependency direction
// cmd → proxy → {sigv4, cache}: the leaf packages import neither proxy nor
// each other, and cache knows nothing of HTTP.
func TestImportsPointDown(t *testing.T) {
	const mod = "github.com/s3cache/s3cache/"
	forbidden := map[string][]string{
		"sigv4": {mod + "proxy", mod + "cache", mod + "cmd"},
		"cache": {mod + "proxy", mod + "sigv4", mod + "cmd", "net/http"},
	}
	for pkg, bad := range forbidden {
		t.Run(pkg, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", mod+pkg).Output()
			if err != nil {
				t.Fatalf("go list -deps %s: %v", pkg, err)
			}
			for _, dep := range strings.Fields(string(out)) {
				for _, b := range bad {
					if dep == b || strings.HasPrefix(dep, b+"/") {
						t.Errorf("%s imports %s", pkg, dep)
					}
				}
			}
		})
	}
}
