//! The AWS adapter (src/aws) against the in-process AWS emulator: settings round trips through
//! the real SDK wire protocol, typed errors, retries, role assumption and the call observer.
//! Needs no kube-apiserver.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_emulator::{Config, Delays, Emulator, FaultKind, FaultRule, LaunchApp, RoleTrust, Scope};
use serde_json::json;
use studio_operator::aws::model::{Document, DomainCreate, DomainUpdate};
use studio_operator::aws::{AwsClients, AwsError, RoleFor};

const REGION: &str = "us-east-1";
const ROLE: &str = "arn:aws:iam::123456789012:role/StudioExecution";
const OTHER_ACCOUNT: &str = "210987654321";
const OTHER_ROLE: &str = "arn:aws:iam::210987654321:role/x";

/// Zero delays: status transitions are visible on the next call.
async fn emulator() -> Emulator {
    Emulator::start(Config {
        delays: Delays::uniform(0.0),
        ..Config::default()
    })
    .await
    .expect("emulator starts")
}

/// What the operator gets from the environment in production, pointed at the emulator.
async fn sdk_config(emu: &Emulator) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(emu.endpoint())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("AKIDEXAMPLE", "secret", None, None, "test"))
        .retry_config(RetryConfig::standard().with_initial_backoff(Duration::from_millis(10)))
        .load()
        .await
}

async fn kms_key(conf: &SdkConfig, alias: &str) -> String {
    let kms = aws_sdk_kms::Client::new(conf);
    let key = kms.create_key().send().await.expect("CreateKey");
    let arn = key.key_metadata.and_then(|m| m.arn).expect("key arn");
    kms.create_alias()
        .alias_name(alias)
        .target_key_id(&arn)
        .send()
        .await
        .expect("CreateAlias");
    arn
}

/// A settings document from JSON (the API's member names).
fn doc(value: serde_json::Value) -> Document {
    match value {
        serde_json::Value::Object(members) => members,
        other => panic!("not an object: {other}"),
    }
}

/// App settings with a default instance type, a lifecycle configuration and optional extras.
fn app(instance_type: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut settings = json!({
        "DefaultResourceSpec": {"InstanceType": instance_type},
        "LifecycleConfigArns": ["arn:aws:sagemaker:us-east-1:123456789012:studio-lifecycle-config/setup"],
    });
    settings.as_object_mut().unwrap().extend(doc(extra));
    settings
}

fn domain_create(name: &str, kms_key_id: &str) -> DomainCreate {
    let idle = json!({"AppLifecycleManagement": {"IdleSettings": {
        "LifecycleManagement": "ENABLED",
        "IdleTimeoutInMinutes": 120,
        "MinIdleTimeoutInMinutes": 60,
        "MaxIdleTimeoutInMinutes": 240,
    }}});
    let mut lab = app("ml.t3.medium", idle.clone());
    lab["CodeRepositories"] = json!([{"RepositoryUrl": "https://github.com/example/notebooks.git"}]);
    DomainCreate {
        name: name.into(),
        auth_mode: "IAM".into(),
        vpc_id: "vpc-0123456789abcdef0".into(),
        subnet_ids: vec!["subnet-a".into(), "subnet-b".into()],
        access_type: "VpcOnly".into(),
        kms_key_id: kms_key_id.into(),
        tag_propagation: true,
        default_user_settings: doc(json!({
            "ExecutionRole": ROLE,
            "SecurityGroups": ["sg-user"],
            "SharingSettings": {"NotebookOutputOption": "Allowed", "S3OutputPath": "s3://bucket/sharing"},
            "JupyterLabAppSettings": lab,
            "CodeEditorAppSettings": app("ml.t3.large", idle),
            "KernelGatewayAppSettings": app("ml.t3.medium", json!({})),
            "SpaceStorageSettings": {"DefaultEbsStorageSettings": {"DefaultEbsVolumeSizeInGb": 5, "MaximumEbsVolumeSizeInGb": 100}},
            "StudioWebPortalSettings": {"HiddenInstanceTypes": ["ml.p4d.24xlarge"], "HiddenAppTypes": ["Canvas"]},
            "AutoMountHomeEFS": "Disabled",
        })),
        default_space_settings: doc(json!({
            "ExecutionRole": ROLE,
            "SecurityGroups": ["sg-space"],
            "JupyterLabAppSettings": app("ml.t3.medium", json!({})),
            "SpaceStorageSettings": {"DefaultEbsStorageSettings": {"DefaultEbsVolumeSizeInGb": 10, "MaximumEbsVolumeSizeInGb": 50}},
        })),
        domain_settings: doc(json!({
            "SecurityGroupIds": ["sg-domain"],
            "ExecutionRoleIdentityConfig": "USER_PROFILE_NAME",
            "DockerSettings": {"EnableDockerAccess": "DISABLED"},
        })),
        tags: BTreeMap::from([
            ("team".to_string(), "ml".to_string()),
            ("studio-operator/owner".to_string(), "ns/name".to_string()),
        ]),
        ..DomainCreate::default()
    }
}

#[tokio::test]
async fn describe_key_by_alias() {
    let emu = emulator().await;
    let conf = sdk_config(&emu).await;
    let arn = kms_key(&conf, "alias/studio").await;
    let session = AwsClients::from_conf(conf).session(REGION, None).await.unwrap();

    let key = session.describe_key("alias/studio").await.unwrap();
    assert_eq!(key.arn, arn);
    assert!(arn.ends_with(&key.key_id));
    assert_eq!(key.key_state, "Enabled");
    assert!(key.enabled);
    assert_eq!(key.key_manager, "CUSTOMER");
    assert_eq!(key.key_spec, "SYMMETRIC_DEFAULT");
    assert_eq!(key.key_usage, "ENCRYPT_DECRYPT");

    let err = session.describe_key("alias/missing").await.unwrap_err();
    assert!(matches!(err, AwsError::NotFound { .. }), "{err:?}");
    assert!(!err.message().is_empty());
}

#[tokio::test]
async fn domain_round_trip_and_update() {
    let emu = emulator().await;
    let conf = sdk_config(&emu).await;
    let key = kms_key(&conf, "alias/studio").await;
    let session = AwsClients::from_conf(conf).session(REGION, None).await.unwrap();
    let desired = domain_create("round-trip", &key);

    let created = session.create_domain(&desired).await.unwrap();
    assert!(created.id.starts_with("d-"));
    assert!(created.arn.ends_with(&created.id));
    assert!(!created.url.is_empty());

    let observed = session
        .describe_domain(&created.id)
        .await
        .unwrap()
        .expect("domain exists");
    assert_eq!(observed.id, created.id);
    assert_eq!(observed.arn, created.arn);
    assert_eq!(observed.name, desired.name);
    assert_eq!(observed.auth_mode, desired.auth_mode);
    assert_eq!(observed.vpc_id.as_deref(), Some(desired.vpc_id.as_str()));
    assert_eq!(observed.subnet_ids, desired.subnet_ids);
    assert_eq!(observed.access_type.as_deref(), Some("VpcOnly"));
    assert_eq!(observed.kms_key_id.as_deref(), Some(key.as_str()));
    assert_eq!(observed.domain_settings, desired.domain_settings);
    assert!(observed.tag_propagation);
    assert_eq!(observed.default_user_settings, desired.default_user_settings);
    assert_eq!(observed.default_space_settings, desired.default_space_settings);
    assert!(observed.last_modified.is_some_and(|t| t > 0.0));
    assert_eq!(session.list_tags(&created.arn).await.unwrap(), desired.tags);

    let listed = session.list_domains().await.unwrap();
    assert!(listed.iter().any(|d| d.id == created.id && d.name == desired.name));

    // Wait for InService (zero delay: the next call sees it), then change the user defaults.
    assert_eq!(
        session.describe_domain(&created.id).await.unwrap().unwrap().status,
        "InService"
    );
    let mut user_settings = desired.default_user_settings.clone();
    user_settings.remove("SecurityGroups");
    user_settings.insert("JupyterLabAppSettings".into(), app("ml.m5.large", json!({})));
    user_settings.remove("CodeEditorAppSettings");
    user_settings.insert(
        "StudioWebPortalSettings".into(),
        json!({"HiddenAppTypes": ["Canvas", "RStudioServerPro"]}),
    );
    let update = DomainUpdate {
        default_user_settings: Some(user_settings.clone()),
        domain_settings: Some(doc(json!({"SecurityGroupIds": ["sg-new"]}))),
        ..DomainUpdate::default()
    };
    session.update_domain(&created.id, &update).await.unwrap();
    let observed = session.describe_domain(&created.id).await.unwrap().unwrap();
    assert_eq!(observed.domain_settings["SecurityGroupIds"], json!(["sg-new"]));
    // Omitted members are kept by UpdateDomain; the ones sent replace what was there.
    let mut expected = desired.default_user_settings.clone();
    for member in ["JupyterLabAppSettings", "StudioWebPortalSettings"] {
        expected.insert(member.into(), user_settings[member].clone());
    }
    assert_eq!(observed.default_user_settings, expected);
    assert_eq!(observed.default_space_settings, desired.default_space_settings);

    // Tags: add, overwrite, delete.
    let extra = BTreeMap::from([
        ("team".to_string(), "data".to_string()),
        ("cost".to_string(), "1".to_string()),
    ]);
    session.add_tags(&created.arn, &extra).await.unwrap();
    session
        .delete_tags(&created.arn, &["studio-operator/owner".to_string()])
        .await
        .unwrap();
    assert_eq!(session.list_tags(&created.arn).await.unwrap(), extra);

    session.delete_domain(&created.id, true).await.unwrap();
    emu.advance(1.0);
    assert_eq!(session.describe_domain(&created.id).await.unwrap(), None);
    let err = session.delete_domain(&created.id, true).await.unwrap_err();
    assert!(matches!(err, AwsError::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn typed_errors() {
    let emu = emulator().await;
    let conf = sdk_config(&emu).await;
    let key = kms_key(&conf, "alias/studio").await;
    let session = AwsClients::from_conf(conf).session(REGION, None).await.unwrap();

    assert_eq!(session.describe_domain("d-doesnotexist").await.unwrap(), None);
    assert_eq!(
        session.describe_user_profile("d-doesnotexist", "p").await.unwrap(),
        None
    );

    let desired = domain_create("dup", &key);
    session.create_domain(&desired).await.unwrap();
    let err = session.create_domain(&desired).await.unwrap_err();
    assert!(matches!(err, AwsError::InUse { .. }), "{err:?}");
    assert!(err.message().contains("already exists"), "{}", err.message());

    let bad = DomainCreate {
        default_user_settings: doc(json!({"ExecutionRole": "not-a-role"})),
        ..domain_create("bad", &key)
    };
    let err = session.create_domain(&bad).await.unwrap_err();
    assert_eq!(err.category(), "validation", "{err:?}");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn throttling_after_sdk_retries_and_observer() {
    let emu = emulator().await;
    let conf = sdk_config(&emu).await;
    let seen: Arc<Mutex<Vec<(&'static str, &'static str)>>> = Arc::default();
    let sink = seen.clone();
    let clients = AwsClients::from_conf(conf).with_call_observer(Arc::new(move |op, outcome| {
        sink.lock().unwrap().push((op, outcome));
    }));
    let session = clients.session(REGION, None).await.unwrap();
    emu.inject_fault(FaultRule {
        target: "DescribeDomain".into(),
        kind: FaultKind::Throttling,
        probability: None,
        count: Some(5),
        delay_ms: None,
    });

    let err = session.describe_domain("d-anything").await.unwrap_err();
    assert!(matches!(err, AwsError::Throttled { .. }), "{err:?}");
    assert_eq!(err.message(), "Rate exceeded");
    // Standard retry mode, 3 attempts in all.
    assert_eq!(emu.count("DescribeDomain", Some("ThrottlingException")), 3);

    // The remaining 2 throttles are absorbed by the SDK's retries.
    assert_eq!(session.describe_domain("d-anything").await.unwrap(), None);
    // The session's first call asked STS for its account (to pick the account's rate limiter).
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            ("GetCallerIdentity", "ok"),
            ("DescribeDomain", "throttled"),
            ("DescribeDomain", "not_found")
        ]
    );

    emu.inject_fault(FaultRule {
        target: "ListDomains".into(),
        kind: FaultKind::InternalFailure,
        probability: None,
        count: None,
        delay_ms: None,
    });
    let err = session.list_domains().await.unwrap_err();
    assert_eq!(err.category(), "transient", "{err:?}");

    // A dropped connection is a dispatch failure: transient too, with the cause in the message.
    emu.inject_fault(FaultRule {
        target: "ListApps".into(),
        kind: FaultKind::DropConnection,
        probability: None,
        count: None,
        delay_ms: None,
    });
    let err = session.list_apps("d-anything").await.unwrap_err();
    assert!(matches!(err, AwsError::Transient { .. }), "{err:?}");
    assert!(!err.message().is_empty());
}

#[tokio::test]
async fn assumed_role_acts_in_its_account_for_one_namespace() {
    let emu = emulator().await;
    let conf = sdk_config(&emu).await;
    let key = kms_key(&conf, "alias/studio").await;
    // The role's trust policy pins the namespace through the ExternalId and asks for the
    // session tags that name the StudioDomain.
    emu.set_role_trust(RoleTrust {
        role_arn: OTHER_ROLE.into(),
        external_id: Some("prod-eu/platform".into()),
        required_session_tags: vec!["studio-operator.io/namespace".into(), "studio-operator.io/name".into()],
    })
    .unwrap();
    let clients = AwsClients::from_conf(conf).with_cluster_id("prod-eu");
    let for_platform = RoleFor {
        arn: OTHER_ROLE,
        namespace: "platform",
        name: "studio",
    };
    let home = clients.session(REGION, None).await.unwrap();
    let other = clients.session(REGION, Some(for_platform)).await.unwrap();
    assert!(Arc::ptr_eq(
        &other,
        &clients.session(REGION, Some(for_platform)).await.unwrap()
    ));
    assert_eq!(other.role_arn(), Some(OTHER_ROLE));
    assert_eq!(other.region(), REGION);

    assert_eq!(home.account_id().await.unwrap(), "123456789012");
    assert_eq!(other.account_id().await.unwrap(), OTHER_ACCOUNT);
    let assumed = emu
        .calls()
        .into_iter()
        .find(|c| c.operation == "AssumeRole" && c.outcome == "ok")
        .expect("an AssumeRole call");
    assert_eq!(assumed.members["ExternalId"], "prod-eu/platform");
    assert_eq!(assumed.members["RoleSessionName"], "so-platform-studio");
    let tags = assumed.members["Tags"].as_array().unwrap();
    assert!(tags.contains(&serde_json::json!({"Key": "studio-operator.io/namespace", "Value": "platform"})));
    assert!(tags.contains(&serde_json::json!({"Key": "studio-operator.io/name", "Value": "studio"})));

    let created = other.create_domain(&domain_create("elsewhere", &key)).await.unwrap();
    assert!(created.arn.contains(OTHER_ACCOUNT), "{}", created.arn);
    assert!(other.list_domains().await.unwrap().iter().any(|d| d.id == created.id));
    assert!(!home.list_domains().await.unwrap().iter().any(|d| d.id == created.id));
    assert_eq!(home.describe_domain(&created.id).await.unwrap(), None);

    // Another namespace's StudioDomain naming the same role is refused by its trust policy.
    let tenant = clients
        .session(
            REGION,
            Some(RoleFor {
                arn: OTHER_ROLE,
                namespace: "team-a",
                name: "grab",
            }),
        )
        .await
        .unwrap();
    let err = tenant.list_domains().await.unwrap_err();
    assert_eq!(err.category(), "access_denied", "{err:?}");

    let err = clients
        .session(
            REGION,
            Some(RoleFor {
                arn: "arn:aws:iam::1:role/x",
                namespace: "platform",
                name: "studio",
            }),
        )
        .await
        .err()
        .unwrap();
    assert_eq!(err.category(), "validation");
}

#[tokio::test]
async fn profiles_spaces_and_apps() {
    let emu = emulator().await;
    let conf = sdk_config(&emu).await;
    let key = kms_key(&conf, "alias/studio").await;
    let session = AwsClients::from_conf(conf.clone()).session(REGION, None).await.unwrap();
    let domain = session.create_domain(&domain_create("members", &key)).await.unwrap();
    session.describe_domain(&domain.id).await.unwrap();

    // Profiles and spaces are created by users, not by this adapter: use the SDK directly.
    let sm = aws_sdk_sagemaker::Client::new(&conf);
    sm.create_user_profile()
        .domain_id(&domain.id)
        .user_profile_name("alice")
        .user_settings(
            aws_sdk_sagemaker::types::UserSettings::builder()
                .execution_role(ROLE)
                .build(),
        )
        .send()
        .await
        .unwrap();
    sm.create_space()
        .domain_id(&domain.id)
        .space_name("lab")
        .ownership_settings(
            aws_sdk_sagemaker::types::OwnershipSettings::builder()
                .owner_user_profile_name("alice")
                .build(),
        )
        .space_sharing_settings(
            aws_sdk_sagemaker::types::SpaceSharingSettings::builder()
                .sharing_type(aws_sdk_sagemaker::types::SharingType::Private)
                .build(),
        )
        .send()
        .await
        .unwrap();
    emu.launch_app(
        &Scope::default(),
        &LaunchApp {
            domain_id: domain.id.clone(),
            space_name: Some("lab".into()),
            app_type: "JupyterLab".into(),
            app_name: "default".into(),
            instance_type: Some("ml.t3.medium".into()),
            ..LaunchApp::default()
        },
    )
    .unwrap();

    let profiles = session.list_user_profiles(&domain.id).await.unwrap();
    assert_eq!(profiles.len(), 1);
    assert_eq!(profiles[0].name, "alice");
    assert!(profiles[0].last_modified.is_some());
    let alice = session
        .describe_user_profile(&domain.id, "alice")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(alice.execution_role.as_deref(), Some(ROLE));
    assert!(alice.arn.contains("user-profile"));
    assert!(alice.home_efs_uid.is_some());

    let spaces = session.list_spaces(&domain.id).await.unwrap();
    assert_eq!(spaces.len(), 1);
    assert_eq!(spaces[0].owner.as_deref(), Some("alice"));
    let lab = session.describe_space(&domain.id, "lab").await.unwrap().unwrap();
    assert_eq!((lab.name.as_str(), lab.execution_role.as_deref()), ("lab", None));
    assert_eq!(session.describe_space(&domain.id, "nope").await.unwrap(), None);

    let apps = session.list_apps(&domain.id).await.unwrap();
    assert_eq!(apps.len(), 1);
    let app = &apps[0];
    assert_eq!(
        (app.app_type.as_str(), app.app_name.as_str(), app.space.as_deref()),
        ("JupyterLab", "default", Some("lab"))
    );
    assert_eq!(app.instance_type.as_deref(), Some("ml.t3.medium"));
    assert!(app.created.is_some());

    // Tear down in dependency order; the domain refuses deletion while members remain.
    let err = session.delete_domain(&domain.id, false).await.unwrap_err();
    assert!(matches!(err, AwsError::InUse { .. }), "{err:?}");
    session.delete_app(&domain.id, app).await.unwrap();
    emu.advance(1.0);
    assert!(
        session
            .list_apps(&domain.id)
            .await
            .unwrap()
            .iter()
            .all(|a| !a.is_alive())
    );
    session.delete_space(&domain.id, "lab").await.unwrap();
    emu.advance(1.0);
    session.delete_user_profile(&domain.id, "alice").await.unwrap();
    emu.advance(1.0);
    assert!(session.list_user_profiles(&domain.id).await.unwrap().is_empty());
    assert!(session.list_spaces(&domain.id).await.unwrap().is_empty());
    session.delete_domain(&domain.id, false).await.unwrap();
}

/// Fencing: once the fence says this replica no longer leads, no mutating call leaves the
/// process (the emulator never sees it), while reads go on.
#[tokio::test]
async fn a_fenced_session_sends_no_mutating_call() {
    let emu = emulator().await;
    let conf = sdk_config(&emu).await;
    let key = kms_key(&conf, "alias/studio").await;
    let leading = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let fence = {
        let leading = leading.clone();
        Arc::new(move || leading.load(std::sync::atomic::Ordering::SeqCst))
    };
    let session = AwsClients::from_conf(conf)
        .with_fence(fence)
        .session(REGION, None)
        .await
        .unwrap();
    let created = session.create_domain(&domain_create("fenced", &key)).await.unwrap();

    leading.store(false, std::sync::atomic::Ordering::SeqCst);
    let err = session.delete_domain(&created.id, true).await.unwrap_err();
    assert!(matches!(err, AwsError::NotLeader { .. }), "{err:?}");
    assert_eq!(err.category(), "not_leader");
    assert_eq!(emu.control().count("DeleteDomain", None), 0, "nothing sent");
    assert!(
        session.describe_domain(&created.id).await.unwrap().is_some(),
        "reads go on"
    );

    leading.store(true, std::sync::atomic::Ordering::SeqCst);
    session.delete_domain(&created.id, true).await.unwrap();
    assert_eq!(emu.control().count("DeleteDomain", Some("ok")), 1);
}
