package proxy

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"

	"github.com/s3cache/s3cache/cache"
	"github.com/s3cache/s3cache/proxy/internal/s3api"
)

// stateFormat names the format of the first line of a state file.
const stateFormat = "s3cache-state-v1"

// maxStateRecords bounds how many keys a state file may list.
const maxStateRecords = 1 << 20

// stateHeader is the first line of a state file.
type stateHeader struct {
	Format string `json:"format"`
	Keys   int    `json:"keys"`
}

// stateRecord is one cached object in a state file.
type stateRecord struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	ETag   string `json:"etag,omitempty"`
	Hits   uint64 `json:"hits"`
}

// ErrStateFile is wrapped by every error of RestoreState about the file's
// contents.
var ErrStateFile = errors.New("proxy: bad cache state file")

// SaveState writes the objects the cache holds (current versions; entries
// of a versionId are not saved), hottest first, with their ETags and hit
// counts, as JSON lines after a header line. RestoreState of a later
// process reads it. It returns how many keys it wrote.
func (p *Proxy) SaveState(w io.Writer) (int, error) {
	var recs []stateRecord
	for _, k := range p.cache.TopKeys(math.MaxInt) {
		if k.VersionID != "" {
			continue
		}
		recs = append(recs, stateRecord{Bucket: k.Bucket, Key: k.Key, ETag: k.ETag, Hits: k.Hits})
	}
	recs = recs[:min(len(recs), maxStateRecords)]
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	if err := enc.Encode(stateHeader{Format: stateFormat, Keys: len(recs)}); err != nil {
		return 0, err
	}
	for _, r := range recs {
		if err := enc.Encode(r); err != nil {
			return 0, err
		}
	}
	return len(recs), bw.Flush()
}

// RestoreState reads a state file SaveState wrote and warms its objects in
// the background, hottest first, through the GET miss path (listed by
// GET /-/admin/warm with source "state file"). Each object is fetched as
// it is now; one whose ETag differs from the saved one changed since the
// save, and is counted as changed. A file that is not a complete state
// file is refused whole with an error wrapping ErrStateFile, and nothing
// is warmed. It returns how many keys it will warm.
func (p *Proxy) RestoreState(r io.Reader) (int, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var h stateHeader
	if err := dec.Decode(&h); err != nil || h.Format != stateFormat || h.Keys < 0 || h.Keys > maxStateRecords {
		return 0, fmt.Errorf("%w: no %s header", ErrStateFile, stateFormat)
	}
	recs := make([]stateRecord, 0, h.Keys)
	for range h.Keys {
		var rec stateRecord
		if err := dec.Decode(&rec); err != nil {
			return 0, fmt.Errorf("%w: key %d of %d: %v", ErrStateFile, len(recs)+1, h.Keys, err)
		}
		if !s3api.ValidBucketName(rec.Bucket) || rec.Key == "" {
			return 0, fmt.Errorf("%w: key %d of %d: bad bucket or key", ErrStateFile, len(recs)+1, h.Keys)
		}
		recs = append(recs, rec)
	}
	if dec.More() {
		return 0, fmt.Errorf("%w: more keys than its header says", ErrStateFile)
	}
	j := &warmJob{target: WarmTarget{MaxBytes: p.cfg.CacheMaxBytes}, source: "state file", done: make(chan struct{})}
	j.listed.Store(int64(len(recs)))
	p.warmer.start(j, func(ctx context.Context) { p.runRestore(ctx, j, recs) })
	return len(recs), nil
}

// runRestore warms the recorded objects in order, within the cache size.
func (p *Proxy) runRestore(ctx context.Context, j *warmJob, recs []stateRecord) {
	budget := j.target.MaxBytes
	state := "done"
	for _, rec := range recs {
		if ctx.Err() != nil {
			state = "failed"
			j.lastErr.Store("stopped: the proxy is shutting down")
			break
		}
		rule := p.cfg.CachePolicy.match(rec.Bucket, rec.Key)
		if rule != nil && rule.Bypass {
			continue
		}
		rq := &request{bucket: rec.Bucket, key: rec.Key, op: s3api.Operation{Name: "GetObject"}, rule: rule}
		n, ok := p.warmCounted(ctx, j, rq)
		if !ok {
			continue
		}
		if rec.ETag != "" && p.cache.StoredETag(rec.Bucket, rec.Key, cache.Key(rec.Bucket, rec.Key, "")) != rec.ETag {
			j.changed.Add(1)
		}
		if budget -= n; budget <= 0 {
			break
		}
	}
	j.state.Store(state)
	close(j.done)
	p.log.LogAttrs(ctx, slog.LevelInfo, "cache restored from the state file", slog.String("state", state),
		slog.Int64("objects", j.warmed.Load()), slog.Int64("changed", j.changed.Load()),
		slog.Int64("bytes", j.bytes.Load()), slog.Int64("errors", j.errs.Load()))
}
