package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"
)

// fileValue is a setting's value in the config file and the line it is on.
type fileValue struct {
	value string
	line  int
}

// parseConfigFile reads a config file: one YAML mapping whose keys are the
// settings' variables in lower case and whose values are scalars, read as
// the variable would be (so 5m, 1GiB, true and 2.5 need no quotes). An
// empty or null value counts as absent, as an empty variable does. It
// returns the values by variable. Unknown keys, repeated keys and values
// that are lists or mappings are errors naming the file, the line and the
// key; all of them are reported at once, with the values that could be
// read, so their own errors can be reported too. name is the file's name
// for errors.
func parseConfigFile(r io.Reader, name string, settings []setting) (map[string]fileValue, error) {
	dec := yaml.NewDecoder(r)
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var rest yaml.Node
	if err := dec.Decode(&rest); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return nil, fmt.Errorf("%s: line %d: only one YAML document is allowed", name, rest.Line)
	}
	top := &doc
	if top.Kind == yaml.DocumentNode && len(top.Content) == 1 {
		top = top.Content[0]
	}
	if top.Kind == yaml.ScalarNode && top.Tag == "!!null" {
		return nil, nil // only comments
	}
	if top.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: line %d: want a mapping of settings, such as s3_endpoint: minio:9000", name, top.Line)
	}

	byKey := make(map[string]setting, len(settings))
	for _, s := range settings {
		byKey[s.key()] = s
	}
	values := map[string]fileValue{}
	seen := map[string]int{} // key → line
	var errs []error
	fail := func(line int, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: line %d: "+format, append([]any{name, line}, args...)...))
	}
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		if v.Kind == yaml.AliasNode && v.Alias != nil {
			v = v.Alias
		}
		if k.Kind != yaml.ScalarNode {
			fail(k.Line, "want a setting name as the key")
			continue
		}
		s, ok := byKey[k.Value]
		switch {
		case !ok && byKey[strings.ToLower(k.Value)].env != "":
			fail(k.Line, "unknown key %q (keys are in lower case: %s)", k.Value, strings.ToLower(k.Value))
			continue
		case !ok:
			fail(k.Line, "unknown key %q (the keys are the environment variables in lower case; s3cache -print-config lists them)", k.Value)
			continue
		}
		if first, dup := seen[k.Value]; dup {
			fail(k.Line, "%s: set again (first on line %d)", k.Value, first)
			continue
		}
		seen[k.Value] = k.Line
		if v.Kind != yaml.ScalarNode {
			fail(v.Line, "%s: want a single value (a string, number or boolean; a list as one comma-separated string)", k.Value)
			continue
		}
		if v.Tag == "!!null" || v.Value == "" {
			continue
		}
		values[s.env] = fileValue{value: v.Value, line: v.Line}
	}
	return values, errors.Join(errs...)
}
