//! The controllers' caches of StudioDomains, UserProfiles and SharedSpaces, shared so that the
//! Guardrail controller and the sweeper read the cluster from memory instead of listing every
//! resource again (with 5,000 profiles a List is megabytes, on every Guardrail reconcile and
//! every sweep).

use std::sync::{Arc, Mutex};

use kube::ResourceExt;
use kube::runtime::reflector::Store;

use crate::api::{DeletionPolicy, SharedSpace, StudioDomain, StudioImage, StudioLifecycleConfig, UserProfile};

/// Annotation in which client-side `kubectl apply` keeps a whole copy of the object.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Drops what no reconcile reads but every cached object carries: `managedFields` and
/// kubectl's copy of the last applied manifest, about half of a typical object.
pub fn trim<K: ResourceExt>(obj: &mut K) {
    obj.managed_fields_mut().clear();
    obj.annotations_mut().remove(LAST_APPLIED);
}

/// The caches of one kind, one per watched scope.
pub struct Shared<K: kube::Resource<DynamicType = ()> + 'static>(Mutex<Vec<Store<K>>>);

impl<K: kube::Resource<DynamicType = ()> + 'static> Default for Shared<K> {
    fn default() -> Self {
        Self(Mutex::default())
    }
}

impl<K: kube::Resource<DynamicType = ()> + Clone + 'static> Shared<K> {
    /// Adds the cache of a controller's watch.
    pub fn add(&self, store: Store<K>) {
        self.0.lock().expect("stores lock").push(store);
    }

    /// Every cached object. Complete only once `CacheSync::is_synced`.
    pub fn all(&self) -> Vec<Arc<K>> {
        let stores = self.0.lock().expect("stores lock");
        stores.iter().flat_map(|store| store.state()).collect()
    }
}

/// The caches the Guardrail controller and the sweeper read, and the catalog of what settings
/// refer to by name (lifecycle configurations and images).
#[derive(Default)]
pub struct Stores {
    pub domains: Shared<StudioDomain>,
    pub profiles: Shared<UserProfile>,
    pub spaces: Shared<SharedSpace>,
    pub lifecycle_configs: Shared<StudioLifecycleConfig>,
    pub images: Shared<StudioImage>,
}

impl Stores {
    /// The UserProfile or SharedSpace (`Kind namespace/name`) with this UID, if it still exists,
    /// and what its deletion does in AWS.
    pub fn member_resource(&self, uid: &str) -> Option<(String, DeletionPolicy)> {
        let key = |kind: &str, namespace: Option<String>, name: String| {
            format!("{kind} {}/{name}", namespace.unwrap_or_default())
        };
        if let Some(p) = self
            .profiles
            .all()
            .into_iter()
            .find(|p| p.uid().as_deref() == Some(uid))
        {
            return Some((key("UserProfile", p.namespace(), p.name_any()), p.spec.deletion_policy));
        }
        let space = self
            .spaces
            .all()
            .into_iter()
            .find(|s| s.uid().as_deref() == Some(uid))?;
        Some((
            key("SharedSpace", space.namespace(), space.name_any()),
            space.spec.deletion_policy,
        ))
    }
}

/// A kind whose controller shares its cache.
pub trait Cached: kube::Resource<DynamicType = ()> + Clone + Sized + 'static {
    /// Where the caches of this kind are kept.
    fn shared(stores: &Stores) -> &Shared<Self>;
}

impl Cached for StudioDomain {
    fn shared(stores: &Stores) -> &Shared<Self> {
        &stores.domains
    }
}

impl Cached for UserProfile {
    fn shared(stores: &Stores) -> &Shared<Self> {
        &stores.profiles
    }
}

impl Cached for SharedSpace {
    fn shared(stores: &Stores) -> &Shared<Self> {
        &stores.spaces
    }
}

impl Cached for StudioLifecycleConfig {
    fn shared(stores: &Stores) -> &Shared<Self> {
        &stores.lifecycle_configs
    }
}

impl Cached for StudioImage {
    fn shared(stores: &Stores) -> &Shared<Self> {
        &stores.images
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::ObjectMeta;

    use super::*;

    #[test]
    fn trim_drops_managed_fields_and_the_last_applied_copy_but_keeps_other_annotations() {
        let mut object = ConfigMap {
            metadata: ObjectMeta {
                managed_fields: Some(vec![Default::default()]),
                annotations: Some(BTreeMap::from([
                    (LAST_APPLIED.to_string(), "{}".to_string()),
                    ("studio-operator.io/approve-recreation".to_string(), "3".to_string()),
                ])),
                ..Default::default()
            },
            ..Default::default()
        };
        trim(&mut object);
        assert!(object.managed_fields().is_empty());
        assert_eq!(
            object.annotations().keys().collect::<Vec<_>>(),
            vec!["studio-operator.io/approve-recreation"]
        );
    }
}
