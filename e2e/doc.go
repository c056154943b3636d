// Package e2e holds the end-to-end tests of s3cache. It has no API: the
// tests build ./cmd/s3cache, start a real S3 server (versitygw) on a free
// loopback port with a counting relay in front of it, run the proxy binary
// against the relay and drive it with real clients (the aws CLI, boto3,
// aws-sdk-go-v2, minio-go and curl; for the hit-ratio suite also rclone,
// s5cmd and the AWS SDK for JavaScript v3 under testdata/js).
//
// Cache behaviour is asserted through the X-Cache response header and the
// relay's counts of backend requests and bytes, never through timing. If versitygw or the
// binary cannot be started, the tests fail; they never skip. The scale-out
// tests (TestReplica*) also start redis-server, which must be installed;
// so must every client TestHitRatio runs (.ci/test installs them all).
//
// Environment:
//
//	S3CACHE_E2E_BIN        use this prebuilt binary instead of building one
//	S3CACHE_E2E_DEV_BIN    the same for the binary built with -tags dev (for -dev)
//	S3CACHE_E2E_RACE=1     build the binary with -race (CI does)
//	S3CACHE_E2E_VERSITYGW  path of the versitygw binary (default: PATH, then $GOPATH/bin)
//	S3CACHE_E2E_REDIS      path of the redis-server binary (default: PATH, then /usr/bin)
//	S3CACHE_E2E_S5CMD      path of the s5cmd binary (default: PATH, then $GOPATH/bin)
package e2e
