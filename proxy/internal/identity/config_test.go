package identity

import (
	"errors"
	"strings"
	"testing"

	"github.com/s3cache/s3cache/proxy/internal/s3api"
)

const exampleAuth = `users:
  - access_key: alice
    secret_key: alice-secret-1
    buckets:
      photos: read-write
      logs: read
  - access_key: admin
    secret_key: admin-secret
    buckets:
      "*": read-write
    admin: true
anonymous:
  public-assets: read
`

func TestParseConfig(t *testing.T) {
	a, err := ParseConfig(strings.NewReader(exampleAuth), "auth.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Users(); got != 2 {
		t.Errorf("Users() = %d, want 2", got)
	}
	if s, ok := a.SecretKey("alice"); !ok || s != "alice-secret-1" {
		t.Errorf("SecretKey(alice) = %q, %v", s, ok)
	}
	if _, ok := a.SecretKey("nobody"); ok {
		t.Error("SecretKey(nobody) found")
	}
	alice := a.User("alice")
	for b, want := range map[string]Permission{"photos": PermReadWrite, "logs": PermRead, "other": 0} {
		if got := alice.Perm(b); got != want {
			t.Errorf("alice on %s: %v, want %v", b, got, want)
		}
	}
	if got := a.User("admin").Perm("anything"); got != PermReadWrite {
		t.Errorf("admin on anything: %v, want read-write", got)
	}
	if !a.User("admin").admin || alice.admin {
		t.Error("admin: true must make admin, and only admin, an admin")
	}
	if a.anon == nil || a.anon.Perm("public-assets") != PermRead || a.anon.Perm("photos") != 0 {
		t.Errorf("anonymous grants wrong: %+v", a.anon)
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"empty", "", "empty"},
		{"not a mapping", "- a\n", "line 1"},
		{"unknown top field", "users: []\ngroups: []\n", `line 2: unknown field "groups"`},
		{"users not a list", "users: alice\n", "line 1: users is a list"},
		{"unknown user field", "users:\n  - access_key: a\n    secret_key: s\n    role: admin\n", `line 4: unknown field "role"`},
		{"no access key", "users:\n  - secret_key: s\n", "line 2: a user needs access_key"},
		{"empty secret", "users:\n  - access_key: alice\n    secret_key: \"\"\n", `line 2: user "alice" needs a non-empty secret_key`},
		{"missing secret", "users:\n  - access_key: alice\n", `line 2: user "alice" needs a non-empty secret_key`},
		{"duplicate key", "users:\n  - access_key: a\n    secret_key: s1\n  - access_key: a\n    secret_key: s2\n", `line 4: access key "a" already used on line 2`},
		{"bad permission", "users:\n  - access_key: a\n    secret_key: s\n    buckets:\n      photos: admin\n", `line 5: bucket "photos": permission "admin"`},
		{"permission list", "users:\n  - access_key: a\n    secret_key: s\n    buckets:\n      photos: [read]\n", `line 5: bucket "photos"`},
		{"bad bucket", "users:\n  - access_key: a\n    secret_key: s\n    buckets:\n      Bad_Bucket: read\n", `line 5: bucket "Bad_Bucket" is not a valid bucket name`},
		{"bucket twice", "users:\n  - access_key: a\n    secret_key: s\n    buckets:\n      photos: read\n      photos: write\n", "line 6"},
		{"anonymous write", "anonymous:\n  public: write\n", `line 2: bucket "public": permission "write": want read`},
		{"anonymous bad bucket", "anonymous:\n  x: read\n", "line 2"},
		{"access key with slash", "users:\n  - access_key: a/b\n    secret_key: s\n", "line 2"},
		{"two documents", "users: []\n---\nusers: []\n", "only one YAML document"},
		{"syntax", "users:\n  - access_key: [\n", "line"},
		{"admin not a bool", "users:\n  - access_key: a\n    secret_key: s\n    admin: maybe\n", "line 4: admin: want true or false"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig(strings.NewReader(tc.yaml), "auth.yaml")
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !errors.Is(err, ErrConfig) {
				t.Errorf("error %v does not wrap ErrConfig", err)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.want) || !strings.Contains(msg, "auth.yaml") {
				t.Errorf("error %q, want it to name auth.yaml and contain %q", msg, tc.want)
			}
		})
	}
}

// TestParseConfigErrorsHideSecrets checks that no error repeats a
// secret, whatever else is wrong in the file.
func TestParseConfigErrorsHideSecrets(t *testing.T) {
	files := []string{
		"users:\n  - access_key: a\n    secret_key: SECRET-VALUE\n    buckets:\n      photos: admin\n",
		"users:\n  - access_key: a\n    secret_key: SECRET-VALUE\n  - access_key: a\n    secret_key: SECRET-VALUE\n",
		"users:\n  - access_key: a\n    secret_key: SECRET-VALUE\n    colour: red\n",
		"users:\n  - secret_key: SECRET-VALUE\n",
	}
	for _, f := range files {
		_, err := ParseConfig(strings.NewReader(f), "auth.yaml")
		if err == nil || strings.Contains(err.Error(), "SECRET-VALUE") {
			t.Errorf("error %v: want an error without the secret", err)
		}
	}
}

func TestNewConfigErrors(t *testing.T) {
	tests := []struct {
		name  string
		users []User
		anon  map[string]Permission
	}{
		{"empty key", []User{{SecretKey: "s"}}, nil},
		{"empty secret", []User{{AccessKey: "a"}}, nil},
		{"duplicate", []User{{AccessKey: "a", SecretKey: "s"}, {AccessKey: "a", SecretKey: "t"}}, nil},
		{"no permission", []User{{AccessKey: "a", SecretKey: "s", Buckets: map[string]Permission{"photos": 0}}}, nil},
		{"bad bucket", []User{{AccessKey: "a", SecretKey: "s", Buckets: map[string]Permission{"x": PermRead}}}, nil},
		{"anonymous write", nil, map[string]Permission{"public": PermReadWrite}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewConfig(tc.users, tc.anon); !errors.Is(err, ErrConfig) {
				t.Errorf("got %v, want ErrConfig", err)
			}
		})
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add(exampleAuth)
	f.Add("users:\n  - access_key: a\n    secret_key: s\n    buckets:\n      \"*\": read\n")
	f.Add("anonymous:\n  public: read\n")
	f.Add("users: [{access_key: a, secret_key: s, buckets: {photos: write}}]")
	f.Fuzz(func(t *testing.T, in string) {
		a, err := ParseConfig(strings.NewReader(in), "fuzz.yaml")
		if err != nil {
			if a != nil || !errors.Is(err, ErrConfig) {
				t.Fatalf("error %v with config %v, or not ErrConfig", err, a)
			}
			return
		}
		for key, pr := range a.users {
			if key == "" || pr.secret == "" || pr.name != key {
				t.Fatalf("user %q accepted with secret %q name %q", key, pr.secret, pr.name)
			}
			for b, p := range pr.buckets {
				if !s3api.ValidBucketName(b) || p == 0 || p > PermReadWrite {
					t.Fatalf("grant %q: %v accepted", b, p)
				}
			}
		}
		if a.anon != nil {
			for b, p := range a.anon.buckets {
				if p != PermRead {
					t.Fatalf("anonymous grant %q: %v", b, p)
				}
			}
		}
	})
}
