//! The ValidatingAdmissionPolicy (and its binding) the operator keeps for each Enforce
//! Guardrail: the API server itself refuses what the guardrail's rules can judge from the object
//! alone, before anything reaches the operator. Owned by the Guardrail, so they go with it.

use k8s_openapi::api::admissionregistration::v1::{ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};

use super::context::{Context, FIELD_MANAGER};
use super::error::ReconcileError;
use crate::api::{Enforcement, Guardrail};
use crate::compliance::admission::{self, Check};

/// Name of the policy and of its binding for a Guardrail.
pub fn policy_name(guardrail: &str) -> String {
    format!("studio-operator.io-guardrail-{guardrail}")
}

/// Creates or updates the policy and binding of an Enforce Guardrail with checks; deletes them
/// for an Audit Guardrail, one without checks, or when admission policies are off.
pub async fn write(ctx: &Context, guardrail: &Guardrail, owner: OwnerReference) -> Result<(), ReconcileError> {
    let name = policy_name(&guardrail.name_any());
    let policies: Api<ValidatingAdmissionPolicy> = Api::all(ctx.client.clone());
    let bindings: Api<ValidatingAdmissionPolicyBinding> = Api::all(ctx.client.clone());
    let checks = if ctx.config.admission_policies && guardrail.spec.enforcement == Enforcement::Enforce {
        admission::checks(&guardrail.name_any(), &guardrail.spec.rules)
    } else {
        Vec::new()
    };
    if checks.is_empty() {
        for deleted in [
            bindings.delete(&name, &DeleteParams::default()).await.map(|_| ()),
            policies.delete(&name, &DeleteParams::default()).await.map(|_| ()),
        ] {
            match deleted {
                Ok(()) => {}
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(error) => return Err(error.into()),
            }
        }
        return Ok(());
    }
    let (policy, binding) = documents(&name, guardrail, &checks, owner);
    let apply = PatchParams::apply(FIELD_MANAGER).force();
    policies.patch(&name, &apply, &Patch::Apply(&policy)).await?;
    bindings.patch(&name, &apply, &Patch::Apply(&binding)).await?;
    Ok(())
}

/// The policy and its binding. A domain selector can only select StudioDomains (members do not
/// carry their domain's labels), so then only StudioDomains are judged here.
fn documents(name: &str, guardrail: &Guardrail, checks: &[Check], owner: OwnerReference) -> (Value, Value) {
    let selector = &guardrail.spec.selector;
    let resources: &[&str] = if selector.domain_selector.is_some() {
        &["studiodomains"]
    } else {
        &[
            "studiodomains",
            "userprofiles",
            "sharedspaces",
            "studiolifecycleconfigs",
            "studioimages",
        ]
    };
    let validations: Vec<Value> = checks
        .iter()
        .map(|c| json!({"expression": c.expression, "messageExpression": c.message_expression, "reason": "Forbidden"}))
        .collect();
    let metadata = json!({
        "name": name,
        "labels": {"studio-operator.io/guardrail": guardrail.name_any()},
        "ownerReferences": [owner],
    });
    let policy = json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": metadata,
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{
                "apiGroups": ["studio-operator.io"],
                "apiVersions": ["*"],
                "operations": ["CREATE", "UPDATE"],
                "resources": resources,
            }]},
            // Only spec changes are judged: the operator's own metadata writes (finalizers,
            // annotations) on an object made before the guardrail must go through.
            "matchConditions": [{
                "name": "spec-changed",
                "expression": "request.operation == 'CREATE' || !has(oldObject.spec) || oldObject.spec != object.spec",
            }],
            "validations": validations,
        },
    });
    let empty = json!({});
    let binding = json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": metadata,
        "spec": {
            "policyName": name,
            "validationActions": ["Deny"],
            "matchResources": {
                "namespaceSelector": selector.namespace_selector.as_ref().map_or(empty.clone(), |s| json!(s)),
                "objectSelector": selector.domain_selector.as_ref().map_or(empty, |s| json!(s)),
            },
        },
    });
    (policy, binding)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_domain_selector_limits_the_policy_to_studio_domains() {
        let guardrail: Guardrail = serde_json::from_value(json!({
            "apiVersion": "studio-operator.io/v1alpha1",
            "kind": "Guardrail",
            "metadata": {"name": "gpu", "uid": "u-1"},
            "spec": {
                "selector": {"domainSelector": {"matchLabels": {"tier": "gpu"}}},
                "rules": {"requireVpcOnly": true},
            },
        }))
        .unwrap();
        let checks = admission::checks("gpu", &guardrail.spec.rules);
        let (policy, binding) = documents("p", &guardrail, &checks, OwnerReference::default());
        assert_eq!(
            policy["spec"]["matchConstraints"]["resourceRules"][0]["resources"],
            json!(["studiodomains"])
        );
        assert_eq!(
            binding["spec"]["matchResources"]["objectSelector"],
            json!({"matchLabels": {"tier": "gpu"}})
        );
        assert_eq!(binding["spec"]["matchResources"]["namespaceSelector"], json!({}));
        assert_eq!(policy["spec"]["validations"].as_array().unwrap().len(), 1);
    }
}
