//! Resolution of a `domainRef`, shared by profiles and spaces: find the StudioDomain, check that
//! its tenancy lets the referring namespace in, and tell whether it is ready to hold members.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Namespace;
use kube::core::{Selector, SelectorExt};
use kube::{Api, Client, ResourceExt};

use crate::api::condition_type::READY;
use crate::api::{AccessType, AuthMode, AwsTarget, DomainRef, NamePolicy, SpaceBackup, StudioDomain};
use crate::controller::space_data::WAITING_FOR_SPACE;
use crate::status;

/// What a reference leads to.
#[derive(Clone, Debug, PartialEq)]
pub enum Resolved {
    /// No such StudioDomain (yet).
    NotFound(String),
    /// The domain exists but does not let the referring namespace use it (why, and the domain:
    /// a member created before the access was revoked is still deleted or retained by policy).
    Denied(String, Box<DomainTarget>),
    /// The domain, ready or not.
    Found(Box<DomainTarget>),
}

/// What a member needs to know about its domain.
#[derive(Clone, Debug, PartialEq)]
pub struct DomainTarget {
    /// `namespace/name` of the StudioDomain, for messages.
    pub key: String,
    /// Namespace of the StudioDomain (guardrails select by it).
    pub namespace: String,
    /// Name of the StudioDomain.
    pub name: String,
    /// Labels of the StudioDomain (guardrails select by them).
    pub labels: BTreeMap<String, String>,
    /// Account and region: members live in the domain's account.
    pub aws: AwsTarget,
    /// IAM or SSO.
    pub auth_mode: AuthMode,
    /// The domain's default execution role for shared spaces.
    pub space_execution_role: Option<String>,
    /// The domain is VpcOnly and its default user settings name no security groups: every
    /// profile must name its own.
    pub profiles_need_security_groups: bool,
    /// The domain id, once the domain is Ready for its current generation; otherwise why not.
    pub ready: Result<String, String>,
    /// The backup of its spaces' home directories, if it has one.
    pub space_backup: Option<SpaceBackup>,
    /// Spaces of the last recreation's migration plan whose new space is not created yet, name
    /// -> the S3 prefix of the backup it is restored from.
    pub restore_from: BTreeMap<String, String>,
    /// The idle timeouts the domain allows its members (`idleShutdown` min and max minutes).
    pub idle_bounds: (Option<i32>, Option<i32>),
    /// The AWS names members from other namespaces may claim.
    pub name_policy: NamePolicy,
}

impl DomainTarget {
    /// Whether the domain restricts the AWS names members of `namespace` may claim.
    pub fn restricts_names_of(&self, namespace: &str) -> bool {
        self.name_policy == NamePolicy::NamespacePrefix && namespace != self.namespace
    }

    /// Whether a member of `namespace` may claim the AWS name `name` in this domain; otherwise
    /// why not and what name would do. `namespaces` are the cluster's: names are not separated
    /// from their prefix unambiguously (`team-a-alice` starts with `team-` too), so a name that
    /// carries the longer prefix of another namespace is that namespace's.
    pub fn name_allowed(&self, namespace: &str, name: &str, namespaces: &[String]) -> Result<(), String> {
        if !self.restricts_names_of(namespace) {
            return Ok(());
        }
        let prefix = format!("{namespace}-");
        let policy = format!(
            "StudioDomain {} gives members from other namespaces only names that start with {prefix:?} (spec.tenancy.namePolicy NamespacePrefix)",
            self.key
        );
        if !name.starts_with(&prefix) {
            return Err(format!("{policy}, not {name:?}: name it {prefix}{name}"));
        }
        let longer = |other: &&String| other.len() > namespace.len() && name.starts_with(&format!("{other}-"));
        match namespaces.iter().find(longer) {
            Some(_) => Err(format!(
                "{policy}; {name:?} also starts with the prefix of another, longer namespace name, whose names it is: choose one that does not"
            )),
            None => Ok(()),
        }
    }
}

/// The names of the cluster's namespaces, for [`DomainTarget::name_allowed`].
pub async fn namespace_names(client: &Client) -> Result<Vec<String>, kube::Error> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let listed = namespaces.list_metadata(&Default::default()).await?;
    Ok(listed.items.into_iter().map(|n| n.name_any()).collect())
}

/// Looks the referenced domain up and checks tenancy. Only a cross-namespace reference reads
/// the referring Namespace (for its labels). A namespace-scoped installation does not look
/// outside the namespaces it watches (`watched`).
pub async fn resolve(
    client: &Client,
    watched: impl Fn(&str) -> bool,
    referrer_namespace: &str,
    domain_ref: &DomainRef,
) -> Result<Resolved, kube::Error> {
    let namespace = domain_ref.namespace.as_deref().unwrap_or(referrer_namespace);
    if !watched(namespace) {
        return Ok(Resolved::NotFound(format!(
            "StudioDomain {namespace}/{} is in a namespace this installation does not watch (--watch-namespace): refer to a domain in a watched namespace, or add {namespace} to the chart's operator.watchNamespaces",
            domain_ref.name
        )));
    }
    let domains: Api<StudioDomain> = Api::namespaced(client.clone(), namespace);
    let Some(domain) = domains.get_opt(&domain_ref.name).await? else {
        return Ok(Resolved::NotFound(format!(
            "StudioDomain {namespace}/{} does not exist",
            domain_ref.name
        )));
    };
    if namespace != referrer_namespace {
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let labels = namespaces
            .get_opt(referrer_namespace)
            .await?
            .map(|n| n.labels().clone())
            .unwrap_or_default();
        if let Err(message) = tenancy_allows(&domain, referrer_namespace, &labels) {
            return Ok(Resolved::Denied(message, Box::new(target(&domain))));
        }
    }
    Ok(Resolved::Found(Box::new(target(&domain))))
}

/// Whether the domain lets a namespace with these labels reference it. The domain's own
/// namespace is always allowed; without `tenancy` no other is; an empty selector allows all.
pub fn tenancy_allows(
    domain: &StudioDomain,
    referrer_namespace: &str,
    labels: &BTreeMap<String, String>,
) -> Result<(), String> {
    let domain_namespace = domain.namespace().unwrap_or_default();
    if domain_namespace == referrer_namespace {
        return Ok(());
    }
    let denied = |why: &str| {
        Err(format!(
            "StudioDomain {domain_namespace}/{} does not allow namespace {referrer_namespace}: {why}; a platform administrator must add it to the domain's spec.tenancy.allowedNamespaces",
            domain.name_any()
        ))
    };
    let Some(selector) = domain.spec.tenancy.as_ref().and_then(|t| t.allowed_namespaces.clone()) else {
        return denied("the domain has no spec.tenancy.allowedNamespaces");
    };
    match Selector::try_from(selector) {
        Ok(selector) if selector.matches(labels) => Ok(()),
        Ok(_) => denied("its labels do not match spec.tenancy.allowedNamespaces"),
        Err(error) => denied(&format!("spec.tenancy.allowedNamespaces is invalid ({error})")),
    }
}

/// The domain as a member sees it: Ready (for its current generation) with an id, or not yet.
pub fn target(domain: &StudioDomain) -> DomainTarget {
    let key = format!("{}/{}", domain.namespace().unwrap_or_default(), domain.name_any());
    let status = domain.status.clone().unwrap_or_default();
    let ready_condition = status::find(&status.conditions, READY);
    let current = ready_condition.and_then(|c| c.observed_generation) == domain.metadata.generation;
    let ready = match (&status.domain_id, ready_condition) {
        (Some(id), Some(c)) if c.status == "True" && current => Ok(id.clone()),
        (_, Some(c)) if current => Err(format!("StudioDomain {key} is not ready: {}", c.message)),
        _ => Err(format!("StudioDomain {key} is not ready yet")),
    };
    DomainTarget {
        key,
        namespace: domain.namespace().unwrap_or_default(),
        name: domain.name_any(),
        labels: domain.labels().clone(),
        aws: domain.spec.aws.clone(),
        auth_mode: domain.spec.auth_mode,
        space_execution_role: domain
            .spec
            .default_space_settings
            .as_ref()
            .and_then(|s| s.execution_role.clone()),
        profiles_need_security_groups: domain.spec.network.access_type == AccessType::VpcOnly
            && domain
                .spec
                .default_user_settings
                .effective()
                .security_groups
                .is_none_or(|groups| groups.is_empty()),
        ready,
        space_backup: domain.spec.space_backup.clone(),
        idle_bounds: domain.spec.idle_shutdown.as_ref().map_or((None, None), |idle| {
            (idle.min_idle_timeout_minutes, idle.max_idle_timeout_minutes)
        }),
        name_policy: domain.spec.tenancy.as_ref().map(|t| t.name_policy).unwrap_or_default(),
        restore_from: status
            .migration_plan
            .iter()
            .flat_map(|plan| &plan.entries)
            .filter(|e| e.restore.as_deref() == Some(WAITING_FOR_SPACE))
            .filter_map(|e| Some((e.name.clone(), e.backup_location.clone()?)))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector, LabelSelectorRequirement, Time};
    use k8s_openapi::jiff::Timestamp;
    use serde_json::json;

    use super::*;
    use crate::api::{StudioDomainStatus, Tenancy};

    fn domain(tenancy: Option<LabelSelector>) -> StudioDomain {
        let mut domain: StudioDomain = serde_json::from_value(json!({
            "apiVersion": "studio-operator.io/v1alpha1",
            "kind": "StudioDomain",
            "metadata": {"name": "platform", "namespace": "platform", "generation": 2},
            "spec": {
                "aws": {"region": "us-east-1"},
                "network": {"vpcId": "vpc-0a1b2c3d", "subnetIds": ["subnet-0a1b2c3d"]},
                "encryption": {"kmsKeyId": "alias/k"},
                "defaultUserSettings": {"executionRole": "arn:aws:iam::123456789012:role/x"}
            }
        }))
        .unwrap();
        domain.spec.tenancy = tenancy.map(|s| Tenancy {
            allowed_namespaces: Some(s),
            ..Default::default()
        });
        domain
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn tenant_selector() -> LabelSelector {
        LabelSelector {
            match_labels: Some(labels(&[("studio-operator.io/tenant", "true")])),
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "env".into(),
                operator: "NotIn".into(),
                values: Some(vec!["sandbox".into()]),
            }]),
        }
    }

    #[test]
    fn own_namespace_is_always_allowed_and_others_need_tenancy() {
        let d = domain(None);
        assert!(tenancy_allows(&d, "platform", &BTreeMap::new()).is_ok());
        let denied = tenancy_allows(&d, "team", &labels(&[("studio-operator.io/tenant", "true")])).unwrap_err();
        assert!(denied.contains("does not allow namespace team"), "{denied}");
    }

    #[test]
    fn selector_decides_for_other_namespaces() {
        let d = domain(Some(tenant_selector()));
        assert!(tenancy_allows(&d, "team", &labels(&[("studio-operator.io/tenant", "true")])).is_ok());
        assert!(tenancy_allows(&d, "team", &labels(&[("studio-operator.io/tenant", "false")])).is_err());
        assert!(
            tenancy_allows(
                &d,
                "team",
                &labels(&[("studio-operator.io/tenant", "true"), ("env", "sandbox")])
            )
            .is_err()
        );
        let everyone = domain(Some(LabelSelector::default()));
        assert!(tenancy_allows(&everyone, "any", &BTreeMap::new()).is_ok());
    }

    #[test]
    fn namespace_prefix_names_bind_tenants_to_their_own_prefix() {
        let mut d = domain(Some(LabelSelector::default()));
        assert!(
            target(&d).name_allowed("team-a", "alice", &[]).is_ok(),
            "Any by default"
        );
        d.spec.tenancy.as_mut().unwrap().name_policy = NamePolicy::NamespacePrefix;
        let target = target(&d);
        let namespaces: Vec<String> = ["platform", "team", "team-a", "team-b"].map(String::from).to_vec();
        let refused = target.name_allowed("team-a", "alice", &namespaces).unwrap_err();
        assert!(refused.contains(r#"start with "team-a-""#), "{refused}");
        assert!(refused.contains("name it team-a-alice"), "{refused}");
        assert!(target.name_allowed("team-a", "team-b-alice", &namespaces).is_err());
        assert!(target.name_allowed("team-a", "team-a-alice", &namespaces).is_ok());
        assert!(target.name_allowed("team", "team-bob", &namespaces).is_ok());
        let squat = target.name_allowed("team", "team-a-alice", &namespaces).unwrap_err();
        assert!(squat.contains("longer namespace name"), "{squat}");
        assert!(!squat.contains("team-a\""), "the other namespace is not named: {squat}");
        assert!(
            target.name_allowed("team", "team-c-alice", &namespaces).is_ok(),
            "no such namespace"
        );
        assert!(
            target.name_allowed("platform", "alice", &namespaces).is_ok(),
            "the domain's own namespace"
        );
        assert!(!target.restricts_names_of("platform"));
    }

    #[test]
    fn ready_only_for_the_current_generation_with_an_id() {
        let mut d = domain(None);
        assert!(target(&d).ready.is_err());
        let ready = |generation| Condition {
            type_: READY.into(),
            status: "True".into(),
            reason: "InService".into(),
            message: "ok".into(),
            observed_generation: Some(generation),
            last_transition_time: Time(Timestamp::UNIX_EPOCH),
        };
        d.status = Some(StudioDomainStatus {
            domain_id: Some("d-1".into()),
            conditions: vec![ready(1)],
            ..Default::default()
        });
        assert!(target(&d).ready.is_err(), "a stale Ready does not count");
        d.status.as_mut().unwrap().conditions = vec![ready(2)];
        assert_eq!(target(&d).ready, Ok("d-1".into()));
    }
}
