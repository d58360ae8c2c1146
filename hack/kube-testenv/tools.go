//go:build tools

// Package main pins build-only tools in go.mod so that `go mod tidy` keeps
// them: hack/build-testenv.sh builds kubectl, and hack/node/build.sh the node's kubelet and
// kube-proxy, from the same module graph.
package main

import (
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
