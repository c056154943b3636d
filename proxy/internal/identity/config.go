package identity

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/s3cache/s3cache/proxy/internal/s3api"
	"github.com/s3cache/s3cache/proxy/internal/yamlfile"
)

// Permission is what a principal may do with a bucket: read (GET and HEAD
// of objects, listings and other reads), write (everything that changes
// the bucket or its objects), or both. The zero value grants nothing.
type Permission uint8

// Permissions. PermReadWrite is PermRead|PermWrite.
const (
	PermRead Permission = 1 << iota
	PermWrite
	PermReadWrite = PermRead | PermWrite
)

func (p Permission) String() string {
	switch p {
	case PermRead:
		return "read"
	case PermWrite:
		return "write"
	case PermReadWrite:
		return "read-write"
	}
	return "none"
}

// AllBuckets is the bucket name that grants a permission on every bucket.
const AllBuckets = "*"

// User is one set of client credentials and its bucket grants, as
// NewConfig takes them. The zero value is refused by NewConfig: a user
// needs an access key and a secret.
type User struct {
	AccessKey string
	SecretKey string
	Buckets   map[string]Permission // bucket name or AllBuckets → permission
	Admin     bool                  // may use the admin API under /-/admin/; false: may not
}

// Config is who may use the proxy and what they may do: the users read
// from AUTH_CONFIG, and the buckets unsigned requests may read. Build it
// with ParseConfig, NewConfig or SingleUser; it is immutable afterwards
// and safe for concurrent use. The zero value has no user and refuses
// anonymous requests. (The proxy takes a nil *Config, in its
// Config.Auth, as the single user Config.AccessKey with full access.)
//
// The file looks like this:
//
//	users:
//	  - access_key: alice
//	    secret_key: alice-secret-1
//	    buckets:
//	      photos: read-write      # read | write | read-write
//	      logs: read
//	      "*": read               # every bucket
//	  - access_key: ops
//	    secret_key: ops-secret-1
//	    admin: true               # may use /-/admin/ (default false)
//	anonymous:
//	  public-assets: read         # unsigned GET/HEAD and listings
type Config struct {
	users map[string]*Principal // by access key
	anon  *Principal            // nil when anonymous access is off
}

// Principal is who a request is authorized as: a user of a Config, or
// anonymous. It is immutable and safe for concurrent use. The zero value
// is anonymous with no grant.
type Principal struct {
	name    string // access key; "" for anonymous
	secret  string
	buckets map[string]Permission
	all     Permission // granted on AllBuckets
	admin   bool       // may use the admin API
}

// Perm returns what pr may do with bucket.
func (pr *Principal) Perm(bucket string) Permission {
	return pr.buckets[bucket] | pr.all
}

// Name is pr's access key, or "" for anonymous.
func (pr *Principal) Name() string { return pr.name }

// Admin reports whether pr may use the admin API.
func (pr *Principal) Admin() bool { return pr.admin }

// ErrConfig is wrapped by every error of ParseConfig and NewConfig. Its
// text, which operators see at start-up and on a reload, is the one the
// proxy has always printed.
var ErrConfig = errors.New("proxy: bad auth config")

// NewConfig builds a Config from users and the buckets anonymous
// requests may read (bucket → PermRead). It refuses duplicate or empty
// access keys, empty secrets, invalid bucket names, empty permissions and
// anonymous permissions other than read.
func NewConfig(users []User, anonymous map[string]Permission) (*Config, error) {
	a := &Config{users: make(map[string]*Principal, len(users))}
	for i, u := range users {
		switch {
		case u.AccessKey == "":
			return nil, fmt.Errorf("%w: user %d: empty access key", ErrConfig, i+1)
		case u.SecretKey == "":
			return nil, fmt.Errorf("%w: user %q: empty secret key", ErrConfig, u.AccessKey)
		case a.users[u.AccessKey] != nil:
			return nil, fmt.Errorf("%w: user %q: duplicate access key", ErrConfig, u.AccessKey)
		}
		pr, err := newPrincipal(u.AccessKey, u.SecretKey, u.Buckets)
		if err != nil {
			return nil, fmt.Errorf("%w: user %q: %w", ErrConfig, u.AccessKey, err)
		}
		pr.admin = u.Admin
		a.users[u.AccessKey] = pr
	}
	if len(anonymous) > 0 {
		for b, p := range anonymous {
			if p != PermRead {
				return nil, fmt.Errorf("%w: anonymous: bucket %q: only read may be granted to anonymous requests", ErrConfig, b)
			}
		}
		pr, err := newPrincipal("", "", anonymous)
		if err != nil {
			return nil, fmt.Errorf("%w: anonymous: %w", ErrConfig, err)
		}
		a.anon = pr
	}
	return a, nil
}

func newPrincipal(name, secret string, grants map[string]Permission) (*Principal, error) {
	pr := &Principal{name: name, secret: secret, buckets: make(map[string]Permission, len(grants))}
	for b, p := range grants {
		if p == 0 || p > PermReadWrite {
			return nil, fmt.Errorf("bucket %q: want read, write or read-write", b)
		}
		if b == AllBuckets {
			pr.all = p
			continue
		}
		if !s3api.ValidBucketName(b) {
			return nil, fmt.Errorf("bucket %q is not a valid bucket name", b)
		}
		pr.buckets[b] = p
	}
	return pr, nil
}

// SingleUser is the Config without AUTH_CONFIG: one user with full
// access, admin API included, and no anonymous access.
func SingleUser(accessKey, secretKey string) *Config {
	pr := &Principal{name: accessKey, secret: secretKey, all: PermReadWrite, admin: true}
	return &Config{users: map[string]*Principal{accessKey: pr}}
}

// User returns the principal of accessKey, or nil.
func (a *Config) User(accessKey string) *Principal { return a.users[accessKey] }

// Anonymous returns the principal of unsigned requests, or nil when they
// are refused.
func (a *Config) Anonymous() *Principal { return a.anon }

// SecretKey implements sigv4.CredentialStore.
func (a *Config) SecretKey(accessKey string) (string, bool) {
	if pr := a.users[accessKey]; pr != nil {
		return pr.secret, true
	}
	return "", false
}

// Users returns the number of users.
func (a *Config) Users() int { return len(a.users) }

// ParseConfig reads an AUTH_CONFIG file. name is used in error
// messages, which say the line of every unknown field and bad value; they
// never contain a secret.
func ParseConfig(r io.Reader, name string) (*Config, error) {
	top, fail, err := yamlfile.Mapping(r, name, ErrConfig, `"users" and "anonymous"`)
	if err != nil {
		return nil, err
	}
	if top == nil {
		return nil, fail(errors.New("the file is empty: want \"users\""))
	}
	var users []User
	var anonymous map[string]Permission
	keyLines := map[string]int{}
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		switch k.Value {
		case "users":
			if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
				continue
			}
			if v.Kind != yaml.SequenceNode {
				return nil, fail(fmt.Errorf("line %d: users is a list", v.Line))
			}
			for _, un := range v.Content {
				u, err := parseUser(un)
				if err != nil {
					return nil, fail(err)
				}
				if l, dup := keyLines[u.AccessKey]; dup {
					return nil, fail(fmt.Errorf("line %d: access key %q already used on line %d", un.Line, u.AccessKey, l))
				}
				keyLines[u.AccessKey] = un.Line
				users = append(users, u)
			}
		case "anonymous":
			g, err := parseGrants(v, true)
			if err != nil {
				return nil, fail(err)
			}
			anonymous = g
		default:
			return nil, fail(fmt.Errorf("line %d: unknown field %q (want users, anonymous)", k.Line, k.Value))
		}
	}
	a, err := NewConfig(users, anonymous)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return a, nil
}

// userFields are the fields a user may have.
var userFields = []string{"access_key", "secret_key", "buckets", "admin"}

func parseUser(n *yaml.Node) (User, error) {
	var u User
	if n.Kind != yaml.MappingNode {
		return u, fmt.Errorf("line %d: a user is a mapping of %s", n.Line, strings.Join(userFields, ", "))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "access_key", "secret_key":
			if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
				return u, fmt.Errorf("line %d: %s: want a string", v.Line, k.Value)
			}
			if k.Value == "access_key" {
				u.AccessKey = v.Value
			} else {
				u.SecretKey = v.Value
			}
		case "buckets":
			g, err := parseGrants(v, false)
			if err != nil {
				return u, err
			}
			u.Buckets = g
		case "admin":
			var admin bool
			if v.Kind != yaml.ScalarNode || v.Decode(&admin) != nil {
				return u, fmt.Errorf("line %d: admin: want true or false", v.Line)
			}
			u.Admin = admin
		default:
			return u, fmt.Errorf("line %d: unknown field %q in a user (want %s)", k.Line, k.Value, strings.Join(userFields, ", "))
		}
	}
	switch {
	case u.AccessKey == "":
		return u, fmt.Errorf("line %d: a user needs access_key", n.Line)
	case strings.ContainsAny(u.AccessKey, "/ \t\r\n,="):
		return u, fmt.Errorf("line %d: access_key %q: must not contain '/', ',', '=' or spaces", n.Line, u.AccessKey)
	case u.SecretKey == "":
		return u, fmt.Errorf("line %d: user %q needs a non-empty secret_key", n.Line, u.AccessKey)
	}
	return u, nil
}

// parseGrants reads a mapping of bucket → permission.
func parseGrants(n *yaml.Node, anonymous bool) (map[string]Permission, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: want a mapping of bucket name to read, write or read-write", n.Line)
	}
	g := make(map[string]Permission, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		b := k.Value
		if k.Kind != yaml.ScalarNode || b != AllBuckets && !s3api.ValidBucketName(b) {
			return nil, fmt.Errorf("line %d: bucket %q is not a valid bucket name (or \"*\")", k.Line, b)
		}
		if _, dup := g[b]; dup {
			return nil, fmt.Errorf("line %d: bucket %q listed twice", k.Line, b)
		}
		var p Permission
		switch {
		case v.Kind != yaml.ScalarNode:
		case v.Value == "read":
			p = PermRead
		case v.Value == "write" && !anonymous:
			p = PermWrite
		case v.Value == "read-write" && !anonymous:
			p = PermReadWrite
		}
		if p == 0 {
			want := "read, write or read-write"
			if anonymous {
				want = "read (the only permission anonymous requests may have)"
			}
			return nil, fmt.Errorf("line %d: bucket %q: permission %q: want %s", v.Line, b, v.Value, want)
		}
		g[b] = p
	}
	return g, nil
}
