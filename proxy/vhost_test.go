package proxy

import (
	"strings"
	"testing"

	"github.com/s3cache/s3cache/proxy/internal/s3api"
)

func TestVhostBucket(t *testing.T) {
	domains := parseDomains([]string{" s3.example.test ", ".cache.local.", ""})
	tests := []struct {
		host   string
		bucket string
		ok     bool
	}{
		{"photos.s3.example.test", "photos", true},
		{"photos.s3.example.test:8080", "photos", true},
		{"PHOTOS.S3.Example.Test", "photos", true},
		{"objects.s3.example.test", "objects", true},
		{"my.dotted.bucket.s3.example.test", "my.dotted.bucket", true},
		{"logs.cache.local", "logs", true},
		{"photos.s3.example.test.", "photos", true},
		{"s3.example.test", "", false},         // the domain itself: path style
		{"s3.example.test:8080", "", false},    // likewise
		{"127.0.0.1:8080", "", false},          // not under a domain
		{"photos.other.test", "", false},       // likewise
		{"xs3.example.test", "", false},        // a suffix, not a subdomain
		{"ab.s3.example.test", "", true},       // too short a bucket name
		{"Bad_Name.s3.example.test", "", true}, // not a bucket name
		{".s3.example.test", "", false},
		{"[::1]:8080", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			bucket, ok := vhostBucket(tt.host, domains)
			if bucket != tt.bucket || ok != tt.ok {
				t.Errorf("vhostBucket(%q) = %q, %v; want %q, %v", tt.host, bucket, ok, tt.bucket, tt.ok)
			}
		})
	}
	if b, ok := vhostBucket("photos.s3.example.test", nil); b != "" || ok {
		t.Errorf("without domains: %q, %v; want path style", b, ok)
	}
}

// FuzzVhostBucket: any Host header resolves without panicking, and a bucket
// it returns is a valid bucket name under one of the domains.
func FuzzVhostBucket(f *testing.F) {
	for _, s := range []string{"photos.s3.example.test", "s3.example.test:80", "a.b.c.s3.example.test.", "[::1]:1", "x..s3.example.test", ""} {
		f.Add(s)
	}
	domains := []string{"s3.example.test"}
	f.Fuzz(func(t *testing.T, host string) {
		bucket, ok := vhostBucket(host, domains)
		if bucket != "" && (!ok || !s3api.ValidBucketName(bucket)) {
			t.Fatalf("vhostBucket(%q) = %q, %v", host, bucket, ok)
		}
		if bucket != "" && !strings.Contains(strings.ToLower(host), bucket) {
			t.Fatalf("vhostBucket(%q) = %q, not from the host", host, bucket)
		}
	})
}
