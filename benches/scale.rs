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
#[path = "../tests/e2e/support/testenv.rs"]
mod testenv;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_emulator::{Config as EmulatorConfig, Delays, Emulator, LaunchApp, Quotas, RateLimit, ResourceRef, Scope, Tag};
use futures::StreamExt;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, Client};
use serde_json::{Value, json};
use studio_operator::api::{SharedSpace, StudioDomain, UserProfile};
use studio_operator::status::is_true;
use testenv::{TestEnv, TestNamespace, repo_root};

const MUTATING_RATE: f64 = 10.0;
const READ_RATE: f64 = 20.0;
const LATENCY_MS: u64 = 30;
/// Pending→InService (and deletion) of every resource, seconds.
const DELAY: f64 = 5.0;

fn scale() -> f64 {
    std::env::var("BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0)
}

fn scaled(n: usize) -> usize {
    ((n as f64 * scale()).round() as usize).max(1)
}

fn realistic(emulator: &Emulator) {
    let control = emulator.control();
    control.set_latency("*", LATENCY_MS);
    control.set_delays(Delays {
        domain_create: DELAY,
        domain_update: DELAY,
        domain_delete: DELAY,
        ..Delays::uniform(DELAY)
    });
    control.clear_rate_limits();
    control.add_rate_limit(RateLimit {
        target: "mutating".into(),
        rate_per_sec: MUTATING_RATE,
        burst: MUTATING_RATE,
    });
    control.add_rate_limit(RateLimit {
        target: "read".into(),
        rate_per_sec: READ_RATE,
        burst: READ_RATE,
    });
}

fn sdk_config(endpoint: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIDBENCHDRIVER",
            "bench",
            None,
            None,
            "bench",
        )))
        .build()
}

/// The operator as a child process.
struct Operator {
    child: Child,
    metrics: SocketAddr,
    started: Instant,
}

/// Flags of an operator run.
struct Flags {
    resync: &'static str,
    poll: &'static str,
    sweep: &'static str,
    tag_audit: &'static str,
}

impl Default for Flags {
    fn default() -> Self {
        Self {
            resync: "5m",
            poll: "15s",
            sweep: "5m",
            tag_audit: "6h",
        }
    }
}

impl Operator {
    fn start(env: &TestEnv, emulator: &Emulator, namespace: &str, flags: &Flags, log: &str) -> Operator {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let metrics = probe.local_addr().unwrap();
        drop(probe);
        let log_dir = repo_root().join("target/bench");
        std::fs::create_dir_all(&log_dir).unwrap();
        let log = std::fs::File::create(log_dir.join(format!("{log}.log"))).unwrap();
        let started = Instant::now();
        let child = Command::new(env!("CARGO_BIN_EXE_studio-operator"))
            .args(["run", "--metrics-addr", &metrics.to_string()])
            .args(["--resync-interval", flags.resync, "--poll-interval", flags.poll])
            .args(["--sweep-interval", flags.sweep, "--tag-audit-interval", flags.tag_audit])
            .args(["--concurrency", "8", "--cluster-id", "bench", "--log-format", "text"])
            .args(["--watch-namespace", namespace, "--guardrail-selector", "bench=none"])
            .env("KUBECONFIG", &env.kubeconfig)
            .env("AWS_ENDPOINT_URL", emulator.endpoint())
            .env("AWS_ACCESS_KEY_ID", "AKIDBENCHOPERATOR")
            .env("AWS_SECRET_ACCESS_KEY", "bench")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("RUST_LOG", "warn,studio_operator=info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start the operator binary");
        Operator {
            child,
            metrics,
            started,
        }
    }

    /// Seconds from start until `/readyz` answers 200.
    async fn wait_ready(&self) -> f64 {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if http_get(self.metrics, "/readyz")
                .await
                .is_some_and(|(code, _)| code == 200)
            {
                return self.started.elapsed().as_secs_f64();
            }
            assert!(Instant::now() < deadline, "the operator never became ready");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// (peak resident memory MiB, CPU seconds) so far.
    fn usage(&self) -> (f64, f64) {
        let pid = self.child.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let hwm_kib: f64 = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, r)| r)
            .unwrap_or("")
            .split_whitespace()
            .collect();
        let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        // After the command name: state is field 0, utime 11, stime 12 (clock ticks of 1/100 s).
        let cpu = (ticks(11) + ticks(12)) / 100.0;
        (hwm_kib / 1024.0, cpu)
    }

    fn stop(mut self) {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

async fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    let code = response.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, response.split_once("\r\n\r\n")?.1.to_string()))
}

/// Applies manifests with server-side apply, 16 at a time.
async fn apply_all<K>(api: &Api<K>, manifests: Vec<(String, Value)>)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    futures::stream::iter(manifests)
        .for_each_concurrent(16, |(name, manifest)| async move {
            api.patch(&name, &PatchParams::apply("bench").force(), &Patch::Apply(&manifest))
                .await
                .unwrap_or_else(|e| panic!("apply {name}: {e}"));
        })
        .await;
}

fn domain_manifest(name: &str) -> Value {
    json!({
        "apiVersion": "studio-operator.io/v1alpha1",
        "kind": "StudioDomain",
        "metadata": {"name": name},
        "spec": {
            "aws": {"region": "us-east-1"},
            "network": {"vpcId": "vpc-0a1b2c3d4e5f67890", "subnetIds": ["subnet-0a1b2c3d4e5f67891"]},
            "encryption": {"kmsKeyId": "alias/studio"},
            "defaultUserSettings": {"executionRole": "arn:aws:iam::123456789012:role/StudioDefault"},
            "defaultSpaceSettings": {"executionRole": "arn:aws:iam::123456789012:role/StudioSpace"},
            "recreationPolicy": "Recreate"
        }
    })
}

fn profile_manifest(name: &str, domain: &str) -> (String, Value) {
    (
        name.to_string(),
        json!({
            "apiVersion": "studio-operator.io/v1alpha1",
            "kind": "UserProfile",
            "metadata": {"name": name},
            "spec": {
                "domainRef": {"name": domain},
                "userSettings": {"executionRole": "arn:aws:iam::123456789012:role/User"},
                "tags": {"team": "bench"}
            }
        }),
    )
}

fn space_manifest(name: &str, domain: &str, owner: &str) -> (String, Value) {
    (
        name.to_string(),
        json!({
            "apiVersion": "studio-operator.io/v1alpha1",
            "kind": "SharedSpace",
            "metadata": {"name": name},
            "spec": {
                "domainRef": {"name": domain},
                "sharing": {"type": "Shared", "ownerProfile": owner},
                "appType": "JupyterLab",
                "tags": {"team": "bench"}
            }
        }),
    )
}

/// One scenario's setting: a namespace, a fresh emulator, the operator and clients.
struct Stage {
    env: &'static TestEnv,
    client: Client,
    namespace: TestNamespace,
    emulator: Emulator,
    sagemaker: aws_sdk_sagemaker::Client,
}

impl Stage {
    async fn new(prefix: &str, quotas: Quotas) -> Stage {
        let env = TestEnv::get();
        let client = env.client().await;
        let namespace = TestNamespace::new(&client, prefix).await;
        let emulator = Emulator::start(EmulatorConfig {
            quotas,
            ..Default::default()
        })
        .await
        .expect("start the emulator");
        let config = sdk_config(&emulator.endpoint());
        let kms = aws_sdk_kms::Client::new(&config);
        let key = kms.create_key().send().await.unwrap().key_metadata.unwrap();
        kms.create_alias()
            .alias_name("alias/studio")
            .target_key_id(key.key_id())
            .send()
            .await
            .unwrap();
        Stage {
            env,
            client,
            namespace,
            sagemaker: aws_sdk_sagemaker::Client::new(&config),
            emulator,
        }
    }

    fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), &self.namespace.name)
    }

    fn operator(&self, flags: &Flags, log: &str) -> Operator {
        Operator::start(self.env, &self.emulator, &self.namespace.name, flags, log)
    }

    /// Ready profiles and spaces (of the current generation).
    async fn ready(&self) -> (usize, usize) {
        let lp = ListParams::default();
        let profiles = self
            .api::<UserProfile>()
            .list(&lp)
            .await
            .map(|l| l.items)
            .unwrap_or_default();
        let spaces = self
            .api::<SharedSpace>()
            .list(&lp)
            .await
            .map(|l| l.items)
            .unwrap_or_default();
        let p = profiles
            .iter()
            .filter(|p| {
                p.status
                    .as_ref()
                    .is_some_and(|s| s.observed_generation == p.metadata.generation && is_true(&s.conditions, "Ready"))
            })
            .count();
        let s = spaces
            .iter()
            .filter(|sp| {
                sp.status
                    .as_ref()
                    .is_some_and(|s| s.observed_generation == sp.metadata.generation && is_true(&s.conditions, "Ready"))
            })
            .count();
        (p, s)
    }

    async fn domain_ready(&self, name: &str) -> Option<String> {
        let domain = self.api::<StudioDomain>().get(name).await.ok()?;
        let status = domain.status?;
        (status.observed_generation == domain.metadata.generation && is_true(&status.conditions, "Ready"))
            .then_some(status.domain_id)
            .flatten()
    }

    /// Samples (seconds since `start`, ready profiles, ready spaces) each second until
    /// `done(profiles, spaces)` or `timeout`.
    async fn timeline(
        &self,
        start: Instant,
        timeout: Duration,
        done: impl Fn(usize, usize) -> bool,
    ) -> (Vec<(f64, usize, usize)>, bool) {
        let mut samples = Vec::new();
        loop {
            let (p, s) = self.ready().await;
            let t = start.elapsed().as_secs_f64();
            samples.push((t, p, s));
            if done(p, s) {
                return (samples, true);
            }
            if start.elapsed() > timeout {
                return (samples, false);
            }
            tokio::time::sleep(Duration::from_millis(1000)).await;
        }
    }

    fn counts(&self) -> BTreeMap<String, BTreeMap<String, u64>> {
        self.emulator.control().call_counts()
    }
}

/// With `BENCH_DUMP_CALLS` set, writes the emulator's call log to `target/bench/<name>-calls.json`.
fn dump_calls(stage: &Stage, name: &str) {
    if std::env::var_os("BENCH_DUMP_CALLS").is_some() {
        let calls = stage.emulator.control().calls();
        let path = repo_root().join(format!("target/bench/{name}-calls.json"));
        std::fs::write(path, serde_json::to_string(&calls).unwrap()).unwrap();
    }
}

/// Calls by operation (all outcomes), throttled responses, and totals by family.
fn summarize(counts: &BTreeMap<String, BTreeMap<String, u64>>) -> Value {
    let mut by_op = BTreeMap::new();
    let (mut total, mut throttled, mut reads, mut mutating) = (0u64, 0u64, 0u64, 0u64);
    for (op, outcomes) in counts {
        let n: u64 = outcomes.values().sum();
        by_op.insert(op.clone(), n);
        total += n;
        throttled += outcomes.get("ThrottlingException").copied().unwrap_or(0);
        if studio_operator::aws::limiter::is_read(op) {
            reads += n;
        } else {
            mutating += n;
        }
    }
    json!({
        "calls_by_operation": by_op,
        "calls_total": total,
        "read_calls": reads,
        "mutating_calls": mutating,
        "throttled": throttled,
        "throttled_percent": if total > 0 { 100.0 * throttled as f64 / total as f64 } else { 0.0 },
    })
}

fn count(counts: &BTreeMap<String, BTreeMap<String, u64>>, op: &str, outcome: Option<&str>) -> u64 {
    counts
        .get(op)
        .map(|o| match outcome {
            Some(outcome) => o.get(outcome).copied().unwrap_or(0),
            None => o.values().sum(),
        })
        .unwrap_or(0)
}

async fn wait_domain(stage: &Stage, name: &str, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(id) = stage.domain_ready(name).await {
            return id;
        }
        assert!(Instant::now() < deadline, "domain {name} never became Ready");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Scenario 1: one domain, 500 profiles and 100 shared spaces applied at once.
async fn converge() -> Value {
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

/// Scenario 2: steady state with 1,000 profiles over 30 emulated minutes.
async fn steady() -> Value {
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
async fn sleep_into_resync_interval(into: Duration) {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let to_boundary = 10_000 - (since_epoch % 10_000) as u64;
    tokio::time::sleep(Duration::from_millis(to_boundary) + into).await;
}

/// Scenario 3: the sweeper over 2,500 running apps, a tenth of them idle.
async fn sweep() -> Value {
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

/// Scenario 4: recreation of a domain with 150 profiles and 50 spaces (a VPC change).
async fn recreate() -> Value {
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

/// Scenario 5: 5,000 UserProfiles: peak memory, and start to ready after a restart.
async fn memory() -> Value {
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

/// The scenarios of `earlier` that `fresh` did not run again, then `fresh`, in scenario order.
fn merge_results(earlier: Vec<Value>, fresh: Vec<Value>) -> Vec<Value> {
    const ORDER: [&str; 5] = ["converge", "steady_state", "sweeper", "recreation", "memory"];
    let mut merged: Vec<Value> = earlier
        .into_iter()
        .filter(|old| !fresh.iter().any(|new| new["scenario"] == old["scenario"]))
        .collect();
    merged.extend(fresh);
    merged.sort_by_key(|r| ORDER.iter().position(|s| r["scenario"] == *s).unwrap_or(ORDER.len()));
    merged
}

/// A line of the plot: label, (seconds, ready) points, lower bound.
type Series = (String, Vec<(f64, f64)>, Option<f64>);

/// Ready resources over time for the scenarios with a timeline.
fn plot(results: &[Value], path: &PathBuf) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
        .map_err(|_| "cannot register the font")?;
    let series: Vec<Series> = results
        .iter()
        .filter_map(|r| {
            let timeline = r["timeline"].as_array()?;
            let points = timeline
                .iter()
                .map(|p| {
                    let t = p[0].as_f64().unwrap_or_default();
                    (t, p[1].as_f64().unwrap_or_default() + p[2].as_f64().unwrap_or_default())
                })
                .collect();
            let label = match r["scenario"].as_str()? {
                "converge" => format!("1: {} profiles + {} spaces applied at once", r["profiles"], r["spaces"]),
                other => format!("4: {other} with {} profiles + {} spaces", r["profiles"], r["spaces"]),
            };
            Some((label, points, r["lower_bound_seconds"].as_f64()))
        })
        .collect();
    if series.is_empty() {
        return Ok(());
    }
    let x_max = series
        .iter()
        .flat_map(|(_, p, lb)| p.iter().map(|(t, _)| *t).chain(lb.iter().copied()))
        .fold(10.0f64, f64::max)
        * 1.05;
    let y_max = series
        .iter()
        .flat_map(|(_, p, _)| p.iter().map(|(_, y)| *y))
        .fold(10.0f64, f64::max)
        * 1.1;
    let root = BitMapBackend::new(path, (1000, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Ready resources over time", ("sans-serif", 24))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..x_max, 0f64..y_max)?;
    chart
        .configure_mesh()
        .x_desc("seconds since the resources were applied")
        .y_desc("Ready profiles + spaces")
        .draw()?;
    let colors = [BLUE, RED, GREEN, MAGENTA];
    for (i, (label, points, lower_bound)) in series.iter().enumerate() {
        let color = colors[i % colors.len()];
        chart
            .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))?
            .label(label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        if let Some(lb) = lower_bound {
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(*lb, 0.0), (*lb, y_max)],
                    6,
                    4,
                    color.stroke_width(1),
                ))?
                .label(format!("scenario {} lower bound ({lb:.0} s)", &label[..1]))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(1)));
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

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
