package sigv4

// EscapePath encodes a decoded URL path the way S3 signs it: every byte but
// the unreserved characters (A-Z a-z 0-9 - _ . ~) and '/' becomes %XX. Set
// it as an outbound URL's RawPath so that the signer and the wire see the
// same bytes. It is safe for concurrent use.
func EscapePath(path string) string {
	return string(appendEncoded(make([]byte, 0, len(path)+16), path, true))
}
