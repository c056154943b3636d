package proxy

import (
	"net/http"
	"net/url"
)

// effect says what an operation does to cached objects.
type effect uint8

const (
	effectRead        effect = iota // changes nothing
	effectNone                      // a write that changes no visible object (UploadPart, CreateMultipartUpload…)
	effectKey                       // changes the object named in the path
	effectBucket                    // may change any object of the bucket
	effectDeleteMulti               // changes the objects listed in the body (DeleteObjects)
)

// level says which part of the path a request names.
type level uint8

const (
	levelService level = iota // "/"
	levelBucket               // "/bucket"
	levelObject               // "/bucket/key"
)

// Operation is the classification of one request: its S3 operation name as
// AWS spells it, and what it does to the cache. Authorization, invalidation,
// metrics and logs all use it. The zero value is not meaningful.
type Operation struct {
	Name   string
	Write  bool // needs write access; false for reads
	effect effect
}

// opRule is one row of the classification table. A rule matches when the
// method and level are equal, the query holds the subresource sub (if any)
// and the request carries the header (if any).
type opRule struct {
	method string
	level  level
	sub    string
	header string
	name   string
	effect effect
}

// opTable is the one classification of S3 requests. Rows are tried in
// order; the first match wins, so more specific rows come first.
var opTable = []opRule{
	{http.MethodGet, levelService, "", "", "ListBuckets", effectRead},

	{http.MethodHead, levelBucket, "", "", "HeadBucket", effectRead},
	{http.MethodGet, levelBucket, "uploads", "", "ListMultipartUploads", effectRead},
	{http.MethodGet, levelBucket, "versions", "", "ListObjectVersions", effectRead},
	{http.MethodGet, levelBucket, "list-type", "", "ListObjectsV2", effectRead},
	{http.MethodGet, levelBucket, "location", "", "GetBucketLocation", effectRead},
	{http.MethodGet, levelBucket, "acl", "", "GetBucketAcl", effectRead},
	{http.MethodGet, levelBucket, "tagging", "", "GetBucketTagging", effectRead},
	{http.MethodGet, levelBucket, "policy", "", "GetBucketPolicy", effectRead},
	{http.MethodGet, levelBucket, "policyStatus", "", "GetBucketPolicyStatus", effectRead},
	{http.MethodGet, levelBucket, "versioning", "", "GetBucketVersioning", effectRead},
	{http.MethodGet, levelBucket, "cors", "", "GetBucketCors", effectRead},
	{http.MethodGet, levelBucket, "lifecycle", "", "GetBucketLifecycleConfiguration", effectRead},
	{http.MethodGet, levelBucket, "object-lock", "", "GetObjectLockConfiguration", effectRead},
	{http.MethodGet, levelBucket, "ownershipControls", "", "GetBucketOwnershipControls", effectRead},
	{http.MethodGet, levelBucket, "encryption", "", "GetBucketEncryption", effectRead},
	{http.MethodGet, levelBucket, "website", "", "GetBucketWebsite", effectRead},
	{http.MethodGet, levelBucket, "logging", "", "GetBucketLogging", effectRead},
	{http.MethodGet, levelBucket, "notification", "", "GetBucketNotificationConfiguration", effectRead},
	{http.MethodGet, levelBucket, "replication", "", "GetBucketReplication", effectRead},
	{http.MethodGet, levelBucket, "accelerate", "", "GetBucketAccelerateConfiguration", effectRead},
	{http.MethodGet, levelBucket, "requestPayment", "", "GetBucketRequestPayment", effectRead},
	{http.MethodGet, levelBucket, "publicAccessBlock", "", "GetPublicAccessBlock", effectRead},
	{http.MethodGet, levelBucket, "", "", "ListObjects", effectRead},

	{http.MethodPut, levelBucket, "acl", "", "PutBucketAcl", effectBucket},
	{http.MethodPut, levelBucket, "tagging", "", "PutBucketTagging", effectNone},
	{http.MethodPut, levelBucket, "policy", "", "PutBucketPolicy", effectBucket},
	{http.MethodPut, levelBucket, "versioning", "", "PutBucketVersioning", effectBucket},
	{http.MethodPut, levelBucket, "cors", "", "PutBucketCors", effectBucket},
	{http.MethodPut, levelBucket, "lifecycle", "", "PutBucketLifecycleConfiguration", effectBucket},
	{http.MethodPut, levelBucket, "object-lock", "", "PutObjectLockConfiguration", effectBucket},
	{http.MethodPut, levelBucket, "ownershipControls", "", "PutBucketOwnershipControls", effectBucket},
	{http.MethodPut, levelBucket, "encryption", "", "PutBucketEncryption", effectBucket},
	{http.MethodPut, levelBucket, "website", "", "PutBucketWebsite", effectBucket},
	{http.MethodPut, levelBucket, "logging", "", "PutBucketLogging", effectNone},
	{http.MethodPut, levelBucket, "notification", "", "PutBucketNotificationConfiguration", effectNone},
	{http.MethodPut, levelBucket, "replication", "", "PutBucketReplication", effectNone},
	{http.MethodPut, levelBucket, "publicAccessBlock", "", "PutPublicAccessBlock", effectBucket},
	{http.MethodPut, levelBucket, "", "", "CreateBucket", effectBucket},

	{http.MethodDelete, levelBucket, "tagging", "", "DeleteBucketTagging", effectNone},
	{http.MethodDelete, levelBucket, "policy", "", "DeleteBucketPolicy", effectBucket},
	{http.MethodDelete, levelBucket, "cors", "", "DeleteBucketCors", effectBucket},
	{http.MethodDelete, levelBucket, "lifecycle", "", "DeleteBucketLifecycle", effectBucket},
	{http.MethodDelete, levelBucket, "ownershipControls", "", "DeleteBucketOwnershipControls", effectBucket},
	{http.MethodDelete, levelBucket, "encryption", "", "DeleteBucketEncryption", effectBucket},
	{http.MethodDelete, levelBucket, "website", "", "DeleteBucketWebsite", effectBucket},
	{http.MethodDelete, levelBucket, "replication", "", "DeleteBucketReplication", effectNone},
	{http.MethodDelete, levelBucket, "publicAccessBlock", "", "DeletePublicAccessBlock", effectBucket},
	{http.MethodDelete, levelBucket, "", "", "DeleteBucket", effectBucket},

	{http.MethodPost, levelBucket, "delete", "", "DeleteObjects", effectDeleteMulti},

	{http.MethodHead, levelObject, "", "", "HeadObject", effectRead},
	{http.MethodGet, levelObject, "uploadId", "", "ListParts", effectRead},
	{http.MethodGet, levelObject, "acl", "", "GetObjectAcl", effectRead},
	{http.MethodGet, levelObject, "tagging", "", "GetObjectTagging", effectRead},
	{http.MethodGet, levelObject, "retention", "", "GetObjectRetention", effectRead},
	{http.MethodGet, levelObject, "legal-hold", "", "GetObjectLegalHold", effectRead},
	{http.MethodGet, levelObject, "attributes", "", "GetObjectAttributes", effectRead},
	{http.MethodGet, levelObject, "torrent", "", "GetObjectTorrent", effectRead},
	{http.MethodGet, levelObject, "", "", "GetObject", effectRead},

	{http.MethodPut, levelObject, "uploadId", "X-Amz-Copy-Source", "UploadPartCopy", effectNone},
	{http.MethodPut, levelObject, "uploadId", "", "UploadPart", effectNone},
	{http.MethodPut, levelObject, "tagging", "", "PutObjectTagging", effectKey},
	{http.MethodPut, levelObject, "acl", "", "PutObjectAcl", effectKey},
	{http.MethodPut, levelObject, "retention", "", "PutObjectRetention", effectKey},
	{http.MethodPut, levelObject, "legal-hold", "", "PutObjectLegalHold", effectKey},
	{http.MethodPut, levelObject, "", "X-Amz-Copy-Source", "CopyObject", effectKey},
	{http.MethodPut, levelObject, "", "", "PutObject", effectKey},

	{http.MethodDelete, levelObject, "uploadId", "", "AbortMultipartUpload", effectNone},
	{http.MethodDelete, levelObject, "tagging", "", "DeleteObjectTagging", effectKey},
	{http.MethodDelete, levelObject, "", "", "DeleteObject", effectKey},

	{http.MethodPost, levelObject, "uploads", "", "CreateMultipartUpload", effectNone},
	{http.MethodPost, levelObject, "uploadId", "", "CompleteMultipartUpload", effectKey},
	{http.MethodPost, levelObject, "restore", "", "RestoreObject", effectKey},
	{http.MethodPost, levelObject, "select", "", "SelectObjectContent", effectRead},
}

// classify names the S3 operation of a request. A request the table does
// not know is "Unknown": a GET or HEAD is taken as a read, anything else as
// a write that invalidates the key, or the whole bucket when there is none.
func classify(method, bucket, key string, query url.Values, header http.Header) Operation {
	lv := levelService
	switch {
	case key != "":
		lv = levelObject
	case bucket != "":
		lv = levelBucket
	}
	for i := range opTable {
		rule := &opTable[i]
		if rule.method != method || rule.level != lv {
			continue
		}
		if rule.sub != "" {
			if _, ok := query[rule.sub]; !ok {
				continue
			}
		}
		if rule.header != "" && header.Get(rule.header) == "" {
			continue
		}
		return Operation{Name: rule.name, Write: rule.effect != effectRead, effect: rule.effect}
	}
	op := Operation{Name: "Unknown"}
	switch {
	case method == http.MethodGet || method == http.MethodHead:
		op.effect = effectRead
	case lv == levelObject:
		op.Write, op.effect = true, effectKey
	default:
		op.Write, op.effect = true, effectBucket
	}
	return op
}
