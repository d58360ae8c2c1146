//! The StudioLifecycleConfig controller: the script (inline or from a ConfigMap) becomes a
//! Studio lifecycle configuration named after its content (AWS configurations cannot change),
//! so a new script is a new configuration and running apps keep the one they started with.
//! Earlier versions are deleted once AWS no longer reports them in use. Deletion waits while
//! settings in the cluster refer to the resource.

use std::sync::Arc;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::controller::Action;
use kube::{Api, Client, ResourceExt};

use super::catalog::{self, Referred};
use super::context::Context;
use super::domain::reporter;
use super::driver::{Pass, Reconcile, run_controller, spec_or_deletion};
use super::error::ReconcileError;
use super::report::{Happening, reported};
use crate::api::condition_type::{DELETION_BLOCKED, GUARDRAIL_VIOLATION};
use crate::api::{
    DeletionPolicy, MAX_SCRIPT_BYTES, StudioLifecycleConfig, StudioLifecycleConfigSpec, StudioLifecycleConfigStatus,
};
use crate::aws::AwsError;
use crate::aws::clients::AwsSession;
use crate::aws::model::LifecycleConfigCreate;
use crate::ownership::{self, Owner};
use crate::status::Want;

/// Runs the StudioLifecycleConfig controller for one scope until `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    scope: Option<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    run_controller::<StudioLifecycleConfig>(ctx, scope, shutdown, spec_or_deletion, None, false).await;
}

reported!(StudioLifecycleConfig, StudioLifecycleConfigStatus);

impl Reconcile for StudioLifecycleConfig {
    fn api(client: &Client, obj: &Self) -> Api<Self> {
        Api::namespaced(client.clone(), &obj.namespace().unwrap_or_default())
    }

    async fn apply(pass: &mut Pass<'_, Self>) -> Result<Action, ReconcileError> {
        apply(pass).await
    }

    async fn cleanup(pass: &mut Pass<'_, Self>) -> Result<Action, ReconcileError> {
        cleanup(pass).await
    }
}

/// The part of every version's name that names the resource: `metadata.name` as AWS allows it
/// (letters, digits, '-'), cut so that `-<12 hex digits>` fits in 63 characters.
pub fn base_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(50)
        .collect();
    cleaned.trim_matches('-').to_string()
}

/// The name of the version of this script: it changes with the script, the app type and the
/// resource (cluster, namespace, name), so two resources never share a configuration.
pub fn version_name(owner: &Owner, spec: &StudioLifecycleConfigSpec, script: &str) -> String {
    let hash = reporter::content_hash(&[
        &owner.cluster,
        &owner.namespace,
        &owner.name,
        spec.app_type.as_str(),
        script,
    ]);
    format!("{}-{hash}", base_name(&owner.name))
}

/// A configuration of this resource's base name found in AWS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub name: String,
    pub arn: String,
    /// It carries this resource's ownership tags.
    pub ours: bool,
}

/// What a pass does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Create the wanted version.
    pub create: bool,
    /// The wanted name is held by a configuration that is not this resource's.
    pub conflict: bool,
    /// Earlier versions of this resource to delete.
    pub delete: Vec<String>,
}

/// Decides from what AWS holds under the base name. Pure.
pub fn plan(wanted: &str, found: &[Found]) -> Plan {
    let existing = found.iter().find(|f| f.name == wanted);
    Plan {
        create: existing.is_none(),
        conflict: existing.is_some_and(|f| !f.ours),
        delete: found
            .iter()
            .filter(|f| f.ours && f.name != wanted)
            .map(|f| f.name.clone())
            .collect(),
    }
}

fn owner(pass: &Pass<'_, StudioLifecycleConfig>) -> Owner {
    Owner {
        cluster: pass.ctx.config.cluster_id.clone(),
        namespace: pass.namespace(),
        name: pass.obj.name_any(),
        uid: pass.uid(),
    }
}

/// The script, or why there is none to use.
async fn script(
    pass: &Pass<'_, StudioLifecycleConfig>,
) -> Result<Result<String, (&'static str, String)>, ReconcileError> {
    let spec = &pass.obj.spec;
    let script = match (&spec.script, &spec.script_from) {
        (Some(inline), _) => inline.clone(),
        (None, Some(from)) => {
            let key = &from.config_map_key_ref;
            let config_maps: Api<ConfigMap> = Api::namespaced(pass.ctx.client.clone(), &pass.namespace());
            let value = config_maps
                .get_opt(&key.name)
                .await?
                .and_then(|cm| cm.data.and_then(|mut data| data.remove(&key.key)));
            let Some(value) = value else {
                return Ok(Err((
                    "ScriptNotFound",
                    format!(
                        "ConfigMap {} has no key {}: create it, or fix scriptFrom",
                        key.name, key.key
                    ),
                )));
            };
            value
        }
        (None, None) => return Ok(Err(("ScriptNotFound", "set script or scriptFrom".into()))),
    };
    if script.len() > MAX_SCRIPT_BYTES {
        return Ok(Err((
            "ScriptTooLarge",
            format!(
                "the script has {} bytes; AWS takes at most {MAX_SCRIPT_BYTES} (16 KB of base64): shorten it, or download the rest from S3 in the script",
                script.len()
            ),
        )));
    }
    Ok(Ok(script))
}

/// The configurations under this resource's base name, with whether each is this resource's.
async fn observe(session: &AwsSession, owner: &Owner) -> Result<Vec<Found>, ReconcileError> {
    let base = base_name(&owner.name);
    let mut found = Vec::new();
    for config in session.list_lifecycle_configs(&base).await? {
        let Some(version) = config.name.strip_prefix(&format!("{base}-")) else {
            continue;
        };
        if version.len() != 12 {
            continue;
        }
        let tags = match session.list_tags(&config.arn).await {
            Ok(tags) => tags,
            Err(AwsError::NotFound { .. }) => continue,
            Err(error) => return Err(error.into()),
        };
        found.push(Found {
            name: config.name,
            arn: config.arn,
            ours: owner.owns(&tags),
        });
    }
    Ok(found)
}

async fn apply(pass: &mut Pass<'_, StudioLifecycleConfig>) -> Result<Action, ReconcileError> {
    pass.report.want(Want::false_(
        DELETION_BLOCKED,
        "NotDeleting",
        "the resource is not being deleted",
    ));
    let role = pass.obj.spec.aws.role_arn.as_deref();
    if let Some(message) = pass
        .ctx
        .forbidden_role(&pass.namespace(), pass.obj.labels(), role)
        .await?
    {
        pass.report
            .want(Want::true_(GUARDRAIL_VIOLATION, "Enforced", message.clone()));
        pass.report
            .stalled("GuardrailViolation", format!("{message}; nothing is done in AWS"));
        return Ok(pass.resync());
    }
    let script = match script(pass).await? {
        Ok(script) => script,
        Err((reason, message)) => {
            pass.report.stalled(reason, message);
            return Ok(pass.resync());
        }
    };
    let owner = owner(pass);
    let wanted = version_name(&owner, &pass.obj.spec, &script);
    let session = pass
        .ctx
        .session(&pass.obj.spec.aws, &pass.namespace(), &pass.obj.name_any())
        .await?;
    let found = observe(&session, &owner).await?;
    let plan = plan(&wanted, &found);
    if plan.conflict {
        pass.report.stalled(
            "Conflict",
            format!("a lifecycle configuration named {wanted} exists that is not this resource's: it is never used or deleted; delete it in AWS, or rename this resource"),
        );
        return Ok(pass.resync());
    }
    let existing = found.iter().find(|f| f.name == wanted).map(|f| f.arn.clone());
    create_and_prune(pass, &session, &owner, (&wanted, existing), script, &plan).await
}

/// Creates the wanted version, deletes earlier ones AWS no longer reports in use, and reports.
async fn create_and_prune(
    pass: &mut Pass<'_, StudioLifecycleConfig>,
    session: &AwsSession,
    owner: &Owner,
    (wanted, mut arn): (&str, Option<String>),
    script: String,
    plan: &Plan,
) -> Result<Action, ReconcileError> {
    let app_type = pass.obj.spec.app_type;
    if plan.create {
        let config = LifecycleConfigCreate {
            name: wanted.to_string(),
            app_type: app_type.as_str().into(),
            content: script,
            tags: owner.tags(),
        };
        arn = reporter::create_config(session, &config).await?;
        pass.event(Happening::normal(
            "Created",
            format!("created lifecycle configuration {wanted}"),
        ))
        .await;
    }
    let left = reporter::delete(session, &plan.delete).await?;
    for deleted in plan.delete.iter().filter(|name| !left.contains(name)) {
        pass.event(
            Happening::normal(
                "PreviousVersionDeleted",
                format!("deleted {deleted}, replaced by {wanted}"),
            )
            .about(deleted.clone()),
        )
        .await;
    }
    // Unknown only when a create met a configuration made since the listing: the next pass lists it.
    let Some(arn) = arn else {
        pass.report
            .progressing("Creating", format!("creating lifecycle configuration {wanted}"));
        return Ok(pass.poll());
    };
    pass.status.config_name = Some(wanted.to_string());
    pass.status.arn = Some(arn);
    pass.status.app_type = Some(app_type);
    pass.status.previous_versions = left.clone();
    let earlier = if left.is_empty() {
        String::new()
    } else {
        format!(
            "; earlier version(s) {} stay while apps or settings in AWS use them",
            left.join(", ")
        )
    };
    pass.report.ready(
        "Available",
        format!("lifecycle configuration {wanted} ({}){earlier}", app_type.as_str()),
    );
    if left.is_empty() {
        Ok(pass.resync())
    } else {
        Ok(pass.blocked())
    }
}

async fn cleanup(pass: &mut Pass<'_, StudioLifecycleConfig>) -> Result<Action, ReconcileError> {
    let referrers = catalog::referrers(
        &pass.ctx.stores,
        &pass.namespace(),
        Referred::LifecycleConfig,
        &pass.obj.name_any(),
    );
    if !referrers.is_empty() {
        let message = format!(
            "deletion waits: referred to in lifecycleConfigs by {}; remove the references first",
            referrers.join(", ")
        );
        pass.report
            .want(Want::true_(DELETION_BLOCKED, "Referenced", message.clone()));
        pass.report.stalled("DeletionBlocked", message);
        return Ok(pass.blocked());
    }
    let owner = owner(pass);
    let session = pass
        .ctx
        .session(&pass.obj.spec.aws, &pass.namespace(), &pass.obj.name_any())
        .await?;
    let ours: Vec<Found> = observe(&session, &owner)
        .await?
        .into_iter()
        .filter(|f| f.ours)
        .collect();
    if pass.obj.spec.deletion_policy == DeletionPolicy::Retain {
        let keys: Vec<String> = ownership::KEYS.iter().map(|k| k.to_string()).collect();
        for config in &ours {
            session.delete_tags(&config.arn, &keys).await?;
        }
        return pass.release().await;
    }
    let names: Vec<String> = ours.iter().map(|f| f.name.clone()).collect();
    let left = reporter::delete(&session, &names).await?;
    if !left.is_empty() {
        let message = format!(
            "deletion waits: AWS reports {} in use by an app, a domain, a profile or a space",
            left.join(", ")
        );
        pass.report
            .want(Want::true_(DELETION_BLOCKED, "InUse", message.clone()));
        pass.report.progressing("DeletionBlocked", message);
        return Ok(pass.blocked());
    }
    pass.release().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{AwsTarget, LifecycleAppType};

    fn owner(name: &str) -> Owner {
        Owner {
            cluster: "c1".into(),
            namespace: "team-a".into(),
            name: name.into(),
            uid: "u1".into(),
        }
    }

    fn spec(app_type: LifecycleAppType) -> StudioLifecycleConfigSpec {
        StudioLifecycleConfigSpec {
            aws: AwsTarget {
                region: "us-east-1".into(),
                role_arn: None,
            },
            app_type,
            script: Some("echo hi".into()),
            script_from: None,
            deletion_policy: DeletionPolicy::Delete,
        }
    }

    #[test]
    fn version_names_follow_the_content_and_fit_the_api_pattern() {
        let lab = spec(LifecycleAppType::JupyterLab);
        let name = version_name(&owner("install.extensions"), &lab, "echo hi");
        assert!(name.starts_with("install-extensions-"), "{name}");
        assert_ne!(name, version_name(&owner("install.extensions"), &lab, "echo bye"));
        assert_ne!(
            name,
            version_name(
                &owner("install.extensions"),
                &spec(LifecycleAppType::CodeEditor),
                "echo hi"
            )
        );
        let long = version_name(&owner(&"x".repeat(253)), &lab, "echo hi");
        assert!(long.len() <= 63, "{long}");
        assert!(valid(&long), "{long}");
        assert!(valid(&version_name(&owner("-a.b-"), &lab, "x")));
    }

    /// The API's `^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$`.
    fn valid(name: &str) -> bool {
        name.len() <= 63
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && name.ends_with(|c: char| c.is_ascii_alphanumeric())
    }

    #[test]
    fn a_new_version_is_created_earlier_ones_deleted_and_a_foreign_one_never_touched() {
        let found = |name: &str, ours: bool| Found {
            name: name.into(),
            arn: format!("arn:{name}"),
            ours,
        };
        assert_eq!(
            plan("pip-2", &[found("pip-1", true), found("pip-0", false)]),
            Plan {
                create: true,
                conflict: false,
                delete: vec!["pip-1".into()],
            }
        );
        assert_eq!(
            plan("pip-2", &[found("pip-2", false)]),
            Plan {
                create: false,
                conflict: true,
                delete: vec![],
            }
        );
        assert_eq!(
            plan("pip-2", &[found("pip-2", true)]),
            Plan {
                create: false,
                conflict: false,
                delete: vec![],
            }
        );
    }
}
