//! Space data across deletions, end to end: the gate before every DeleteSpace (a stale backup
//! holds a recreation, a running app is asked for a final backup and stopped only after it, a
//! space without backup needs the data-loss approval naming its EBS size), the agent installed
//! as lifecycle configurations, new spaces restored from their predecessors' backups, and the
//! expiry of a gone space's backup under `retention: <N>d` (in the emulator's S3, through the
//! real S3 client). The tests play the in-app agent: they write the tags the agent writes
//! (`last-activity`, `last-backup`) with the real SageMaker client.

use std::time::Duration;

use aws_sdk_sagemaker::operation::describe_space::DescribeSpaceOutput;
use chrono::{SecondsFormat, Utc};
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::{Value, json};
use studio_operator::api::{ApprovalRequest, MigrationEntry, MigrationPlan, SharedSpace, UserProfile};

use crate::domain::{Setup, domain_manifest, setup};
use crate::profile::{app, apply, launch, profile_manifest, ui_private_space, wait_for, wait_gone, wait_profile};
use crate::space::space_manifest;
use crate::support::wait::{self, condition, has};

pub(crate) const LAST_ACTIVITY: &str = "studio-operator.io/last-activity";
pub(crate) const LAST_BACKUP: &str = "studio-operator.io/last-backup";
const BACKUP_REQUESTED: &str = "studio-operator.io/backup-requested";
const RESTORE_FROM: &str = "studio-operator.io/restore-from";
const BACKUP_LOCATION: &str = "studio-operator.io/backup-location";

fn ago(seconds: i64) -> String {
    (Utc::now() - chrono::Duration::seconds(seconds)).to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub(crate) fn backed_up_domain() -> Value {
    let mut domain = domain_manifest("platform", "alias/studio");
    domain["spec"]["spaceBackup"] = json!({"s3Uri": "s3://studio-backups/team", "kmsKeyId": "alias/studio"});
    domain
}

/// What the agent writes on the space.
async fn agent_tags(s: &Setup, arn: &str, tags: &[(&str, String)]) {
    let tags: Vec<_> = tags
        .iter()
        .map(|(k, v)| aws_sdk_sagemaker::types::Tag::builder().key(*k).value(v).build())
        .collect();
    s.sagemaker
        .add_tags()
        .resource_arn(arn)
        .set_tags(Some(tags))
        .send()
        .await
        .unwrap();
}

/// A tag of a resource; `None` also while the resource is gone (it is being recreated).
pub(crate) async fn tag(s: &Setup, arn: &str, key: &str) -> Option<String> {
    let tags = s.sagemaker.list_tags().resource_arn(arn).send().await.ok()?;
    tags.tags()
        .iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value().map(String::from))
}

/// A Ready domain, the profile alice and the Ready spaces; returns the spaces' ARNs.
pub(crate) async fn domain_with_spaces(s: &Setup, domain: Value, spaces: &[(&str, &str)]) -> Vec<String> {
    s.key("alias/studio").await;
    s.apply("platform", &domain).await;
    s.wait_ready("platform").await;
    let profiles: Api<UserProfile> = Api::namespaced(s.client.clone(), &s.namespace.name);
    apply(&profiles, "alice", &profile_manifest("alice", "platform")).await;
    wait_profile(&profiles, "alice", "Ready", "True").await;
    let api: Api<SharedSpace> = Api::namespaced(s.client.clone(), &s.namespace.name);
    let mut arns = Vec::new();
    for (name, app_type) in spaces {
        apply(&api, name, &space_manifest(name, "Shared", "alice", app_type)).await;
        let arn = wait_for(&api, name, "Ready", |o| {
            let st = o.status.clone()?;
            has(&st.conditions, "Ready", "True").then_some(st.space_arn.clone()?)
        })
        .await;
        arns.push(arn);
    }
    arns
}

#[tokio::test]
async fn the_agent_is_installed_for_jupyterlab_and_code_editor_with_the_domains_backup_prefix() {
    let s = setup("sd-agent").await;
    domain_with_spaces(&s, backed_up_domain(), &[]).await;
    let status = s.wait_ready("platform").await.status.unwrap();
    let reporter = condition(&status.conditions, "ActivityReporter").unwrap();
    assert_eq!(reporter.status, "True", "{reporter:?}");
    let domain = s
        .sagemaker
        .describe_domain()
        .domain_id(status.domain_id.unwrap())
        .send()
        .await
        .unwrap();
    let defaults = domain.default_user_settings.unwrap();
    let prefix = format!("s3://studio-backups/team/e2e/{}/platform/", s.namespace.name);
    for (app_type, arn) in [
        (
            "JupyterLab",
            defaults
                .jupyter_lab_app_settings
                .unwrap()
                .default_resource_spec
                .unwrap()
                .lifecycle_config_arn,
        ),
        (
            "CodeEditor",
            defaults
                .code_editor_app_settings
                .unwrap()
                .default_resource_spec
                .unwrap()
                .lifecycle_config_arn,
        ),
    ] {
        let name = arn.unwrap().rsplit('/').next().unwrap().to_string();
        let config = s
            .sagemaker
            .describe_studio_lifecycle_config()
            .studio_lifecycle_config_name(&name)
            .send()
            .await
            .unwrap();
        assert_eq!(config.studio_lifecycle_config_app_type().unwrap().as_str(), app_type);
        let decoded = aws_smithy_types::base64::decode(config.studio_lifecycle_config_content().unwrap()).unwrap();
        let content = String::from_utf8(decoded).unwrap();
        assert!(
            content.contains(&format!(":-{prefix}}}")),
            "{app_type}: the agent's S3 prefix"
        );
        assert!(content.contains(":-900}"), "{app_type}: the 15-minute interval");
        assert!(
            content.contains("arn:aws:kms:"),
            "{app_type}: the verified key ARN, not the alias"
        );
    }
}

#[tokio::test]
async fn a_recreation_waits_for_a_current_backup_and_restores_the_new_space_from_it() {
    let s = setup("sd-recreate").await;
    let arns = domain_with_spaces(&s, backed_up_domain(), &[("team", "JupyterLab")]).await;
    // The agent last backed the space up before its last activity.
    agent_tags(&s, &arns[0], &[(LAST_ACTIVITY, ago(600)), (LAST_BACKUP, ago(1200))]).await;
    let mut domain = backed_up_domain();
    domain["spec"]["network"]["vpcId"] = json!("vpc-0fedcba9876543210");
    s.apply("platform", &domain).await;
    let status = wait_for(&s.domains, "platform", "Recreating=False BackupPending", |d| {
        let st = d.status.clone()?;
        condition(&st.conditions, "Recreating")
            .is_some_and(|c| c.status == "False" && c.reason == "BackupPending")
            .then_some(st)
    })
    .await;
    let recreating = condition(&status.conditions, "Recreating").unwrap();
    assert!(
        recreating
            .message
            .contains("space team (EBS 20 GB, DATA LOST: its last backup"),
        "{}",
        recreating.message
    );
    let request = status.pending_approval.expect("the data loss is offered for approval");
    assert!(
        request.deletes.iter().any(|d| d.contains("space team (EBS 20 GB")),
        "{request:?}"
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        s.control().count("DeleteSpace", None),
        0,
        "no space is deleted while its backup is stale"
    );
    assert_eq!(s.control().count("DeleteDomain", None), 0);

    // The agent catches up: the recreation proceeds without any approval.
    agent_tags(&s, &arns[0], &[(LAST_BACKUP, ago(0))]).await;
    let plan = wait_restore_pending(&s, "team").await;
    let location = format!("s3://studio-backups/team/e2e/{}/platform/team/", s.namespace.name);
    assert_eq!(plan.1.backup_location.as_deref(), Some(location.as_str()));
    let spaces: Api<SharedSpace> = Api::namespaced(s.client.clone(), &s.namespace.name);
    let new_arn = wait_for(&spaces, "team", "in the new domain", |o| {
        let st = o.status.clone()?;
        (st.domain_id.as_deref() == Some(plan.0.new_domain_id.as_str())).then_some(st.space_arn.clone()?)
    })
    .await;
    assert_eq!(
        tag(&s, &new_arn, RESTORE_FROM).await.as_deref(),
        Some(location.as_str())
    );
    assert_eq!(s.control().count("DeleteSpace", None), 1);
    let restored = s.events("Recreated").await;
    assert!(
        restored
            .iter()
            .any(|e| e.note.as_deref().unwrap_or_default().contains(&location)),
        "the space's event says where its home comes from"
    );
}

#[tokio::test]
async fn a_running_space_is_asked_for_a_final_backup_and_stopped_only_after_it() {
    let s = setup("sd-final").await;
    let arns = domain_with_spaces(&s, backed_up_domain(), &[("lab", "JupyterLab")]).await;
    let domain_id = s.wait_ready("platform").await.status.unwrap().domain_id.unwrap();
    launch(&s, app(&domain_id, None, Some("lab"), "JupyterLab", "default")).await;
    agent_tags(&s, &arns[0], &[(LAST_ACTIVITY, ago(60)), (LAST_BACKUP, ago(60))]).await;
    let spaces: Api<SharedSpace> = Api::namespaced(s.client.clone(), &s.namespace.name);
    spaces.delete("lab", &DeleteParams::default()).await.unwrap();

    let requested = wait::until("backup requested", Duration::from_secs(60), || {
        let s = &s;
        let arn = arns[0].clone();
        async move { tag(s, &arn, BACKUP_REQUESTED).await.ok_or("not yet") }
    })
    .await;
    let pending = wait_for(&spaces, "lab", "BackupPending", |o| {
        let st = o.status.clone()?;
        condition(&st.conditions, "BackupPending")
            .filter(|c| c.status == "True")
            .cloned()
    })
    .await;
    assert_eq!(pending.reason, "WaitingForBackup", "{pending:?}");
    assert!(pending.message.contains("space lab"), "{}", pending.message);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        s.control().count("DeleteApp", None),
        0,
        "the app runs until its final backup is done"
    );
    assert_eq!(s.control().count("DeleteSpace", None), 0);

    // The agent serves the request: the app is stopped, then the space is deleted.
    agent_tags(&s, &arns[0], &[(LAST_BACKUP, requested)]).await;
    wait_gone(&spaces, "lab").await;
    assert_eq!(s.control().count("DeleteApp", None), 1);
    assert_eq!(s.control().count("DeleteSpace", None), 1);
}

#[tokio::test]
async fn without_space_backup_a_profiles_retirement_needs_the_data_loss_approval_naming_the_ebs_size() {
    let s = setup("sd-approve").await;
    domain_with_spaces(&s, domain_manifest("platform", "alias/studio"), &[]).await;
    let domain_id = s.wait_ready("platform").await.status.unwrap().domain_id.unwrap();
    // A private space alice made in Studio's UI: not managed by any resource.
    ui_private_space(&s, &domain_id, "alice-notes", "alice", Some(30)).await;
    let profiles: Api<UserProfile> = Api::namespaced(s.client.clone(), &s.namespace.name);
    profiles.delete("alice", &DeleteParams::default()).await.unwrap();
    let request = wait_for(&profiles, "alice", "a data-loss request", |o| {
        o.status.clone()?.space_data?.pending_approval
    })
    .await;
    assert_eq!(request.deletes.len(), 1, "{request:?}");
    assert!(
        request.deletes[0].starts_with("space alice-notes (EBS 30 GB): the domain has no spec.spaceBackup"),
        "{request:?}"
    );
    let stalled = wait_profile(&profiles, "alice", "BackupPending", "True").await;
    let pending = condition(&stalled.conditions, "BackupPending").unwrap().clone();
    assert_eq!(pending.reason, "AwaitingApproval");
    let command = format!(
        "kubectl annotate userprofile alice studio-operator.io/approve-data-loss={} --overwrite",
        request.token
    );
    assert!(pending.message.contains(&command), "{}", pending.message);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        s.control().count("DeleteSpace", None),
        0,
        "nothing is deleted before the approval"
    );

    // A wrong token approves nothing; the right one lets the retirement proceed.
    let annotate = |token: &str| json!({"metadata": {"annotations": {"studio-operator.io/approve-data-loss": token}}});
    profiles
        .patch("alice", &PatchParams::default(), &Patch::Merge(annotate("guessed")))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        s.control().count("DeleteSpace", None),
        0,
        "a wrong token approves nothing"
    );
    profiles
        .patch(
            "alice",
            &PatchParams::default(),
            &Patch::Merge(annotate(&request.token)),
        )
        .await
        .unwrap();
    wait_gone(&profiles, "alice").await;
    assert_eq!(s.control().count("DeleteSpace", None), 1);
    assert_eq!(s.control().count("DeleteUserProfile", None), 1);
}

#[tokio::test]
async fn a_space_recreated_for_a_new_app_type_restores_its_backup_into_the_new_space() {
    let s = setup("sd-space").await;
    let arns = domain_with_spaces(&s, backed_up_domain(), &[("lab", "JupyterLab")]).await;
    agent_tags(&s, &arns[0], &[(LAST_ACTIVITY, ago(300)), (LAST_BACKUP, ago(200))]).await;
    let spaces: Api<SharedSpace> = Api::namespaced(s.client.clone(), &s.namespace.name);
    apply(&spaces, "lab", &space_manifest("lab", "Shared", "alice", "CodeEditor")).await;
    let location = format!("s3://studio-backups/team/e2e/{}/platform/lab/", s.namespace.name);
    let new_arn = wait::until("lab recreated with restore-from", Duration::from_secs(90), || {
        let s = &s;
        let spaces = spaces.clone();
        let old = arns[0].clone();
        async move {
            let st = spaces
                .get("lab")
                .await
                .map_err(|e| e.to_string())?
                .status
                .unwrap_or_default();
            let arn = st.space_arn.clone().ok_or("no ARN")?;
            let restore_from = tag(s, &arn, RESTORE_FROM).await;
            match restore_from {
                Some(r) if has(&st.conditions, "Ready", "True") => Ok((arn, r)),
                _ => Err(format!("{old}: {st:#?}")),
            }
        }
    })
    .await;
    assert_eq!(new_arn.1, location);
    assert_eq!(s.control().count("DeleteSpace", None), 1);
    let status = spaces.get("lab").await.unwrap().status.unwrap();
    assert!(
        status
            .space_data
            .is_none_or(|d| d.backups.is_empty() && d.approved_loss.is_empty()),
        "the backup is used up by the new space and no approval is left over"
    );
}

/// The app of a space started before `spaceBackup.s3Uri` moved: its agent still backs up to the
/// old location and says so in `backup-location`. A recreation in the same change restores the
/// new space from there, not from the new location where nothing is yet.
#[tokio::test]
async fn a_recreation_restores_from_where_the_agent_backed_up_after_s3_uri_moved() {
    let s = setup("sd-moved").await;
    let arns = domain_with_spaces(&s, backed_up_domain(), &[("team", "JupyterLab")]).await;
    let old_location = format!("s3://studio-backups/team/e2e/{}/platform/team/", s.namespace.name);
    agent_tags(
        &s,
        &arns[0],
        &[
            (LAST_ACTIVITY, ago(600)),
            (LAST_BACKUP, ago(300)),
            (BACKUP_LOCATION, old_location.clone()),
        ],
    )
    .await;
    let mut domain = backed_up_domain();
    domain["spec"]["spaceBackup"]["s3Uri"] = json!("s3://studio-backups-2/moved");
    domain["spec"]["network"]["vpcId"] = json!("vpc-0fedcba9876543210");
    s.apply("platform", &domain).await;
    let (plan, entry) = wait_restore_pending(&s, "team").await;
    assert_eq!(entry.backup_location.as_deref(), Some(old_location.as_str()));
    let spaces: Api<SharedSpace> = Api::namespaced(s.client.clone(), &s.namespace.name);
    let new_arn = wait_for(&spaces, "team", "in the new domain", |o| {
        let st = o.status.clone()?;
        (st.domain_id.as_deref() == Some(plan.new_domain_id.as_str())).then_some(st.space_arn.clone()?)
    })
    .await;
    assert_eq!(
        tag(&s, &new_arn, RESTORE_FROM).await.as_deref(),
        Some(old_location.as_str())
    );
}

/// A backup location too long for a space's `restore-from` tag is refused before anything is
/// created: not found only when a recreation cannot create a space.
#[tokio::test]
async fn a_backup_location_too_long_for_the_restore_tag_stalls_the_domain_before_any_call() {
    let s = setup("sd-long").await;
    s.key("alias/studio").await;
    let mut domain = backed_up_domain();
    domain["spec"]["spaceBackup"]["s3Uri"] = json!(format!("s3://studio-backups/{}", "p".repeat(200)));
    s.apply("platform", &domain).await;
    let stalled = s.wait_condition("platform", "Stalled", "True").await;
    let stalled = condition(&stalled.status.unwrap().conditions, "Stalled")
        .unwrap()
        .clone();
    assert_eq!(stalled.reason, "InvalidBackupLocation", "{stalled:?}");
    assert!(stalled.message.contains("shorten s3Uri by"), "{}", stalled.message);
    assert_eq!(s.control().count("CreateDomain", None), 0);
    assert_eq!(s.control().count("CreateStudioLifecycleConfig", None), 0);
}

#[tokio::test]
async fn deleting_a_domain_holds_for_a_stale_space_until_its_backup_catches_up() {
    let s = setup("sd-domain").await;
    let mut domain = backed_up_domain();
    domain["spec"]["efsRetention"] = json!("Retain");
    let arns = domain_with_spaces(&s, domain, &[("team", "JupyterLab")]).await;
    agent_tags(&s, &arns[0], &[(LAST_ACTIVITY, ago(60)), (LAST_BACKUP, ago(900))]).await;
    s.domains.delete("platform", &DeleteParams::default()).await.unwrap();
    let pending = wait_for(&s.domains, "platform", "BackupPending", |d| {
        let st = d.status.clone()?;
        condition(&st.conditions, "BackupPending")
            .filter(|c| c.status == "True")
            .cloned()
    })
    .await;
    assert_eq!(pending.reason, "AwaitingApproval", "{pending:?}");
    assert!(
        pending.message.contains("space team (EBS 20 GB): its last backup")
            && pending.message.contains("start each space")
            && pending
                .message
                .contains("kubectl annotate studiodomain platform studio-operator.io/approve-data-loss="),
        "{}",
        pending.message
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(s.control().count("DeleteSpace", None), 0);
    assert_eq!(s.control().count("DeleteDomain", None), 0);

    // The agent catches up: the domain goes, the space first.
    agent_tags(&s, &arns[0], &[(LAST_BACKUP, ago(0))]).await;
    wait_gone(&s.domains, "platform").await;
    assert_eq!(s.control().count("DeleteSpace", None), 1);
    assert_eq!(s.control().count("DeleteDomain", None), 1);
}

/// Objects under `prefix` in the emulator's S3, through the real S3 client.
async fn s3_keys(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Vec<String> {
    let out = s3.list_objects_v2().bucket(bucket).prefix(prefix).send().await.unwrap();
    out.contents()
        .iter()
        .filter_map(|o| o.key().map(String::from))
        .collect()
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"data"))
        .send()
        .await
        .unwrap();
}

/// Waits until the keys under `prefix` satisfy `ok`.
async fn wait_keys(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str, what: &str, ok: impl Fn(&[String]) -> bool) {
    wait::until(what, Duration::from_secs(60), || {
        let keys = s3_keys(s3, bucket, prefix);
        let ok = &ok;
        async move {
            let keys = keys.await;
            if ok(&keys) { Ok(()) } else { Err(keys) }
        }
    })
    .await;
}

/// Waits for an Event with `reason` whose note contains `text`.
async fn wait_event(s: &Setup, reason: &str, text: &str) {
    wait::until(&format!("{reason} event: {text}"), Duration::from_secs(30), || async {
        let events = s.events(reason).await;
        let notes: Vec<String> = events.iter().filter_map(|e| e.note.clone()).collect();
        if notes.iter().any(|n| n.contains(text)) {
            Ok(())
        } else {
            Err(notes)
        }
    })
    .await;
}

#[tokio::test]
async fn with_retention_in_days_a_gone_spaces_backup_is_deleted_after_them_and_nothing_else_is() {
    let s = crate::domain::setup_sweeping("sd-retention").await;
    let s3 = s.s3();
    let bucket = "retention-backups";
    s3.create_bucket().bucket(bucket).send().await.unwrap();
    let key = format!("team/e2e/{}/platform/", s.namespace.name);
    let hash = "ab".repeat(32);
    // A backup of a space that no longer exists, one of the live space lab with a marker left
    // over from an earlier absence, and a folder that is not the agent's layout.
    for space in ["gone", "lab"] {
        put(&s3, bucket, &format!("{key}{space}/objects/{hash}")).await;
        put(
            &s3,
            bucket,
            &format!("{key}{space}/manifests/20261201T000000-000001.json"),
        )
        .await;
    }
    put(&s3, bucket, &format!("{key}odd/notes.txt")).await;
    put(&s3, bucket, &format!("{key}.retired/lab")).await;
    let mut domain = domain_manifest("platform", "alias/studio");
    domain["spec"]["spaceBackup"] =
        json!({"s3Uri": "s3://retention-backups/team", "kmsKeyId": "alias/studio", "retention": "2d"});
    let arns = domain_with_spaces(&s, domain, &[("lab", "JupyterLab")]).await;

    let markers = format!("{key}.retired/");
    let retired = |names: &[&str]| {
        let want: Vec<String> = names.iter().map(|n| format!("{markers}{n}")).collect();
        move |keys: &[String]| keys == want.as_slice()
    };
    wait_keys(
        &s3,
        bucket,
        &markers,
        "gone and odd retired, lab kept",
        retired(&["gone", "odd"]),
    )
    .await;
    wait_event(
        &s,
        "BackupRetired",
        &format!("space gone is gone; its backup s3://{bucket}/{key}gone/ is deleted after"),
    )
    .await;
    wait_event(&s, "BackupRetired", "(retention 2d)").await;
    wait_event(&s, "BackupKept", "space lab is in use again").await;

    // A day later nothing is deleted; after two the gone space's backup is, and only it.
    s.control().advance(86_400.0);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(s3_keys(&s3, bucket, &format!("{key}gone/")).await.len(), 2);
    s.control().advance(86_400.0 + 60.0);
    wait_keys(&s3, bucket, &format!("{key}gone/"), "gone's backup deleted", |k| {
        k.is_empty()
    })
    .await;
    wait_keys(&s3, bucket, &markers, "gone's marker dropped", retired(&["odd"])).await;
    assert_eq!(
        s3_keys(&s3, bucket, &format!("{key}lab/")).await.len(),
        2,
        "lab's backup is kept"
    );
    assert_eq!(
        s3_keys(&s3, bucket, &format!("{key}odd/")).await.len(),
        1,
        "odd is not a backup"
    );
    wait_event(
        &s,
        "BackupNotExpired",
        &format!("{key}odd/notes.txt is not part of a space backup"),
    )
    .await;
    let deleted: Vec<String> = s
        .control()
        .calls()
        .iter()
        .filter(|c| c.operation == "DeleteObjects")
        .flat_map(|c| c.members["Keys"].as_array().cloned().unwrap_or_default())
        .filter_map(|k| k.as_str().map(String::from))
        .collect();
    assert!(
        deleted
            .iter()
            .all(|k| k.starts_with(&format!("{key}gone/")) || k.starts_with(&markers)),
        "{deleted:?}"
    );

    // Deleting the SharedSpace (its backup current) retires its backup, which goes two days later.
    agent_tags(&s, &arns[0], &[(LAST_ACTIVITY, ago(300)), (LAST_BACKUP, ago(200))]).await;
    let spaces: Api<SharedSpace> = Api::namespaced(s.client.clone(), &s.namespace.name);
    spaces.delete("lab", &DeleteParams::default()).await.unwrap();
    wait_gone(&spaces, "lab").await;
    wait_keys(&s3, bucket, &markers, "lab retired", retired(&["lab", "odd"])).await;
    assert_eq!(s3_keys(&s3, bucket, &format!("{key}lab/")).await.len(), 2);
    s.control().advance(2.0 * 86_400.0 + 60.0);
    wait_keys(&s3, bucket, &format!("{key}lab/"), "lab's backup deleted", |k| {
        k.is_empty()
    })
    .await;
}

/// The migration plan once its entry for the space `name` says `restore: Pending` (the new
/// space carries `restore-from`), with that entry.
/// The migration plan of the StudioDomain `platform`, once it has one.
async fn migration_plan(s: &Setup) -> Result<MigrationPlan, String> {
    let status = s
        .domains
        .get("platform")
        .await
        .map_err(|e| e.to_string())?
        .status
        .unwrap_or_default();
    match status.migration_plan {
        Some(plan) => Ok(plan),
        None => Err(format!("no migration plan: {:?}", status.conditions)),
    }
}

/// Waits until the plan's entry `name` has a restore state that `accept` takes.
pub(crate) async fn wait_restore(
    s: &Setup,
    name: &str,
    what: &str,
    accept: impl Fn(&str) -> bool,
) -> (MigrationPlan, MigrationEntry) {
    wait::until(
        &format!("migration plan: {name} {what}"),
        Duration::from_secs(120),
        || async {
            let plan = migration_plan(s).await?;
            match plan.entries.iter().find(|e| e.name == name).cloned() {
                Some(e) if e.restore.as_deref().is_some_and(&accept) => Ok((plan, e)),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await
}

pub(crate) async fn wait_restore_pending(s: &Setup, name: &str) -> (MigrationPlan, MigrationEntry) {
    wait_restore(s, name, "restore Pending", |r| r == "Pending").await
}

/// A Ready domain that backs spaces up, the profile alice and her private JupyterLab space
/// alice-notes of `ebs_gb` made in the Studio UI (no resource's), backed up after its last
/// activity; returns the domain id.
async fn domain_with_ui_space(s: &Setup, ebs_gb: i32) -> String {
    domain_with_spaces(s, backed_up_domain(), &[]).await;
    let domain_id = s.wait_ready("platform").await.status.unwrap().domain_id.unwrap();
    ui_private_space(s, &domain_id, "alice-notes", "alice", Some(ebs_gb)).await;
    let space = describe_space(s, &domain_id, "alice-notes").await;
    let arn = space.space_arn().unwrap();
    agent_tags(s, arn, &[(LAST_ACTIVITY, ago(600)), (LAST_BACKUP, ago(300))]).await;
    domain_id
}

/// Moves `platform` to another VPC and approves the recreation, which the Studio UI space holds
/// (it is no resource's); returns the request approved.
async fn recreate_approving(s: &Setup) -> ApprovalRequest {
    let mut domain = backed_up_domain();
    domain["spec"]["network"]["vpcId"] = json!("vpc-0fedcba9876543210");
    s.apply("platform", &domain).await;
    let blocked = s.wait_condition("platform", "Stalled", "True").await.status.unwrap();
    let request = blocked.pending_approval.expect("the request is in status");
    let approve = json!({"metadata": {"annotations": {"studio-operator.io/approve-recreation": request.token}}});
    s.domains
        .patch("platform", &PatchParams::default(), &Patch::Merge(&approve))
        .await
        .unwrap();
    request
}

/// The EBS size a described space asks for.
fn ebs_gb(space: &DescribeSpaceOutput) -> Option<i32> {
    space
        .space_settings()
        .and_then(|s| s.space_storage_settings())
        .and_then(|s| s.ebs_storage_settings())
        .and_then(|e| e.ebs_volume_size_in_gb())
}

/// A space made again: it restores from `location` and no resource manages it.
async fn assert_made_again_unmanaged(s: &Setup, space: &DescribeSpaceOutput, location: &str) {
    let arn = space.space_arn().unwrap();
    assert_eq!(tag(s, arn, RESTORE_FROM).await.as_deref(), Some(location));
    assert_eq!(
        tag(s, arn, "studio-operator.io/uid").await,
        None,
        "no resource manages it"
    );
}

/// The space `name` of a domain, as DescribeSpace gives it.
async fn describe_space(s: &Setup, domain_id: &str, name: &str) -> DescribeSpaceOutput {
    s.sagemaker
        .describe_space()
        .domain_id(domain_id)
        .space_name(name)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_recreation_makes_a_backed_up_space_from_the_studio_ui_again_and_restores_it() {
    let s = setup("sd-ui-space").await;
    let old_id = domain_with_ui_space(&s, 30).await;
    let request = recreate_approving(&s).await;
    assert!(
        request
            .deletes
            .iter()
            .any(|d| d.contains("space alice-notes (not managed by studio-operator; EBS 30 GB, backed up to")),
        "{request:?}"
    );

    let location = format!(
        "s3://studio-backups/team/e2e/{}/platform/alice-notes/",
        s.namespace.name
    );
    let (plan, entry) = wait_restore_pending(&s, "alice-notes").await;
    let new_id = plan.new_domain_id;
    assert_ne!(new_id, old_id);
    assert_eq!(entry.backup_location.as_deref(), Some(location.as_str()));
    let made = entry.unmanaged_space.expect("the plan says how it was made again");
    assert_eq!((made.owner.as_str(), made.ebs_gb), ("alice", Some(30)));

    // As it was: alice's private JupyterLab space of 30 GB, restoring its backup, unmanaged.
    let new = describe_space(&s, &new_id, "alice-notes").await;
    assert_eq!(
        new.ownership_settings().and_then(|o| o.owner_user_profile_name()),
        Some("alice")
    );
    assert_eq!(
        new.space_sharing_settings()
            .and_then(|o| o.sharing_type())
            .map(|t| t.as_str()),
        Some("Private")
    );
    let app_type = new.space_settings().and_then(|s| s.app_type());
    assert_eq!(app_type.map(|t| t.as_str()), Some("JupyterLab"));
    assert_eq!(ebs_gb(&new), Some(30));
    assert_made_again_unmanaged(&s, &new, &location).await;
    wait_event(
        &s,
        "UnmanagedSpaceRecreated",
        "space alice-notes (Private JupyterLab space of alice",
    )
    .await;
    assert_eq!(
        s.control().count("CreateSpace", Some("ok")),
        2,
        "once by the user, once again"
    );
}

#[tokio::test]
async fn a_renamed_profile_gets_its_backed_up_studio_ui_space_again_restoring_it() {
    let s = setup("sd-ui-rename").await;
    let domain_id = domain_with_ui_space(&s, 25).await;

    // The rename recreates the profile; its UI space goes with the old one and comes back.
    let profiles: Api<UserProfile> = Api::namespaced(s.client.clone(), &s.namespace.name);
    let mut alice = profile_manifest("alice", "platform");
    alice["spec"]["userProfileName"] = json!("alice-smith");
    apply(&profiles, "alice", &alice).await;
    let sagemaker = s.sagemaker.clone();
    let new = wait::until(
        "alice-notes made again for alice-smith",
        Duration::from_secs(90),
        || {
            let sagemaker = sagemaker.clone();
            let domain_id = domain_id.clone();
            async move {
                let space = sagemaker
                    .describe_space()
                    .domain_id(&domain_id)
                    .space_name("alice-notes")
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let owner = space.ownership_settings().and_then(|o| o.owner_user_profile_name());
                if owner == Some("alice-smith") {
                    Ok(space)
                } else {
                    Err(format!("{space:?}"))
                }
            }
        },
    )
    .await;
    let location = format!(
        "s3://studio-backups/team/e2e/{}/platform/alice-notes/",
        s.namespace.name
    );
    assert_made_again_unmanaged(&s, &new, &location).await;
    assert_eq!(ebs_gb(&new), Some(25));
    wait_event(&s, "UnmanagedSpaceRecreated", "made again for user profile alice-smith").await;
    let status = wait_profile(&profiles, "alice", "Ready", "True").await;
    assert!(
        status.space_data.is_none(),
        "nothing is left to make again: {:?}",
        status.space_data
    );
    assert_eq!(s.control().count("DeleteSpace", Some("ok")), 1);
}

/// A console user makes a space of the name a backed-up Studio UI space had, in the new domain,
/// before the operator makes it again (the operator's CreateSpace is held 3 s). The operator
/// leaves that space alone: the plan says NotRestored and a Warning Event says where the home
/// stays and how to restore it.
#[tokio::test]
async fn a_ui_space_name_taken_in_the_new_domain_is_left_alone_and_the_event_says_where_the_home_is() {
    use aws_emulator::{FaultKind, FaultRule};

    let s = setup("sd-ui-taken").await;
    domain_with_ui_space(&s, 30).await;
    // The operator's CreateSpace of the space made again is held 3 s: the console user is faster.
    s.control().inject_fault(FaultRule {
        target: "CreateSpace".into(),
        kind: FaultKind::Slow,
        probability: None,
        count: Some(1),
        delay_ms: Some(3000),
    });
    recreate_approving(&s).await;
    let new_id = wait::until("the operator's CreateSpace held", Duration::from_secs(120), || async {
        let plan = migration_plan(&s).await?;
        match s.control().faults().is_empty() {
            true => Ok(plan.new_domain_id),
            false => Err("the fault is not consumed yet".to_string()),
        }
    })
    .await;
    ui_private_space(&s, &new_id, "alice-notes", "alice", Some(5)).await;

    let location = format!(
        "s3://studio-backups/team/e2e/{}/platform/alice-notes/",
        s.namespace.name
    );
    wait_event(
        &s,
        "BackupNotRestored",
        &format!("space alice-notes in domain {new_id} was made by someone else before the operator could make it restoring; its home from before the recreation stays backed up at {location}"),
    )
    .await;
    let (_, entry) = wait_restore(&s, "alice-notes", "NotRestored", |r| r == "NotRestored").await;
    assert_eq!(entry.backup_location.as_deref(), Some(location.as_str()));
    // The console user's space, untouched: its size, no restore-from, never deleted.
    let taken = describe_space(&s, &new_id, "alice-notes").await;
    assert_eq!(ebs_gb(&taken), Some(5));
    assert_eq!(tag(&s, taken.space_arn().unwrap(), RESTORE_FROM).await, None);
    assert_eq!(
        s.control().count("CreateSpace", Some("ResourceInUse")),
        1,
        "the operator's, refused"
    );
    let deleted_in_new: Vec<_> = s
        .control()
        .calls()
        .into_iter()
        .filter(|c| c.operation == "DeleteSpace" && c.members["DomainId"] == new_id.as_str())
        .collect();
    assert!(deleted_in_new.is_empty(), "{deleted_in_new:#?}");
    assert!(
        s.events("UnmanagedSpaceRecreated").await.is_empty(),
        "nothing claims it was made again"
    );
}
