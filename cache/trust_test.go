package cache

import (
	"testing"
	"time"
)

func TestDistrustRevalidatesEntries(t *testing.T) {
	clk := newTestClock()
	c := newTestCache(t, clk)
	k := Key("b", "k", "")
	if !fill(c, "b", "k", "", "v1") {
		t.Fatal("fill refused")
	}
	begun := c.Begin("b", "other")

	c.Distrust()
	if _, ok := c.Get("b", "k", k); ok {
		t.Fatal("Get served an entry committed before Distrust")
	}
	e, ok := c.GetExpired("b", "k", k)
	if !ok || string(e.Body) != "v1" {
		t.Fatalf("GetExpired = %v, %v; want the untrusted entry for revalidation", e, ok)
	}
	if c.Current(begun) {
		t.Fatal("a fill begun before Distrust is still current")
	}

	// A revalidation under a new ticket makes it servable again.
	if !c.Commit(c.Begin("b", "k"), k, &Entry{Header: e.Header, Body: e.Body}) {
		t.Fatal("recommit refused")
	}
	if e, ok := c.Get("b", "k", k); !ok || string(e.Body) != "v1" {
		t.Fatalf("Get after recommit = %v, %v; want a hit", e, ok)
	}

	// Past its lifetime and retention an untrusted entry is gone.
	c.Distrust()
	clk.Advance(testTTL + time.Second)
	if _, ok := c.GetExpired("b", "k", k); ok {
		t.Fatal("GetExpired returned an untrusted entry past its lifetime with no retention")
	}
}

func TestUnconfirmedTicket(t *testing.T) {
	clk := newTestClock()
	c := newTestCache(t, clk)
	k := Key("b", "k", "")
	tk := c.Begin("b", "k").Unconfirmed()
	if c.Current(tk) {
		t.Fatal("an unconfirmed ticket is current: later readers could join its fill")
	}
	if !c.Commit(tk, k, &Entry{Body: []byte("x")}) {
		t.Fatal("Commit refused an unconfirmed fill; it should keep it for revalidation")
	}
	if _, ok := c.Get("b", "k", k); ok {
		t.Fatal("Get served an unconfirmed entry")
	}
	if e, ok := c.GetExpired("b", "k", k); !ok || string(e.Body) != "x" {
		t.Fatalf("GetExpired = %v, %v; want the unconfirmed entry", e, ok)
	}
	// A write still fences it.
	c.Invalidate("b", "k")
	if _, ok := c.GetExpired("b", "k", k); ok {
		t.Fatal("GetExpired returned an entry a write invalidated")
	}
}
