package cache

import (
	"sync/atomic"
	"time"
)

// EntryOverhead is the fixed cost, in bytes, charged for every entry on top of
// its body and header bytes. Together with HeaderFieldOverhead it covers
// what an entry holds besides those bytes: the Entry struct (200 bytes),
// ristretto's bookkeeping for the item (190 to 260 bytes: its store map
// slot, policy cost slot, expiry bucket slot and admission timestamp; it
// keeps key hashes, not key strings) and the header map (about 400 bytes
// for its header and first group of eight slots, then about 40 per field
// for the slot, 16 for the value slice and the rounding of the value
// strings, more when it grows past 8 or 14 fields).
//
// The two constants were fitted to heap measurements (Go 1.26, amd64; see
// TestCostMatchesMemory) of entries with 1 to 16 header fields, maps sized
// as the proxy sizes them, and bodies under 256 bytes: the overhead they
// charge stayed between 7% under and 37% over the measured one. The
// previous values, 512 and 64, charged up to 29% too little for entries
// with one field or with maps grown past eight slots. The side index of
// committed keys (for listing them; see [Cache.TopKeys]) added about 190
// bytes per entry (its key, map slot and the entry's key and hit counter):
// 640 became 768. Its lists by generation stripe, which let an
// invalidation free the entries it fences, added the entry's four links:
// 768 became 800.
const EntryOverhead = 800

// HeaderFieldOverhead is the cost, in bytes, charged for each header name on
// top of the bytes of the name and its values; see EntryOverhead.
const HeaderFieldOverhead = 96

// Entry is one cached object response. The zero Entry is an empty body with
// no headers.
//
// An Entry handed to [Cache.Commit] belongs to the cache from then on: neither
// the Entry, its Header map nor its Body may be modified, and it must not be
// committed again. Entries returned by [Cache.Get] are shared by every reader
// and must be treated as read-only; reading them concurrently is safe.
//
// The cost of an entry, counted against [Config.MaxBytes], is
// len(Body) + EntryOverhead + for each header name
// (len(name) + HeaderFieldOverhead + the lengths of its values). For an
// encoded entry (DecodedLen above zero) that is the encoded length: what
// the entry holds, not what it serves.
type Entry struct {
	// Header holds the response headers to replay, keyed by canonical name
	// (the map of an http.Header). Nil means no headers.
	Header map[string][]string

	// Body is the complete object body, or, when DecodedLen is above zero,
	// the complete body encoded by the caller (the proxy compresses with
	// zstd). The cache never looks inside it.
	Body []byte

	// DecodedLen is the length of the object body when Body holds it
	// encoded. Zero means Body is the object body as it is.
	DecodedLen int

	// TTL is the entry's lifetime. If zero, [Config.TTL] is used.
	TTL time.Duration

	// Stored is when the entry was committed, on the cache's clock. Commit
	// sets it; any value set before is overwritten.
	Stored time.Time

	// Expires is Stored plus the entry's TTL. Commit sets it; the entry is not
	// served at or after this instant.
	Expires time.Time

	// ticket is the generation snapshot the entry was filled under.
	ticket Ticket
	// key is the cache key Commit stored the entry under.
	key string
	// links chain the entry into the index's lists of its key stripe and
	// bucket stripe (byKey, byBucket) while the index holds it.
	links [2]link
	// hits counts Gets that returned the entry; Get adds to it with no
	// lookup of its own.
	hits atomic.Uint64
}

// Hits returns how many times [Cache.Get] returned e.
func (e *Entry) Hits() uint64 { return e.hits.Load() }

// Len returns the length of the object body e stands for: DecodedLen when
// Body is encoded, else len(Body).
func (e *Entry) Len() int {
	if e.DecodedLen > 0 {
		return e.DecodedLen
	}
	return len(e.Body)
}

// Encoded reports whether Body holds the object body encoded.
func (e *Entry) Encoded() bool { return e.DecodedLen > 0 }

// saved returns the bytes encoding saves e: DecodedLen - len(Body) for an
// encoded entry, else 0.
func (e *Entry) saved() int64 {
	if e.DecodedLen <= 0 {
		return 0
	}
	return int64(e.DecodedLen) - int64(len(e.Body))
}

// cost returns the bytes e is charged; see Entry.
func (e *Entry) cost() int64 {
	n := int64(EntryOverhead) + int64(len(e.Body))
	for name, values := range e.Header {
		n += int64(len(name)) + HeaderFieldOverhead
		for _, v := range values {
			n += int64(len(v))
		}
	}
	return n
}
