package proxy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/s3cache/s3cache/proxy/internal/s3api"
)

// readyTTL is how long a readiness result is reused, so probes do not
// hammer the backend.
const readyTTL = time.Second

// readyTimeout bounds a readiness check (or BACKEND_TIMEOUT, if shorter),
// so that /-/readyz answers within 2 seconds whatever the backend does: a
// probe that waited for a hung backend would time out itself and say
// nothing about why.
const readyTimeout = 1500 * time.Millisecond

// readiness caches the result of the last backend check. The zero value
// has no result yet.
type readiness struct {
	mu      sync.Mutex
	checked time.Time
	err     error
}

func (p *Proxy) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

// readyz answers 200 when the backend answered an authenticated
// ListBuckets with 200 within readyTimeout, at the first attempt, else
// 503. With Redis, a second
// line says whether it answers ("redis: ok") or not ("redis:
// unreachable"); the proxy stays ready without it, revalidating what it
// would have served from its cache.
func (p *Proxy) readyz(w http.ResponseWriter, r *http.Request) {
	if err := p.checkBackend(r.Context(), readyTTL); err != nil {
		p.writeError(w, r, s3api.ErrUnavailable.WithCause(err))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	body := "ready\n"
	if s := p.gens.State(); s != "" {
		body += "redis: " + s + "\n"
	}
	w.Write([]byte(body))
}

// checkBackend returns the outcome of a readiness check of the backend
// made less than maxAge ago, or of a new one.
func (p *Proxy) checkBackend(ctx context.Context, maxAge time.Duration) error {
	p.ready.mu.Lock()
	defer p.ready.mu.Unlock()
	now := p.cfg.Now()
	if !p.ready.checked.IsZero() && now.Sub(p.ready.checked) < maxAge && now.After(p.ready.checked) {
		return p.ready.err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), min(p.cfg.BackendTimeout, readyTimeout))
	defer cancel()
	err := p.listBuckets(withBackendCall(ctx, listBucketsCall))
	p.ready.checked, p.ready.err = p.cfg.Now(), err
	return err
}

// listBuckets sends one signed ListBuckets through the chain every client
// request takes, so readiness fails when requests would, and fails fast:
// ctx carries listBucketsCall, which is sent once, not again on a new
// connection when its own broke, and no client library's retries and
// back-offs are on top. A backend that breaks connections is not ready.
func (p *Proxy) listBuckets(ctx context.Context) error {
	out, err := http.NewRequestWithContext(ctx, http.MethodGet, "", nil)
	if err != nil {
		return err
	}
	out.URL = p.backendURL("", "", "")
	out.Host = out.URL.Host
	res, err := p.backend.RoundTrip(out)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	// Read to the end, so that the connection is kept; a longer list
	// than this just costs the connection.
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 4<<20))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("proxy: readiness: backend answered ListBuckets with %s", res.Status)
	}
	return nil
}
