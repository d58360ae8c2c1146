//! Recreation without data loss, after the whitepaper's backup-and-restore appendix: record
//! every member's EFS UID, empty and delete the old domain with its EFS retained, create the new
//! one, and record the migration plan. Every step is in status, so a restart resumes it.

use crate::api::condition_type::{RECREATING, SYNCED};
use std::collections::{BTreeMap, BTreeSet};

use kube::ResourceExt;

use super::rules;
use crate::api::{
    ApprovalRequest, MemberBackup, MigrationEntry, MigrationPlan, RecreationStatus, SpaceDataStatus, StudioDomain,
    UnmanagedSpace,
};
use crate::aws::AwsError;
use crate::aws::clients::AwsSession;
use crate::aws::model::{MemberType, ObservedDomain};
use crate::controller::driver::Pass;
use crate::controller::error::ReconcileError;
use crate::controller::holdings::{self, Standing};
use crate::controller::report::Happening;
use crate::controller::space_data::{self, NOT_RESTORED, WAITING_FOR_SPACE};
use crate::controller::teardown::TeardownState;
use crate::status::Want;

use super::decide::End;

/// The old domain is being emptied and deleted.
pub const PHASE_DELETING_OLD: &str = "DeletingOld";
/// The old domain is gone; the new one is being created.
pub const PHASE_CREATING_NEW: &str = "CreatingNew";

/// `MemberBackup.kind` of a profile.
pub const KIND_PROFILE: &str = "UserProfile";
/// `MemberBackup.kind` of a space.
pub const KIND_SPACE: &str = "Space";

/// Steps 1 and 2: record the members' backup and the old domain in status (written at once, so
/// a crash resumes the deletion rather than starting over).
pub async fn start(
    pass: &mut Pass<'_, StudioDomain>,
    observed: &ObservedDomain,
    changes: &[&'static str],
    backup: Vec<MemberBackup>,
    approved_deletions: Vec<String>,
    approved_loss: Vec<String>,
) -> Result<(), ReconcileError> {
    let members = backup.len();
    let spaces_lost = approved_loss.len();
    // The approval is used up; it covered the data loss it listed.
    pass.status.pending_approval = None;
    pass.status.space_data = Some(SpaceDataStatus {
        approved_loss,
        ..Default::default()
    });
    pass.status.recreation = Some(RecreationStatus {
        generation: pass.generation(),
        reasons: changes.iter().map(|c| c.to_string()).collect(),
        phase: PHASE_DELETING_OLD.into(),
        old_domain_id: observed.id.clone(),
        old_efs_id: observed.home_efs_file_system_id.clone(),
        backup,
        approved_deletions,
    });
    let message = format!(
        "recreating domain {} because {} changed; {members} profile(s) and space(s) recorded, EFS {} retained (Studio Classic homes), JupyterLab and Code Editor homes backed up to S3 before their spaces are deleted{}",
        observed.id,
        changes.join(", "),
        observed.home_efs_file_system_id.as_deref().unwrap_or("-"),
        if spaces_lost > 0 {
            format!(" ({spaces_lost} space(s) without a backup lost, as approved)")
        } else {
            String::new()
        }
    );
    pass.report.want(Want::true_(RECREATING, "BackedUp", message.clone()));
    pass.report.want(Want::false_(SYNCED, "Recreating", message.clone()));
    pass.report.progressing("Recreating", message.clone());
    pass.event(Happening::normal("RecreationStarted", message)).await;
    pass.checkpoint().await
}

/// Step 3: empty the old domain and delete it, EFS always retained; once it is gone, step 4
/// starts: the next pass creates the new domain through the normal create path.
pub async fn continue_recreation(
    pass: &mut Pass<'_, StudioDomain>,
    session: &AwsSession,
) -> Result<End, ReconcileError> {
    let Some(mut recreation) = pass.status.recreation.clone() else {
        return Ok(End::Progress {
            reason: "Recreating",
            message: "recreation finished".into(),
        });
    };
    if let Some(old) = session.describe_domain(&recreation.old_domain_id).await? {
        if !super::owner(pass).owns(&session.list_tags(&old.arn).await?) {
            return Ok(End::Stalled {
                reason: "Conflict",
                message: format!(
                    "domain {} no longer carries this resource's ownership tags: the recreation stops, nothing more is deleted",
                    old.id
                ),
            });
        }
        if let Some(end) = newcomers(pass, session, &old, &mut recreation).await? {
            return Ok(end);
        }
        let action = format!("recreate domain {}", old.id);
        let contents = super::Contents::list(session, &old).await?;
        if let Some(end) = super::space_gate(pass, session, &old, &contents, action).await? {
            pass.status.recreation = Some(recreation);
            return Ok(end);
        }
        let ctx = pass.ctx;
        let approved = recreation.approved_deletions.clone();
        let may_delete = |kind, name: &str, tags: &BTreeMap<String, String>| {
            let standing = holdings::standing(tags, &ctx.config.cluster_id, |uid| ctx.stores.member_resource(uid));
            matches!(standing, Standing::Managed { .. }) || approved.contains(&holdings::label(kind, name))
        };
        let progress = match super::empty_domain(session, &old, &contents, &may_delete).await? {
            TeardownState::Waiting(progress) => progress,
            TeardownState::Blocked(blocker) | TeardownState::Foreign(blocker) => {
                return Ok(End::Stalled {
                    reason: "RecreationBlocked",
                    message: format!("the recreation waits: {blocker}"),
                });
            }
            TeardownState::Done => {
                if old.status != "Deleting" {
                    session.delete_domain(&old.id, true).await?;
                }
                format!("deleting old domain {} (EFS retained)", old.id)
            }
        };
        pass.status.recreation = Some(recreation);
        pass.report
            .want(Want::true_(RECREATING, "DeletingOld", progress.clone()));
        pass.report.want(Want::false_(SYNCED, "Recreating", progress.clone()));
        return Ok(End::Progress {
            reason: "Recreating",
            message: progress,
        });
    }
    recreation.phase = PHASE_CREATING_NEW.into();
    pass.status.recreation = Some(recreation);
    pass.status.domain_id = None;
    pass.status.domain_arn = None;
    pass.status.url = None;
    pass.status.home_efs_file_system_id = None;
    pass.status.aws_status = None;
    let message = "old domain deleted; creating the new one";
    pass.report.want(Want::true_(RECREATING, "CreatingNew", message));
    Ok(End::Progress {
        reason: "Recreating",
        message: message.into(),
    })
}

/// Members not managed here that appeared in the old domain after the approval (created in the
/// console meanwhile): the recreation stops, naming them, until a new approval covers them.
async fn newcomers(
    pass: &mut Pass<'_, StudioDomain>,
    session: &AwsSession,
    old: &ObservedDomain,
    recreation: &mut RecreationStatus,
) -> Result<Option<End>, ReconcileError> {
    let foreign: Vec<String> = holdings::classify(pass.ctx, session, old)
        .await?
        .into_iter()
        .filter(|held| matches!(held.standing, Standing::Foreign(_)))
        .map(|held| held.label())
        .filter(|label| !recreation.approved_deletions.contains(label))
        .collect();
    if foreign.is_empty() {
        pass.status.pending_approval = None;
        return Ok(None);
    }
    let request = ApprovalRequest {
        token: String::new(),
        action: format!(
            "continue recreating domain {}: delete members created since it started",
            old.id
        ),
        deletes: foreign
            .iter()
            .map(|f| format!("{f} (not managed by studio-operator)"))
            .collect(),
    };
    let annotation = pass
        .obj
        .annotations()
        .get(rules::APPROVE_RECREATION)
        .map(String::as_str);
    if rules::approves(annotation, pass.status.pending_approval.as_ref(), &request) {
        pass.status.pending_approval = None;
        recreation.approved_deletions.extend(foreign);
        return Ok(None);
    }
    let pending = crate::controller::space_data::token(pass.status.pending_approval.take(), request);
    let message = format!(
        "the recreation stopped: {} appeared in domain {} while it was emptied, not managed by studio-operator; approve deleting them with: kubectl annotate studiodomain {} {}={} --overwrite",
        foreign.join(", "),
        old.id,
        pass.obj.name_any(),
        rules::APPROVE_RECREATION,
        pending.token
    );
    pass.status.pending_approval = Some(pending);
    pass.report
        .want(Want::false_(RECREATING, "RecreationBlocked", message.clone()));
    Ok(Some(End::Stalled {
        reason: "RecreationBlocked",
        message,
    }))
}

/// The migration plan of a finished recreation: per member its old UID (the new ones are
/// filled in as the members appear in the new domain).
pub fn migration_plan(
    recreation: &RecreationStatus,
    new: &ObservedDomain,
    space_data: Option<&SpaceDataStatus>,
) -> MigrationPlan {
    let backups = space_data.map(|d| &d.backups);
    let lost = space_data.map(|d| d.approved_loss.as_slice()).unwrap_or_default();
    MigrationPlan {
        old_domain_id: recreation.old_domain_id.clone(),
        new_domain_id: new.id.clone(),
        old_efs_id: recreation.old_efs_id.clone(),
        new_efs_id: new.home_efs_file_system_id.clone(),
        entries: recreation
            .backup
            .iter()
            .map(|m| {
                let is_space = m.kind == KIND_SPACE;
                let backup_location = backups.and_then(|b| b.get(&m.name)).filter(|_| is_space).cloned();
                let restore = match &backup_location {
                    Some(_) => Some(WAITING_FOR_SPACE.to_string()),
                    None if is_space && lost.contains(&m.name) => Some("Lost (approved)".to_string()),
                    None => None,
                };
                MigrationEntry {
                    kind: m.kind.clone(),
                    name: m.name.clone(),
                    old_uid: m.efs_uid.clone(),
                    new_uid: None,
                    unmanaged_space: m.unmanaged_space.clone().filter(|_| backup_location.is_some()),
                    backup_location,
                    restore,
                }
            })
            .collect(),
    }
}

/// Step 6: the new domain is InService: record the migration plan.
pub async fn finish(pass: &mut Pass<'_, StudioDomain>, new: &ObservedDomain) {
    let Some(recreation) = pass.status.recreation.take() else {
        return;
    };
    let plan = migration_plan(&recreation, new, pass.status.space_data.as_ref());
    pass.status.space_data = None;
    let restored = plan.entries.iter().filter(|e| e.backup_location.is_some()).count();
    let message = format!(
        "domain recreated: {} -> {}; migration plan recorded for {} member(s): EFS homes on {} (retained), {restored} space home(s) backed up to S3 and restored into the new spaces",
        plan.old_domain_id,
        plan.new_domain_id,
        plan.entries.len(),
        plan.old_efs_id.as_deref().unwrap_or("-")
    );
    pass.status.migration_plan = Some(plan);
    pass.ctx.metrics.recreations.inc();
    pass.event(Happening::normal("RecreationCompleted", message)).await;
    pass.report
        .want(Want::false_(RECREATING, "Recreated", "recreation completed"));
}

/// A space made outside the operator that the new domain should get again now: its owner is
/// InService there, no space of that name exists, and no SharedSpace resource declares the name
/// (its controller makes that one). Pure.
pub fn unmanaged_to_make<'a>(
    plan: &'a MigrationPlan,
    owner_ready: impl Fn(&str) -> bool,
    space_exists: impl Fn(&str) -> bool,
    declared: &BTreeSet<String>,
) -> Vec<(&'a MigrationEntry, &'a UnmanagedSpace, &'a str)> {
    plan.entries
        .iter()
        .filter(|e| e.kind == KIND_SPACE && e.restore.as_deref() == Some(WAITING_FOR_SPACE))
        .filter_map(|e| Some((e, e.unmanaged_space.as_ref()?, e.backup_location.as_deref()?)))
        .filter(|(e, space, _)| owner_ready(&space.owner) && !space_exists(&e.name) && !declared.contains(&e.name))
        .collect()
}

/// Makes again, in the new domain, the backed-up spaces made outside the operator (in the
/// Studio UI), tagged `restore-from` so their agent restores them, and left unmanaged: only the
/// cluster tag IAM asks for on create, no resource's ownership tags.
pub async fn make_unmanaged_spaces(
    pass: &mut Pass<'_, StudioDomain>,
    session: &AwsSession,
    domain_id: &str,
) -> Result<(), ReconcileError> {
    let Some(plan) = pass
        .status
        .migration_plan
        .as_ref()
        .filter(|p| p.new_domain_id == domain_id)
    else {
        return Ok(());
    };
    if !plan
        .entries
        .iter()
        .any(|e| e.unmanaged_space.is_some() && e.restore.as_deref() == Some(WAITING_FOR_SPACE))
    {
        return Ok(());
    }
    let ctx = pass.ctx;
    let ttl = ctx.list_age(false);
    let profiles = ctx
        .listings
        .members(session, domain_id, MemberType::UserProfile, ttl)
        .await?;
    let spaces = ctx.listings.members(session, domain_id, MemberType::Space, ttl).await?;
    let declared = space_data::declared_spaces(ctx, &pass.namespace(), &pass.obj.name_any());
    let owner_ready = |owner: &str| profiles.get(owner).is_some_and(|p| p.status == "InService");
    let mut made = Vec::new();
    for (entry, space, location) in unmanaged_to_make(plan, owner_ready, |name| spaces.get(name).is_some(), &declared) {
        let create = space_data::remake(&entry.name, space, &space.owner, location, &ctx.config.cluster_id);
        match session.create_space(domain_id, &create).await {
            Ok(_) => {}
            // Made meanwhile (by this pass before a restart, or by a person: the plan and the
            // BackupNotRestored Event then say so).
            Err(AwsError::InUse { .. }) => continue,
            Err(error) => return Err(error.into()),
        }
        made.push(format!(
            "space {} ({} {} space of {}, made outside the operator) made again in domain {domain_id} to restore its home from {location}; it stays unmanaged",
            entry.name, space.sharing_type, space.app_type, space.owner
        ));
    }
    for note in made {
        pass.event(Happening::normal("UnmanagedSpaceRecreated", note)).await;
    }
    Ok(())
}

/// Fills in the new UIDs of the migration plan as the members appear in the new domain: only
/// members the domain's (shared) listings show are described.
pub async fn fill_new_uids(
    pass: &mut Pass<'_, StudioDomain>,
    session: &AwsSession,
    domain_id: &str,
) -> Result<(), ReconcileError> {
    let Some(plan) = pass.status.migration_plan.as_ref() else {
        return Ok(());
    };
    let open = |e: &MigrationEntry| {
        e.new_uid.is_none()
            || e.restore
                .as_deref()
                .is_some_and(|r| r == WAITING_FOR_SPACE || r == "Pending")
    };
    if plan.new_domain_id != domain_id || !plan.entries.iter().any(open) {
        return Ok(());
    }
    let ttl = pass.ctx.list_age(false);
    let profiles = pass
        .ctx
        .listings
        .members(session, domain_id, MemberType::UserProfile, ttl)
        .await?;
    let spaces = pass
        .ctx
        .listings
        .members(session, domain_id, MemberType::Space, ttl)
        .await?;
    let mut plan = plan.clone();
    let mut not_restored = Vec::new();
    for entry in plan.entries.iter_mut().filter(|e| open(e)) {
        let listing = if entry.kind == KIND_PROFILE { &profiles } else { &spaces };
        if listing.get(&entry.name).is_none() {
            continue;
        }
        let details = if entry.kind == KIND_PROFILE {
            session.describe_user_profile(domain_id, &entry.name).await?
        } else {
            session.describe_space(domain_id, &entry.name).await?
        };
        let Some(details) = details else { continue };
        if let Some(location) = &entry.backup_location {
            let state = space_data::restore_state(&session.list_tags(&details.arn).await?)
                .unwrap_or_else(|| NOT_RESTORED.into());
            if state == NOT_RESTORED && entry.restore.as_deref() != Some(NOT_RESTORED) {
                not_restored.push(not_restored_note(&entry.name, domain_id, location));
            }
            entry.restore = Some(state);
        }
        entry.new_uid = details.home_efs_uid;
    }
    pass.status.migration_plan = Some(plan);
    for note in not_restored {
        pass.event(Happening::warning("BackupNotRestored", note)).await;
    }
    Ok(())
}

/// What to say of a space someone else made in the new domain before the operator could make
/// it restoring: where its predecessor's home is, and how to restore it there.
fn not_restored_note(name: &str, domain_id: &str, location: &str) -> String {
    format!(
        "space {name} in domain {domain_id} was made by someone else before the operator could make it restoring; its home from before the recreation stays backed up at {location}; to restore it into that space, tag it {}={location} while its home is empty (the agent restores it in a running app or at the next start)",
        crate::ownership::RESTORE_FROM
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, restore: &str, owner: Option<&str>) -> MigrationEntry {
        MigrationEntry {
            kind: KIND_SPACE.into(),
            name: name.into(),
            backup_location: Some(format!("s3://b/c/ns/studio/{name}/")),
            restore: Some(restore.into()),
            unmanaged_space: owner.map(|owner| UnmanagedSpace {
                owner: owner.into(),
                sharing_type: "Private".into(),
                app_type: "JupyterLab".into(),
                ebs_gb: Some(30),
                display_name: None,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn an_unmanaged_space_is_made_again_once_its_owner_is_there_and_nobody_else_makes_it() {
        let plan = MigrationPlan {
            entries: vec![
                entry("notes", WAITING_FOR_SPACE, Some("alice")),
                entry("bobs", WAITING_FOR_SPACE, Some("bob")),
                entry("team", WAITING_FOR_SPACE, None),
                entry("done", "Pending", Some("alice")),
                entry("taken", WAITING_FOR_SPACE, Some("alice")),
                entry("declared", WAITING_FOR_SPACE, Some("alice")),
            ],
            ..Default::default()
        };
        let declared = BTreeSet::from(["declared".to_string()]);
        let made = unmanaged_to_make(&plan, |owner| owner == "alice", |space| space == "taken", &declared);
        let names: Vec<&str> = made.iter().map(|(e, _, _)| e.name.as_str()).collect();
        assert_eq!(
            names,
            ["notes"],
            "bob is not there yet; team is managed; done, taken and declared are made"
        );
        assert_eq!(made[0].2, "s3://b/c/ns/studio/notes/");
    }
}
