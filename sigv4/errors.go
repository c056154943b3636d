package sigv4

import (
	"errors"
	"fmt"
)

// Sentinel errors returned (wrapped with detail) by [Verifier.Verify] and by
// the Body of a [Result]. Match them with [errors.Is]; never match error text.
var (
	// ErrMissingAuth means the request carries no signature at all.
	ErrMissingAuth = errors.New("sigv4: request is not signed")
	// ErrMalformedAuth means the Authorization header or the presigned query
	// is syntactically wrong or names an unsupported algorithm or scope.
	ErrMalformedAuth = errors.New("sigv4: malformed authorization")
	// ErrMalformedPresign is ErrMalformedAuth in a presigned URL's query
	// parameters; errors.Is matches both.
	ErrMalformedPresign = fmt.Errorf("sigv4: malformed presigned query: %w", ErrMalformedAuth)
	// ErrInvalidAccessKeyID means the access key is not known.
	ErrInvalidAccessKeyID = errors.New("sigv4: invalid access key id")
	// ErrSignatureMismatch means a request, chunk or trailer signature is wrong.
	ErrSignatureMismatch = errors.New("sigv4: signature does not match")
	// ErrRequestExpired means a presigned request is past its expiry.
	ErrRequestExpired = errors.New("sigv4: request has expired")
	// ErrTimeSkewed means the request time is too far from the server's clock.
	ErrTimeSkewed = errors.New("sigv4: request time too skewed")
	// ErrRegionMismatch means the credential scope names another region.
	ErrRegionMismatch = errors.New("sigv4: credential scope region mismatch")
	// ErrSignatureV2 means the request is signed with Signature Version 2,
	// which is refused.
	ErrSignatureV2 = errors.New("sigv4: signature version 2 is not supported")
	// ErrSecurityToken means the request carries X-Amz-Security-Token;
	// temporary credentials are not supported.
	ErrSecurityToken = errors.New("sigv4: security tokens are not supported")
	// ErrMalformedChunk means the aws-chunked framing of the body is wrong.
	ErrMalformedChunk = errors.New("sigv4: malformed aws-chunked body")
	// ErrIncompleteBody means the body is shorter than declared.
	ErrIncompleteBody = errors.New("sigv4: body shorter than declared")
	// ErrBodyTooLong means the body is longer than declared.
	ErrBodyTooLong = errors.New("sigv4: body longer than declared")
	// ErrContentSHA256Mismatch means the payload does not hash to the
	// X-Amz-Content-Sha256 the client signed.
	ErrContentSHA256Mismatch = errors.New("sigv4: x-amz-content-sha256 does not match payload")
	// ErrChecksumMismatch means a trailing checksum does not match the payload.
	ErrChecksumMismatch = errors.New("sigv4: checksum does not match payload")
	// ErrMissingContentLength means an aws-chunked body came without
	// X-Amz-Decoded-Content-Length.
	ErrMissingContentLength = errors.New("sigv4: missing x-amz-decoded-content-length")
	// ErrMissingContentSHA256 means a header-signed request with a body
	// came without X-Amz-Content-Sha256, which S3 requires.
	ErrMissingContentSHA256 = errors.New("sigv4: missing x-amz-content-sha256")
	// ErrUnsupportedPayload means the X-Amz-Content-Sha256 value is not one
	// this package can verify.
	ErrUnsupportedPayload = errors.New("sigv4: unsupported x-amz-content-sha256")
)

// RegionError is the error of a credential scope that names another region
// than the Verifier's. It wraps [ErrRegionMismatch]; find it with
// [errors.As] to tell the client which region to sign for, as S3 does.
type RegionError struct {
	Got  string // the region the scope names, as sent
	Want string // the region the Verifier requires
	// Presigned says the scope came from X-Amz-Credential in the query,
	// not from the Authorization header.
	Presigned bool
}

func (e *RegionError) Error() string {
	return fmt.Sprintf("sigv4: credential scope names region %q, want %q", truncate(e.Got), e.Want)
}

// Unwrap returns ErrRegionMismatch.
func (e *RegionError) Unwrap() error { return ErrRegionMismatch }

// A SignatureError is ErrSignatureMismatch for a request's signature
// (errors.Is matches it), with what the verifier signed, which S3 sends
// back in its SignatureDoesNotMatch for the client to compare with its
// own. Error says none of it: the canonical request holds a presigned
// URL's query values, which are not to be logged.
type SignatureError struct {
	AccessKey        string // the credential's access key
	StringToSign     string
	CanonicalRequest string
	Provided         string // the signature the request carried
}

func (e *SignatureError) Error() string { return "sigv4: request signature does not match" }

// Unwrap returns ErrSignatureMismatch.
func (e *SignatureError) Unwrap() error { return ErrSignatureMismatch }
