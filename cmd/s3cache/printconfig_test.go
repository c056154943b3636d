package main

import (
	"bytes"
	"io"
	"regexp"
	"strings"
	"testing"
)

// printed is one line of -print-config's output.
type printed struct{ value, source string }

var printedLine = regexp.MustCompile(`^([a-z0-9_]+): (.*?) +# (default|file|env|flag)$`)

// runPrintConfig runs the command with -print-config and returns its
// output and each key's line.
func runPrintConfig(t *testing.T, args []string, env map[string]string) (string, map[string]printed) {
	t.Helper()
	var stdout bytes.Buffer
	args = append(args, "-print-config")
	if err := run(t.Context(), args, func(k string) string { return env[k] }, &stdout, io.Discard); err != nil {
		t.Fatalf("run %q: %v", args, err)
	}
	lines := map[string]printed{}
	for _, line := range strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		m := printedLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("line %q is not key: value # source", line)
		}
		lines[m[1]] = printed{m[2], m[3]}
	}
	return stdout.String(), lines
}

// TestPrintConfig checks that -print-config lists every setting with the
// value in force and its source, masks secrets, and starts nothing.
func TestPrintConfig(t *testing.T) {
	file := writeConfig(t, "s3_endpoint: minio:9000\ns3_secret_key: file-secret-1\ncache_ttl: 5m\ncache_max_bytes: 1GiB\nrate_limit: 2.5\n")
	// LISTEN_ADDR names an address no one can listen on: printing must
	// not try.
	env := map[string]string{"CACHE_TTL": "90s", "LISTEN_ADDR": "192.0.2.1:1"}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want map[string]printed
	}{
		{name: "file, env and flag", args: []string{"-config", file, "-region", "eu-west-1"}, env: env,
			want: map[string]printed{
				"s3_endpoint":            {"minio:9000", "file"},
				"s3_secret_key":          {`"****"`, "file"},
				"s3_access_key":          {"minioadmin", "default"},
				"cache_ttl":              {"90s", "env"},
				"cache_max_bytes":        {"1GiB", "file"},
				"s3_region":              {"eu-west-1", "flag"},
				"listen_addr":            {"192.0.2.1:1", "env"},
				"rate_limit":             {"2.5", "file"},
				"rate_burst":             {"3", "default"},
				"cache_max_object_bytes": {"16MiB", "default"},
				"s3_ca_file":             {`""`, "default"},
				"cache_stale_if_error":   {"0", "default"},
			}},
		{name: "secret from env over the file", args: []string{"-config", file},
			env: map[string]string{"S3_SECRET_KEY": "env-secret-2", "LISTEN_ADDR": "192.0.2.1:1", "ADMIN_TOKEN": "admin-token-4", "CACHE_WARM": "bkt/p/",
				"REDIS_URL": "redis://app:redis-password-5@10.0.0.1:6379/1,redis://10.0.0.2:6379"},
			want: map[string]printed{"s3_secret_key": {`"****"`, "env"}, "cache_ttl": {"5m", "file"}, "admin_token": {`"****"`, "env"}, "cache_warm": {"bkt/p/", "env"},
				"redis_url": {"redis://app:xxxxx@10.0.0.1:6379/1,redis://10.0.0.2:6379", "env"}}},
		{name: "secret from a flag", args: []string{"-secret-key", "flag-secret-3", "-cache-max-bytes", "1MiB"},
			want: map[string]printed{
				"s3_secret_key":          {`"****"`, "flag"},
				"s3_endpoint":            {"localhost:9000", "default"},
				"cache_max_object_bytes": {"1048576", "default"}, // the default is capped at cache_max_bytes
			}},
		{name: "defaults", want: map[string]printed{
			"s3_secret_key": {`"****"`, "default"}, "listen_addr": {":8080", "default"}, "rate_burst": {`""`, "default"},
			"log_level": {"info", "default"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, got := runPrintConfig(t, tt.args, tt.env)
			for _, s := range (&options{}).settings() {
				if _, ok := got[s.key()]; !ok {
					t.Errorf("%s is not listed", s.key())
				}
			}
			for key, want := range tt.want {
				if got[key] != want {
					t.Errorf("%s: got %q # %s, want %q # %s", key, got[key].value, got[key].source, want.value, want.source)
				}
			}
			for _, secret := range []string{"file-secret-1", "env-secret-2", "flag-secret-3", "admin-token-4", "redis-password-5", "minioadmin\n"} {
				if strings.Contains(out, secret) {
					t.Errorf("output shows the secret %q:\n%s", secret, out)
				}
			}
		})
	}
}

// TestPrintConfigPastesBack checks that -print-config's output, used as a
// config file, gives the same configuration.
func TestPrintConfigPastesBack(t *testing.T) {
	file := writeConfig(t, "s3_endpoint: minio:9000\ns3_virtual_host_domains: 'a.test,b.test'\naudit_log: \"# not a comment\"\ncache_max_bytes: 1MiB\n")
	out, first := runPrintConfig(t, []string{"-config", file, "-listen", ":9090", "-log-format", "json"}, nil)
	_, second := runPrintConfig(t, []string{"-config", writeConfig(t, out)}, nil)
	for key, p := range first {
		if second[key].value != p.value {
			t.Errorf("%s: %q, pasted back %q", key, p.value, second[key].value)
		}
	}
}

// TestPrintConfigRefusesBadConfig checks that -print-config does not print
// a configuration the proxy would refuse.
func TestPrintConfigRefusesBadConfig(t *testing.T) {
	var stdout bytes.Buffer
	err := run(t.Context(), []string{"-print-config", "-config", writeConfig(t, "cache_ttl: soon\n")},
		func(string) string { return "" }, &stdout, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "line 1: cache_ttl") {
		t.Errorf("err = %v, want one naming line 1 and cache_ttl", err)
	}
	if stdout.Len() > 0 {
		t.Errorf("printed %q for a bad configuration", stdout.String())
	}
}
