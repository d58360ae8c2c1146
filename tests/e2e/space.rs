//! SharedSpace end to end: shared and private spaces, recreation of what AWS cannot update,
//! ordered deletion with a profile, and the cascade of a domain recreation.

use std::time::Duration;

use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::{Value, json};
use studio_operator::api::{SharedSpace, SharedSpaceStatus, UserProfile};

use crate::domain::{domain_manifest, setup};
use crate::profile::{
    app, apply, approve_data_loss, launch, profile_manifest, ready_domain, tags_of, wait_for, wait_gone, wait_profile,
};
use crate::support::wait::{self, has};

pub fn space_manifest(name: &str, sharing: &str, owner: &str, app_type: &str) -> Value {
    json!({
        "apiVersion": "studio-operator.io/v1alpha1",
        "kind": "SharedSpace",
        "metadata": {"name": name},
        "spec": {
            "domainRef": {"name": "platform"},
            "sharing": {"type": sharing, "ownerProfile": owner},
            "appType": app_type,
            "settings": {"defaultResourceSpec": {"instanceType": "ml.t3.large"}, "ebsVolumeSizeGb": 20},
            "tags": {"team": "forecasting"}
        }
    })
}

async fn wait_space(api: &Api<SharedSpace>, name: &str, type_: &str, status: &str) -> SharedSpaceStatus {
    wait_for(api, name, &format!("{type_}={status}"), |s| {
        let st = s.status.clone()?;
        (st.observed_generation == s.metadata.generation && has(&st.conditions, type_, status)).then_some(st)
    })
    .await
}

#[tokio::test]
async fn spaces_become_ready_update_in_place_and_recreate_on_immutable_changes() {
    let s = setup("ss-create").await;
    let domain_id = ready_domain(&s, domain_manifest("platform", "alias/studio")).await;
    let profiles: Api<UserProfile> = Api::namespaced(s.client.clone(), &s.namespace.name);
    let spaces: Api<SharedSpace> = Api::namespaced(s.client.clone(), &s.namespace.name);
    let mut team = space_manifest("team", "Shared", "alice", "JupyterLab");
    apply(&spaces, "team", &team).await;
    apply(
        &spaces,
        "alice-editor",
        &space_manifest("alice-editor", "Private", "alice", "CodeEditor"),
    )
    .await;
    apply(&profiles, "alice", &profile_manifest("alice", "platform")).await;
    let status = wait_space(&spaces, "team", "Ready", "True").await;
    wait_space(&spaces, "alice-editor", "Ready", "True").await;
    assert_eq!(status.domain_id.as_deref(), Some(domain_id.as_str()));
    assert!(status.home_efs_file_system_uid.is_some());
    let tags = tags_of(&s, status.space_arn.as_deref().unwrap()).await;
    assert!(tags.contains(&("team".into(), "forecasting".into())), "{tags:?}");
    assert!(tags.iter().any(|(k, _)| k == "studio-operator.io/uid"), "{tags:?}");
    let described = s
        .sagemaker
        .describe_space()
        .domain_id(&domain_id)
        .space_name("alice-editor")
        .send()
        .await
        .unwrap();
    assert_eq!(
        described
            .space_sharing_settings()
            .and_then(|x| x.sharing_type())
            .map(|t| t.as_str()),
        Some("Private")
    );
    assert_eq!(s.control().count("CreateSpace", Some("ok")), 2);

    team["spec"]["settings"]["idleTimeoutMinutes"] = json!(120);
    team["spec"]["displayName"] = json!("Forecasting team");
    apply(&spaces, "team", &team).await;
    wait_space(&spaces, "team", "Ready", "True").await;
    assert_eq!(
        s.control().count("UpdateSpace", None),
        1,
        "{:?}",
        s.control().call_counts()
    );

    launch(&s, app(&domain_id, None, Some("team"), "JupyterLab", "default")).await;
    wait_for(&spaces, "team", "running app in status", |sp| {
        sp.status.as_ref().filter(|st| !st.running_apps.is_empty()).map(|_| ())
    })
    .await;
    team["spec"]["appType"] = json!("CodeEditor");
    apply(&spaces, "team", &team).await;
    // The domain backs no space up: the recreation deletes the space's data only when approved.
    approve_data_loss(&spaces, "team").await;
    let sagemaker = s.sagemaker.clone();
    let id = domain_id.clone();
    wait::until("team recreated as a Code Editor space", Duration::from_secs(90), || {
        let sagemaker = sagemaker.clone();
        let id = id.clone();
        async move {
            let d = sagemaker
                .describe_space()
                .domain_id(&id)
                .space_name("team")
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let app_type = d
                .space_settings()
                .and_then(|x| x.app_type())
                .map(|t| t.as_str().to_string());
            if app_type.as_deref() == Some("CodeEditor") {
                Ok(())
            } else {
                Err(format!("{d:?}"))
            }
        }
    })
    .await;
    wait_space(&spaces, "team", "Ready", "True").await;
    let calls = s.control().calls();
    let first = |op: &str| {
        calls
            .iter()
            .find(|c| c.operation == op && c.outcome == "ok")
            .map(|c| c.seq)
    };
    assert!(
        first("DeleteApp") < first("DeleteSpace"),
        "apps deleted before the space"
    );
    assert_eq!(s.control().count("DeleteSpace", Some("ok")), 1);
    assert_eq!(s.control().count("CreateSpace", Some("ok")), 3);

    // Retain: the space stays in AWS without ownership tags.
    let mut editor = space_manifest("alice-editor", "Private", "alice", "CodeEditor");
    editor["spec"]["deletionPolicy"] = json!("Retain");
    apply(&spaces, "alice-editor", &editor).await;
    wait_space(&spaces, "alice-editor", "Ready", "True").await;
    let arn = spaces
        .get("alice-editor")
        .await
        .unwrap()
        .status
        .unwrap()
        .space_arn
        .unwrap();
    spaces.delete("alice-editor", &DeleteParams::default()).await.unwrap();
    wait_gone(&spaces, "alice-editor").await;
    let tags = tags_of(&s, &arn).await;
    assert!(
        !tags.iter().any(|(k, _)| k.starts_with("studio-operator.io/")),
        "{tags:?}"
    );
    assert!(tags.contains(&("team".into(), "forecasting".into())));
}

#[tokio::test]
async fn a_shared_space_without_the_domains_space_role_creates_nothing() {
    let s = setup("ss-norole").await;
    let mut domain = domain_manifest("platform", "alias/studio");
    domain["spec"].as_object_mut().unwrap().remove("defaultSpaceSettings");
    ready_domain(&s, domain).await;
    let profiles: Api<UserProfile> = Api::namespaced(s.client.clone(), &s.namespace.name);
    apply(&profiles, "alice", &profile_manifest("alice", "platform")).await;
    let spaces: Api<SharedSpace> = Api::namespaced(s.client.clone(), &s.namespace.name);
    apply(
        &spaces,
        "team",
        &space_manifest("team", "Shared", "alice", "JupyterLab"),
    )
    .await;
    let status = wait_space(&spaces, "team", "Stalled", "True").await;
    let stalled = wait::condition(&status.conditions, "Stalled").unwrap();
    assert_eq!(stalled.reason, "SpaceExecutionRoleMissing");
    assert!(
        stalled.message.contains("defaultSpaceSettings.executionRole"),
        "{}",
        stalled.message
    );
    wait_profile(&profiles, "alice", "Ready", "True").await;
    assert_eq!(s.control().count("CreateSpace", None), 0);
}

#[tokio::test]
async fn a_profile_waits_for_the_shared_space_resource_that_owns_its_space() {
    let s = setup("ss-order").await;
    let domain_id = ready_domain(&s, domain_manifest("platform", "alias/studio")).await;
    let profiles: Api<UserProfile> = Api::namespaced(s.client.clone(), &s.namespace.name);
    let spaces: Api<SharedSpace> = Api::namespaced(s.client.clone(), &s.namespace.name);
    apply(&profiles, "alice", &profile_manifest("alice", "platform")).await;
    apply(
        &spaces,
        "team",
        &space_manifest("team", "Shared", "alice", "JupyterLab"),
    )
    .await;
    wait_space(&spaces, "team", "Ready", "True").await;
    launch(&s, app(&domain_id, None, Some("team"), "JupyterLab", "default")).await;
    profiles.delete("alice", &DeleteParams::default()).await.unwrap();
    let blocked = wait_for(&profiles, "alice", "deletion blocked", |p| {
        let st = p.status.clone()?;
        let stalled = wait::condition(&st.conditions, "Stalled")?;
        (stalled.status == "True" && stalled.reason == "DeletionBlocked").then(|| stalled.message.clone())
    })
    .await;
    assert!(
        blocked.contains(&format!("SharedSpace {}/team", s.namespace.name)),
        "{blocked}"
    );
    assert_eq!(s.control().count("DeleteSpace", None), 0);
    assert_eq!(s.control().count("DeleteUserProfile", None), 0);
    spaces.delete("team", &DeleteParams::default()).await.unwrap();
    approve_data_loss(&spaces, "team").await;
    wait_gone(&spaces, "team").await;
    wait_gone(&profiles, "alice").await;
    let calls = s.control().calls();
    let seq = |op: &str| {
        calls
            .iter()
            .find(|c| c.operation == op && c.outcome == "ok")
            .map(|c| c.seq)
    };
    assert!(seq("DeleteApp") < seq("DeleteSpace"));
    assert!(seq("DeleteSpace") < seq("DeleteUserProfile"));
}

#[tokio::test]
async fn domain_recreation_cascades_to_every_profile_and_space_with_a_complete_migration_plan() {
    let s = setup("ss-cascade").await;
    let mut domain = domain_manifest("platform", "alias/studio");
    let old_id = ready_domain(&s, domain.clone()).await;
    let profiles: Api<UserProfile> = Api::namespaced(s.client.clone(), &s.namespace.name);
    let spaces: Api<SharedSpace> = Api::namespaced(s.client.clone(), &s.namespace.name);
    for name in ["alice", "bob"] {
        apply(&profiles, name, &profile_manifest(name, "platform")).await;
    }
    apply(
        &spaces,
        "team",
        &space_manifest("team", "Shared", "alice", "JupyterLab"),
    )
    .await;
    apply(
        &spaces,
        "bob-editor",
        &space_manifest("bob-editor", "Private", "bob", "CodeEditor"),
    )
    .await;
    let mut old_uids = Vec::new();
    for name in ["alice", "bob"] {
        old_uids.push(
            wait_profile(&profiles, name, "Ready", "True")
                .await
                .home_efs_file_system_uid
                .unwrap(),
        );
    }
    for name in ["team", "bob-editor"] {
        old_uids.push(
            wait_space(&spaces, name, "Ready", "True")
                .await
                .home_efs_file_system_uid
                .unwrap(),
        );
    }

    domain["spec"]["network"]["vpcId"] = json!("vpc-0fedcba9876543210");
    s.apply("platform", &domain).await;
    // The domain backs no space up: the recreation waits for an approval that names the spaces'
    // EBS volumes, even under the Recreate policy.
    let request = wait_for(&s.domains, "platform", "the recreation's approval request", |d| {
        d.status.clone()?.pending_approval
    })
    .await;
    for space in ["team", "bob-editor"] {
        assert!(
            request.deletes.iter().any(|d| d.starts_with(&format!(
                "space {space} (EBS 20 GB, DATA LOST: the domain has no spec.spaceBackup"
            ))),
            "{request:?}"
        );
    }
    assert_eq!(s.control().count("DeleteSpace", None), 0, "nothing deleted unapproved");
    let approve = json!({"metadata": {"annotations": {"studio-operator.io/approve-recreation": request.token}}});
    s.domains
        .patch("platform", &PatchParams::default(), &Patch::Merge(&approve))
        .await
        .unwrap();
    let domains = s.domains.clone();
    let plan = wait::until("migration plan complete", Duration::from_secs(120), || {
        let domains = domains.clone();
        let old_id = old_id.clone();
        async move {
            let d = domains.get("platform").await.map_err(|e| e.to_string())?;
            let st = d.status.clone().unwrap_or_default();
            let plan = st.migration_plan.clone().ok_or_else(|| format!("{st:#?}"))?;
            if st.domain_id.as_deref() != Some(old_id.as_str())
                && plan.entries.len() == 4
                && plan.entries.iter().all(|e| e.new_uid.is_some())
            {
                Ok(plan)
            } else {
                Err(format!("{st:#?}"))
            }
        }
    })
    .await;
    assert_eq!(plan.old_domain_id, old_id);
    let mut names: Vec<(String, String)> = plan.entries.iter().map(|e| (e.kind.clone(), e.name.clone())).collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            ("Space".to_string(), "bob-editor".to_string()),
            ("Space".to_string(), "team".to_string()),
            ("UserProfile".to_string(), "alice".to_string()),
            ("UserProfile".to_string(), "bob".to_string()),
        ]
    );
    let mut planned_old: Vec<String> = plan.entries.iter().map(|e| e.old_uid.clone().unwrap()).collect();
    planned_old.sort();
    old_uids.sort();
    assert_eq!(planned_old, old_uids);
    for name in ["alice", "bob"] {
        let status = wait_profile(&profiles, name, "Ready", "True").await;
        assert_eq!(status.domain_id.as_deref(), Some(plan.new_domain_id.as_str()), "{name}");
        let entry = plan.entries.iter().find(|e| e.name == name).unwrap();
        assert_eq!(entry.new_uid, status.home_efs_file_system_uid);
    }
    for name in ["team", "bob-editor"] {
        let status = wait_space(&spaces, name, "Ready", "True").await;
        assert_eq!(status.domain_id.as_deref(), Some(plan.new_domain_id.as_str()), "{name}");
    }
    assert!(!s.events("Recreated").await.is_empty());
}
