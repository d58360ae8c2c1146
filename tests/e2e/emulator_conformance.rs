//! Conformance of the AWS emulator (hack/aws-emulator) with the real services'
//! wire behaviour, driven through the real aws-sdk-sagemaker, aws-sdk-kms and
//! aws-sdk-sts clients: typed errors, retries, paginators, account isolation
//! and status lifecycles under the emulated clock.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_emulator::{Config, Delays, Emulator, FaultKind, FaultRule, LaunchApp, Quotas, RateLimit, ResourceRef, Scope};
use aws_sdk_kms::types::{KeySpec, KeyState, KeyUsageType};
use aws_sdk_sagemaker::error::ProvideErrorMetadata;
use aws_sdk_sagemaker::types::{
    AppNetworkAccessType, AppStatus, AppType, AuthMode, DomainStatus, OwnershipSettings, ResourceSpec, RetentionPolicy,
    RetentionType, SharingType, SpaceSettings, SpaceSharingSettings, Tag, UserSettings,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ROLE: &str = "arn:aws:iam::123456789012:role/StudioExecution";
const OTHER_ACCOUNT: &str = "210987654321";

/// Delays of zero make transitions visible on the next call.
fn instant() -> Config {
    Config {
        delays: Delays::uniform(0.0),
        ..Config::default()
    }
}

async fn sdk_config(emu: &Emulator, access_key: &str, secret: &str, token: Option<String>) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(emu.endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(access_key, secret, token, None, "conformance"))
        .retry_config(RetryConfig::standard().with_initial_backoff(Duration::from_millis(10)))
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_secs(5))
                .build(),
        )
        .load()
        .await
}

struct Clients {
    sm: aws_sdk_sagemaker::Client,
    kms: aws_sdk_kms::Client,
    sts: aws_sdk_sts::Client,
}

async fn clients(emu: &Emulator) -> Clients {
    let conf = sdk_config(emu, "AKIATESTTESTTEST", "test", None).await;
    Clients {
        sm: aws_sdk_sagemaker::Client::new(&conf),
        kms: aws_sdk_kms::Client::new(&conf),
        sts: aws_sdk_sts::Client::new(&conf),
    }
}

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build()
}

/// CreateDomain with the members the emulator requires.
fn create_domain(
    sm: &aws_sdk_sagemaker::Client,
    name: &str,
) -> aws_sdk_sagemaker::operation::create_domain::builders::CreateDomainFluentBuilder {
    sm.create_domain()
        .domain_name(name)
        .auth_mode(AuthMode::Iam)
        .default_user_settings(UserSettings::builder().execution_role(ROLE).build())
        .vpc_id("vpc-0123456789abcdef0")
        .subnet_ids("subnet-0a")
        .subnet_ids("subnet-0b")
}

async fn domain_status(sm: &aws_sdk_sagemaker::Client, id: &str) -> DomainStatus {
    sm.describe_domain()
        .domain_id(id)
        .send()
        .await
        .expect("describe")
        .status()
        .cloned()
        .expect("status")
}

#[tokio::test]
async fn domain_lifecycle_follows_the_emulated_clock() {
    let emu = Emulator::start(Config::default()).await.unwrap();
    let c = clients(&emu).await;

    let created = create_domain(&c.sm, "studio")
        .tags(tag("team", "ml"))
        .send()
        .await
        .unwrap();
    let id = created.domain_id().unwrap().to_string();
    assert_eq!(id.len(), 14, "d- plus 12 characters: {id}");
    assert!(id.starts_with("d-") && id[2..].chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit()));
    assert_eq!(
        created.domain_arn().unwrap(),
        format!("arn:aws:sagemaker:us-east-1:123456789012:domain/{id}")
    );
    assert_eq!(
        created.url().unwrap(),
        format!("https://{id}.studio.us-east-1.sagemaker.aws")
    );

    let d = c.sm.describe_domain().domain_id(&id).send().await.unwrap();
    assert_eq!(d.status(), Some(&DomainStatus::Pending));
    assert_eq!(d.auth_mode(), Some(&AuthMode::Iam));
    assert_eq!(d.default_user_settings().and_then(|u| u.execution_role()), Some(ROLE));
    assert_eq!(
        d.app_network_access_type(),
        Some(&AppNetworkAccessType::PublicInternetOnly)
    );
    assert!(d.home_efs_file_system_id().is_none(), "no EFS before InService");

    emu.advance(2.5);
    let d = c.sm.describe_domain().domain_id(&id).send().await.unwrap();
    assert_eq!(d.status(), Some(&DomainStatus::InService));
    let efs = d.home_efs_file_system_id().unwrap().to_string();
    assert!(efs.starts_with("fs-") && efs.len() == 20, "{efs}");

    // Duplicate name, unknown id, bad name.
    let err = create_domain(&c.sm, "studio")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_in_use(), "{err:?}");
    let err =
        c.sm.describe_domain()
            .domain_id("d-000000000000")
            .send()
            .await
            .unwrap_err()
            .into_service_error();
    assert!(err.is_resource_not_found(), "{err:?}");
    let err = create_domain(&c.sm, "bad_name")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ValidationException"));
    assert!(err.message().unwrap().contains("domainName"), "{:?}", err.message());

    // VpcOnly without VpcId and SubnetIds.
    let err =
        c.sm.update_domain()
            .domain_id(&id)
            .app_network_access_type(AppNetworkAccessType::VpcOnly)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
    assert_eq!(err.code(), Some("ValidationException"));
    assert_eq!(
        err.message(),
        Some("VpcId and Subnet IDs are required for updating domains to VpcOnly mode.")
    );

    // Update -> Updating; a second update while Updating is ResourceInUse.
    let ds = UserSettings::builder()
        .execution_role(ROLE)
        .security_groups("sg-1")
        .build();
    c.sm.update_domain()
        .domain_id(&id)
        .default_user_settings(ds.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(domain_status(&c.sm, &id).await, DomainStatus::Updating);
    let err =
        c.sm.update_domain()
            .domain_id(&id)
            .default_user_settings(ds)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
    assert!(err.is_resource_in_use(), "{err:?}");
    emu.advance(1.5);
    assert_eq!(domain_status(&c.sm, &id).await, DomainStatus::InService);

    // A profile blocks domain deletion.
    c.sm.create_user_profile()
        .domain_id(&id)
        .user_profile_name("alice")
        .send()
        .await
        .unwrap();
    let err =
        c.sm.delete_domain()
            .domain_id(&id)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
    assert!(err.is_resource_in_use(), "{err:?}");
    emu.advance(1.5);
    c.sm.delete_user_profile()
        .domain_id(&id)
        .user_profile_name("alice")
        .send()
        .await
        .unwrap();
    let p =
        c.sm.describe_user_profile()
            .domain_id(&id)
            .user_profile_name("alice")
            .send()
            .await
            .unwrap();
    assert_eq!(p.status().map(|s| s.as_str()), Some("Deleting"));
    emu.advance(1.5);
    let err =
        c.sm.describe_user_profile()
            .domain_id(&id)
            .user_profile_name("alice")
            .send()
            .await
            .unwrap_err()
            .into_service_error();
    assert!(err.is_resource_not_found(), "{err:?}");

    // Deleting -> gone, EFS deleted per RetentionPolicy.
    c.sm.delete_domain()
        .domain_id(&id)
        .retention_policy(
            RetentionPolicy::builder()
                .home_efs_file_system(RetentionType::Delete)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(domain_status(&c.sm, &id).await, DomainStatus::Deleting);
    assert_eq!(c.sm.list_domains().send().await.unwrap().domains().len(), 1);
    emu.advance(1.5);
    let err =
        c.sm.describe_domain()
            .domain_id(&id)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
    assert!(err.is_resource_not_found());
    assert!(c.sm.list_domains().send().await.unwrap().domains().is_empty());
    let fs = emu.efs_file_systems();
    assert_eq!(fs.len(), 1);
    assert_eq!(
        (fs[0].file_system_id.as_str(), fs[0].state.as_str()),
        (efs.as_str(), "deleted")
    );
    assert_eq!(fs[0].retention.as_deref(), Some("Delete"));
}

#[tokio::test]
async fn kms_keys_aliases_and_domain_failure() {
    let emu = Emulator::start(instant()).await.unwrap();
    let c = clients(&emu).await;

    let meta = c
        .kms
        .create_key()
        .description("studio")
        .send()
        .await
        .unwrap()
        .key_metadata()
        .cloned()
        .unwrap();
    let key_id = meta.key_id().to_string();
    let key_arn = meta.arn().unwrap().to_string();
    assert_eq!(key_arn, format!("arn:aws:kms:us-east-1:123456789012:key/{key_id}"));
    assert_eq!(meta.key_state(), Some(&KeyState::Enabled));
    assert_eq!(meta.key_manager().map(|m| m.as_str()), Some("CUSTOMER"));
    assert_eq!(meta.key_spec(), Some(&KeySpec::SymmetricDefault));
    assert_eq!(meta.key_usage(), Some(&KeyUsageType::EncryptDecrypt));
    assert_eq!(meta.multi_region(), Some(false));
    assert!(meta.creation_date().is_some());

    c.kms
        .create_alias()
        .alias_name("alias/studio")
        .target_key_id(&key_id)
        .send()
        .await
        .unwrap();
    let err = c
        .kms
        .create_alias()
        .alias_name("alias/studio")
        .target_key_id(&key_id)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_already_exists_exception(), "{err:?}");
    for reference in [
        key_id.clone(),
        key_arn.clone(),
        "alias/studio".into(),
        "arn:aws:kms:us-east-1:123456789012:alias/studio".into(),
    ] {
        let m = c.kms.describe_key().key_id(&reference).send().await.unwrap();
        assert_eq!(m.key_metadata().unwrap().key_id(), key_id, "{reference}");
    }
    let err = c
        .kms
        .describe_key()
        .key_id("11111111-2222-3333-4444-555555555555")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_not_found_exception(), "{err:?}");
    let err = c
        .kms
        .describe_key()
        .key_id("arn:aws:kms:nope")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_arn_exception(), "{err:?}");

    let rsa = c
        .kms
        .create_key()
        .key_spec(KeySpec::Rsa2048)
        .key_usage(KeyUsageType::SignVerify)
        .send()
        .await
        .unwrap();
    assert_eq!(rsa.key_metadata().unwrap().key_spec(), Some(&KeySpec::Rsa2048));
    let err = c
        .kms
        .create_key()
        .key_spec(KeySpec::SymmetricDefault)
        .key_usage(KeyUsageType::SignVerify)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.into_service_error().code(), Some("ValidationException"));

    let keys = c.kms.list_keys().send().await.unwrap();
    assert_eq!(keys.keys().len(), 2);
    let aliases = c.kms.list_aliases().key_id(&key_id).send().await.unwrap();
    assert_eq!(aliases.aliases().len(), 1);
    assert_eq!(aliases.aliases()[0].target_key_id(), Some(key_id.as_str()));

    // AWS-managed keys, via the control API and by describing a predefined alias.
    let managed = emu.create_aws_managed_key(&Scope::default(), "alias/aws/sagemaker");
    assert_eq!(managed["KeyManager"], "AWS");
    let m = c.kms.describe_key().key_id("alias/aws/sagemaker").send().await.unwrap();
    assert_eq!(m.key_metadata().unwrap().key_manager().map(|m| m.as_str()), Some("AWS"));

    // A disabled key makes the domain fail asynchronously; KmsKeyId is echoed as sent.
    c.kms.disable_key().key_id("alias/studio").send().await.unwrap();
    let d = create_domain(&c.sm, "encrypted")
        .kms_key_id("alias/studio")
        .send()
        .await
        .unwrap();
    let id = d.domain_id().unwrap();
    let desc = c.sm.describe_domain().domain_id(id).send().await.unwrap();
    assert_eq!(desc.status(), Some(&DomainStatus::Failed));
    assert_eq!(desc.kms_key_id(), Some("alias/studio"));
    assert_eq!(
        desc.failure_reason(),
        Some(
            format!("Unable to create Amazon EFS for domain '{id}' because KMS key 'alias/studio' is disabled.")
                .as_str()
        )
    );
    let d = create_domain(&c.sm, "missing-key")
        .kms_key_id("alias/none")
        .send()
        .await
        .unwrap();
    let desc =
        c.sm.describe_domain()
            .domain_id(d.domain_id().unwrap())
            .send()
            .await
            .unwrap();
    assert!(
        desc.failure_reason()
            .unwrap()
            .ends_with("because KMS key 'alias/none' does not exist.")
    );

    // Enabled key: InService.
    c.kms.enable_key().key_id(&key_id).send().await.unwrap();
    let d = create_domain(&c.sm, "good-key")
        .kms_key_id(&key_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        domain_status(&c.sm, d.domain_id().unwrap()).await,
        DomainStatus::InService
    );

    // Pending deletion.
    let del = c
        .kms
        .schedule_key_deletion()
        .key_id(&key_id)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    assert_eq!(del.key_state(), Some(&KeyState::PendingDeletion));
    let m = c.kms.describe_key().key_id(&key_id).send().await.unwrap();
    assert!(m.key_metadata().unwrap().deletion_date().is_some());
    let err = c
        .kms
        .enable_key()
        .key_id(&key_id)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_kms_invalid_state_exception(), "{err:?}");
    emu.advance(7.0 * 86_400.0 + 1.0);
    let err = c
        .kms
        .describe_key()
        .key_id(&key_id)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_not_found_exception(), "{err:?}");
}

#[tokio::test]
async fn profiles_spaces_apps_tags_and_lifecycle_configs() {
    let emu = Emulator::start(instant()).await.unwrap();
    let c = clients(&emu).await;
    let id = create_domain(&c.sm, "apps")
        .tags(tag("cost-center", "42"))
        .send()
        .await
        .unwrap()
        .domain_id()
        .unwrap()
        .to_string();

    // SSO members are refused in IAM domains.
    let err =
        c.sm.create_user_profile()
            .domain_id(&id)
            .user_profile_name("bob")
            .single_sign_on_user_identifier("UserName")
            .single_sign_on_user_value("bob")
            .send()
            .await
            .unwrap_err();
    assert_eq!(err.into_service_error().code(), Some("ValidationException"));

    let arn =
        c.sm.create_user_profile()
            .domain_id(&id)
            .user_profile_name("Alice")
            .tags(tag("owner", "alice"))
            .send()
            .await
            .unwrap()
            .user_profile_arn()
            .unwrap()
            .to_string();
    assert_eq!(
        arn,
        format!("arn:aws:sagemaker:us-east-1:123456789012:user-profile/{id}/alice")
    );
    let err =
        c.sm.create_user_profile()
            .domain_id(&id)
            .user_profile_name("alice")
            .send()
            .await
            .unwrap_err()
            .into_service_error();
    assert!(err.is_resource_in_use(), "names are case-insensitive: {err:?}");
    let p =
        c.sm.describe_user_profile()
            .domain_id(&id)
            .user_profile_name("alice")
            .send()
            .await
            .unwrap();
    assert_eq!(p.home_efs_file_system_uid(), Some("200001"));

    // A private space owned by the profile.
    let space_arn =
        c.sm.create_space()
            .domain_id(&id)
            .space_name("alice-lab")
            .space_settings(SpaceSettings::builder().app_type(AppType::JupyterLab).build())
            .ownership_settings(OwnershipSettings::builder().owner_user_profile_name("Alice").build())
            .space_sharing_settings(
                SpaceSharingSettings::builder()
                    .sharing_type(SharingType::Private)
                    .build(),
            )
            .send()
            .await
            .unwrap()
            .space_arn()
            .unwrap()
            .to_string();
    assert_eq!(
        space_arn,
        format!("arn:aws:sagemaker:us-east-1:123456789012:space/{id}/alice-lab")
    );
    let s =
        c.sm.describe_space()
            .domain_id(&id)
            .space_name("alice-lab")
            .send()
            .await
            .unwrap();
    assert_eq!(s.home_efs_file_system_uid(), Some("200002"));
    let err =
        c.sm.update_space()
            .domain_id(&id)
            .space_name("alice-lab")
            .space_settings(SpaceSettings::builder().app_type(AppType::JupyterLab).build())
            .send()
            .await
            .unwrap_err()
            .into_service_error();
    assert_eq!(err.message(), Some("Updating AppType for Space is not supported."));

    // Apps: one per (owner, type, name); tags propagate from domain and owner.
    let app_arn =
        c.sm.create_app()
            .domain_id(&id)
            .space_name("alice-lab")
            .app_type(AppType::JupyterLab)
            .app_name("default")
            .resource_spec(
                ResourceSpec::builder()
                    .instance_type(aws_sdk_sagemaker::types::AppInstanceType::MlT3Large)
                    .build(),
            )
            .tags(tag("app", "lab"))
            .send()
            .await
            .unwrap()
            .app_arn()
            .unwrap()
            .to_string();
    assert_eq!(
        app_arn,
        format!("arn:aws:sagemaker:us-east-1:123456789012:app/{id}/alice-lab/jupyterlab/default")
    );
    let err =
        c.sm.create_app()
            .domain_id(&id)
            .space_name("alice-lab")
            .app_type(AppType::JupyterLab)
            .app_name("default")
            .send()
            .await
            .unwrap_err()
            .into_service_error();
    assert!(err.is_resource_in_use(), "{err:?}");
    let tags = c.sm.list_tags().resource_arn(&app_arn).send().await.unwrap();
    let keys: Vec<&str> = tags.tags().iter().filter_map(|t| t.key()).collect();
    assert_eq!(keys, ["cost-center", "app"]);

    c.sm.create_app()
        .domain_id(&id)
        .user_profile_name("alice")
        .app_type(AppType::JupyterServer)
        .app_name("default")
        .send()
        .await
        .unwrap();
    let err =
        c.sm.delete_user_profile()
            .domain_id(&id)
            .user_profile_name("alice")
            .send()
            .await
            .unwrap_err()
            .into_service_error();
    assert!(err.is_resource_in_use());
    assert_eq!(
        err.message(),
        Some(format!("Unable to delete UserProfile [{arn}] because App(s) are associated with it.").as_str())
    );
    let err =
        c.sm.delete_space()
            .domain_id(&id)
            .space_name("alice-lab")
            .send()
            .await
            .unwrap_err()
            .into_service_error();
    assert!(err.is_resource_in_use());

    // Health-check timestamps move with the clock.
    let describe_lab = || {
        c.sm.describe_app()
            .domain_id(&id)
            .space_name("alice-lab")
            .app_type(AppType::JupyterLab)
            .app_name("default")
            .send()
    };
    let a = describe_lab().await.unwrap();
    assert_eq!(a.status(), Some(&AppStatus::InService));
    assert_eq!(
        a.resource_spec().and_then(|r| r.instance_type()).map(|t| t.as_str()),
        Some("ml.t3.large")
    );
    let h0 = a.last_health_check_timestamp().unwrap().secs();
    assert_eq!(a.last_user_activity_timestamp().unwrap().secs(), h0);
    emu.advance(601.0);
    let a = describe_lab().await.unwrap();
    assert_eq!(a.last_health_check_timestamp().unwrap().secs(), h0 + 600);
    assert_eq!(a.last_user_activity_timestamp().unwrap().secs(), h0 + 600);

    // DeleteApp -> Deleted, still listed until 24 h pass.
    c.sm.delete_app()
        .domain_id(&id)
        .space_name("alice-lab")
        .app_type(AppType::JupyterLab)
        .app_name("default")
        .send()
        .await
        .unwrap();
    assert_eq!(describe_lab().await.unwrap().status(), Some(&AppStatus::Deleted));
    let apps =
        c.sm.list_apps()
            .domain_id_equals(&id)
            .space_name_equals("alice-lab")
            .send()
            .await
            .unwrap();
    assert_eq!(apps.apps().len(), 1);
    assert_eq!(apps.apps()[0].status(), Some(&AppStatus::Deleted));
    c.sm.delete_space()
        .domain_id(&id)
        .space_name("alice-lab")
        .send()
        .await
        .unwrap();
    emu.advance(86_401.0);
    let apps = c.sm.list_apps().domain_id_equals(&id).send().await.unwrap();
    assert_eq!(apps.apps().len(), 1, "only the JupyterServer app remains");
    let err = describe_lab().await.unwrap_err().into_service_error();
    assert!(err.is_resource_not_found());
    let err =
        c.sm.list_apps()
            .user_profile_name_equals("alice")
            .space_name_equals("x")
            .send()
            .await
            .unwrap_err();
    assert_eq!(err.into_service_error().code(), Some("ValidationException"));

    // Tags API.
    c.sm.add_tags()
        .resource_arn(&arn)
        .tags(tag("extra", "1"))
        .send()
        .await
        .unwrap();
    c.sm.delete_tags()
        .resource_arn(&arn)
        .tag_keys("owner")
        .send()
        .await
        .unwrap();
    let t = c.sm.list_tags().resource_arn(&arn).send().await.unwrap();
    assert_eq!(t.tags().iter().filter_map(|t| t.key()).collect::<Vec<_>>(), ["extra"]);
    let err =
        c.sm.list_tags()
            .resource_arn(&arn)
            .max_results(10)
            .send()
            .await
            .unwrap_err();
    assert_eq!(err.into_service_error().code(), Some("ValidationException"));

    // Studio lifecycle configs.
    use aws_sdk_sagemaker::types::StudioLifecycleConfigAppType as LccType;
    let lcc =
        c.sm.create_studio_lifecycle_config()
            .studio_lifecycle_config_name("auto-stop")
            .studio_lifecycle_config_content("ZWNobyBoaQ==")
            .studio_lifecycle_config_app_type(LccType::JupyterLab)
            .send()
            .await
            .unwrap();
    assert_eq!(
        lcc.studio_lifecycle_config_arn(),
        Some("arn:aws:sagemaker:us-east-1:123456789012:studio-lifecycle-config/auto-stop")
    );
    let err =
        c.sm.create_studio_lifecycle_config()
            .studio_lifecycle_config_name("auto-stop")
            .studio_lifecycle_config_content("ZWNobyBoaQ==")
            .studio_lifecycle_config_app_type(LccType::JupyterLab)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
    assert!(err.is_resource_in_use());
    let d =
        c.sm.describe_studio_lifecycle_config()
            .studio_lifecycle_config_name("auto-stop")
            .send()
            .await
            .unwrap();
    assert_eq!(d.studio_lifecycle_config_content(), Some("ZWNobyBoaQ=="));
    assert_eq!(
        c.sm.list_studio_lifecycle_configs()
            .send()
            .await
            .unwrap()
            .studio_lifecycle_configs()
            .len(),
        1
    );
    c.sm.delete_studio_lifecycle_config()
        .studio_lifecycle_config_name("auto-stop")
        .send()
        .await
        .unwrap();
    let err =
        c.sm.describe_studio_lifecycle_config()
            .studio_lifecycle_config_name("auto-stop")
            .send()
            .await
            .unwrap_err()
            .into_service_error();
    assert!(err.is_resource_not_found());
}

#[tokio::test]
async fn sdk_paginators_walk_every_page() {
    let emu = Emulator::start(instant()).await.unwrap();
    let c = clients(&emu).await;
    let id = create_domain(&c.sm, "many")
        .send()
        .await
        .unwrap()
        .domain_id()
        .unwrap()
        .to_string();
    for i in 0..25 {
        c.sm.create_user_profile()
            .domain_id(&id)
            .user_profile_name(format!("user-{i:02}"))
            .send()
            .await
            .unwrap();
    }
    let mut pages =
        c.sm.list_user_profiles()
            .domain_id_equals(&id)
            .max_results(10)
            .into_paginator()
            .send();
    let mut sizes = Vec::new();
    let mut names = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.unwrap();
        sizes.push(page.user_profiles().len());
        names.extend(
            page.user_profiles()
                .iter()
                .filter_map(|p| p.user_profile_name().map(String::from)),
        );
    }
    assert_eq!(sizes, [10, 10, 5]);
    assert_eq!(names.first().map(String::as_str), Some("user-00"));
    assert_eq!(names.len(), 25);

    let filtered =
        c.sm.list_user_profiles()
            .user_profile_name_contains("user-1")
            .sort_order(aws_sdk_sagemaker::types::SortOrder::Descending)
            .send()
            .await
            .unwrap();
    assert_eq!(filtered.user_profiles().len(), 10);
    assert_eq!(filtered.user_profiles()[0].user_profile_name(), Some("user-19"));

    for i in 0..3 {
        c.sm.create_space()
            .domain_id(&id)
            .space_name(format!("shared-{i}"))
            .send()
            .await
            .unwrap();
    }
    let spaces: Vec<_> =
        c.sm.list_spaces()
            .max_results(1)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .unwrap();
    assert_eq!(spaces.len(), 3);

    let err = c.sm.list_domains().max_results(0).send().await.unwrap_err();
    assert_eq!(err.into_service_error().code(), Some("ValidationException"));
    let err = c.sm.list_domains().next_token("garbage").send().await.unwrap_err();
    assert_eq!(err.into_service_error().code(), Some("ValidationException"));
}

#[tokio::test]
async fn sdk_retries_recover_from_throttling_and_faults() {
    let emu = Emulator::start(instant()).await.unwrap();
    let c = clients(&emu).await;

    emu.inject_fault(FaultRule {
        target: "ListDomains".into(),
        kind: FaultKind::Throttling,
        probability: None,
        count: Some(2),
        delay_ms: None,
    });
    c.sm.list_domains().send().await.expect("standard retry recovers");
    let counts = emu.call_counts();
    assert_eq!(counts["ListDomains"]["ThrottlingException"], 2);
    assert_eq!(counts["ListDomains"]["ok"], 1);
    assert_eq!(emu.calls().len(), 3);

    emu.clear_calls();
    emu.inject_fault(FaultRule {
        target: "read".into(),
        kind: FaultKind::InternalFailure,
        probability: None,
        count: Some(1),
        delay_ms: None,
    });
    emu.inject_fault(FaultRule {
        target: "kms".into(),
        kind: FaultKind::ServiceUnavailable,
        probability: None,
        count: Some(1),
        delay_ms: None,
    });
    c.sm.list_apps().send().await.expect("retried after 500");
    c.kms.list_keys().send().await.expect("retried after 503");
    assert_eq!(emu.count("ListApps", Some("InternalFailure")), 1);
    assert_eq!(emu.count("ListKeys", Some("ServiceUnavailable")), 1);

    emu.inject_fault(FaultRule {
        target: "DescribeKey".into(),
        kind: FaultKind::DropConnection,
        probability: None,
        count: Some(1),
        delay_ms: None,
    });
    let err = c
        .kms
        .describe_key()
        .key_id("alias/none")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        err.is_not_found_exception(),
        "answered after the dropped attempt: {err:?}"
    );
    assert_eq!(emu.count("DescribeKey", Some("dropped")), 1);

    // Throttling beyond the retry budget surfaces as ThrottlingException.
    emu.add_rate_limit(RateLimit {
        target: "mutating".into(),
        rate_per_sec: 0.001,
        burst: 1.0,
    });
    c.sm.create_user_profile()
        .domain_id("d-nothere00000")
        .user_profile_name("x")
        .send()
        .await
        .unwrap_err();
    let err =
        c.sm.create_user_profile()
            .domain_id("d-nothere00000")
            .user_profile_name("x")
            .send()
            .await
            .unwrap_err();
    assert_eq!(err.into_service_error().code(), Some("ThrottlingException"));
    let throttled = emu
        .calls()
        .into_iter()
        .filter(|r| r.outcome == "ThrottlingException")
        .count();
    assert_eq!(throttled, 3, "one call, three attempts");
    emu.clear_rate_limits();

    // Quotas.
    emu.set_quotas(Quotas {
        domains: 1,
        ..Quotas::default()
    });
    create_domain(&c.sm, "one").send().await.unwrap();
    let err = create_domain(&c.sm, "two")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_limit_exceeded(), "{err:?}");
}

#[tokio::test]
async fn assumed_role_credentials_act_in_the_role_account() {
    let emu = Emulator::start(instant()).await.unwrap();
    let c = clients(&emu).await;

    let me = c.sts.get_caller_identity().send().await.unwrap();
    assert_eq!(me.account(), Some("123456789012"));

    let out = c
        .sts
        .assume_role()
        .role_arn(format!("arn:aws:iam::{OTHER_ACCOUNT}:role/Operator"))
        .role_session_name("e2e")
        .send()
        .await
        .unwrap();
    let creds = out.credentials().unwrap();
    assert!(creds.access_key_id().starts_with("ASIA"));
    assert_eq!(
        out.assumed_role_user().unwrap().arn(),
        format!("arn:aws:sts::{OTHER_ACCOUNT}:assumed-role/Operator/e2e")
    );
    let err = c
        .sts
        .assume_role()
        .role_arn("not-an-arn")
        .role_session_name("e2e")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.into_service_error().code(), Some("ValidationError"));

    let other = sdk_config(
        &emu,
        creds.access_key_id(),
        creds.secret_access_key(),
        Some(creds.session_token().into()),
    )
    .await;
    let other_sts = aws_sdk_sts::Client::new(&other);
    let who = other_sts.get_caller_identity().send().await.unwrap();
    assert_eq!(who.account(), Some(OTHER_ACCOUNT));
    let other_sm = aws_sdk_sagemaker::Client::new(&other);
    let created = create_domain(&other_sm, "studio").send().await.unwrap();
    assert!(
        created
            .domain_arn()
            .unwrap()
            .contains(&format!(":{OTHER_ACCOUNT}:domain/"))
    );
    // Same name in the default account: separate namespaces.
    create_domain(&c.sm, "studio").send().await.unwrap();
    assert_eq!(c.sm.list_domains().send().await.unwrap().domains().len(), 1);
    assert_eq!(other_sm.list_domains().send().await.unwrap().domains().len(), 1);
    let err =
        c.sm.describe_domain()
            .domain_id(created.domain_id().unwrap())
            .send()
            .await
            .unwrap_err()
            .into_service_error();
    assert!(err.is_resource_not_found());
    let accounts: Vec<String> = emu.domains().into_iter().map(|d| d.account).collect();
    assert!(accounts.contains(&OTHER_ACCOUNT.to_string()) && accounts.contains(&"123456789012".to_string()));
}

#[tokio::test]
async fn behind_the_back_controls() {
    let emu = Emulator::start(instant()).await.unwrap();
    let c = clients(&emu).await;
    let scope = Scope::default();
    let id = create_domain(&c.sm, "ui")
        .tags(tag("team", "ml"))
        .send()
        .await
        .unwrap()
        .domain_id()
        .unwrap()
        .to_string();
    c.sm.create_user_profile()
        .domain_id(&id)
        .user_profile_name("carol")
        .send()
        .await
        .unwrap();

    let launch = LaunchApp {
        domain_id: id.clone(),
        user_profile_name: Some("carol".into()),
        app_type: "KernelGateway".into(),
        app_name: "datascience".into(),
        instance_type: Some("ml.m5.large".into()),
        image_arn: Some("arn:aws:sagemaker:us-east-1:081325390199:image/sagemaker-distribution-cpu".into()),
        ..LaunchApp::default()
    };
    emu.launch_app(&scope, &launch).unwrap();
    assert_eq!(emu.launch_app(&scope, &launch).unwrap_err().code, "ResourceInUse");
    let no_instance = LaunchApp {
        app_name: "other".into(),
        instance_type: None,
        ..launch.clone()
    };
    assert_eq!(
        emu.launch_app(&scope, &no_instance).unwrap_err().code,
        "ValidationException"
    );

    let app = ResourceRef::App {
        domain_id: id.clone(),
        user_profile_name: Some("carol".into()),
        space_name: None,
        app_type: "KernelGateway".into(),
        app_name: "datascience".into(),
    };
    emu.set_app_activity(&scope, &app, None, Some(1_700_000_000.0)).unwrap();
    let a =
        c.sm.describe_app()
            .domain_id(&id)
            .user_profile_name("carol")
            .app_type(AppType::KernelGateway)
            .app_name("datascience")
            .send()
            .await
            .unwrap();
    assert_eq!(a.last_user_activity_timestamp().unwrap().secs(), 1_700_000_000);
    assert!(a.last_health_check_timestamp().unwrap().secs() > 1_700_000_000);

    let before =
        c.sm.describe_domain()
            .domain_id(&id)
            .send()
            .await
            .unwrap()
            .last_modified_time()
            .cloned()
            .unwrap();
    emu.advance(10.0);
    emu.patch(
        &scope,
        &ResourceRef::Domain { domain_id: id.clone() },
        &serde_json::json!({"DefaultUserSettings": {"SecurityGroups": ["sg-drift"]}}),
    )
    .unwrap();
    let d = c.sm.describe_domain().domain_id(&id).send().await.unwrap();
    assert_eq!(d.default_user_settings().unwrap().security_groups(), ["sg-drift"]);
    assert_eq!(d.default_user_settings().unwrap().execution_role(), Some(ROLE));
    assert!(d.last_modified_time().unwrap().secs() > before.secs());

    emu.delete(
        &scope,
        &ResourceRef::UserProfile {
            domain_id: id.clone(),
            user_profile_name: "carol".into(),
        },
    )
    .unwrap();
    let err =
        c.sm.describe_user_profile()
            .domain_id(&id)
            .user_profile_name("carol")
            .send()
            .await
            .unwrap_err()
            .into_service_error();
    assert!(err.is_resource_not_found());

    let snapshot = emu.snapshot();
    assert_eq!(snapshot["Partitions"][0]["Domains"][0]["Tags"][0]["Key"], "team");
    assert_eq!(emu.domains()[0].efs_state.as_deref(), Some("available"));

    emu.reset();
    assert!(emu.domains().is_empty());
    assert!(emu.calls().is_empty());
}

/// Sends one raw HTTP/1.1 request and returns the whole response text.
async fn raw_http(emu: &Emulator, request: String) -> String {
    let mut stream = tokio::net::TcpStream::connect(emu.addr()).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn wire_level_protocol_details() {
    let emu = Emulator::start(instant()).await.unwrap();

    let body = "{}";
    let unsigned = raw_http(&emu, format!(
        "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: SageMaker.ListDomains\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )).await;
    assert!(unsigned.starts_with("HTTP/1.1 403"), "{unsigned}");
    assert!(unsigned.contains("MissingAuthenticationTokenException"));
    assert!(unsigned.to_ascii_lowercase().contains("x-amzn-requestid:"));

    emu.inject_fault(FaultRule {
        target: "*".into(),
        kind: FaultKind::Throttling,
        probability: None,
        count: Some(1),
        delay_ms: None,
    });
    let throttled = raw_http(&emu, format!(
        "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: SageMaker.ListDomains\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKID/20261128/us-east-1/sagemaker/aws4_request, SignedHeaders=host, Signature=0\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )).await;
    assert!(throttled.starts_with("HTTP/1.1 400"), "{throttled}");
    assert!(
        throttled
            .to_ascii_lowercase()
            .contains("x-amzn-errortype: throttlingexception")
    );
    assert!(
        throttled.ends_with(r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#),
        "{throttled}"
    );

    let admin = raw_http(&emu, "POST /_emulator/clock/advance HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 16\r\nConnection: close\r\n\r\n{\"seconds\": 3.5}".into()).await;
    assert!(admin.starts_with("HTTP/1.1 200"), "{admin}");
    assert!(emu.now() > 3.0);
}
