package sigv4

import (
	"net/url"
	"testing"
)

func TestEscapePath(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "/bucket/key.txt", "/bucket/key.txt"},
		{"slashes and dots kept", "/b/a//./../c", "/b/a//./../c"},
		{"reserved", "/b/sp ace+plus%per$cent", "/b/sp%20ace%2Bplus%25per%24cent"},
		{"unicode", "/b/ünï", "/b/%C3%BCn%C3%AF"},
		{"tilde", "/b/~t", "/b/~t"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := EscapePath(tt.in)
			if got != tt.want {
				t.Fatalf("EscapePath(%q) = %q, want %q", tt.in, got, tt.want)
			}
			// Used as RawPath it must be what EscapedPath reports.
			u := &url.URL{Path: tt.in, RawPath: got}
			if e := u.EscapedPath(); e != got {
				t.Errorf("EscapedPath() = %q, want %q", e, got)
			}
		})
	}
}
