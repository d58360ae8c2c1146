//! StudioDomain end to end: the real controller against the real kube-apiserver and the AWS
//! emulator over HTTP.

use std::time::Duration;

use aws_emulator::{FaultKind, FaultRule, LaunchApp, ResourceRef, Scope};
use aws_sdk_kms::types::{KeySpec, KeyUsageType};
use k8s_openapi::api::events::v1::Event;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, Client};
use serde_json::{Value, json};
use studio_operator::api::StudioDomain;

use crate::support::operator::{scrape, sdk_config};
use crate::support::wait::{self, has};
use crate::support::{TestEnv, TestNamespace, TestOperator};

const TIMEOUT: Duration = Duration::from_secs(60);

pub struct Setup {
    pub client: Client,
    pub namespace: TestNamespace,
    pub operator: TestOperator,
    pub domains: Api<StudioDomain>,
    pub kms: aws_sdk_kms::Client,
    pub sagemaker: aws_sdk_sagemaker::Client,
}

pub async fn setup(prefix: &str) -> Setup {
    let client = TestEnv::get().client().await;
    let namespace = TestNamespace::new(&client, prefix).await;
    let operator = TestOperator::start(&client, &namespace.name).await;
    Setup::new(client, namespace, operator)
}

/// A setup whose operator sweeps apps every half second on the emulator's clock.
pub async fn setup_sweeping(prefix: &str) -> Setup {
    let client = TestEnv::get().client().await;
    let namespace = TestNamespace::new(&client, prefix).await;
    let operator = TestOperator::start_sweeping(&client, &namespace.name).await;
    Setup::new(client, namespace, operator)
}

impl Setup {
    pub fn new(client: Client, namespace: TestNamespace, operator: TestOperator) -> Setup {
        let config = sdk_config(&operator.emulator.endpoint());
        Setup {
            domains: Api::namespaced(client.clone(), &namespace.name),
            kms: aws_sdk_kms::Client::new(&config),
            sagemaker: aws_sdk_sagemaker::Client::new(&config),
            client,
            namespace,
            operator,
        }
    }
}

impl Setup {
    pub fn control(&self) -> &aws_emulator::Control {
        self.operator.emulator.control()
    }

    /// An S3 client of the emulator (path-style, as behind any endpoint override).
    pub fn s3(&self) -> aws_sdk_s3::Client {
        let config = sdk_config(&self.operator.emulator.endpoint());
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(true)
                .build(),
        )
    }

    /// A customer managed symmetric key with an alias; returns its ARN.
    pub async fn key(&self, alias: &str) -> String {
        let key = self.kms.create_key().send().await.unwrap().key_metadata.unwrap();
        self.kms
            .create_alias()
            .alias_name(alias)
            .target_key_id(key.key_id())
            .send()
            .await
            .unwrap();
        key.arn.unwrap()
    }

    pub async fn apply(&self, name: &str, manifest: &Value) {
        self.domains
            .patch(name, &PatchParams::apply("e2e-test").force(), &Patch::Apply(manifest))
            .await
            .unwrap_or_else(|e| panic!("apply {name}: {e}"));
    }

    pub async fn wait_condition(&self, name: &str, type_: &str, status: &str) -> StudioDomain {
        self.wait_condition_within(name, type_, status, TIMEOUT).await
    }

    pub async fn wait_condition_within(
        &self,
        name: &str,
        type_: &str,
        status: &str,
        timeout: Duration,
    ) -> StudioDomain {
        let domains = self.domains.clone();
        wait::until(&format!("{name} {type_}={status}"), timeout, || {
            let domains = domains.clone();
            async move {
                let domain = domains.get(name).await.map_err(|e| e.to_string())?;
                let conditions = domain.status.clone().unwrap_or_default().conditions;
                let current = domain.status.as_ref().and_then(|s| s.observed_generation) == domain.metadata.generation;
                if current && has(&conditions, type_, status) {
                    Ok(domain)
                } else {
                    Err(format!("{:#?}", domain.status))
                }
            }
        })
        .await
    }

    pub async fn wait_ready(&self, name: &str) -> StudioDomain {
        self.wait_condition(name, "Ready", "True").await
    }

    pub async fn events(&self, reason: &str) -> Vec<Event> {
        let events: Api<Event> = Api::namespaced(self.client.clone(), &self.namespace.name);
        events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|e| e.reason.as_deref() == Some(reason))
            .collect()
    }

    pub fn mutating_calls(&self) -> u64 {
        [
            "CreateDomain",
            "UpdateDomain",
            "DeleteDomain",
            "AddTags",
            "DeleteTags",
            "DeleteApp",
            "DeleteSpace",
            "DeleteUserProfile",
        ]
        .iter()
        .map(|op| self.control().count(op, None))
        .sum()
    }
}

pub fn domain_manifest(name: &str, key: &str) -> Value {
    json!({
        "apiVersion": "studio-operator.io/v1alpha1",
        "kind": "StudioDomain",
        "metadata": {"name": name},
        "spec": {
            "aws": {"region": "us-east-1"},
            "network": {"vpcId": "vpc-0a1b2c3d4e5f67890", "subnetIds": ["subnet-0a1b2c3d4e5f67891", "subnet-0a1b2c3d4e5f67892"]},
            "encryption": {"kmsKeyId": key},
            "defaultUserSettings": {
                "executionRole": "arn:aws:iam::123456789012:role/StudioDefault",
                "jupyterLab": {"defaultResourceSpec": {"instanceType": "ml.t3.medium"}}
            },
            "defaultSpaceSettings": {"executionRole": "arn:aws:iam::123456789012:role/StudioSpace"},
            "tags": {"team": "platform"}
        }
    })
}

#[tokio::test]
async fn domain_with_valid_key_becomes_ready_with_ownership_tags() {
    let s = setup("dom-create").await;
    let key_arn = s.key("alias/studio").await;
    s.apply("platform", &domain_manifest("platform", "alias/studio")).await;
    let domain = s.wait_ready("platform").await;
    let status = domain.status.unwrap();
    let domain_id = status.domain_id.clone().expect("domain id in status");
    assert!(has(&status.conditions, "KmsKeyValid", "True"));
    assert!(has(&status.conditions, "Synced", "True"));
    assert!(has(&status.conditions, "Stalled", "False"));
    assert_eq!(status.aws_status.as_deref(), Some("InService"));
    assert!(status.home_efs_file_system_id.is_some());
    assert_eq!(status.kms_key_arn.as_deref(), Some(key_arn.as_str()));
    let described = s
        .sagemaker
        .describe_domain()
        .domain_id(&domain_id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        described.kms_key_id(),
        Some(key_arn.as_str()),
        "the resolved key ARN is sent"
    );
    let tags = s
        .sagemaker
        .list_tags()
        .resource_arn(described.domain_arn().unwrap())
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = tags.tags().iter().filter_map(|t| t.key()).collect();
    for key in [
        "team",
        "studio-operator.io/uid",
        "studio-operator.io/namespace",
        "studio-operator.io/name",
        "studio-operator.io/cluster",
    ] {
        assert!(keys.contains(&key), "tag {key} missing: {keys:?}");
    }
    assert_eq!(s.control().count("CreateDomain", None), 1);
    assert!(!s.events("Created").await.is_empty(), "a Created event");
    let (code, ready) = scrape(s.operator.metrics_addr, "/readyz").await.unwrap();
    assert_eq!((code, ready.as_str()), (200, "ready"));
    let (_, metrics) = scrape(s.operator.metrics_addr, "/metrics").await.unwrap();
    assert!(
        metrics.contains("studio_operator_aws_calls_total{operation=\"CreateDomain\",outcome=\"ok\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("studio_operator_reconciles_total{kind=\"StudioDomain\"}"),
        "{metrics}"
    );
}

#[tokio::test]
async fn every_invalid_key_kind_is_reported_and_nothing_is_created() {
    let s = setup("dom-badkey").await;
    let disabled = s.key("alias/disabled").await;
    s.kms.disable_key().key_id(&disabled).send().await.unwrap();
    let pending = s.key("alias/pending").await;
    s.kms
        .schedule_key_deletion()
        .key_id(&pending)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    let rsa = s
        .kms
        .create_key()
        .key_spec(KeySpec::Rsa2048)
        .key_usage(KeyUsageType::EncryptDecrypt)
        .send()
        .await
        .unwrap();
    let signing = s
        .kms
        .create_key()
        .key_spec(KeySpec::EccNistP256)
        .key_usage(KeyUsageType::SignVerify)
        .send()
        .await
        .unwrap();
    let managed = s
        .control()
        .create_aws_managed_key(&Scope::default(), "alias/aws/sagemaker");
    let managed_arn = managed["Arn"].as_str().unwrap().to_string();
    let cases = [
        ("missing", "alias/does-not-exist".to_string(), "KmsKeyNotFound"),
        ("disabled", "alias/disabled".to_string(), "KmsKeyNotEnabled"),
        ("pending", pending.clone(), "KmsKeyNotEnabled"),
        (
            "rsa",
            rsa.key_metadata().unwrap().arn().unwrap().to_string(),
            "KmsKeyNotSymmetric",
        ),
        (
            "signing",
            signing.key_metadata().unwrap().key_id().to_string(),
            "KmsKeyNotSymmetric",
        ),
        ("managed", managed_arn, "KmsKeyNotCustomerManaged"),
    ];
    for (name, key, _) in &cases {
        s.apply(name, &domain_manifest(name, key)).await;
    }
    for (name, key, reason) in &cases {
        let domain = s.wait_condition(name, "KmsKeyValid", "False").await;
        let status = domain.status.unwrap();
        let kms = wait::condition(&status.conditions, "KmsKeyValid").unwrap();
        assert_eq!(&kms.reason, reason, "{name}: {}", kms.message);
        assert!(
            kms.message.contains(key.as_str()),
            "{name}: message names the key: {}",
            kms.message
        );
        assert!(has(&status.conditions, "Ready", "False"));
        assert!(has(&status.conditions, "Stalled", "True"));
        assert!(status.domain_id.is_none());
    }
    assert_eq!(
        s.control().count("CreateDomain", None),
        0,
        "no CreateDomain for an invalid key"
    );
}

#[tokio::test]
async fn mutable_change_is_one_update_and_resync_without_drift_makes_no_calls() {
    let s = setup("dom-update").await;
    s.key("alias/studio").await;
    let mut manifest = domain_manifest("platform", "alias/studio");
    s.apply("platform", &manifest).await;
    s.wait_ready("platform").await;
    // Steady state: several resyncs (3 s each) without drift make no mutating call.
    let before = s.mutating_calls();
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(
        s.mutating_calls(),
        before,
        "resync without drift must not mutate: {:?}",
        s.control().call_counts()
    );
    assert!(s.control().count("DescribeDomain", None) >= 3, "resyncs happened");

    manifest["spec"]["defaultUserSettings"]["jupyterLab"]["defaultResourceSpec"]["instanceType"] = json!("ml.m5.large");
    manifest["spec"]["network"]["subnetIds"]
        .as_array_mut()
        .unwrap()
        .push(json!("subnet-0a1b2c3d4e5f67893"));
    s.apply("platform", &manifest).await;
    let domain = s.wait_ready("platform").await;
    assert_eq!(
        s.control().count("UpdateDomain", None),
        1,
        "{:?}",
        s.control().call_counts()
    );
    let id = domain.status.unwrap().domain_id.unwrap();
    let described = s.sagemaker.describe_domain().domain_id(&id).send().await.unwrap();
    assert_eq!(described.subnet_ids().len(), 3);
    let instance = described
        .default_user_settings()
        .unwrap()
        .jupyter_lab_app_settings()
        .unwrap()
        .default_resource_spec()
        .unwrap()
        .instance_type();
    assert_eq!(instance.map(|i| i.as_str()), Some("ml.m5.large"));
    assert!(!s.events("Updated").await.is_empty());
}

#[tokio::test]
async fn drift_made_behind_the_operators_back_is_corrected_with_an_event() {
    let s = setup("dom-drift").await;
    s.key("alias/studio").await;
    s.apply("platform", &domain_manifest("platform", "alias/studio")).await;
    let domain = s.wait_ready("platform").await;
    let id = domain.status.unwrap().domain_id.unwrap();
    s.control()
        .patch(
            &Scope::default(),
            &ResourceRef::Domain { domain_id: id.clone() },
            &json!({"DefaultUserSettings": {"ExecutionRole": "arn:aws:iam::123456789012:role/Intruder"}}),
        )
        .unwrap();
    let sagemaker = s.sagemaker.clone();
    wait::until("drift corrected", TIMEOUT, || {
        let sagemaker = sagemaker.clone();
        let id = id.clone();
        async move {
            let d = sagemaker
                .describe_domain()
                .domain_id(&id)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let role = d
                .default_user_settings()
                .and_then(|u| u.execution_role())
                .unwrap_or_default()
                .to_string();
            if role.ends_with("role/StudioDefault") && d.status().map(|s| s.as_str()) == Some("InService") {
                Ok(())
            } else {
                Err(role)
            }
        }
    })
    .await;
    let events = s.events("DriftCorrected").await;
    assert!(!events.is_empty(), "a DriftCorrected event");
    assert!(
        events[0]
            .note
            .as_deref()
            .unwrap_or_default()
            .contains("defaultUserSettings")
    );
    let (_, metrics) = scrape(s.operator.metrics_addr, "/metrics").await.unwrap();
    assert!(
        metrics.contains("studio_operator_drift_corrections_total{kind=\"StudioDomain\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("studio_operator_reconcile_duration_seconds_count{kind=\"StudioDomain\"}"),
        "{metrics}"
    );
}

#[tokio::test]
async fn crash_between_create_and_status_write_makes_one_domain() {
    let s = setup("dom-crash").await;
    let key_arn = s.key("alias/studio").await;
    // What a crashed operator left: a domain with our ownership tags, and a resource without a
    // domain id in its status. The operator is namespace-scoped, so apply first, then tag
    // quickly is racy; instead create the resource, read its uid, and pre-create the domain
    // while the operator is stopped.
    let emulator = s.operator.stop().await;
    let client = s.client.clone();
    let domains = s.domains.clone();
    domains
        .patch(
            "platform",
            &PatchParams::apply("e2e-test").force(),
            &Patch::Apply(&domain_manifest("platform", "alias/studio")),
        )
        .await
        .unwrap();
    let uid = domains.get("platform").await.unwrap().metadata.uid.unwrap();
    let created = s
        .sagemaker
        .create_domain()
        .domain_name("platform")
        .auth_mode(aws_sdk_sagemaker::types::AuthMode::Iam)
        .vpc_id("vpc-0a1b2c3d4e5f67890")
        .subnet_ids("subnet-0a1b2c3d4e5f67891")
        .subnet_ids("subnet-0a1b2c3d4e5f67892")
        .kms_key_id(&key_arn)
        .default_user_settings(
            aws_sdk_sagemaker::types::UserSettings::builder()
                .execution_role("arn:aws:iam::123456789012:role/StudioDefault")
                .build(),
        )
        .tags(
            aws_sdk_sagemaker::types::Tag::builder()
                .key("studio-operator.io/cluster")
                .value("e2e")
                .build(),
        )
        .tags(
            aws_sdk_sagemaker::types::Tag::builder()
                .key("studio-operator.io/uid")
                .value(&uid)
                .build(),
        )
        .send()
        .await
        .unwrap();
    emulator.control().clear_calls();
    let operator = TestOperator::start_with(&client, &s.namespace.name, emulator, Duration::from_secs(3)).await;
    let s = Setup { operator, ..s };
    let domain = s.wait_ready("platform").await;
    assert_eq!(domain.status.unwrap().domain_id.as_deref(), created.domain_id());
    assert_eq!(
        s.control().count("CreateDomain", None),
        0,
        "the tagged domain is found, not created again"
    );
    assert_eq!(s.control().domains().len(), 1);
}

#[tokio::test]
async fn async_failure_becomes_stalled_with_the_failure_reason() {
    let s = setup("dom-failed").await;
    let mut delays = s.control().delays();
    delays.domain_create = 3600.0;
    s.control().set_delays(delays);
    let key_arn = s.key("alias/studio").await;
    s.apply("platform", &domain_manifest("platform", "alias/studio")).await;
    let control = s.control().clone();
    wait::until("CreateDomain called", TIMEOUT, || {
        let control = control.clone();
        async move {
            if control.count("CreateDomain", Some("ok")) == 1 {
                Ok(())
            } else {
                Err(control.call_counts())
            }
        }
    })
    .await;
    // The key is disabled while the domain is still Pending: the EFS cannot be created.
    s.kms.disable_key().key_id(&key_arn).send().await.unwrap();
    s.control().advance(3601.0);
    let domain = s.wait_condition("platform", "Stalled", "True").await;
    let status = domain.status.unwrap();
    assert_eq!(status.aws_status.as_deref(), Some("Failed"));
    let stalled = wait::condition(&status.conditions, "Stalled").unwrap();
    assert_eq!(stalled.reason, "DomainFailed");
    assert!(
        stalled.message.contains("Unable to create Amazon EFS"),
        "{}",
        stalled.message
    );
    assert!(
        has(&status.conditions, "KmsKeyValid", "False"),
        "the key problem is reported too"
    );
}

#[tokio::test]
async fn throttling_storm_converges() {
    let s = setup("dom-throttle").await;
    s.key("alias/studio").await;
    s.control().inject_fault(FaultRule {
        target: "sagemaker".into(),
        kind: FaultKind::Throttling,
        probability: Some(0.5),
        count: None,
        delay_ms: None,
    });
    // As many throttles in a row as the operator attempts a call: one reconcile fails and backs off.
    s.control().inject_fault(FaultRule {
        target: "ListDomains".into(),
        kind: FaultKind::Throttling,
        probability: None,
        count: Some(3),
        delay_ms: None,
    });
    s.apply("platform", &domain_manifest("platform", "alias/studio")).await;
    // Half the calls throttled: the adaptive rate limiter slows down, so allow more time.
    let domain = s
        .wait_condition_within("platform", "Ready", "True", Duration::from_secs(180))
        .await;
    assert!(domain.status.unwrap().domain_id.is_some());
    let (_, metrics) = scrape(s.operator.metrics_addr, "/metrics").await.unwrap();
    assert!(
        metrics.contains("studio_operator_aws_calls_total{operation=\"ListDomains\",outcome=\"throttled\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("studio_operator_reconcile_errors_total{kind=\"StudioDomain\",reason=\"aws_throttled\"}"),
        "{metrics}"
    );
    assert!(
        s.control().count("CreateDomain", Some("ThrottlingException"))
            + s.control().count("DescribeDomain", Some("ThrottlingException"))
            + s.control().count("ListDomains", Some("ThrottlingException"))
            > 0,
        "throttling happened"
    );
    assert_eq!(s.control().domains().len(), 1, "no duplicate domain");
}

#[tokio::test]
async fn access_type_change_waits_for_running_apps_unless_stop_apps() {
    let s = setup("dom-blocked").await;
    s.key("alias/studio").await;
    let mut manifest = domain_manifest("platform", "alias/studio");
    s.apply("platform", &manifest).await;
    let domain = s.wait_ready("platform").await;
    let id = domain.status.unwrap().domain_id.unwrap();
    s.sagemaker
        .create_user_profile()
        .domain_id(&id)
        .user_profile_name("alice")
        .send()
        .await
        .unwrap();
    let control = s.control().clone();
    let launch = LaunchApp {
        domain_id: id.clone(),
        user_profile_name: Some("alice".into()),
        space_name: None,
        app_type: "KernelGateway".into(),
        app_name: "datascience".into(),
        instance_type: Some("ml.t3.medium".into()),
        image_arn: None,
        tags: vec![],
    };
    wait::until("app launched", TIMEOUT, || {
        let control = control.clone();
        let launch = launch.clone();
        async move {
            control
                .launch_app(&Scope::default(), &launch)
                .map_err(|e| format!("{e:?}"))
        }
    })
    .await;
    manifest["spec"]["network"]["accessType"] = json!("VpcOnly");
    s.apply("platform", &manifest).await;
    let blocked = s.wait_condition("platform", "UpdateBlocked", "True").await;
    let message = wait::condition(&blocked.status.unwrap().conditions, "UpdateBlocked")
        .unwrap()
        .message
        .clone();
    assert!(message.contains("alice/KernelGateway/datascience"), "{message}");
    assert_eq!(s.control().count("UpdateDomain", None), 0);
    manifest["spec"]["updatePolicy"] = json!({"stopApps": true});
    s.apply("platform", &manifest).await;
    let domain = s.wait_ready("platform").await;
    assert!(has(&domain.status.unwrap().conditions, "UpdateBlocked", "False"));
    assert_eq!(s.control().count("DeleteApp", Some("ok")), 1);
    let described = s.sagemaker.describe_domain().domain_id(&id).send().await.unwrap();
    assert_eq!(described.app_network_access_type().map(|a| a.as_str()), Some("VpcOnly"));
}

#[tokio::test]
async fn vpc_change_recreates_with_efs_retained_and_a_migration_plan() {
    let s = setup("dom-recreate").await;
    s.key("alias/studio").await;
    let mut manifest = domain_manifest("platform", "alias/studio");
    s.apply("platform", &manifest).await;
    let domain = s.wait_ready("platform").await;
    let old = domain.status.unwrap();
    let old_id = old.domain_id.clone().unwrap();
    let old_efs = old.home_efs_file_system_id.clone().unwrap();
    let managed = aws_sdk_sagemaker::types::Tag::builder()
        .key("studio-operator.io/uid")
        .value("profile-uid")
        .build();
    for name in ["alice", "bob"] {
        s.sagemaker
            .create_user_profile()
            .domain_id(&old_id)
            .user_profile_name(name)
            .tags(managed.clone())
            .send()
            .await
            .unwrap();
    }
    let control = s.control().clone();
    let old_id_clone = old_id.clone();
    wait::until("profiles InService", TIMEOUT, || {
        let sagemaker = s.sagemaker.clone();
        let id = old_id_clone.clone();
        async move {
            let p = sagemaker
                .list_user_profiles()
                .domain_id_equals(&id)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if p.user_profiles()
                .iter()
                .all(|p| p.status().map(|s| s.as_str()) == Some("InService"))
            {
                Ok(())
            } else {
                Err(format!("{p:?}"))
            }
        }
    })
    .await;
    let old_uids: Vec<String> = {
        let mut uids = Vec::new();
        for name in ["alice", "bob"] {
            let p = s
                .sagemaker
                .describe_user_profile()
                .domain_id(&old_id)
                .user_profile_name(name)
                .send()
                .await
                .unwrap();
            uids.push(p.home_efs_file_system_uid().unwrap().to_string());
        }
        uids
    };
    manifest["spec"]["network"]["vpcId"] = json!("vpc-0fedcba9876543210");
    s.apply("platform", &manifest).await;
    // alice and bob carry no cluster of ours: the recreation that would delete them waits for
    // an approval that names them.
    let blocked = s.wait_condition("platform", "Stalled", "True").await.status.unwrap();
    assert_eq!(
        wait::condition(&blocked.conditions, "Stalled").unwrap().reason,
        "RecreationBlocked"
    );
    let request = blocked.pending_approval.expect("the request is in status");
    for name in ["alice", "bob"] {
        assert!(
            request
                .deletes
                .iter()
                .any(|d| d.starts_with(&format!("user profile {name}"))),
            "{request:?}"
        );
    }
    assert_eq!(
        s.control().count("DeleteUserProfile", None),
        0,
        "nothing deleted unapproved"
    );
    let approve = json!({"metadata": {"annotations": {"studio-operator.io/approve-recreation": request.token}}});
    s.domains
        .patch("platform", &PatchParams::default(), &Patch::Merge(&approve))
        .await
        .unwrap();
    let domains = s.domains.clone();
    let recreated = wait::until("new domain id", Duration::from_secs(90), || {
        let domains = domains.clone();
        let old_id = old_id.clone();
        async move {
            let d = domains.get("platform").await.map_err(|e| e.to_string())?;
            let st = d.status.clone().unwrap_or_default();
            let ready = has(&st.conditions, "Ready", "True");
            if ready && st.domain_id.as_deref().is_some_and(|id| id != old_id) && st.migration_plan.is_some() {
                Ok(d)
            } else {
                Err(format!("{st:#?}"))
            }
        }
    })
    .await;
    let status = recreated.status.unwrap();
    let new_id = status.domain_id.clone().unwrap();
    let plan = status.migration_plan.clone().unwrap();
    assert_eq!(plan.old_domain_id, old_id);
    assert_eq!(plan.new_domain_id, new_id);
    assert_eq!(plan.old_efs_id.as_deref(), Some(old_efs.as_str()));
    let names: Vec<&str> = plan.entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, vec!["alice", "bob"]);
    let planned_old: Vec<String> = plan.entries.iter().map(|e| e.old_uid.clone().unwrap()).collect();
    assert_eq!(planned_old, old_uids);
    // The old EFS volume was retained, and nothing deleted it.
    let efs = control.efs_file_systems();
    let old_fs = efs.iter().find(|f| f.file_system_id == old_efs).expect("old EFS known");
    assert_eq!(old_fs.state, "available", "EFS retained: {efs:?}");
    let new_vpc = s.sagemaker.describe_domain().domain_id(&new_id).send().await.unwrap();
    assert_eq!(new_vpc.vpc_id(), Some("vpc-0fedcba9876543210"));
    assert!(!s.events("RecreationCompleted").await.is_empty());
    // When a member reappears in the new domain, its new UID completes the plan.
    s.sagemaker
        .create_user_profile()
        .domain_id(&new_id)
        .user_profile_name("alice")
        .tags(managed.clone())
        .send()
        .await
        .unwrap();
    let domains = s.domains.clone();
    let plan = wait::until("new UID of alice", TIMEOUT, || {
        let domains = domains.clone();
        async move {
            let d = domains.get("platform").await.map_err(|e| e.to_string())?;
            let plan = d.status.and_then(|s| s.migration_plan).ok_or("no plan")?;
            if plan.entries[0].new_uid.is_some() {
                Ok(plan)
            } else {
                Err(format!("{plan:?}"))
            }
        }
    })
    .await;
    let described = s
        .sagemaker
        .describe_user_profile()
        .domain_id(&new_id)
        .user_profile_name("alice")
        .send()
        .await
        .unwrap();
    assert_eq!(plan.entries[0].new_uid.as_deref(), described.home_efs_file_system_uid());
    assert_eq!(plan.entries[1].new_uid, None, "bob is not in the new domain yet");
    let script = studio_operator::migration::render_script(&plan, "us-east-1");
    assert!(script.contains(&format!(
        "copy_home UserProfile alice {} {}",
        plan.entries[0].old_uid.clone().unwrap(),
        plan.entries[0].new_uid.clone().unwrap()
    )));
    let (_, metrics) = scrape(s.operator.metrics_addr, "/metrics").await.unwrap();
    assert!(
        metrics.contains("studio_operator_domain_recreations_total 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn manual_policy_waits_for_an_approval_of_exactly_its_request() {
    let s = setup("dom-manual").await;
    s.key("alias/studio").await;
    s.key("alias/other").await;
    let mut manifest = domain_manifest("platform", "alias/studio");
    manifest["spec"]["recreationPolicy"] = json!("Manual");
    // An approval written in advance, for the generation the change will have: it approves
    // nothing, the token is made only when the request is.
    manifest["metadata"]["annotations"] = json!({"studio-operator.io/approve-recreation": "2"});
    s.apply("platform", &manifest).await;
    let old_id = s.wait_ready("platform").await.status.unwrap().domain_id.unwrap();
    manifest["spec"]["encryption"]["kmsKeyId"] = json!("alias/other");
    s.apply("platform", &manifest).await;
    let waiting = s.wait_condition("platform", "Stalled", "True").await;
    assert_eq!(waiting.metadata.generation, Some(2));
    let status = waiting.status.as_ref().unwrap();
    let stalled = wait::condition(&status.conditions, "Stalled").unwrap().clone();
    assert_eq!(stalled.reason, "AwaitingApproval");
    let request = status.pending_approval.clone().expect("the request is in status");
    assert!(request.action.contains("encryption.kmsKeyId"), "{request:?}");
    assert!(
        request
            .deletes
            .iter()
            .any(|d| d.starts_with(&format!("domain {old_id}"))),
        "{request:?}"
    );
    assert!(
        stalled
            .message
            .contains(&format!("studio-operator.io/approve-recreation={}", request.token)),
        "{}",
        stalled.message
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        s.control().count("DeleteDomain", None),
        0,
        "nothing deleted without approval"
    );
    let approve = json!({"metadata": {"annotations": {"studio-operator.io/approve-recreation": request.token}}});
    s.domains
        .patch("platform", &PatchParams::default(), &Patch::Merge(&approve))
        .await
        .unwrap();
    let domains = s.domains.clone();
    wait::until("recreated with the other key", Duration::from_secs(90), || {
        let domains = domains.clone();
        let old_id = old_id.clone();
        async move {
            let d = domains.get("platform").await.map_err(|e| e.to_string())?;
            let st = d.status.unwrap_or_default();
            if has(&st.conditions, "Ready", "True") && st.domain_id.as_deref() != Some(old_id.as_str()) {
                Ok(st)
            } else {
                Err(format!("{st:#?}"))
            }
        }
    })
    .await;
    assert_eq!(s.control().count("DeleteDomain", Some("ok")), 1);
    let done = s.domains.get("platform").await.unwrap().status.unwrap();
    assert!(done.pending_approval.is_none(), "the approval is used up");
}

#[tokio::test]
async fn delete_with_retain_leaves_aws_and_delete_keeps_efs_unless_asked() {
    let s = setup("dom-delete").await;
    s.key("alias/studio").await;
    let mut retained = domain_manifest("kept", "alias/studio");
    retained["spec"]["deletionPolicy"] = json!("Retain");
    s.apply("kept", &retained).await;
    let mut deleted = domain_manifest("gone", "alias/studio");
    deleted["spec"]["domainName"] = json!("gone");
    s.apply("gone", &deleted).await;
    let mut purged = domain_manifest("purged", "alias/studio");
    purged["spec"]["efsRetention"] = json!("Delete");
    s.apply("purged", &purged).await;
    let kept_id = s.wait_ready("kept").await.status.unwrap().domain_id.unwrap();
    let gone = s.wait_ready("gone").await.status.unwrap();
    let purged_status = s.wait_ready("purged").await.status.unwrap();
    s.sagemaker
        .create_user_profile()
        .domain_id(gone.domain_id.as_deref().unwrap())
        .user_profile_name("alice")
        .tags(
            aws_sdk_sagemaker::types::Tag::builder()
                .key("studio-operator.io/uid")
                .value("x")
                .build(),
        )
        .send()
        .await
        .unwrap();
    for name in ["kept", "gone", "purged"] {
        s.domains.delete(name, &DeleteParams::default()).await.unwrap();
    }
    // `alice` carries a uid but no cluster of ours: not this operator's to delete, so the
    // domain's deletion waits, saying what to do, until a person removes her.
    let domains = s.domains.clone();
    wait::until("gone blocked by alice", Duration::from_secs(60), || {
        let domains = domains.clone();
        async move {
            let d = domains.get("gone").await.map_err(|e| e.to_string())?;
            let st = d.status.unwrap_or_default();
            let stalled = st
                .conditions
                .iter()
                .find(|c| c.type_ == "Stalled" && c.status == "True");
            match stalled {
                Some(c) if c.reason == "DeletionBlocked" && c.message.contains("user profile alice") => Ok(()),
                _ => Err(format!("{:?}", st.conditions)),
            }
        }
    })
    .await;
    assert_eq!(
        s.control().count("DeleteUserProfile", None),
        0,
        "a foreign profile is never deleted"
    );
    // The person removes alice (retried while she is still Pending after her creation).
    wait::until("alice deleted by hand", Duration::from_secs(60), || async {
        s.sagemaker
            .delete_user_profile()
            .domain_id(gone.domain_id.as_deref().unwrap())
            .user_profile_name("alice")
            .send()
            .await
            .map(|_| ())
            .map_err(|e| format!("{e:?}"))
    })
    .await;
    wait::until("all three resources gone", Duration::from_secs(90), || {
        let domains = domains.clone();
        async move {
            let left = domains.list(&ListParams::default()).await.map_err(|e| e.to_string())?;
            if left.items.is_empty() {
                Ok(())
            } else {
                Err(left
                    .items
                    .iter()
                    .map(|d| format!("{:?}", d.status))
                    .collect::<Vec<_>>()
                    .join("\n"))
            }
        }
    })
    .await;
    let views = s.control().domains();
    let kept = views
        .iter()
        .find(|d| d.domain_id == kept_id)
        .expect("retained domain still in AWS");
    assert!(
        !kept.tags.iter().any(|t| t.key.starts_with("studio-operator.io/")),
        "ownership tags removed: {:?}",
        kept.tags
    );
    assert_eq!(views.len(), 1, "the other two are deleted");
    let efs = s.control().efs_file_systems();
    let state = |id: &Option<String>| {
        efs.iter()
            .find(|f| Some(&f.file_system_id) == id.as_ref())
            .map(|f| f.state.clone())
    };
    assert_eq!(
        state(&gone.home_efs_file_system_id).as_deref(),
        Some("available"),
        "EFS retained by default"
    );
    assert_eq!(
        state(&purged_status.home_efs_file_system_id).as_deref(),
        Some("deleted"),
        "efsRetention: Delete"
    );
}

#[tokio::test]
async fn role_arn_of_another_account_creates_the_domain_there_only() {
    let s = setup("dom-account").await;
    // The key lives in the other account: create it with that account's credentials.
    let sts = aws_sdk_sts::Client::new(&sdk_config(&s.operator.emulator.endpoint()));
    let assumed = sts
        .assume_role()
        .role_arn("arn:aws:iam::210987654321:role/studio-admin")
        .role_session_name("test")
        .send()
        .await
        .unwrap();
    let creds = assumed.credentials().unwrap();
    let other = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(s.operator.emulator.endpoint())
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(
            aws_credential_types::Credentials::new(
                creds.access_key_id(),
                creds.secret_access_key(),
                Some(creds.session_token().to_string()),
                None,
                "assumed",
            ),
        ))
        .build();
    let other_kms = aws_sdk_kms::Client::new(&other);
    let key = other_kms.create_key().send().await.unwrap().key_metadata.unwrap();
    other_kms
        .create_alias()
        .alias_name("alias/team")
        .target_key_id(key.key_id())
        .send()
        .await
        .unwrap();
    let mut manifest = domain_manifest("team", "alias/team");
    manifest["spec"]["aws"]["roleArn"] = json!("arn:aws:iam::210987654321:role/studio-admin");
    s.apply("team", &manifest).await;
    let domain = s.wait_ready("team").await;
    let arn = domain.status.unwrap().domain_arn.unwrap();
    assert!(arn.contains(":210987654321:domain/"), "{arn}");
    let views = s.control().domains();
    assert_eq!(views.len(), 1);
    assert_eq!(views[0].account, "210987654321");
    let default_account = s.sagemaker.list_domains().send().await.unwrap();
    assert!(
        default_account.domains().is_empty(),
        "nothing in the operator's own account"
    );
}
