package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"hash"
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
	keys map[signingKeyID]*signingKey
}

// signingKey is a derived SigV4 signing key with a pool of HMACs keyed
// with it: a request's signature then costs the hashing of its string to
// sign, not the key's inner and outer pads again and an HMAC's
// allocations.
type signingKey struct {
	key  []byte // must not be modified
	macs sync.Pool
}

func newSigningKey(key []byte) *signingKey {
	k := &signingKey{key: key}
	k.macs.New = func() any {
		m := hmac.New(sha256.New, key)
		// The first Reset keeps the padded key's hash states, which every
		// later Reset restores instead of hashing the pads again.
		m.Reset()
		return m
	}
	return k
}

// sign appends HMAC-SHA256(key, msg) to dst.
func (k *signingKey) sign(dst, msg []byte) []byte {
	m := k.macs.Get().(hash.Hash)
	m.Write(msg)
	dst = m.Sum(dst)
	m.Reset()
	k.macs.Put(m)
	return dst
}

// key returns the signing key for secret on date (YYYYMMDD) in region and
// service.
func (c *signingKeyCache) key(secret, date, region, service string) *signingKey {
	id := signingKeyID{secret, date, region, service}
	c.mu.RLock()
	k, ok := c.keys[id]
	c.mu.RUnlock()
	if ok {
		return k
	}
	k = newSigningKey(deriveSigningKey(secret, date, region, service))
	c.mu.Lock()
	if c.keys == nil || len(c.keys) >= maxCachedKeys {
		c.keys = make(map[signingKeyID]*signingKey)
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
