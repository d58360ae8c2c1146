//! Scenario 2: steady state with 1,000 profiles, and how long out-of-band changes take to be corrected.

use std::time::{Duration, Instant};

use aws_emulator::{Quotas, ResourceRef, Scope, Tag};
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};
use studio_operator::api::{StudioDomain, UserProfile};

use crate::setup::*;

/// Scenario 2: steady state with 1,000 profiles over 30 emulated minutes.
pub(crate) async fn steady() -> Value {
    // The operator resyncs every 10 s of real time; the emulator's clock runs 30 times faster,
    // so one resync stands for 5 minutes and the tag audit of 6 h is 12 minutes of real time.
    const SPEEDUP: f64 = 30.0;
    let n = scaled(1000);
    let stage = Stage::new("bench-steady", Quotas::default()).await;
    realistic(&stage.emulator);
    let flags = Flags {
        resync: "10s",
        poll: "15s",
        sweep: "10s",
        tag_audit: "720s",
    };
    let operator = stage.operator(&flags, "steady");
    operator.wait_ready().await;
    let domains = stage.api::<StudioDomain>();
    domains
        .patch(
            "platform",
            &PatchParams::apply("bench").force(),
            &Patch::Apply(domain_manifest("platform")),
        )
        .await
        .unwrap();
    let profiles: Vec<_> = (0..n)
        .map(|i| profile_manifest(&format!("user-{i:04}"), "platform"))
        .collect();
    apply_all(&stage.api::<UserProfile>(), profiles).await;
    let start = Instant::now();
    let (_, converged) = stage.timeline(start, Duration::from_secs(1200), |p, _| p == n).await;
    assert!(converged, "scenario 2: profiles never all Ready");
    let domain_id = wait_domain(&stage, "platform", Duration::from_secs(60)).await;
    // Two resyncs to settle, then 6 resyncs = 30 emulated minutes.
    tokio::time::sleep(Duration::from_secs(20)).await;
    let control = stage.emulator.control().clone();
    control.clear_calls();
    let window = Duration::from_secs(60);
    let ticker = {
        let control = control.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                tick.tick().await;
                control.advance(0.1 * (SPEEDUP - 1.0));
            }
        })
    };
    let (memory_before, cpu_before) = operator.usage();
    tokio::time::sleep(window).await;
    let (memory, cpu_after) = operator.usage();
    let counts = stage.counts();
    let summary = summarize(&counts);
    let emulated_hours = window.as_secs_f64() * SPEEDUP / 3600.0;
    let reads = summary["read_calls"].as_u64().unwrap_or_default() as f64;
    let mutating = summary["mutating_calls"].as_u64().unwrap_or_default();
    let reads_per_resource_hour = reads / (n + 1) as f64 / emulated_hours;
    // The tag index (GetResources, in the window) confirms every profile's tags each round, which
    // postpones their ListTags audit: none is due, in this window or later.
    let audit_list_tags = counts
        .get("ListTags")
        .map(|outcomes| outcomes.values().sum::<u64>())
        .unwrap_or_default();

    // Out-of-band change of a profile's settings, 3 s (90 emulated s) into a resync interval.
    sleep_into_resync_interval(Duration::from_secs(3)).await;
    let drifted = Instant::now();
    control
        .patch(
            &Scope::default(),
            &ResourceRef::UserProfile {
                domain_id: domain_id.clone(),
                user_profile_name: "user-0007".into(),
            },
            &json!({"ExecutionRole": "arn:aws:iam::123456789012:role/Intruder"}),
        )
        .unwrap();
    let corrected_settings = loop {
        let out = stage
            .sagemaker
            .describe_user_profile()
            .domain_id(&domain_id)
            .user_profile_name("user-0007")
            .send()
            .await;
        let role = out
            .ok()
            .and_then(|o| o.user_settings().and_then(|u| u.execution_role()).map(str::to_string));
        if role.as_deref().is_some_and(|r| r.ends_with("role/User")) {
            break Some(drifted.elapsed().as_secs_f64());
        }
        if drifted.elapsed() > Duration::from_secs(60) {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Out-of-band removal of another profile's tag (moves no LastModifiedTime), likewise 3 s
    // into an interval.
    let arn = stage
        .sagemaker
        .describe_user_profile()
        .domain_id(&domain_id)
        .user_profile_name("user-0011")
        .send()
        .await
        .unwrap()
        .user_profile_arn()
        .unwrap()
        .to_string();
    sleep_into_resync_interval(Duration::from_secs(3)).await;
    let kept: Vec<Tag> = stage
        .sagemaker
        .list_tags()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap()
        .tags()
        .iter()
        .filter(|t| t.key() != Some("team"))
        .map(|t| Tag {
            key: t.key().unwrap_or_default().to_string(),
            value: t.value().unwrap_or_default().to_string(),
        })
        .collect();
    control.set_tags(&Scope::default(), &arn, kept).unwrap();
    let drifted = Instant::now();
    let corrected_tags = loop {
        let tags = stage.sagemaker.list_tags().resource_arn(&arn).send().await;
        let restored = tags.ok().is_some_and(|t| {
            t.tags()
                .iter()
                .any(|t| t.key() == Some("team") && t.value() == Some("bench"))
        });
        if restored {
            break Some(drifted.elapsed().as_secs_f64());
        }
        if drifted.elapsed() > Duration::from_secs(60) {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    ticker.abort();
    operator.stop();
    println!(
        "scenario 2: {n} profiles, 30 emulated min: {reads} reads ({reads_per_resource_hour:.3} per resource-hour, {audit_list_tags} ListTags), {mutating} mutating; settings drift corrected after {:?} emulated s, tag drift after {:?} emulated s",
        corrected_settings.map(|c| c * SPEEDUP),
        corrected_tags.map(|c| c * SPEEDUP)
    );
    json!({
        "scenario": "steady_state",
        "profiles": n,
        "resync_interval_emulated_seconds": 300,
        "emulated_minutes": window.as_secs_f64() * SPEEDUP / 60.0,
        "aws": summary,
        "read_calls_per_resource_hour": reads_per_resource_hour,
        "list_tags_calls_in_window": audit_list_tags,
        "mutating_calls_without_drift": mutating,
        "drift_corrected_after_emulated_seconds": corrected_settings.map(|c| c * SPEEDUP),
        "drift_corrected_within_one_resync": corrected_settings.is_some_and(|c| c * SPEEDUP <= 300.0),
        "tag_drift_corrected_after_emulated_seconds": corrected_tags.map(|c| c * SPEEDUP),
        "tag_drift_corrected_within_one_resync": corrected_tags.is_some_and(|c| c * SPEEDUP <= 300.0),
        "lower_bound": "ceil(profiles / 100) ListUserProfiles pages and ceil(profiles / 100) GetResources pages per resync",
        "lower_bound_read_calls_per_resource_hour": (2.0 * (n as f64 / 100.0).ceil() * 12.0) / n as f64,
        "operator_peak_memory_mib": memory.max(memory_before),
        "operator_cpu_seconds_in_window": cpu_after - cpu_before,
    })
}

/// Sleeps until `into` after the start of the next 10-second resync interval (resyncs are aligned
/// on multiples of the interval).
pub(crate) async fn sleep_into_resync_interval(into: Duration) {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let to_boundary = 10_000 - (since_epoch % 10_000) as u64;
    tokio::time::sleep(Duration::from_millis(to_boundary) + into).await;
}
