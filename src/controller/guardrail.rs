//! The Guardrail controller: finds the StudioDomains a Guardrail covers, lists what breaks it
//! (specs of domains, profiles and spaces; running apps the sweeper saw), counts the apps it had
//! stopped, and renders its IAM / SCP policies into a ConfigMap it owns.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{ObjectMeta, Patch, PatchParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use tracing::info;

use super::context::{Context, FIELD_MANAGER};
use super::driver::{Pass, Reconcile, drive_contained, error_policy, watched_api};
use super::error::ReconcileError;
use super::report::reported;
use crate::api::{Guardrail, GuardrailStatus, SharedSpace, StudioDomain, UserProfile, Violation};
use crate::compliance::{self, DomainLabels, Finding, rules};

const KIND: &str = "Guardrail";
/// At most this many violations are listed in status; `violationCount` has the total.
const MAX_LISTED: usize = 50;

/// Runs the Guardrail controller until `shutdown` resolves. Any change of a StudioDomain,
/// UserProfile or SharedSpace re-evaluates every Guardrail (debounced).
pub async fn run(ctx: Arc<Context>, shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static) {
    let mut config = watcher::Config::default();
    if let Some(selector) = &ctx.config.guardrail_selector {
        config = config.labels(selector);
    }
    let (store, writer) = reflector::store();
    let guardrails = watcher(Api::<Guardrail>::all(ctx.client.clone()), config)
        .default_backoff()
        .modify(super::stores::trim)
        .reflect(writer)
        .inspect(ctx.caches.register())
        .applied_objects();
    let controller = Controller::for_stream(guardrails, store.clone());
    let everything = move || {
        store
            .state()
            .iter()
            .map(|g| ObjectRef::from_obj(g.as_ref()))
            .collect::<Vec<_>>()
    };
    let mut controller = controller.with_config(
        kube::runtime::controller::Config::default()
            .concurrency(ctx.config.concurrency)
            .debounce(Duration::from_secs(1)),
    );
    for scope in ctx.config.scopes() {
        let all = everything.clone();
        controller = controller.watches_stream(touched::<StudioDomain>(&ctx, &scope), move |_| all());
        let all = everything.clone();
        controller = controller.watches_stream(touched::<UserProfile>(&ctx, &scope), move |_| all());
        let all = everything.clone();
        controller = controller.watches_stream(touched::<SharedSpace>(&ctx, &scope), move |_| all());
    }
    controller
        .graceful_shutdown_on(shutdown)
        .run(drive_contained::<Guardrail>, error_policy::<Guardrail>, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}

/// Changes of one kind in one scope. Only that something changed matters (the reconcile reads
/// the controllers' caches, which see the same change within the 1 s debounce), so the watch is
/// metadata-only: no spec or status is sent or decoded. It starts once the caches are synced
/// (its first list then touches everything), so it does not slow the start up to ready.
fn touched<K>(
    ctx: &Context,
    scope: &Option<String>,
) -> impl futures::Stream<Item = Result<PartialObjectMeta<K>, watcher::Error>> + Send + 'static
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let api = watched_api::<PartialObjectMeta<K>>(&ctx.client, scope.as_deref());
    let caches = ctx.caches.clone();
    futures::stream::once(async move { caches.wait().await }).flat_map(move |()| {
        watcher(api.clone(), watcher::Config::default())
            .default_backoff()
            .touched_objects()
    })
}

/// What the cluster holds, read once per reconcile from the controllers' caches.
struct Cluster {
    domains: Vec<Arc<StudioDomain>>,
    profiles: Vec<Arc<UserProfile>>,
    spaces: Vec<Arc<SharedSpace>>,
    namespace_labels: BTreeMap<String, BTreeMap<String, String>>,
}

impl Cluster {
    async fn read(ctx: &Context) -> Result<Self, kube::Error> {
        let mut cluster = Cluster {
            domains: ctx.stores.domains.all(),
            profiles: ctx.stores.profiles.all(),
            spaces: ctx.stores.spaces.all(),
            namespace_labels: BTreeMap::new(),
        };
        let namespaces: Api<Namespace> = Api::all(ctx.client.clone());
        let all_namespaces: Vec<String> = cluster
            .domains
            .iter()
            .map(|d| d.namespace())
            .chain(cluster.profiles.iter().map(|p| p.namespace()))
            .chain(cluster.spaces.iter().map(|s| s.namespace()))
            .map(Option::unwrap_or_default)
            .collect();
        for namespace in all_namespaces {
            if let Entry::Vacant(slot) = cluster.namespace_labels.entry(namespace) {
                let labels = namespaces.get_opt(slot.key()).await?.map(|n| n.labels().clone());
                slot.insert(labels.unwrap_or_default());
            }
        }
        Ok(cluster)
    }
}

fn key_of<K: Resource>(obj: &K) -> String {
    format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())
}

fn violation(kind: &str, name: String, finding: Finding) -> Violation {
    Violation {
        kind: kind.into(),
        name,
        rule: finding.rule.into(),
        value: finding.value,
    }
}

/// The domains a guardrail covers and every spec that breaks it. Pure.
fn evaluate(guardrail: &Guardrail, cluster: &Cluster) -> (Vec<String>, Vec<Violation>) {
    let mut matched = Vec::new();
    let mut violations = Vec::new();
    let rules = &guardrail.spec.rules;
    for domain in &cluster.domains {
        let namespace = domain.namespace().unwrap_or_default();
        let labels = DomainLabels {
            namespace: cluster.namespace_labels.get(&namespace).cloned().unwrap_or_default(),
            domain: domain.labels().clone(),
        };
        let domain_covered = compliance::covers(guardrail, &labels);
        let key = key_of(domain.as_ref());
        if domain_covered {
            for finding in rules::check_domain(rules, &domain.spec) {
                violations.push(violation("StudioDomain", key.clone(), finding));
            }
        }
        let member_covered = |namespace: String| {
            let own = cluster.namespace_labels.get(&namespace).cloned().unwrap_or_default();
            compliance::covers_member(guardrail, &labels, &own)
        };
        for profile in &cluster.profiles {
            let referrer = profile.namespace().unwrap_or_default();
            if profile.spec.domain_ref.key(&referrer) == key && member_covered(referrer) {
                for finding in rules::check_profile(rules, &profile.spec) {
                    violations.push(violation("UserProfile", key_of(profile.as_ref()), finding));
                }
            }
        }
        for space in &cluster.spaces {
            let referrer = space.namespace().unwrap_or_default();
            if space.spec.domain_ref.key(&referrer) == key && member_covered(referrer) {
                for finding in rules::check_space(rules, &space.spec) {
                    violations.push(violation("SharedSpace", key_of(space.as_ref()), finding));
                }
            }
        }
        if !domain_covered {
            continue;
        }
        matched.push(key);
    }
    (matched, violations)
}

reported!(Guardrail, GuardrailStatus);

impl Reconcile for Guardrail {
    /// A Guardrail has nothing in AWS to clean up; its policy ConfigMap is garbage collected.
    const FINALIZES: bool = false;

    fn api(client: &Client, _obj: &Self) -> Api<Self> {
        Api::all(client.clone())
    }

    async fn apply(pass: &mut Pass<'_, Self>) -> Result<Action, ReconcileError> {
        apply(pass).await
    }

    async fn cleanup(_pass: &mut Pass<'_, Self>) -> Result<Action, ReconcileError> {
        Ok(Action::await_change())
    }
}

/// Evaluates the guardrail against the cluster and the sweeper's findings, renders its
/// policies, and reports.
async fn apply(pass: &mut Pass<'_, Guardrail>) -> Result<Action, ReconcileError> {
    let ctx = pass.ctx;
    let guardrail = pass.obj;
    let name = guardrail.name_any();
    if !ctx.caches.is_synced() {
        // An evaluation against half-filled caches would report too few violations.
        pass.report
            .progressing("WaitingForCaches", "waiting for the controllers' caches");
        return Ok(Action::requeue(Duration::from_secs(1)));
    }
    write_policies(ctx, guardrail).await?;
    if let Some(problem) = compliance::selector_problem(guardrail) {
        pass.status.matched_domains.clear();
        pass.report.stalled(
            "InvalidSelector",
            format!("{problem}; the guardrail covers nothing and enforces nothing until the selector is fixed"),
        );
        return Ok(pass.resync());
    }
    let cluster = Cluster::read(ctx).await?;
    let (matched, mut violations) = evaluate(guardrail, &cluster);
    let pending = {
        let findings = ctx.guardrail_findings.lock().expect("findings lock");
        findings.get(&name).cloned().unwrap_or_default()
    };
    for domain in &matched {
        violations.extend(pending.apps.get(domain).into_iter().flatten().cloned());
    }
    let count = violations.len();
    let mode = format!("{:?}", guardrail.spec.enforcement);
    let reason = if mode == "Enforce" { "Enforcing" } else { "Auditing" };
    pass.report.ready(
        reason,
        format!(
            "{mode}: covers {} StudioDomain(s), {count} violation(s); policies in ConfigMap {}/{}",
            matched.len(),
            ctx.config.policy_namespace,
            policy_config_map_name(&name)
        ),
    );
    violations.truncate(MAX_LISTED);
    let stopped = guardrail
        .status
        .as_ref()
        .and_then(|s| s.apps_stopped)
        .unwrap_or_default()
        + pending.apps_stopped;
    pass.status.matched_domains = matched;
    pass.status.violation_count = Some(count as i32);
    pass.status.violations = violations;
    pass.status.apps_stopped = (stopped > 0).then_some(stopped);
    if pending.apps_stopped > 0 {
        // Counted into status first, then taken from the pending findings.
        pass.checkpoint().await?;
        let mut findings = ctx.guardrail_findings.lock().expect("findings lock");
        if let Some(entry) = findings.get_mut(&name) {
            entry.apps_stopped -= pending.apps_stopped;
        }
        info!(stopped = pending.apps_stopped, "recorded stopped apps");
    }
    Ok(Action::requeue(
        ctx.config.resync_interval.min(ctx.config.sweep_interval),
    ))
}

/// Name of the ConfigMap that holds a guardrail's rendered policies.
pub fn policy_config_map_name(guardrail: &str) -> String {
    format!("guardrail-{guardrail}-policies")
}

/// Writes the rendered IAM / SCP policies into a ConfigMap owned by the Guardrail, so deleting
/// the Guardrail deletes it.
async fn write_policies(ctx: &Context, guardrail: &Guardrail) -> Result<(), ReconcileError> {
    let name = guardrail.name_any();
    let owner = OwnerReference {
        api_version: Guardrail::api_version(&()).into(),
        kind: KIND.into(),
        name: name.clone(),
        uid: guardrail.uid().ok_or(ReconcileError::MissingField("metadata.uid"))?,
        controller: Some(true),
        block_owner_deletion: Some(true),
    };
    let config_map = ConfigMap {
        metadata: ObjectMeta {
            name: Some(policy_config_map_name(&name)),
            namespace: Some(ctx.config.policy_namespace.clone()),
            labels: Some(BTreeMap::from([(
                "studio-operator.io/guardrail".to_string(),
                name.clone(),
            )])),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        data: Some(crate::policy::prevention::config_map_data(&guardrail.spec)),
        ..Default::default()
    };
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ctx.config.policy_namespace);
    api.patch(
        &policy_config_map_name(&name),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&config_map),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object<K: serde::de::DeserializeOwned>(value: serde_json::Value) -> K {
        serde_json::from_value(value).unwrap()
    }

    fn domain(namespace: &str, name: &str, access: &str) -> StudioDomain {
        object(json!({
            "apiVersion": "studio-operator.io/v1alpha1", "kind": "StudioDomain",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "aws": {"region": "us-east-1"},
                "network": {"vpcId": "vpc-0123456789abcdef0", "subnetIds": ["subnet-0123456789abcdef0"], "accessType": access},
                "encryption": {"kmsKeyId": "alias/studio"},
                "defaultUserSettings": {"executionRole": "arn:aws:iam::123456789012:role/Exec"},
            },
        }))
    }

    #[test]
    fn evaluation_covers_selected_domains_and_their_members_wherever_they_live() {
        let guardrail: Guardrail = object(json!({
            "apiVersion": "studio-operator.io/v1alpha1", "kind": "Guardrail",
            "metadata": {"name": "prod"},
            "spec": {
                "selector": {"namespaceSelector": {"matchLabels": {"env": "prod"}}},
                "rules": {"requireVpcOnly": true, "allowedInstanceTypes": ["ml.t3.*"]},
            },
        }));
        let profile = |namespace: &str, domain_namespace: &str, instance: &str| -> UserProfile {
            object(json!({
                "apiVersion": "studio-operator.io/v1alpha1", "kind": "UserProfile",
                "metadata": {"name": "alice", "namespace": namespace},
                "spec": {
                    "domainRef": {"name": "studio", "namespace": domain_namespace},
                    "userSettings": {"jupyterLab": {"defaultResourceSpec": {"instanceType": instance}}},
                },
            }))
        };
        let cluster = Cluster {
            domains: vec![
                Arc::new(domain("platform", "studio", "PublicInternetOnly")),
                Arc::new(domain("dev", "studio", "PublicInternetOnly")),
            ],
            profiles: vec![
                Arc::new(profile("team-a", "platform", "ml.g5.xlarge")),
                Arc::new(profile("team-b", "dev", "ml.g5.xlarge")),
                Arc::new(profile("team-c", "platform", "ml.t3.medium")),
            ],
            spaces: Vec::new(),
            namespace_labels: BTreeMap::from([
                ("platform".into(), BTreeMap::from([("env".into(), "prod".into())])),
                ("dev".into(), BTreeMap::new()),
            ]),
        };
        let (matched, violations) = evaluate(&guardrail, &cluster);
        assert_eq!(matched, ["platform/studio"]);
        let listed: Vec<(&str, &str, &str)> = violations
            .iter()
            .map(|v| (v.kind.as_str(), v.name.as_str(), v.rule.as_str()))
            .collect();
        assert_eq!(
            listed,
            [
                ("StudioDomain", "platform/studio", "requireVpcOnly"),
                ("UserProfile", "team-a/alice", "allowedInstanceTypes"),
            ]
        );
    }
}
