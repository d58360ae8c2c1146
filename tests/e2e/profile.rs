//! UserProfile end to end: onboarding, updates, drift, SSO identity, ordered deletion, tenancy
//! and conflicts, against the real kube-apiserver and the AWS emulator.

use std::fmt::Debug;
use std::time::Duration;

use aws_emulator::{LaunchApp, ResourceRef, Scope};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use studio_operator::api::{UserProfile, UserProfileStatus};

use crate::domain::{Setup, domain_manifest, setup};
use crate::support::wait::{self, has};
use crate::support::{TestEnv, TestNamespace, TestOperator};

pub const TIMEOUT: Duration = Duration::from_secs(60);

/// Server-side applies a manifest of any kind.
pub async fn apply<K>(api: &Api<K>, name: &str, manifest: &Value)
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    api.patch(name, &PatchParams::apply("e2e-test").force(), &Patch::Apply(manifest))
        .await
        .unwrap_or_else(|e| panic!("apply {name}: {e}"));
}

/// Waits until `probe` accepts the current object.
pub async fn wait_for<K, T>(api: &Api<K>, name: &str, what: &str, probe: impl Fn(&K) -> Option<T>) -> T
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    wait::until(&format!("{name}: {what}"), Duration::from_secs(90), || {
        let api = api.clone();
        let probe = &probe;
        async move {
            let obj = api.get(name).await.map_err(|e| e.to_string())?;
            probe(&obj).ok_or_else(|| format!("{obj:#?}"))
        }
    })
    .await
}

/// Waits until a resource is gone (its finalizer released).
pub async fn wait_gone<K>(api: &Api<K>, name: &str)
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    wait::until(&format!("{name} deleted"), Duration::from_secs(90), || {
        let api = api.clone();
        async move {
            match api.get_opt(name).await.map_err(|e| e.to_string())? {
                None => Ok(()),
                Some(obj) => Err(format!("{obj:#?}")),
            }
        }
    })
    .await
}

fn current(profile: &UserProfile) -> Option<UserProfileStatus> {
    let status = profile.status.clone()?;
    (status.observed_generation == profile.metadata.generation).then_some(status)
}

/// Waits for a condition on the current generation of a profile.
/// Approves the data-loss request the resource's `status.spaceData` shows (its spaces have no
/// current backup), with the token it carries.
pub async fn approve_data_loss<K>(api: &Api<K>, name: &str)
where
    K: Resource + Clone + DeserializeOwned + Debug + serde::Serialize,
{
    let token = wait_for(api, name, "a data-loss request", |o| {
        let status = serde_json::to_value(o).ok()?;
        status
            .pointer("/status/spaceData/pendingApproval/token")
            .and_then(Value::as_str)
            .map(String::from)
    })
    .await;
    let approval = serde_json::json!({"metadata": {"annotations": {"studio-operator.io/approve-data-loss": token}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(approval))
        .await
        .unwrap_or_else(|e| panic!("approve {name}: {e}"));
}

/// A private JupyterLab space a user made in Studio's UI (no resource manages it), with an EBS
/// volume of `ebs_gb` (AWS's default when `None`).
pub async fn ui_private_space(s: &Setup, domain_id: &str, name: &str, owner: &str, ebs_gb: Option<i32>) {
    use aws_sdk_sagemaker::types::{
        AppType, EbsStorageSettings, OwnershipSettings, SharingType, SpaceSettings, SpaceSharingSettings,
        SpaceStorageSettings,
    };
    let storage = ebs_gb.map(|gb| {
        SpaceStorageSettings::builder()
            .ebs_storage_settings(EbsStorageSettings::builder().ebs_volume_size_in_gb(gb).build())
            .build()
    });
    s.sagemaker
        .create_space()
        .domain_id(domain_id)
        .space_name(name)
        .ownership_settings(OwnershipSettings::builder().owner_user_profile_name(owner).build())
        .space_sharing_settings(
            SpaceSharingSettings::builder()
                .sharing_type(SharingType::Private)
                .build(),
        )
        .space_settings(
            SpaceSettings::builder()
                .app_type(AppType::JupyterLab)
                .set_space_storage_settings(storage)
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("create space {name}: {e:?}"));
}

pub async fn wait_profile(api: &Api<UserProfile>, name: &str, type_: &str, status: &str) -> UserProfileStatus {
    wait_for(api, name, &format!("{type_}={status}"), |p| {
        current(p).filter(|s| has(&s.conditions, type_, status))
    })
    .await
}

pub fn profile_manifest(name: &str, domain: &str) -> Value {
    json!({
        "apiVersion": "studio-operator.io/v1alpha1",
        "kind": "UserProfile",
        "metadata": {"name": name},
        "spec": {"domainRef": {"name": domain}, "tags": {"team": "forecasting"}}
    })
}

/// A Ready domain named `platform`; returns its id.
pub async fn ready_domain(s: &Setup, manifest: Value) -> String {
    s.key("alias/studio").await;
    s.apply("platform", &manifest).await;
    s.wait_ready("platform").await.status.unwrap().domain_id.unwrap()
}

pub async fn tags_of(s: &Setup, arn: &str) -> Vec<(String, String)> {
    s.sagemaker
        .list_tags()
        .resource_arn(arn)
        .send()
        .await
        .unwrap()
        .tags()
        .iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Launches an app as a user would, retrying while its owner is still Pending.
pub async fn launch(s: &Setup, app: LaunchApp) {
    let control = s.control().clone();
    wait::until("app launched", TIMEOUT, || {
        let control = control.clone();
        let app = app.clone();
        async move {
            control
                .launch_app(&Scope::default(), &app)
                .map_err(|e| format!("{e:?}"))
        }
    })
    .await;
}

pub fn app(domain_id: &str, profile: Option<&str>, space: Option<&str>, app_type: &str, name: &str) -> LaunchApp {
    LaunchApp {
        domain_id: domain_id.into(),
        user_profile_name: profile.map(String::from),
        space_name: space.map(String::from),
        app_type: app_type.into(),
        app_name: name.into(),
        instance_type: Some("ml.t3.medium".into()),
        image_arn: None,
        tags: vec![],
    }
}

#[tokio::test]
async fn profiles_become_ready_tagged_updated_once_and_drift_is_corrected() {
    let s = setup("up-create").await;
    let domain_id = ready_domain(&s, domain_manifest("platform", "alias/studio")).await;
    let profiles: Api<UserProfile> = Api::namespaced(s.client.clone(), &s.namespace.name);
    let mut alice = profile_manifest("alice", "platform");
    alice["spec"]["userSettings"] = json!({
        "executionRole": "arn:aws:iam::123456789012:role/Alice",
        "jupyterLab": {"defaultResourceSpec": {"instanceType": "ml.t3.large"}}
    });
    apply(&profiles, "alice", &alice).await;
    let mut bob = profile_manifest("bob", "platform");
    bob["spec"]["tagUserId"] = json!(false);
    apply(&profiles, "bob", &bob).await;
    let status = wait_profile(&profiles, "alice", "Ready", "True").await;
    wait_profile(&profiles, "bob", "Ready", "True").await;
    assert_eq!(status.domain_id.as_deref(), Some(domain_id.as_str()));
    assert_eq!(status.aws_status.as_deref(), Some("InService"));
    assert!(status.home_efs_file_system_uid.is_some());
    assert!(has(&status.conditions, "DomainReady", "True"));
    assert!(has(&status.conditions, "Synced", "True"));
    let tags = tags_of(&s, status.user_profile_arn.as_deref().unwrap()).await;
    assert!(tags.contains(&("studiouserid".into(), "alice".into())), "{tags:?}");
    assert!(tags.contains(&("team".into(), "forecasting".into())), "{tags:?}");
    assert!(tags.iter().any(|(k, _)| k == "studio-operator.io/uid"), "{tags:?}");
    let bob_arn = profiles
        .get("bob")
        .await
        .unwrap()
        .status
        .unwrap()
        .user_profile_arn
        .unwrap();
    assert!(!tags_of(&s, &bob_arn).await.iter().any(|(k, _)| k == "studiouserid"));
    assert_eq!(s.control().count("CreateUserProfile", None), 2);
    assert!(!s.events("Created").await.is_empty());

    // Resyncs without drift change nothing.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        s.control().count("UpdateUserProfile", None),
        0,
        "{:?}",
        s.control().call_counts()
    );

    alice["spec"]["userSettings"]["jupyterLab"]["defaultResourceSpec"]["instanceType"] = json!("ml.m5.large");
    apply(&profiles, "alice", &alice).await;
    wait_profile(&profiles, "alice", "Ready", "True").await;
    assert_eq!(
        s.control().count("UpdateUserProfile", None),
        1,
        "{:?}",
        s.control().call_counts()
    );
    let described = s
        .sagemaker
        .describe_user_profile()
        .domain_id(&domain_id)
        .user_profile_name("alice")
        .send()
        .await
        .unwrap();
    let instance = described
        .user_settings()
        .and_then(|u| u.jupyter_lab_app_settings())
        .and_then(|j| j.default_resource_spec())
        .and_then(|r| r.instance_type())
        .map(|i| i.as_str().to_string());
    assert_eq!(instance.as_deref(), Some("ml.m5.large"));
    assert!(!s.events("Updated").await.is_empty());

    s.control()
        .patch(
            &Scope::default(),
            &ResourceRef::UserProfile {
                domain_id: domain_id.clone(),
                user_profile_name: "alice".into(),
            },
            &json!({"ExecutionRole": "arn:aws:iam::123456789012:role/Intruder"}),
        )
        .unwrap();
    let sagemaker = s.sagemaker.clone();
    wait::until("drift corrected", TIMEOUT, || {
        let sagemaker = sagemaker.clone();
        let domain_id = domain_id.clone();
        async move {
            let p = sagemaker
                .describe_user_profile()
                .domain_id(&domain_id)
                .user_profile_name("alice")
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let role = p
                .user_settings()
                .and_then(|u| u.execution_role())
                .unwrap_or_default()
                .to_string();
            if role.ends_with("role/Alice") {
                Ok(())
            } else {
                Err(role)
            }
        }
    })
    .await;
    wait::until("DriftCorrected event", TIMEOUT, || async {
        let events = s.events("DriftCorrected").await;
        if events.is_empty() { Err("none") } else { Ok(()) }
    })
    .await;
}

#[tokio::test]
async fn sso_identity_is_required_in_sso_domains_and_a_change_recreates_the_profile() {
    let s = setup("up-sso").await;
    let mut domain = domain_manifest("platform", "alias/studio");
    domain["spec"]["authMode"] = json!("SSO");
    let domain_id = ready_domain(&s, domain).await;
    let profiles: Api<UserProfile> = Api::namespaced(s.client.clone(), &s.namespace.name);
    let mut alice = profile_manifest("alice", "platform");
    apply(&profiles, "alice", &alice).await;
    let status = wait_profile(&profiles, "alice", "Stalled", "True").await;
    let stalled = wait::condition(&status.conditions, "Stalled").unwrap();
    assert_eq!(stalled.reason, "SsoIdentityRequired");
    assert!(stalled.message.contains("spec.sso.userValue"), "{}", stalled.message);
    assert_eq!(s.control().count("CreateUserProfile", None), 0);

    alice["spec"]["sso"] = json!({"userValue": "alice@example.com"});
    apply(&profiles, "alice", &alice).await;
    let first = wait_profile(&profiles, "alice", "Ready", "True").await;
    launch(&s, app(&domain_id, Some("alice"), None, "KernelGateway", "datascience")).await;

    alice["spec"]["sso"] = json!({"userValue": "alice.smith@example.com"});
    apply(&profiles, "alice", &alice).await;
    let domain_id_clone = domain_id.clone();
    let sagemaker = s.sagemaker.clone();
    wait::until(
        "profile recreated with the new identity",
        Duration::from_secs(90),
        || {
            let sagemaker = sagemaker.clone();
            let domain_id = domain_id_clone.clone();
            async move {
                let p = sagemaker
                    .describe_user_profile()
                    .domain_id(&domain_id)
                    .user_profile_name("alice")
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                if p.single_sign_on_user_value() == Some("alice.smith@example.com")
                    && p.status().map(|s| s.as_str()) == Some("InService")
                {
                    Ok(())
                } else {
                    Err(format!("{p:?}"))
                }
            }
        },
    )
    .await;
    let second = wait_profile(&profiles, "alice", "Ready", "True").await;
    assert_ne!(first.user_profile_arn, None);
    assert_eq!(s.control().count("DeleteApp", Some("ok")), 1, "apps deleted first");
    assert_eq!(s.control().count("DeleteUserProfile", Some("ok")), 1);
    assert_eq!(s.control().count("CreateUserProfile", Some("ok")), 2);
    assert!(second.home_efs_file_system_uid.is_some());
    assert!(!s.events("Recreating").await.is_empty());
}

#[tokio::test]
async fn deleting_a_profile_deletes_its_apps_then_its_spaces_then_the_profile() {
    let s = setup("up-delete").await;
    let domain_id = ready_domain(&s, domain_manifest("platform", "alias/studio")).await;
    let profiles: Api<UserProfile> = Api::namespaced(s.client.clone(), &s.namespace.name);
    apply(&profiles, "alice", &profile_manifest("alice", "platform")).await;
    wait_profile(&profiles, "alice", "Ready", "True").await;
    // alice's own private space, created in Studio (no SharedSpace resource manages it).
    ui_private_space(&s, &domain_id, "alice-scratch", "alice", None).await;
    launch(&s, app(&domain_id, Some("alice"), None, "KernelGateway", "datascience")).await;
    launch(
        &s,
        app(&domain_id, None, Some("alice-scratch"), "JupyterLab", "default"),
    )
    .await;
    wait_for(&profiles, "alice", "running app in status", |p| {
        p.status.as_ref().filter(|s| !s.running_apps.is_empty()).map(|_| ())
    })
    .await;
    profiles.delete("alice", &DeleteParams::default()).await.unwrap();
    // The domain backs no space up: the private space's data goes only with an approval.
    approve_data_loss(&profiles, "alice").await;
    wait_gone(&profiles, "alice").await;
    let calls = s.control().calls();
    let seq = |op: &str| -> Vec<u64> {
        calls
            .iter()
            .filter(|c| c.operation == op && c.outcome == "ok")
            .map(|c| c.seq)
            .collect()
    };
    let (apps, spaces, profiles_deleted) = (seq("DeleteApp"), seq("DeleteSpace"), seq("DeleteUserProfile"));
    assert_eq!(apps.len(), 2, "both apps deleted");
    assert_eq!(spaces.len(), 1);
    assert_eq!(profiles_deleted.len(), 1);
    assert!(
        apps.iter().max() < spaces.first(),
        "apps before spaces: {apps:?} {spaces:?}"
    );
    assert!(spaces[0] < profiles_deleted[0], "spaces before the profile");
    let left = s
        .sagemaker
        .list_user_profiles()
        .domain_id_equals(&domain_id)
        .send()
        .await
        .unwrap();
    assert!(left.user_profiles().is_empty());
    assert!(!s.events("Deleted").await.is_empty());
}

/// A namespace-scoped installation neither reads nor follows a domain in a namespace it does not
/// watch (its RBAC would not allow it): the member says so.
#[tokio::test]
async fn a_scoped_installation_never_follows_a_reference_out_of_its_namespaces() {
    let client = TestEnv::get().client().await;
    let watched = TestNamespace::new(&client, "up-scoped").await;
    let other = TestNamespace::new(&client, "up-unwatched").await;
    let operator = TestOperator::start_watching(&client, &[&watched.name]).await;
    let domains: Api<studio_operator::api::StudioDomain> = Api::namespaced(client.clone(), &other.name);
    apply(&domains, "platform", &domain_manifest("platform", "alias/studio")).await;
    let profiles: Api<UserProfile> = Api::namespaced(client.clone(), &watched.name);
    let mut alice = profile_manifest("alice", "platform");
    alice["spec"]["domainRef"]["namespace"] = json!(other.name);
    apply(&profiles, "alice", &alice).await;
    let status = wait_profile(&profiles, "alice", "DomainReady", "False").await;
    let domain_ready = wait::condition(&status.conditions, "DomainReady").unwrap();
    assert_eq!(domain_ready.reason, "DomainNotFound");
    assert!(
        domain_ready
            .message
            .contains("a namespace this installation does not watch"),
        "{}",
        domain_ready.message
    );
    let untouched = domains.get("platform").await.unwrap();
    assert!(
        untouched.metadata.finalizers.is_none(),
        "the unwatched domain is not ours"
    );
    assert_eq!(operator.emulator.control().count("CreateUserProfile", None), 0);
}

#[tokio::test]
async fn cross_namespace_reference_is_denied_until_the_domain_allows_the_namespace() {
    let client = TestEnv::get().client().await;
    let platform = TestNamespace::new(&client, "up-platform").await;
    let team = TestNamespace::new(&client, "up-team").await;
    let operator = TestOperator::start_watching(&client, &[&platform.name, &team.name]).await;
    let config = crate::support::operator::sdk_config(&operator.emulator.endpoint());
    let s = Setup {
        domains: Api::namespaced(client.clone(), &platform.name),
        kms: aws_sdk_kms::Client::new(&config),
        sagemaker: aws_sdk_sagemaker::Client::new(&config),
        client: client.clone(),
        namespace: platform,
        operator,
    };
    let mut domain = domain_manifest("platform", "alias/studio");
    ready_domain(&s, domain.clone()).await;
    let profiles: Api<UserProfile> = Api::namespaced(client.clone(), &team.name);
    let mut alice = profile_manifest("alice", "platform");
    alice["spec"]["domainRef"]["namespace"] = json!(s.namespace.name);
    apply(&profiles, "alice", &alice).await;
    let status = wait_profile(&profiles, "alice", "Stalled", "True").await;
    let stalled = wait::condition(&status.conditions, "Stalled").unwrap();
    assert_eq!(stalled.reason, "ReferenceDenied");
    assert!(stalled.message.contains(&team.name), "{}", stalled.message);
    assert!(has(&status.conditions, "DomainReady", "False"));
    assert_eq!(s.control().count("CreateUserProfile", None), 0);
    let team_events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), &team.name);
    let denied_events = team_events.list(&Default::default()).await.unwrap().items;
    assert!(
        denied_events
            .iter()
            .any(|e| e.reason.as_deref() == Some("ReferenceDenied")),
        "a ReferenceDenied warning in the team namespace"
    );

    // The platform team opens the domain to tenant namespaces, and labels this one.
    domain["spec"]["tenancy"] = json!({"allowedNamespaces": {"matchLabels": {"studio-operator.io/tenant": "true"}}});
    s.apply("platform", &domain).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        s.control().count("CreateUserProfile", None),
        0,
        "the namespace is not labelled yet"
    );
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .patch(
            &team.name,
            &PatchParams::default(),
            &Patch::Merge(&json!({"metadata": {"labels": {"studio-operator.io/tenant": "true"}}})),
        )
        .await
        .unwrap();
    let status = wait_profile(&profiles, "alice", "Ready", "True").await;
    assert!(status.user_profile_arn.is_some());
    assert_eq!(s.control().count("CreateUserProfile", None), 1);

    // Access revoked: the profile stalls; deleting it still deletes what it created (its
    // deletionPolicy), instead of leaving an orphan with stale ownership tags.
    namespaces
        .patch(
            &team.name,
            &PatchParams::default(),
            &Patch::Merge(&json!({"metadata": {"labels": {"studio-operator.io/tenant": null}}})),
        )
        .await
        .unwrap();
    let status = wait_profile(&profiles, "alice", "Stalled", "True").await;
    assert_eq!(
        wait::condition(&status.conditions, "Stalled").unwrap().reason,
        "ReferenceDenied"
    );
    profiles.delete("alice", &DeleteParams::default()).await.unwrap();
    wait_gone(&profiles, "alice").await;
    assert_eq!(
        s.control().count("DeleteUserProfile", Some("ok")),
        1,
        "no orphan in AWS"
    );
}

#[tokio::test]
async fn name_conflicts_and_unowned_profiles_are_never_touched() {
    let s = setup("up-conflict").await;
    let domain_id = ready_domain(&s, domain_manifest("platform", "alias/studio")).await;
    let profiles: Api<UserProfile> = Api::namespaced(s.client.clone(), &s.namespace.name);
    apply(&profiles, "first", &profile_manifest("first", "platform")).await;
    wait_profile(&profiles, "first", "Ready", "True").await;
    let mut second = profile_manifest("second", "platform");
    second["spec"]["userProfileName"] = json!("first");
    apply(&profiles, "second", &second).await;
    let status = wait_profile(&profiles, "second", "Stalled", "True").await;
    let stalled = wait::condition(&status.conditions, "Stalled").unwrap();
    assert_eq!(stalled.reason, "Conflict");
    assert!(stalled.message.contains("/first"), "{}", stalled.message);
    assert_eq!(s.control().count("CreateUserProfile", None), 1);

    // A profile someone made by hand, without ownership tags.
    s.sagemaker
        .create_user_profile()
        .domain_id(&domain_id)
        .user_profile_name("carol")
        .tags(
            aws_sdk_sagemaker::types::Tag::builder()
                .key("owner")
                .value("manual")
                .build(),
        )
        .send()
        .await
        .unwrap();
    s.control().clear_calls();
    apply(&profiles, "carol", &profile_manifest("carol", "platform")).await;
    let status = wait_profile(&profiles, "carol", "Stalled", "True").await;
    let stalled = wait::condition(&status.conditions, "Stalled").unwrap();
    assert_eq!(stalled.reason, "Conflict");
    assert!(stalled.message.contains("set adopt: true"), "{}", stalled.message);
    for name in ["second", "carol"] {
        profiles.delete(name, &DeleteParams::default()).await.unwrap();
        wait_gone(&profiles, name).await;
    }
    // A create may be tried once when the profile is not yet in the shared List result; AWS
    // refuses it (ResourceInUse) and the operator then finds the profile and stops: nothing is
    // changed. Every other mutating call must never have been made.
    assert_eq!(
        s.control().count("CreateUserProfile", Some("ok")),
        0,
        "{:?}",
        s.control().call_counts()
    );
    for op in ["UpdateUserProfile", "DeleteUserProfile", "AddTags", "DeleteTags"] {
        assert_eq!(s.control().count(op, None), 0, "{op}: {:?}", s.control().call_counts());
    }
    let carol = s
        .sagemaker
        .describe_user_profile()
        .domain_id(&domain_id)
        .user_profile_name("carol")
        .send()
        .await
        .unwrap();
    assert_eq!(carol.status().map(|s| s.as_str()), Some("InService"));
    let first = profiles.get("first").await.unwrap();
    assert!(
        has(&first.status.unwrap().conditions, "Ready", "True"),
        "the first owner keeps it"
    );
}
