package cache

import (
	"errors"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		wantErrs int // number of problems reported; 0 means valid
	}{
		{name: "minimal", cfg: Config{MaxBytes: 1, TTL: time.Nanosecond}},
		{name: "full", cfg: Config{MaxBytes: 1 << 30, TTL: time.Hour, CleanupInterval: time.Second, Now: time.Now}},
		{name: "zero", cfg: Config{}, wantErrs: 2},
		{name: "zero MaxBytes", cfg: Config{TTL: time.Minute}, wantErrs: 1},
		{name: "negative MaxBytes", cfg: Config{MaxBytes: -1, TTL: time.Minute}, wantErrs: 1},
		{name: "zero TTL", cfg: Config{MaxBytes: 1}, wantErrs: 1},
		{name: "negative TTL", cfg: Config{MaxBytes: 1, TTL: -time.Second}, wantErrs: 1},
		{name: "negative CleanupInterval", cfg: Config{MaxBytes: 1, TTL: time.Minute, CleanupInterval: -1}, wantErrs: 1},
		{name: "negative MeanEntryCost", cfg: Config{MaxBytes: 1, TTL: time.Minute, MeanEntryCost: -1}, wantErrs: 1},
		{name: "everything wrong", cfg: Config{MaxBytes: -1, TTL: -1, CleanupInterval: -1, MeanEntryCost: -1}, wantErrs: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErrs == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				c, err := New(tt.cfg)
				if err != nil {
					t.Fatalf("New() = %v, want nil error", err)
				}
				c.Close()
				return
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate() = %v, want an error wrapping ErrInvalidConfig", err)
			}
			joined, ok := err.(interface{ Unwrap() []error })
			if !ok {
				t.Fatalf("Validate() = %T, want a joined error", err)
			}
			if got := len(joined.Unwrap()); got != tt.wantErrs {
				t.Errorf("Validate() reported %d problems (%v), want %d", got, err, tt.wantErrs)
			}
			if c, err := New(tt.cfg); c != nil || !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("New() = %v, %v; want nil and an error wrapping ErrInvalidConfig", c, err)
			}
		})
	}
}

func TestConfigDerived(t *testing.T) {
	tests := []struct {
		name            string
		cfg             Config
		wantCleanupSecs int64
		wantCounters    int64
	}{
		{name: "defaults", cfg: Config{MaxBytes: 1}, wantCleanupSecs: 60, wantCounters: 1e4},
		{name: "sub-second rounds up", cfg: Config{MaxBytes: 1, CleanupInterval: time.Millisecond}, wantCleanupSecs: 1, wantCounters: 1e4},
		{name: "fraction rounds up", cfg: Config{MaxBytes: 1, CleanupInterval: 1500 * time.Millisecond}, wantCleanupSecs: 2, wantCounters: 1e4},
		{name: "whole seconds kept", cfg: Config{MaxBytes: 1, CleanupInterval: 30 * time.Second}, wantCleanupSecs: 30, wantCounters: 1e4},
		{name: "counters scale with budget", cfg: Config{MaxBytes: 1 << 30}, wantCleanupSecs: 60, wantCounters: 10 * (1 << 30) / DefaultMeanEntryCost},
		{name: "counters follow MeanEntryCost", cfg: Config{MaxBytes: 1 << 30, MeanEntryCost: 4096}, wantCleanupSecs: 60, wantCounters: 10 * (1 << 30) / 4096},
		{name: "counters floored", cfg: Config{MaxBytes: 1 << 30, MeanEntryCost: 1 << 30}, wantCleanupSecs: 60, wantCounters: 1e4},
		{name: "counters capped", cfg: Config{MaxBytes: 1 << 40}, wantCleanupSecs: 60, wantCounters: 1e7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg.withDefaults()
			if got := cfg.cleanupSeconds(); got != tt.wantCleanupSecs {
				t.Errorf("cleanupSeconds() = %d, want %d", got, tt.wantCleanupSecs)
			}
			if got := cfg.numCounters(); got != tt.wantCounters {
				t.Errorf("numCounters() = %d, want %d", got, tt.wantCounters)
			}
			if cfg.Now == nil {
				t.Error("withDefaults left Now nil")
			}
		})
	}
}
