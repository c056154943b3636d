package proxy

import "testing"

func TestFillBudget(t *testing.T) {
	b := fillBudget{limit: 100}
	if !b.reserve(60) || !b.reserve(40) {
		t.Fatal("reservations within the limit refused")
	}
	if b.reserve(1) {
		t.Fatal("reservation over the limit granted")
	}
	b.release(60)
	if !b.reserve(50) || b.reserve(11) {
		t.Fatal("released bytes not reusable exactly")
	}
}

func TestSoftMemoryLimit(t *testing.T) {
	c := Config{CacheMaxBytes: 64 << 20, CacheMaxObjectBytes: 8 << 20}
	if got, want := c.SoftMemoryLimit(), int64(64<<20+8<<20+memoryMargin); got != want {
		t.Errorf("SoftMemoryLimit = %d, want %d", got, want)
	}
	// A rule that caches larger objects widens the fill budget, up to the
	// cache's size.
	c.CachePolicy = &Policy{Rules: []Rule{{Bucket: "*", MaxObjectBytes: 1 << 40}}}
	if got, want := c.SoftMemoryLimit(), int64(64<<20+64<<20+memoryMargin); got != want {
		t.Errorf("with a rule: SoftMemoryLimit = %d, want %d", got, want)
	}
	if got := (Config{}).SoftMemoryLimit(); got != DefaultCacheMaxBytes+DefaultCacheMaxObjectBytes+memoryMargin {
		t.Errorf("defaults: SoftMemoryLimit = %d", got)
	}
}
