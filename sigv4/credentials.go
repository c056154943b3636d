package sigv4

// CredentialStore looks up the secret key of an access key; it is the
// consumer-side interface of [Verifier], which treats a nil store as one that
// knows no keys. Implementations must be safe for concurrent use: a [Verifier] calls SecretKey from every
// request's goroutine.
type CredentialStore interface {
	// SecretKey returns the secret of accessKey, and false when the access
	// key is unknown.
	SecretKey(accessKey string) (secret string, ok bool)
}

// StaticCredentials is a fixed [CredentialStore] mapping access keys to
// secrets. A nil or empty map knows no keys. It is safe for concurrent use as
// long as the map is not modified after it is handed to a [Verifier].
type StaticCredentials map[string]string

// SecretKey implements [CredentialStore].
func (c StaticCredentials) SecretKey(accessKey string) (string, bool) {
	s, ok := c[accessKey]
	return s, ok
}

var _ CredentialStore = StaticCredentials(nil)
