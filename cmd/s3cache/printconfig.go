package main

import (
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"
)

// masked replaces a secret's value in -print-config's output.
const masked = `"****"`

// printConfig writes o's settings as a config file (every key, with the
// value in force) and each value's source as a comment, so the output can
// be read and pasted back. Secrets are masked.
func printConfig(w io.Writer, o *options) error {
	settings := o.settings()
	lines := make([]string, len(settings))
	sources := make([]source, len(settings))
	width := 0
	for i, s := range settings {
		v, ok := o.given[s.env]
		if !ok {
			v = layerValue{value: s.def, src: fromDefault}
		}
		text, err := yamlScalar(s.redact(v.value), s.secret())
		if err != nil {
			return fmt.Errorf("print-config: %s: %w", s.key(), err)
		}
		lines[i], sources[i] = s.key()+": "+text, v.src
		width = max(width, len(lines[i]))
	}
	var b strings.Builder
	b.WriteString("# s3cache configuration in force: flags > environment > config file > defaults\n")
	if o.configPath != "" {
		fmt.Fprintf(&b, "# config file: %s\n", o.configPath)
	} else {
		b.WriteString("# config file: none\n")
	}
	if o.dev {
		b.WriteString("# -dev: the embedded backend replaces s3_endpoint and s3_use_ssl\n")
	}
	for i, line := range lines {
		fmt.Fprintf(&b, "%-*s  # %s\n", width, line, sources[i])
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// yamlScalar renders v as a YAML scalar on one line that reads back as v:
// plain where YAML allows, quoted otherwise. A secret is masked.
func yamlScalar(v string, secret bool) (string, error) {
	switch {
	case v == "":
		return `""`, nil
	case secret:
		return masked, nil
	}
	n := &yaml.Node{Kind: yaml.ScalarNode, Value: v}
	if strings.ContainsAny(v, "\n\r") {
		n.Style = yaml.DoubleQuotedStyle
	}
	out, err := yaml.Marshal(n)
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(string(out), "\n"), nil
}
