//! Guardrails: which ones cover a resource, and what the resource breaks. Pure functions; the
//! controllers feed them the Guardrails from the cluster cache.
//!
//! A Guardrail covers a StudioDomain when the domain's namespace matches `namespaceSelector` and
//! the domain matches `domainSelector`. Profiles and spaces are covered through their domain,
//! whatever namespace they live in, so a tenant cannot escape a guardrail by working from an
//! unlabelled namespace.

pub mod admission;
pub mod rules;
pub mod ui;

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::ResourceExt;
use kube::core::{Selector, SelectorExt};

pub use self::rules::Finding;
pub use self::ui::UiRestrictions;
use crate::api::condition_type::GUARDRAIL_VIOLATION;
use crate::api::{Enforcement, Guardrail};
use crate::status::Want;

/// Whether an optional selector matches labels; no selector matches everything, an invalid one
/// nothing (the CRD schema keeps that rare).
fn selects(selector: Option<&LabelSelector>, labels: &BTreeMap<String, String>) -> bool {
    match selector {
        None => true,
        Some(selector) => Selector::try_from(selector.clone()).is_ok_and(|s| s.matches(labels)),
    }
}

/// The labels a guardrail selection looks at.
#[derive(Clone, Debug, Default)]
pub struct DomainLabels {
    /// Labels of the StudioDomain's namespace.
    pub namespace: BTreeMap<String, String>,
    /// Labels of the StudioDomain.
    pub domain: BTreeMap<String, String>,
}

/// Why a guardrail's selectors cannot be evaluated (an unknown operator, a value list that the
/// operator does not allow), if they cannot: such a guardrail covers nothing, and says so.
pub fn selector_problem(guardrail: &Guardrail) -> Option<String> {
    let selector = &guardrail.spec.selector;
    [
        ("namespaceSelector", &selector.namespace_selector),
        ("domainSelector", &selector.domain_selector),
    ]
    .into_iter()
    .find_map(|(field, selector)| {
        let selector = selector.clone()?;
        Selector::try_from(selector)
            .err()
            .map(|error| format!("spec.selector.{field} is invalid: {error}"))
    })
}

/// Whether a guardrail covers a domain with these labels.
pub fn covers(guardrail: &Guardrail, labels: &DomainLabels) -> bool {
    let selector = &guardrail.spec.selector;
    selects(selector.namespace_selector.as_ref(), &labels.namespace)
        && selects(selector.domain_selector.as_ref(), &labels.domain)
}

/// Whether a guardrail covers a profile or space: through its domain, or because its own
/// namespace is selected (and its domain matches the domain selector, if any). A tenant's
/// guardrails follow its members into a platform domain in another namespace.
pub fn covers_member(
    guardrail: &Guardrail,
    domain: &DomainLabels,
    member_namespace: &BTreeMap<String, String>,
) -> bool {
    covers(guardrail, domain)
        || (guardrail.spec.selector.namespace_selector.is_some()
            && covers(
                guardrail,
                &DomainLabels {
                    namespace: member_namespace.clone(),
                    domain: domain.domain.clone(),
                },
            ))
}

/// A finding with the guardrail that produced it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Breach {
    /// Name of the Guardrail.
    pub guardrail: String,
    /// Its enforcement.
    pub enforcement: Enforcement,
    /// What is broken.
    pub finding: Finding,
}

/// The guardrails that cover one domain, and what they say about a resource of it.
#[derive(Clone, Debug, Default)]
pub struct Verdict {
    /// Every broken rule.
    pub breaches: Vec<Breach>,
}

impl Verdict {
    /// Runs `check` for every covering guardrail.
    pub fn of(guardrails: &[&Guardrail], check: impl Fn(&crate::api::GuardrailRules) -> Vec<Finding>) -> Self {
        let breaches = guardrails
            .iter()
            .flat_map(|g| {
                check(&g.spec.rules).into_iter().map(|finding| Breach {
                    guardrail: g.name_any(),
                    enforcement: g.spec.enforcement,
                    finding,
                })
            })
            .collect();
        Self { breaches }
    }

    /// Whether an enforcing guardrail is broken: then nothing may change in AWS.
    pub fn blocks(&self) -> bool {
        self.breaches.iter().any(|b| b.enforcement == Enforcement::Enforce)
    }

    /// One line per breach, for conditions and Events: `rule value (Guardrail name, mode)`.
    pub fn message(&self) -> String {
        let lines: Vec<String> = self
            .breaches
            .iter()
            .map(|b| {
                format!(
                    "{}: {} (Guardrail {}, {:?})",
                    b.finding.rule, b.finding.value, b.guardrail, b.enforcement
                )
            })
            .collect();
        lines.join("; ")
    }
}

/// The `GuardrailViolation` condition for a verdict, and whether AWS may be changed.
pub fn condition(verdict: &Verdict) -> (Want, bool) {
    if verdict.breaches.is_empty() {
        let want = Want::false_(
            GUARDRAIL_VIOLATION,
            "Compliant",
            "the spec complies with every guardrail",
        );
        return (want, true);
    }
    if verdict.blocks() {
        (Want::true_(GUARDRAIL_VIOLATION, "Enforced", verdict.message()), false)
    } else {
        (Want::true_(GUARDRAIL_VIOLATION, "Audited", verdict.message()), true)
    }
}

/// The runtime rules that apply to the apps of a domain, merged over its guardrails (the
/// strictest wins).
#[derive(Clone, Debug, Default)]
pub struct AppPolicy<'a> {
    /// Guardrails checked against every running app.
    pub guardrails: Vec<&'a Guardrail>,
    /// The smallest `maxAppLifetimeHours`.
    pub max_app_lifetime_hours: Option<i32>,
    /// Whether the keep-alive tag may exempt an app: only if every covering guardrail allows it.
    pub allow_keep_alive: bool,
}

impl<'a> AppPolicy<'a> {
    /// Merges the covering guardrails.
    pub fn of(guardrails: Vec<&'a Guardrail>) -> Self {
        let max_app_lifetime_hours = guardrails
            .iter()
            .filter_map(|g| g.spec.rules.max_app_lifetime_hours)
            .min();
        let allow_keep_alive = guardrails.iter().all(|g| g.spec.rules.allow_keep_alive);
        Self {
            guardrails,
            max_app_lifetime_hours,
            allow_keep_alive,
        }
    }
}

/// Whether the operator may assume `role` (a domain's `aws.roleArn`): not when an Enforce
/// guardrail covering the domain lists the roles it allows and this is not one of them.
pub fn role_allowed(guardrails: &[std::sync::Arc<Guardrail>], role: Option<&str>) -> bool {
    let Some(role) = role else {
        return true;
    };
    guardrails
        .iter()
        .filter(|g| g.spec.enforcement == Enforcement::Enforce)
        .all(|g| rules::allowed(&g.spec.rules.allowed_aws_roles, role))
}

/// Whether the operator may act on a domain's backup location `s3_uri` (expire backups there):
/// not when an Enforce guardrail covering the domain lists the locations it allows and this is
/// not one of them.
pub fn backup_location_allowed(guardrails: &[std::sync::Arc<Guardrail>], s3_uri: &str) -> bool {
    guardrails
        .iter()
        .filter(|g| g.spec.enforcement == Enforcement::Enforce)
        .all(|g| rules::allowed(&g.spec.rules.allowed_backup_locations, s3_uri))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn guardrail(name: &str, spec: serde_json::Value) -> Guardrail {
        serde_json::from_value(json!({
            "apiVersion": "studio-operator.io/v1alpha1",
            "kind": "Guardrail",
            "metadata": {"name": name},
            "spec": spec,
        }))
        .unwrap()
    }

    fn labels(namespace: &[(&str, &str)], domain: &[(&str, &str)]) -> DomainLabels {
        let map = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        DomainLabels {
            namespace: map(namespace),
            domain: map(domain),
        }
    }

    #[test]
    fn only_an_enforce_guardrail_listing_roles_forbids_a_role() {
        let enforce = std::sync::Arc::new(guardrail(
            "roles",
            json!({"rules": {"allowedAwsRoles": ["arn:aws:iam::111111111111:role/team-*"]}}),
        ));
        let audit = std::sync::Arc::new(guardrail(
            "audit",
            json!({"enforcement": "Audit", "rules": {"allowedAwsRoles": ["arn:aws:iam::1:role/none"]}}),
        ));
        let guardrails = [enforce, audit];
        assert!(role_allowed(&guardrails, Some("arn:aws:iam::111111111111:role/team-a")));
        assert!(!role_allowed(
            &guardrails,
            Some("arn:aws:iam::222222222222:role/team-a")
        ));
        assert!(role_allowed(&guardrails, None));
        assert!(role_allowed(&[], Some("arn:aws:iam::222222222222:role/x")));
    }

    #[test]
    fn only_an_enforce_guardrail_listing_locations_forbids_a_backup_location() {
        let enforce = std::sync::Arc::new(guardrail(
            "backups",
            json!({"rules": {"allowedBackupLocations": ["s3://ml-backups/team-a", "s3://ml-backups/team-a/*"]}}),
        ));
        let audit = std::sync::Arc::new(guardrail(
            "audit",
            json!({"enforcement": "Audit", "rules": {"allowedBackupLocations": ["s3://none"]}}),
        ));
        let guardrails = [enforce, audit];
        assert!(backup_location_allowed(&guardrails, "s3://ml-backups/team-a"));
        assert!(backup_location_allowed(&guardrails, "s3://ml-backups/team-a/lab"));
        assert!(!backup_location_allowed(&guardrails, "s3://ml-backups/team-ab"));
        assert!(!backup_location_allowed(&guardrails, "s3://team-b-backups/team-a"));
        assert!(backup_location_allowed(&[], "s3://anywhere"));
    }

    #[test]
    fn selection_needs_both_selectors_to_match() {
        let g = guardrail(
            "prod",
            json!({"selector": {
                "namespaceSelector": {"matchLabels": {"env": "prod"}},
                "domainSelector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["gpu"]}]},
            }}),
        );
        assert!(covers(&g, &labels(&[("env", "prod")], &[("tier", "gpu")])));
        assert!(!covers(&g, &labels(&[("env", "dev")], &[("tier", "gpu")])));
        assert!(!covers(&g, &labels(&[("env", "prod")], &[])));
        assert!(covers(&guardrail("all", json!({})), &labels(&[], &[])));
    }

    #[test]
    fn audit_breaches_do_not_block() {
        let audit = guardrail(
            "audit",
            json!({"enforcement": "Audit", "rules": {"allowedInstanceTypes": ["ml.t3.*"]}}),
        );
        let enforce = guardrail(
            "enforce",
            json!({"rules": {"allowedInstanceTypes": ["ml.t3.*", "ml.m5.*"]}}),
        );
        let app = |t: &str| crate::aws::model::AppSummary {
            app_type: "JupyterLab".into(),
            app_name: "default".into(),
            user_profile: Some("u".into()),
            space: None,
            status: "InService".into(),
            instance_type: Some(t.into()),
            image_arn: None,
            created: None,
        };
        let m5 = Verdict::of(&[&audit, &enforce], |r| rules::check_app(r, &app("ml.m5.large")));
        assert!(!m5.blocks());
        assert_eq!(
            m5.message(),
            "allowedInstanceTypes: ml.m5.large (Guardrail audit, Audit)"
        );
        let p4 = Verdict::of(&[&audit, &enforce], |r| rules::check_app(r, &app("ml.p4d.24xlarge")));
        assert!(p4.blocks());
        assert_eq!(p4.breaches.len(), 2);
    }

    #[test]
    fn app_policy_takes_the_strictest_values() {
        let a = guardrail(
            "a",
            json!({"rules": {"maxAppLifetimeHours": 12, "allowKeepAlive": true}}),
        );
        let b = guardrail("b", json!({"rules": {"maxAppLifetimeHours": 48}}));
        let policy = AppPolicy::of(vec![&a, &b]);
        assert_eq!(policy.max_app_lifetime_hours, Some(12));
        assert!(!policy.allow_keep_alive);
        assert!(AppPolicy::of(vec![&a]).allow_keep_alive);
        assert!(AppPolicy::of(Vec::new()).allow_keep_alive);
    }
}
