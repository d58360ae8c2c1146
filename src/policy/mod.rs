//! IAM policy documents: the whitepaper's guardrails as SCP / identity policies
//! ([`guardrail`], prevention in AWS next to the operator's own enforcement) and the least
//! privilege the operator itself needs ([`operator`]). Pure renderers: no AWS or kube calls.

pub mod document;
pub mod guardrail;
pub mod operator;

pub use document::{Policy, PolicyKind, TooLarge};
