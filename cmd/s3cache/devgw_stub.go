//go:build !dev

package main

import (
	"context"
	"io"
)

// devBackendBuilt says that this binary has no dev backend: it was built
// without the build tag dev, and -dev fails with errNoDevBackend.
const devBackendBuilt = false

// devBackendName is not called in this build.
func devBackendName() string { return "" }

// runDevBackend fails: there is no dev backend in this build.
func runDevBackend(context.Context, []string, io.Reader, io.Writer) error {
	return errNoDevBackend
}
