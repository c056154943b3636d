package identity

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/s3cache/s3cache/proxy/internal/s3api"
)

// errBadCopySource refuses a copy whose source names no bucket and key.
var errBadCopySource = s3api.New(http.StatusBadRequest, "InvalidArgument", "Copy Source must mention the source bucket and key: sourcebucket/sourcekey.")

// maxListBucketsBody caps how much of a ListBuckets answer is read to
// filter it for a user who may not see every bucket.
const maxListBucketsBody = 8 << 20

// Authorize decides whether pr may run op on bucket; h is the request's
// header (for the copy source). It runs after authentication and before
// anything else, the cache included. The rules:
//
//   - anonymous requests may only GetObject, HeadObject, ListObjects and
//     ListObjectsV2 on buckets granted read under "anonymous";
//   - ListBuckets is allowed to every user (the answer is filtered);
//   - CreateBucket and other service-level requests need write on "*";
//   - operations the table does not know ("Unknown") and every operation
//     with Operation.Write need write on the bucket, any other read;
//   - CopyObject and UploadPartCopy also need read on the source bucket.
//
// It returns nil or an *s3api.Error; it does not allocate. pr is never nil.
func Authorize(pr *Principal, op s3api.Operation, bucket string, h http.Header) error {
	if pr.name == "" {
		switch op.Name {
		case "GetObject", "HeadObject", "ListObjects", "ListObjectsV2":
		default:
			return s3api.ErrAccessDenied
		}
	}
	need := PermRead
	switch {
	case op.Name == "ListBuckets":
		return nil
	case op.Name == "CreateBucket" || bucket == "":
		if pr.all&PermWrite == 0 {
			return s3api.ErrAccessDenied
		}
		return nil
	case op.Write || op.Name == "Unknown":
		need = PermWrite
	}
	if pr.Perm(bucket)&need == 0 {
		return s3api.ErrAccessDenied
	}
	if op.Name == "CopyObject" || op.Name == "UploadPartCopy" {
		src, ok := copySourceBucket(h.Get("X-Amz-Copy-Source"))
		if !ok {
			return errBadCopySource
		}
		if pr.Perm(src)&PermRead == 0 {
			return s3api.ErrAccessDenied
		}
	}
	return nil
}

// copySourceBucket returns the bucket of an x-amz-copy-source value:
// "bucket/key" or "/bucket/key", URL-encoded, with an optional
// "?versionId=…".
func copySourceBucket(v string) (string, bool) {
	if i := strings.IndexByte(v, '?'); i >= 0 {
		v = v[:i]
	}
	if strings.IndexByte(v, '%') >= 0 {
		var err error
		if v, err = url.PathUnescape(v); err != nil {
			return "", false
		}
	}
	v = strings.TrimPrefix(v, "/")
	b, k, ok := strings.Cut(v, "/")
	if !ok || k == "" || !s3api.ValidBucketName(b) || s3api.KeyLeavesBucket(k) {
		return "", false
	}
	return b, true
}

// SeesAllBuckets reports whether a ListBuckets answer needs no filtering
// for pr: it has a grant on every bucket.
func (pr *Principal) SeesAllBuckets() bool { return pr.all != 0 }

// FilterListBuckets replaces the body of a 200 ListBuckets answer by one
// that lists only the buckets pr has a grant on, everything else of the
// document kept byte for byte, and fixes Content-Length.
func FilterListBuckets(res *http.Response, pr *Principal) error {
	if res.StatusCode != http.StatusOK {
		return nil
	}
	if ce := res.Header.Get("Content-Encoding"); ce != "" && ce != "identity" {
		return fmt.Errorf("identity: ListBuckets answer with Content-Encoding %q cannot be filtered", ce)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxListBucketsBody+1))
	res.Body.Close()
	if err != nil {
		return fmt.Errorf("identity: reading ListBuckets answer: %w", err)
	}
	if len(body) > maxListBucketsBody {
		return fmt.Errorf("identity: ListBuckets answer longer than %d bytes", maxListBucketsBody)
	}
	out, err := filterBucketsXML(body, func(name string) bool { return pr.Perm(name) != 0 })
	if err != nil {
		return err
	}
	res.Body = io.NopCloser(bytes.NewReader(out))
	res.ContentLength = int64(len(out))
	res.Header.Set("Content-Length", strconv.Itoa(len(out)))
	res.Header.Del("Transfer-Encoding")
	return nil
}

// filterBucketsXML removes from a ListAllMyBucketsResult document every
// Buckets/Bucket element whose Name keep refuses, and leaves every other
// byte as it was.
func filterBucketsXML(doc []byte, keep func(string) bool) ([]byte, error) {
	d := xml.NewDecoder(bytes.NewReader(doc))
	var (
		out      []byte
		copied   int64 // doc[:copied] is accounted for in out
		path     []string
		start    int64 // offset of the current Bucket element
		name     strings.Builder
		inName   bool
		bucketAt = -1 // depth of the current Bucket element, or -1
	)
	for {
		off := d.InputOffset()
		tok, err := d.RawToken()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("identity: ListBuckets answer: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			path = append(path, t.Name.Local)
			switch {
			case len(path) == 3 && path[0] == "ListAllMyBucketsResult" && path[1] == "Buckets" && t.Name.Local == "Bucket":
				bucketAt, start = len(path), off
				name.Reset()
			case bucketAt > 0 && len(path) == bucketAt+1 && t.Name.Local == "Name":
				inName = true
			}
		case xml.CharData:
			if inName {
				name.Write(t)
			}
		case xml.EndElement:
			if len(path) == 0 {
				return nil, errors.New("identity: ListBuckets answer: unbalanced XML")
			}
			inName = false
			if len(path) == bucketAt {
				bucketAt = -1
				if !keep(name.String()) {
					out = append(out, doc[copied:start]...)
					copied = d.InputOffset()
				}
			}
			path = path[:len(path)-1]
		}
	}
	if len(path) != 0 {
		return nil, errors.New("identity: ListBuckets answer: truncated XML")
	}
	if copied == 0 {
		return doc, nil
	}
	return append(out, doc[copied:]...), nil
}
