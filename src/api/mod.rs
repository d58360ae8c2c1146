//! Custom resource types of the `studio-operator.io/v1alpha1` API.
//!
//! Types only: defaults, schema and CEL validation live here; behaviour lives in the controllers.

// kube-derive repeats `type_` in each printcolumn; clippy takes them for duplicated attributes.
#![allow(clippy::duplicated_attributes)]

pub mod common;
pub mod domain;
pub mod guardrail;
pub mod image;
pub mod lifecycle;
pub mod profile;
pub mod settings;
pub mod space;

pub use common::*;
pub use domain::*;
pub use guardrail::*;
pub use image::*;
pub use lifecycle::*;
pub use profile::*;
pub use settings::*;
pub use space::*;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// API group of every kind this operator serves.
pub const GROUP: &str = "studio-operator.io";

/// Every CRD the operator serves, in the order `studio-operator crd` prints them.
pub fn all_crds() -> Vec<CustomResourceDefinition> {
    vec![
        StudioDomain::crd(),
        UserProfile::crd(),
        SharedSpace::crd(),
        Guardrail::crd(),
        StudioLifecycleConfig::crd(),
        StudioImage::crd(),
    ]
}

/// All CRDs as one multi-document YAML stream (what `crds/` holds).
pub fn crds_yaml() -> String {
    all_crds()
        .iter()
        .map(|crd| serde_norway::to_string(crd).expect("CRDs always serialise"))
        .collect::<Vec<_>>()
        .join("---\n")
}
