package sigv4

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

const (
	algorithm        = "AWS4-HMAC-SHA256"
	scopeTerminator  = "aws4_request"
	amzDateLayout    = "20060102T150405Z"
	scopeDateLayout  = "20060102"
	maxPresignExpiry = 604800 // seconds, seven days

	unsignedPayload           = "UNSIGNED-PAYLOAD"
	streamingSigned           = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	streamingSignedTrailer    = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	streamingUnsignedTrailer  = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	emptySHA256               = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	headerAuthorization       = "Authorization"
	headerAmzDate             = "X-Amz-Date"
	headerContentSHA256       = "X-Amz-Content-Sha256"
	headerSecurityToken       = "X-Amz-Security-Token"
	headerDecodedLength       = "X-Amz-Decoded-Content-Length"
	headerTrailer             = "X-Amz-Trailer"
	headerSDKChecksum         = "X-Amz-Sdk-Checksum-Algorithm"
	queryAlgorithm            = "X-Amz-Algorithm"
	queryCredential           = "X-Amz-Credential"
	queryDate                 = "X-Amz-Date"
	queryExpires              = "X-Amz-Expires"
	querySignedHeaders        = "X-Amz-SignedHeaders"
	querySignature            = "X-Amz-Signature"
	querySecurityToken        = "X-Amz-Security-Token"
	queryContentSHA256        = "X-Amz-Content-Sha256"
	maxAuthorizationHeaderLen = 8 << 10
)

// credentialScope is the parsed value of Credential= or X-Amz-Credential:
// AK/YYYYMMDD/region/service/aws4_request.
type credentialScope struct {
	accessKey string
	date      string // YYYYMMDD
	region    string
	service   string
}

// String returns the scope without the access key, as used in the string to
// sign.
func (c credentialScope) String() string {
	return c.date + "/" + c.region + "/" + c.service + "/" + scopeTerminator
}

// parseCredential parses AK/date/region/service/aws4_request. The access key
// may itself contain '/', so the scope is taken from the right.
func parseCredential(s string) (credentialScope, error) {
	var parts [4]string
	rest := s
	for i := 3; i >= 0; i-- {
		j := strings.LastIndexByte(rest, '/')
		if j < 0 {
			return credentialScope{}, fmt.Errorf("sigv4: credential %q: want AK/date/region/service/aws4_request: %w", redactCredential(s), ErrMalformedAuth)
		}
		parts[i] = rest[j+1:]
		rest = rest[:j]
	}
	c := credentialScope{accessKey: rest, date: parts[0], region: parts[1], service: parts[2]}
	switch {
	case c.accessKey == "":
		return credentialScope{}, fmt.Errorf("sigv4: credential has an empty access key: %w", ErrMalformedAuth)
	case parts[3] != scopeTerminator:
		return credentialScope{}, fmt.Errorf("sigv4: credential scope must end in %s: %w", scopeTerminator, ErrMalformedAuth)
	case c.region == "" || c.service == "":
		return credentialScope{}, fmt.Errorf("sigv4: credential scope has an empty region or service: %w", ErrMalformedAuth)
	}
	if err := checkScopeDate(c.date); err != nil {
		return credentialScope{}, err
	}
	return c, nil
}

// redactCredential keeps only the scope of a credential for error messages.
func redactCredential(s string) string {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return "…" + s[i:]
	}
	return "…"
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// checkScopeDate requires the YYYYMMDD of a credential scope to be a
// real date.
func checkScopeDate(s string) error {
	if len(s) != 8 || !allDigits(s) || !realDate(s) {
		return fmt.Errorf("sigv4: credential date %q: %w", s, ErrMalformedAuth)
	}
	return nil
}

// digits returns the number s[a:b] spells; the caller checked they are
// digits.
func digits(s string, a, b int) int {
	n := 0
	for i := a; i < b; i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

// realDate reports whether the digits of s's YYYYMMDD prefix name a day
// of the calendar (February 30th does not).
func realDate(s string) bool {
	year, month, day := digits(s, 0, 4), digits(s, 4, 6), digits(s, 6, 8)
	if month < 1 || month > 12 || day < 1 || day > 31 {
		return false
	}
	// time.Date normalises out-of-range days (February 30th is March
	// 1st); a real date comes back unchanged.
	t := time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC)
	return t.Day() == day
}

// parseAmzDate parses an ISO 8601 basic timestamp, 20060102T150405Z.
func parseAmzDate(s string) (time.Time, error) {
	if len(s) != 16 || s[8] != 'T' || s[15] != 'Z' || !allDigits(s[:8]) || !allDigits(s[9:15]) {
		return time.Time{}, fmt.Errorf("sigv4: date %q is not of the form 20060102T150405Z: %w", s, ErrMalformedAuth)
	}
	if !realDate(s) {
		return time.Time{}, fmt.Errorf("sigv4: date %q: %w", s, ErrMalformedAuth)
	}
	hour, minute, sec := digits(s, 9, 11), digits(s, 11, 13), digits(s, 13, 15)
	if hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, fmt.Errorf("sigv4: date %q: %w", s, ErrMalformedAuth)
	}
	t := time.Date(digits(s, 0, 4), time.Month(digits(s, 4, 6)), digits(s, 6, 8), hour, minute, sec, 0, time.UTC)
	return t, nil
}

// authorization is a parsed AWS4-HMAC-SHA256 Authorization header or
// presigned query.
type authorization struct {
	scope         credentialScope
	signedHeaders string // as sent, ';'-separated lowercase names
	signature     string // 64 lowercase hex digits
}

// parseAuthorization parses
//
//	AWS4-HMAC-SHA256 Credential=AK/date/region/s3/aws4_request, SignedHeaders=a;b, Signature=hex
//
// tolerating any mix of commas and spaces between the three fields.
func parseAuthorization(h string) (authorization, error) {
	if len(h) > maxAuthorizationHeaderLen {
		return authorization{}, fmt.Errorf("sigv4: authorization header too long: %w", ErrMalformedAuth)
	}
	h = strings.TrimSpace(h)
	if strings.HasPrefix(h, "AWS ") {
		return authorization{}, fmt.Errorf("sigv4: authorization header: %w", ErrSignatureV2)
	}
	rest, ok := strings.CutPrefix(h, algorithm)
	if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '\t') {
		alg, _, _ := strings.Cut(h, " ")
		if len(alg) > 32 {
			alg = alg[:32]
		}
		return authorization{}, fmt.Errorf("sigv4: unsupported authorization algorithm %q: %w", alg, ErrMalformedAuth)
	}
	var a authorization
	var credential string
	var haveCred, haveSigned, haveSig bool
	for rest != "" {
		// Skip separators.
		i := 0
		for i < len(rest) && (rest[i] == ' ' || rest[i] == ',' || rest[i] == '\t') {
			i++
		}
		rest = rest[i:]
		if rest == "" {
			break
		}
		j := 0
		for j < len(rest) && rest[j] != ' ' && rest[j] != ',' && rest[j] != '\t' {
			j++
		}
		field := rest[:j]
		rest = rest[j:]
		name, value, ok := strings.Cut(field, "=")
		if !ok {
			return authorization{}, fmt.Errorf("sigv4: authorization field without '=': %w", ErrMalformedAuth)
		}
		var dup bool
		switch name {
		case "Credential":
			dup, haveCred, credential = haveCred, true, value
		case "SignedHeaders":
			dup, haveSigned, a.signedHeaders = haveSigned, true, value
		case "Signature":
			dup, haveSig, a.signature = haveSig, true, value
		default:
			if len(name) > 32 {
				name = name[:32]
			}
			return authorization{}, fmt.Errorf("sigv4: unknown authorization field %q: %w", name, ErrMalformedAuth)
		}
		if dup {
			return authorization{}, fmt.Errorf("sigv4: repeated authorization field %s: %w", name, ErrMalformedAuth)
		}
	}
	if !haveCred || !haveSigned || !haveSig {
		return authorization{}, fmt.Errorf("sigv4: authorization needs Credential, SignedHeaders and Signature: %w", ErrMalformedAuth)
	}
	var err error
	if a.scope, err = parseCredential(credential); err != nil {
		return authorization{}, err
	}
	if err := checkSignedHeaders(a.signedHeaders); err != nil {
		return authorization{}, err
	}
	if err := checkSignature(a.signature); err != nil {
		return authorization{}, err
	}
	return a, nil
}

// checkSignature requires a signature. One of any other form than 64 hex
// digits is taken here and fails the comparison (checkRequestSignature),
// as S3 answers it.
func checkSignature(s string) error {
	if s == "" {
		return fmt.Errorf("sigv4: empty signature: %w", ErrMalformedAuth)
	}
	return nil
}

// checkSignedHeaders requires a non-empty ';'-separated list of lowercase
// header names that includes host.
func checkSignedHeaders(s string) error {
	if s == "" {
		return fmt.Errorf("sigv4: empty SignedHeaders: %w", ErrMalformedAuth)
	}
	host := false
	for name := range strings.SplitSeq(s, ";") {
		if name == "" {
			return fmt.Errorf("sigv4: empty name in SignedHeaders: %w", ErrMalformedAuth)
		}
		for i := 0; i < len(name); i++ {
			c := name[i]
			if c >= 'A' && c <= 'Z' || c <= ' ' || c >= 0x7f || c == ':' {
				return fmt.Errorf("sigv4: SignedHeaders must be lowercase header names: %w", ErrMalformedAuth)
			}
		}
		if name == "host" {
			host = true
		}
	}
	if !host {
		return fmt.Errorf("sigv4: SignedHeaders must include host: %w", ErrMalformedAuth)
	}
	return nil
}

// presignParams are the X-Amz-* parameters of a presigned URL.
type presignParams struct {
	auth    authorization
	date    string
	expires time.Duration
	// contentSHA256 is X-Amz-Content-Sha256 from the query, if any.
	contentSHA256 string
}

// parsePresign extracts and checks the presign parameters from a raw query.
func parsePresign(rawQuery string) (presignParams, error) {
	var alg, cred, date, expires, signed, sig, sha string
	var seen [7]bool
	var dupErr error
	forEachQueryParam(rawQuery, func(name, value string) bool {
		idx := -1
		var dst *string
		switch name {
		case queryAlgorithm:
			idx, dst = 0, &alg
		case queryCredential:
			idx, dst = 1, &cred
		case queryDate:
			idx, dst = 2, &date
		case queryExpires:
			idx, dst = 3, &expires
		case querySignedHeaders:
			idx, dst = 4, &signed
		case querySignature:
			idx, dst = 5, &sig
		case queryContentSHA256:
			idx, dst = 6, &sha
		default:
			return true
		}
		if seen[idx] {
			dupErr = fmt.Errorf("sigv4: repeated query parameter %s: %w", name, ErrMalformedAuth)
			return false
		}
		seen[idx] = true
		*dst = value
		return true
	})
	if dupErr != nil {
		return presignParams{}, dupErr
	}
	for i, name := range [...]string{queryAlgorithm, queryCredential, queryDate, queryExpires, querySignedHeaders, querySignature} {
		if !seen[i] {
			return presignParams{}, fmt.Errorf("sigv4: presigned request lacks %s: %w", name, ErrMalformedAuth)
		}
	}
	if alg != algorithm {
		return presignParams{}, fmt.Errorf("sigv4: unsupported X-Amz-Algorithm %q: %w", alg, ErrMalformedAuth)
	}
	var p presignParams
	var err error
	if p.auth.scope, err = parseCredential(cred); err != nil {
		return presignParams{}, err
	}
	p.auth.signedHeaders = signed
	if err := checkSignedHeaders(signed); err != nil {
		return presignParams{}, err
	}
	p.auth.signature = sig
	if err := checkSignature(sig); err != nil {
		return presignParams{}, err
	}
	p.date = date
	if _, err := parseAmzDate(date); err != nil {
		return presignParams{}, err
	}
	n, err := strconv.ParseInt(expires, 10, 64)
	if err == nil && n == 0 && allDigits(expires) {
		// Valid for no time at all: expired, as S3 answers it.
		return presignParams{}, fmt.Errorf("sigv4: X-Amz-Expires is 0: %w", ErrRequestExpired)
	}
	if err != nil || n < 1 || n > maxPresignExpiry || !allDigits(expires) {
		return presignParams{}, fmt.Errorf("sigv4: X-Amz-Expires %q must be 1..%d: %w", expires, maxPresignExpiry, ErrMalformedAuth)
	}
	p.expires = time.Duration(n) * time.Second
	if seen[6] {
		p.contentSHA256 = sha
	}
	return p, nil
}
