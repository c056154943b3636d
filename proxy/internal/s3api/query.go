package s3api

import (
	"errors"
	"net/url"
	"strings"
)

// ParseQuery parses a raw query as url.ParseQuery does, except that
// presign parameters (X-Amz-*, but for X-Amz-Checksum-Mode, which a GET
// may carry there instead of the header) are skipped: the verifier reads them from
// the raw query and nothing after it needs them, so a presigned GET with
// no other parameter allocates nothing here. The map is nil when no other
// parameter is present. An error reports the first malformed parameter;
// the parameters before and after it are still returned.
func ParseQuery(raw string) (url.Values, error) {
	var q url.Values
	var first error
	for raw != "" {
		var seg string
		seg, raw, _ = strings.Cut(raw, "&")
		if seg == "" {
			continue
		}
		if strings.HasPrefix(seg, "X-Amz-") && !isChecksumMode(seg) {
			continue
		}
		if strings.Contains(seg, ";") {
			first = cmpErr(first, errors.New("invalid semicolon separator in query"))
			continue
		}
		k, v, _ := strings.Cut(seg, "=")
		k, err := url.QueryUnescape(k)
		if err != nil {
			first = cmpErr(first, err)
			continue
		}
		if strings.HasPrefix(k, "X-Amz-") && !isChecksumMode(k) {
			continue
		}
		v, err = url.QueryUnescape(v)
		if err != nil {
			first = cmpErr(first, err)
			continue
		}
		if q == nil {
			q = make(url.Values, 2)
		}
		q[k] = append(q[k], v)
	}
	return q, first
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// isChecksumMode reports whether s starts with the name of the
// X-Amz-Checksum-Mode parameter, which a presigned GET may carry in the
// query instead of the header and which is kept.
func isChecksumMode(s string) bool {
	const name = "X-Amz-Checksum-Mode"
	return len(s) >= len(name) && strings.EqualFold(s[:len(name)], name) && (len(s) == len(name) || s[len(name)] == '=')
}
