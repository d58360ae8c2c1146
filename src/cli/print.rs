//! The commands that print what the operator generates: the migration script, the operator's
//! IAM policy and a Guardrail's policies.

use std::path::Path;

use crate::api::{Guardrail, StudioDomain};
use crate::policy::operator::{OperatorPolicyOptions, operator_policy};
use crate::policy::prevention::{guardrail_from_yaml, policies};

/// Prints the least-privilege policy; fails after printing when it is too large for AWS.
pub fn iam_policy(
    cluster_id: String,
    role_arn_patterns: Vec<String>,
    execution_role_arns: Vec<String>,
    backup_buckets: Vec<String>,
) -> Result<(), String> {
    let policy = operator_policy(&OperatorPolicyOptions {
        cluster_id,
        role_arn_patterns,
        execution_role_arns,
        backup_buckets,
    });
    print!("{}", policy.pretty());
    policy.check_size("the operator policy").map_err(|e| e.to_string())
}

/// Reads a StudioDomain and prints the migration script of its last recreation.
pub async fn migration_plan(reference: &str) -> Result<(), String> {
    let (namespace, name) = reference
        .split_once('/')
        .ok_or_else(|| format!("'{reference}' is not NAMESPACE/NAME"))?;
    let client = kube::Client::try_default()
        .await
        .map_err(|e| format!("cannot connect to Kubernetes: {e}"))?;
    let api: kube::Api<StudioDomain> = kube::Api::namespaced(client, namespace);
    let domain = api
        .get(name)
        .await
        .map_err(|e| format!("cannot read StudioDomain {reference}: {e}"))?;
    let plan = domain
        .status
        .and_then(|s| s.migration_plan)
        .ok_or_else(|| format!("StudioDomain {reference} has no migration plan: it was never recreated"))?;
    print!("{}", crate::migration::render_script(&plan, &domain.spec.aws.region));
    Ok(())
}

/// Prints the policies of a Guardrail from the cluster or from a file; fails after printing when
/// a document is too large for AWS.
pub async fn guardrail_policies(name: &str, file: Option<&Path>) -> Result<(), String> {
    let guardrail = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            guardrail_from_yaml(&text, name).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => {
            let client = kube::Client::try_default()
                .await
                .map_err(|e| format!("cannot connect to Kubernetes: {e}"))?;
            kube::Api::<Guardrail>::all(client)
                .get(name)
                .await
                .map_err(|e| format!("cannot read Guardrail {name}: {e}"))?
        }
    };
    let documents = policies(&guardrail.spec);
    if documents.is_empty() {
        eprintln!("Guardrail {name} sets no rule that IAM can express: nothing to render");
        return Ok(());
    }
    let mut too_large = Vec::new();
    for (file, policy) in &documents {
        println!("# {file}");
        print!("{}", policy.pretty());
        if let Err(error) = policy.check_size(file) {
            too_large.push(error.to_string());
        }
    }
    if too_large.is_empty() {
        Ok(())
    } else {
        Err(too_large.join("\n"))
    }
}
