//! IAM policy documents: the whitepaper's guardrails as SCP / identity policies
//! ([`prevention`], prevention in AWS next to the operator's own enforcement) and the least
//! privilege the operator itself needs ([`operator`]). Pure renderers: no AWS or kube calls.

pub mod document;
pub mod operator;
pub mod prevention;

pub use document::{Policy, PolicyKind, TooLarge};
