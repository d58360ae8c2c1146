//! studio-operator: Amazon SageMaker AI Studio, declaratively, from Kubernetes.
//!
//! The library holds everything; `main.rs` only parses the command line and dispatches.

#![forbid(unsafe_code)]

pub mod api;
pub mod aws;
pub mod backoff;
pub mod cli;
pub mod compliance;
pub mod controller;
pub mod leader;
pub mod metrics;
pub mod migration;
pub mod ownership;
pub mod policy;
pub mod runtime;
pub mod server;
pub mod status;
pub mod telemetry;

/// Selects the TLS crypto provider once per process (the AWS SDK and kube both link rustls, and
/// rustls refuses to guess when more than one provider is compiled in).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
