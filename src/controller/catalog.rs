//! What settings refer to by name: StudioLifecycleConfigs (`lifecycleConfigs: [{name}]`) and
//! StudioImages (`customImages: [{imageRef}]`) of the referring resource's namespace. A
//! reference resolves to what AWS expects (an ARN; an image and AppImageConfig name) only when
//! the referred resource is Ready, serves the app type and lives where the referrer does;
//! otherwise the referrer waits (not Ready yet) or is stalled (missing, wrong app type or place),
//! with no AWS call, and the message names the reference.

use std::collections::BTreeMap;
use std::sync::Arc;

use kube::ResourceExt;
use kube::runtime::controller::Controller;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::Value;

use super::context::Context;
use super::driver::{change_hash, watched_api};
use super::member::decide::{Blocker, Problem};
use super::stores::Stores;
use crate::api::{AwsTarget, StudioImage, StudioLifecycleConfig, condition_type};
use crate::status;

/// The kinds settings refer to by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Referred {
    /// `lifecycleConfigs: [{name}]`.
    LifecycleConfig,
    /// `customImages: [{imageRef}]`.
    Image,
}

impl Referred {
    fn kind(self) -> &'static str {
        match self {
            Referred::LifecycleConfig => "StudioLifecycleConfig",
            Referred::Image => "StudioImage",
        }
    }
}

/// One reference in a spec: what, by name, for which app type (the settings member it is in).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reference {
    pub referred: Referred,
    pub name: String,
    pub app_type: &'static str,
}

/// The app type whose settings a member holds (`jupyterLabAppSettings`, or the earlier
/// `jupyterLab`).
fn app_type_of(member: &str) -> Option<&'static str> {
    match member {
        "jupyterLabAppSettings" | "jupyterLab" => Some("JupyterLab"),
        "codeEditorAppSettings" | "codeEditor" => Some("CodeEditor"),
        "kernelGatewayAppSettings" | "kernelGateway" => Some("KernelGateway"),
        "jupyterServerAppSettings" => Some("JupyterServer"),
        "rSessionAppSettings" => Some("RSession"),
        _ => None,
    }
}

/// Every reference in a spec (as JSON), in order. Pure.
pub fn references(spec: &Value) -> Vec<Reference> {
    fn walk(value: &Value, app_type: Option<&'static str>, out: &mut Vec<Reference>) {
        match value {
            Value::Object(members) => {
                for (member, inner) in members {
                    let items = inner.as_array().into_iter().flatten();
                    match (member.as_str(), app_type) {
                        ("lifecycleConfigs", Some(app_type)) => out.extend(items.filter_map(|item| {
                            Some(Reference {
                                referred: Referred::LifecycleConfig,
                                name: item.get("name")?.as_str()?.to_string(),
                                app_type,
                            })
                        })),
                        ("customImages", Some(app_type)) => out.extend(items.filter_map(|item| {
                            Some(Reference {
                                referred: Referred::Image,
                                name: item.get("imageRef")?.as_str()?.to_string(),
                                app_type,
                            })
                        })),
                        _ => walk(inner, app_type_of(member).or(app_type), out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| walk(item, app_type, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(spec, None, &mut out);
    out
}

/// The StudioDomains, UserProfiles and SharedSpaces of `namespace` whose spec refers to
/// `name` (`Kind namespace/name`), from the controllers' caches.
pub fn referrers(stores: &Stores, namespace: &str, referred: Referred, name: &str) -> Vec<String> {
    fn scan<K: kube::Resource + serde::Serialize>(
        kind: &str,
        objects: Vec<Arc<K>>,
        what: (&str, Referred, &str),
    ) -> Vec<String> {
        let (namespace, referred, name) = what;
        objects
            .iter()
            .filter(|obj| refers_to(obj.as_ref(), namespace, referred, name))
            .map(|obj| format!("{kind} {namespace}/{}", obj.meta().name.clone().unwrap_or_default()))
            .collect()
    }
    let what = (namespace, referred, name);
    let mut out = scan("StudioDomain", stores.domains.all(), what);
    out.extend(scan("UserProfile", stores.profiles.all(), what));
    out.extend(scan("SharedSpace", stores.spaces.all(), what));
    out.sort();
    out
}

/// Whether `obj` lives in `namespace` and its spec refers to `name`.
fn refers_to<K: kube::Resource + serde::Serialize>(obj: &K, namespace: &str, referred: Referred, name: &str) -> bool {
    if obj.meta().namespace.as_deref() != Some(namespace) {
        return false;
    }
    let object = serde_json::to_value(obj).unwrap_or_default();
    references(object.get("spec").unwrap_or(&Value::Null))
        .iter()
        .any(|r| r.referred == referred && r.name == name)
}

/// A kind settings refer to by name, and what of it a referrer resolves.
pub trait Referable:
    kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + std::fmt::Debug
    + serde::de::DeserializeOwned
    + Send
    + Sync
    + 'static
{
    /// Which references name it.
    const REFERRED: Referred;
    /// What the catalog knows of it, read from its spec and status.
    fn entry(&self) -> Entry;
}

impl Referable for StudioLifecycleConfig {
    const REFERRED: Referred = Referred::LifecycleConfig;
    fn entry(&self) -> Entry {
        let status = self.status.clone().unwrap_or_default();
        let (ready, why_not) = ready_entry(self, &status.conditions, status.observed_generation);
        Entry {
            ready,
            why_not,
            aws: self.spec.aws.clone(),
            app_type: status.app_type.map(|t| t.as_str()),
            value: status.arn,
            config_name: None,
        }
    }
}

impl Referable for StudioImage {
    const REFERRED: Referred = Referred::Image;
    fn entry(&self) -> Entry {
        let status = self.status.clone().unwrap_or_default();
        let (ready, why_not) = ready_entry(self, &status.conditions, status.observed_generation);
        Entry {
            ready,
            why_not,
            aws: self.spec.aws.clone(),
            app_type: status.app_type.map(|t| t.as_str()),
            value: status.image_name,
            config_name: status.app_image_config_name,
        }
    }
}

/// Adds to a referrer's controller a watch of the referable kind `R`: when one becomes Ready or
/// changes what it resolves to (a new configuration version), the referrers in its namespace
/// are reconciled at once instead of at their next poll or resync.
pub fn follow<K, R>(controller: Controller<K>, ctx: &Context, scope: Option<&str>, referrers: Store<K>) -> Controller<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::Serialize
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
    R: Referable,
{
    let changes = watcher(watched_api::<R>(&ctx.client, scope), watcher::Config::default())
        .default_backoff()
        .applied_objects()
        .predicate_filter(|r: &R| Some(change_hash(&r.entry())), Default::default());
    controller.watches_stream(changes, move |referred: R| {
        let namespace = referred.meta().namespace.clone().unwrap_or_default();
        let name = referred.meta().name.clone().unwrap_or_default();
        referrers
            .state()
            .into_iter()
            .filter(|k| refers_to(k.as_ref(), &namespace, R::REFERRED, &name))
            .map(|k| ObjectRef::from_obj(k.as_ref()))
            .collect::<Vec<_>>()
    })
}

/// What a reference resolves to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resolution {
    /// StudioLifecycleConfig name -> the ARN of its current configuration.
    pub lifecycle_configs: BTreeMap<String, String>,
    /// StudioImage name -> (image name, AppImageConfig name) in AWS.
    pub images: BTreeMap<String, (String, String)>,
}

/// What the catalog knows of one referred resource, read from its status.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Entry {
    /// Ready for its current generation.
    pub ready: bool,
    /// Its Ready condition's message, for a referrer that waits.
    pub why_not: String,
    /// Where it lives.
    pub aws: AwsTarget,
    /// The app type it serves, once known.
    pub app_type: Option<&'static str>,
    /// The ARN (lifecycle configuration) or the image name.
    pub value: Option<String>,
    /// The AppImageConfig name (images).
    pub config_name: Option<String>,
}

/// The referable resources of one namespace.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    pub entries: BTreeMap<(Referred, String), Entry>,
}

fn ready_entry<K: kube::Resource>(
    obj: &K,
    conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
    observed: Option<i64>,
) -> (bool, String) {
    let ready = status::find(conditions, condition_type::READY);
    let current = observed == obj.meta().generation;
    (
        current && ready.is_some_and(|c| c.status == "True"),
        ready
            .map(|c| c.message.clone())
            .unwrap_or_else(|| "not reconciled yet".into()),
    )
}

impl Catalog {
    /// The StudioLifecycleConfigs and StudioImages of `namespace` in the caches.
    pub fn of(stores: &Stores, namespace: &str) -> Self {
        fn add<R: Referable + ResourceExt>(
            entries: &mut BTreeMap<(Referred, String), Entry>,
            all: Vec<Arc<R>>,
            namespace: &str,
        ) {
            for referred in all.iter().filter(|r| r.namespace().as_deref() == Some(namespace)) {
                entries.insert((R::REFERRED, referred.name_any()), referred.entry());
            }
        }
        let mut entries = BTreeMap::new();
        add(&mut entries, stores.lifecycle_configs.all(), namespace);
        add(&mut entries, stores.images.all(), namespace);
        Self { entries }
    }
}

/// The account an AWS target acts in: the role's, or the operator's own (`None`).
fn account_of(aws: &AwsTarget) -> Option<&str> {
    aws.role_arn.as_deref().and_then(|arn| arn.split(':').nth(4))
}

/// Resolves every reference of a spec for a referrer in `place`; the first reference that
/// does not resolve says whether to wait or to stop. Pure.
pub fn resolve(references: &[Reference], catalog: &Catalog, place: &AwsTarget) -> Result<Resolution, Blocker> {
    let mut resolved = Resolution::default();
    for reference in references {
        let kind = reference.referred.kind();
        let name = &reference.name;
        let stalled = |reason: &'static str, message: String| Err(Blocker::Stalled(Problem { reason, message }));
        let Some(entry) = catalog.entries.get(&(reference.referred, name.clone())) else {
            return stalled(
                "ReferenceNotFound",
                format!("{kind} {name} does not exist in this namespace: create it, or remove the reference"),
            );
        };
        if entry.aws.region != place.region || account_of(&entry.aws) != account_of(place) {
            return stalled(
                "ReferenceElsewhere",
                format!(
                    "{kind} {name} lives in {} (role {}), this resource in {} (role {}): its spec.aws must be the same",
                    entry.aws.region,
                    entry.aws.role_arn.as_deref().unwrap_or("none"),
                    place.region,
                    place.role_arn.as_deref().unwrap_or("none"),
                ),
            );
        }
        if let Some(app_type) = entry.app_type
            && app_type != reference.app_type
        {
            return stalled(
                "ReferenceWrongAppType",
                format!(
                    "{kind} {name} is for {app_type}, but it is referred to in the {} settings",
                    reference.app_type
                ),
            );
        }
        let value = entry.value.clone().filter(|_| entry.ready);
        match (reference.referred, value) {
            (Referred::LifecycleConfig, Some(arn)) => {
                resolved.lifecycle_configs.insert(name.clone(), arn);
            }
            (Referred::Image, Some(image)) if entry.config_name.is_some() => {
                let config = entry.config_name.clone().unwrap_or_default();
                resolved.images.insert(name.clone(), (image, config));
            }
            _ => {
                return Err(Blocker::Waiting(Problem {
                    reason: "WaitingForReference",
                    message: format!("waiting for {kind} {name} to be Ready: {}", entry.why_not),
                }));
            }
        }
    }
    Ok(resolved)
}

/// The references of a spec, resolved from the caches for a referrer in `namespace` and `place`.
pub fn resolve_spec<S: serde::Serialize>(
    stores: &Stores,
    namespace: &str,
    spec: &S,
    place: &AwsTarget,
) -> Result<Resolution, Blocker> {
    let refs = references(&serde_json::to_value(spec).unwrap_or_default());
    if refs.is_empty() {
        return Ok(Resolution::default());
    }
    resolve(&refs, &Catalog::of(stores, namespace), place)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn aws(region: &str, role: Option<&str>) -> AwsTarget {
        AwsTarget {
            region: region.into(),
            role_arn: role.map(Into::into),
        }
    }

    fn entry(ready: bool, app_type: &'static str) -> Entry {
        Entry {
            ready,
            why_not: "creating".into(),
            aws: aws("us-east-1", None),
            app_type: Some(app_type),
            value: Some("arn:aws:sagemaker:us-east-1:123456789012:studio-lifecycle-config/x-1".into()),
            config_name: None,
        }
    }

    #[test]
    fn references_are_found_under_every_app_settings_member_with_their_app_type() {
        let spec = json!({"defaultUserSettings": {
            "jupyterLabAppSettings": {"lifecycleConfigs": [{"name": "pip", "default": true}], "customImages": [{"imageRef": "torch"}]},
            "kernelGateway": {"lifecycleConfigs": [{"name": "kg"}]},
            "codeEditorAppSettings": {"customImages": [{"imageName": "raw", "appImageConfigName": "raw"}]},
        }});
        let found: Vec<_> = references(&spec)
            .into_iter()
            .map(|r| (r.referred, r.name, r.app_type))
            .collect();
        assert_eq!(
            found,
            [
                (Referred::Image, "torch".to_string(), "JupyterLab"),
                (Referred::LifecycleConfig, "pip".to_string(), "JupyterLab"),
                (Referred::LifecycleConfig, "kg".to_string(), "KernelGateway"),
            ]
        );
    }

    #[test]
    fn a_reference_resolves_only_when_ready_of_the_app_type_and_in_the_same_place() {
        let reference = Reference {
            referred: Referred::LifecycleConfig,
            name: "pip".into(),
            app_type: "JupyterLab",
        };
        let mut catalog = Catalog::default();
        let here = aws("us-east-1", None);
        let stalled = |result: Result<Resolution, Blocker>| match result {
            Err(Blocker::Stalled(p)) => p.reason,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            stalled(resolve(std::slice::from_ref(&reference), &catalog, &here)),
            "ReferenceNotFound"
        );
        let key = (Referred::LifecycleConfig, "pip".to_string());
        catalog.entries.insert(key.clone(), entry(false, "JupyterLab"));
        assert!(matches!(
            resolve(std::slice::from_ref(&reference), &catalog, &here),
            Err(Blocker::Waiting(p)) if p.message.contains("creating")
        ));
        catalog.entries.insert(key.clone(), entry(true, "CodeEditor"));
        assert_eq!(
            stalled(resolve(std::slice::from_ref(&reference), &catalog, &here)),
            "ReferenceWrongAppType"
        );
        catalog.entries.insert(key.clone(), entry(true, "JupyterLab"));
        let elsewhere = aws("us-east-1", Some("arn:aws:iam::999999999999:role/team"));
        assert_eq!(
            stalled(resolve(std::slice::from_ref(&reference), &catalog, &elsewhere)),
            "ReferenceElsewhere"
        );
        let resolved = resolve(&[reference], &catalog, &here).unwrap();
        assert_eq!(
            resolved.lifecycle_configs["pip"],
            "arn:aws:sagemaker:us-east-1:123456789012:studio-lifecycle-config/x-1"
        );
    }
}
