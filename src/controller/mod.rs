//! Controllers, one module per kind, each the same pipeline: observe (AWS + cluster) -> decide
//! (pure) -> act -> report status. What they share:
//!
//! - [`context`]: the clients, settings, shared caches and the pacing of requeues;
//! - [`driver`]: one reconcile pass ([`driver::Pass`]), the finalizer, panics contained to the
//!   object, and the watch loop;
//! - [`report`]: the one status and Event path; [`error`]: the error categories;
//! - [`member`]: the pipeline of the members of a domain (profiles and spaces);
//! - [`listings`] and [`memory`]: what is read from AWS, and what each resource last saw;
//! - [`teardown`]: deleting in the order AWS requires; [`desired`]: the spec in AWS terms;
//! - [`reference`]: following a `domainRef`; [`stores`]: the caches shared with the Guardrail
//!   controller and the sweeper.

pub mod admission;
pub mod catalog;
pub mod context;
pub mod desired;
pub mod domain;
pub mod driver;
pub mod error;
pub mod guardrail;
pub mod holdings;
pub mod image;
pub mod lifecycle;
pub mod listings;
pub mod member;
pub mod memory;
pub mod profile;
pub mod reference;
pub mod report;
pub mod settings;
pub mod space;
pub mod space_data;
pub mod stores;
pub mod sweeper;
pub mod teardown;

pub use context::{Clock, Context, ControllerConfig, FIELD_MANAGER, GuardrailFindings, PanicOn};
pub use driver::FINALIZER;
pub use error::{ErrorCategory, ReconcileError};
