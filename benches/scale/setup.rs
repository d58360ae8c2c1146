//! What every scenario uses: the emulator's realistic settings, the operator as its own process, manifests, and the call log.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::testenv::{TestEnv, TestNamespace, repo_root};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_emulator::{Config as EmulatorConfig, Delays, Emulator, Quotas, RateLimit};
use futures::StreamExt;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, Client};
use serde_json::{Value, json};
use studio_operator::api::{SharedSpace, StudioDomain, UserProfile};
use studio_operator::status::is_true;

pub(crate) const MUTATING_RATE: f64 = 10.0;
pub(crate) const READ_RATE: f64 = 20.0;
pub(crate) const LATENCY_MS: u64 = 30;
/// Pending→InService (and deletion) of every resource, seconds.
pub(crate) const DELAY: f64 = 5.0;

pub(crate) fn scale() -> f64 {
    std::env::var("BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0)
}

pub(crate) fn scaled(n: usize) -> usize {
    ((n as f64 * scale()).round() as usize).max(1)
}

pub(crate) fn realistic(emulator: &Emulator) {
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

pub(crate) fn sdk_config(endpoint: &str) -> SdkConfig {
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
pub(crate) struct Operator {
    pub(crate) child: Child,
    pub(crate) metrics: SocketAddr,
    pub(crate) started: Instant,
}

/// Flags of an operator run.
pub(crate) struct Flags {
    pub(crate) resync: &'static str,
    pub(crate) poll: &'static str,
    pub(crate) sweep: &'static str,
    pub(crate) tag_audit: &'static str,
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
    pub(crate) fn start(env: &TestEnv, emulator: &Emulator, namespace: &str, flags: &Flags, log: &str) -> Operator {
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
    pub(crate) async fn wait_ready(&self) -> f64 {
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
    pub(crate) fn usage(&self) -> (f64, f64) {
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

    pub(crate) fn stop(mut self) {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

pub(crate) async fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
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
pub(crate) async fn apply_all<K>(api: &Api<K>, manifests: Vec<(String, Value)>)
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

pub(crate) fn domain_manifest(name: &str) -> Value {
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

pub(crate) fn profile_manifest(name: &str, domain: &str) -> (String, Value) {
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

pub(crate) fn space_manifest(name: &str, domain: &str, owner: &str) -> (String, Value) {
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
pub(crate) struct Stage {
    pub(crate) env: &'static TestEnv,
    pub(crate) client: Client,
    pub(crate) namespace: TestNamespace,
    pub(crate) emulator: Emulator,
    pub(crate) sagemaker: aws_sdk_sagemaker::Client,
}

impl Stage {
    pub(crate) async fn new(prefix: &str, quotas: Quotas) -> Stage {
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

    pub(crate) fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), &self.namespace.name)
    }

    pub(crate) fn operator(&self, flags: &Flags, log: &str) -> Operator {
        Operator::start(self.env, &self.emulator, &self.namespace.name, flags, log)
    }

    /// Ready profiles and spaces (of the current generation).
    pub(crate) async fn ready(&self) -> (usize, usize) {
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

    pub(crate) async fn domain_ready(&self, name: &str) -> Option<String> {
        let domain = self.api::<StudioDomain>().get(name).await.ok()?;
        let status = domain.status?;
        (status.observed_generation == domain.metadata.generation && is_true(&status.conditions, "Ready"))
            .then_some(status.domain_id)
            .flatten()
    }

    /// Samples (seconds since `start`, ready profiles, ready spaces) each second until
    /// `done(profiles, spaces)` or `timeout`.
    pub(crate) async fn timeline(
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

    pub(crate) fn counts(&self) -> BTreeMap<String, BTreeMap<String, u64>> {
        self.emulator.control().call_counts()
    }
}

/// With `BENCH_DUMP_CALLS` set, writes the emulator's call log to `target/bench/<name>-calls.json`.
pub(crate) fn dump_calls(stage: &Stage, name: &str) {
    if std::env::var_os("BENCH_DUMP_CALLS").is_some() {
        let calls = stage.emulator.control().calls();
        let path = repo_root().join(format!("target/bench/{name}-calls.json"));
        std::fs::write(path, serde_json::to_string(&calls).unwrap()).unwrap();
    }
}

/// Calls by operation (all outcomes), throttled responses, and totals by family.
pub(crate) fn summarize(counts: &BTreeMap<String, BTreeMap<String, u64>>) -> Value {
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

pub(crate) fn count(counts: &BTreeMap<String, BTreeMap<String, u64>>, op: &str, outcome: Option<&str>) -> u64 {
    counts
        .get(op)
        .map(|o| match outcome {
            Some(outcome) => o.get(outcome).copied().unwrap_or(0),
            None => o.values().sum(),
        })
        .unwrap_or(0)
}

pub(crate) async fn wait_domain(stage: &Stage, name: &str, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(id) = stage.domain_ready(name).await {
            return id;
        }
        assert!(Instant::now() < deadline, "domain {name} never became Ready");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
