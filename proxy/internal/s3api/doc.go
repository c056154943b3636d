// Package s3api is the vocabulary of the S3 protocol that the proxy
// speaks, with no state and nothing of the proxy in it: the one S3 error
// type and the one writer of error bodies, the error codes the proxy
// answers with, the table that names the S3 operation of a request and
// what it does to cached objects, query parsing, and the rules for bucket
// names and object keys.
//
// The proxy uses it on every request: proxy/router.go validates the
// bucket and key (ValidBucketName, KeyLeavesBucket, CheckKey), parses the
// query (ParseQuery) and classifies the request (Classify) before it
// authorizes and serves it; proxy/passthrough.go invalidates by the
// operation's Effect; proxy/errors.go turns any failure into an *Error
// (mapping sigv4's sentinel errors there, so that this package stays a
// leaf) and sends it with Write, as the lean HTTP/1.1 loop
// (proxy/http1.go) does for the request heads it refuses.
//
// Everything here is safe for concurrent use. The error templates are
// shared values: derive a new error from one with its methods
// (WithCause, WithMessage) and never modify it.
package s3api
