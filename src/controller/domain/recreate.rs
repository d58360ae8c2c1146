//! Recreation without data loss, after the whitepaper's backup-and-restore appendix: back up
//! every member's EFS UID, empty and delete the old domain with its EFS retained, create the new
//! one, and record the migration plan. Every step is in status, so a restart resumes it.

use kube::runtime::controller::Action;
use kube::runtime::events::EventType;

use super::Pass;
use crate::api::condition_type::{RECREATING, SYNCED};
use crate::api::{MemberBackup, MigrationEntry, MigrationPlan, RecreationStatus};
use crate::aws::clients::AwsSession;
use crate::aws::model::ObservedDomain;
use crate::controller::{ReconcileError, members};
use crate::status::Want;

/// The old domain is being emptied and deleted.
pub const PHASE_DELETING_OLD: &str = "DeletingOld";
/// The old domain is gone; the new one is being created.
pub const PHASE_CREATING_NEW: &str = "CreatingNew";

const KIND_PROFILE: &str = "UserProfile";
const KIND_SPACE: &str = "Space";

/// Deletes what blocks the deletion of a domain, one layer at a time: apps, then spaces, then
/// profiles. Returns what it is waiting for, or `None` when the domain is empty.
pub async fn empty_domain(session: &AwsSession, domain_id: &str) -> Result<Option<String>, ReconcileError> {
    let apps = session.list_apps(domain_id).await?;
    if let Some(progress) = members::delete_apps(session, domain_id, &apps).await? {
        return Ok(Some(progress));
    }
    let spaces = session.list_spaces(domain_id).await?;
    if !spaces.is_empty() {
        for space in spaces.iter().filter(|s| s.status != "Deleting") {
            session.delete_space(domain_id, &space.name).await?;
        }
        return Ok(Some(format!("deleting {} space(s)", spaces.len())));
    }
    let profiles = session.list_user_profiles(domain_id).await?;
    if !profiles.is_empty() {
        for profile in profiles.iter().filter(|p| p.status != "Deleting") {
            session.delete_user_profile(domain_id, &profile.name).await?;
        }
        return Ok(Some(format!("deleting {} user profile(s)", profiles.len())));
    }
    Ok(None)
}

/// Profiles and spaces without ownership tags (someone else's), named for a message.
pub async fn unmanaged_members(session: &AwsSession, domain_id: &str) -> Result<Option<String>, ReconcileError> {
    let mut unmanaged = Vec::new();
    for profile in session.list_user_profiles(domain_id).await? {
        if let Some(details) = session.describe_user_profile(domain_id, &profile.name).await?
            && !super::is_managed(&session.list_tags(&details.arn).await?)
        {
            unmanaged.push(format!("user profile {}", profile.name));
        }
    }
    for space in session.list_spaces(domain_id).await? {
        if let Some(details) = session.describe_space(domain_id, &space.name).await?
            && !super::is_managed(&session.list_tags(&details.arn).await?)
        {
            unmanaged.push(format!("space {}", space.name));
        }
    }
    Ok((!unmanaged.is_empty()).then(|| {
        format!(
            "the domain holds {} not managed by studio-operator",
            unmanaged.join(", ")
        )
    }))
}

/// Every profile and space with its EFS UID and execution role, and (with `check_tags`) those
/// the operator does not manage: one Describe per member (and one ListTags when asked).
async fn survey(
    session: &AwsSession,
    domain_id: &str,
    check_tags: bool,
) -> Result<(Vec<MemberBackup>, Vec<String>), ReconcileError> {
    let mut backup = Vec::new();
    let mut unmanaged = Vec::new();
    for profile in session.list_user_profiles(domain_id).await? {
        if let Some(details) = session.describe_user_profile(domain_id, &profile.name).await? {
            if check_tags && !super::is_managed(&session.list_tags(&details.arn).await?) {
                unmanaged.push(format!("user profile {}", profile.name));
            }
            backup.push(MemberBackup {
                kind: KIND_PROFILE.into(),
                name: details.name,
                efs_uid: details.home_efs_uid,
                execution_role: details.execution_role,
            });
        }
    }
    for space in session.list_spaces(domain_id).await? {
        if let Some(details) = session.describe_space(domain_id, &space.name).await? {
            if check_tags && !super::is_managed(&session.list_tags(&details.arn).await?) {
                unmanaged.push(format!("space {}", space.name));
            }
            backup.push(MemberBackup {
                kind: KIND_SPACE.into(),
                name: details.name,
                efs_uid: details.home_efs_uid,
                execution_role: details.execution_role,
            });
        }
    }
    Ok((backup, unmanaged))
}

impl Pass<'_> {
    /// Step 1 and 2: back up, refuse unmanaged members unless approved, then start deleting.
    pub(super) async fn start_recreation(
        &mut self,
        session: &AwsSession,
        observed: &ObservedDomain,
        changes: Vec<&'static str>,
        approved: bool,
    ) -> Result<Action, ReconcileError> {
        let (backup, unmanaged) = survey(session, &observed.id, !approved).await?;
        if !unmanaged.is_empty() {
            let message = format!(
                "recreation needed for {} but the domain holds {} not managed by studio-operator; approve with: kubectl annotate studiodomain {} studio-operator.io/approve-recreation={} --overwrite",
                changes.join(", "),
                unmanaged.join(", "),
                self.domain.metadata.name.clone().unwrap_or_default(),
                self.generation()
            );
            self.wanted
                .push(Want::false_(RECREATING, "UnmanagedMembers", message.clone()));
            self.stalled("RecreationBlocked", message);
            return Ok(self.resync());
        }
        let members = backup.len();
        self.status.recreation = Some(RecreationStatus {
            generation: self.generation(),
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
        self.wanted.push(Want::true_(RECREATING, "BackedUp", message.clone()));
        self.wanted.push(Want::false_(SYNCED, "Recreating", message.clone()));
        self.progressing("Recreating", message.clone());
        self.ctx
            .event(self.domain, EventType::Normal, "RecreationStarted", message)
            .await;
        self.checkpoint().await?;
        self.continue_recreation(session).await
    }

    /// Step 3: empty the old domain and delete it, EFS always retained.
    pub(super) async fn continue_recreation(&mut self, session: &AwsSession) -> Result<Action, ReconcileError> {
        let mut recreation = self.status.recreation.clone().expect("called during a recreation");
        let old = session.describe_domain(&recreation.old_domain_id).await?;
        if let Some(old) = old {
            let progress = match empty_domain(session, &old.id).await? {
                Some(progress) => progress,
                None => {
                    if old.status != "Deleting" {
                        session.delete_domain(&old.id, true).await?;
                    }
                    format!("deleting old domain {} (EFS retained)", old.id)
                }
            };
            self.wanted
                .push(Want::true_(RECREATING, "DeletingOld", progress.clone()));
            self.wanted.push(Want::false_(SYNCED, "Recreating", progress.clone()));
            self.progressing("Recreating", progress);
            return Ok(self.poll());
        }
        // Step 4 starts: the next pass creates the new domain through the normal create path.
        recreation.phase = PHASE_CREATING_NEW.into();
        self.status.recreation = Some(recreation);
        self.status.domain_id = None;
        self.status.domain_arn = None;
        self.status.url = None;
        self.status.home_efs_file_system_id = None;
        self.status.aws_status = None;
        self.wanted.push(Want::true_(
            RECREATING,
            "CreatingNew",
            "old domain deleted; creating the new one",
        ));
        self.progressing("Recreating", "old domain deleted; creating the new one");
        Ok(Action::requeue(std::time::Duration::from_millis(100)))
    }

    /// Step 6: once the new domain is InService, record the migration plan; fill in new UIDs as
    /// the members appear in the new domain.
    pub(super) async fn finish_recreation(
        &mut self,
        session: &AwsSession,
        observed: &ObservedDomain,
    ) -> Result<(), ReconcileError> {
        if let Some(recreation) = self.status.recreation.clone()
            && recreation.phase == PHASE_CREATING_NEW
            && recreation.old_domain_id != observed.id
        {
            let plan = MigrationPlan {
                old_domain_id: recreation.old_domain_id.clone(),
                new_domain_id: observed.id.clone(),
                old_efs_id: recreation.old_efs_id.clone(),
                new_efs_id: observed.home_efs_file_system_id.clone(),
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
            };
            let message = format!(
                "domain recreated: {} -> {}; migration plan recorded for {} member(s)",
                plan.old_domain_id,
                plan.new_domain_id,
                plan.entries.len()
            );
            self.status.migration_plan = Some(plan);
            self.status.recreation = None;
            self.ctx.metrics.recreations.inc();
            self.ctx
                .event(self.domain, EventType::Normal, "RecreationCompleted", message)
                .await;
            self.wanted
                .push(Want::false_(RECREATING, "Recreated", "recreation completed"));
        }
        self.fill_new_uids(session, observed).await
    }

    async fn fill_new_uids(&mut self, session: &AwsSession, observed: &ObservedDomain) -> Result<(), ReconcileError> {
        let Some(plan) = self.status.migration_plan.as_mut() else {
            return Ok(());
        };
        if plan.new_domain_id != observed.id || plan.entries.iter().all(|e| e.new_uid.is_some()) {
            return Ok(());
        }
        // Only members the domain's (shared) listings show exist yet are described.
        let ttl = self.ctx.list_age(false);
        let profiles = self.ctx.listings.profiles(session, &observed.id, ttl).await?;
        let spaces = self.ctx.listings.spaces(session, &observed.id, ttl).await?;
        for entry in plan.entries.iter_mut().filter(|e| e.new_uid.is_none()) {
            let listing = if entry.kind == KIND_PROFILE { &profiles } else { &spaces };
            if listing.get(&entry.name).is_none() {
                continue;
            }
            let details = if entry.kind == KIND_PROFILE {
                session.describe_user_profile(&observed.id, &entry.name).await?
            } else {
                session.describe_space(&observed.id, &entry.name).await?
            };
            entry.new_uid = details.and_then(|d| d.home_efs_uid);
        }
        Ok(())
    }
}
