//go:build tools

// Package tools pins the helm CLI used by hack/chart-test.sh.
// Build: hack/chart-test.sh (or: cd hack/tools && CGO_ENABLED=0 go build -ldflags='-s -w' -o ../bin/helm helm.sh/helm/v3/cmd/helm).
package tools

import (
	_ "helm.sh/helm/v3/cmd/helm"
)
