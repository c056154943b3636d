// Package identity is who may use the proxy and how much: the users and
// their credentials (Config, read from AUTH_CONFIG by ParseConfig), the
// authorization of each request (Authorize, and FilterListBuckets for a
// user who may not see every bucket), the per-principal rate limits
// (RateLimiter) and the audit log writer (AuditLog).
//
// It knows S3 operations and errors through internal/s3api and nothing
// else of the project. The proxy uses it before any cache lookup:
// proxy/router.go looks the verified access key up in the Config in force
// (its SecretKey is the sigv4 verifier's credential store), then admit
// rate limits and authorizes; proxy/passthrough.go filters ListBuckets
// answers; proxy/admin.go asks Principal.Admin; proxy/audit.go builds each
// AuditRecord from the finished request. proxy/auth.go keeps the names
// the proxy's API has always had (AuthConfig, NewAuthConfig,
// ParseAuthConfig, User, Permission) as aliases of these.
package identity
