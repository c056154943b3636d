package sigv4

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// PostForm holds the fields of a browser POST upload form (an HTML form
// that uploads a file with a signed policy) that authenticate it. Field
// names are matched case-insensitively by the caller. A form signed with
// Signature Version 4 fills Algorithm, Credential, Date and Signature; one
// signed with Version 2 fills AccessKeyID and SignatureV2. The zero value
// is an unsigned form.
type PostForm struct {
	Policy string // the policy field: the base64 policy document, as sent

	Algorithm  string // x-amz-algorithm: AWS4-HMAC-SHA256
	Credential string // x-amz-credential: AK/date/region/s3/aws4_request
	Date       string // x-amz-date: YYYYMMDD'T'HHMMSS'Z'
	Signature  string // x-amz-signature: hex HMAC-SHA256 of Policy

	AccessKeyID string // AWSAccessKeyId (Version 2)
	SignatureV2 string // signature (Version 2): base64 HMAC-SHA1 of Policy
}

// Signed reports whether the form carries any authentication field. An
// unsigned form is an anonymous upload.
func (f *PostForm) Signed() bool {
	return f.Policy != "" || f.Algorithm != "" || f.Credential != "" || f.Signature != "" ||
		f.AccessKeyID != "" || f.SignatureV2 != ""
}

// VerifyPostForm checks the signature of a POST form's policy and returns
// the access key that signed it. It checks only who signed the policy: the
// caller decodes the policy and enforces its expiration and conditions.
//
// Signature Version 2 is accepted here, unlike for other requests: a form
// signs nothing but its policy, whose conditions bind the upload, and
// browser forms made by older SDKs and by S3's own documentation use it.
// Errors wrap the package's sentinel errors: ErrMissingAuth for a form
// without a policy or a signature, ErrMalformedAuth, ErrRegionMismatch,
// ErrInvalidAccessKeyID, ErrSignatureMismatch.
func (v *Verifier) VerifyPostForm(f *PostForm) (accessKey string, err error) {
	v4 := f.Algorithm != "" || f.Credential != "" || f.Signature != "" || f.Date != ""
	v2 := f.AccessKeyID != "" || f.SignatureV2 != ""
	switch {
	case f.Policy == "":
		return "", fmt.Errorf("sigv4: POST form has no policy: %w", ErrMissingAuth)
	case v4 && v2:
		return "", fmt.Errorf("sigv4: POST form signed with both Version 2 and Version 4 fields: %w", ErrMalformedAuth)
	case v4:
		return v.verifyPostV4(f)
	case v2:
		return v.verifyPostV2(f)
	}
	return "", fmt.Errorf("sigv4: POST form has a policy and no signature: %w", ErrMissingAuth)
}

func (v *Verifier) verifyPostV4(f *PostForm) (string, error) {
	switch {
	case f.Signature == "" || f.Credential == "" || f.Date == "":
		return "", fmt.Errorf("sigv4: POST form lacks x-amz-signature, x-amz-credential or x-amz-date: %w", ErrMissingAuth)
	case f.Algorithm != algorithm:
		return "", fmt.Errorf("sigv4: POST form x-amz-algorithm %q, want %s: %w", truncate(f.Algorithm), algorithm, ErrMalformedAuth)
	}
	scope, err := parseCredential(f.Credential)
	if err != nil {
		return "", err
	}
	if _, err := parseAmzDate(f.Date); err != nil {
		return "", err
	}
	secret, err := v.lookup(scope, f.Date[:8], false)
	if err != nil {
		return "", err
	}
	key := defaultKeys.key(secret, scope.date, scope.region, scope.service)
	want := key.sign(nil, []byte(f.Policy))
	got, err := hex.DecodeString(f.Signature)
	if err != nil || subtle.ConstantTimeCompare(got, want) != 1 {
		return "", fmt.Errorf("sigv4: POST form policy signature: %w", ErrSignatureMismatch)
	}
	return scope.accessKey, nil
}

func (v *Verifier) verifyPostV2(f *PostForm) (string, error) {
	if f.AccessKeyID == "" || f.SignatureV2 == "" {
		return "", fmt.Errorf("sigv4: POST form lacks AWSAccessKeyId or signature: %w", ErrMissingAuth)
	}
	if v.Credentials == nil {
		return "", fmt.Errorf("sigv4: no credentials configured: %w", ErrInvalidAccessKeyID)
	}
	secret, ok := v.Credentials.SecretKey(f.AccessKeyID)
	if !ok {
		return "", fmt.Errorf("sigv4: unknown access key: %w", ErrInvalidAccessKeyID)
	}
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(f.Policy))
	got, err := base64.StdEncoding.DecodeString(strings.TrimSpace(f.SignatureV2))
	if err != nil || subtle.ConstantTimeCompare(got, m.Sum(nil)) != 1 {
		return "", fmt.Errorf("sigv4: POST form policy signature (Version 2): %w", ErrSignatureMismatch)
	}
	return f.AccessKeyID, nil
}
