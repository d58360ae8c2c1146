//! In-memory service state, partitioned by account and region.
//!
//! Status transitions are lazy: each resource records its current status and
//! the emulated instant at which the next transition is due, and
//! [`State::tick`] applies every due transition before any request or control
//! call looks at the state. Advancing the clock therefore advances statuses.

pub mod app;
pub mod app_image_config;
pub mod domain;
pub mod image;
pub mod lcc;
pub mod member;
pub mod profile;
pub mod settings;
pub mod space;
pub mod tags;

use std::collections::{BTreeMap, HashMap};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::clock::{Millis, to_epoch_secs};
use crate::config::{Config, Delays, Quotas};
use crate::kms::KmsPartition;
use crate::s3::S3State;
use crate::sts::RoleTrust;

pub use app::{App, Owner};
pub use app_image_config::AppImageConfig;
pub use domain::Domain;
pub use image::{Image, ImageVersion};
pub use lcc::StudioLifecycleConfig;
pub use profile::UserProfile;
pub use settings::UpdateMerge;
pub use space::Space;
pub use tags::Tag;

/// An account and region: resources in different scopes never see each other.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Scope {
    pub account: String,
    pub region: String,
}

impl Scope {
    pub fn new(account: impl Into<String>, region: impl Into<String>) -> Self {
        Self {
            account: account.into(),
            region: region.into(),
        }
    }
}

impl Default for Scope {
    fn default() -> Self {
        Self::new(crate::config::DEFAULT_ACCOUNT, "us-east-1")
    }
}

/// Union of the DomainStatus/UserProfileStatus/SpaceStatus and AppStatus enums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    Pending,
    InService,
    Updating,
    Deleting,
    Failed,
    #[serde(rename = "Update_Failed")]
    UpdateFailed,
    #[serde(rename = "Delete_Failed")]
    DeleteFailed,
    Deleted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "Pending",
            Status::InService => "InService",
            Status::Updating => "Updating",
            Status::Deleting => "Deleting",
            Status::Failed => "Failed",
            Status::UpdateFailed => "Update_Failed",
            Status::DeleteFailed => "Delete_Failed",
            Status::Deleted => "Deleted",
        }
    }

    /// Pending, Updating and Deleting block Update and Delete calls.
    pub fn is_transitional(self) -> bool {
        matches!(self, Status::Pending | Status::Updating | Status::Deleting)
    }

    /// Whether child resources may be created under a parent in this status.
    pub fn accepts_children(self) -> bool {
        matches!(self, Status::InService | Status::Updating)
    }
}

/// Current status plus when the next automatic transition is due.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lifecycle {
    pub status: Status,
    pub due: Option<Millis>,
}

/// What a due transition does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Moved to a new status at the given instant.
    Became(Status, Millis),
    /// The record must disappear.
    Gone,
}

impl Lifecycle {
    pub fn start(status: Status, now: Millis, delay_secs: f64) -> Self {
        Self {
            status,
            due: Some(now + crate::clock::secs_to_ms(delay_secs)),
        }
    }

    pub fn stable(status: Status) -> Self {
        Self { status, due: None }
    }

    /// Applies the transition if it is due. `deleted_retention` is `Some` for
    /// apps, whose deletion ends in a visible `Deleted` status that expires later.
    pub fn step(&mut self, now: Millis, deleted_retention: Option<f64>) -> Option<Step> {
        let due = self.due.filter(|d| *d <= now)?;
        let step = match (self.status, deleted_retention) {
            (Status::Pending | Status::Updating, _) => {
                *self = Self::stable(Status::InService);
                Step::Became(Status::InService, due)
            }
            (Status::Deleting, Some(retention)) => {
                *self = Self::start(Status::Deleted, due, retention);
                Step::Became(Status::Deleted, due)
            }
            (Status::Deleting | Status::Deleted, _) => Step::Gone,
            _ => {
                self.due = None;
                return None;
            }
        };
        Some(step)
    }
}

/// Home EFS volume of a domain; kept after the domain is gone so tests can
/// check what a `RetentionPolicy` would have done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EfsFileSystem {
    pub file_system_id: String,
    pub account: String,
    pub region: String,
    pub domain_id: String,
    /// `available` or `deleted`.
    pub state: String,
    /// Retention requested by DeleteDomain (`Retain` or `Delete`), once deleted.
    pub retention: Option<String>,
}

/// The EBS volume of a JupyterLab or Code Editor space; kept after the space is gone so tests
/// can check that deleting a space (or its owner, or its domain) deleted its volume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EbsVolume {
    pub volume_id: String,
    pub account: String,
    pub region: String,
    pub domain_id: String,
    pub space_name: String,
    pub size_in_gb: i64,
    /// Emulated epoch seconds of the space's creation.
    pub created: f64,
    /// Emulated epoch seconds at which the space (and so the volume) was deleted.
    pub deleted_at: Option<f64>,
}

/// Everything SageMaker keeps for one account and region.
#[derive(Debug, Default)]
pub struct Partition {
    pub domains: Vec<Domain>,
    pub lifecycle_configs: Vec<StudioLifecycleConfig>,
    pub images: Vec<Image>,
    pub app_image_configs: Vec<AppImageConfig>,
}

/// Identity behind an access key: ordinary keys belong to the default
/// account; keys issued by AssumeRole belong to the role's account and carry the
/// session's tags and source identity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Identity {
    pub account: String,
    pub arn: String,
    pub user_id: String,
    pub session_tags: Vec<Tag>,
    /// Session tag keys passed on when this session assumes another role.
    pub transitive_tag_keys: Vec<String>,
    pub source_identity: Option<String>,
}

/// The whole emulated world.
pub struct State {
    pub delays: Delays,
    pub quotas: Quotas,
    pub default_account: String,
    pub partitions: BTreeMap<Scope, Partition>,
    pub kms: BTreeMap<Scope, KmsPartition>,
    pub efs: Vec<EfsFileSystem>,
    pub ebs: Vec<EbsVolume>,
    /// Access keys issued by the emulated STS.
    pub identities: HashMap<String, Identity>,
    /// Trust conditions of roles, by role ARN (control API).
    pub role_trusts: BTreeMap<String, RoleTrust>,
    /// How Update operations merge settings structures (control API).
    pub update_merge: UpdateMerge,
    /// S3 buckets and objects (all accounts and regions).
    pub s3: S3State,
    rng: StdRng,
}

impl State {
    pub fn new(config: &Config) -> Self {
        Self {
            delays: config.delays.clone(),
            quotas: config.quotas.clone(),
            default_account: config.default_account.clone(),
            partitions: BTreeMap::new(),
            kms: BTreeMap::new(),
            efs: Vec::new(),
            ebs: Vec::new(),
            identities: HashMap::new(),
            role_trusts: BTreeMap::new(),
            update_merge: UpdateMerge::default(),
            s3: S3State::default(),
            rng: StdRng::seed_from_u64(config.seed),
        }
    }

    /// The identity owning an access key.
    pub fn identity(&self, access_key: &str) -> Identity {
        self.identities.get(access_key).cloned().unwrap_or_else(|| Identity {
            account: self.default_account.clone(),
            arn: format!("arn:aws:iam::{}:user/emulator", self.default_account),
            user_id: format!("AIDA{}", access_key.chars().skip(4).collect::<String>()),
            session_tags: Vec::new(),
            transitive_tag_keys: Vec::new(),
            source_identity: None,
        })
    }

    pub fn partition(&mut self, scope: &Scope) -> &mut Partition {
        self.partitions.entry(scope.clone()).or_default()
    }

    /// Random lowercase alphanumerics (domain ids and similar).
    pub fn random_alnum(&mut self, len: usize) -> String {
        const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        (0..len)
            .map(|_| CHARS[self.rng.random_range(0..CHARS.len())] as char)
            .collect()
    }

    /// Random lowercase hex digits.
    pub fn random_hex(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from_digit(self.rng.random_range(0..16), 16).unwrap_or('0'))
            .collect()
    }

    /// Random uppercase alphanumerics (access keys).
    pub fn random_upper(&mut self, len: usize) -> String {
        const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        (0..len)
            .map(|_| CHARS[self.rng.random_range(0..CHARS.len())] as char)
            .collect()
    }

    /// A version-4 style UUID (KMS key ids).
    pub fn random_uuid(&mut self) -> String {
        let h = self.random_hex(32);
        format!(
            "{}-{}-4{}-a{}-{}",
            &h[0..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..32]
        )
    }

    /// Applies every transition due at `now` in every partition.
    pub fn tick(&mut self, now: Millis) {
        for kms in self.kms.values_mut() {
            kms.tick(now);
        }
        let delays = self.delays.clone();
        let mut events = Vec::new();
        for (scope, part) in self.partitions.iter_mut() {
            domain::tick_domains(scope, part, &self.kms, &delays, now, &mut events);
            part.images.retain_mut(|i| i.tick(now));
        }
        for event in events {
            self.apply_volume_event(event);
        }
    }

    /// Marks the EBS volume of a space that is gone as deleted at `at`.
    pub fn ebs_deleted(&mut self, volume_id: &str, at: Millis) {
        if let Some(volume) = self
            .ebs
            .iter_mut()
            .find(|v| v.volume_id == volume_id && v.deleted_at.is_none())
        {
            volume.deleted_at = Some(to_epoch_secs(at));
        }
    }

    fn apply_volume_event(&mut self, event: domain::VolumeEvent) {
        match event {
            domain::VolumeEvent::SpaceGone { volume_id, at } => self.ebs_deleted(&volume_id, at),
            domain::VolumeEvent::EfsCreated(fs) => self.efs.push(fs),
            domain::VolumeEvent::DomainGone { fs_id, retention } => {
                if let Some(fs) = self.efs.iter_mut().find(|f| f.file_system_id == fs_id) {
                    if retention == "Delete" {
                        fs.state = "deleted".into();
                    }
                    fs.retention = Some(retention);
                }
            }
        }
    }

    /// Raw dump of everything, for invariant checks in tests.
    pub fn snapshot(&self, now: Millis) -> Value {
        let partitions: Vec<Value> = self
            .partitions
            .iter()
            .map(|(scope, part)| {
                serde_json::json!({
                    "Account": scope.account,
                    "Region": scope.region,
                    "Domains": part.domains.iter().map(|d| d.snapshot(now)).collect::<Vec<_>>(),
                    "StudioLifecycleConfigs": part.lifecycle_configs.iter().map(|l| l.describe()).collect::<Vec<_>>(),
                    "Images": part.images.iter().map(Image::snapshot).collect::<Vec<_>>(),
                    "AppImageConfigs": part.app_image_configs.iter().map(AppImageConfig::snapshot).collect::<Vec<_>>(),
                })
            })
            .collect();
        let kms: Vec<Value> = self
            .kms
            .iter()
            .map(|(scope, k)| {
                serde_json::json!({"Account": scope.account, "Region": scope.region, "Keys": k.snapshot()})
            })
            .collect();
        serde_json::json!({
            "Now": to_epoch_secs(now),
            "Partitions": partitions,
            "Kms": kms,
            "EfsFileSystems": self.efs,
            "EbsVolumes": self.ebs,
            "Identities": self.identities,
            "RoleTrusts": self.role_trusts.values().collect::<Vec<_>>(),
            "S3Buckets": self.s3.snapshot(),
        })
    }
}

/// RFC 7386 JSON merge patch, used for "behind the operator's back" edits.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(patch_obj) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            let obj = target.as_object_mut().expect("object");
            for (k, v) in patch_obj {
                if v.is_null() {
                    obj.remove(k);
                } else {
                    merge_patch(obj.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// Inserts `value` under `key` when present, so responses omit absent members.
pub fn put_opt(obj: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(v) = value {
        obj.insert(key.into(), v);
    }
}

/// JSON number for a timestamp.
pub fn ts(ms: Millis) -> Value {
    serde_json::json!(to_epoch_secs(ms))
}

/// Applies `SortBy` (CreationTime | LastModifiedTime, or only CreationTime for
/// apps) and `SortOrder` (Ascending default | Descending) to list results.
pub fn sort_listing<T>(
    items: &mut [T],
    input: &crate::validate::Input<'_>,
    sort_by_allowed: &[&str],
    times: impl Fn(&T) -> (Millis, Millis),
) -> crate::error::ApiResult<()> {
    let by = input.enum_opt("SortBy", sort_by_allowed)?.unwrap_or("CreationTime");
    let descending = input.enum_opt("SortOrder", &["Ascending", "Descending"])? == Some("Descending");
    items.sort_by_key(|item| {
        let (created, modified) = times(item);
        if by == "LastModifiedTime" { modified } else { created }
    });
    if descending {
        items.reverse();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lifecycle_transitions_when_due() {
        let mut l = Lifecycle::start(Status::Pending, 0, 2.0);
        assert_eq!(l.step(1999, None), None);
        assert_eq!(l.step(2500, None), Some(Step::Became(Status::InService, 2000)));
        assert_eq!(l.status, Status::InService);
        assert_eq!(l.step(10_000, None), None);

        let mut d = Lifecycle::start(Status::Deleting, 0, 1.0);
        assert_eq!(d.step(1000, None), Some(Step::Gone));

        let mut app = Lifecycle::start(Status::Deleting, 0, 1.0);
        assert_eq!(
            app.step(5000, Some(86_400.0)),
            Some(Step::Became(Status::Deleted, 1000))
        );
        assert_eq!(app.due, Some(1000 + 86_400_000));
        assert_eq!(app.step(86_400_999, Some(86_400.0)), None);
        assert_eq!(app.step(86_401_000, Some(86_400.0)), Some(Step::Gone));
    }

    #[test]
    fn zero_delay_is_immediate() {
        let mut l = Lifecycle::start(Status::Pending, 100, 0.0);
        assert_eq!(l.step(100, None), Some(Step::Became(Status::InService, 100)));
    }

    #[test]
    fn merge_patch_rfc7386() {
        let mut v = json!({"a": {"b": 1, "c": 2}, "d": 3});
        merge_patch(&mut v, &json!({"a": {"b": null, "e": 4}, "d": [1]}));
        assert_eq!(v, json!({"a": {"c": 2, "e": 4}, "d": [1]}));
    }

    #[test]
    fn uuids_look_like_uuids() {
        let mut s = State::new(&Config::default());
        let u = s.random_uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(u.matches('-').count(), 4);
    }
}
