//! The attacks of the security review, written as the attacker: a tenant user with edit rights
//! only in its own namespace (real RBAC, through impersonation), or someone changing AWS behind
//! the operator's back. Each asserts what the emulator's call log shows: no destructive call.

use aws_emulator::{ResourceRef, Scope};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, Client};
use serde_json::{Value, json};
use studio_operator::api::{StudioDomain, UserProfile};

use crate::domain::{Setup, domain_manifest, setup};
use crate::guardrail::Installed;
use crate::profile::{apply, profile_manifest, ready_domain, wait_profile};
use crate::support::wait::{self, condition};
use crate::support::{TestEnv, TestNamespace, TestOperator};

/// Every call that changes or deletes something in AWS.
const DESTRUCTIVE: [&str; 8] = [
    "UpdateDomain",
    "DeleteDomain",
    "AddTags",
    "DeleteTags",
    "DeleteUserProfile",
    "DeleteSpace",
    "DeleteApp",
    "UpdateUserProfile",
];

fn destructive_calls(s: &Setup) -> Vec<(&'static str, u64)> {
    DESTRUCTIVE
        .iter()
        .map(|op| (*op, s.control().count(op, None)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// A platform namespace with the operator watching it and a tenant namespace, and a client for
/// the tenant user `tenant-a`, who may edit the operator's kinds in the tenant namespace only.
async fn platform_and_tenant(prefix: &str) -> (Setup, TestNamespace, Client) {
    let client = TestEnv::get().client().await;
    let platform = TestNamespace::new(&client, &format!("{prefix}-platform")).await;
    let tenant = TestNamespace::new(&client, &format!("{prefix}-tenant")).await;
    let operator = TestOperator::start_watching(&client, &[&platform.name, &tenant.name]).await;
    let config = crate::support::operator::sdk_config(&operator.emulator.endpoint());
    let role: Role = serde_json::from_value(json!({
        "metadata": {"name": "studio-editor"},
        "rules": [{
            "apiGroups": ["studio-operator.io"],
            "resources": ["studiodomains", "userprofiles", "sharedspaces"],
            "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
        }],
    }))
    .unwrap();
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "tenant-a-edits"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "studio-editor"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "tenant-a"}],
    }))
    .unwrap();
    let roles: Api<Role> = Api::namespaced(client.clone(), &tenant.name);
    roles.create(&Default::default(), &role).await.unwrap();
    let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), &tenant.name);
    bindings.create(&Default::default(), &binding).await.unwrap();
    let attacker = TestEnv::get().client_as("tenant-a").await;
    let s = Setup {
        domains: Api::namespaced(client.clone(), &platform.name),
        kms: aws_sdk_kms::Client::new(&config),
        sagemaker: aws_sdk_sagemaker::Client::new(&config),
        client,
        namespace: platform,
        operator,
    };
    (s, tenant, attacker)
}

async fn tenant_apply(api: &Api<StudioDomain>, name: &str, manifest: &Value) {
    api.patch(name, &PatchParams::apply("tenant-a").force(), &Patch::Apply(manifest))
        .await
        .unwrap_or_else(|e| panic!("tenant applies {name}: {e}"));
}

/// C1: a tenant names the platform's domain in `spec.adopt` of a StudioDomain in its own
/// namespace, with other settings and `deletionPolicy: Delete`, then deletes it.
#[tokio::test]
async fn a_tenant_adopting_the_platform_domain_takes_nothing_and_destroys_nothing() {
    let (s, tenant, attacker) = platform_and_tenant("atk-adopt").await;
    let platform_id = ready_domain(&s, domain_manifest("platform", "alias/studio")).await;
    let platform_status = s.wait_ready("platform").await.status.unwrap();

    let theirs: Api<StudioDomain> = Api::namespaced(attacker.clone(), &tenant.name);
    // RBAC holds: the tenant cannot even read the platform's namespace.
    let platform_api: Api<StudioDomain> = Api::namespaced(attacker, &s.namespace.name);
    assert!(
        platform_api.get("platform").await.is_err(),
        "no access outside its namespace"
    );
    let mut grab = domain_manifest("grab", "alias/studio");
    grab["spec"]["adopt"] = json!({"domainId": platform_id});
    grab["spec"]["deletionPolicy"] = json!("Delete");
    grab["spec"]["defaultUserSettings"]["executionRole"] = json!("arn:aws:iam::123456789012:role/TenantRole");
    tenant_apply(&theirs, "grab", &grab).await;
    let stalled = wait::until("Conflict for the tenant", crate::profile::TIMEOUT, || async {
        let d = theirs.get("grab").await.map_err(|e| e.to_string())?;
        let st = d.status.unwrap_or_default();
        match condition(&st.conditions, "Stalled") {
            Some(c) if c.status == "True" && c.reason == "Conflict" => Ok(st),
            _ => Err(format!("{:?}", st.conditions)),
        }
    })
    .await;
    assert_eq!(stalled.domain_id, None, "the victim's id is not copied");
    assert_eq!(stalled.domain_arn, None);
    assert_eq!(stalled.url, None);
    assert_eq!(stalled.home_efs_file_system_id, None);
    assert!(destructive_calls(&s).is_empty(), "{:?}", destructive_calls(&s));

    theirs.delete("grab", &DeleteParams::default()).await.unwrap();
    crate::profile::wait_gone(&theirs, "grab").await;
    assert!(destructive_calls(&s).is_empty(), "{:?}", destructive_calls(&s));
    let still = s.wait_ready("platform").await.status.unwrap();
    assert_eq!(still.domain_id, platform_status.domain_id);
    let described = s
        .sagemaker
        .describe_domain()
        .domain_id(&platform_id)
        .send()
        .await
        .unwrap();
    assert_eq!(described.status().map(|st| st.as_str()), Some("InService"));
}

/// H4: someone points the domain's KMS alias at another key in AWS. Nothing is recreated; the
/// domain reports it.
#[tokio::test]
async fn a_kms_alias_pointed_elsewhere_is_reported_never_a_recreation() {
    let s = setup("atk-alias").await;
    ready_domain(&s, domain_manifest("platform", "alias/studio")).await;
    let other = s.kms.create_key().send().await.unwrap().key_metadata.unwrap();
    s.kms
        .update_alias()
        .alias_name("alias/studio")
        .target_key_id(other.key_id())
        .send()
        .await
        .unwrap();
    let drift = s.wait_condition("platform", "AwsDrift", "True").await;
    let drift = condition(&drift.status.as_ref().unwrap().conditions, "AwsDrift")
        .unwrap()
        .clone();
    assert_eq!(drift.reason, "KmsKeyChanged", "{drift:?}");
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(s.control().count("DeleteDomain", None), 0);
    assert_eq!(s.control().count("CreateDomain", None), 1);
    assert_eq!(s.control().count("DeleteUserProfile", None), 0);
}

/// H1: a domain names a role an Enforce guardrail does not allow. The operator never assumes it.
#[tokio::test]
async fn a_forbidden_aws_role_is_never_assumed() {
    let s = setup("atk-role").await;
    let _guardrail = Installed::new(
        &s,
        "roles",
        "Enforce",
        json!({"allowedAwsRoles": ["arn:aws:iam::123456789012:role/studio-operator-*"]}),
    )
    .await;
    s.key("alias/studio").await;
    let mut manifest = domain_manifest("platform", "alias/studio");
    manifest["spec"]["aws"]["roleArn"] = json!("arn:aws:iam::210987654321:role/other-teams-admin");
    s.apply("platform", &manifest).await;
    let stalled = s.wait_condition("platform", "Stalled", "True").await;
    let stalled = condition(&stalled.status.as_ref().unwrap().conditions, "Stalled")
        .unwrap()
        .clone();
    assert_eq!(stalled.reason, "GuardrailViolation", "{stalled:?}");
    assert!(stalled.message.contains("allowedAwsRoles"), "{}", stalled.message);
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(s.control().count("AssumeRole", None), 0, "no AssumeRole at all");
    assert_eq!(s.control().count("CreateDomain", None), 0);
}

/// M6: a profile's AWS name is taken over by someone else; its owner follows the Conflict
/// message and renames the profile. The other owner's profile is never deleted.
#[tokio::test]
async fn renaming_after_a_conflict_never_deletes_the_other_owners_profile() {
    let s = setup("atk-rename").await;
    let domain_id = ready_domain(&s, domain_manifest("platform", "alias/studio")).await;
    let profiles: Api<UserProfile> = Api::namespaced(s.client.clone(), &s.namespace.name);
    let mut mine = profile_manifest("mine", "platform");
    mine["spec"]["userProfileName"] = json!("alice");
    apply(&profiles, "mine", &mine).await;
    wait_profile(&profiles, "mine", "Ready", "True").await;
    // Behind the operator's back, alice is deleted and made again by someone else.
    s.control()
        .delete(
            &Scope::default(),
            &ResourceRef::UserProfile {
                domain_id: domain_id.clone(),
                user_profile_name: "alice".into(),
            },
        )
        .unwrap();
    s.sagemaker
        .create_user_profile()
        .domain_id(&domain_id)
        .user_profile_name("alice")
        .send()
        .await
        .unwrap();
    let status = wait_profile(&profiles, "mine", "Stalled", "True").await;
    assert_eq!(condition(&status.conditions, "Stalled").unwrap().reason, "Conflict");
    mine["spec"]["userProfileName"] = json!("alice2");
    apply(&profiles, "mine", &mine).await;
    let status = wait_profile(&profiles, "mine", "Ready", "True").await;
    assert_eq!(status.user_profile_name.as_deref(), Some("alice2"));
    assert_eq!(s.control().count("DeleteUserProfile", None), 0, "the other alice stays");
    let other = s
        .sagemaker
        .describe_user_profile()
        .domain_id(&domain_id)
        .user_profile_name("alice")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status().map(|st| st.as_str()), Some("InService"));
}

/// H5: the domain is deleted with `deletionPolicy: Delete` while a member's own resource says
/// Retain. The member is never deleted; the domain's deletion waits, naming it.
#[tokio::test]
async fn a_member_that_says_retain_blocks_the_deletion_of_its_domain() {
    let s = setup("atk-retain").await;
    let domain_id = ready_domain(&s, domain_manifest("platform", "alias/studio")).await;
    let profiles: Api<UserProfile> = Api::namespaced(s.client.clone(), &s.namespace.name);
    let mut kept = profile_manifest("kept", "platform");
    kept["spec"]["deletionPolicy"] = json!("Retain");
    apply(&profiles, "kept", &kept).await;
    wait_profile(&profiles, "kept", "Ready", "True").await;
    s.domains.delete("platform", &DeleteParams::default()).await.unwrap();
    let blocked = wait::until("deletion blocked by kept", crate::profile::TIMEOUT, || async {
        let d = s.domains.get("platform").await.map_err(|e| e.to_string())?;
        let st = d.status.unwrap_or_default();
        match condition(&st.conditions, "Stalled") {
            Some(c) if c.status == "True" && c.reason == "DeletionBlocked" => Ok(c.message.clone()),
            _ => Err(format!("{:?}", st.conditions)),
        }
    })
    .await;
    assert!(blocked.contains("kept"), "{blocked}");
    assert_eq!(s.control().count("DeleteUserProfile", None), 0);
    assert_eq!(s.control().count("DeleteDomain", None), 0);
    // Its owner lets it go: the profile's deletion retains it in AWS, then the domain's
    // deletion would still have to wait for it (it is no longer managed): the domain stays.
    profiles.delete("kept", &DeleteParams::default()).await.unwrap();
    crate::profile::wait_gone(&profiles, "kept").await;
    assert_eq!(
        s.control().count("DeleteUserProfile", None),
        0,
        "Retain keeps it in AWS"
    );
    let described = s
        .sagemaker
        .describe_user_profile()
        .domain_id(&domain_id)
        .user_profile_name("kept")
        .send()
        .await
        .unwrap();
    assert_eq!(described.status().map(|st| st.as_str()), Some("InService"));
}

/// M5: a tenant claims the AWS name of another team's user (`alice`) in a shared domain whose
/// `tenancy.namePolicy` is `NamespacePrefix`. Nothing is created under that name; a name with the
/// tenant's own prefix is.
#[tokio::test]
async fn a_tenant_cannot_squat_a_name_outside_its_prefix() {
    let (s, tenant, attacker) = platform_and_tenant("atk-squat").await;
    let mut domain = domain_manifest("platform", "alias/studio");
    domain["spec"]["tenancy"] = json!({
        "allowedNamespaces": {"matchLabels": {"kubernetes.io/metadata.name": tenant.name}},
        "namePolicy": "NamespacePrefix",
    });
    ready_domain(&s, domain).await;
    let theirs: Api<UserProfile> = Api::namespaced(attacker, &tenant.name);
    let mut squat = profile_manifest("squat", "platform");
    squat["spec"]["domainRef"]["namespace"] = json!(s.namespace.name);
    squat["spec"]["userProfileName"] = json!("alice");
    apply(&theirs, "squat", &squat).await;
    let status = wait_profile(&theirs, "squat", "Stalled", "True").await;
    let stalled = condition(&status.conditions, "Stalled").unwrap();
    assert_eq!(stalled.reason, "NameNotAllowed");
    let prefixed = format!("{}-alice", tenant.name);
    assert!(
        stalled.message.contains(&format!("name it {prefixed}")),
        "{}",
        stalled.message
    );
    assert!(stalled.message.contains("spec.userProfileName"), "{}", stalled.message);
    assert_eq!(s.control().count("CreateUserProfile", None), 0, "alice stays free");
    // Names are not separated from their prefix unambiguously: a namespace whose name extends the
    // tenant's (`<tenant>-b-...`) owns the names with its own, longer prefix.
    let client = TestEnv::get().client().await;
    let longer = TestNamespace::new(&client, &format!("{}-b", tenant.name)).await;
    squat["spec"]["userProfileName"] = json!(format!("{}-alice", longer.name));
    apply(&theirs, "squat", &squat).await;
    wait::until("the longer prefix refused", crate::profile::TIMEOUT, || async {
        let status = theirs
            .get("squat")
            .await
            .map_err(|e| e.to_string())?
            .status
            .unwrap_or_default();
        match condition(&status.conditions, "Stalled") {
            Some(c) if c.reason == "NameNotAllowed" && c.message.contains("longer namespace name") => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert_eq!(s.control().count("CreateUserProfile", None), 0);

    squat["spec"]["userProfileName"] = json!(prefixed);
    apply(&theirs, "squat", &squat).await;
    let status = wait_profile(&theirs, "squat", "Ready", "True").await;
    assert_eq!(status.user_profile_name.as_deref(), Some(prefixed.as_str()));
    // The platform's own namespace is not bound by the policy.
    let platform: Api<UserProfile> = Api::namespaced(s.client.clone(), &s.namespace.name);
    apply(&platform, "alice", &profile_manifest("alice", "platform")).await;
    let status = wait_profile(&platform, "alice", "Ready", "True").await;
    assert_eq!(status.user_profile_name.as_deref(), Some("alice"));
    assert_eq!(s.control().count("CreateUserProfile", Some("ok")), 2);
    assert!(
        destructive_calls(&s).iter().all(|(op, _)| *op == "AddTags"),
        "{:?}",
        destructive_calls(&s)
    );
}

/// A tenant points its domain's backups at another team's bucket, where a backup sits under the
/// very key its domain would use. An Enforce Guardrail of allowed backup locations stalls the
/// domain: no agent is installed for that bucket and the sweeper's retention never touches it,
/// while it keeps looking after the allowed location.
#[tokio::test]
async fn a_tenant_cannot_send_backups_to_a_location_its_guardrail_does_not_allow() {
    let s = crate::domain::setup_sweeping("atk-backups").await;
    let s3 = s.s3();
    let key = format!("b/e2e/{}/platform/", s.namespace.name);
    for bucket in ["team-a-backups", "team-b-backups"] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
    }
    // Shaped like a gone space's backup of this very domain: retention would retire it.
    for object in [
        "objects/".to_string() + &"ab".repeat(32),
        "manifests/20261201T000000-000001.json".into(),
    ] {
        s3.put_object()
            .bucket("team-b-backups")
            .key(format!("{key}gone/{object}"))
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"{}"))
            .send()
            .await
            .unwrap();
    }
    let guardrail = Installed::new(
        &s,
        "backups",
        "Enforce",
        json!({"allowedBackupLocations": ["s3://team-a-backups/*"]}),
    )
    .await;
    s.key("alias/studio").await;
    let mut manifest = domain_manifest("platform", "alias/studio");
    manifest["spec"]["spaceBackup"] =
        json!({"s3Uri": "s3://team-a-backups/a", "kmsKeyId": "alias/studio", "retention": "1d"});
    s.apply("platform", &manifest).await;
    s.wait_ready("platform").await;
    let bucket_calls = |bucket: &str| {
        s.control()
            .calls()
            .iter()
            .filter(|c| c.service == "s3" && c.members["Bucket"] == bucket)
            .count()
    };
    wait::until(
        "retention lists the allowed location",
        crate::profile::TIMEOUT,
        || async { (bucket_calls("team-a-backups") > 0).then_some(()).ok_or("no call yet") },
    )
    .await;
    let configs_before = s.control().count("CreateStudioLifecycleConfig", None);
    let planted = bucket_calls("team-b-backups");

    manifest["spec"]["spaceBackup"]["s3Uri"] = json!("s3://team-b-backups/b");
    s.apply("platform", &manifest).await;
    let stalled = s.wait_condition("platform", "Stalled", "True").await;
    let stalled = condition(&stalled.status.as_ref().unwrap().conditions, "Stalled")
        .unwrap()
        .clone();
    assert_eq!(stalled.reason, "GuardrailViolation", "{stalled:?}");
    assert!(
        stalled.message.contains(&format!(
            "allowedBackupLocations: s3://team-b-backups/b (spaceBackup.s3Uri) (Guardrail {}, Enforce)",
            guardrail.name
        )),
        "{}",
        stalled.message
    );
    // Many sweeps (every half second) later: nothing read or written in the other bucket.
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    assert_eq!(
        bucket_calls("team-b-backups"),
        planted,
        "no call in the other bucket but the test's own"
    );
    assert_eq!(
        s.control().count("CreateStudioLifecycleConfig", None),
        configs_before,
        "no agent is installed for the forbidden location"
    );
}
