//go:build dev

package main

import "testing"

func TestContentEncodingWithoutChunked(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"aws-chunked", ""},
		{"AWS-Chunked", ""},
		{"gzip", "gzip"},
		{"aws-chunked,gzip", "gzip"},
		{"aws-chunked, gzip, br", "gzip,br"},
		{"gzip,aws-chunked", "gzip"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := contentEncodingWithoutChunked(tc.in); got != tc.want {
				t.Errorf("contentEncodingWithoutChunked(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
