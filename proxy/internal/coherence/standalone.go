package coherence

import (
	"context"
	"net/http"
	"time"

	"github.com/s3cache/s3cache/cache"
)

// Standalone is the coherence of a proxy without Redis: there are no other
// replicas to tell or hear from, so its methods do nothing and a fill
// keeps its local ticket. The zero value is ready and safe for concurrent
// use.
type Standalone struct{}

// Settle returns true: there are no invalidations to wait for.
func (Standalone) Settle() bool { return true }

// Confirm returns t as it is, and the zero Stamp.
func (Standalone) Confirm(_ context.Context, t cache.Ticket, _, _ string) (cache.Ticket, Stamp) {
	return t, Stamp{}
}

// BeginWrite returns the zero Write.
func (Standalone) BeginWrite(context.Context, string, []string) Write { return Write{} }

// BeginBucketWrite returns the zero Write.
func (Standalone) BeginBucketWrite(context.Context, string) Write { return Write{} }

// Purge does nothing.
func (Standalone) Purge(context.Context, Purge) {}

// State returns "": there is no Redis to report on.
func (Standalone) State() string { return "" }

// Close does nothing.
func (Standalone) Close() {}

// NoSharedTier is the shared tier of a proxy without one: every miss goes
// to the backend. The zero value is ready and safe for concurrent use.
type NoSharedTier struct{}

// Obtain returns nothing and no lock.
func (NoSharedTier) Obtain(context.Context, Stamp, string, string, string) (http.Header, []byte, string) {
	return nil, nil, ""
}

// Store does nothing.
func (NoSharedTier) Store(context.Context, Stamp, string, string, string, http.Header, []byte, time.Duration, string) {
}

// Release does nothing.
func (NoSharedTier) Release(context.Context, string, string, string, string) {}
