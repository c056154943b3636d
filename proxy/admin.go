package proxy

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/s3cache/s3cache/proxy/internal/s3api"
)

// adminPrefix is the path of the admin API. Requests under it are
// authenticated as admins and answered by the proxy itself: never cached,
// never forwarded.
const adminPrefix = "/-/admin/"

// Limits of admin request bodies.
const (
	maxAdminBody  = 1 << 20 // bytes of a JSON body
	maxPurgeItems = 1000    // keys, prefixes and buckets of one purge
	maxWarmItems  = 100     // targets of one warm request
	topKeysCount  = 20      // keys listed by /-/admin/stats
)

// errBadAdminBody is the template of every refused admin request body.
var errBadAdminBody = s3api.New(http.StatusBadRequest, "InvalidRequest", "The request body is not valid JSON for this operation.")

// serveAdmin answers the admin API: GET stats, POST purge, POST and GET
// warm. Only admins may use it; see adminBody.
func (p *Proxy) serveAdmin(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	body, err := p.adminBody(r)
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	defer body.Close()
	op := strings.TrimPrefix(r.URL.Path, adminPrefix)
	allow := map[string]string{"stats": "GET", "purge": "POST", "warm": "GET, POST"}[op]
	switch {
	case allow == "":
		p.writeError(w, r, s3api.ErrNotFound)
	case !slices.Contains(strings.Split(allow, ", "), r.Method):
		w.Header().Set("Allow", allow)
		p.writeError(w, r, s3api.ErrMethodNotAllowed)
	case op == "stats":
		p.writeJSON(w, http.StatusOK, p.adminStats())
	case op == "warm" && r.Method == http.MethodGet:
		p.writeJSON(w, http.StatusOK, p.warmer.list())
	default:
		data, err := readAdminBody(body)
		if err != nil {
			p.writeError(w, r, err)
			return
		}
		if op == "purge" {
			p.servePurge(w, r, data)
		} else {
			p.serveWarm(w, r, data)
		}
	}
}

// adminBody authenticates an admin request and returns its body: a bearer
// token equal to Config.AdminToken, or a SigV4 signature, checked as for
// S3 requests, of a user with admin: true. Anything else is refused with
// 403 AccessDenied (or the signature's own error).
func (p *Proxy) adminBody(r *http.Request) (io.ReadCloser, error) {
	if scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " "); strings.EqualFold(scheme, "Bearer") {
		if p.cfg.AdminToken == "" || !tokenEqual(tok, p.cfg.AdminToken) {
			return nil, s3api.ErrAccessDenied
		}
		return r.Body, nil
	}
	res, err := p.verifier.Verify(r)
	if err != nil {
		return nil, err
	}
	if pr := p.auth.Load().User(res.AccessKey); pr == nil || !pr.Admin() {
		res.Body.Close()
		return nil, s3api.ErrAccessDenied
	}
	return res.Body, nil
}

// tokenEqual compares two tokens in time that depends on neither: their
// hashes are compared in constant time.
func tokenEqual(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// readAdminBody reads a request body of at most maxAdminBody bytes.
func readAdminBody(body io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(body, maxAdminBody+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxAdminBody {
		return nil, errBadAdminBody.WithMessage(fmt.Sprintf("The request body is longer than %d bytes.", maxAdminBody))
	}
	return data, nil
}

// decodeJSON decodes exactly one JSON value of data into v, refusing
// unknown fields and trailing data, as an S3 error to send.
func decodeJSON(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return errBadAdminBody.WithMessage("The request body is not valid JSON: " + err.Error())
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return errBadAdminBody.WithMessage("The request body holds more than one JSON value.")
	}
	return nil
}

// writeJSON sends v as a JSON document with status.
func (p *Proxy) writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil { // only types of this file are sent: cannot happen
		p.log.Error("admin: encoding the answer", slog.Any("err", err))
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(data, '\n'))
}

// adminStatsJSON is the answer of GET /-/admin/stats.
type adminStatsJSON struct {
	Entries  int64 `json:"entries"`
	Bytes    int64 `json:"bytes"`
	MaxBytes int64 `json:"max_bytes"`
	// Reads counts GetObject and HeadObject requests by X-Cache result
	// (hit, miss, bypass, stale, revalidated); Hits and Misses are its hit
	// and miss, and HitRatio is hits over all of them (0 before any read).
	Reads     map[string]uint64 `json:"reads"`
	Hits      uint64            `json:"hits"`
	Misses    uint64            `json:"misses"`
	HitRatio  float64           `json:"hit_ratio"`
	Evictions uint64            `json:"evictions"`
	Rejected  uint64            `json:"rejected"`
	TopKeys   []topKeyJSON      `json:"top_keys"`
}

// topKeyJSON is one of the most hit entries.
type topKeyJSON struct {
	Bucket    string `json:"bucket"`
	Key       string `json:"key"`
	VersionID string `json:"version_id"`
	Hits      uint64 `json:"hits"`
	Bytes     int64  `json:"bytes"`
}

// adminStats reads the cache's counters and its most hit keys.
func (p *Proxy) adminStats() adminStatsJSON {
	s := p.cache.Stats()
	out := adminStatsJSON{
		Entries: s.Entries, Bytes: s.Bytes, MaxBytes: p.cfg.CacheMaxBytes,
		Evictions: s.Evictions, Rejected: s.Rejected + s.Dropped,
		Reads: map[string]uint64{}, TopKeys: []topKeyJSON{},
	}
	var total uint64
	for _, x := range xCacheResults {
		n := p.metrics.reads[cacheResultIndex(x)].Load()
		out.Reads[strings.ToLower(x)] = n
		total += n
	}
	out.Hits, out.Misses = out.Reads["hit"], out.Reads["miss"]
	if total > 0 {
		out.HitRatio = float64(out.Hits) / float64(total)
	}
	for _, k := range p.cache.TopKeys(topKeysCount) {
		out.TopKeys = append(out.TopKeys, topKeyJSON{Bucket: k.Bucket, Key: k.Key, VersionID: k.VersionID, Hits: k.Hits, Bytes: k.Bytes})
	}
	return out
}
