//! The gate before any space is deleted (pure). JupyterLab and Code Editor spaces keep the home
//! directory on an EBS volume that DeleteSpace destroys; a space may go only when its backup
//! (written by the in-app agent, reported in the space's tags) holds every change, or a person
//! approved losing its data. A running app is first asked for a final backup.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, SecondsFormat, Utc};

use crate::api::ApprovalRequest;
pub use crate::ownership::{BACKUP_LOCATION, BACKUP_REQUESTED, LAST_ACTIVITY, LAST_BACKUP, RESTORE_FROM, RESTORED};

/// The annotation that approves losing the data of the spaces a pending request names.
pub const APPROVE_DATA_LOSS: &str = "studio-operator.io/approve-data-loss";

/// App types whose spaces keep the home directory on the space's own EBS volume.
const EBS_APP_TYPES: [&str; 2] = ["JupyterLab", "CodeEditor"];
/// The EBS volume size AWS gives a space when neither it nor the domain names one.
const DEFAULT_EBS_GB: i64 = 5;

/// A space that a deletion or recreation is about to delete, as AWS reports it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpaceFacts {
    /// `SpaceName`.
    pub name: String,
    /// `SpaceSettings.AppType`.
    pub app_type: Option<String>,
    /// `SpaceSettings.SpaceStorageSettings.EbsStorageSettings.EbsVolumeSizeInGb`.
    pub ebs_gb: Option<i64>,
    /// `Status`.
    pub status: String,
    /// Its tags (the agent's and the operator's contract).
    pub tags: BTreeMap<String, String>,
    /// Creation times of its apps not yet gone (epoch seconds).
    pub alive_apps: Vec<f64>,
    /// The newest creation time of any of its apps listed, gone ones too (epoch seconds).
    pub newest_app: Option<f64>,
}

impl SpaceFacts {
    fn time(&self, key: &str) -> Option<DateTime<Utc>> {
        self.tags
            .get(key)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
    }

    /// The EBS size for a message: its own, or AWS's default.
    pub fn ebs_size(&self) -> String {
        match self.ebs_gb {
            Some(gb) => format!("EBS {gb} GB"),
            None => format!("EBS {DEFAULT_EBS_GB} GB (default)"),
        }
    }
}

/// The domain's backup, as the gate needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupTarget {
    /// `<s3Uri>/<cluster>/<namespace>/<name>/`: a space's backup is this plus its name and `/`.
    pub prefix: String,
    /// `<cluster>/<namespace>/<name>/`, the part of the prefix no `s3Uri` change moves.
    pub key: String,
    /// How long a requested final backup may take.
    pub final_backup_timeout: Duration,
}

impl BackupTarget {
    /// Where the backup of the space `name` lives.
    pub fn location(&self, name: &str) -> String {
        format!("{}{name}/", self.prefix)
    }

    /// Where the newest backup of `space` is: where its agent says it wrote it (an app started
    /// before an `s3Uri` change still backs up to the old location), if that is this domain's
    /// key and space name under some `s3://` location; else where the spec puts it.
    pub fn newest(&self, space: &SpaceFacts) -> String {
        let suffix = format!("/{}{}/", self.key, space.name);
        match space.tags.get(BACKUP_LOCATION) {
            Some(said) if said.starts_with("s3://") && said.ends_with(&suffix) => said.clone(),
            _ => self.location(&space.name),
        }
    }
}

/// What the gate finds about one space.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No EBS home directory to lose (another app type, or already being deleted).
    NoEbsData,
    /// Its data is kept at this S3 prefix.
    BackedUp(String),
    /// An app runs: ask its agent for a final backup now.
    RequestBackup,
    /// Waiting for the final backup requested at this time.
    Waiting(DateTime<Utc>),
    /// Deleting it now loses data (why).
    Unsafe(String),
}

fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn epoch(seconds: f64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds.floor() as i64, 0).unwrap_or_default()
}

/// Judges one space: safe to delete when no app runs and its last backup is at or after its last
/// activity (or covers the final backup the operator asked for before it stopped the app).
pub fn judge(space: &SpaceFacts, backup: Option<&BackupTarget>, now: DateTime<Utc>) -> Verdict {
    let ebs = space.app_type.as_deref().is_some_and(|t| EBS_APP_TYPES.contains(&t));
    if !ebs || space.status == "Deleting" {
        return Verdict::NoEbsData;
    }
    let Some(backup) = backup else {
        return Verdict::Unsafe("the domain has no spec.spaceBackup, so its home directory has no backup".into());
    };
    let last_backup = space.time(LAST_BACKUP);
    let requested = space.time(BACKUP_REQUESTED);
    let served = |requested: DateTime<Utc>| last_backup.is_some_and(|b| b >= requested);
    if let Some(newest_alive) = space.alive_apps.iter().copied().reduce(f64::max) {
        // A request counts only for the apps that ran when it was made.
        return match requested.filter(|r| *r >= epoch(newest_alive)) {
            Some(r) if served(r) => Verdict::BackedUp(backup.newest(space)),
            Some(r) if now - r <= backup.final_backup_timeout => Verdict::Waiting(r),
            Some(r) => Verdict::Unsafe(format!(
                "the final backup requested at {} did not complete within {} minutes (is the space-backup agent running in its app?)",
                rfc3339(r),
                backup.final_backup_timeout.num_minutes()
            )),
            None => Verdict::RequestBackup,
        };
    }
    if let (Some(restore_from), None, None) = (space.tags.get(RESTORE_FROM), space.tags.get(RESTORED), last_backup) {
        // Never restored: its data is still where it was to be restored from.
        return Verdict::BackedUp(restore_from.clone());
    }
    let Some(last_backup) = last_backup else {
        return Verdict::Unsafe("it has never been backed up (start it once so the agent backs it up)".into());
    };
    let covered = match space.time(LAST_ACTIVITY) {
        None => true,
        Some(activity) => last_backup >= activity,
    };
    let stopped_after_request = requested.is_some_and(|r| served(r) && space.newest_app.is_none_or(|n| epoch(n) <= r));
    if covered || stopped_after_request {
        return Verdict::BackedUp(backup.newest(space));
    }
    Verdict::Unsafe(format!(
        "its last backup ({}) is older than its last activity ({})",
        rfc3339(last_backup),
        space.tags.get(LAST_ACTIVITY).map(String::as_str).unwrap_or("-")
    ))
}

/// What the gate knows about a deletion: the spaces it deletes and the approvals at hand.
#[derive(Clone, Debug, Default)]
pub struct GateFacts<'a> {
    /// The spaces the deletion deletes.
    pub spaces: Vec<SpaceFacts>,
    /// The domain's backup, if it has one.
    pub backup: Option<BackupTarget>,
    /// Spaces whose data loss was approved before.
    pub approved_loss: &'a [String],
    /// The data-loss request that waits, with its token.
    pub pending: Option<&'a ApprovalRequest>,
    /// The approval annotation's value.
    pub approval: Option<&'a str>,
    /// What the deletion is, for the request ("recreate domain d-1", "delete user profile alice").
    pub action: String,
}

/// What the gate decides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gate {
    /// Every space may go: the deletion proceeds.
    Open {
        /// Spaces whose data is kept in S3, name -> location.
        backups: BTreeMap<String, String>,
        /// Spaces whose loss is approved (the earlier ones and any approved now).
        approved_loss: Vec<String>,
    },
    /// The deletion waits: nothing is deleted or stopped.
    Hold {
        /// Spaces whose running app is asked for a final backup now.
        request_backup: Vec<String>,
        /// The data-loss request to show, if a space is not safe (its token is made when acting).
        request: Option<ApprovalRequest>,
        /// Which spaces wait for what, and the ways out.
        message: String,
    },
}

/// Decides whether a deletion may proceed (pure).
pub fn decide(facts: &GateFacts<'_>, now: DateTime<Utc>) -> Gate {
    let mut backups = BTreeMap::new();
    let mut approved_loss = facts.approved_loss.to_vec();
    let mut request_backup = Vec::new();
    let mut waiting = Vec::new();
    let mut unsafe_spaces = Vec::new();
    for space in &facts.spaces {
        if approved_loss.contains(&space.name) {
            continue;
        }
        match judge(space, facts.backup.as_ref(), now) {
            Verdict::NoEbsData => {}
            Verdict::BackedUp(location) => {
                backups.insert(space.name.clone(), location);
            }
            Verdict::RequestBackup => request_backup.push(space.name.clone()),
            Verdict::Waiting(since) => waiting.push(format!(
                "space {} (final backup requested at {})",
                space.name,
                rfc3339(since)
            )),
            Verdict::Unsafe(why) => unsafe_spaces.push((space, why)),
        }
    }
    let request = (!unsafe_spaces.is_empty()).then(|| ApprovalRequest {
        token: String::new(),
        action: format!("{}, losing the data of spaces without a current backup", facts.action),
        deletes: unsafe_spaces
            .iter()
            .map(|(space, why)| format!("space {} ({}): {why}", space.name, space.ebs_size()))
            .collect(),
    });
    if let Some(request) = &request {
        let approved = match (facts.approval, facts.pending) {
            (Some(token), Some(pending)) => {
                token.trim() == pending.token && pending.action == request.action && pending.deletes == request.deletes
            }
            _ => false,
        };
        if approved {
            approved_loss.extend(unsafe_spaces.iter().map(|(space, _)| space.name.clone()));
            unsafe_spaces.clear();
        }
    }
    if unsafe_spaces.is_empty() && waiting.is_empty() && request_backup.is_empty() {
        return Gate::Open { backups, approved_loss };
    }
    let mut parts: Vec<String> = request_backup
        .iter()
        .map(|name| format!("space {name} (asking its running app for a final backup)"))
        .chain(waiting)
        .collect();
    parts.extend(
        unsafe_spaces
            .iter()
            .map(|(space, why)| format!("space {} ({}): {why}", space.name, space.ebs_size())),
    );
    let mut message = format!("waiting before deleting spaces: {}", parts.join("; "));
    if !unsafe_spaces.is_empty() {
        message.push_str(&format!(
            ". Either start each space so its space-backup agent backs it up, or approve losing the data with: {}",
            APPROVE_COMMAND
        ));
    }
    Gate::Hold {
        request_backup,
        request: (!unsafe_spaces.is_empty()).then_some(request).flatten(),
        message,
    }
}

/// The placeholder of the approval command in a hold's message (the act step knows the kind,
/// the object and the token).
pub const APPROVE_COMMAND: &str = "<approve-data-loss>";

/// The approval command for an object (`kind` as kubectl names it).
pub fn approve_command(kind: &str, name: &str, token: &str) -> String {
    format!("kubectl annotate {kind} {name} {APPROVE_DATA_LOSS}={token} --overwrite")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn target() -> BackupTarget {
        BackupTarget {
            prefix: "s3://b/p/c/ns/studio/".into(),
            key: "c/ns/studio/".into(),
            final_backup_timeout: Duration::minutes(15),
        }
    }

    fn space(name: &str, tags: &[(&str, &str)]) -> SpaceFacts {
        SpaceFacts {
            name: name.into(),
            app_type: Some("JupyterLab".into()),
            ebs_gb: Some(20),
            status: "InService".into(),
            tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..Default::default()
        }
    }

    const NOW: &str = "2026-12-02T12:00:00Z";

    #[test]
    fn the_newest_backup_is_where_the_agent_wrote_it_if_that_is_this_spaces_key() {
        let now = at(NOW);
        let backed_up = |location: &str| {
            let facts = space(
                "a",
                &[
                    (LAST_ACTIVITY, "2026-12-02T10:00:00Z"),
                    (LAST_BACKUP, "2026-12-02T10:00:00Z"),
                    (BACKUP_LOCATION, location),
                ],
            );
            judge(&facts, Some(&target()), now)
        };
        // Written by an app started before spaceBackup.s3Uri changed.
        assert_eq!(
            backed_up("s3://old-bucket/q/c/ns/studio/a/"),
            Verdict::BackedUp("s3://old-bucket/q/c/ns/studio/a/".into())
        );
        // Another domain's, another space's, or not S3: the spec's location.
        for foreign in [
            "s3://old-bucket/q/c/other-ns/studio/a/",
            "s3://old-bucket/q/c/ns/studio/b/",
            "https://example.com/c/ns/studio/a/",
        ] {
            assert_eq!(
                backed_up(foreign),
                Verdict::BackedUp("s3://b/p/c/ns/studio/a/".into()),
                "{foreign}"
            );
        }
    }

    #[test]
    fn a_stopped_space_is_safe_only_when_its_backup_covers_its_activity() {
        let now = at(NOW);
        let current = space(
            "a",
            &[
                (LAST_ACTIVITY, "2026-12-02T10:00:00Z"),
                (LAST_BACKUP, "2026-12-02T10:00:00Z"),
            ],
        );
        assert_eq!(
            judge(&current, Some(&target()), now),
            Verdict::BackedUp("s3://b/p/c/ns/studio/a/".into())
        );
        let stale = space(
            "a",
            &[
                (LAST_ACTIVITY, "2026-12-02T10:00:01Z"),
                (LAST_BACKUP, "2026-12-02T10:00:00Z"),
            ],
        );
        let Verdict::Unsafe(why) = judge(&stale, Some(&target()), now) else {
            panic!("stale backup judged safe")
        };
        assert!(why.contains("older than its last activity"), "{why}");
        assert!(
            matches!(judge(&space("a", &[]), Some(&target()), now), Verdict::Unsafe(w) if w.contains("never been backed up"))
        );
        assert!(matches!(judge(&current, None, now), Verdict::Unsafe(w) if w.contains("spec.spaceBackup")));
    }

    #[test]
    fn spaces_without_an_ebs_home_or_already_deleting_pass() {
        let now = at(NOW);
        let classic = SpaceFacts {
            app_type: Some("KernelGateway".into()),
            ..space("k", &[])
        };
        assert_eq!(judge(&classic, None, now), Verdict::NoEbsData);
        let unset = SpaceFacts {
            app_type: None,
            ..space("k", &[])
        };
        assert_eq!(judge(&unset, None, now), Verdict::NoEbsData);
        let deleting = SpaceFacts {
            status: "Deleting".into(),
            ..space("d", &[])
        };
        assert_eq!(judge(&deleting, None, now), Verdict::NoEbsData);
    }

    #[test]
    fn a_running_app_is_asked_for_a_final_backup_and_stopped_only_after_it() {
        let now = at(NOW);
        let app_started = at("2026-12-02T09:00:00Z").timestamp() as f64;
        let running = |tags: &[(&str, &str)]| SpaceFacts {
            alive_apps: vec![app_started],
            newest_app: Some(app_started),
            ..space("r", tags)
        };
        let current_but_running = running(&[
            (LAST_ACTIVITY, "2026-12-02T11:00:00Z"),
            (LAST_BACKUP, "2026-12-02T11:00:00Z"),
        ]);
        assert_eq!(
            judge(&current_but_running, Some(&target()), now),
            Verdict::RequestBackup
        );
        let asked = running(&[
            (BACKUP_REQUESTED, "2026-12-02T11:50:00Z"),
            (LAST_BACKUP, "2026-12-02T11:00:00Z"),
        ]);
        assert_eq!(
            judge(&asked, Some(&target()), now),
            Verdict::Waiting(at("2026-12-02T11:50:00Z"))
        );
        let served = running(&[
            (BACKUP_REQUESTED, "2026-12-02T11:50:00Z"),
            (LAST_BACKUP, "2026-12-02T11:50:30Z"),
            (LAST_ACTIVITY, "2026-12-02T11:59:00Z"),
        ]);
        assert!(matches!(judge(&served, Some(&target()), now), Verdict::BackedUp(_)));
        let timed_out = running(&[
            (BACKUP_REQUESTED, "2026-12-02T11:40:00Z"),
            (LAST_BACKUP, "2026-12-02T11:00:00Z"),
        ]);
        assert!(
            matches!(judge(&timed_out, Some(&target()), now), Verdict::Unsafe(w) if w.contains("within 15 minutes"))
        );
        // A request made before the app (re)started does not count for it.
        let restarted = SpaceFacts {
            alive_apps: vec![at("2026-12-02T11:55:00Z").timestamp() as f64],
            ..served.clone()
        };
        assert_eq!(judge(&restarted, Some(&target()), now), Verdict::RequestBackup);
        // Once the app is stopped, the served request still covers the activity before the stop.
        let stopped = SpaceFacts {
            alive_apps: vec![],
            ..served
        };
        assert!(matches!(judge(&stopped, Some(&target()), now), Verdict::BackedUp(_)));
        let restarted_and_stopped = SpaceFacts {
            newest_app: Some(at("2026-12-02T11:55:00Z").timestamp() as f64),
            ..stopped
        };
        assert!(matches!(
            judge(&restarted_and_stopped, Some(&target()), now),
            Verdict::Unsafe(_)
        ));
    }

    #[test]
    fn a_space_never_restored_keeps_its_data_where_it_came_from() {
        let waiting = space("n", &[(RESTORE_FROM, "s3://b/p/c/ns/studio/n/")]);
        assert_eq!(
            judge(&waiting, Some(&target()), at(NOW)),
            Verdict::BackedUp("s3://b/p/c/ns/studio/n/".into())
        );
    }

    fn facts<'a>(spaces: Vec<SpaceFacts>, approved: &'a [String]) -> GateFacts<'a> {
        GateFacts {
            spaces,
            backup: Some(target()),
            approved_loss: approved,
            action: "recreate domain d-1".into(),
            ..Default::default()
        }
    }

    #[test]
    fn the_gate_holds_until_every_space_is_safe_or_its_loss_approved() {
        let now = at(NOW);
        let safe = space("safe", &[(LAST_BACKUP, "2026-12-02T10:00:00Z")]);
        let stale = space(
            "stale",
            &[
                (LAST_ACTIVITY, "2026-12-02T11:00:00Z"),
                (LAST_BACKUP, "2026-12-02T10:00:00Z"),
            ],
        );
        let Gate::Hold {
            request_backup,
            request: Some(request),
            message,
        } = decide(&facts(vec![safe.clone(), stale.clone()], &[]), now)
        else {
            panic!("a stale space did not hold the deletion")
        };
        assert!(request_backup.is_empty());
        assert_eq!(request.deletes.len(), 1);
        assert!(
            request.deletes[0].starts_with("space stale (EBS 20 GB): its last backup"),
            "{:?}",
            request.deletes
        );
        assert!(
            message.contains("start each space") && message.contains(APPROVE_COMMAND),
            "{message}"
        );
        // The approval of exactly this request opens the gate, and is remembered.
        let pending = ApprovalRequest {
            token: "t0k".into(),
            ..request.clone()
        };
        let mut approved = facts(vec![safe.clone(), stale.clone()], &[]);
        approved.pending = Some(&pending);
        approved.approval = Some("t0k");
        let Gate::Open { backups, approved_loss } = decide(&approved, now) else {
            panic!("approval did not open the gate")
        };
        assert_eq!(approved_loss, vec!["stale".to_string()]);
        assert_eq!(backups["safe"], "s3://b/p/c/ns/studio/safe/");
        // A wrong token, or a request that changed since, does not.
        approved.approval = Some("other");
        assert!(matches!(decide(&approved, now), Gate::Hold { .. }));
        let remembered = ["stale".to_string()];
        assert!(matches!(
            decide(&facts(vec![safe, stale], &remembered), now),
            Gate::Open { .. }
        ));
    }

    #[test]
    fn running_spaces_hold_the_gate_without_an_approval_request() {
        let now = at(NOW);
        let running = SpaceFacts {
            alive_apps: vec![at("2026-12-02T09:00:00Z").timestamp() as f64],
            ..space("r", &[])
        };
        let Gate::Hold {
            request_backup,
            request,
            message,
        } = decide(&facts(vec![running], &[]), now)
        else {
            panic!("a running space did not hold")
        };
        assert_eq!(request_backup, vec!["r".to_string()]);
        assert_eq!(request, None);
        assert!(message.contains("final backup"), "{message}");
    }
}
