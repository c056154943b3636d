package proxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/s3cache/s3cache/proxy/internal/s3api"
)

// The status page and its JSON twin. The page is a static document, the
// same for everyone and with no figures in it: its script asks for the
// admin token, keeps it in the tab's session storage and polls the twin
// with it in an Authorization header, which is authenticated exactly as
// the admin API is. A bearer header, unlike a cookie, is never sent by
// the browser on its own, so another site can neither read the figures
// nor make the browser ask for them (no CSRF), and the token is never in
// a URL, so never in a log or the browser's history.
const (
	statusPagePath = "/-/"
	statusJSONPath = "/-/status.json"
)

// statusRefresh is how often the page polls the twin.
const statusRefresh = 2 * time.Second

// statusBackendAge is how old a readiness check of the backend the
// status may show; a poll after that checks again (see checkBackend).
const statusBackendAge = 5 * time.Second

// statusFinished is how many finished warm jobs the status lists after the
// running ones.
const statusFinished = 5

//go:embed status.html
var statusPage []byte

// statusCSP is the page's Content-Security-Policy: its own inline script
// and style (by hash) and requests to its own origin, nothing else, so no
// object key or bucket name shown can run as code, and no other site may
// frame it.
var statusCSP = func() string {
	hash := func(open, close string) string {
		_, rest, ok := bytes.Cut(statusPage, []byte(open))
		body, _, ok2 := bytes.Cut(rest, []byte(close))
		if !ok || !ok2 {
			panic("proxy: status.html has no " + open + " element")
		}
		sum := sha256.Sum256(body)
		return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	}
	return "default-src 'none'; script-src " + hash("<script>", "</script>") +
		"; style-src " + hash("<style>", "</style>") +
		"; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}()

// serveStatus answers the status page and its JSON twin, for GET and HEAD.
func (p *Proxy) serveStatus(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		p.writeError(w, r, s3api.ErrMethodNotAllowed)
		return
	}
	if r.URL.Path == statusPagePath {
		h.Set("Content-Security-Policy", statusCSP)
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Type", "text/html; charset=utf-8")
		w.Write(statusPage)
		return
	}
	body, err := p.adminBody(r)
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	body.Close()
	data, err := json.Marshal(p.status(r.Context()))
	if err != nil { // only types of this package are sent: cannot happen
		p.log.Error("status: encoding the answer", slog.Any("err", err))
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	h.Set("Content-Type", "application/json")
	w.Write(append(data, '\n'))
}

// statusJSON is the answer of GET /-/status.json: what the page shows.
type statusJSON struct {
	// The figures of GET /-/admin/stats, from the same counters.
	adminStatsJSON
	Time    time.Time `json:"time"`    // when these figures were read
	Started time.Time `json:"started"` // when the proxy started
	// RefreshSeconds is how often the page polls.
	RefreshSeconds float64 `json:"refresh_seconds"`
	// Prices are Config.SavingsPricePerGB and SavingsPricePer1kGet;
	// null when neither is set.
	Prices *prices `json:"prices"`
	// Requests counts every request answered (s3cache_requests_total),
	// and Coalesced the GET misses that joined another's backend GET.
	Requests  uint64      `json:"requests"`
	Coalesced uint64      `json:"coalesced"`
	Backend   backendJSON `json:"backend"`
	// Redis is "ok" or "unreachable" (s3cache_redis_up), or "off"
	// without REDIS_URL.
	Redis string `json:"redis"`
	// Warm lists the running warm jobs, then the last statusFinished
	// that ended, newest first.
	Warm []warmJobJSON `json:"warm"`
	// LastHour is what the cache saved since the chart's first sample:
	// over the last hour, or since the start if that is more recent.
	LastHour savingsJSON `json:"last_hour"`
	History  historyJSON `json:"history"`
}

// backendJSON is the backend's state.
type backendJSON struct {
	Endpoint string `json:"endpoint"`
	// Ready is the outcome of the readiness check (/-/readyz) of at most
	// statusBackendAge ago; Error says why it failed.
	Ready bool   `json:"ready"`
	Error string `json:"error,omitempty"`
	// Requests counts the backend's answers, Errors the requests that
	// failed without one.
	Requests uint64 `json:"requests"`
	Errors   uint64 `json:"errors"`
}

// status reads what the status page shows.
func (p *Proxy) status(ctx context.Context) statusJSON {
	c := p.gatherCounters()
	now := p.cfg.Now()
	s := statusJSON{
		adminStatsJSON: p.adminStatsOf(&c),
		Time:           now.UTC(),
		Started:        p.started.UTC(),
		RefreshSeconds: statusRefresh.Seconds(),
		Requests:       uint64(c.requests),
		Coalesced:      uint64(c.coalesced),
		Backend: backendJSON{Endpoint: p.cfg.Endpoint, Ready: true,
			Requests: uint64(c.backendRequests), Errors: uint64(c.backendErrors)},
		Redis: "off",
		Warm:  []warmJobJSON{},
	}
	samples, cur := p.history.samples(), c.sample(now)
	s.History = historyOf(samples, cur)
	if len(samples) > 0 {
		s.LastHour = p.savingsOf(cur.saved.sub(samples[0].saved))
	}
	if pr := p.prices(); pr.set() {
		s.Prices = &pr
	}
	if err := p.checkBackend(ctx, statusBackendAge); err != nil {
		s.Backend.Ready, s.Backend.Error = false, err.Error()
	}
	switch {
	case c.redisUp:
		s.Redis = "ok"
	case c.redis:
		s.Redis = "unreachable"
	}
	jobs := p.warmer.list()
	var finished []warmJobJSON
	for _, j := range jobs {
		if j.State == "running" {
			s.Warm = append(s.Warm, j)
		} else {
			finished = append(finished, j)
		}
	}
	for i := len(finished) - 1; i >= 0 && i >= len(finished)-statusFinished; i-- {
		s.Warm = append(s.Warm, finished[i])
	}
	return s
}
