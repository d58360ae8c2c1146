//! Leader election with real operator processes (`studio-operator run --leader-election`) against
//! kube-testenv and one AWS emulator: exactly one replica leads and reconciles, a standby takes
//! over within the lease duration when the leader is SIGKILLed, and a leader whose lease is taken
//! stops and exits.

use std::fs::File;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use aws_emulator::{Config as EmulatorConfig, Delays, Emulator};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, Client};
use serde_json::json;
use studio_operator::api::{StudioDomain, UserProfile};

use crate::domain::domain_manifest;
use crate::profile::{apply, profile_manifest, wait_for, wait_gone, wait_profile};
use crate::support::operator::{GUARDRAIL_LABEL, scrape, sdk_config};
use crate::support::wait::{self, has};
use crate::support::{TestEnv, TestNamespace};

const BINARY: &str = env!("CARGO_BIN_EXE_studio-operator");
const LEASE: &str = "studio-operator-e2e";
/// Short, so the takeover is quick; the renewal margin (2 s) leaves the lease requests a 1 s
/// timeout, plenty on a loaded machine.
const LEASE_DURATION: Duration = Duration::from_secs(6);
const RENEW_DEADLINE: Duration = Duration::from_secs(4);
const TIMEOUT: Duration = Duration::from_secs(60);

/// One `studio-operator run --leader-election` process, SIGKILLed when dropped.
struct Replica {
    /// Its POD_NAME, the prefix of its lease holder identity.
    name: &'static str,
    metrics: SocketAddr,
    log: PathBuf,
    child: Option<Child>,
}

impl Replica {
    fn start(name: &'static str, namespace: &str, emulator: &Emulator) -> Replica {
        let metrics: SocketAddr = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap()
        };
        let log = std::env::temp_dir().join(format!("{namespace}-{name}.log"));
        let child = Command::new(BINARY)
            .args(["run", "--leader-election", "--leader-election-namespace", namespace])
            .args(["--leader-election-lease", LEASE])
            .arg(format!(
                "--leader-election-lease-duration={}s",
                LEASE_DURATION.as_secs()
            ))
            .arg(format!(
                "--leader-election-renew-deadline={}s",
                RENEW_DEADLINE.as_secs()
            ))
            .arg(format!("--metrics-addr={metrics}"))
            .args(["--watch-namespace", namespace, "--policy-namespace", namespace])
            .arg(format!("--guardrail-selector={GUARDRAIL_LABEL}={namespace}"))
            .args([
                "--cluster-id",
                "e2e",
                "--resync-interval",
                "3s",
                "--poll-interval",
                "300ms",
            ])
            .env("KUBECONFIG", &TestEnv::get().kubeconfig)
            .env("POD_NAME", name)
            .env("AWS_ENDPOINT_URL", emulator.endpoint())
            .env("AWS_ACCESS_KEY_ID", "AKIDTESTOPERATOR")
            .env("AWS_SECRET_ACCESS_KEY", "test-secret")
            .env("AWS_REGION", "us-east-1")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .expect("start the operator binary");
        Replica {
            name,
            metrics,
            log,
            child: Some(child),
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether `holder` is this replica's identity (`<POD_NAME>_<unique suffix>`).
    fn holds(&self, holder: &str) -> bool {
        holder.starts_with(&format!("{}_", self.name))
    }

    async fn get(&self, path: &str) -> (u16, String) {
        scrape(self.metrics, path).await.unwrap_or((0, String::new()))
    }

    /// The sum of a metric family's samples (0 when absent).
    async fn metric(&self, family: &str) -> f64 {
        let (_, body) = self.get("/metrics").await;
        body.lines()
            .filter(|l| l.starts_with(family) && l[family.len()..].starts_with(['{', ' ']))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// SIGKILL: no release of the lease, no cleanup.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// SIGTERM and wait for the exit.
    async fn terminate(&mut self) -> ExitStatus {
        let child = self.child.take().expect("running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.wait_exit_of(child).await
    }

    /// Waits (up to 30 s) for the process to exit by itself.
    async fn exited(&mut self) -> ExitStatus {
        let child = self.child.take().expect("running");
        self.wait_exit_of(child).await
    }

    async fn wait_exit_of(&self, mut child: Child) -> ExitStatus {
        let waited = tokio::task::spawn_blocking(move || {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Some(status) = child.try_wait().unwrap() {
                    return Some(status);
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    return None;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        match waited.await.unwrap() {
            Some(status) => status,
            None => panic!("{} did not exit; log:\n{}", self.name, self.log()),
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("---- log of {} ----\n{}", self.name, self.log());
        }
    }
}

async fn emulator_with_key() -> Emulator {
    let emulator = Emulator::start(EmulatorConfig {
        delays: Delays::uniform(0.3),
        ..Default::default()
    })
    .await
    .expect("start emulator");
    let kms = aws_sdk_kms::Client::new(&sdk_config(&emulator.endpoint()));
    let key = kms.create_key().send().await.unwrap().key_metadata.unwrap();
    kms.create_alias()
        .alias_name("alias/studio")
        .target_key_id(key.key_id())
        .send()
        .await
        .unwrap();
    emulator.control().clear_calls();
    emulator
}

/// Waits until the Lease has a holder that `accept`s; returns it.
async fn holder(client: &Client, namespace: &str, what: &str, accept: impl Fn(&str) -> bool) -> String {
    let leases: Api<Lease> = Api::namespaced(client.clone(), namespace);
    wait::until(what, TIMEOUT, || {
        let leases = leases.clone();
        let accept = &accept;
        async move {
            let lease = leases.get_opt(LEASE).await.map_err(|e| e.to_string())?;
            let holder = lease
                .as_ref()
                .and_then(|l| l.spec.as_ref()?.holder_identity.clone())
                .unwrap_or_default();
            if !holder.is_empty() && accept(&holder) {
                Ok(holder)
            } else {
                Err(format!("{lease:#?}"))
            }
        }
    })
    .await
}

async fn wait_endpoint(replica: &Replica, path: &str, code: u16) {
    wait::until(
        &format!("{} {path} answers {code}", replica.name),
        TIMEOUT,
        || async move {
            match replica.get(path).await {
                (got, _) if got == code => Ok(()),
                other => Err(other),
            }
        },
    )
    .await
}

async fn wait_domain_ready(domains: &Api<StudioDomain>, name: &str) {
    wait_for(domains, name, "Ready=True", |d: &StudioDomain| {
        let status = d.status.as_ref()?;
        (status.observed_generation == d.metadata.generation && has(&status.conditions, "Ready", "True")).then_some(())
    })
    .await;
}

#[tokio::test]
async fn one_replica_leads_and_a_standby_takes_over_within_the_lease_duration() {
    let env = TestEnv::get();
    let client = env.client().await;
    let namespace = TestNamespace::new(&client, "leader").await;
    let ns = namespace.name.as_str();
    let emulator = emulator_with_key().await;
    let mut a = Replica::start("op-a", ns, &emulator);
    let mut b = Replica::start("op-b", ns, &emulator);

    // Exactly one leads: it holds the Lease, is Ready and reports itself leader; the standby
    // serves /healthz and /metrics but is not Ready.
    let first = holder(&client, ns, "a leader", |h| a.holds(h) || b.holds(h)).await;
    let (leader, standby) = if a.holds(&first) {
        (&mut a, &mut b)
    } else {
        (&mut b, &mut a)
    };
    wait_endpoint(leader, "/readyz", 200).await;
    assert_eq!(leader.get("/healthz").await, (200, "ok".into()));
    assert_eq!(standby.get("/healthz").await, (200, "ok".into()));
    assert_eq!(standby.get("/readyz").await, (503, "not ready".into()));
    assert_eq!(leader.metric("studio_operator_leader").await, 1.0);
    assert_eq!(standby.metric("studio_operator_leader").await, 0.0);

    // The leader reconciles a domain and a profile to Ready.
    let domains: Api<StudioDomain> = Api::namespaced(client.clone(), ns);
    let profiles: Api<UserProfile> = Api::namespaced(client.clone(), ns);
    apply(&domains, "platform", &domain_manifest("platform", "alias/studio")).await;
    wait_domain_ready(&domains, "platform").await;
    apply(&profiles, "alice", &profile_manifest("alice", "platform")).await;
    wait_profile(&profiles, "alice", "Ready", "True").await;

    // Only the leader called AWS: the standby counted no call and no reconcile, and every call in
    // the emulator's log is one the leader counted (read after the leader's count).
    let leader_calls = leader.metric("studio_operator_aws_calls_total").await;
    let logged = emulator.control().calls().len() as f64;
    assert!(leader_calls > 0.0, "the leader made no AWS call");
    assert!(
        leader_calls <= logged,
        "leader counted {leader_calls} calls, the emulator logged {logged}"
    );
    assert_eq!(standby.metric("studio_operator_aws_calls_total").await, 0.0);
    assert_eq!(standby.metric("studio_operator_reconciles_total").await, 0.0);
    assert_eq!(standby.get("/readyz").await.0, 503, "still a standby");

    // SIGKILL the leader: it cannot release the lease, so the standby takes over when the lease
    // expires, at most one lease duration after the leader's last renewal.
    leader.kill();
    let killed = Instant::now();
    let second = holder(&client, ns, "the standby to take over", |h| standby.holds(h)).await;
    let took = killed.elapsed();
    assert!(
        took <= LEASE_DURATION + Duration::from_secs(3),
        "took over after {took:?} (lease {LEASE_DURATION:?})"
    );
    assert_ne!(first, second);
    wait_endpoint(standby, "/readyz", 200).await;
    assert_eq!(standby.metric("studio_operator_leader").await, 1.0);

    // The new leader reconciles a change made after the takeover.
    let calls_before = standby.metric("studio_operator_aws_calls_total").await;
    apply(&profiles, "bob", &profile_manifest("bob", "platform")).await;
    wait_profile(&profiles, "bob", "Ready", "True").await;
    assert!(standby.metric("studio_operator_aws_calls_total").await > calls_before);

    // Clean up while a leader runs (the finalizers need it), then SIGTERM: a clean exit that
    // releases the lease.
    for name in ["alice", "bob"] {
        profiles.delete(name, &DeleteParams::default()).await.unwrap();
    }
    for name in ["alice", "bob"] {
        wait_gone(&profiles, name).await;
    }
    domains.delete("platform", &DeleteParams::default()).await.unwrap();
    wait_gone(&domains, "platform").await;
    let status = standby.terminate().await;
    assert!(status.success(), "exit {status:?}; log:\n{}", standby.log());
    let log = standby.log();
    assert!(log.contains("released the leader lease"), "{log}");
    let lease = Api::<Lease>::namespaced(client.clone(), ns).get(LEASE).await.unwrap();
    assert_eq!(lease.spec.and_then(|s| s.holder_identity), None, "released");
}

#[tokio::test]
async fn a_leader_whose_lease_is_taken_stops_and_exits_with_a_clear_message() {
    let env = TestEnv::get();
    let client = env.client().await;
    let namespace = TestNamespace::new(&client, "leader-lost").await;
    let ns = namespace.name.as_str();
    let emulator = emulator_with_key().await;
    let mut replica = Replica::start("op-solo", ns, &emulator);
    holder(&client, ns, "the replica to lead", |h| replica.holds(h)).await;
    wait_endpoint(&replica, "/readyz", 200).await;

    // Someone else takes the lease (as a replica would after a network partition).
    let leases: Api<Lease> = Api::namespaced(client.clone(), ns);
    let now = k8s_openapi::jiff::Timestamp::now();
    let intruder = json!({"spec": {
        "holderIdentity": "intruder",
        "renewTime": k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(now),
        "leaseDurationSeconds": 3600,
    }});
    leases
        .patch(LEASE, &PatchParams::default(), &Patch::Merge(&intruder))
        .await
        .unwrap();

    // At its next renewal the replica sees it, stops every controller and exits non-zero.
    let status = replica.exited().await;
    assert!(!status.success(), "must exit non-zero so Kubernetes restarts it");
    let log = replica.log();
    assert!(log.contains("lost the leader lease"), "{log}");
    assert!(log.contains("another replica holds the lease"), "{log}");
    let lease = leases.get(LEASE).await.unwrap();
    assert_eq!(
        lease.spec.and_then(|s| s.holder_identity).as_deref(),
        Some("intruder"),
        "the replica never takes a valid lease back"
    );
}

#[test]
fn inconsistent_lease_durations_are_refused_at_start() {
    let out = Command::new(BINARY)
        .args([
            "run",
            "--log-format",
            "text",
            "--metrics-addr",
            "127.0.0.1:0",
            "--leader-election",
        ])
        .args([
            "--leader-election-lease-duration",
            "10s",
            "--leader-election-renew-deadline",
            "10s",
        ])
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "--leader-election-renew-deadline (10s) must be less than --leader-election-lease-duration (10s)"
        ),
        "{stderr}"
    );
}
