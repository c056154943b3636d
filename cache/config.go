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

// DefaultMeanEntryCost is the mean entry cost assumed when
// [Config.MeanEntryCost] is zero. Replaying Zipf traces of a mix of object
// sizes (85% of 1–64 KiB, 13% of 256 KiB–1 MiB, 2% of 4–16 MiB; see
// BenchmarkHitRatioTuning), a sketch sized for 64 KiB entries served 7 to
// 13 points more of the bytes and 12 to 13 points more of the requests from
// cache than one sized for 4 KiB entries (the sizing before this constant)
// with a budget of 1% of the data, and 2 to 6 and 4 to 16 points more with
// 5%. With objects of 1–16 KiB only it served 3 (1%) to 10 (5%) points
// fewer; set MeanEntryCost for such data.
const DefaultMeanEntryCost = 64 << 10

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

	// MeanEntryCost is the cost (see [Entry]) an entry is expected to have
	// on average, counting the entries a full cache holds. It only sizes the
	// admission policy: ten frequency counters per entry MaxBytes can hold,
	// between 1e4 and 1e7. The counters are halved each time that many
	// accesses have been counted, so a sketch sized for entries much smaller
	// than the real ones remembers so long that the counts of warm objects
	// saturate and admission stops telling them from hot ones, and one sized
	// for much bigger entries forgets before objects come back. Set it when
	// the cached objects are mostly far smaller or larger than the default.
	// If zero, DefaultMeanEntryCost is used. It must not be negative.
	MeanEntryCost int64

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
	if c.MeanEntryCost < 0 {
		errs = append(errs, fmt.Errorf("cache: MeanEntryCost must not be negative, got %d: %w", c.MeanEntryCost, ErrInvalidConfig))
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
	if c.MeanEntryCost == 0 {
		c.MeanEntryCost = DefaultMeanEntryCost
	}
	return c
}

// cleanupSeconds maps CleanupInterval to ristretto's whole-second ticker
// setting: rounded up, at least one.
func (c Config) cleanupSeconds() int64 {
	s := int64((c.CleanupInterval + time.Second - 1) / time.Second)
	return max(s, 1)
}

// numCounters sizes ristretto's admission sketch: ten counters per entry of
// MeanEntryCost that MaxBytes can hold, clamped to [1e4, 1e7]. Ristretto
// advises ten counters per entry a full cache holds.
func (c Config) numCounters() int64 {
	return min(max(10*(c.MaxBytes/c.MeanEntryCost), 1e4), 1e7)
}
