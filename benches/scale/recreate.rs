//! Scenario 4: recreation of a domain with 150 profiles and 50 spaces.

use std::time::{Duration, Instant};

use aws_emulator::{Delays, Quotas};
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};
use studio_operator::api::{SharedSpace, StudioDomain, UserProfile};

use crate::setup::*;

/// Scenario 4: recreation of a domain with 150 profiles and 50 spaces (a VPC change).
pub(crate) async fn recreate() -> Value {
    let (n_profiles, n_spaces) = (scaled(150), scaled(50));
    let stage = Stage::new("bench-recreate", Quotas::default()).await;
    stage.emulator.control().set_delays(Delays::uniform(0.5));
    let operator = stage.operator(&Flags::default(), "recreate");
    operator.wait_ready().await;
    let domains = stage.api::<StudioDomain>();
    let mut domain = domain_manifest("platform");
    domains
        .patch("platform", &PatchParams::apply("bench").force(), &Patch::Apply(&domain))
        .await
        .unwrap();
    let profiles: Vec<_> = (0..n_profiles)
        .map(|i| profile_manifest(&format!("user-{i:04}"), "platform"))
        .collect();
    let spaces: Vec<_> = (0..n_spaces)
        .map(|i| space_manifest(&format!("space-{i:03}"), "platform", &format!("user-{i:04}")))
        .collect();
    apply_all(&stage.api::<UserProfile>(), profiles).await;
    apply_all(&stage.api::<SharedSpace>(), spaces).await;
    let (_, ok) = stage
        .timeline(Instant::now(), Duration::from_secs(600), |p, s| {
            p == n_profiles && s == n_spaces
        })
        .await;
    assert!(ok, "scenario 4: members never Ready");
    let old_id = wait_domain(&stage, "platform", Duration::from_secs(60)).await;
    realistic(&stage.emulator);
    tokio::time::sleep(Duration::from_secs(2)).await;
    stage.emulator.control().clear_calls();
    let start = Instant::now();
    domain["spec"]["network"]["vpcId"] = json!("vpc-0fedcba987654321f");
    domains
        .patch("platform", &PatchParams::apply("bench").force(), &Patch::Apply(&domain))
        .await
        .unwrap();
    let deadline = start + Duration::from_secs(1800);
    let new_id = loop {
        if let Some(id) = stage.domain_ready("platform").await
            && id != old_id
        {
            break Some(id);
        }
        if Instant::now() > deadline {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let domain_seconds = start.elapsed().as_secs_f64();
    let (samples, converged) = stage
        .timeline(start, Duration::from_secs(1800), |p, s| {
            p == n_profiles && s == n_spaces
        })
        .await;
    let seconds = samples.last().map(|s| s.0).unwrap_or_default();
    let (memory, cpu) = operator.usage();
    let counts = stage.counts();
    operator.stop();
    // Unavoidable: before anything is deleted, one Describe (EFS UID for the migration plan)
    // and one ListTags (refuse members the operator does not manage) per member; then delete
    // every space and profile and the domain, create the domain and every member again
    // (mutating), waiting for spaces, profiles and the old domain to go, the new domain and the
    // last member to come.
    let members = n_profiles + n_spaces;
    let survey = 2 * members;
    let mutating = 2 * members + 2;
    let lower_bound = (survey as f64 - READ_RATE).max(0.0) / READ_RATE
        + 5.0 * DELAY
        + (mutating as f64 - MUTATING_RATE).max(0.0) / MUTATING_RATE;
    let summary = summarize(&counts);
    println!(
        "scenario 4: recreated with {members} members in {seconds:.1} s (new domain Ready after {domain_seconds:.1} s; lower bound {lower_bound:.1} s), {} throttled",
        summary["throttled"]
    );
    json!({
        "scenario": "recreation",
        "profiles": n_profiles,
        "spaces": n_spaces,
        "converged": converged && new_id.is_some(),
        "new_domain_ready_after_seconds": domain_seconds,
        "seconds_to_all_ready": seconds,
        "lower_bound_seconds": lower_bound,
        "lower_bound": format!("({survey} Describe and ListTags of the members before deleting − {READ_RATE} burst) / {READ_RATE} reads per s + 5 × {DELAY} s transitions (spaces, profiles and old domain deleted, new domain and members created) + ({mutating} deletes and creates − {MUTATING_RATE} burst) / {MUTATING_RATE} mutating per s"),
        "ratio_to_lower_bound": seconds / lower_bound,
        "aws": summary,
        "operator_peak_memory_mib": memory,
        "operator_cpu_seconds": cpu,
        "timeline": samples.iter().map(|(t, p, s)| json!([t, p, s])).collect::<Vec<_>>(),
    })
}
