package sigv4

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
)

const upperHex = "0123456789ABCDEF"

func fromHex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

func unreserved(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~'
}

// appendDecoded percent-decodes s onto dst; with plusSpace, '+' decodes to a
// space (query rules). A '%' not followed by two hex digits is kept as is.
func appendDecoded(dst []byte, s string, plusSpace bool) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%' && i+2 < len(s) && fromHex(s[i+1]) >= 0 && fromHex(s[i+2]) >= 0:
			dst = append(dst, byte(fromHex(s[i+1])<<4|fromHex(s[i+2])))
			i += 2
		case c == '+' && plusSpace:
			dst = append(dst, ' ')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// appendEncoded percent-encodes s onto dst with the AWS rule: everything but
// A-Za-z0-9-_.~ (and '/' when keepSlash) becomes %XX, uppercase.
func appendEncoded[S ~string | ~[]byte](dst []byte, s S, keepSlash bool) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) || (keepSlash && c == '/') {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', upperHex[c>>4], upperHex[c&15])
	}
	return dst
}

// pathIsCanonical reports whether an escaped path holds only unreserved
// characters and '/', so that decoding and re-encoding cannot change it.
func pathIsCanonical(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !unreserved(c) && c != '/' {
			return false
		}
	}
	return true
}

// requestPath returns the path as the client sent it, still escaped.
func requestPath(r *http.Request) string {
	if u := r.RequestURI; u != "" && u[0] == '/' {
		if i := strings.IndexByte(u, '?'); i >= 0 {
			u = u[:i]
		}
		return u
	}
	if r.URL == nil {
		return "/"
	}
	return r.URL.EscapedPath()
}

// appendCanonicalURI appends the S3 canonical URI of an escaped path:
// percent-decoded once and re-encoded with the AWS rule, keeping '/', with no
// normalisation of "//", "." or "..".
func appendCanonicalURI(dst []byte, escapedPath string) []byte {
	if escapedPath == "" {
		return append(dst, '/')
	}
	if pathIsCanonical(escapedPath) {
		return append(dst, escapedPath...)
	}
	var stack [256]byte
	dec := appendDecoded(stack[:0], escapedPath, false)
	return appendEncoded(dst, dec, true)
}

// forEachQueryParam calls fn with every decoded name and value of a raw
// query, split on '&' and at the first '='; '+' decodes to a space. Empty
// segments are skipped. It stops when fn returns false.
func forEachQueryParam(raw string, fn func(name, value string) bool) {
	for raw != "" {
		var seg string
		seg, raw, _ = strings.Cut(raw, "&")
		if seg == "" {
			continue
		}
		name, value, _ := strings.Cut(seg, "=")
		if !fn(decodeQueryComponent(name), decodeQueryComponent(value)) {
			return
		}
	}
}

func decodeQueryComponent(s string) string {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s
	}
	return string(appendDecoded(make([]byte, 0, len(s)), s, true))
}

type queryPair struct{ name, value string }

// appendCanonicalQuery appends the canonical query string of raw: every
// parameter decoded and re-encoded with the AWS rule, sorted by name then
// value, a missing '=' giving "name=". With dropSignature, X-Amz-Signature
// is left out (presigned requests).
func appendCanonicalQuery(dst []byte, raw string, dropSignature bool) []byte {
	if raw == "" {
		return dst
	}
	var stack [16]queryPair
	pairs := stack[:0]
	var scratch []byte
	forEachQueryParam(raw, func(name, value string) bool {
		if dropSignature && name == querySignature {
			return true
		}
		scratch = appendEncoded(scratch[:0], name, false)
		en := string(scratch)
		scratch = appendEncoded(scratch[:0], value, false)
		pairs = append(pairs, queryPair{en, string(scratch)})
		return true
	})
	slices.SortFunc(pairs, func(a, b queryPair) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		return strings.Compare(a.value, b.value)
	})
	for i, p := range pairs {
		if i > 0 {
			dst = append(dst, '&')
		}
		dst = append(dst, p.name...)
		dst = append(dst, '=')
		dst = append(dst, p.value...)
	}
	return dst
}

// appendHeaderValue appends v trimmed, with inner runs of spaces collapsed
// to one.
func appendHeaderValue(dst []byte, v string) []byte {
	v = strings.TrimSpace(v)
	space := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		dst = append(dst, c)
	}
	return dst
}

// appendCanonicalHeaders appends "name:value\n" for every name of the
// ';'-separated signedHeaders, in the order given.
// canonicalName is http.CanonicalHeaderKey without an allocation for the
// headers clients sign most.
func canonicalName(name string) string {
	switch name {
	case "x-amz-date":
		return "X-Amz-Date"
	case "x-amz-content-sha256":
		return "X-Amz-Content-Sha256"
	case "x-amz-decoded-content-length":
		return "X-Amz-Decoded-Content-Length"
	case "x-amz-trailer":
		return "X-Amz-Trailer"
	case "x-amz-checksum-mode":
		return "X-Amz-Checksum-Mode"
	case "x-amz-security-token":
		return "X-Amz-Security-Token"
	case "content-type":
		return "Content-Type"
	case "content-md5":
		return "Content-Md5"
	case "content-encoding":
		return "Content-Encoding"
	case "range":
		return "Range"
	case "amz-sdk-invocation-id":
		return "Amz-Sdk-Invocation-Id"
	case "amz-sdk-request":
		return "Amz-Sdk-Request"
	}
	return http.CanonicalHeaderKey(name)
}

func appendCanonicalHeaders(dst []byte, r *http.Request, signedHeaders string) []byte {
	for name := range strings.SplitSeq(signedHeaders, ";") {
		dst = append(dst, name...)
		dst = append(dst, ':')
		switch name {
		case "host":
			host := r.Host
			if host == "" && r.URL != nil {
				host = r.URL.Host
			}
			dst = appendHeaderValue(dst, host)
			dst = append(dst, '\n')
			continue
		case "content-length":
			if len(r.Header["Content-Length"]) == 0 {
				if r.ContentLength >= 0 {
					dst = strconv.AppendInt(dst, r.ContentLength, 10)
				}
				dst = append(dst, '\n')
				continue
			}
		case "transfer-encoding":
			if len(r.Header["Transfer-Encoding"]) == 0 {
				for i, te := range r.TransferEncoding {
					if i > 0 {
						dst = append(dst, ',')
					}
					dst = appendHeaderValue(dst, te)
				}
				dst = append(dst, '\n')
				continue
			}
		}
		values := r.Header[canonicalName(name)]
		if values == nil {
			values = r.Header[name] // set without canonicalisation
		}
		for i, v := range values {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendHeaderValue(dst, v)
		}
		dst = append(dst, '\n')
	}
	return dst
}
