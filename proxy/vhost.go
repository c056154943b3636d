package proxy

import (
	"net"
	"strings"

	"github.com/s3cache/s3cache/proxy/internal/s3api"
)

// vhostBucket returns the bucket a virtual-hosted-style request names in
// its Host header, "bucket.<domain>" for one of domains, and whether it
// names one. The port, if any, is ignored, as is letter case (DNS names
// are case-insensitive; bucket names are lower case). A host equal to a
// domain, or not under any, is path style. A name under a domain that is
// not a valid bucket name is reported as named (ok) with an empty bucket,
// so that the caller answers InvalidBucketName rather than treating the
// first path segment as a bucket.
func vhostBucket(host string, domains []string) (bucket string, ok bool) {
	if len(domains) == 0 {
		return "", false
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	for _, d := range domains {
		name, found := strings.CutSuffix(host, "."+d)
		if !found || name == "" {
			continue
		}
		if !s3api.ValidBucketName(name) {
			return "", true
		}
		return name, true
	}
	return "", false
}

// parseDomains normalises a list of virtual-host domains: lower case, no
// surrounding dots or spaces, no empty entries.
func parseDomains(list []string) []string {
	var out []string
	for _, d := range list {
		d = strings.Trim(strings.ToLower(strings.TrimSpace(d)), ".")
		if d != "" {
			out = append(out, d)
		}
	}
	return out
}
