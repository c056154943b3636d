package proxy

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/s3cache/s3cache/proxy/internal/s3api"
	"github.com/s3cache/s3cache/proxy/internal/yamlfile"
)

// Policy is the set of per-bucket and per-prefix cache rules read from
// CACHE_POLICY_FILE. The first rule that matches a request decides; a
// request no rule matches uses the global settings. A nil *Policy has no
// rules. A Policy is immutable once parsed and safe for concurrent use.
//
// The file looks like this:
//
//	rules:
//	  - bucket: logs            # a bucket name, or "*" for every bucket
//	    bypass: true            # never cache
//	  - bucket: assets
//	    prefix: thumbs/         # keys starting with this; "" for all
//	    ttl: 1h                 # instead of CACHE_TTL
//	    max_object_bytes: 4MiB  # instead of CACHE_MAX_OBJECT_BYTES
//	    ignore_cache_control: true  # cache even "no-store"/"private" objects
type Policy struct {
	Rules []Rule
}

// Rule is one entry of a Policy. Zero fields mean "as configured globally".
type Rule struct {
	Bucket             string        // bucket name, or "*" for every bucket
	Prefix             string        // key prefix; "" matches every key
	TTL                time.Duration // entry lifetime; 0: CACHE_TTL
	MaxObjectBytes     int64         // largest object stored; 0: CACHE_MAX_OBJECT_BYTES
	Bypass             bool          // never answer from or store in the cache
	IgnoreCacheControl bool          // store objects whose Cache-Control says no-store or private
}

// match returns the first rule for bucket and key, or nil.
func (p *Policy) match(bucket, key string) *Rule {
	if p == nil {
		return nil
	}
	for i := range p.Rules {
		r := &p.Rules[i]
		if (r.Bucket == "*" || r.Bucket == bucket) && strings.HasPrefix(key, r.Prefix) {
			return r
		}
	}
	return nil
}

// ErrPolicy is wrapped by every error of ParsePolicy.
var ErrPolicy = errors.New("proxy: bad cache policy")

// ParsePolicy reads a policy file. name is used in error messages, which
// say the line of every unknown field and bad value.
func ParsePolicy(r io.Reader, name string) (*Policy, error) {
	top, fail, err := yamlfile.Mapping(r, name, ErrPolicy, `"rules"`)
	if err != nil {
		return nil, err
	}
	if top == nil {
		return &Policy{}, nil // an empty file: no rules
	}
	for i := 0; i+1 < len(top.Content); i += 2 {
		if k := top.Content[i]; k.Value != "rules" {
			return nil, fail(fmt.Errorf("line %d: unknown field %q (want rules)", k.Line, k.Value))
		}
	}
	var doc struct {
		Rules []ruleYAML `yaml:"rules"`
	}
	if err := top.Decode(&doc); err != nil {
		return nil, fail(err)
	}
	p := &Policy{Rules: make([]Rule, 0, len(doc.Rules))}
	var errs []error
	for _, ry := range doc.Rules {
		rule, err := ry.rule()
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: %s: %w", ErrPolicy, name, err))
			continue
		}
		p.Rules = append(p.Rules, rule)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

// ruleYAML is a rule as written, with the lines of its values.
type ruleYAML struct {
	line               int
	Bucket             string  `yaml:"bucket"`
	Prefix             string  `yaml:"prefix"`
	TTL                lineVal `yaml:"ttl"`
	MaxObjectBytes     lineVal `yaml:"max_object_bytes"`
	Bypass             bool    `yaml:"bypass"`
	IgnoreCacheControl bool    `yaml:"ignore_cache_control"`
}

// ruleFields are the fields a rule may have.
var ruleFields = []string{"bucket", "prefix", "ttl", "max_object_bytes", "bypass", "ignore_cache_control"}

// UnmarshalYAML decodes a rule, refusing unknown fields with their line
// (Node.Decode does not carry the decoder's KnownFields setting).
func (ry *ruleYAML) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a rule is a mapping of %s", n.Line, strings.Join(ruleFields, ", "))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; !slices.Contains(ruleFields, k.Value) {
			return fmt.Errorf("line %d: unknown field %q in a rule (want %s)", k.Line, k.Value, strings.Join(ruleFields, ", "))
		}
	}
	type plain ruleYAML
	if err := n.Decode((*plain)(ry)); err != nil {
		return err
	}
	ry.line = n.Line
	return nil
}

// lineVal is a scalar kept as text with its line, parsed by rule().
type lineVal struct {
	text string
	line int
}

func (v *lineVal) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a single value", n.Line)
	}
	v.text, v.line = n.Value, n.Line
	return nil
}

// rule checks a written rule and converts it.
func (ry *ruleYAML) rule() (Rule, error) {
	r := Rule{Bucket: ry.Bucket, Prefix: ry.Prefix, Bypass: ry.Bypass, IgnoreCacheControl: ry.IgnoreCacheControl}
	if r.Bucket == "" {
		return r, fmt.Errorf(`line %d: a rule needs "bucket" (a name, or "*")`, ry.line)
	}
	if r.Bucket != "*" && !s3api.ValidBucketName(r.Bucket) {
		return r, fmt.Errorf("line %d: bucket %q is not a valid bucket name", ry.line, r.Bucket)
	}
	if ry.TTL.text != "" {
		d, err := time.ParseDuration(ry.TTL.text)
		if err != nil || d <= 0 {
			return r, fmt.Errorf("line %d: ttl %q: want a positive duration such as 30s or 1h", ry.TTL.line, ry.TTL.text)
		}
		r.TTL = d
	}
	if ry.MaxObjectBytes.text != "" {
		n, err := ParseSize(ry.MaxObjectBytes.text)
		if err != nil {
			return r, fmt.Errorf("line %d: max_object_bytes %q: %w", ry.MaxObjectBytes.line, ry.MaxObjectBytes.text, err)
		}
		r.MaxObjectBytes = n
	}
	if r.Bypass && (r.TTL != 0 || r.MaxObjectBytes != 0 || r.IgnoreCacheControl) {
		return r, fmt.Errorf("line %d: a bypass rule caches nothing; drop its other settings", ry.line)
	}
	return r, nil
}

// ParseSize parses a byte count: plain bytes, or a number with a unit
// (KiB, MiB, GiB, TiB are powers of 1024; KB, MB, GB, TB of 1000; B).
func ParseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
	}
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range units {
		if n, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, errors.New("want a positive size such as 104857600, 100MiB or 1GB")
	}
	return n * mult, nil
}
