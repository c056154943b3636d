package cache

import (
	"errors"
	"fmt"
	"time"
)

// ErrInvalidConfig is wrapped by every error [Config.Validate] returns.
var ErrInvalidConfig = errors.New("invalid config")

// DefaultCleanupInterval is the sweep interval used when
// [Config.CleanupInterval] is zero.
const DefaultCleanupInterval = time.Minute

// Config configures a [Cache]. The zero Config is not valid: MaxBytes and TTL
// must be set. A Config is a plain value; it is safe to share once filled in.
type Config struct {
	// MaxBytes is the budget, in bytes of cost (see [Entry]), of everything
	// the cache holds at once. It must be greater than zero. An entry whose
	// cost alone exceeds it is never stored.
	MaxBytes int64

	// TTL is how long an entry is served after it was committed. It must be
	// greater than zero.
	TTL time.Duration

	// Retain is how long an expired entry is kept after its TTL so that it
	// can be revalidated with the backend (and refreshed without moving the
	// body) or served stale while the backend fails; see [Cache.GetExpired].
	// Get never returns an expired entry, whatever Retain is. If zero,
	// expired entries are dropped at once. It must not be negative.
	Retain time.Duration

	// CleanupInterval is how often expired entries are swept out of memory.
	// Expired entries are never served whatever its value; it only decides
	// how soon their memory comes back. It is rounded up to whole seconds.
	// If zero, DefaultCleanupInterval is used. It must not be negative.
	CleanupInterval time.Duration

	// Now returns the current time. It is used to stamp and to check entry
	// lifetimes. If nil, time.Now is used. It must be safe for concurrent use.
	Now func() time.Time
}

// Validate reports every problem of c, each wrapping [ErrInvalidConfig].
// It returns nil if c can be passed to [New].
func (c Config) Validate() error {
	var errs []error
	if c.MaxBytes <= 0 {
		errs = append(errs, fmt.Errorf("cache: MaxBytes must be > 0, got %d: %w", c.MaxBytes, ErrInvalidConfig))
	}
	if c.TTL <= 0 {
		errs = append(errs, fmt.Errorf("cache: TTL must be > 0, got %v: %w", c.TTL, ErrInvalidConfig))
	}
	if c.Retain < 0 {
		errs = append(errs, fmt.Errorf("cache: Retain must not be negative, got %v: %w", c.Retain, ErrInvalidConfig))
	}
	if c.CleanupInterval < 0 {
		errs = append(errs, fmt.Errorf("cache: CleanupInterval must not be negative, got %v: %w", c.CleanupInterval, ErrInvalidConfig))
	}
	return errors.Join(errs...)
}

// withDefaults returns c with every unset optional field filled in. It is the
// only place defaults are applied.
func (c Config) withDefaults() Config {
	if c.CleanupInterval == 0 {
		c.CleanupInterval = DefaultCleanupInterval
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// cleanupSeconds maps CleanupInterval to ristretto's whole-second ticker
// setting: rounded up, at least one.
func (c Config) cleanupSeconds() int64 {
	s := int64((c.CleanupInterval + time.Second - 1) / time.Second)
	return max(s, 1)
}

// numCounters sizes ristretto's admission sketch: about ten counters per
// 4 KiB of budget, clamped to [1e4, 1e7].
func (c Config) numCounters() int64 {
	return min(max(10*(c.MaxBytes/4096), 1e4), 1e7)
}
