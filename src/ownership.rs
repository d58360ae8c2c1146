//! Ownership tags: how the operator recognises, after a crash or in a shared account, the AWS
//! resources it created and which Kubernetes object each belongs to.

use std::collections::BTreeMap;

/// Tag keys of the ownership tags.
pub const TAG_CLUSTER: &str = "studio-operator.io/cluster";
/// Namespace of the owning resource.
pub const TAG_NAMESPACE: &str = "studio-operator.io/namespace";
/// Name of the owning resource.
pub const TAG_NAME: &str = "studio-operator.io/name";
/// UID of the owning resource: the one tag that identifies it for sure.
pub const TAG_UID: &str = "studio-operator.io/uid";

/// Every ownership tag key: what `deletionPolicy: Retain` removes.
pub const KEYS: [&str; 4] = [TAG_CLUSTER, TAG_NAMESPACE, TAG_NAME, TAG_UID];

/// The Kubernetes object an AWS resource belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    /// Cluster id (`--cluster-id`), so two clusters sharing an account keep apart.
    pub cluster: String,
    /// Namespace of the owning resource.
    pub namespace: String,
    /// Name of the owning resource.
    pub name: String,
    /// UID of the owning resource.
    pub uid: String,
}

impl Owner {
    /// The ownership tags to put on a resource.
    pub fn tags(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (TAG_CLUSTER.to_string(), self.cluster.clone()),
            (TAG_NAMESPACE.to_string(), self.namespace.clone()),
            (TAG_NAME.to_string(), self.name.clone()),
            (TAG_UID.to_string(), self.uid.clone()),
        ])
    }

    /// Whether a resource with these tags belongs to this object.
    pub fn owns(&self, tags: &BTreeMap<String, String>) -> bool {
        tags.get(TAG_CLUSTER) == Some(&self.cluster) && tags.get(TAG_UID) == Some(&self.uid)
    }
}

/// Who manages an AWS resource, as its ownership tags say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Holder {
    /// No studio-operator manages it (created in the console, or its tags were removed).
    Nobody,
    /// The object `namespace/name` with this UID, in this cluster.
    ThisCluster {
        namespace: String,
        name: String,
        uid: String,
    },
    /// An operator of another cluster (by its cluster id): never this cluster's to touch.
    OtherCluster { cluster: String, key: String },
}

/// Who manages a resource with these tags, seen from the cluster `cluster`.
pub fn holder(tags: &BTreeMap<String, String>, cluster: &str) -> Holder {
    let Some(uid) = tags.get(TAG_UID) else {
        return Holder::Nobody;
    };
    let field = |key: &str| tags.get(key).cloned().unwrap_or_else(|| "?".into());
    let key = format!("{}/{}", field(TAG_NAMESPACE), field(TAG_NAME));
    match tags.get(TAG_CLUSTER) {
        Some(c) if c == cluster => Holder::ThisCluster {
            namespace: field(TAG_NAMESPACE),
            name: field(TAG_NAME),
            uid: uid.clone(),
        },
        other => Holder::OtherCluster {
            cluster: other.cloned().unwrap_or_else(|| "?".into()),
            key,
        },
    }
}

/// Who may manage an AWS resource that already exists under the name a resource asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// It carries this object's ownership tags (created by us, perhaps before a crash).
    Ours,
    /// It is not managed by any studio-operator and the spec asks to adopt it.
    Adopt,
    /// Another Kubernetes object owns it (named for a message): the first claim wins.
    TakenBy(String),
    /// Nobody manages it and adoption was not asked for: never touch it.
    Unmanaged,
}

/// Decides whether `owner` may manage an existing resource with these tags. Only a resource no
/// studio-operator of any cluster manages can be adopted.
pub fn claim(owner: &Owner, tags: &BTreeMap<String, String>, adopt: bool) -> Claim {
    if owner.owns(tags) {
        return Claim::Ours;
    }
    match holder(tags, &owner.cluster) {
        Holder::ThisCluster { namespace, name, .. } => Claim::TakenBy(format!("{namespace}/{name}")),
        Holder::OtherCluster { cluster, key } => Claim::TakenBy(format!("{key} of cluster {cluster}")),
        Holder::Nobody if adopt => Claim::Adopt,
        Holder::Nobody => Claim::Unmanaged,
    }
}

/// The space-backup agent's last measured activity in the space (RFC 3339).
pub const LAST_ACTIVITY: &str = "studio-operator.io/last-activity";
/// The newest complete backup of a space holds every change up to this time (the agent's).
pub const LAST_BACKUP: &str = "studio-operator.io/last-backup";
/// Where the newest complete backup of a space is (the agent's, written with `last-backup`): it
/// stays where the app's agent was told at its start, even after `spaceBackup.s3Uri` changed.
pub const BACKUP_LOCATION: &str = "studio-operator.io/backup-location";
/// The operator asks a space's agent for a backup now.
pub const BACKUP_REQUESTED: &str = "studio-operator.io/backup-requested";
/// On a new space: the S3 prefix the agent restores the home directory from.
pub const RESTORE_FROM: &str = "studio-operator.io/restore-from";
/// The time the agent completed the restore from `restore-from`.
pub const RESTORED: &str = "studio-operator.io/restored";
/// The tags of the contract between the space-backup agent and the operator: they record what
/// happens in the space, not what the spec asks, so drift correction leaves them alone.
const RUNTIME_TAGS: [&str; 6] = [
    LAST_ACTIVITY,
    LAST_BACKUP,
    BACKUP_LOCATION,
    BACKUP_REQUESTED,
    RESTORE_FROM,
    RESTORED,
];

/// Tag keys the operator must never add, change or remove as drift: AWS's and SageMaker's own,
/// and the space-backup agent's contract.
pub fn is_system_tag(key: &str) -> bool {
    key.starts_with("aws:") || key.starts_with("sagemaker:") || RUNTIME_TAGS.contains(&key)
}

/// What to add and what to remove so that the resource's tags equal `desired`; system tags are
/// left alone.
pub fn tag_changes(
    desired: &BTreeMap<String, String>,
    observed: &BTreeMap<String, String>,
) -> (BTreeMap<String, String>, Vec<String>) {
    let add = desired
        .iter()
        .filter(|(k, v)| observed.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let remove = observed
        .keys()
        .filter(|k| !is_system_tag(k) && !desired.contains_key(*k))
        .cloned()
        .collect();
    (add, remove)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> Owner {
        Owner {
            cluster: "c1".into(),
            namespace: "ns".into(),
            name: "d".into(),
            uid: "u-1".into(),
        }
    }

    #[test]
    fn owner_recognises_its_own_tags_only() {
        let tags = owner().tags();
        assert!(owner().owns(&tags));
        assert!(matches!(holder(&tags, "c1"), Holder::ThisCluster { .. }));
        assert!(matches!(holder(&tags, "c2"), Holder::OtherCluster { .. }));
        assert_eq!(holder(&BTreeMap::new(), "c1"), Holder::Nobody);
        let other = Owner {
            uid: "u-2".into(),
            ..owner()
        };
        assert!(!other.owns(&tags));
        let other_cluster = Owner {
            cluster: "c2".into(),
            ..owner()
        };
        assert!(!other_cluster.owns(&tags));
    }

    #[test]
    fn first_owner_wins_and_unmanaged_resources_need_adoption() {
        let mine = owner().tags();
        assert_eq!(claim(&owner(), &mine, false), Claim::Ours);
        let other = Owner {
            name: "other".into(),
            uid: "u-2".into(),
            ..owner()
        };
        assert_eq!(claim(&other, &mine, true), Claim::TakenBy("ns/d".into()));
        let foreign = BTreeMap::from([("team".to_string(), "x".to_string())]);
        assert_eq!(claim(&owner(), &foreign, false), Claim::Unmanaged);
        assert_eq!(claim(&owner(), &foreign, true), Claim::Adopt);
        let elsewhere = Owner {
            cluster: "c2".into(),
            ..owner()
        };
        assert_eq!(
            claim(&elsewhere, &mine, true),
            Claim::TakenBy("ns/d of cluster c1".into()),
            "another cluster's resource is never adopted"
        );
    }

    #[test]
    fn tag_changes_leave_system_tags_alone() {
        let desired = BTreeMap::from([
            ("team".to_string(), "a".to_string()),
            ("cost".to_string(), "1".to_string()),
        ]);
        let observed = BTreeMap::from([
            ("team".to_string(), "b".to_string()),
            ("old".to_string(), "x".to_string()),
            ("sagemaker:domain-arn".to_string(), "arn".to_string()),
        ]);
        let (add, remove) = tag_changes(&desired, &observed);
        assert_eq!(add, desired);
        assert_eq!(remove, vec!["old".to_string()]);
        let (add, remove) = tag_changes(&desired, &desired);
        assert!(add.is_empty() && remove.is_empty());
    }
}
