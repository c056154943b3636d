package s3api

import (
	"net/http"
	"net/url"
	"testing"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		method, bucket, key, query string
		header                     http.Header
		name                       string
		write                      bool
		effect                     Effect
	}{
		{"GET", "", "", "", nil, "ListBuckets", false, EffectRead},
		{"GET", "b", "", "list-type=2&prefix=a", nil, "ListObjectsV2", false, EffectRead},
		{"GET", "b", "", "", nil, "ListObjects", false, EffectRead},
		{"GET", "b", "", "versions", nil, "ListObjectVersions", false, EffectRead},
		{"PUT", "b", "", "", nil, "CreateBucket", true, EffectBucket},
		{"DELETE", "b", "", "", nil, "DeleteBucket", true, EffectBucket},
		{"POST", "b", "", "delete", nil, "DeleteObjects", true, EffectDeleteMulti},
		{"GET", "b", "k", "", nil, "GetObject", false, EffectRead},
		{"GET", "b", "k", "versionId=3", nil, "GetObject", false, EffectRead},
		{"HEAD", "b", "k", "", nil, "HeadObject", false, EffectRead},
		{"GET", "b", "k", "tagging", nil, "GetObjectTagging", false, EffectRead},
		{"PUT", "b", "k", "", nil, "PutObject", true, EffectKey},
		{"PUT", "b", "k", "", http.Header{"X-Amz-Copy-Source": {"/s/k"}}, "CopyObject", true, EffectKey},
		{"PUT", "b", "k", "partNumber=1&uploadId=u", nil, "UploadPart", true, EffectNone},
		{"PUT", "b", "k", "partNumber=1&uploadId=u", http.Header{"X-Amz-Copy-Source": {"/s/k"}}, "UploadPartCopy", true, EffectNone},
		{"PUT", "b", "k", "tagging", nil, "PutObjectTagging", true, EffectKey},
		{"PUT", "b", "k", "acl", nil, "PutObjectAcl", true, EffectKey},
		{"DELETE", "b", "k", "", nil, "DeleteObject", true, EffectKey},
		{"DELETE", "b", "k", "uploadId=u", nil, "AbortMultipartUpload", true, EffectNone},
		{"DELETE", "b", "k", "tagging", nil, "DeleteObjectTagging", true, EffectKey},
		{"POST", "b", "k", "uploads", nil, "CreateMultipartUpload", true, EffectNone},
		{"POST", "b", "k", "uploadId=u", nil, "CompleteMultipartUpload", true, EffectKey},
		{"PATCH", "b", "k", "", nil, "Unknown", true, EffectKey},
		{"PATCH", "b", "", "", nil, "Unknown", true, EffectBucket},
		{"POST", "b", "", "frobnicate", nil, "Unknown", true, EffectBucket},
		{"GET", "", "", "frobnicate", nil, "ListBuckets", false, EffectRead},
		{"OPTIONS", "b", "k", "", nil, "Unknown", true, EffectKey},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.bucket+"/"+tt.key+"?"+tt.query, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			h := tt.header
			if h == nil {
				h = http.Header{}
			}
			got := Classify(tt.method, tt.bucket, tt.key, q, h)
			if got.Name != tt.name || got.Write != tt.write || got.Effect != tt.effect {
				t.Errorf("Classify = %+v, want name %s write %v effect %d", got, tt.name, tt.write, tt.effect)
			}
		})
	}
}

// TestPatterns: a request drawn from each row's pattern is classified as
// that row's operation, so no row is shadowed by one before it, and
// OperationNames lists each name once.
func TestPatterns(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range Patterns() {
		t.Run(p.Method+" "+p.Name, func(t *testing.T) {
			var bucket, key string
			if p.Bucket {
				bucket = "b"
			}
			if p.Key {
				key = "k"
			}
			q := url.Values{}
			if p.Sub != "" {
				q.Set(p.Sub, "1")
			}
			h := http.Header{}
			if p.Header != "" {
				h.Set(p.Header, "/src/k")
			}
			if got := Classify(p.Method, bucket, key, q, h); got.Name != p.Name {
				t.Errorf("Classify of the pattern = %s, want %s", got.Name, p.Name)
			}
		})
		seen[p.Name] = true
	}
	names := OperationNames()
	if len(names) != len(seen) {
		t.Errorf("OperationNames has %d names, the table %d", len(names), len(seen))
	}
	for _, n := range names {
		if !seen[n] {
			t.Errorf("OperationNames has %s, which no row names", n)
		}
	}
}
