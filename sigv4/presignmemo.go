package sigv4

import (
	"bytes"
	"net/http"
	"sync"
	"time"
)

// maxPresignMemo bounds the memo of verified presigned requests; when full
// it is emptied.
const maxPresignMemo = 4096

// presignMemo remembers presigned requests whose signature verified, keyed
// by every byte the signature covers as the client sent it (method, path,
// the whole query including the signature, the payload hash and the signed
// headers' values). The same presigned URL is typically requested many
// times — a link on a page, a player reading a video in ranges — and a
// repeat then skips building and hashing the canonical request. Only the
// signature check is skipped: the credential must still resolve to the
// same secret, and the time checks run on every request.
//
// The zero value is ready to use and safe for concurrent use.
type presignMemo struct {
	mu sync.Mutex
	m  map[string]*presignVerified
}

// presignVerified is what a verified presigned request established.
type presignVerified struct {
	accessKey string
	secret    string // the secret it verified with
	amzDate   string
	date      time.Time
	expires   time.Duration
	scope     string
	hash      string // payload hash
	key       []byte // signing key
	// signedHeaders and headers are the X-Amz-SignedHeaders list and the
	// canonical headers block the signature covered.
	signedHeaders string
	headers       []byte
}

func (m *presignMemo) get(k []byte) *presignVerified {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.m[string(k)]
}

func (m *presignMemo) put(k []byte, e *presignVerified) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil || len(m.m) >= maxPresignMemo {
		m.m = make(map[string]*presignVerified)
	}
	m.m[string(k)] = e
}

// appendPresignMemoKey appends the memo key of r: the method, path, raw
// query (signature included) and payload-hash header as the client sent
// them. The signed headers' values are checked separately against the
// entry (matchHeaders), with the header list the full verification used.
func appendPresignMemoKey(b []byte, r *http.Request, raw, hashHeader string) []byte {
	b = append(b, r.Method...)
	b = append(b, '\n')
	b = append(b, requestPath(r)...)
	b = append(b, '\n')
	b = append(b, raw...)
	b = append(b, '\n')
	return append(b, hashHeader...)
}

// matchHeaders reports whether r carries the signed headers' values the
// entry was verified with; scratch is a buffer to reuse.
func (e *presignVerified) matchHeaders(r *http.Request, scratch []byte) bool {
	return bytes.Equal(appendCanonicalHeaders(scratch[:0], r, e.signedHeaders), e.headers)
}
