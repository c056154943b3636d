package s3api

import (
	"errors"
	"strings"
	"testing"
)

func TestKeyLeavesBucket(t *testing.T) {
	tests := []struct {
		key  string
		want bool
	}{
		{"a/b", false},
		{"a/../b", false},
		{"a/./b", false},
		{"a//b", false},
		{"..a/b..", false},
		{"a/b/../../c", false},
		{"../b", true},
		{"..", true},
		{"a/../../b", true},
		{"./../b", true},
		{"a//../../b", true},
	}
	for _, tt := range tests {
		if got := KeyLeavesBucket(tt.key); got != tt.want {
			t.Errorf("KeyLeavesBucket(%q) = %v, want %v", tt.key, got, tt.want)
		}
	}
}

func TestValidBucketName(t *testing.T) {
	tests := map[string]bool{
		"abc": true, "my-bucket.v2": true, "0ab": true, "a-b-c-1": true,
		"ab": false, "Abc": false, "-abc": false, "abc-": false, "a..b": false,
		"a_b_c": false, "192.168.5.4": false, "a b": false,
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa":  true,
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa": false,
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			if got := ValidBucketName(name); got != want {
				t.Errorf("ValidBucketName(%q) = %v, want %v", name, got, want)
			}
		})
	}
}

func TestCheckKey(t *testing.T) {
	tests := []struct {
		name, key, code string
	}{
		{"none", "", ""},
		{"at the limit", strings.Repeat("k", MaxKeyBytes), ""},
		{"too long", strings.Repeat("k", MaxKeyBytes+1), "KeyTooLongError"},
		{"NUL", "a\x00b", "InvalidArgument"},
		{"other control character", "a\x01b", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckKey(tt.key)
			var e *Error
			switch {
			case tt.code == "" && err != nil:
				t.Errorf("CheckKey = %v, want nil", err)
			case tt.code != "" && (!errors.As(err, &e) || e.Code != tt.code):
				t.Errorf("CheckKey = %v, want %s", err, tt.code)
			}
		})
	}
}
