package sigv4

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// signedName is a header signed: its lowercase name and its key in the
// request's Header (several keys may share a lowercase name).
type signedName struct{ lower, key string }

// signHeaders signs out for the backend at time at, with the payload hash
// hash already in its X-Amz-Content-Sha256 header, as the AWS SDK's
// signer does with URI path escaping disabled: it sets X-Amz-Date and
// Authorization, strips a default port from the host, and rewrites the
// query in its canonical form, so that what is sent is what was signed.
// Signed are host, content-length when the body has one, and every
// header but unsignableHeaders. It returns what a signed-chunk body chains
// from: the signing key, the credential scope and the hex signature.
func (t *Transport) signHeaders(out *http.Request, hash, region string, at time.Time) (key *signingKey, scope, seed string) {
	host := out.Host
	if host == "" {
		host = out.URL.Host
	}
	if h, port, ok := strings.Cut(host, ":"); ok && !strings.Contains(port, ":") && !strings.HasPrefix(host, "[") &&
		(port == "80" && strings.EqualFold(out.URL.Scheme, "http") || port == "443" && strings.EqualFold(out.URL.Scheme, "https")) {
		host = h
	}
	out.Host = host
	amzDate := amzTime(at)
	out.Header[headerAmzDate] = []string{amzDate}
	date := amzDate[:8]

	var stack [16]signedName
	names := stack[:0]
	names = append(names, signedName{"host", ""})
	if out.ContentLength > 0 {
		names = append(names, signedName{"content-length", ""})
	}
	for k := range out.Header {
		lower := lowerName(k)
		if unsignableLower[lower] || lower == "host" { // net/http sends the request's Host, not a Host header
			continue
		}
		names = append(names, signedName{lower, k})
	}
	// By name, and keys that share one in the order net/http writes them.
	slices.SortFunc(names, func(a, b signedName) int {
		if c := strings.Compare(a.lower, b.lower); c != 0 {
			return c
		}
		return strings.Compare(a.key, b.key)
	})

	bp := canonicalBufPool.Get().(*[]byte)
	b := (*bp)[:0]
	b = append(b, out.Method...)
	b = append(b, '\n')
	path := out.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	b = append(b, path...)
	b = append(b, '\n')
	q := len(b)
	b = appendCanonicalQuery(b, out.URL.RawQuery, false)
	if query := b[q:]; string(query) != out.URL.RawQuery {
		out.URL.RawQuery = string(query)
	}
	b = append(b, '\n')
	for i, n := range names {
		if i == 0 || names[i-1].lower != n.lower {
			if i > 0 {
				b = append(b, '\n')
			}
			b = append(b, n.lower...)
			b = append(b, ':')
		} else {
			b = append(b, ',')
		}
		switch n.lower {
		case "host":
			b = appendHeaderValue(b, host)
			continue
		case "content-length":
			b = strconv.AppendInt(b, out.ContentLength, 10)
			continue
		}
		for j, v := range out.Header[n.key] {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendHeaderValue(b, v)
		}
	}
	b = append(b, '\n', '\n')
	s := len(b)
	for i, n := range names {
		if i > 0 && names[i-1].lower == n.lower {
			continue
		}
		if i > 0 {
			b = append(b, ';')
		}
		b = append(b, n.lower...)
	}
	signedHeaders := b[s:]
	b = append(b, '\n')
	b = append(b, hash...)
	sum := sha256.Sum256(b)

	// The string to sign goes after the signed header names, which the
	// Authorization header still needs.
	sts := len(b)
	b = appendStringToSign(b, amzDate, date, region, "s3", sum)
	key = t.keys.key(t.SecretKey, date, region, "s3")
	var mac [sha256.Size]byte
	sig := key.sign(mac[:0], b[sts:])
	scope = date + "/" + region + "/s3/" + scopeTerminator

	var auth strings.Builder
	auth.Grow(len(algorithm) + len(t.AccessKey) + len(scope) + len(signedHeaders) + 2*sha256.Size + 40)
	auth.WriteString(algorithm)
	auth.WriteString(" Credential=")
	auth.WriteString(t.AccessKey)
	auth.WriteByte('/')
	auth.WriteString(scope)
	auth.WriteString(", SignedHeaders=")
	auth.Write(signedHeaders)
	auth.WriteString(", Signature=")
	var hexSig [2 * sha256.Size]byte
	hex.Encode(hexSig[:], sig)
	auth.Write(hexSig[:])
	a := auth.String()
	out.Header[headerAuthorization] = []string{a}
	seed = a[len(a)-len(hexSig):]
	putCanonicalBuf(bp, b)
	return key, scope, seed
}

// unsignableLower is unsignableHeaders by lowercase name.
var unsignableLower = func() map[string]bool {
	m := make(map[string]bool, len(unsignableHeaders))
	for k := range unsignableHeaders {
		m[strings.ToLower(k)] = true
	}
	return m
}()

// amzTime formats t (UTC) as X-Amz-Date does, 20060102T150405Z.
func amzTime(t time.Time) string {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	var b [16]byte
	put := func(i, v, n int) {
		for j := i + n - 1; j >= i; j-- {
			b[j] = byte('0' + v%10)
			v /= 10
		}
	}
	put(0, y, 4)
	put(4, int(mo), 2)
	put(6, d, 2)
	b[8] = 'T'
	put(9, h, 2)
	put(11, mi, 2)
	put(13, s, 2)
	b[15] = 'Z'
	return string(b[:])
}

// lowerName is strings.ToLower without an allocation for the headers
// backend requests carry most.
func lowerName(k string) string {
	switch k {
	case "X-Amz-Date":
		return "x-amz-date"
	case "X-Amz-Content-Sha256":
		return "x-amz-content-sha256"
	case "X-Amz-Decoded-Content-Length":
		return "x-amz-decoded-content-length"
	case "X-Amz-Trailer":
		return "x-amz-trailer"
	case "X-Amz-Sdk-Checksum-Algorithm":
		return "x-amz-sdk-checksum-algorithm"
	case "Content-Encoding":
		return "content-encoding"
	case "Content-Type":
		return "content-type"
	case "Content-Md5":
		return "content-md5"
	case "Range":
		return "range"
	case "If-Match":
		return "if-match"
	case "If-None-Match":
		return "if-none-match"
	case "If-Modified-Since":
		return "if-modified-since"
	case "If-Unmodified-Since":
		return "if-unmodified-since"
	case "User-Agent":
		return "user-agent"
	case "Accept-Encoding":
		return "accept-encoding"
	case "Content-Length":
		return "content-length"
	case "Expect":
		return "expect"
	}
	return strings.ToLower(k)
}
