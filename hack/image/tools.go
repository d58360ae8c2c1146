//go:build tools

// Package tools pins umoci (the Open Container Initiative's image tool) in go.mod so that
// `go mod tidy` keeps it: hack/image/build.sh builds it into hack/bin/umoci.
package tools

import (
	_ "github.com/opencontainers/umoci/cmd/umoci"
)
