package s3api

import (
	"net/http"
	"strconv"
	"strings"
)

// ValidBucketName reports whether name follows the S3 bucket naming rules:
// 3 to 63 characters of lower-case letters, digits, dots and hyphens,
// beginning and ending with a letter or digit, no "..", and not an IP
// address. Names that break them can never exist on the backend.
func ValidBucketName(name string) bool {
	if len(name) < 3 || len(name) > 63 {
		return false
	}
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
	if !alnum(name[0]) || !alnum(name[len(name)-1]) {
		return false
	}
	dots, digitsOnly := 0, true
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '.':
			dots++
			if name[i-1] == '.' {
				return false
			}
		case c == '-':
			digitsOnly = false
		case alnum(c):
			if c > '9' {
				digitsOnly = false
			}
		default:
			return false
		}
	}
	return !(dots == 3 && digitsOnly) // 192.168.5.4
}

// MaxKeyBytes is the longest object key S3 takes: 1024 bytes of UTF-8.
const MaxKeyBytes = 1024

// errKeyTooLong is S3's answer to a longer key; its body carries Size and
// MaxSizeAllowed (see CheckKey).
var errKeyTooLong = New(http.StatusBadRequest, "KeyTooLongError", "Your key is too long.")

// errKeyNUL refuses a key with a NUL character. AWS documents no such
// rule, but no backend s3cache fronts can keep one: file-system backends
// (versitygw's posix) cannot name a file with it, MinIO refuses it, and
// an XML 1.0 listing cannot carry it. Other control characters are
// accepted, as by AWS, and left to the backend.
var errKeyNUL = New(http.StatusBadRequest, "InvalidArgument", "Object keys must not contain the NUL character.")

// CheckKey returns the error S3 gives a request for key, or nil: the same
// rules on both front ends and for every operation that names a key, so
// that a key no backend keeps is refused by the proxy in S3's words
// rather than by the backend in its own (a 500 for a NUL on versitygw),
// or not at all (a 502 when the backend closes on an /objects upload it
// refused). key is "" for requests that name none. The error is an
// *Error.
func CheckKey(key string) error {
	switch {
	case len(key) > MaxKeyBytes:
		return errKeyTooLong.withFields(field("Size", strconv.Itoa(len(key))), field("MaxSizeAllowed", strconv.Itoa(MaxKeyBytes)))
	case strings.IndexByte(key, 0) >= 0:
		return errKeyNUL
	}
	return nil
}

// ErrKeyLeavesBucket refuses a key whose dot segments climb above its
// bucket ("../other-bucket/key"): a backend or load balancer that resolves
// dot segments would act on another bucket than the one authorized. See
// KeyLeavesBucket.
var ErrKeyLeavesBucket = New(http.StatusBadRequest, "InvalidArgument",
	"The object key has more \"..\" segments than segments before them: resolved, it would name another bucket.")

// KeyLeavesBucket reports whether key, its "." and ".." segments resolved
// as a URL path would be, climbs above its bucket. Keys with dot segments
// that stay inside it ("a/../b") are valid S3 keys and are kept as sent.
func KeyLeavesBucket(key string) bool {
	if !strings.Contains(key, "..") {
		return false
	}
	depth := 0
	for seg := range strings.SplitSeq(key, "/") {
		switch seg {
		case "..":
			if depth--; depth < 0 {
				return true
			}
		case ".", "":
		default:
			depth++
		}
	}
	return false
}
