//! End-to-end tests: the real kube-apiserver (hack/kube-testenv) and the AWS emulator over HTTP,
//! through the real kube and AWS SDK clients. One test binary, so the AWS SDK links once.

mod support;

mod agent;
mod attacks;
mod aws_adapter;
mod binary;
mod chaos;
mod domain;
mod domain_safety;
mod emulator_conformance;
mod gitops;
mod guardrail;
mod idle;
mod images;
mod leader;
mod lifecycle;
mod manifests;
mod metrics_auth;
mod observation;
mod profile;
mod robustness;
mod settings;
mod space;
mod space_data;
