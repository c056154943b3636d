package proxy

import (
	"io"

	"github.com/s3cache/s3cache/proxy/internal/identity"
)

// Who may use the proxy is package internal/identity's: these names keep
// the proxy's API for the users of Config.Auth and SetAuth (cmd/s3cache
// reads AUTH_CONFIG with ParseAuthConfig).

// AuthConfig is who may use the proxy and what they may do: the users read
// from AUTH_CONFIG, and the buckets unsigned requests may read. Build it
// with ParseAuthConfig or NewAuthConfig; it is immutable afterwards and
// safe for concurrent use. A nil *AuthConfig (in Config.Auth, or given to
// SetAuth) means the single user Config.AccessKey with full access. See
// identity.Config for the file's format.
type AuthConfig = identity.Config

// User is one set of client credentials and its bucket grants, as
// NewAuthConfig takes them. The zero value is refused: a user needs an
// access key and a secret.
type User = identity.User

// Permission is what a principal may do with a bucket. The zero value
// grants nothing.
type Permission = identity.Permission

// Permissions. PermReadWrite is PermRead|PermWrite.
const (
	PermRead      = identity.PermRead
	PermWrite     = identity.PermWrite
	PermReadWrite = identity.PermReadWrite
)

// AllBuckets is the bucket name that grants a permission on every bucket.
const AllBuckets = identity.AllBuckets

// ErrAuthConfig is wrapped by every error of ParseAuthConfig and
// NewAuthConfig.
var ErrAuthConfig = identity.ErrConfig

// NewAuthConfig builds an AuthConfig from users and the buckets anonymous
// requests may read (bucket → PermRead); see identity.NewConfig.
func NewAuthConfig(users []User, anonymous map[string]Permission) (*AuthConfig, error) {
	return identity.NewConfig(users, anonymous)
}

// ParseAuthConfig reads an AUTH_CONFIG file; name is used in error
// messages, which never contain a secret. See identity.ParseConfig.
func ParseAuthConfig(r io.Reader, name string) (*AuthConfig, error) {
	return identity.ParseConfig(r, name)
}
