//! Scenario 5: 5,000 UserProfiles: peak memory, and start to ready of a restarted operator.

use std::time::{Duration, Instant};

use aws_emulator::{Delays, Quotas};
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};
use studio_operator::api::{StudioDomain, UserProfile};

use crate::setup::*;

/// Scenario 5: 5,000 UserProfiles: peak memory, and start to ready after a restart.
pub(crate) async fn memory() -> Value {
    let n = scaled(5000);
    let stage = Stage::new(
        "bench-memory",
        Quotas {
            user_profiles: n + 10,
            ..Quotas::default()
        },
    )
    .await;
    // No rate limits or latency: this scenario is about the operator's own footprint.
    stage.emulator.control().set_delays(Delays::uniform(1.0));
    let operator = stage.operator(&Flags::default(), "memory");
    operator.wait_ready().await;
    stage
        .api::<StudioDomain>()
        .patch(
            "platform",
            &PatchParams::apply("bench").force(),
            &Patch::Apply(domain_manifest("platform")),
        )
        .await
        .unwrap();
    let profiles: Vec<_> = (0..n)
        .map(|i| profile_manifest(&format!("user-{i:05}"), "platform"))
        .collect();
    apply_all(&stage.api::<UserProfile>(), profiles).await;
    let start = Instant::now();
    let (_, converged) = stage.timeline(start, Duration::from_secs(1800), |p, _| p == n).await;
    let converge_seconds = start.elapsed().as_secs_f64();
    let (memory, cpu) = operator.usage();
    operator.stop();
    // A restart with everything in place: time to /readyz, and memory once it has looked at
    // every profile again.
    let restarted = stage.operator(&Flags::default(), "memory-restart");
    let start_to_ready = restarted.wait_ready().await;
    let settle = Instant::now();
    let settled = loop {
        let described = stage.emulator.control().count("DescribeUserProfile", Some("ok"));
        if described >= 2 * n as u64 || settle.elapsed() > Duration::from_secs(600) {
            break described >= 2 * n as u64;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (memory_restarted, cpu_restarted) = restarted.usage();
    restarted.stop();
    // Start to ready varies with what else the machine does: four more starts, and the median.
    let mut starts = vec![start_to_ready];
    for i in 0..4 {
        let again = stage.operator(&Flags::default(), &format!("memory-start-{i}"));
        starts.push(again.wait_ready().await);
        again.stop();
    }
    let mut sorted = starts.clone();
    sorted.sort_by(f64::total_cmp);
    let median_start = sorted[sorted.len() / 2];
    println!(
        "scenario 5: {n} profiles + 1 domain: peak {memory:.0} MiB ({cpu:.0} CPU s to converge in {converge_seconds:.0} s); restart: ready after {starts:.2?} s (median {median_start:.2}), peak {memory_restarted:.0} MiB after re-observing all"
    );
    json!({
        "scenario": "memory",
        "custom_resources": n + 1,
        "converged": converged,
        "seconds_to_all_ready": converge_seconds,
        "operator_peak_memory_mib": memory,
        "operator_cpu_seconds": cpu,
        "restart_start_to_ready_seconds": start_to_ready,
        "start_to_ready_seconds_of_5_starts": starts,
        "start_to_ready_median_seconds": median_start,
        "restart_reobserved_all": settled,
        "restart_peak_memory_mib": memory_restarted,
        "restart_cpu_seconds": cpu_restarted,
    })
}
