package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"sync"
)

// maxCachedKeys bounds the signing-key cache; when full it is emptied, which
// costs one re-derivation per (secret, day, region, service) in use.
const maxCachedKeys = 1024

type signingKeyID struct {
	secret, date, region, service string
}

// signingKeyCache caches derived SigV4 signing keys. The zero value is ready
// to use and safe for concurrent use.
type signingKeyCache struct {
	mu   sync.RWMutex
	keys map[signingKeyID][]byte
}

// key returns the signing key for secret on date (YYYYMMDD) in region and
// service. The returned slice must not be modified.
func (c *signingKeyCache) key(secret, date, region, service string) []byte {
	id := signingKeyID{secret, date, region, service}
	c.mu.RLock()
	k, ok := c.keys[id]
	c.mu.RUnlock()
	if ok {
		return k
	}
	k = deriveSigningKey(secret, date, region, service)
	c.mu.Lock()
	if c.keys == nil || len(c.keys) >= maxCachedKeys {
		c.keys = make(map[signingKeyID][]byte)
	}
	c.keys[id] = k
	c.mu.Unlock()
	return k
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

// deriveSigningKey computes
// HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request").
func deriveSigningKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, scopeTerminator)
}

// defaultKeys is shared by all Verifiers: keys depend only on their inputs.
var defaultKeys signingKeyCache
