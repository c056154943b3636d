package proxy

import (
	"net/http"
	"time"

	"github.com/s3cache/s3cache/cache"
	"github.com/s3cache/s3cache/proxy/internal/zcodec"
)

// newEntry returns the cache entry of a complete body with header (as
// storedHeader copies it) and lifetime ttl: compressed when CACHE_COMPRESS
// is zstd and zcodec.Encode finds that it pays, else holding body as it is.
func (p *Proxy) newEntry(header http.Header, body []byte, ttl time.Duration) *cache.Entry {
	e := &cache.Entry{Header: header, Body: body, TTL: ttl}
	if p.cfg.CacheCompress == "zstd" {
		if stored, ok := zcodec.Encode(header, body); ok {
			e.Body, e.DecodedLen = stored, len(body)
		}
	}
	return e
}

// renewedEntry returns a new entry holding what e holds, body encoded or
// not, with lifetime ttl: the entry of a revalidated object.
func renewedEntry(e *cache.Entry, ttl time.Duration) *cache.Entry {
	return &cache.Entry{Header: e.Header, Body: e.Body, DecodedLen: e.DecodedLen, TTL: ttl}
}
