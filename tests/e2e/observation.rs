//! List-driven observation: a resync of unchanged profiles and spaces costs List pages shared by
//! the whole domain and tag-index pages shared by the account, not a Describe and a ListTags per
//! resource; drift in settings and in tags is still corrected within a resync (tags within the
//! tag audit interval when the tag index cannot be read).

use std::time::{Duration, Instant};

use aws_emulator::{CallRecord, FaultKind, FaultRule, ResourceRef, Scope, Tag};
use kube::Api;
use serde_json::json;
use studio_operator::api::{SharedSpace, UserProfile};

use crate::domain::{Setup, domain_manifest};
use crate::profile::{apply, profile_manifest, ready_domain, tags_of, wait_profile};
use crate::support::wait::{self, has};
use crate::support::{TestEnv, TestNamespace, TestOperator};

const PROFILES: usize = 24;
const SPACES: usize = 4;
const RESYNC: Duration = Duration::from_secs(2);

async fn setup_tuned(prefix: &str, tag_audit: Duration) -> Setup {
    let client = TestEnv::get().client().await;
    let namespace = TestNamespace::new(&client, prefix).await;
    let operator = TestOperator::start_tuned(&client, &namespace.name, |config| {
        config.resync_interval = RESYNC;
        config.sweep_interval = RESYNC;
        config.tag_audit_interval = tag_audit;
    })
    .await;
    Setup::new(client, namespace, operator)
}

fn space_manifest(name: &str, owner: &str) -> serde_json::Value {
    json!({
        "apiVersion": "studio-operator.io/v1alpha1",
        "kind": "SharedSpace",
        "metadata": {"name": name},
        "spec": {
            "domainRef": {"name": "platform"},
            "sharing": {"type": "Shared", "ownerProfile": owner},
            "appType": "JupyterLab",
            "tags": {"team": "forecasting"}
        }
    })
}

/// Calls of `operation` about a profile or space (ListTags of the domain itself excluded).
fn member_calls(calls: &[CallRecord], operation: &str) -> usize {
    calls
        .iter()
        .filter(|c| c.operation == operation)
        .filter(|c| {
            let arn = c.members["ResourceArn"].as_str().unwrap_or_default();
            operation != "ListTags" || arn.contains(":user-profile/") || arn.contains(":space/")
        })
        .count()
}

fn is_read(operation: &str) -> bool {
    ["Describe", "List", "Get"].iter().any(|p| operation.starts_with(p))
}

#[tokio::test]
async fn steady_state_costs_shared_list_pages_and_settings_drift_is_corrected_within_a_resync() {
    let s = setup_tuned("obs-steady", Duration::from_secs(3600)).await;
    let domain_id = ready_domain(&s, domain_manifest("platform", "alias/studio")).await;
    let profiles: Api<UserProfile> = Api::namespaced(s.client.clone(), &s.namespace.name);
    let spaces: Api<SharedSpace> = Api::namespaced(s.client.clone(), &s.namespace.name);
    for i in 0..PROFILES {
        let name = format!("user-{i:02}");
        let mut manifest = profile_manifest(&name, "platform");
        manifest["spec"]["userSettings"] = json!({"executionRole": "arn:aws:iam::123456789012:role/User"});
        apply(&profiles, &name, &manifest).await;
    }
    for i in 0..SPACES {
        let name = format!("space-{i}");
        apply(&spaces, &name, &space_manifest(&name, &format!("user-{i:02}"))).await;
    }
    for i in 0..PROFILES {
        wait_profile(&profiles, &format!("user-{i:02}"), "Ready", "True").await;
    }
    for i in 0..SPACES {
        let name = format!("space-{i}");
        crate::profile::wait_for(&spaces, &name, "Ready", |sp| {
            sp.status
                .as_ref()
                .filter(|st| has(&st.conditions, "Ready", "True"))
                .map(|_| ())
        })
        .await;
    }
    let created = s.control().calls();
    // Creation: one Create and one Describe (once listed InService) per member, no ListTags
    // (the tags sent to Create are known), a few retries at most.
    let describes = member_calls(&created, "DescribeUserProfile") + member_calls(&created, "DescribeSpace");
    assert!(
        describes <= 2 * (PROFILES + SPACES),
        "{describes} Describes for {} members: {:?}",
        PROFILES + SPACES,
        s.control().call_counts()
    );

    // Let every member settle, then watch three resyncs.
    tokio::time::sleep(RESYNC * 2).await;
    s.control().clear_calls();
    let window = RESYNC * 3 + Duration::from_millis(500);
    tokio::time::sleep(window).await;
    let calls = s.control().calls();
    let counts = s.control().call_counts();
    let mutating: Vec<&CallRecord> = calls.iter().filter(|c| !is_read(&c.operation)).collect();
    assert!(mutating.is_empty(), "no drift, no mutating call: {counts:?}");
    for operation in ["DescribeUserProfile", "DescribeSpace", "ListTags"] {
        assert_eq!(member_calls(&calls, operation), 0, "{operation}: {counts:?}");
    }
    for operation in ["ListUserProfiles", "GetResources"] {
        let pages = member_calls(&calls, operation);
        assert!(
            (2..=8).contains(&pages),
            "{operation}: one shared page per resync (sometimes two), not one per profile: {counts:?}"
        );
    }
    let reads = calls.iter().filter(|c| is_read(&c.operation)).count();
    let members = (PROFILES + SPACES) as f64;
    let per_member_per_resync = reads as f64 / members / (window.as_secs_f64() / RESYNC.as_secs_f64());
    assert!(
        per_member_per_resync < 0.5,
        "{reads} reads in {window:?} for {members} members: {counts:?}"
    );

    // Settings drift moves LastModifiedTime: corrected within about one resync.
    s.control()
        .patch(
            &Scope::default(),
            &ResourceRef::UserProfile {
                domain_id: domain_id.clone(),
                user_profile_name: "user-03".into(),
            },
            &json!({"ExecutionRole": "arn:aws:iam::123456789012:role/Intruder"}),
        )
        .unwrap();
    let drifted = Instant::now();
    let sagemaker = s.sagemaker.clone();
    wait::until("settings drift corrected", RESYNC * 4, || {
        let sagemaker = sagemaker.clone();
        let domain_id = domain_id.clone();
        async move {
            let p = sagemaker
                .describe_user_profile()
                .domain_id(&domain_id)
                .user_profile_name("user-03")
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let role = p.user_settings().and_then(|u| u.execution_role()).map(str::to_string);
            if role.as_deref().is_some_and(|r| r.ends_with("role/Intruder")) {
                Err(role)
            } else {
                Ok(())
            }
        }
    })
    .await;
    assert!(
        drifted.elapsed() <= RESYNC * 2,
        "corrected after {:?}",
        drifted.elapsed()
    );
    assert_eq!(
        s.control().count("UpdateUserProfile", None),
        1,
        "only the drifted profile"
    );
}

/// Removes the `team` tag of a resource out of band (LastModifiedTime does not move).
async fn remove_team_tag(s: &Setup, arn: &str) {
    let kept: Vec<Tag> = tags_of(s, arn)
        .await
        .into_iter()
        .filter(|(k, _)| k != "team")
        .map(|(key, value)| Tag { key, value })
        .collect();
    s.control().set_tags(&Scope::default(), arn, kept).unwrap();
}

/// Waits until the `team` tag is back; returns how long that took.
async fn team_tag_restored(s: &Setup, arn: &str, timeout: Duration) -> Duration {
    let drifted = Instant::now();
    wait::until("tag drift corrected", timeout, || async {
        let tags = tags_of(s, arn).await;
        if tags.contains(&("team".into(), "forecasting".into())) {
            Ok(())
        } else {
            Err(tags)
        }
    })
    .await;
    drifted.elapsed()
}

#[tokio::test]
async fn tag_drift_is_found_in_the_tag_index_within_a_resync() {
    // An audit far away: only the tag index can find the drift in time.
    let s = setup_tuned("obs-tag-index", Duration::from_secs(3600)).await;
    ready_domain(&s, domain_manifest("platform", "alias/studio")).await;
    let profiles: Api<UserProfile> = Api::namespaced(s.client.clone(), &s.namespace.name);
    for name in ["alice", "bob"] {
        apply(&profiles, name, &profile_manifest(name, "platform")).await;
    }
    let alice = wait_profile(&profiles, "alice", "Ready", "True")
        .await
        .user_profile_arn
        .unwrap();
    wait_profile(&profiles, "bob", "Ready", "True").await;
    tokio::time::sleep(RESYNC * 2).await;
    s.control().clear_calls();

    remove_team_tag(&s, &alice).await;
    let took = team_tag_restored(&s, &alice, RESYNC * 4).await;
    assert!(took <= RESYNC * 2, "corrected after {took:?}");
    let calls = s.control().calls();
    let counts = s.control().call_counts();
    let listed: Vec<&str> = calls
        .iter()
        .filter(|c| c.operation == "ListTags")
        .filter_map(|c| c.members["ResourceArn"].as_str())
        .filter(|arn| arn.contains(":user-profile/"))
        .collect();
    // ListTags (authoritative) only for the profile the index showed drifted, then AddTags.
    assert!(
        !listed.is_empty() && listed.iter().all(|arn| *arn == alice),
        "{listed:?}: {counts:?}"
    );
    assert_eq!(s.control().count("AddTags", Some("ok")), 1, "{counts:?}");
}

#[tokio::test]
async fn tag_drift_is_corrected_by_the_tag_audit_when_the_tag_index_cannot_be_read() {
    let audit = Duration::from_secs(5);
    let s = setup_tuned("obs-tags", audit).await;
    // As when the operator may not call tag:GetResources: every index read fails.
    s.control().inject_fault(FaultRule {
        target: "GetResources".into(),
        kind: FaultKind::InternalFailure,
        probability: Some(1.0),
        count: None,
        delay_ms: None,
    });
    ready_domain(&s, domain_manifest("platform", "alias/studio")).await;
    let profiles: Api<UserProfile> = Api::namespaced(s.client.clone(), &s.namespace.name);
    apply(&profiles, "alice", &profile_manifest("alice", "platform")).await;
    let status = wait_profile(&profiles, "alice", "Ready", "True").await;
    let arn = status.user_profile_arn.unwrap();
    tokio::time::sleep(RESYNC).await;

    remove_team_tag(&s, &arn).await;
    let took = team_tag_restored(&s, &arn, audit + RESYNC * 3).await;
    assert!(took <= audit + RESYNC * 2, "corrected after {took:?}");
    assert!(
        s.control().count("GetResources", Some("InternalFailure")) > 0,
        "the index was asked for"
    );
    // The profile stays Ready: an unreadable index is no error of the resource.
    wait_profile(&profiles, "alice", "Ready", "True").await;
}
