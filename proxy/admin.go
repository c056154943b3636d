package proxy

import (
	"bytes"
	"cmp"
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

// adminStatsJSON is the answer of GET /-/admin/stats, and the part of the
// status page's that shows the same figures.
type adminStatsJSON struct {
	Entries  int64 `json:"entries"`
	Bytes    int64 `json:"bytes"`
	MaxBytes int64 `json:"max_bytes"`
	// Reads counts GetObject and HeadObject requests by X-Cache result
	// (hit, miss, bypass, stale, revalidated, shared); Hits and Misses are
	// its hit and miss, and HitRatio is hits over all of them (0 before
	// any read).
	Reads     map[string]uint64 `json:"reads"`
	Hits      uint64            `json:"hits"`
	Misses    uint64            `json:"misses"`
	HitRatio  float64           `json:"hit_ratio"`
	Evictions uint64            `json:"evictions"`
	Rejected  uint64            `json:"rejected"`
	TopKeys   []topKeyJSON      `json:"top_keys"`
	// Savings is what the cache saved (see savings.go), and Buckets the
	// same by bucket label, most bytes saved first, "other" last (and
	// only once a read was counted there).
	Savings savingsJSON         `json:"savings"`
	Buckets []bucketSavingsJSON `json:"buckets"`
}

// topKeyJSON is one of the most hit entries.
type topKeyJSON struct {
	Bucket    string `json:"bucket"`
	Key       string `json:"key"`
	VersionID string `json:"version_id"`
	Hits      uint64 `json:"hits"`
	Bytes     int64  `json:"bytes"`
}

// savingsJSON is what the cache saved, of all reads or of one bucket's.
type savingsJSON struct {
	Reads         uint64 `json:"reads"`
	ReadBytes     uint64 `json:"read_bytes"`
	RequestsSaved uint64 `json:"backend_requests_saved"`
	BytesSaved    uint64 `json:"backend_bytes_saved"`
	// RequestHitRatio is RequestsSaved over Reads, ByteHitRatio
	// BytesSaved over ReadBytes; 0 when there are none.
	RequestHitRatio float64 `json:"request_hit_ratio"`
	ByteHitRatio    float64 `json:"byte_hit_ratio"`
	// MoneySaved prices BytesSaved and RequestsSaved at
	// Config.SavingsPricePerGB and SavingsPricePer1kGet; null when
	// neither is set.
	MoneySaved *float64 `json:"money_saved"`
}

// bucketSavingsJSON is what the cache saved on one bucket label.
type bucketSavingsJSON struct {
	Bucket string `json:"bucket"`
	savingsJSON
}

// adminStats reads the counters of the metrics and the cache's most hit
// keys.
func (p *Proxy) adminStats() adminStatsJSON {
	c := p.gatherCounters()
	return p.adminStatsOf(&c)
}

// adminStatsOf is adminStats of counters already gathered.
func (p *Proxy) adminStatsOf(c *counters) adminStatsJSON {
	out := adminStatsJSON{
		Entries: int64(c.entries), Bytes: int64(c.bytes), MaxBytes: int64(c.maxBytes),
		Evictions: uint64(c.evictions), Rejected: uint64(c.rejected),
		Reads: map[string]uint64{}, TopKeys: []topKeyJSON{}, Buckets: []bucketSavingsJSON{},
	}
	var total uint64
	for i, x := range xCacheResults {
		n := uint64(c.reads[i])
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
	out.Savings = p.savingsOf(c.total())
	for b, bc := range c.buckets {
		if bc.reads == 0 { // "other", before any read is counted there
			continue
		}
		out.Buckets = append(out.Buckets, bucketSavingsJSON{Bucket: b, savingsJSON: p.savingsOf(bc)})
	}
	slices.SortFunc(out.Buckets, func(a, b bucketSavingsJSON) int {
		if (a.Bucket == otherBucket) != (b.Bucket == otherBucket) {
			return cmp.Compare(boolInt(a.Bucket == otherBucket), boolInt(b.Bucket == otherBucket))
		}
		return cmp.Or(cmp.Compare(b.BytesSaved, a.BytesSaved), cmp.Compare(b.RequestsSaved, a.RequestsSaved),
			cmp.Compare(b.Reads, a.Reads), strings.Compare(a.Bucket, b.Bucket))
	})
	return out
}

// savingsOf is what c says the cache saved.
func (p *Proxy) savingsOf(c bucketCounts) savingsJSON {
	s := savingsJSON{
		Reads: uint64(c.reads), ReadBytes: uint64(c.readBytes),
		RequestsSaved: uint64(c.requestsSaved), BytesSaved: uint64(c.bytesSaved),
	}
	if c.reads > 0 {
		s.RequestHitRatio = c.requestsSaved / c.reads
	}
	if c.readBytes > 0 {
		s.ByteHitRatio = c.bytesSaved / c.readBytes
	}
	if pr := p.prices(); pr.set() {
		m := pr.saved(c.bytesSaved, c.requestsSaved)
		s.MoneySaved = &m
	}
	return s
}

// prices are the configured prices of the backend.
func (p *Proxy) prices() prices {
	return prices{PerGB: p.cfg.SavingsPricePerGB, Per1kGet: p.cfg.SavingsPricePer1kGet}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
