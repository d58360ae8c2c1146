//! Test support: one real kube-apiserver (hack/kube-testenv) per test binary, the CRDs
//! installed, a namespace per test, and the real `kubectl` built beside it.

pub mod testenv;

pub use testenv::{TestEnv, TestNamespace};
pub mod operator;
pub mod wait;

pub use operator::TestOperator;
