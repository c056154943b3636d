package proxy

import (
	"net/http"
	"strings"
)

// Go canonicalises header names as it parses them ("x-amz-meta-foo"
// becomes "X-Amz-Meta-Foo", "ETag" becomes "Etag"), and SDKs build a
// user's Metadata map from the names they receive: boto3 hands back
// {"Foo": …} for what S3 stores and sends as x-amz-meta-foo. So every
// answer is written with the names as S3 spells them: user metadata in
// lower case, as S3 keeps it, and ETag. Other names go out as Go wrote
// them; HTTP header names are case-insensitive, and S3's own clients
// compare them so.

const (
	metaPrefix    = "X-Amz-Meta-" // canonical form
	etagCanonical = "Etag"
	etagS3        = "ETag"
)

// s3HeaderNames renames, in place, the names of h that S3 spells unlike
// Go: ETag, and x-amz-meta-* in lower case. Names already spelled so are
// left alone, so calling it twice changes nothing, and a header whose
// names are all S3's costs no allocation.
func s3HeaderNames(h http.Header) {
	for k, v := range h {
		switch {
		case k == etagCanonical:
			delete(h, k)
			h[etagS3] = append(h[etagS3], v...)
		case len(k) > len(metaPrefix) && strings.HasPrefix(k, metaPrefix):
			delete(h, k)
			lk := strings.ToLower(k)
			h[lk] = append(h[lk], v...)
		}
	}
}

// headerETag returns the ETag of a stored or received header, spelled
// either way.
func headerETag(h http.Header) string {
	if v := firstValue(h, etagS3); v != "" {
		return v
	}
	return firstValue(h, etagCanonical)
}
