// Package yamlfile reads the proxy's YAML configuration files (the cache
// policy, proxy/policy.go; the users, internal/identity) the one way:
// one document whose top level is a mapping, and errors that name the
// file and the line. It is a leaf, stateless and safe for concurrent use.
package yamlfile

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Mapping reads a configuration file of one YAML document whose top level
// is a mapping, for ParsePolicy and ParseAuthConfig. It returns that
// mapping, or nil for an empty file, and fail, which turns an error into
// one wrapping sentinel that names the file (yaml's "line N:" kept, its
// multi-line "unmarshal errors" folded into one line). want describes the
// expected top level for the error when it is not a mapping.
func Mapping(r io.Reader, name string, sentinel error, want string) (top *yaml.Node, fail func(error) error, err error) {
	fail = func(err error) error {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		msg = strings.ReplaceAll(strings.TrimPrefix(msg, "unmarshal errors:\n  "), "\n  ", "; ")
		return fmt.Errorf("%w: %s: %s", sentinel, name, msg)
	}
	dec := yaml.NewDecoder(r)
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fail, nil
		}
		return nil, fail, fail(err)
	}
	var rest yaml.Node
	if err := dec.Decode(&rest); !errors.Is(err, io.EOF) {
		return nil, fail, fail(fmt.Errorf("line %d: only one YAML document is allowed", rest.Line))
	}
	top = &root
	if top.Kind == yaml.DocumentNode && len(top.Content) == 1 {
		top = top.Content[0]
	}
	if top.Kind != yaml.MappingNode {
		return nil, fail, fail(fmt.Errorf("line %d: want a mapping with %s", top.Line, want))
	}
	return top, fail, nil
}
