package proxy

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
		effect                     effect
	}{
		{"GET", "", "", "", nil, "ListBuckets", false, effectRead},
		{"GET", "b", "", "list-type=2&prefix=a", nil, "ListObjectsV2", false, effectRead},
		{"GET", "b", "", "", nil, "ListObjects", false, effectRead},
		{"GET", "b", "", "versions", nil, "ListObjectVersions", false, effectRead},
		{"PUT", "b", "", "", nil, "CreateBucket", true, effectBucket},
		{"DELETE", "b", "", "", nil, "DeleteBucket", true, effectBucket},
		{"POST", "b", "", "delete", nil, "DeleteObjects", true, effectDeleteMulti},
		{"GET", "b", "k", "", nil, "GetObject", false, effectRead},
		{"GET", "b", "k", "versionId=3", nil, "GetObject", false, effectRead},
		{"HEAD", "b", "k", "", nil, "HeadObject", false, effectRead},
		{"GET", "b", "k", "tagging", nil, "GetObjectTagging", false, effectRead},
		{"PUT", "b", "k", "", nil, "PutObject", true, effectKey},
		{"PUT", "b", "k", "", http.Header{"X-Amz-Copy-Source": {"/s/k"}}, "CopyObject", true, effectKey},
		{"PUT", "b", "k", "partNumber=1&uploadId=u", nil, "UploadPart", true, effectNone},
		{"PUT", "b", "k", "partNumber=1&uploadId=u", http.Header{"X-Amz-Copy-Source": {"/s/k"}}, "UploadPartCopy", true, effectNone},
		{"PUT", "b", "k", "tagging", nil, "PutObjectTagging", true, effectKey},
		{"PUT", "b", "k", "acl", nil, "PutObjectAcl", true, effectKey},
		{"DELETE", "b", "k", "", nil, "DeleteObject", true, effectKey},
		{"DELETE", "b", "k", "uploadId=u", nil, "AbortMultipartUpload", true, effectNone},
		{"DELETE", "b", "k", "tagging", nil, "DeleteObjectTagging", true, effectKey},
		{"POST", "b", "k", "uploads", nil, "CreateMultipartUpload", true, effectNone},
		{"POST", "b", "k", "uploadId=u", nil, "CompleteMultipartUpload", true, effectKey},
		{"PATCH", "b", "k", "", nil, "Unknown", true, effectKey},
		{"PATCH", "b", "", "", nil, "Unknown", true, effectBucket},
		{"POST", "b", "", "frobnicate", nil, "Unknown", true, effectBucket},
		{"GET", "", "", "frobnicate", nil, "ListBuckets", false, effectRead},
		{"OPTIONS", "b", "k", "", nil, "Unknown", true, effectKey},
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
			got := classify(tt.method, tt.bucket, tt.key, q, h)
			if got.Name != tt.name || got.Write != tt.write || got.effect != tt.effect {
				t.Errorf("classify = %+v, want name %s write %v effect %d", got, tt.name, tt.write, tt.effect)
			}
		})
	}
}

func TestValidBucketName(t *testing.T) {
	tests := map[string]bool{
		"abc": true, "my-bucket.v2": true, "0ab": true, "a-b-c-1": true,
		"ab": false, "Abc": false, "-abc": false, "abc-": false, "a..b": false,
		"a_b_c": false, "192.168.5.4": false, "a b": false,
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa":  true,
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa": false,
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			if got := validBucketName(name); got != want {
				t.Errorf("validBucketName(%q) = %v, want %v", name, got, want)
			}
		})
	}
}
