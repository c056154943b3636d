package proxy

import (
	"net/http"
	"strconv"
	"strings"
)

// maxKeyBytes is the longest object key S3 takes: 1024 bytes of UTF-8.
const maxKeyBytes = 1024

// errKeyTooLong is S3's answer to a longer key; its body carries Size and
// MaxSizeAllowed (see checkKey).
var errKeyTooLong = newError(http.StatusBadRequest, "KeyTooLongError", "Your key is too long.")

// errKeyNUL refuses a key with a NUL character. AWS documents no such
// rule, but no backend s3cache fronts can keep one: file-system backends
// (versitygw's posix) cannot name a file with it, MinIO refuses it, and
// an XML 1.0 listing cannot carry it. Other control characters are
// accepted, as by AWS, and left to the backend.
var errKeyNUL = newError(http.StatusBadRequest, "InvalidArgument", "Object keys must not contain the NUL character.")

// checkKey returns the error S3 gives a request for key, or nil: the same
// rules on both front ends and for every operation that names a key, so
// that a key no backend keeps is refused by the proxy in S3's words
// rather than by the backend in its own (a 500 for a NUL on versitygw),
// or not at all (a 502 when the backend closes on an /objects upload it
// refused). key is "" for requests that name none.
func checkKey(key string) error {
	switch {
	case len(key) > maxKeyBytes:
		return withFields(errKeyTooLong, field("Size", strconv.Itoa(len(key))), field("MaxSizeAllowed", strconv.Itoa(maxKeyBytes)))
	case strings.IndexByte(key, 0) >= 0:
		return errKeyNUL
	}
	return nil
}
