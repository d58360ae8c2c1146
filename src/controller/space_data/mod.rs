//! Space data across deletions: the gate that holds every deletion of a JupyterLab or Code Editor
//! space until its backup is current (or a person approved losing its data), and the backup
//! locations that new spaces are restored from. The decision is [`gate::decide`]; this module
//! observes the spaces, asks running apps for a final backup and keeps the status.

pub mod gate;
pub mod retention;

use std::collections::{BTreeMap, BTreeSet};

use kube::ResourceExt;

use chrono::{DateTime, Duration, SecondsFormat, Utc};

use crate::api::{ApprovalRequest, SharedSpace, SpaceBackup, SpaceDataStatus, UnmanagedSpace, UserProfile};
use crate::aws::AwsError;
use crate::aws::clients::AwsSession;
use crate::aws::model::{AppSummary, Document, ObservedSpace, SpaceCreate, space_app_type};
use crate::controller::context::Context;
use crate::controller::{member, space};

use gate::{BackupTarget, Gate, GateFacts, SpaceFacts, Verdict};

/// The restore state of a space in a migration plan whose new space is not created yet.
pub const WAITING_FOR_SPACE: &str = "WaitingForSpace";
/// The restore state of a space someone else made in the new domain first, without
/// `restore-from`: its predecessor's backup was not restored into it.
pub const NOT_RESTORED: &str = "NotRestored";

/// Where a StudioDomain's spaces are backed up: the key `<cluster>/<namespace>/<name>` stays the
/// same across a recreation, so a new space finds its predecessor's data.
pub fn target(backup: &SpaceBackup, cluster_id: &str, namespace: &str, name: &str) -> BackupTarget {
    let key = format!("{cluster_id}/{namespace}/{name}/");
    BackupTarget {
        prefix: format!("{}/{key}", backup.s3_uri),
        key,
        final_backup_timeout: Duration::minutes(backup.final_backup_timeout_minutes.into()),
    }
}

/// Describes the named spaces (app type, EBS size) and reads their tags; a space gone
/// meanwhile is left out. Each comes with what DescribeSpace said of it.
pub async fn observe(
    session: &AwsSession,
    domain_id: &str,
    names: &[String],
    apps: &[AppSummary],
) -> Result<Vec<(SpaceFacts, ObservedSpace)>, AwsError> {
    let mut spaces = Vec::new();
    for name in names {
        let Some(space) = session.observe_space(domain_id, name).await? else {
            continue;
        };
        let tags = match session.list_tags(&space.details.arn).await {
            Ok(tags) => tags,
            Err(AwsError::NotFound { .. }) => continue,
            Err(error) => return Err(error),
        };
        let its_apps: Vec<&AppSummary> = apps
            .iter()
            .filter(|a| a.space.as_deref() == Some(name.as_str()))
            .collect();
        let facts = SpaceFacts {
            name: name.clone(),
            app_type: space_app_type(&space.settings).map(String::from),
            ebs_gb: ebs_gb(&space.settings),
            status: space.details.status.clone(),
            tags,
            alive_apps: its_apps
                .iter()
                .filter(|a| a.is_alive())
                .map(|a| a.created.unwrap_or(0.0))
                .collect(),
            newest_app: its_apps.iter().filter_map(|a| a.created).reduce(f64::max),
        };
        spaces.push((facts, space));
    }
    Ok(spaces)
}

/// The AWS names of the spaces that resources of the StudioDomain `namespace/name` declare
/// (SharedSpaces) or are to make again (recreated profiles), from the controllers' caches.
pub fn declared_spaces(ctx: &Context, namespace: &str, name: &str) -> BTreeSet<String> {
    let here = (namespace.to_string(), name.to_string());
    let mut names: BTreeSet<String> = ctx
        .stores
        .spaces
        .all()
        .iter()
        .filter(|s| member::domain_of::<SharedSpace>(s) == here)
        .map(|s| space::space_name(&s.spec, &s.name_any()))
        .collect();
    for profile in ctx.stores.profiles.all() {
        let data = profile.status.as_ref().and_then(|s| s.space_data.as_ref());
        if member::domain_of::<UserProfile>(&profile) == here
            && let Some(data) = data
        {
            names.extend(data.unmanaged_spaces.keys().cloned());
        }
    }
    names
}

/// The CreateSpace that makes a space made outside the operator again for `owner`, tagged
/// `restore-from` `location`, with only the cluster tag IAM asks for on create (no resource's
/// ownership tags: it stays unmanaged, as it was).
pub fn remake(name: &str, space: &UnmanagedSpace, owner: &str, location: &str, cluster_id: &str) -> SpaceCreate {
    let mut settings = serde_json::Map::new();
    settings.insert("AppType".into(), space.app_type.clone().into());
    if let Some(gb) = space.ebs_gb {
        settings.insert(
            "SpaceStorageSettings".into(),
            serde_json::json!({"EbsStorageSettings": {"EbsVolumeSizeInGb": gb}}),
        );
    }
    SpaceCreate {
        name: name.to_string(),
        display_name: space.display_name.clone(),
        owner: owner.to_string(),
        sharing_type: space.sharing_type.clone(),
        settings,
        tags: BTreeMap::from([
            (crate::ownership::TAG_CLUSTER.to_string(), cluster_id.to_string()),
            (gate::RESTORE_FROM.to_string(), location.to_string()),
        ]),
    }
}

/// What it takes to make a space again (owner, sharing, app type, EBS size), for a space
/// made outside the operator whose backup a recreation restores (pure).
pub fn shape(space: &ObservedSpace) -> Option<UnmanagedSpace> {
    Some(UnmanagedSpace {
        owner: space.owner.clone().filter(|o| !o.is_empty())?,
        sharing_type: space.sharing_type.clone().unwrap_or_else(|| "Private".into()),
        app_type: space_app_type(&space.settings).unwrap_or_default().to_string(),
        ebs_gb: ebs_gb(&space.settings),
        display_name: space.display_name.clone(),
    })
}

/// `SpaceStorageSettings.EbsStorageSettings.EbsVolumeSizeInGb` of space settings.
fn ebs_gb(settings: &Document) -> Option<i64> {
    settings
        .get("SpaceStorageSettings")
        .and_then(|s| s.pointer("/EbsStorageSettings/EbsVolumeSizeInGb"))
        .and_then(serde_json::Value::as_i64)
}

/// What becomes of a space's EBS home directory if it is deleted now, for the approval request
/// of a recreation, and whether its data is lost (pure).
pub fn fate(space: &SpaceFacts, backup: Option<&BackupTarget>, now: DateTime<Utc>) -> (Option<String>, bool) {
    match gate::judge(space, backup, now) {
        Verdict::NoEbsData => (None, false),
        Verdict::BackedUp(location) => (Some(format!("{}, backed up to {location}", space.ebs_size())), false),
        Verdict::RequestBackup | Verdict::Waiting(_) => {
            let location = backup.map(|b| b.newest(space)).unwrap_or_default();
            (
                Some(format!(
                    "{}, its running app is backed up to {location} before it is deleted",
                    space.ebs_size()
                )),
                false,
            )
        }
        Verdict::Unsafe(why) => (Some(format!("{}, DATA LOST: {why}", space.ebs_size())), true),
    }
}

/// The object whose annotation approves a data loss, as kubectl names it.
pub struct Approver {
    /// `studiodomain`, `userprofile` or `sharedspace`.
    pub kind: String,
    /// The object's name.
    pub name: String,
    /// Its `approve-data-loss` annotation.
    pub approval: Option<String>,
}

impl Approver {
    /// The approver of a resource.
    pub fn of<K: kube::Resource<DynamicType = ()>>(obj: &K) -> Self {
        Self {
            kind: K::kind(&()).to_lowercase(),
            name: obj.meta().name.clone().unwrap_or_default(),
            approval: obj
                .meta()
                .annotations
                .as_ref()
                .and_then(|a| a.get(gate::APPROVE_DATA_LOSS))
                .cloned(),
        }
    }
}

/// Where the gate leaves a deletion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Passage {
    /// The deletion may proceed.
    Open,
    /// It waits; `needs_person` when only an approval (or starting a space) moves it on.
    Held { message: String, needs_person: bool },
}

/// Runs the gate before a deletion of the spaces `names` in `domain_id`: observes them,
/// decides, asks running apps for a final backup, and keeps `status` (approvals, backups).
#[allow(clippy::too_many_arguments)]
pub async fn pass(
    session: &AwsSession,
    domain_id: &str,
    names: &[String],
    apps: &[AppSummary],
    backup: Option<&BackupTarget>,
    status: &mut SpaceDataStatus,
    approver: &Approver,
    action: String,
) -> Result<Passage, AwsError> {
    if names.is_empty() {
        return Ok(Passage::Open);
    }
    let observed = observe(session, domain_id, names, apps).await?;
    let now = Utc::now();
    let facts = GateFacts {
        spaces: observed.iter().map(|(facts, _)| facts.clone()).collect(),
        backup: backup.cloned(),
        approved_loss: &status.approved_loss,
        pending: status.pending_approval.as_ref(),
        approval: approver.approval.as_deref(),
        action,
    };
    match gate::decide(&facts, now) {
        Gate::Open { backups, approved_loss } => {
            status.approved_loss = approved_loss;
            status.backups.extend(backups);
            status.pending_approval = None;
            Ok(Passage::Open)
        }
        Gate::Hold {
            request_backup,
            request,
            message,
        } => {
            let stamp = BTreeMap::from([(
                gate::BACKUP_REQUESTED.to_string(),
                now.to_rfc3339_opts(SecondsFormat::Secs, true),
            )]);
            for (facts, space) in &observed {
                if request_backup.contains(&facts.name) {
                    session.add_tags(&space.details.arn, &stamp).await?;
                }
            }
            let needs_person = request.is_some();
            status.pending_approval = request.map(|r| token(status.pending_approval.take(), r));
            let command = status
                .pending_approval
                .as_ref()
                .map(|p| gate::approve_command(&approver.kind, &approver.name, &p.token))
                .unwrap_or_default();
            Ok(Passage::Held {
                message: message.replace(gate::APPROVE_COMMAND, &command),
                needs_person,
            })
        }
    }
}

/// The pending approval for `request`: the one already pending, with its token, when it asks
/// for exactly the same; otherwise a new request with a new random token (an approval of the old
/// request cannot approve this one).
pub fn token(pending: Option<ApprovalRequest>, request: ApprovalRequest) -> ApprovalRequest {
    match pending {
        Some(pending) if pending.action == request.action && pending.deletes == request.deletes => pending,
        _ => ApprovalRequest {
            token: format!("{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff),
            ..request
        },
    }
}

/// The restore state of a new space from its tags: `Restored <time>`, or `Pending`.
pub fn restore_state(tags: &BTreeMap<String, String>) -> Option<String> {
    tags.get(gate::RESTORE_FROM)?;
    Some(match tags.get(gate::RESTORED) {
        Some(time) => format!("Restored {time}"),
        None => "Pending".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_space_made_again_is_as_it_was_restoring_and_unmanaged() {
        let space = UnmanagedSpace {
            owner: "alice".into(),
            sharing_type: "Private".into(),
            app_type: "CodeEditor".into(),
            ebs_gb: Some(30),
            display_name: Some("Notes".into()),
        };
        let create = remake("notes", &space, "alice-smith", "s3://b/p/c/ns/d/notes/", "prod");
        assert_eq!(
            (
                create.name.as_str(),
                create.owner.as_str(),
                create.sharing_type.as_str()
            ),
            ("notes", "alice-smith", "Private")
        );
        assert_eq!(create.display_name.as_deref(), Some("Notes"));
        assert_eq!(
            serde_json::Value::Object(create.settings),
            serde_json::json!({"AppType": "CodeEditor", "SpaceStorageSettings": {"EbsStorageSettings": {"EbsVolumeSizeInGb": 30}}})
        );
        assert_eq!(
            create.tags,
            BTreeMap::from([
                (crate::ownership::TAG_CLUSTER.to_string(), "prod".to_string()),
                (gate::RESTORE_FROM.to_string(), "s3://b/p/c/ns/d/notes/".to_string()),
            ]),
            "the cluster tag IAM asks for, the restore, and no resource's ownership tags"
        );
    }
}
