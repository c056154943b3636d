package cache

import "time"

// EntryOverhead is the fixed cost, in bytes, charged for every entry on top of
// its body and header bytes. It covers the Entry struct (120 bytes with its
// ticket), the header map's own header (about 50 bytes), and ristretto's
// bookkeeping for the item: its store map slot, policy cost slot and expiry
// bucket slot (about 150 bytes; ristretto keeps key hashes, not key strings),
// rounded up generously to 512.
const EntryOverhead = 512

// HeaderFieldOverhead is the cost, in bytes, charged for each header name on
// top of the bytes of the name and its values. It covers the map slot (the
// name's string header and the value slice header) and one value's string
// header.
const HeaderFieldOverhead = 64

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
// (len(name) + HeaderFieldOverhead + the lengths of its values).
type Entry struct {
	// Header holds the response headers to replay, keyed by canonical name
	// (the map of an http.Header). Nil means no headers.
	Header map[string][]string

	// Body is the complete object body.
	Body []byte

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
