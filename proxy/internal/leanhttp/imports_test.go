package leanhttp

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsNothingOfTheProject checks that the server stands alone:
// none of its dependencies is a package of this module.
func TestImportsNothingOfTheProject(t *testing.T) {
	const mod = "github.com/s3cache/s3cache/"
	const self = mod + "proxy/internal/leanhttp"
	out, err := exec.Command("go", "list", "-deps", self).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", self, err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep != self && strings.HasPrefix(dep, mod) {
			t.Errorf("leanhttp imports %s", dep)
		}
	}
}
