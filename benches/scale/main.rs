//! `make bench`: scale and API efficiency of the operator, against kube-testenv and the AWS
//! emulator with realistic settings (30 ms latency per call, Pending→InService delays, and rate
//! limits of 10 mutating and 20 read calls per second).
//!
//! The operator runs as its own process (the release binary), so its peak memory and CPU time
//! are its own; the emulator runs in this process. Scenarios (select with `BENCH_SCENARIOS=1,2`,
//! shrink every count with `BENCH_SCALE=0.1` while developing):
//!
//! 1. one domain, 500 user profiles and 100 shared spaces applied at once: time until all Ready;
//! 2. steady state with 1,000 profiles over 30 minutes of emulated time (the operator resyncs
//!    every 10 s of real time, which stands for its 5 minutes; the emulator's clock runs 30 times
//!    faster), and how long an out-of-band change takes to be corrected;
//! 3. the sweeper over 2,500 running apps;
//! 4. recreation of a domain with 150 profiles and 50 spaces;
//! 5. 5,000 UserProfiles: peak memory, and start to ready of a restarted operator.
//!
//! Results go to `bench/results/scale.json` and `docs/performance-ready.png` (shrunk runs to
//! `target/bench/`); see `docs/performance.md`.

#[allow(dead_code)]
#[path = "../../tests/e2e/support/testenv.rs"]
mod testenv;

mod converge;
mod memory;
mod recreate;
mod report;
mod setup;
mod steady;
mod sweep;

use serde_json::{Value, json};

use crate::converge::converge;
use crate::memory::memory;
use crate::recreate::recreate;
use crate::report::{merge_results, plot};
use crate::setup::{DELAY, LATENCY_MS, MUTATING_RATE, READ_RATE, scale};
use crate::steady::steady;
use crate::sweep::sweep;
use crate::testenv::repo_root;

fn main() {
    studio_operator::install_crypto_provider();
    let wanted: Vec<String> = std::env::var("BENCH_SCENARIOS")
        .unwrap_or_else(|_| "1,2,3,4,5".into())
        .split(',')
        .map(|s| s.trim().to_string())
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let results = runtime.block_on(async {
        let mut results = Vec::new();
        for scenario in &wanted {
            let result = match scenario.as_str() {
                "1" => converge().await,
                "2" => steady().await,
                "3" => sweep().await,
                "4" => recreate().await,
                "5" => memory().await,
                other => panic!("unknown scenario {other}"),
            };
            results.push(result);
        }
        results
    });
    // Only full-scale runs are results; shrunk development runs stay in target/bench.
    let full = (scale() - 1.0).abs() < f64::EPSILON;
    let (out_dir, name) = if full {
        (repo_root().join("bench/results"), "scale.json".to_string())
    } else {
        (repo_root().join("target/bench"), format!("scale-x{}.json", scale()))
    };
    std::fs::create_dir_all(&out_dir).unwrap();
    // A run of some scenarios replaces only theirs in an earlier report of the same scale.
    let earlier: Vec<Value> = std::fs::read_to_string(out_dir.join(&name))
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .and_then(|report| report["scenarios"].as_array().cloned())
        .unwrap_or_default();
    let results = merge_results(earlier, results);
    let report = json!({
        "settings": {
            "latency_ms_per_call": LATENCY_MS,
            "mutating_calls_per_second": MUTATING_RATE,
            "read_calls_per_second": READ_RATE,
            "pending_to_in_service_seconds": DELAY,
            "operator": "release build, --concurrency 8, --poll-interval 15s, default limiter (max 50 calls/s per family)",
            "scale": scale(),
            "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        },
        "scenarios": results,
    });
    std::fs::write(
        out_dir.join(&name),
        serde_json::to_string_pretty(&report).unwrap() + "\n",
    )
    .unwrap();
    println!("wrote {}", out_dir.join(&name).display());
    if full {
        let png = repo_root().join("docs/performance-ready.png");
        match plot(&results, &png) {
            Ok(()) => println!("wrote docs/performance-ready.png"),
            Err(error) => eprintln!("cannot draw the plot: {error}"),
        }
    } else {
        let png = repo_root().join(format!("target/bench/ready-x{}.png", scale()));
        if let Err(error) = plot(&results, &png) {
            eprintln!("cannot draw the plot: {error}");
        }
    }
}
