// Package sigv4 verifies AWS Signature Version 4 on requests arriving at an
// S3-compatible endpoint and re-signs requests leaving for the backend.
//
// Inbound, a [Verifier] checks the Authorization header or the presigned
// query of a request and returns a [Result] whose Body is the payload the
// backend must receive: for signed payloads and aws-chunked uploads it is a
// reader that verifies the SHA-256, the chunk signatures, the trailers and
// the declared length while streaming, and that withholds the last byte of
// the payload until all of that succeeded, so that a forwarded request can
// never complete with unverified or truncated data.
//
// Outbound, a [Transport] removes the client's authentication from a request
// and signs it with the proxy's own credentials as the last step before it is
// sent.
//
// The package knows nothing of buckets or routing; failures are reported with
// the exported sentinel errors, wrapped with detail, to be matched with
// [errors.Is].
package sigv4
