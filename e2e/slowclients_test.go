package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestSlowReadersMemory: 500 connections each send a GET of a cached
// object and then read nothing, 50 at a time (asking for one 4 MiB
// object) while the cache turns over ten times its size. Each holds a
// hit's body, evicted or not, until WRITE_TIMEOUT cuts it: the proxy's
// goroutines come back after each round, and its peak RSS stays below
// CACHE_MAX_BYTES + 64 MiB (checked on a plain build; CI runs it again
// without -race). Without the cut, the bodies held would grow by 4 MiB a
// round, past the bound, and the goroutines would stay.
func TestSlowReadersMemory(t *testing.T) {
	t.Parallel()
	const (
		cacheMax   = 32 << 20
		objectSize = 4 << 20
		perRound   = cacheMax / objectSize // objects that fill the cache
		rounds     = 10                    // the cache turns over this many times
		stalls     = 50                    // connections reading nothing, per round
		held       = 1                     // objects they ask for, per round
	)
	h := newHarness(t, map[string]string{
		"CACHE_MAX_BYTES":        strconv.Itoa(cacheMax),
		"CACHE_MAX_OBJECT_BYTES": strconv.Itoa(2 * objectSize),
		"WRITE_TIMEOUT":          "2s",
		"GOGC":                   "",
		"GOMEMLIMIT":             "",
	})
	e := h.endpoint()
	bucket := newBucket(t, e)
	body := make([]byte, objectSize)

	// churn writes perRound new objects through the proxy and reads each
	// twice, the second time from the cache.
	churn := func(round int) []string {
		var keys []string
		for i := range perRound {
			key := fmt.Sprintf("r%d/o%d", round, i)
			body[0], body[1] = byte(round), byte(i)
			res, err := httpClient.Do(signedRequest(t, e, http.MethodPut, objectURL(e, bucket, key), body))
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				t.Fatalf("PUT %s: %d", key, res.StatusCode)
			}
			for range 2 {
				res, err := httpClient.Do(signedRequest(t, e, http.MethodGet, objectURL(e, bucket, key), nil))
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(res.Body)
				res.Body.Close()
				if err != nil || res.StatusCode != 200 || !bytes.Equal(got, body) {
					t.Fatalf("GET %s: %d, %d bytes, %v", key, res.StatusCode, len(got), err)
				}
			}
			keys = append(keys, key)
		}
		return keys
	}
	goroutines := func() float64 { return scrapeMetrics(t, e)["go_goroutines"] }

	// A client that reads nothing, with a small receive buffer as the
	// kernel would otherwise take a whole object in on its behalf.
	stallDialer := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10)
		})
		return errors.Join(err, serr)
	}}
	keys := churn(0)
	for round := 1; round <= rounds; round++ {
		idleConns(t)
		before := goroutines()
		// Connections that ask for the cached objects and read nothing.
		for i := range stalls {
			c, err := stallDialer.DialContext(t.Context(), "tcp", h.proxy.Addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := signedRequest(t, e, http.MethodGet, objectURL(e, bucket, keys[i%held]), nil).Write(c); err != nil {
				t.Fatal(err)
			}
		}
		// The objects they hold are evicted meanwhile.
		keys = churn(round)
		idleConns(t)
		err := poll(t.Context(), 30*time.Second, func(context.Context) error {
			// The slack is for the proxy's idle backend connections (two
			// goroutines each), which the churn may add to; the
			// connections reading nothing are 50.
			if n := goroutines(); n > before+stalls/2 {
				return fmt.Errorf("%v goroutines, %v before the connections reading nothing", n, before)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("round %d: goroutines did not come back within 30s (WRITE_TIMEOUT=2s): %v", round, err)
		}
	}

	if runtime.GOOS != "linux" || os.Getenv("S3CACHE_E2E_RACE") == "1" {
		t.Log("RSS bound not checked: needs Linux and a plain build")
		return
	}
	hwm, err := memProcStatusKiB(h.proxy.cmd.Process.Pid, "VmHWM")
	if err != nil {
		t.Fatal(err)
	}
	if limit := int64(cacheMax + memRSSSlack); hwm<<10 >= limit {
		t.Errorf("proxy peak RSS %d MiB, want below CACHE_MAX_BYTES + %d MiB = %d MiB", hwm>>10, memRSSSlack>>20, limit>>20)
	}
	t.Logf("proxy peak RSS %d MiB with %d connections reading nothing while the cache turned over %d times (CACHE_MAX_BYTES=32MiB)", hwm>>10, rounds*stalls, rounds)
}

// idleConns closes the suite client's idle connections, whose goroutines
// in the proxy would otherwise count.
func idleConns(t *testing.T) {
	t.Helper()
	httpClient.CloseIdleConnections()
}
