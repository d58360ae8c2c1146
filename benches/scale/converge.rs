//! Scenario 1: one domain, 500 profiles and 100 spaces applied at once: time until all Ready.

use std::time::{Duration, Instant};

use aws_emulator::Quotas;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};
use studio_operator::api::{SharedSpace, StudioDomain, UserProfile};

use crate::setup::*;

/// Scenario 1: one domain, 500 profiles and 100 shared spaces applied at once.
pub(crate) async fn converge() -> Value {
    let (n_profiles, n_spaces) = (scaled(500), scaled(100));
    let stage = Stage::new("bench-converge", Quotas::default()).await;
    realistic(&stage.emulator);
    let operator = stage.operator(&Flags::default(), "converge");
    let start_to_ready = operator.wait_ready().await;
    stage.emulator.control().clear_calls();
    let start = Instant::now();
    stage
        .api::<StudioDomain>()
        .patch(
            "platform",
            &PatchParams::apply("bench").force(),
            &Patch::Apply(domain_manifest("platform")),
        )
        .await
        .unwrap();
    let profiles: Vec<_> = (0..n_profiles)
        .map(|i| profile_manifest(&format!("user-{i:04}"), "platform"))
        .collect();
    let spaces: Vec<_> = (0..n_spaces)
        .map(|i| space_manifest(&format!("space-{i:03}"), "platform", &format!("user-{i:04}")))
        .collect();
    let (profile_api, space_api) = (stage.api::<UserProfile>(), stage.api::<SharedSpace>());
    tokio::join!(apply_all(&profile_api, profiles), apply_all(&space_api, spaces));
    let applied = start.elapsed().as_secs_f64();
    let (samples, converged) = stage
        .timeline(start, Duration::from_secs(1200), |p, s| {
            p == n_profiles && s == n_spaces
        })
        .await;
    let seconds = samples.last().map(|s| s.0).unwrap_or_default();
    let (memory, cpu) = operator.usage();
    let counts = stage.counts();
    operator.stop();
    dump_calls(&stage, "converge");
    // Unavoidable: CreateDomain and one Create per member (mutating), one Describe per member
    // (its EFS UID) as reads; plus the domain's and the last member's Pending→InService.
    let creates = 1 + n_profiles + n_spaces;
    let mutating_bound = (creates as f64 - MUTATING_RATE).max(0.0) / MUTATING_RATE;
    let read_bound = ((n_profiles + n_spaces) as f64 - READ_RATE).max(0.0) / READ_RATE;
    let lower_bound = 2.0 * DELAY + mutating_bound.max(read_bound);
    let summary = summarize(&counts);
    println!(
        "scenario 1: {n_profiles} profiles + {n_spaces} spaces Ready in {seconds:.1} s (lower bound {lower_bound:.1} s, ratio {:.2}), {} calls, {} throttled ({:.2}%), peak {memory:.0} MiB, {cpu:.1} CPU s",
        seconds / lower_bound,
        summary["calls_total"],
        summary["throttled"],
        summary["throttled_percent"].as_f64().unwrap_or_default(),
    );
    json!({
        "scenario": "converge",
        "profiles": n_profiles,
        "spaces": n_spaces,
        "converged": converged,
        "applied_after_seconds": applied,
        "seconds_to_all_ready": seconds,
        "lower_bound_seconds": lower_bound,
        "lower_bound": format!("{DELAY} s domain Pending→InService + max(({creates} creates − {MUTATING_RATE} burst) / {MUTATING_RATE} mutating per s, ({} describes − {READ_RATE} burst) / {READ_RATE} reads per s) + {DELAY} s member Pending→InService", n_profiles + n_spaces),
        "ratio_to_lower_bound": seconds / lower_bound,
        "aws": summary,
        "operator_peak_memory_mib": memory,
        "operator_cpu_seconds": cpu,
        "operator_start_to_ready_seconds": start_to_ready,
        "timeline": samples.iter().map(|(t, p, s)| json!([t, p, s])).collect::<Vec<_>>(),
    })
}
