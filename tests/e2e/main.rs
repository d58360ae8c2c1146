//! End-to-end tests: the real kube-apiserver (hack/kube-testenv) and the AWS emulator over HTTP,
//! through the real kube and AWS SDK clients. One test binary, so the AWS SDK links once.

mod support;

mod aws_adapter;
mod binary;
mod domain;
mod domain_safety;
mod emulator_conformance;
mod guardrail;
mod idle;
mod manifests;
mod profile;
mod space;
