//! Guardrails end to end: specs that break a rule are refused before anything changes in AWS
//! (at every level), running apps that break a rule are stopped (Enforce) or reported (Audit),
//! keep-alive is honoured only when allowed, and the Guardrail reports what it covers and
//! renders its policies into a ConfigMap it owns.

use aws_emulator::Tag;
use k8s_openapi::api::core::v1::{ConfigMap, Event};
use kube::Api;
use kube::api::{DeleteParams, ListParams};
use serde_json::{Value, json};
use studio_operator::api::{Guardrail, SharedSpace, StudioDomain, UserProfile};

use crate::domain::{Setup, domain_manifest, setup, setup_sweeping};
use crate::profile::{TIMEOUT, app, apply, launch, profile_manifest, ready_domain, wait_for, wait_gone, wait_profile};
use crate::support::operator::GUARDRAIL_LABEL;
use crate::support::wait::{self, condition, has};

/// A Guardrail for this test's namespace only, labelled for this test's operator.
fn guardrail(s: &Setup, name: &str, enforcement: &str, rules: Value) -> (String, Value) {
    let name = format!("{}-{name}", s.namespace.name);
    let manifest = json!({
        "apiVersion": "studio-operator.io/v1alpha1",
        "kind": "Guardrail",
        "metadata": {"name": name, "labels": {GUARDRAIL_LABEL: s.namespace.name}},
        "spec": {
            "selector": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": s.namespace.name}}},
            "enforcement": enforcement,
            "rules": rules,
        },
    });
    (name, manifest)
}

/// Creates a Guardrail and waits until the operator reports it Ready; deleted on drop.
pub struct Installed {
    api: Api<Guardrail>,
    pub name: String,
}

impl Installed {
    pub async fn new(s: &Setup, name: &str, enforcement: &str, rules: Value) -> Installed {
        let api: Api<Guardrail> = Api::all(s.client.clone());
        let (name, manifest) = guardrail(s, name, enforcement, rules);
        apply(&api, &name, &manifest).await;
        wait_for(&api, &name, "Ready", |g: &Guardrail| {
            g.status
                .as_ref()
                .filter(|st| has(&st.conditions, "Ready", "True"))
                .map(|_| ())
        })
        .await;
        Installed { api, name }
    }

    async fn wait(&self, what: &str, probe: impl Fn(&Guardrail) -> bool) -> Guardrail {
        wait_for(&self.api, &self.name, what, |g: &Guardrail| probe(g).then(|| g.clone())).await
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        let api = self.api.clone();
        let name = self.name.clone();
        tokio::spawn(async move {
            let _ = api.delete(&name, &DeleteParams::default()).await;
        });
    }
}

fn violation_message(conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition]) -> String {
    condition(conditions, "GuardrailViolation")
        .map(|c| format!("{} {}: {}", c.status, c.reason, c.message))
        .unwrap_or_default()
}

#[tokio::test]
async fn specs_that_break_an_enforced_guardrail_change_nothing_in_aws_at_any_level() {
    let s = setup("gr-specs").await;
    let rules = json!({"allowedInstanceTypes": ["ml.t3.*"], "requireVpcOnly": false, "requiredTags": {"userProfile": ["team"]}});
    let installed = Installed::new(&s, "tier", "Enforce", rules).await;
    let domain_id = ready_domain(&s, domain_manifest("platform", "alias/studio")).await;
    let profiles: Api<UserProfile> = Api::namespaced(s.client.clone(), &s.namespace.name);

    // A new profile with a forbidden instance type is never created.
    let mut gpu = profile_manifest("gpu-user", "platform");
    gpu["spec"]["userSettings"] = json!({"jupyterLab": {"defaultResourceSpec": {"instanceType": "ml.p4d.24xlarge"}}});
    apply(&profiles, "gpu-user", &gpu).await;
    let status = wait_profile(&profiles, "gpu-user", "Stalled", "True").await;
    let message = violation_message(&status.conditions);
    assert!(
        message
            .starts_with("True Enforced: allowedInstanceTypes: ml.p4d.24xlarge (userSettings.jupyterLabAppSettings)"),
        "{message}"
    );
    assert!(message.contains(&format!("Guardrail {}", installed.name)), "{message}");
    assert_eq!(s.control().count("CreateUserProfile", None), 0);

    // A compliant profile is created; changing it to a forbidden type sends no update.
    apply(&profiles, "alice", &profile_manifest("alice", "platform")).await;
    wait_profile(&profiles, "alice", "Ready", "True").await;
    let updates = s.control().count("UpdateUserProfile", None);
    let mut alice = profile_manifest("alice", "platform");
    alice["spec"]["userSettings"] = json!({"kernelGateway": {"defaultResourceSpec": {"instanceType": "ml.g5.xlarge"}}});
    apply(&profiles, "alice", &alice).await;
    let status = wait_profile(&profiles, "alice", "GuardrailViolation", "True").await;
    assert!(has(&status.conditions, "Ready", "False"));
    assert_eq!(s.control().count("UpdateUserProfile", None), updates);

    // A missing required tag on a profile breaks the guardrail too.
    let mut untagged = profile_manifest("bob", "platform");
    untagged["spec"]["tags"] = json!({});
    apply(&profiles, "bob", &untagged).await;
    let status = wait_profile(&profiles, "bob", "GuardrailViolation", "True").await;
    assert!(violation_message(&status.conditions).contains("requiredTags: tag team is missing"));

    // The same forbidden type in a space's settings or in the domain defaults is caught there.
    let spaces: Api<SharedSpace> = Api::namespaced(s.client.clone(), &s.namespace.name);
    let space = json!({
        "apiVersion": "studio-operator.io/v1alpha1", "kind": "SharedSpace",
        "metadata": {"name": "team"},
        "spec": {
            "domainRef": {"name": "platform"},
            "sharing": {"type": "Shared", "ownerProfile": "alice"},
            "appType": "JupyterLab",
            "settings": {"defaultResourceSpec": {"instanceType": "ml.p4d.24xlarge"}},
        },
    });
    apply(&spaces, "team", &space).await;
    wait_for(&spaces, "team", "GuardrailViolation", |sp: &SharedSpace| {
        sp.status
            .as_ref()
            .filter(|st| has(&st.conditions, "GuardrailViolation", "True") && has(&st.conditions, "Stalled", "True"))
            .map(|_| ())
    })
    .await;
    assert_eq!(s.control().count("CreateSpace", None), 0);
    let domain_updates = s.control().count("UpdateDomain", None);
    let mut domain = domain_manifest("platform", "alias/studio");
    domain["spec"]["defaultUserSettings"]["jupyterLab"]["defaultResourceSpec"]["instanceType"] =
        json!("ml.p4d.24xlarge");
    s.apply("platform", &domain).await;
    let stalled: StudioDomain = s.wait_condition("platform", "GuardrailViolation", "True").await;
    assert!(has(&stalled.status.unwrap().conditions, "Stalled", "True"));
    assert_eq!(s.control().count("UpdateDomain", None), domain_updates);

    // The Guardrail lists what breaks it.
    let g = installed
        .wait("five violations", |g| {
            g.status.as_ref().and_then(|st| st.violation_count) == Some(5)
        })
        .await;
    let status = g.status.unwrap();
    assert_eq!(status.matched_domains, [format!("{}/platform", s.namespace.name)]);
    let mut listed: Vec<(String, String, String)> = status
        .violations
        .iter()
        .map(|v| (v.kind.clone(), v.name.clone(), v.rule.clone()))
        .collect();
    listed.sort();
    let ns = &s.namespace.name;
    let expected = [
        ("SharedSpace", format!("{ns}/team"), "allowedInstanceTypes"),
        ("StudioDomain", format!("{ns}/platform"), "allowedInstanceTypes"),
        ("UserProfile", format!("{ns}/alice"), "allowedInstanceTypes"),
        ("UserProfile", format!("{ns}/bob"), "requiredTags"),
        ("UserProfile", format!("{ns}/gpu-user"), "allowedInstanceTypes"),
    ]
    .map(|(k, n, r)| (k.to_string(), n, r.to_string()));
    assert_eq!(listed, expected);
    let _ = domain_id;
}

async fn events_on(s: &Setup, reason: &str, object: &str) -> Vec<String> {
    let api: Api<Event> = Api::namespaced(s.client.clone(), &s.namespace.name);
    api.list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason) && e.involved_object.name.as_deref() == Some(object))
        .filter_map(|e| e.message)
        .collect()
}

async fn app_status(s: &Setup, domain_id: &str, profile: &str) -> String {
    let out = s
        .sagemaker
        .describe_app()
        .domain_id(domain_id)
        .user_profile_name(profile)
        .app_type(aws_sdk_sagemaker::types::AppType::KernelGateway)
        .app_name("datascience")
        .send()
        .await
        .unwrap();
    out.status().map(|st| st.as_str().to_string()).unwrap_or_default()
}

async fn launch_kernel_gateway(s: &Setup, domain_id: &str, profile: &str, instance: &str, tags: Vec<Tag>) {
    let mut request = app(domain_id, Some(profile), None, "KernelGateway", "datascience");
    request.instance_type = Some(instance.into());
    request.tags = tags;
    launch(s, request).await;
    wait::until(&format!("{profile}'s app InService"), TIMEOUT, || async {
        let status = app_status(s, domain_id, profile).await;
        if status == "InService" { Ok(()) } else { Err(status) }
    })
    .await;
}

#[tokio::test]
async fn apps_launched_from_the_ui_with_a_forbidden_instance_type_are_stopped_or_reported() {
    let s = setup_sweeping("gr-apps").await;
    let domain_id = ready_domain(&s, domain_manifest("platform", "alias/studio")).await;
    let profiles: Api<UserProfile> = Api::namespaced(s.client.clone(), &s.namespace.name);
    for name in ["alice", "bob"] {
        apply(&profiles, name, &profile_manifest(name, "platform")).await;
        wait_profile(&profiles, name, "Ready", "True").await;
    }
    // Audit first: the GPU app is reported, in Events and in the Guardrail's status.
    let audit = Installed::new(
        &s,
        "audit",
        "Audit",
        json!({"allowedInstanceTypes": ["ml.t3.*", "ml.m5.*"]}),
    )
    .await;
    launch_kernel_gateway(&s, &domain_id, "alice", "ml.g5.2xlarge", Vec::new()).await;
    let g = audit
        .wait("the app listed", |g| {
            g.status
                .as_ref()
                .is_some_and(|st| st.violations.iter().any(|v| v.kind == "App"))
        })
        .await;
    let listed = g.status.unwrap().violations;
    assert_eq!(listed[0].rule, "allowedInstanceTypes");
    assert_eq!(listed[0].value, "ml.g5.2xlarge");
    assert_eq!(
        listed[0].name,
        format!("{}/platform/alice/datascience", s.namespace.name)
    );
    wait::until("AppWouldBeStopped on alice", TIMEOUT, || async {
        let notes = events_on(&s, "AppWouldBeStopped", "alice").await;
        notes
            .iter()
            .find(|n| n.contains("allowedInstanceTypes: ml.g5.2xlarge"))
            .cloned()
            .ok_or_else(|| format!("{notes:?}"))
    })
    .await;
    assert_eq!(app_status(&s, &domain_id, "alice").await, "InService");
    assert_eq!(s.control().count("DeleteApp", None), 0);
    drop(audit);

    // Enforce: the same app is stopped, and counted on the Guardrail.
    let enforce = Installed::new(
        &s,
        "enforce",
        "Enforce",
        json!({"allowedInstanceTypes": ["ml.t3.*", "ml.m5.*"]}),
    )
    .await;
    wait::until("alice's app stopped", TIMEOUT, || async {
        let status = app_status(&s, &domain_id, "alice").await;
        if matches!(status.as_str(), "Deleting" | "Deleted") {
            Ok(())
        } else {
            Err(status)
        }
    })
    .await;
    let notes = events_on(&s, "AppStopped", "alice").await;
    assert!(
        notes.iter().any(|n| n.contains(
            "stopped KernelGateway app datascience (ml.g5.2xlarge) of user profile alice because it breaks a guardrail"
        )),
        "{notes:?}"
    );
    enforce
        .wait("appsStopped 1", |g| {
            g.status.as_ref().and_then(|st| st.apps_stopped) == Some(1)
        })
        .await;

    // A compliant app keeps running.
    launch_kernel_gateway(&s, &domain_id, "bob", "ml.m5.large", Vec::new()).await;
    let calls = s.control().count("ListApps", None);
    wait::until("three more sweeps", TIMEOUT, || async {
        let now = s.control().count("ListApps", None);
        if now >= calls + 3 { Ok(()) } else { Err(now.to_string()) }
    })
    .await;
    assert_eq!(app_status(&s, &domain_id, "bob").await, "InService");

    // The rendered policies are in a ConfigMap the Guardrail owns.
    let config_maps: Api<ConfigMap> = Api::namespaced(s.client.clone(), &s.namespace.name);
    let policies = config_maps
        .get(&format!("guardrail-{}-policies", enforce.name))
        .await
        .unwrap();
    let owner = &policies.metadata.owner_references.clone().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("Guardrail", enforce.name.as_str())
    );
    let data = policies.data.unwrap();
    assert!(!data.is_empty());
    for (file, document) in &data {
        let parsed: Value = serde_json::from_str(document).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(parsed["Version"], "2012-10-17", "{file}");
    }
    assert!(data.values().any(|d| d.contains("ml.m5.*")), "{data:?}");
}

#[tokio::test]
async fn keep_alive_is_honoured_only_when_the_guardrail_allows_it() {
    let s = setup_sweeping("gr-keep").await;
    let mut domain = domain_manifest("platform", "alias/studio");
    domain["spec"]["idleShutdown"] = json!({"idleTimeoutMinutes": 60});
    let domain_id = ready_domain(&s, domain).await;
    let profiles: Api<UserProfile> = Api::namespaced(s.client.clone(), &s.namespace.name);
    let mut keeper = profile_manifest("keeper", "platform");
    keeper["spec"]["tags"]["studio-operator.io/keep-alive"] = json!("true");
    apply(&profiles, "keeper", &keeper).await;
    wait_profile(&profiles, "keeper", "Ready", "True").await;
    let lenient = Installed::new(&s, "lenient", "Enforce", json!({"allowKeepAlive": true})).await;
    let t0 = s.control().now();
    let reported = chrono::DateTime::<chrono::Utc>::from_timestamp(t0 as i64, 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    launch_kernel_gateway(
        &s,
        &domain_id,
        "keeper",
        "ml.t3.medium",
        vec![Tag {
            key: "studio-operator.io/last-activity".into(),
            value: reported,
        }],
    )
    .await;
    s.control().advance(3.0 * 3600.0);
    let calls = s.control().count("ListApps", None);
    wait::until("three more sweeps", TIMEOUT, || async {
        let now = s.control().count("ListApps", None);
        if now >= calls + 3 { Ok(()) } else { Err(now.to_string()) }
    })
    .await;
    assert_eq!(
        app_status(&s, &domain_id, "keeper").await,
        "InService",
        "keep-alive allowed"
    );
    drop(lenient);
    let _strict = Installed::new(&s, "strict", "Enforce", json!({"allowKeepAlive": false})).await;
    wait::until("keeper's idle app stopped", TIMEOUT, || async {
        let status = app_status(&s, &domain_id, "keeper").await;
        if matches!(status.as_str(), "Deleting" | "Deleted") {
            Ok(())
        } else {
            Err(status)
        }
    })
    .await;
}

#[tokio::test]
async fn adopting_an_existing_profile_does_not_bypass_a_guardrail() {
    let s = setup("gr-adopt").await;
    let installed = Installed::new(&s, "adopt", "Enforce", json!({"allowedInstanceTypes": ["ml.t3.*"]})).await;
    let domain_id = ready_domain(&s, domain_manifest("platform", "alias/studio")).await;
    // A profile made outside the operator, with a forbidden default instance type.
    let settings = aws_sdk_sagemaker::types::UserSettings::builder()
        .kernel_gateway_app_settings(
            aws_sdk_sagemaker::types::KernelGatewayAppSettings::builder()
                .default_resource_spec(
                    aws_sdk_sagemaker::types::ResourceSpec::builder()
                        .instance_type(aws_sdk_sagemaker::types::AppInstanceType::MlG5Xlarge)
                        .build(),
                )
                .build(),
        )
        .build();
    let created = s
        .sagemaker
        .create_user_profile()
        .domain_id(&domain_id)
        .user_profile_name("legacy")
        .user_settings(settings)
        .send()
        .await
        .unwrap();
    let arn = created.user_profile_arn().unwrap().to_string();
    let profiles: Api<UserProfile> = Api::namespaced(s.client.clone(), &s.namespace.name);
    let mut legacy = profile_manifest("legacy", "platform");
    legacy["spec"]["adopt"] = json!(true);
    legacy["spec"]["userSettings"] =
        json!({"kernelGateway": {"defaultResourceSpec": {"instanceType": "ml.g5.xlarge"}}});
    let mutations = |s: &Setup| {
        ["UpdateUserProfile", "AddTags", "DeleteTags"]
            .iter()
            .map(|op| s.control().count(op, None))
            .sum::<u64>()
    };
    let before = mutations(&s);
    apply(&profiles, "legacy", &legacy).await;
    let status = wait_profile(&profiles, "legacy", "GuardrailViolation", "True").await;
    assert!(has(&status.conditions, "Stalled", "True"));
    assert!(violation_message(&status.conditions).contains("ml.g5.xlarge"));
    assert_eq!(mutations(&s), before, "nothing adopted, tagged or changed");
    let tags = crate::profile::tags_of(&s, &arn).await;
    assert!(
        tags.iter().all(|(k, _)| !k.starts_with("studio-operator.io/")),
        "{tags:?}"
    );
    drop(installed);
}

/// Applies `manifest` and returns the API server's refusal; an error when it was admitted
/// (before the policy was active), after deleting it so that a retry is a create again.
async fn refusal<K>(api: &Api<K>, name: &str, manifest: &Value) -> Result<String, String>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    use kube::api::{Patch, PatchParams};

    match api
        .patch(name, &PatchParams::apply("e2e-test").force(), &Patch::Apply(manifest))
        .await
    {
        Ok(_) => {
            let _ = api.delete(name, &DeleteParams::default()).await;
            wait_gone(api, name).await;
            Err(format!("{name} was admitted"))
        }
        Err(kube::Error::Api(status)) => Ok(status.message),
        Err(other) => Err(other.to_string()),
    }
}

/// With admission policies on (the default in production), an Enforce Guardrail is also a
/// ValidatingAdmissionPolicy: the API server refuses what breaks it (instance types, every role
/// handed to SageMaker, idle timeouts, tags), with the reconcile-time wording, and an Audit
/// Guardrail has none.
#[tokio::test]
async fn an_enforce_guardrail_refuses_at_kubectl_apply_what_breaks_it() {
    use k8s_openapi::api::admissionregistration::v1::ValidatingAdmissionPolicy;
    use studio_operator::compliance::{Verdict, rules};

    let client = crate::support::TestEnv::get().client().await;
    let namespace = crate::support::TestNamespace::new(&client, "gr-admission").await;
    let operator =
        crate::support::TestOperator::start_tuned(&client, &namespace.name, |c| c.admission_policies = true).await;
    let s = Setup::new(client, namespace, operator);
    ready_domain(&s, domain_manifest("platform", "alias/studio")).await;
    let installed = Installed::new(
        &s,
        "admit",
        "Enforce",
        json!({
            "allowedInstanceTypes": ["ml.t3.*"],
            "requiredTags": {"userProfile": ["cost-center"]},
            "allowedExecutionRoles": ["arn:aws:iam::123456789012:role/Studio*"],
            "allowedAwsRoles": ["arn:aws:iam::*:role/studio-operator-*"],
            "allowedBackupLocations": ["s3://team-a-backups/*"],
            "idleShutdown": {"maxIdleTimeoutMinutes": 120},
        }),
    )
    .await;
    let policies: Api<ValidatingAdmissionPolicy> = Api::all(s.client.clone());
    let policy = studio_operator::controller::admission::policy_name(&installed.name);
    wait_for(
        &policies,
        &policy,
        "the admission policy",
        |p: &ValidatingAdmissionPolicy| Some(p.clone()),
    )
    .await;
    let enforced = installed.api.get(&installed.name).await.unwrap();
    // What the reconcile check reports for a spec: the refusal must say the same.
    let reconcile_profile = |manifest: &Value| {
        let spec = serde_json::from_value(manifest["spec"].clone()).unwrap();
        Verdict::of(&[&enforced], |r| rules::check_profile(r, &spec)).message()
    };

    let profiles: Api<UserProfile> = Api::namespaced(s.client.clone(), &s.namespace.name);
    let mut gpu = profile_manifest("gpu", "platform");
    gpu["spec"]["tags"] = json!({"cost-center": "ml"});
    gpu["spec"]["userSettings"] = json!({"jupyterLab": {"defaultResourceSpec": {"instanceType": "ml.p4d.24xlarge"}}});
    // The API server picks a new policy up within a moment: retried until it refuses.
    let message = wait::until("gpu refused", TIMEOUT, || refusal(&profiles, "gpu", &gpu)).await;
    assert!(
        message.contains(&format!(
            "allowedInstanceTypes: ml.p4d.24xlarge (userSettings.jupyterLabAppSettings) (Guardrail {}, Enforce)",
            installed.name
        )),
        "{message}"
    );
    assert!(message.contains(&reconcile_profile(&gpu)), "{message}");
    let untagged = profile_manifest("untagged", "platform");
    let message = wait::until("untagged refused", TIMEOUT, || {
        refusal(&profiles, "untagged", &untagged)
    })
    .await;
    assert!(message.contains(&reconcile_profile(&untagged)), "{message}");
    assert!(
        message.contains("requiredTags: tag cost-center is missing"),
        "{message}"
    );

    let role = |name: &str| format!("arn:aws:iam::123456789012:role/{name}");
    let with_settings = |name: &str, settings: Value| {
        let mut manifest = profile_manifest(name, "platform");
        manifest["spec"]["tags"] = json!({"cost-center": "ml"});
        manifest["spec"]["userSettings"] = settings;
        manifest
    };
    let refused = [
        (
            with_settings(
                "emr",
                json!({"jupyterLabAppSettings": {"emrSettings": {"assumableRoleArns": [role("StudioEmr"), role("emr-admin")]}}}),
            ),
            format!(
                "allowedExecutionRoles: {} (userSettings.jupyterLabAppSettings.emrSettings.assumableRoleArns)",
                role("emr-admin")
            ),
        ),
        (
            with_settings(
                "canvas",
                json!({"canvasAppSettings": {"generativeAiSettings": {"amazonBedrockRoleArn": role("bedrock-admin")}}}),
            ),
            format!(
                "allowedExecutionRoles: {} (userSettings.canvasAppSettings.generativeAiSettings.amazonBedrockRoleArn)",
                role("bedrock-admin")
            ),
        ),
        (
            with_settings("idle", json!({"codeEditor": {"idle": {"idleTimeoutMinutes": 600}}})),
            "idleShutdown.maxIdleTimeoutMinutes: userSettings.codeEditorAppSettings.appLifecycleManagement.idleSettings.idleTimeoutInMinutes 600 exceeds 120".to_string(),
        ),
    ];
    for (manifest, expected) in &refused {
        let name = manifest["metadata"]["name"].as_str().unwrap();
        let message = wait::until(&format!("{name} refused"), TIMEOUT, || {
            refusal(&profiles, name, manifest)
        })
        .await;
        assert!(
            message.contains(&format!("{expected} (Guardrail {}, Enforce)", installed.name)),
            "{message}"
        );
        assert!(message.contains(&reconcile_profile(manifest)), "{message}");
    }
    let spaces: Api<SharedSpace> = Api::namespaced(s.client.clone(), &s.namespace.name);
    let mut idle_space = crate::space::space_manifest("idle-space", "Shared", "fine", "CodeEditor");
    idle_space["spec"]["settings"]["idleTimeoutMinutes"] = json!(600);
    let message = wait::until("idle-space refused", TIMEOUT, || {
        refusal(&spaces, "idle-space", &idle_space)
    })
    .await;
    let spec = serde_json::from_value(idle_space["spec"].clone()).unwrap();
    let reconcile = Verdict::of(&[&enforced], |r| rules::check_space(r, &spec)).message();
    assert!(
        reconcile.contains(
            "settings.codeEditorAppSettings.appLifecycleManagement.idleSettings.idleTimeoutInMinutes 600 exceeds 120"
        ),
        "{reconcile}"
    );
    assert!(message.contains(&reconcile), "{message}");

    // The kinds that assume a role of their own.
    let configs: Api<studio_operator::api::StudioLifecycleConfig> =
        Api::namespaced(s.client.clone(), &s.namespace.name);
    let mut config = crate::lifecycle::config_manifest("pip", "JupyterLab", None);
    config["spec"]["aws"]["roleArn"] = json!("arn:aws:iam::210987654321:role/other-team-admin");
    let message = wait::until("pip refused", TIMEOUT, || refusal(&configs, "pip", &config)).await;
    assert!(
        message.contains(&format!(
            "allowedAwsRoles: arn:aws:iam::210987654321:role/other-team-admin (aws.roleArn) (Guardrail {}, Enforce)",
            installed.name
        )),
        "{message}"
    );
    config["spec"]["aws"]["roleArn"] = json!("arn:aws:iam::210987654321:role/studio-operator-team");
    apply(&configs, "pip", &config).await;

    // Users' home directories go only where the guardrail allows.
    let mut elsewhere = domain_manifest("elsewhere", "alias/studio");
    elsewhere["spec"]["spaceBackup"] = json!({"s3Uri": "s3://team-b-backups/x", "kmsKeyId": "alias/studio"});
    let message = wait::until("elsewhere refused", TIMEOUT, || {
        refusal(&s.domains, "elsewhere", &elsewhere)
    })
    .await;
    assert!(
        message.contains(&format!(
            "allowedBackupLocations: s3://team-b-backups/x (spaceBackup.s3Uri) (Guardrail {}, Enforce)",
            installed.name
        )),
        "{message}"
    );

    let fine = with_settings(
        "fine",
        json!({
            "jupyterLabAppSettings": {"emrSettings": {"assumableRoleArns": [role("StudioEmr")], "executionRoleArns": [role("StudioEmrJobs")]}},
            "canvasAppSettings": {"generativeAiSettings": {"amazonBedrockRoleArn": role("StudioBedrock")}},
            "codeEditor": {"idle": {"idleTimeoutMinutes": 90}},
        }),
    );
    assert_eq!(reconcile_profile(&fine), "", "the reconcile check finds nothing either");
    apply(&profiles, "fine", &fine).await;
    for name in ["gpu", "emr", "canvas", "idle"] {
        assert!(profiles.get_opt(name).await.unwrap().is_none(), "{name}");
    }

    // Audit: the policy goes, the reconcile-time report stays.
    let mut audit = guardrail(&s, "admit", "Audit", json!({"allowedInstanceTypes": ["ml.t3.*"]})).1;
    audit["metadata"]["name"] = json!(installed.name);
    apply(&installed.api, &installed.name, &audit).await;
    wait::until("the policy deleted", TIMEOUT, || async {
        match policies.get_opt(&policy).await {
            Ok(None) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
}
