package cache

import (
	"strconv"
	"strings"
)

// Key returns the cache key of one version of an object: bucket, object key
// and versionID, where "" names the current version. Distinct triples always
// give distinct keys, whatever bytes they contain (NULs included): bucket and
// versionID are each preceded by their decimal length and a NUL, and the
// object key comes last. Key is
// safe for concurrent use.
//
// Its output is opaque; pass it to [Cache.Commit] and [Cache.Get] together
// with the same bucket and object key.
func Key(bucket, key, versionID string) string {
	var num [20]byte
	var b strings.Builder
	b.Grow(len(bucket) + len(key) + len(versionID) + 2*len(num))
	b.Write(strconv.AppendInt(num[:0], int64(len(bucket)), 10))
	b.WriteByte(0)
	b.WriteString(bucket)
	b.Write(strconv.AppendInt(num[:0], int64(len(versionID)), 10))
	b.WriteByte(0)
	b.WriteString(versionID)
	b.WriteString(key)
	return b.String()
}

// SplitKey returns the bucket, version ID and object key a [Key] was built
// from; ok is false if cacheKey is not one.
func SplitKey(cacheKey string) (bucket, versionID, key string, ok bool) {
	rest := cacheKey
	field := func() (string, bool) {
		i := strings.IndexByte(rest, 0)
		if i <= 0 {
			return "", false
		}
		n, err := strconv.Atoi(rest[:i])
		if err != nil || n < 0 || n > len(rest)-i-1 || strconv.Itoa(n) != rest[:i] {
			return "", false
		}
		v := rest[i+1 : i+1+n]
		rest = rest[i+1+n:]
		return v, true
	}
	if bucket, ok = field(); !ok {
		return "", "", "", false
	}
	if versionID, ok = field(); !ok {
		return "", "", "", false
	}
	return bucket, versionID, rest, true
}
