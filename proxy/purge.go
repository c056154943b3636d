package proxy

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/s3cache/s3cache/proxy/internal/coherence"
	"github.com/s3cache/s3cache/proxy/internal/s3api"
)

// purgeRequest is the body of POST /-/admin/purge: what to remove from the
// cache. Every list may be empty, but not all of them with All false.
type purgeRequest struct {
	Keys []struct {
		Bucket string `json:"bucket"`
		Key    string `json:"key"`
	} `json:"keys"`
	Prefixes []struct {
		Bucket string `json:"bucket"`
		Prefix string `json:"prefix"`
	} `json:"prefixes"`
	Buckets []string `json:"buckets"`
	All     bool     `json:"all"`
}

// parsePurge reads and checks a purge request body. Its error is an S3
// error to send: 400 InvalidRequest.
func parsePurge(data []byte) (*purgeRequest, error) {
	var pr purgeRequest
	if err := decodeJSON(data, &pr); err != nil {
		return nil, err
	}
	bad := func(format string, a ...any) error {
		return errBadAdminBody.WithMessage(fmt.Sprintf(format, a...))
	}
	n := len(pr.Keys) + len(pr.Prefixes) + len(pr.Buckets)
	switch {
	case n == 0 && !pr.All:
		return nil, bad("Name keys, prefixes or buckets to purge, or set all to true.")
	case n > maxPurgeItems:
		return nil, bad("A purge may name at most %d keys, prefixes and buckets.", maxPurgeItems)
	}
	for _, k := range pr.Keys {
		if !s3api.ValidBucketName(k.Bucket) || k.Key == "" {
			return nil, bad("Each key needs a valid bucket and a non-empty key; got bucket %q key %q.", k.Bucket, k.Key)
		}
	}
	for _, k := range pr.Prefixes {
		if !s3api.ValidBucketName(k.Bucket) {
			return nil, bad("Prefix %q: bucket %q is not a valid bucket name.", k.Prefix, k.Bucket)
		}
	}
	for _, b := range pr.Buckets {
		if !s3api.ValidBucketName(b) {
			return nil, bad("Bucket %q is not a valid bucket name.", b)
		}
	}
	return &pr, nil
}

// forReplicas is the purge as the other replicas are told of it.
func (pr *purgeRequest) forReplicas() coherence.Purge {
	cp := coherence.Purge{All: pr.All, Buckets: pr.Buckets}
	for _, k := range pr.Prefixes {
		cp.Prefixes = append(cp.Prefixes, coherence.Object{Bucket: k.Bucket, Key: k.Prefix})
	}
	for _, k := range pr.Keys {
		cp.Objects = append(cp.Objects, coherence.Object{Bucket: k.Bucket, Key: k.Key})
	}
	return cp
}

// purgeResult is the answer of POST /-/admin/purge.
type purgeResult struct {
	Removed int `json:"removed"` // live entries removed
}

// servePurge removes what a purge request names from the cache, with the
// invalidation writes use: a fill that began before the purge is never
// stored.
func (p *Proxy) servePurge(w http.ResponseWriter, r *http.Request, data []byte) {
	pr, err := parsePurge(data)
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	removed := 0
	if pr.All {
		removed += p.cache.PurgeAll()
	}
	for _, b := range pr.Buckets {
		removed += p.cache.PurgeBucket(b)
	}
	for _, k := range pr.Keys {
		removed += p.cache.PurgeKey(k.Bucket, k.Key)
	}
	for _, k := range pr.Prefixes {
		// Fills in flight first: one that leaves the table after this look
		// has committed, so the index walk below finds its entry.
		for _, key := range p.flights.under(k.Bucket, k.Prefix) {
			p.cache.Invalidate(k.Bucket, key)
		}
		removed += p.cache.PurgePrefix(k.Bucket, k.Prefix)
	}
	p.gens.Purge(r.Context(), pr.forReplicas())
	p.log.LogAttrs(r.Context(), slog.LevelInfo, "admin purge",
		slog.Int("keys", len(pr.Keys)), slog.Int("prefixes", len(pr.Prefixes)),
		slog.Int("buckets", len(pr.Buckets)), slog.Bool("all", pr.All), slog.Int("removed", removed))
	p.writeJSON(w, http.StatusOK, purgeResult{Removed: removed})
}
