//! Recreation without data loss, after the whitepaper's backup-and-restore appendix: record
//! every member's EFS UID, empty and delete the old domain with its EFS retained, create the new
//! one, and record the migration plan. Every step is in status, so a restart resumes it.

use crate::api::condition_type::{RECREATING, SYNCED};
use crate::api::{MemberBackup, MigrationEntry, MigrationPlan, RecreationStatus, StudioDomain};
use crate::aws::clients::AwsSession;
use crate::aws::model::ObservedDomain;
use crate::controller::driver::Pass;
use crate::controller::error::ReconcileError;
use crate::controller::report::Happening;
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
) -> Result<(), ReconcileError> {
    let members = backup.len();
    pass.status.recreation = Some(RecreationStatus {
        generation: pass.generation(),
        reasons: changes.iter().map(|c| c.to_string()).collect(),
        phase: PHASE_DELETING_OLD.into(),
        old_domain_id: observed.id.clone(),
        old_efs_id: observed.home_efs_file_system_id.clone(),
        backup,
    });
    let message = format!(
        "recreating domain {} because {} changed; {members} profile(s) and space(s) backed up, EFS {} retained",
        observed.id,
        changes.join(", "),
        observed.home_efs_file_system_id.as_deref().unwrap_or("-")
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
        let progress = match super::empty_domain(session, &old.id).await? {
            TeardownState::Waiting(progress) | TeardownState::Blocked(progress) => progress,
            TeardownState::Done => {
                if old.status != "Deleting" {
                    session.delete_domain(&old.id, true).await?;
                }
                format!("deleting old domain {} (EFS retained)", old.id)
            }
        };
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

/// The migration plan of a finished recreation: per member its old UID (the new ones are
/// filled in as the members appear in the new domain).
pub fn migration_plan(recreation: &RecreationStatus, new: &ObservedDomain) -> MigrationPlan {
    MigrationPlan {
        old_domain_id: recreation.old_domain_id.clone(),
        new_domain_id: new.id.clone(),
        old_efs_id: recreation.old_efs_id.clone(),
        new_efs_id: new.home_efs_file_system_id.clone(),
        entries: recreation
            .backup
            .iter()
            .map(|m| MigrationEntry {
                kind: m.kind.clone(),
                name: m.name.clone(),
                old_uid: m.efs_uid.clone(),
                new_uid: None,
            })
            .collect(),
    }
}

/// Step 6: the new domain is InService: record the migration plan.
pub async fn finish(pass: &mut Pass<'_, StudioDomain>, new: &ObservedDomain) {
    let Some(recreation) = pass.status.recreation.take() else {
        return;
    };
    let plan = migration_plan(&recreation, new);
    let message = format!(
        "domain recreated: {} -> {}; migration plan recorded for {} member(s)",
        plan.old_domain_id,
        plan.new_domain_id,
        plan.entries.len()
    );
    pass.status.migration_plan = Some(plan);
    pass.ctx.metrics.recreations.inc();
    pass.event(Happening::normal("RecreationCompleted", message)).await;
    pass.report
        .want(Want::false_(RECREATING, "Recreated", "recreation completed"));
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
    if plan.new_domain_id != domain_id || plan.entries.iter().all(|e| e.new_uid.is_some()) {
        return Ok(());
    }
    let ttl = pass.ctx.list_age(false);
    let profiles = pass.ctx.listings.profiles(session, domain_id, ttl).await?;
    let spaces = pass.ctx.listings.spaces(session, domain_id, ttl).await?;
    let mut plan = plan.clone();
    for entry in plan.entries.iter_mut().filter(|e| e.new_uid.is_none()) {
        let listing = if entry.kind == KIND_PROFILE { &profiles } else { &spaces };
        if listing.get(&entry.name).is_none() {
            continue;
        }
        let details = if entry.kind == KIND_PROFILE {
            session.describe_user_profile(domain_id, &entry.name).await?
        } else {
            session.describe_space(domain_id, &entry.name).await?
        };
        entry.new_uid = details.and_then(|d| d.home_efs_uid);
    }
    pass.status.migration_plan = Some(plan);
    Ok(())
}
