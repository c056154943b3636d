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

// SplitKey returns the bucket, version ID and object key a [Key],
// [MetaKey], [BlockKey] or [PartKey] was built from; ok is false if cacheKey is none
// of them.
func SplitKey(cacheKey string) (bucket, versionID, key string, ok bool) {
	p, ok := ParseKey(cacheKey)
	return p.Bucket, p.VersionID, p.Key, ok
}

// KeyKind says what a cache key names.
type KeyKind uint8

const (
	// KindObject is a whole object version, from [Key].
	KindObject KeyKind = iota
	// KindMeta is the description of an object version cached in blocks
	// (its headers and size, no body), from [MetaKey].
	KindMeta
	// KindBlock is one aligned block of an object version cached in
	// blocks, from [BlockKey].
	KindBlock
	// KindPart is the description of one part of an object version, as
	// a GET with partNumber answers it (headers, no body), from [PartKey].
	KindPart
)

// Prefixes of the keys that are not [Key]s. A Key starts with a decimal
// digit, so neither can begin one.
const (
	metaPrefix  = 'm'
	blockPrefix = 'b'
	partPrefix  = 'p'
)

// MetaKey returns the cache key of the description of an object version
// that is cached in blocks: bucket, object key and versionID as for [Key].
// It never equals a Key or a BlockKey. It is safe for concurrent use.
func MetaKey(bucket, key, versionID string) string {
	return string(metaPrefix) + Key(bucket, key, versionID)
}

// BlockKey returns the cache key of block index (counted from 0) of an
// object version whose ETag is etag. Blocks of two ETags of the same
// object never share a key, so blocks of two versions cannot be mixed. It
// never equals a Key or a MetaKey. It is safe for concurrent use.
func BlockKey(bucket, key, versionID, etag string, index int64) string {
	var num [20]byte
	var b strings.Builder
	b.Grow(2*len(num) + len(etag) + len(bucket) + len(key) + len(versionID) + 2*len(num))
	b.WriteByte(blockPrefix)
	b.Write(strconv.AppendInt(num[:0], index, 10))
	b.WriteByte(0)
	b.Write(strconv.AppendInt(num[:0], int64(len(etag)), 10))
	b.WriteByte(0)
	b.WriteString(etag)
	b.WriteString(Key(bucket, key, versionID))
	return b.String()
}

// PartKey returns the cache key of the description of part number part
// of an object version. It never equals a key of another kind. It is safe
// for concurrent use.
func PartKey(bucket, key, versionID string, part int) string {
	var num [20]byte
	var b strings.Builder
	b.Grow(len(num) + len(bucket) + len(key) + len(versionID) + 2*len(num) + 2)
	b.WriteByte(partPrefix)
	b.Write(strconv.AppendInt(num[:0], int64(part), 10))
	b.WriteByte(0)
	b.WriteString(Key(bucket, key, versionID))
	return b.String()
}

// KeyParts is what a cache key was built from. The zero KeyParts is the
// current version of an empty key in an empty bucket.
type KeyParts struct {
	Kind      KeyKind
	Bucket    string
	VersionID string
	Key       string
	ETag      string // KindBlock only
	Block     int64  // KindBlock: the block's index; KindPart: the part number
}

// ParseKey returns what a [Key], [MetaKey], [BlockKey] or [PartKey] was built from;
// ok is false if cacheKey is none of them.
func ParseKey(cacheKey string) (parts KeyParts, ok bool) {
	rest := cacheKey
	// field cuts a decimal number and a NUL from rest.
	number := func() (int, bool) {
		i := strings.IndexByte(rest, 0)
		if i <= 0 {
			return 0, false
		}
		n, err := strconv.Atoi(rest[:i])
		if err != nil || n < 0 || strconv.Itoa(n) != rest[:i] {
			return 0, false
		}
		rest = rest[i+1:]
		return n, true
	}
	// field cuts a length-prefixed string from rest.
	field := func() (string, bool) {
		n, ok := number()
		if !ok || n > len(rest) {
			return "", false
		}
		v := rest[:n]
		rest = rest[n:]
		return v, true
	}
	if rest != "" {
		switch rest[0] {
		case metaPrefix:
			parts.Kind, rest = KindMeta, rest[1:]
		case partPrefix:
			parts.Kind, rest = KindPart, rest[1:]
			n, ok := number()
			if !ok {
				return KeyParts{}, false
			}
			parts.Block = int64(n)
		case blockPrefix:
			parts.Kind, rest = KindBlock, rest[1:]
			n, ok := number()
			if !ok {
				return KeyParts{}, false
			}
			parts.Block = int64(n)
			if parts.ETag, ok = field(); !ok {
				return KeyParts{}, false
			}
		}
	}
	if parts.Bucket, ok = field(); !ok {
		return KeyParts{}, false
	}
	if parts.VersionID, ok = field(); !ok {
		return KeyParts{}, false
	}
	parts.Key = rest
	return parts, true
}
