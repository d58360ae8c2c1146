//! StudioDomain safety: adoption, name conflicts, keys that go bad later, and members the
//! operator does not manage.

use std::time::Duration;

use aws_sdk_sagemaker::types::{AuthMode, UserSettings};
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::json;

use crate::domain::{domain_manifest, setup};
use crate::support::wait::{self, has};

const TIMEOUT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn adoption_takes_over_an_existing_domain_and_never_recreates_it_unapproved() {
    let s = setup("dom-adopt").await;
    let key_arn = s.key("alias/studio").await;
    let existing = s
        .sagemaker
        .create_domain()
        .domain_name("legacy")
        .auth_mode(AuthMode::Iam)
        .vpc_id("vpc-0a1b2c3d4e5f67890")
        .subnet_ids("subnet-0a1b2c3d4e5f67891")
        .subnet_ids("subnet-0a1b2c3d4e5f67892")
        .kms_key_id(&key_arn)
        .default_user_settings(
            UserSettings::builder()
                .execution_role("arn:aws:iam::123456789012:role/Legacy")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let id = existing.domain_id().unwrap().to_string();

    // Without adopt, a domain of the same name is someone else's: refused, nothing created.
    let mut manifest = domain_manifest("legacy", "alias/studio");
    manifest["spec"]["domainName"] = json!("legacy");
    s.apply("legacy", &manifest).await;
    let conflict = s.wait_condition("legacy", "Stalled", "True").await;
    let stalled = wait::condition(&conflict.status.as_ref().unwrap().conditions, "Stalled")
        .unwrap()
        .clone();
    assert_eq!(stalled.reason, "NameConflict", "{}", stalled.message);
    assert!(stalled.message.contains("spec.adopt.domainId"), "{}", stalled.message);

    manifest["spec"]["adopt"] = json!({"domainId": id});
    s.apply("legacy", &manifest).await;
    let adopted = s.wait_ready("legacy").await;
    assert_eq!(adopted.status.unwrap().domain_id.as_deref(), Some(id.as_str()));
    assert_eq!(
        s.control().count("CreateDomain", None),
        1,
        "only the domain made outside the operator"
    );
    let described = s.sagemaker.describe_domain().domain_id(&id).send().await.unwrap();
    assert_eq!(
        described.default_user_settings().unwrap().execution_role(),
        Some("arn:aws:iam::123456789012:role/StudioDefault"),
        "the adopted domain is reconciled to the spec"
    );
    let view = s.control().domains().into_iter().find(|d| d.domain_id == id).unwrap();
    assert!(
        view.tags.iter().any(|t| t.key == "studio-operator.io/uid"),
        "ownership tags added: {:?}",
        view.tags
    );

    // An immutable change on an adopted domain waits for approval even under `Recreate`.
    manifest["spec"]["network"]["vpcId"] = json!("vpc-0fedcba9876543210");
    s.apply("legacy", &manifest).await;
    let waiting = s.wait_condition("legacy", "Stalled", "True").await;
    let stalled = wait::condition(&waiting.status.as_ref().unwrap().conditions, "Stalled")
        .unwrap()
        .clone();
    assert_eq!(stalled.reason, "AwaitingApproval");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(s.control().count("DeleteDomain", None), 0);
}

#[tokio::test]
async fn a_key_disabled_later_is_reported_with_a_warning_and_recovers() {
    let s = setup("dom-keylater").await;
    let key_arn = s.key("alias/studio").await;
    s.apply("platform", &domain_manifest("platform", "alias/studio")).await;
    s.wait_ready("platform").await;
    s.kms.disable_key().key_id(&key_arn).send().await.unwrap();
    let domains = s.domains.clone();
    let domain = wait::until("KmsKeyValid=False after a resync", TIMEOUT, || {
        let domains = domains.clone();
        async move {
            let d = domains.get("platform").await.map_err(|e| e.to_string())?;
            let conditions = d.status.clone().unwrap_or_default().conditions;
            if has(&conditions, "KmsKeyValid", "False") {
                Ok(d)
            } else {
                Err(format!("{conditions:#?}"))
            }
        }
    })
    .await;
    let conditions = domain.status.unwrap().conditions;
    assert!(has(&conditions, "Ready", "False"));
    assert_eq!(
        wait::condition(&conditions, "KmsKeyValid").unwrap().reason,
        "KmsKeyNotEnabled"
    );
    let warnings = s.events("KmsKeyInvalid").await;
    assert!(!warnings.is_empty(), "a Warning event for the key");
    assert_eq!(warnings[0].type_.as_deref(), Some("Warning"));
    s.kms.enable_key().key_id(&key_arn).send().await.unwrap();
    s.wait_ready("platform").await;
    assert_eq!(s.control().count("CreateDomain", None), 1);
}

#[tokio::test]
async fn members_the_operator_does_not_manage_block_recreation_and_deletion() {
    let s = setup("dom-unmanaged").await;
    s.key("alias/studio").await;
    let mut manifest = domain_manifest("platform", "alias/studio");
    s.apply("platform", &manifest).await;
    let id = s.wait_ready("platform").await.status.unwrap().domain_id.unwrap();
    // A profile someone created by hand: no ownership tags.
    s.sagemaker
        .create_user_profile()
        .domain_id(&id)
        .user_profile_name("handmade")
        .send()
        .await
        .unwrap();

    manifest["spec"]["network"]["vpcId"] = json!("vpc-0fedcba9876543210");
    s.apply("platform", &manifest).await;
    let blocked = s.wait_condition("platform", "Stalled", "True").await;
    let stalled = wait::condition(&blocked.status.as_ref().unwrap().conditions, "Stalled")
        .unwrap()
        .clone();
    assert_eq!(stalled.reason, "RecreationBlocked");
    assert!(stalled.message.contains("user profile handmade"), "{}", stalled.message);
    assert_eq!(s.control().count("DeleteUserProfile", None), 0);

    // Revert the change, then delete: the unmanaged profile blocks the deletion.
    manifest["spec"]["network"]["vpcId"] = json!("vpc-0a1b2c3d4e5f67890");
    s.domains
        .patch(
            "platform",
            &PatchParams::apply("e2e-test").force(),
            &Patch::Apply(&manifest),
        )
        .await
        .unwrap();
    s.wait_ready("platform").await;
    s.domains.delete("platform", &DeleteParams::default()).await.unwrap();
    let domains = s.domains.clone();
    wait::until("DeletionBlocked", TIMEOUT, || {
        let domains = domains.clone();
        async move {
            let d = domains.get("platform").await.map_err(|e| e.to_string())?;
            let conditions = d.status.clone().unwrap_or_default().conditions;
            let stalled = wait::condition(&conditions, "Stalled").cloned();
            match stalled {
                Some(c) if c.status == "True" && c.reason == "DeletionBlocked" && c.message.contains("handmade") => {
                    Ok(())
                }
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await;
    assert_eq!(
        s.control().count("DeleteUserProfile", None),
        0,
        "an unmanaged profile is never deleted"
    );
    assert_eq!(s.control().count("DeleteDomain", None), 0);
    s.sagemaker
        .delete_user_profile()
        .domain_id(&id)
        .user_profile_name("handmade")
        .send()
        .await
        .unwrap();
    let domains = s.domains.clone();
    wait::until("resource deleted once the domain is free", TIMEOUT, || {
        let domains = domains.clone();
        async move {
            match domains.get_opt("platform").await.map_err(|e| e.to_string())? {
                None => Ok(()),
                Some(d) => Err(format!("{:?}", d.status)),
            }
        }
    })
    .await;
}

#[tokio::test]
async fn deleting_a_namespace_with_retained_members_leaves_aws_untouched() {
    use k8s_openapi::api::core::v1::Namespace;
    use kube::Api;
    use serde_json::json;
    use studio_operator::api::UserProfile;

    let client = crate::support::TestEnv::get().client().await;
    let platform = crate::support::TestNamespace::new(&client, "safe-ns").await;
    let tenant = crate::support::TestNamespace::new(&client, "safe-ns-tenant").await;
    let operator = crate::support::TestOperator::start_watching(&client, &[&platform.name, &tenant.name]).await;
    let config = crate::support::operator::sdk_config(&operator.emulator.endpoint());
    let s = crate::domain::Setup {
        domains: Api::namespaced(client.clone(), &platform.name),
        kms: aws_sdk_kms::Client::new(&config),
        sagemaker: aws_sdk_sagemaker::Client::new(&config),
        client: client.clone(),
        namespace: platform,
        operator,
    };
    let mut domain = crate::domain::domain_manifest("platform", "alias/studio");
    domain["spec"]["tenancy"] =
        json!({"allowedNamespaces": {"matchLabels": {"kubernetes.io/metadata.name": tenant.name}}});
    let domain_id = crate::profile::ready_domain(&s, domain).await;
    let profiles: Api<UserProfile> = Api::namespaced(client.clone(), &tenant.name);
    let mut kept = crate::profile::profile_manifest("kept", "platform");
    kept["spec"]["domainRef"]["namespace"] = json!(s.namespace.name);
    kept["spec"]["deletionPolicy"] = json!("Retain");
    crate::profile::apply(&profiles, "kept", &kept).await;
    let status = crate::profile::wait_profile(&profiles, "kept", "Ready", "True").await;
    let arn = status.user_profile_arn.unwrap();

    // The whole tenant namespace goes away.
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces.delete(&tenant.name, &Default::default()).await.unwrap();
    crate::profile::wait_gone(&namespaces, &tenant.name).await;
    assert_eq!(s.control().count("DeleteUserProfile", None), 0);
    let profile = s
        .sagemaker
        .describe_user_profile()
        .domain_id(&domain_id)
        .user_profile_name("kept")
        .send()
        .await
        .unwrap();
    assert_eq!(profile.status().map(|st| st.as_str()), Some("InService"));
    let tags = crate::profile::tags_of(&s, &arn).await;
    assert!(
        tags.iter().all(|(k, _)| !k.starts_with("studio-operator.io/")),
        "only the ownership tags are removed: {tags:?}"
    );
    assert!(tags.iter().any(|(k, v)| k == "team" && v == "forecasting"), "{tags:?}");
}
