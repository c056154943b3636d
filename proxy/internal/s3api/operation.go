package s3api

import (
	"net/http"
	"net/url"
	"slices"
)

// Effect says what an operation does to cached objects. The zero value
// is EffectRead.
type Effect uint8

// The effects, from none to the widest.
const (
	EffectRead        Effect = iota // changes nothing
	EffectNone                      // a write that changes no visible object (UploadPart, CreateMultipartUpload…)
	EffectKey                       // changes the object named in the path
	EffectBucket                    // may change any object of the bucket
	EffectDeleteMulti               // changes the objects listed in the body (DeleteObjects)
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
// metrics and logs all use it. The zero value names no operation: a read
// without a name. An Operation is a value, safe to copy and share.
type Operation struct {
	Name   string // as AWS spells it, e.g. "GetObject"; "Unknown" when the table has no row
	Write  bool   // needs write access; false for reads
	Effect Effect // what it does to cached objects
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
	effect Effect
}

// opTable is the one classification of S3 requests. Rows are tried in
// order; the first match wins, so more specific rows come first.
var opTable = []opRule{
	{http.MethodGet, levelService, "", "", "ListBuckets", EffectRead},

	{http.MethodHead, levelBucket, "", "", "HeadBucket", EffectRead},
	{http.MethodGet, levelBucket, "uploads", "", "ListMultipartUploads", EffectRead},
	{http.MethodGet, levelBucket, "versions", "", "ListObjectVersions", EffectRead},
	{http.MethodGet, levelBucket, "list-type", "", "ListObjectsV2", EffectRead},
	{http.MethodGet, levelBucket, "location", "", "GetBucketLocation", EffectRead},
	{http.MethodGet, levelBucket, "acl", "", "GetBucketAcl", EffectRead},
	{http.MethodGet, levelBucket, "tagging", "", "GetBucketTagging", EffectRead},
	{http.MethodGet, levelBucket, "policy", "", "GetBucketPolicy", EffectRead},
	{http.MethodGet, levelBucket, "policyStatus", "", "GetBucketPolicyStatus", EffectRead},
	{http.MethodGet, levelBucket, "versioning", "", "GetBucketVersioning", EffectRead},
	{http.MethodGet, levelBucket, "cors", "", "GetBucketCors", EffectRead},
	{http.MethodGet, levelBucket, "lifecycle", "", "GetBucketLifecycleConfiguration", EffectRead},
	{http.MethodGet, levelBucket, "object-lock", "", "GetObjectLockConfiguration", EffectRead},
	{http.MethodGet, levelBucket, "ownershipControls", "", "GetBucketOwnershipControls", EffectRead},
	{http.MethodGet, levelBucket, "encryption", "", "GetBucketEncryption", EffectRead},
	{http.MethodGet, levelBucket, "website", "", "GetBucketWebsite", EffectRead},
	{http.MethodGet, levelBucket, "logging", "", "GetBucketLogging", EffectRead},
	{http.MethodGet, levelBucket, "notification", "", "GetBucketNotificationConfiguration", EffectRead},
	{http.MethodGet, levelBucket, "replication", "", "GetBucketReplication", EffectRead},
	{http.MethodGet, levelBucket, "accelerate", "", "GetBucketAccelerateConfiguration", EffectRead},
	{http.MethodGet, levelBucket, "requestPayment", "", "GetBucketRequestPayment", EffectRead},
	{http.MethodGet, levelBucket, "publicAccessBlock", "", "GetPublicAccessBlock", EffectRead},
	{http.MethodGet, levelBucket, "", "", "ListObjects", EffectRead},

	{http.MethodPut, levelBucket, "acl", "", "PutBucketAcl", EffectBucket},
	{http.MethodPut, levelBucket, "tagging", "", "PutBucketTagging", EffectNone},
	{http.MethodPut, levelBucket, "policy", "", "PutBucketPolicy", EffectBucket},
	{http.MethodPut, levelBucket, "versioning", "", "PutBucketVersioning", EffectBucket},
	{http.MethodPut, levelBucket, "cors", "", "PutBucketCors", EffectBucket},
	{http.MethodPut, levelBucket, "lifecycle", "", "PutBucketLifecycleConfiguration", EffectBucket},
	{http.MethodPut, levelBucket, "object-lock", "", "PutObjectLockConfiguration", EffectBucket},
	{http.MethodPut, levelBucket, "ownershipControls", "", "PutBucketOwnershipControls", EffectBucket},
	{http.MethodPut, levelBucket, "encryption", "", "PutBucketEncryption", EffectBucket},
	{http.MethodPut, levelBucket, "website", "", "PutBucketWebsite", EffectBucket},
	{http.MethodPut, levelBucket, "logging", "", "PutBucketLogging", EffectNone},
	{http.MethodPut, levelBucket, "notification", "", "PutBucketNotificationConfiguration", EffectNone},
	{http.MethodPut, levelBucket, "replication", "", "PutBucketReplication", EffectNone},
	{http.MethodPut, levelBucket, "publicAccessBlock", "", "PutPublicAccessBlock", EffectBucket},
	{http.MethodPut, levelBucket, "", "", "CreateBucket", EffectBucket},

	{http.MethodDelete, levelBucket, "tagging", "", "DeleteBucketTagging", EffectNone},
	{http.MethodDelete, levelBucket, "policy", "", "DeleteBucketPolicy", EffectBucket},
	{http.MethodDelete, levelBucket, "cors", "", "DeleteBucketCors", EffectBucket},
	{http.MethodDelete, levelBucket, "lifecycle", "", "DeleteBucketLifecycle", EffectBucket},
	{http.MethodDelete, levelBucket, "ownershipControls", "", "DeleteBucketOwnershipControls", EffectBucket},
	{http.MethodDelete, levelBucket, "encryption", "", "DeleteBucketEncryption", EffectBucket},
	{http.MethodDelete, levelBucket, "website", "", "DeleteBucketWebsite", EffectBucket},
	{http.MethodDelete, levelBucket, "replication", "", "DeleteBucketReplication", EffectNone},
	{http.MethodDelete, levelBucket, "publicAccessBlock", "", "DeletePublicAccessBlock", EffectBucket},
	{http.MethodDelete, levelBucket, "", "", "DeleteBucket", EffectBucket},

	{http.MethodPost, levelBucket, "delete", "", "DeleteObjects", EffectDeleteMulti},

	{http.MethodHead, levelObject, "", "", "HeadObject", EffectRead},
	{http.MethodGet, levelObject, "uploadId", "", "ListParts", EffectRead},
	{http.MethodGet, levelObject, "acl", "", "GetObjectAcl", EffectRead},
	{http.MethodGet, levelObject, "tagging", "", "GetObjectTagging", EffectRead},
	{http.MethodGet, levelObject, "retention", "", "GetObjectRetention", EffectRead},
	{http.MethodGet, levelObject, "legal-hold", "", "GetObjectLegalHold", EffectRead},
	{http.MethodGet, levelObject, "attributes", "", "GetObjectAttributes", EffectRead},
	{http.MethodGet, levelObject, "torrent", "", "GetObjectTorrent", EffectRead},
	{http.MethodGet, levelObject, "", "", "GetObject", EffectRead},

	{http.MethodPut, levelObject, "uploadId", "X-Amz-Copy-Source", "UploadPartCopy", EffectNone},
	{http.MethodPut, levelObject, "uploadId", "", "UploadPart", EffectNone},
	{http.MethodPut, levelObject, "tagging", "", "PutObjectTagging", EffectKey},
	{http.MethodPut, levelObject, "acl", "", "PutObjectAcl", EffectKey},
	{http.MethodPut, levelObject, "retention", "", "PutObjectRetention", EffectKey},
	{http.MethodPut, levelObject, "legal-hold", "", "PutObjectLegalHold", EffectKey},
	{http.MethodPut, levelObject, "", "X-Amz-Copy-Source", "CopyObject", EffectKey},
	{http.MethodPut, levelObject, "", "", "PutObject", EffectKey},

	{http.MethodDelete, levelObject, "uploadId", "", "AbortMultipartUpload", EffectNone},
	{http.MethodDelete, levelObject, "tagging", "", "DeleteObjectTagging", EffectKey},
	{http.MethodDelete, levelObject, "", "", "DeleteObject", EffectKey},

	{http.MethodPost, levelObject, "uploads", "", "CreateMultipartUpload", EffectNone},
	{http.MethodPost, levelObject, "uploadId", "", "CompleteMultipartUpload", EffectKey},
	{http.MethodPost, levelObject, "restore", "", "RestoreObject", EffectKey},
	{http.MethodPost, levelObject, "select", "", "SelectObjectContent", EffectRead},
}

// Classify names the S3 operation of a request for bucket and key ("" for
// none) with the parsed query. A request the table does not know is "Unknown": a GET or HEAD is taken as a read, anything else as
// a write that invalidates the key, or the whole bucket when there is none.
func Classify(method, bucket, key string, query url.Values, header http.Header) Operation {
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
		return Operation{Name: rule.name, Write: rule.effect != EffectRead, Effect: rule.effect}
	}
	op := Operation{Name: "Unknown"}
	switch {
	case method == http.MethodGet || method == http.MethodHead:
		op.Effect = EffectRead
	case lv == levelObject:
		op.Write, op.Effect = true, EffectKey
	default:
		op.Write, op.Effect = true, EffectBucket
	}
	return op
}

// OperationNames returns the name of every operation Classify knows, each
// once, in the order of its table; "Unknown" is not among them. The slice
// is the caller's.
func OperationNames() []string {
	var names []string
	for i := range opTable {
		if !slices.Contains(names, opTable[i].name) {
			names = append(names, opTable[i].name)
		}
	}
	return names
}

// Pattern describes the requests that Classify names as one operation:
// their method, whether the path names a bucket and a key, and the query
// subresource and header they carry ("" for none). The zero value is a
// pattern of no operation.
type Pattern struct {
	Method      string
	Bucket, Key bool // Key implies Bucket
	Sub         string
	Header      string
	Name        string // the operation's name
}

// Patterns returns a pattern for every row of Classify's table, in the
// order it tries them, for tests that draw requests from it. The slice is
// the caller's.
func Patterns() []Pattern {
	ps := make([]Pattern, len(opTable))
	for i, r := range opTable {
		ps[i] = Pattern{Method: r.method, Bucket: r.level >= levelBucket, Key: r.level == levelObject,
			Sub: r.sub, Header: r.header, Name: r.name}
	}
	return ps
}
