package proxy

import (
	"context"
	"strings"
	"testing"
	"time"
)

// waitRedisState polls the metrics of srvURL until s3cache_redis_up is
// 1 (want "ok") or 0 (want "unreachable"). (The fake backend cannot
// answer /-/readyz's ListBuckets; the e2e tests read it there.)
func waitRedisState(t *testing.T, srvURL, want string) {
	t.Helper()
	line := "s3cache_redis_up 1\n"
	if want != "ok" {
		line = "s3cache_redis_up 0\n"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for {
		res, err := send(t, "GET", srvURL+"/-/metrics", nil, testSecret)
		if err == nil {
			if strings.Contains(readBody(t, res), line) {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s never reported %q", srvURL, strings.TrimSpace(line))
		case <-time.After(20 * time.Millisecond): // polling an outside process's state
		}
	}
}
