package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultMaxSkew is the clock skew a [Verifier] allows for header
// authentication when MaxSkew is zero.
const DefaultMaxSkew = 15 * time.Minute

// Verifier checks AWS Signature Version 4 on inbound requests, both
// Authorization-header and presigned-URL forms, including aws-chunked
// streaming uploads.
//
// The zero value verifies nothing: with a nil Credentials every signed
// request fails with [ErrInvalidAccessKeyID]. The other fields have the
// documented defaults when zero. A Verifier is safe for concurrent use once
// its fields are no longer being changed, and must not be copied after first
// use.
type Verifier struct {
	// Credentials looks up the secret of an access key. If nil, every signed
	// request fails with ErrInvalidAccessKeyID.
	Credentials CredentialStore
	// Region is the region the credential scope must name. If empty,
	// "us-east-1" is required.
	Region string
	// Service is the service the credential scope must name. If empty, "s3".
	Service string
	// Now returns the current time. If nil, time.Now is used.
	Now func() time.Time
	// MaxSkew is the largest allowed difference between the request time and
	// Now for header authentication, and how far in the future a presigned
	// request may be dated. If zero, DefaultMaxSkew (15 minutes).
	MaxSkew time.Duration

	memo presignMemo // verified presigned requests
}

// Result describes a request that passed verification. Verify fills every
// field; a zero Result (nil Body) is never returned. The fields are
// read-only afterwards; Body is not safe for concurrent Reads, though Close
// may be called concurrently with Read.
type Result struct {
	// AccessKey is the access key that signed the request.
	AccessKey string
	// Presigned is true when the request was authenticated by query
	// parameters rather than the Authorization header.
	Presigned bool
	// Body is what the backend must receive: the decoded payload, which
	// verifies itself while being read. Its final byte is returned only
	// together with io.EOF once everything was verified; on failure Read
	// returns an error wrapping one of the sentinel errors, never io.EOF.
	// It is http.NoBody when the request has no payload. Closing it closes
	// the request's body.
	Body io.ReadCloser
	// ContentLength is the length of Body, or -1 when unknown (only when the
	// client sent neither a length nor aws-chunked framing).
	ContentLength int64
	// PayloadHash is the payload hash for the outbound signature: the
	// client's hex SHA-256 when it signed the payload, else
	// "UNSIGNED-PAYLOAD".
	PayloadHash string
	// Trailers are the checksum trailers that follow an aws-chunked
	// payload; their values are known once Body returned io.EOF. Nil when
	// the client sent none. Pass them on with [WithTrailers].
	Trailers *Trailers
}

func (v *Verifier) region() string {
	if v.Region == "" {
		return "us-east-1"
	}
	return v.Region
}

func (v *Verifier) service() string {
	if v.Service == "" {
		return "s3"
	}
	return v.Service
}

func (v *Verifier) now() time.Time {
	if v.Now == nil {
		return time.Now()
	}
	return v.Now()
}

func (v *Verifier) maxSkew() time.Duration {
	if v.MaxSkew <= 0 {
		return DefaultMaxSkew
	}
	return v.MaxSkew
}

// queryAuthKind scans a raw query for the parameters that decide how a
// request is authenticated.
type queryAuthKind struct {
	presign, token, v2Key, v2Sig bool
}

func scanQuery(raw string) queryAuthKind {
	var k queryAuthKind
	if raw == "" {
		return k
	}
	forEachQueryParam(raw, func(name, _ string) bool {
		switch name {
		case queryAlgorithm, queryCredential, querySignature:
			k.presign = true
		case querySecurityToken:
			k.token = true
		case "AWSAccessKeyId":
			k.v2Key = true
		case "Signature":
			k.v2Sig = true
		}
		return true
	})
	return k
}

// Verify authenticates r by its Authorization header or presigned query
// and returns what to forward. It reads none of the body: payload checks
// happen while Result.Body is read. Errors wrap the package's sentinel
// errors. Verify does not modify r.
func (v *Verifier) Verify(r *http.Request) (*Result, error) {
	authz := r.Header.Values(headerAuthorization)
	raw := ""
	if r.URL != nil {
		raw = r.URL.RawQuery
	}
	if len(authz) == 0 && raw != "" && len(r.Header.Values(headerSecurityToken)) == 0 {
		// A presigned URL verified before: the memo holds only queries
		// that passed the checks below, so they need not run again.
		if res, ok, err := v.rememberedPresigned(r, raw); ok {
			return res, err
		}
	}
	q := scanQuery(raw)
	if len(r.Header.Values(headerSecurityToken)) > 0 || q.token {
		return nil, fmt.Errorf("sigv4: X-Amz-Security-Token present: %w", ErrSecurityToken)
	}
	switch {
	case len(authz) > 1:
		return nil, fmt.Errorf("sigv4: repeated Authorization header: %w", ErrMalformedAuth)
	case len(authz) == 1 && q.presign:
		return nil, fmt.Errorf("sigv4: both Authorization header and presigned query: %w", ErrMalformedAuth)
	case len(authz) == 1:
		return v.verifyHeader(r, authz[0])
	case q.presign:
		return v.verifyPresigned(r, raw)
	case q.v2Key && q.v2Sig:
		return nil, fmt.Errorf("sigv4: presigned query: %w", ErrSignatureV2)
	}
	return nil, ErrMissingAuth
}

// lookup finds the secret of accessKey and checks the scope against the
// Verifier's region and service and the request's date (YYYYMMDD).
// presigned says the scope came from the query, for a *RegionError.
func (v *Verifier) lookup(scope credentialScope, day string, presigned bool) (string, error) {
	if v.Credentials == nil {
		return "", fmt.Errorf("sigv4: no credentials configured: %w", ErrInvalidAccessKeyID)
	}
	secret, ok := v.Credentials.SecretKey(scope.accessKey)
	if !ok {
		return "", fmt.Errorf("sigv4: unknown access key: %w", ErrInvalidAccessKeyID)
	}
	if scope.region != v.region() {
		return "", &RegionError{Got: scope.region, Want: v.region(), Presigned: presigned}
	}
	if scope.service != v.service() {
		return "", fmt.Errorf("sigv4: credential scope names service %q, want %q: %w", scope.service, v.service(), ErrMalformedAuth)
	}
	if scope.date != day {
		return "", fmt.Errorf("sigv4: credential date %s is not the request date %s: %w", scope.date, day, ErrMalformedAuth)
	}
	return secret, nil
}

// requestDate returns the request's X-Amz-Date, or its Date header in the
// same ISO 8601 basic form.
func requestDate(r *http.Request) (string, time.Time, error) {
	if d := r.Header.Get(headerAmzDate); d != "" {
		t, err := parseAmzDate(d)
		return d, t, err
	}
	if d := r.Header.Get("Date"); d != "" {
		t, err := http.ParseTime(d)
		if err != nil {
			return "", time.Time{}, fmt.Errorf("sigv4: Date header %q: %w", d, ErrMalformedAuth)
		}
		t = t.UTC()
		return t.Format(amzDateLayout), t, nil
	}
	return "", time.Time{}, fmt.Errorf("sigv4: missing X-Amz-Date: %w", ErrMalformedAuth)
}

func bodyEmpty(r *http.Request) bool {
	return r.Body == nil || r.Body == http.NoBody || (r.ContentLength == 0 && len(r.TransferEncoding) == 0)
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if fromHex(s[i]) < 0 {
			return false
		}
	}
	return true
}

func (v *Verifier) verifyHeader(r *http.Request, authz string) (*Result, error) {
	a, err := parseAuthorization(authz)
	if err != nil {
		return nil, err
	}
	amzDate, t, err := requestDate(r)
	if err != nil {
		return nil, err
	}
	secret, err := v.lookup(a.scope, amzDate[:8], false)
	if err != nil {
		return nil, err
	}
	if d := v.now().Sub(t); d > v.maxSkew() || d < -v.maxSkew() {
		return nil, fmt.Errorf("sigv4: request time %s is %s from server time: %w", amzDate, d.Round(time.Second), ErrTimeSkewed)
	}
	hash := strings.TrimSpace(r.Header.Get(headerContentSHA256))
	canonHash := hash
	if hash == "" {
		if !bodyEmpty(r) {
			return nil, fmt.Errorf("sigv4: missing x-amz-content-sha256 on a request with a body: %w", ErrMissingContentSHA256)
		}
		canonHash = emptySHA256
	}
	key := defaultKeys.key(secret, a.scope.date, a.scope.region, a.scope.service)
	sig, err := checkRequestSignature(r, key, a, amzDate, canonHash, false)
	if err != nil {
		return nil, err
	}
	// Only a streaming payload, its chunks signed from this signature on,
	// needs the scope and the seed.
	var scope, seed string
	if isStreaming(hash) {
		scope, seed = a.scope.String(), hex.EncodeToString(sig[:])
	}
	res, err := v.payload(r, hash, key.key, amzDate, scope, seed)
	if err != nil {
		return nil, err
	}
	res.AccessKey = a.scope.accessKey
	return res, nil
}

func (v *Verifier) verifyPresigned(r *http.Request, raw string) (*Result, error) {
	p, err := parsePresign(raw)
	if err != nil {
		return nil, presignError(err)
	}
	secret, err := v.lookup(p.auth.scope, p.date[:8], true)
	if err != nil {
		return nil, presignError(err)
	}
	t, _ := parseAmzDate(p.date) // checked by parsePresign
	now := v.now()
	if t.Sub(now) > v.maxSkew() {
		return nil, fmt.Errorf("sigv4: presigned request dated %s is in the future: %w", p.date, ErrTimeSkewed)
	}
	if now.After(t.Add(p.expires)) {
		return nil, fmt.Errorf("sigv4: presigned request expired at %s: %w", t.Add(p.expires).Format(time.RFC3339), ErrRequestExpired)
	}
	hashHeader := strings.TrimSpace(r.Header.Get(headerContentSHA256))
	hash := hashHeader
	if hash == "" {
		hash = p.contentSHA256
	}
	if hash == "" {
		hash = unsignedPayload
	}
	if hash != unsignedPayload && !isHex64(hash) {
		return nil, fmt.Errorf("sigv4: presigned request with x-amz-content-sha256 %q: %w", truncate(hash), ErrUnsupportedPayload)
	}
	key := defaultKeys.key(secret, p.auth.scope.date, p.auth.scope.region, p.auth.scope.service)
	if _, err := checkRequestSignature(r, key, p.auth, p.date, hash, true); err != nil {
		return nil, err
	}
	e := &presignVerified{
		accessKey: p.auth.scope.accessKey, secret: secret, amzDate: p.date, date: t, expires: p.expires,
		scope: p.auth.scope.String(), hash: hash, key: key.key,
		signedHeaders: p.auth.signedHeaders, headers: appendCanonicalHeaders(nil, r, p.auth.signedHeaders),
	}
	bp := canonicalBufPool.Get().(*[]byte)
	defer canonicalBufPool.Put(bp)
	*bp = appendPresignMemoKey((*bp)[:0], r, raw, hashHeader)
	v.memo.put(*bp, e)
	return v.presignedResult(r, e)
}

// rememberedPresigned verifies r by the memo: ok is false when r is not a
// presigned request the memo holds, and the full verification must run.
func (v *Verifier) rememberedPresigned(r *http.Request, raw string) (res *Result, ok bool, err error) {
	bp := canonicalBufPool.Get().(*[]byte)
	defer canonicalBufPool.Put(bp)
	*bp = appendPresignMemoKey((*bp)[:0], r, raw, strings.TrimSpace(r.Header.Get(headerContentSHA256)))
	e := v.memo.get(*bp)
	if e == nil {
		return nil, false, nil
	}
	return v.verifyMemo(r, e)
}

// verifyMemo completes the verification of a request whose signed bytes
// match a remembered verified one: same secret for its key, same signed
// header values, and the time checks. ok is false when the full
// verification must run instead.
func (v *Verifier) verifyMemo(r *http.Request, e *presignVerified) (res *Result, ok bool, err error) {
	if v.Credentials == nil {
		return nil, false, nil
	}
	if secret, found := v.Credentials.SecretKey(e.accessKey); !found || secret != e.secret {
		return nil, false, nil
	}
	var scratch [256]byte
	if !e.matchHeaders(r, scratch[:0]) {
		return nil, false, nil
	}
	now := v.now()
	if e.date.Sub(now) > v.maxSkew() {
		return nil, true, fmt.Errorf("sigv4: presigned request dated %s is in the future: %w", e.amzDate, ErrTimeSkewed)
	}
	if now.After(e.date.Add(e.expires)) {
		return nil, true, fmt.Errorf("sigv4: presigned request expired at %s: %w", e.date.Add(e.expires).Format(time.RFC3339), ErrRequestExpired)
	}
	res, err = v.presignedResult(r, e)
	return res, true, err
}

// presignedResult builds the Result of a verified presigned request.
func (v *Verifier) presignedResult(r *http.Request, e *presignVerified) (*Result, error) {
	res, err := v.payload(r, e.hash, e.key, e.amzDate, e.scope, "")
	if err != nil {
		return nil, err
	}
	res.AccessKey = e.accessKey
	res.Presigned = true
	return res, nil
}

// isStreaming reports whether a payload hash names an aws-chunked body.
func isStreaming(hash string) bool {
	return hash == streamingSigned || hash == streamingSignedTrailer || hash == streamingUnsignedTrailer
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

var canonicalBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// putCanonicalBuf returns b, grown from *bp, to canonicalBufPool, unless
// a request with huge headers grew it past 64 KiB.
func putCanonicalBuf(bp *[]byte, b []byte) {
	if cap(b) <= 64<<10 {
		*bp = b
		canonicalBufPool.Put(bp)
	}
}

// appendStringToSign appends the SigV4 string to sign of a canonical
// request hashing to canonHash, made at amzDate in the scope of date,
// region and service.
func appendStringToSign(b []byte, amzDate, date, region, service string, canonHash [sha256.Size]byte) []byte {
	b = append(b, algorithm...)
	b = append(b, '\n')
	b = append(b, amzDate...)
	b = append(b, '\n')
	b = append(b, date...)
	b = append(b, '/')
	b = append(b, region...)
	b = append(b, '/')
	b = append(b, service...)
	b = append(b, "/"+scopeTerminator+"\n"...)
	return hex.AppendEncode(b, canonHash[:])
}

// checkRequestSignature computes the signature of r and compares it with
// the one the client sent. It returns the signature (lowercase hex), the
// seed of a chunked upload. A mismatch is a *SignatureError.
func checkRequestSignature(r *http.Request, key *signingKey, a authorization, amzDate, payloadHash string, presigned bool) (sig [sha256.Size]byte, err error) {
	bp := canonicalBufPool.Get().(*[]byte)
	b := appendCanonicalRequest((*bp)[:0], r, a, payloadHash, presigned)
	canonHash := sha256.Sum256(b)

	b = appendStringToSign(b[:0], amzDate, a.scope.date, a.scope.region, a.scope.service, canonHash)
	want := key.sign(sig[:0], b)

	// A signature that is not 64 hex digits cannot match: S3, MinIO and
	// versitygw answer it as they answer a wrong one. Its length is
	// checked first: hex.Decode writes what it decodes into got.
	var got [sha256.Size]byte
	match := len(a.signature) == hex.EncodedLen(sha256.Size)
	if match {
		_, herr := hex.Decode(got[:], []byte(a.signature))
		match = herr == nil && hmac.Equal(got[:], want)
	}
	if !match {
		serr := &SignatureError{
			AccessKey:        a.scope.accessKey,
			StringToSign:     string(b),
			CanonicalRequest: string(appendCanonicalRequest(nil, r, a, payloadHash, presigned)),
			Provided:         a.signature,
		}
		putCanonicalBuf(bp, b)
		return sig, serr
	}
	putCanonicalBuf(bp, b)
	return sig, nil
}

// appendCanonicalRequest appends r's canonical request, as the client
// signed it by a, to b.
func appendCanonicalRequest(b []byte, r *http.Request, a authorization, payloadHash string, presigned bool) []byte {
	b = append(b, r.Method...)
	b = append(b, '\n')
	b = appendCanonicalURI(b, requestPath(r))
	b = append(b, '\n')
	if r.URL != nil {
		b = appendCanonicalQuery(b, r.URL.RawQuery, presigned)
	}
	b = append(b, '\n')
	b = appendCanonicalHeaders(b, r, a.signedHeaders)
	b = append(b, '\n')
	b = append(b, a.signedHeaders...)
	b = append(b, '\n')
	return append(b, payloadHash...)
}

// payload builds the Result body for the x-amz-content-sha256 value hash
// (already covered by the verified signature).
func (v *Verifier) payload(r *http.Request, hash string, key []byte, amzDate, scope, seed string) (*Result, error) {
	empty := bodyEmpty(r)
	body := r.Body
	if empty {
		body = http.NoBody
	}
	length := r.ContentLength
	if empty {
		length = 0
	}
	switch {
	case hash == "":
		// Header auth without x-amz-content-sha256 on an empty body.
		return &Result{Body: http.NoBody, ContentLength: 0, PayloadHash: emptySHA256}, nil
	case hash == unsignedPayload:
		return &Result{Body: body, ContentLength: length, PayloadHash: unsignedPayload}, nil
	case isHex64(hash):
		lower := strings.ToLower(hash)
		var want [sha256.Size]byte
		hex.Decode(want[:], []byte(lower)) // isHex64 checked
		if empty {
			if lower != emptySHA256 {
				return nil, fmt.Errorf("sigv4: empty body: %w", ErrContentSHA256Mismatch)
			}
			return &Result{Body: http.NoBody, ContentLength: 0, PayloadHash: lower}, nil
		}
		return &Result{Body: newSHA256Body(body, want, length), ContentLength: length, PayloadHash: lower}, nil
	case isStreaming(hash):
		if seed == "" && hash != streamingUnsignedTrailer {
			return nil, fmt.Errorf("sigv4: %s needs header authentication: %w", hash, ErrUnsupportedPayload)
		}
		dl := r.Header.Get(headerDecodedLength)
		if dl == "" {
			return nil, fmt.Errorf("sigv4: %s: %w", hash, ErrMissingContentLength)
		}
		n, err := strconv.ParseInt(dl, 10, 64)
		if err != nil || n < 0 || !allDigits(dl) {
			return nil, fmt.Errorf("sigv4: x-amz-decoded-content-length %q: %w", truncate(dl), ErrMissingContentLength)
		}
		cfg := chunkedConfig{
			decodedLength: n,
			signed:        hash != streamingUnsignedTrailer,
			trailer:       hash != streamingSigned,
			signedTrailer: hash == streamingSignedTrailer,
			key:           key,
			amzDate:       amzDate,
			scope:         scope,
			seed:          seed,
		}
		if cfg.trailer {
			names, err := parseTrailerNames(r.Header.Values(headerTrailer))
			if err != nil {
				return nil, err
			}
			cfg.trailers = names
		}
		var trailers *Trailers
		if len(cfg.trailers) > 0 {
			trailers = &Trailers{names: cfg.trailers}
			cfg.verified = trailers
		}
		src := r.Body
		if src == nil {
			src = http.NoBody
		}
		return &Result{Body: newChunkedBody(src, cfg), ContentLength: n, PayloadHash: unsignedPayload, Trailers: trailers}, nil
	}
	return nil, fmt.Errorf("sigv4: x-amz-content-sha256 %q: %w", truncate(hash), ErrUnsupportedPayload)
}

// presignError marks a malformed presigned query as such
// (ErrMalformedPresign); other errors are returned as they are.
func presignError(err error) error {
	if errors.Is(err, ErrMalformedAuth) {
		return fmt.Errorf("%w: %w", ErrMalformedPresign, err)
	}
	return err
}
