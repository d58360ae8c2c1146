//! `spec.spaceBackup.retention: <N>d`: the backup of a space that is gone for good is deleted
//! N days after the operator first saw it gone.
//!
//! "Gone for good" is judged from what exists, not from which path deleted the space, so it
//! covers every path (a member's deletion, a profile's retirement, a deletion in the console):
//! a space name is in use while AWS lists a space of that name in the domain, a SharedSpace
//! resource declares it, or the domain's migration plan still waits to restore it. When the
//! operator first finds a backup whose name is not in use, it writes a retirement marker
//! `<key>.retired/<space>` (its S3 LastModified starts the count; it survives restarts and a
//! lost status) and publishes `BackupRetired` with the date. A name back in use drops the
//! marker; an expired one has the backup's objects deleted, then the marker. Runs with the
//! sweeper, after its clock check, so neither clock can be far off.

use std::collections::BTreeSet;

use chrono::{DateTime, SecondsFormat, Utc};
use kube::ResourceExt;

use super::WAITING_FOR_SPACE;
use crate::api::{BackupRetention, StudioDomain, condition_type};
use crate::aws::AwsError;
use crate::aws::clients::AwsSession;
use crate::controller::context::Context;
use crate::controller::error::ReconcileError;
use crate::controller::report::Happening;

/// The folder of the retirement markers under a domain's key; no space name starts with `.`.
const MARKERS: &str = ".retired/";
const DAY: f64 = 86_400.0;

/// What one pass finds under a domain's backup key.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Findings {
    /// Space names that have a backup folder.
    pub backups: Vec<String>,
    /// Retirement markers: space name and when it was written (epoch seconds).
    pub markers: Vec<(String, f64)>,
    /// Names in use: a space in AWS, a SharedSpace resource, a restore the plan waits for.
    pub in_use: BTreeSet<String>,
}

/// One step of a pass.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// The space is gone: start counting (write the marker).
    Retire(String),
    /// The name is in use again, or its backup is gone: stop counting (delete the marker).
    Unretire(String),
    /// Retired longer than the retention: delete the backup, then the marker.
    Expire(String),
}

/// The steps of a pass (pure).
pub fn plan(findings: &Findings, days: u16, now: f64) -> Vec<Step> {
    let mut steps = Vec::new();
    let marker = |name: &str| findings.markers.iter().find(|(m, _)| m == name).map(|(_, at)| *at);
    for name in &findings.backups {
        match (findings.in_use.contains(name), marker(name)) {
            (true, Some(_)) => steps.push(Step::Unretire(name.clone())),
            (true, None) => {}
            (false, None) => steps.push(Step::Retire(name.clone())),
            (false, Some(at)) if now >= at + f64::from(days) * DAY => steps.push(Step::Expire(name.clone())),
            (false, Some(_)) => {}
        }
    }
    for (name, _) in &findings.markers {
        if !findings.backups.contains(name) {
            steps.push(Step::Unretire(name.clone()));
        }
    }
    steps
}

/// Whether every key of a backup has the agent's layout (`objects/<sha256>` or
/// `manifests/<name>`, directly under the space's folder). Anything else means the folder is
/// not one space's backup (say, another domain's key nested below a chosen prefix), and
/// nothing of it is deleted.
pub fn agent_layout(folder: &str, keys: &[String]) -> Result<(), String> {
    for key in keys {
        let rest = key.strip_prefix(folder).unwrap_or(key);
        let ok = match rest.split_once('/') {
            Some(("objects", hash)) => hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
            Some(("manifests", name)) => !name.is_empty() && !name.contains('/'),
            _ => false,
        };
        if !ok {
            return Err(format!("{key} is not part of a space backup"));
        }
    }
    Ok(())
}

/// `s3://bucket/key` split into bucket and key.
fn split_uri(uri: &str) -> (&str, &str) {
    let rest = uri.strip_prefix("s3://").unwrap_or(uri);
    rest.split_once('/').unwrap_or((rest, ""))
}

/// Applies the retention of `domain` (a no-op under `Retain`).
pub async fn apply(
    ctx: &Context,
    domain: &StudioDomain,
    session: &AwsSession,
    domain_id: &str,
) -> Result<(), ReconcileError> {
    let Some(backup) = domain.spec.space_backup.as_ref() else {
        return Ok(());
    };
    let BackupRetention::Days(days) = backup.retention else {
        return Ok(());
    };
    let status = domain.status.as_ref();
    let recreating = status.is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == condition_type::RECREATING && c.status == "True")
    });
    if recreating {
        return Ok(());
    }
    let target = super::target(
        backup,
        &ctx.config.cluster_id,
        &domain.namespace().unwrap_or_default(),
        &domain.name_any(),
    );
    let (bucket, key) = split_uri(&target.prefix);
    let findings = observe(ctx, domain, session, domain_id, bucket, key).await?;
    let now = ctx.config.clock.now();
    for step in plan(&findings, days, now) {
        let location = |name: &str| format!("s3://{bucket}/{key}{name}/");
        match step {
            Step::Retire(name) => {
                let until = stamp(now + f64::from(days) * DAY);
                let body = serde_json::json!({"space": name, "location": location(&name), "retiredAt": stamp(now), "deleteAfter": until});
                session
                    .put_object(
                        bucket,
                        &format!("{key}{MARKERS}{name}"),
                        &body.to_string(),
                        &backup.kms_key_id,
                    )
                    .await?;
                let note = format!(
                    "space {name} is gone; its backup {} is deleted after {until} (retention {}). Create the space again or set retention: Retain to keep it",
                    location(&name),
                    backup.retention
                );
                ctx.publish(domain, Happening::normal("BackupRetired", note)).await;
            }
            Step::Unretire(name) => {
                session
                    .delete_objects(bucket, &[format!("{key}{MARKERS}{name}")])
                    .await?;
                let note = format!(
                    "space {name} is in use again (or its backup is gone): its backup is no longer scheduled for deletion"
                );
                ctx.publish(domain, Happening::normal("BackupKept", note)).await;
            }
            Step::Expire(name) => expire(ctx, domain, session, domain_id, (bucket, key), &name, days).await?,
        }
    }
    Ok(())
}

/// Lists the backups and markers under the domain's key and the names in use.
async fn observe(
    ctx: &Context,
    domain: &StudioDomain,
    session: &AwsSession,
    domain_id: &str,
    bucket: &str,
    key: &str,
) -> Result<Findings, ReconcileError> {
    let folders = session.list_objects(bucket, key, Some("/")).await?.folders;
    let backups = folders
        .iter()
        .filter_map(|f| f.strip_prefix(key)?.strip_suffix('/'))
        .filter(|name| format!("{name}/") != MARKERS)
        .map(String::from)
        .collect();
    let markers = session
        .list_objects(bucket, &format!("{key}{MARKERS}"), Some("/"))
        .await?
        .objects
        .into_iter()
        .filter_map(|o| {
            Some((
                o.key.strip_prefix(key)?.strip_prefix(MARKERS)?.to_string(),
                o.last_modified,
            ))
        })
        .collect();
    let mut in_use: BTreeSet<String> = session
        .list_spaces(domain_id)
        .await?
        .into_iter()
        .map(|s| s.name)
        .collect();
    in_use.extend(super::declared_spaces(
        ctx,
        &domain.namespace().unwrap_or_default(),
        &domain.name_any(),
    ));
    let plan = domain.status.as_ref().and_then(|s| s.migration_plan.as_ref());
    in_use.extend(plan.into_iter().flat_map(|p| &p.entries).filter_map(|e| {
        let waiting = matches!(e.restore.as_deref(), Some(r) if r == WAITING_FOR_SPACE || r == "Pending");
        waiting.then(|| e.name.clone())
    }));
    Ok(Findings {
        backups,
        markers,
        in_use,
    })
}

/// Deletes an expired backup (only if no space of its name exists right before, and only if it
/// has the agent's layout), then its marker.
async fn expire(
    ctx: &Context,
    domain: &StudioDomain,
    session: &AwsSession,
    domain_id: &str,
    (bucket, key): (&str, &str),
    name: &str,
    days: u16,
) -> Result<(), AwsError> {
    // A space of that name made since the pass listed them keeps its backup (the next pass
    // drops the marker).
    if session.describe_space(domain_id, name).await?.is_some() {
        return Ok(());
    }
    let folder = format!("{key}{name}/");
    let keys: Vec<String> = session
        .list_objects(bucket, &folder, None)
        .await?
        .objects
        .into_iter()
        .map(|o| o.key)
        .collect();
    if let Err(why) = agent_layout(&folder, &keys) {
        let note = format!("backup s3://{bucket}/{folder} is not deleted: {why}; remove it by hand");
        ctx.publish(domain, Happening::warning("BackupNotExpired", note)).await;
        return Ok(());
    }
    session.delete_objects(bucket, &keys).await?;
    session
        .delete_objects(bucket, &[format!("{key}{MARKERS}{name}")])
        .await?;
    let note = format!(
        "deleted the backup s3://{bucket}/{folder} of space {name} ({} objects), {days} days after the space was gone",
        keys.len()
    );
    ctx.publish(domain, Happening::normal("BackupExpired", note)).await;
    Ok(())
}

/// An RFC 3339 time from epoch seconds.
fn stamp(epoch: f64) -> String {
    DateTime::<Utc>::from_timestamp(epoch as i64, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn findings(backups: &[&str], markers: &[(&str, f64)], in_use: &[&str]) -> Findings {
        Findings {
            backups: backups.iter().map(|s| s.to_string()).collect(),
            markers: markers.iter().map(|(n, at)| (n.to_string(), *at)).collect(),
            in_use: in_use.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_gone_space_is_retired_then_expired_after_the_days() {
        let now = 1_000_000.0;
        assert_eq!(
            plan(&findings(&["a"], &[], &[]), 30, now),
            vec![Step::Retire("a".into())]
        );
        let retired = findings(&["a"], &[("a", now)], &[]);
        assert_eq!(plan(&retired, 30, now + 29.9 * DAY), vec![]);
        assert_eq!(plan(&retired, 30, now + 30.0 * DAY), vec![Step::Expire("a".into())]);
    }

    #[test]
    fn a_name_in_use_is_never_retired_and_a_returning_one_is_kept() {
        let now = 1_000_000.0;
        assert_eq!(plan(&findings(&["a"], &[], &["a"]), 1, now), vec![]);
        assert_eq!(
            plan(&findings(&["a"], &[("a", 0.0)], &["a"]), 1, now),
            vec![Step::Unretire("a".into())],
            "even long expired: the space is back"
        );
    }

    #[test]
    fn a_marker_without_a_backup_is_dropped() {
        assert_eq!(
            plan(&findings(&[], &[("gone", 0.0)], &[]), 1, 1e9),
            vec![Step::Unretire("gone".into())]
        );
    }

    #[test]
    fn only_the_agents_layout_is_deleted() {
        let folder = "p/c/ns/d/s/";
        let hash = "a".repeat(64);
        let good = vec![
            format!("{folder}objects/{hash}"),
            format!("{folder}manifests/20260101T000000-000001.json"),
        ];
        assert_eq!(agent_layout(folder, &good), Ok(()));
        for bad in [
            format!("{folder}objects/{hash}/deeper"),
            format!("{folder}objects/short"),
            format!("{folder}manifests/x/y.json"),
            format!("{folder}other/file"),
            format!("{folder}stray"),
        ] {
            assert!(agent_layout(folder, std::slice::from_ref(&bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn retention_is_spelled_retain_or_days() {
        assert_eq!("Retain".parse(), Ok(BackupRetention::Retain));
        assert_eq!("30d".parse(), Ok(BackupRetention::Days(30)));
        for bad in ["0d", "030d", "d", "30", "10000d", "retain", "-1d"] {
            assert!(bad.parse::<BackupRetention>().is_err(), "{bad}");
        }
        assert_eq!(BackupRetention::Days(7).to_string(), "7d");
        let json: BackupRetention = serde_json::from_str("\"7d\"").unwrap();
        assert_eq!(json, BackupRetention::Days(7));
        assert_eq!(serde_json::to_string(&BackupRetention::Retain).unwrap(), "\"Retain\"");
    }

    #[test]
    fn uris_split_into_bucket_and_key() {
        assert_eq!(split_uri("s3://b/p/c/ns/d/"), ("b", "p/c/ns/d/"));
        assert_eq!(split_uri("s3://b/c/ns/d/"), ("b", "c/ns/d/"));
    }
}
