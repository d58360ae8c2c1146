//! In-memory emulator of the Amazon SageMaker AI Studio control plane
//! (domains, user profiles, spaces, apps, tags, Studio lifecycle configs, custom
//! images and app image configs), the KMS key APIs a Studio client needs, STS
//! AssumeRole / GetCallerIdentity, the tagging API's GetResources and a subset of S3
//! (buckets, objects, listings, batch deletion, multipart uploads) — speaking
//! the real wire protocols so the official SDKs, boto3 and the AWS CLI can use it
//! as their endpoint. SageMaker requests are validated against the service model.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use aws_emulator::{Config, Emulator};
//! let emu = Emulator::start(Config::default()).await?;
//! let endpoint = emu.endpoint(); // http://127.0.0.1:PORT
//! emu.control().advance(5.0);    // move emulated time forward
//! # Ok(()) }
//! ```

mod admin;
mod api;
pub mod calllog;
pub mod clock;
pub mod config;
pub mod control;
pub mod error;
pub mod faults;
pub mod kms;
pub mod model;
pub mod pagination;
pub mod protocol;
pub mod s3;
mod server;
pub mod state;
pub mod sts;
pub mod tagging;
pub mod validate;

use std::net::SocketAddr;
use std::sync::Arc;

pub use calllog::CallRecord;
pub use config::{Config, Delays, Quotas};
pub use control::{Control, DomainView, LaunchApp, ResourceRef};
pub use error::ApiError;
pub use faults::{FaultKind, FaultRule, RateLimit};
pub use s3::S3ObjectView;
pub use state::{EbsVolume, EfsFileSystem, Scope, Tag, UpdateMerge};
pub use sts::RoleTrust;

/// A running emulator. Dropping it stops accepting connections.
pub struct Emulator {
    addr: SocketAddr,
    control: Control,
    task: tokio::task::JoinHandle<()>,
}

impl Emulator {
    /// Binds `config.host:config.port` (port 0 picks a free port) and serves in
    /// the background on the current Tokio runtime.
    pub async fn start(config: Config) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind((config.host.as_str(), config.port)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(control::Shared::new(config));
        let app = server::router(shared.clone());
        let task = tokio::spawn(server::serve(listener, app));
        Ok(Self {
            addr,
            control: Control { shared },
            task,
        })
    }

    /// Base URL to configure as the SDK endpoint, e.g. `http://127.0.0.1:4566`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Test controls (clock, faults, call log, behind-the-back actions).
    pub fn control(&self) -> &Control {
        &self.control
    }
}

impl std::ops::Deref for Emulator {
    type Target = Control;

    fn deref(&self) -> &Control {
        &self.control
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}
