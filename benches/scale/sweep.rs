//! Scenario 3: the sweeper over 2,500 running apps.

use std::time::{Duration, Instant};

use aws_emulator::{Delays, LaunchApp, Quotas, ResourceRef, Scope};
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};
use studio_operator::api::{StudioDomain, UserProfile};

use crate::setup::*;

/// Scenario 3: the sweeper over 2,500 running apps, a tenth of them idle.
pub(crate) async fn sweep() -> Value {
    let n_apps = scaled(2500);
    let per_profile = 10;
    let n_profiles = n_apps.div_ceil(per_profile);
    let stage = Stage::new(
        "bench-sweep",
        Quotas {
            running_apps: n_apps + 10,
            ..Quotas::default()
        },
    )
    .await;
    // Set up quickly, then measure with realistic settings.
    stage.emulator.control().set_delays(Delays::uniform(0.5));
    let flags = Flags {
        sweep: "60s",
        ..Flags::default()
    };
    let operator = stage.operator(&flags, "sweep");
    operator.wait_ready().await;
    let mut domain = domain_manifest("platform");
    domain["spec"]["idleShutdown"] = json!({"enabled": true, "idleTimeoutMinutes": 60});
    stage
        .api::<StudioDomain>()
        .patch("platform", &PatchParams::apply("bench").force(), &Patch::Apply(&domain))
        .await
        .unwrap();
    let profiles: Vec<_> = (0..n_profiles)
        .map(|i| profile_manifest(&format!("user-{i:04}"), "platform"))
        .collect();
    apply_all(&stage.api::<UserProfile>(), profiles).await;
    let (_, ok) = stage
        .timeline(Instant::now(), Duration::from_secs(600), |p, _| p == n_profiles)
        .await;
    assert!(ok, "scenario 3: profiles never Ready");
    let domain_id = wait_domain(&stage, "platform", Duration::from_secs(60)).await;
    let control = stage.emulator.control().clone();
    let now = control.now();
    let mut idle = 0;
    for i in 0..n_apps {
        let profile = format!("user-{:04}", i / per_profile);
        let name = format!("kg-{}", i % per_profile);
        control
            .launch_app(
                &Scope::default(),
                &LaunchApp {
                    domain_id: domain_id.clone(),
                    user_profile_name: Some(profile.clone()),
                    space_name: None,
                    app_type: "KernelGateway".into(),
                    app_name: name.clone(),
                    instance_type: Some("ml.t3.medium".into()),
                    image_arn: None,
                    tags: Vec::new(),
                },
            )
            .expect("launch app");
        if i % 10 == 0 {
            idle += 1;
            control
                .set_app_activity(
                    &Scope::default(),
                    &ResourceRef::App {
                        domain_id: domain_id.clone(),
                        user_profile_name: Some(profile),
                        space_name: None,
                        app_type: "KernelGateway".into(),
                        app_name: name,
                    },
                    // Health-checked a minute ago, last used three hours ago: idle.
                    Some(now - 60.0),
                    Some(now - 3.0 * 3600.0),
                )
                .expect("set activity");
        }
    }
    realistic(&stage.emulator);
    control.advance(1.0);
    control.clear_calls();
    // The next sweep (each minute) looks at every running app.
    let start = Instant::now();
    let deadline = start + Duration::from_secs(1200);
    let mut first_call: Option<Instant> = None;
    let mut last_progress = (0u64, Instant::now());
    let finished = loop {
        let described = control.count("DescribeApp", Some("ok"));
        if described > 0 && first_call.is_none() {
            first_call = Some(Instant::now());
        }
        if described != last_progress.0 {
            last_progress = (described, Instant::now());
        }
        if described >= n_apps as u64 && last_progress.1.elapsed() > Duration::from_secs(5) {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let seconds = first_call
        .map(|f| last_progress.1.duration_since(f).as_secs_f64())
        .unwrap_or_default();
    let (memory, cpu) = operator.usage();
    let counts = stage.counts();
    operator.stop();
    let stopped = count(&counts, "DeleteApp", Some("ok"));
    // Unavoidable: ListApps pages, and per running app DescribeApp (activity) and ListTags
    // (reported activity, keep-alive) as reads; DeleteApp per idle app.
    let unavoidable_reads = n_apps.div_ceil(100) + 2 * n_apps;
    let lower_bound = ((unavoidable_reads as f64 - READ_RATE).max(0.0) / READ_RATE).max(idle as f64 / MUTATING_RATE);
    let summary = summarize(&counts);
    println!(
        "scenario 3: swept {n_apps} apps in {seconds:.1} s (lower bound {lower_bound:.1} s), stopped {stopped} of {idle} idle, {} throttled",
        summary["throttled"]
    );
    json!({
        "scenario": "sweeper",
        "running_apps": n_apps,
        "idle_apps": idle,
        "apps_stopped": stopped,
        "finished": finished,
        "sweep_seconds": seconds,
        "lower_bound_seconds": lower_bound,
        "lower_bound": format!("({unavoidable_reads} reads: ListApps pages + DescribeApp and ListTags per app − {READ_RATE} burst) / {READ_RATE} reads per s"),
        "ratio_to_lower_bound": if lower_bound > 0.0 { seconds / lower_bound } else { 0.0 },
        "aws": summary,
        "operator_peak_memory_mib": memory,
        "operator_cpu_seconds": cpu,
    })
}
