package proxy

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsPointDown enforces the dependency direction
// cmd → proxy → {proxy/internal/..., sigv4, cache}: the leaf packages
// import neither proxy nor each other, cache knows nothing of HTTP,
// proxy/internal/s3api and proxy/internal/yamlfile import no package of
// the module, proxy/internal/identity none but those two, and nothing
// under proxy/internal imports proxy (or cmd).
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

	for _, leaf := range []string{"proxy/internal/s3api", "proxy/internal/yamlfile"} {
		t.Run(leaf+" is a leaf", func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", mod+leaf).Output()
			if err != nil {
				t.Fatalf("go list -deps %s: %v", leaf, err)
			}
			for _, dep := range strings.Fields(string(out)) {
				if strings.HasPrefix(dep, mod) && dep != mod+leaf {
					t.Errorf("%s imports %s", leaf, dep)
				}
			}
		})
	}

	t.Run("proxy/internal/identity imports only leaves", func(t *testing.T) {
		const pkg = mod + "proxy/internal/identity"
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			switch dep {
			case pkg, mod + "proxy/internal/s3api", mod + "proxy/internal/yamlfile":
			default:
				if strings.HasPrefix(dep, mod) {
					t.Errorf("proxy/internal/identity imports %s", dep)
				}
			}
		}
	})

	out, err := exec.Command("go", "list", mod+"proxy/internal/...").Output()
	if err != nil {
		t.Fatalf("go list proxy/internal/...: %v", err)
	}
	internal := strings.Fields(string(out))
	if len(internal) == 0 {
		t.Fatal("go list found no package under proxy/internal")
	}
	for _, pkg := range internal {
		t.Run(strings.TrimPrefix(pkg, mod), func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", pkg).Output()
			if err != nil {
				t.Fatalf("go list -deps %s: %v", pkg, err)
			}
			for _, dep := range strings.Fields(string(out)) {
				if dep == mod+"proxy" || strings.HasPrefix(dep, mod+"cmd") {
					t.Errorf("%s imports %s", pkg, dep)
				}
			}
		})
	}
}
