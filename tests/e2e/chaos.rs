//! Chaos: the real operator binary, SIGKILLed and restarted at seeded random points while it
//! creates, updates, recreates and deletes a domain with profiles and spaces, against an emulator
//! that throttles, fails, drops connections and answers slowly. After every phase the invariants
//! are checked, not assumed. Beside it, a second operator with another cluster id manages its
//! own domain in the same account the whole time: neither may touch the other's resources.
//! `make test` runs a short version (1 run); `make chaos` runs
//! `CHAOS_RUNS` (default 20) and writes `target/chaos-report.json`. `CHAOS_SEED` replays a run.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_emulator::{Config as EmulatorConfig, Delays, Emulator, FaultKind, FaultRule};
use kube::Api;
use kube::api::DeleteParams;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use studio_operator::api::{SharedSpace, StudioDomain, UserProfile};

use crate::profile::apply;
use crate::support::operator::sdk_config;
use crate::support::wait::has;
use crate::support::{TestEnv, TestNamespace};

const BINARY: &str = env!("CARGO_BIN_EXE_studio-operator");
const PROFILES: [&str; 3] = ["alice", "bob", "carol"];
const SPACES: [&str; 2] = ["team", "lab"];
/// How long a phase may take to converge under faults and kills. A liveness bound, not a
/// timing: a recreation under throttling beside the rest of the suite has taken over 150 s.
const PHASE_TIMEOUT: Duration = Duration::from_secs(240);
/// Recognisable fake credentials: none of them may ever appear in the operator's logs.
const ACCESS_KEY_ID: &str = "AKIDCHAOSLOGSCAN0001";
const SECRET_ACCESS_KEY: &str = "chaos-secret-must-never-be-logged";
const SESSION_TOKEN: &str = "chaos-session-token-must-never-be-logged";

/// The cluster id of the second operator, the neighbour sharing the AWS account.
const NEIGHBOUR_CLUSTER: &str = "chaos-neighbour";

/// The operator binary, restarted after each kill.
struct Operator {
    child: Option<Child>,
    cluster_id: &'static str,
    namespace: String,
    endpoint: String,
    log: std::path::PathBuf,
    restarts: u32,
    peak_rss_kib: Vec<u64>,
}

impl Operator {
    fn start(cluster_id: &'static str, namespace: &str, endpoint: &str, log: std::path::PathBuf) -> Operator {
        let mut operator = Operator {
            child: None,
            cluster_id,
            namespace: namespace.into(),
            endpoint: endpoint.into(),
            log,
            restarts: 0,
            peak_rss_kib: Vec::new(),
        };
        operator.spawn();
        operator
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(BINARY)
            .args([
                "run",
                "--metrics-addr",
                "127.0.0.1:0",
                "--watch-namespace",
                &self.namespace,
                "--resync-interval",
                "2s",
                "--poll-interval",
                "300ms",
                "--cluster-id",
                self.cluster_id,
                "--policy-namespace",
                &self.namespace,
                "--guardrail-selector",
                "chaos.studio-operator.io/none=none",
            ])
            .env("KUBECONFIG", &TestEnv::get().kubeconfig)
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
            .env("AWS_SESSION_TOKEN", SESSION_TOKEN)
            .env("AWS_REGION", "us-east-1")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start the operator binary");
        self.child = Some(child);
    }

    /// SIGKILL: no graceful shutdown, in-flight calls lost.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Some(peak) = peak_rss_kib(child.id()) {
                self.peak_rss_kib.push(peak);
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn restart(&mut self) {
        self.kill();
        self.restarts += 1;
        self.spawn();
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.kill();
    }
}

/// VmHWM of a process, KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// What one run saw.
#[derive(Debug, Default, serde::Serialize)]
pub struct RunReport {
    seed: u64,
    restarts: u32,
    faults_injected: BTreeMap<String, u64>,
    calls: u64,
    stalled_calls_per_minute: f64,
    peak_rss_kib: u64,
    log_lines: usize,
    violations: Vec<String>,
    seconds: f64,
}

fn domain(vpc: &str) -> Value {
    json!({
        "apiVersion": "studio-operator.io/v1alpha1", "kind": "StudioDomain",
        "metadata": {"name": "platform"},
        "spec": {
            "aws": {"region": "us-east-1"},
            "network": {"vpcId": vpc, "subnetIds": ["subnet-0a1b2c3d4e5f67891"]},
            "encryption": {"kmsKeyId": "alias/studio"},
            "defaultUserSettings": {
                "executionRole": "arn:aws:iam::123456789012:role/StudioDefault",
                "jupyterLab": {"defaultResourceSpec": {"instanceType": "ml.t3.medium"}},
            },
            "defaultSpaceSettings": {"executionRole": "arn:aws:iam::123456789012:role/StudioSpace"},
            "idleShutdown": {"idleTimeoutMinutes": 120, "activityReporter": true},
            "spaceBackup": {"s3Uri": "s3://chaos-backups/studio", "kmsKeyId": "alias/studio"},
        },
    })
}

/// Plays the space-backup agent: the spaces' homes were last backed up `backup_age` ago, two
/// minutes after their last activity, or before it when `stale` (tags written through the
/// faulty emulator, retried).
async fn agent_backs_up(
    spaces: &Api<SharedSpace>,
    sagemaker: &aws_sdk_sagemaker::Client,
    report: &mut RunReport,
    stale: bool,
) {
    let now = chrono::Utc::now();
    let stamp = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (activity, backup) = if stale {
        (now, now - chrono::Duration::hours(1))
    } else {
        (now - chrono::Duration::seconds(120), now)
    };
    for name in SPACES {
        let arn = spaces.get(name).await.ok().and_then(|s| s.status?.space_arn);
        let Some(arn) = arn else {
            report.violations.push(format!("space {name} has no ARN to back up"));
            continue;
        };
        let tags = [
            ("studio-operator.io/last-activity", stamp(activity)),
            ("studio-operator.io/last-backup", stamp(backup)),
        ]
        .map(|(k, v)| aws_sdk_sagemaker::types::Tag::builder().key(k).value(v).build());
        let mut written = false;
        for _ in 0..20 {
            let call = sagemaker.add_tags().resource_arn(&arn).set_tags(Some(tags.to_vec()));
            if call.send().await.is_ok() {
                written = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        if !written {
            report
                .violations
                .push(format!("the backup tags of space {name} could not be written"));
        }
    }
}

/// After a recreation every new space restores its predecessor's backup.
async fn check_restores(spaces: &Api<SharedSpace>, sagemaker: &aws_sdk_sagemaker::Client, report: &mut RunReport) {
    for name in SPACES {
        let arn = spaces
            .get(name)
            .await
            .ok()
            .and_then(|s| s.status?.space_arn)
            .unwrap_or_default();
        let tags = sagemaker.list_tags().resource_arn(&arn).send().await;
        let restore_from = tags.ok().and_then(|t| {
            t.tags()
                .iter()
                .find(|t| t.key() == Some("studio-operator.io/restore-from"))
                .and_then(|t| t.value().map(String::from))
        });
        if !restore_from
            .is_some_and(|r| r.starts_with("s3://chaos-backups/studio/") && r.ends_with(&format!("/{name}/")))
        {
            report
                .violations
                .push(format!("recreate: the new space {name} does not restore its backup"));
        }
    }
}

fn profile(name: &str, team: &str) -> Value {
    json!({
        "apiVersion": "studio-operator.io/v1alpha1", "kind": "UserProfile",
        "metadata": {"name": name},
        "spec": {"domainRef": {"name": "platform"}, "tags": {"team": team}},
    })
}

fn space(name: &str) -> Value {
    json!({
        "apiVersion": "studio-operator.io/v1alpha1", "kind": "SharedSpace",
        "metadata": {"name": name},
        "spec": {"domainRef": {"name": "platform"}, "sharing": {"type": "Shared", "ownerProfile": "alice"}, "appType": "JupyterLab"},
    })
}

/// The faults of a run: every kind at a few percent, on every operation.
fn faults() -> Vec<FaultRule> {
    let rule = |kind, probability, delay_ms| FaultRule {
        target: "*".into(),
        kind,
        probability: Some(probability),
        count: None,
        delay_ms,
    };
    vec![
        rule(FaultKind::Throttling, 0.06, None),
        rule(FaultKind::InternalFailure, 0.03, None),
        rule(FaultKind::ServiceUnavailable, 0.03, None),
        rule(FaultKind::DropConnection, 0.02, None),
        rule(FaultKind::Slow, 0.05, Some(400)),
    ]
}

struct Cluster {
    domains: Api<StudioDomain>,
    profiles: Api<UserProfile>,
    spaces: Api<SharedSpace>,
}

impl Cluster {
    /// Whether every resource is Ready for its current generation; otherwise who is not.
    async fn not_ready(&self) -> Vec<String> {
        let mut waiting = Vec::new();
        let ready = |conditions: &[_], generation: Option<i64>, observed: Option<i64>| {
            has(conditions, "Ready", "True") && generation == observed
        };
        for d in self
            .domains
            .list(&Default::default())
            .await
            .map(|l| l.items)
            .unwrap_or_default()
        {
            let st = d.status.clone().unwrap_or_default();
            if !ready(&st.conditions, d.metadata.generation, st.observed_generation) {
                waiting.push(format!("StudioDomain/{}", d.metadata.name.unwrap_or_default()));
            }
        }
        for p in self
            .profiles
            .list(&Default::default())
            .await
            .map(|l| l.items)
            .unwrap_or_default()
        {
            let st = p.status.clone().unwrap_or_default();
            if !ready(&st.conditions, p.metadata.generation, st.observed_generation) {
                waiting.push(format!("UserProfile/{}", p.metadata.name.unwrap_or_default()));
            }
        }
        for s in self
            .spaces
            .list(&Default::default())
            .await
            .map(|l| l.items)
            .unwrap_or_default()
        {
            let st = s.status.clone().unwrap_or_default();
            if !ready(&st.conditions, s.metadata.generation, st.observed_generation) {
                waiting.push(format!("SharedSpace/{}", s.metadata.name.unwrap_or_default()));
            }
        }
        waiting
    }
}

/// Waits for `done`, SIGKILLing and restarting the operator at random moments meanwhile.
async fn converge_under_kills<F, Fut>(
    rng: &mut StdRng,
    operator: &mut Operator,
    what: &str,
    done: F,
) -> Result<(), String>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let kills = rng.random_range(1..=2);
    for _ in 0..kills {
        tokio::time::sleep(Duration::from_millis(rng.random_range(200..2500))).await;
        operator.restart();
    }
    let deadline = Instant::now() + PHASE_TIMEOUT;
    loop {
        match done().await {
            Ok(()) => return Ok(()),
            Err(last) if Instant::now() > deadline => return Err(format!("{what}: {last}")),
            Err(_) => tokio::time::sleep(Duration::from_millis(300)).await,
        }
    }
}

/// The recreation waits at the gate (`Recreating=False BackupPending`) through SIGKILLs, and no
/// deleting call reaches AWS meanwhile.
async fn hold_under_kills(
    rng: &mut StdRng,
    operator: &mut Operator,
    domains: &Api<StudioDomain>,
    emulator: &Emulator,
    report: &mut RunReport,
) {
    let deletes = |emulator: &Emulator| {
        ["DeleteApp", "DeleteSpace", "DeleteUserProfile", "DeleteDomain"]
            .iter()
            .map(|op| emulator.control().count(op, None))
            .sum::<u64>()
    };
    let before = deletes(emulator);
    let held = || async {
        let domain = domains.get("platform").await.map_err(|e| e.to_string())?;
        let conditions = domain.status.map(|s| s.conditions).unwrap_or_default();
        let recreating = conditions.iter().find(|c| c.type_ == "Recreating");
        match recreating {
            Some(c) if c.status == "False" && c.reason == "BackupPending" => Ok(()),
            other => Err(format!("not held at the gate: {other:?}")),
        }
    };
    if let Err(e) = converge_under_kills(rng, operator, "recreate held", held).await {
        report.violations.push(e);
    }
    // More kills while it holds: a restarted operator must hold it again, not delete.
    for _ in 0..2 {
        operator.restart();
        tokio::time::sleep(Duration::from_millis(rng.random_range(1500..3000))).await;
    }
    if let Err(e) = held().await {
        report.violations.push(format!("recreate held: {e}"));
    }
    let deleted = deletes(emulator) - before;
    if deleted > 0 {
        report.violations.push(format!(
            "recreate held: {deleted} deleting calls while the backups were stale"
        ));
    }
}

/// The AWS side matches the specs: one domain of that name, exactly the profiles and spaces
/// the cluster asks for, the domain's default instance type and the profiles' tags. Faults are
/// paused while checking, so the check itself sees the truth.
async fn check_aws(
    emulator: &Emulator,
    sdk: &aws_sdk_sagemaker::Client,
    instance_type: &str,
    team: &str,
) -> Vec<String> {
    let mut violations = Vec::new();
    let live: Vec<_> = emulator
        .control()
        .domains()
        .into_iter()
        .filter(|d| d.domain_name == "platform" && !matches!(d.status.as_str(), "Deleting" | "Deleted"))
        .collect();
    if live.len() != 1 {
        violations.push(format!("expected one domain named platform, found {}", live.len()));
        return violations;
    }
    let domain = &live[0];
    let sorted = |items: &[String]| {
        let mut items = items.to_vec();
        items.sort();
        items
    };
    let expected: Vec<String> = sorted(&PROFILES.map(String::from));
    if sorted(&domain.user_profiles) != expected {
        violations.push(format!(
            "profiles in AWS {:?}, expected {expected:?}",
            domain.user_profiles
        ));
    }
    let expected: Vec<String> = sorted(&SPACES.map(String::from));
    if sorted(&domain.spaces) != expected {
        violations.push(format!("spaces in AWS {:?}, expected {expected:?}", domain.spaces));
    }
    let described = sdk.describe_domain().domain_id(&domain.domain_id).send().await.unwrap();
    let actual = described
        .default_user_settings()
        .and_then(|u| u.jupyter_lab_app_settings())
        .and_then(|j| j.default_resource_spec())
        .and_then(|r| r.instance_type())
        .map(|t| t.as_str().to_string());
    if actual.as_deref() != Some(instance_type) {
        violations.push(format!(
            "default instance type in AWS {actual:?}, expected {instance_type}"
        ));
    }
    for name in PROFILES {
        let profile = sdk
            .describe_user_profile()
            .domain_id(&domain.domain_id)
            .user_profile_name(name)
            .send()
            .await;
        let Ok(profile) = profile else { continue };
        let tags = sdk
            .list_tags()
            .resource_arn(profile.user_profile_arn().unwrap_or_default())
            .send()
            .await
            .unwrap();
        let value = tags
            .tags()
            .iter()
            .find(|t| t.key() == Some("team"))
            .and_then(|t| t.value());
        if value != Some(team) {
            violations.push(format!("profile {name} has team={value:?} in AWS, expected {team}"));
        }
    }
    violations
}

async fn check_phase(
    emulator: &Emulator,
    sdk: &aws_sdk_sagemaker::Client,
    report: &mut RunReport,
    phase: &str,
    instance_type: &str,
    team: &str,
) {
    emulator.control().clear_faults();
    let found = check_aws(emulator, sdk, instance_type, team).await;
    report
        .violations
        .extend(found.into_iter().map(|v| format!("after {phase}: {v}")));
    for rule in faults() {
        emulator.control().inject_fault(rule);
    }
}

/// The neighbour: a second operator (cluster id [`NEIGHBOUR_CLUSTER`]) in its own namespace with
/// a domain `neighbour` and a profile `nina`, in the same account as the operator under test.
struct Neighbour {
    _namespace: TestNamespace,
    domains: Api<StudioDomain>,
    profiles: Api<UserProfile>,
    operator: Operator,
}

impl Neighbour {
    async fn start(client: &kube::Client, emulator: &Emulator) -> Neighbour {
        let namespace = TestNamespace::new(client, "chaos-neighbour").await;
        let log = std::env::temp_dir().join(format!("{}-operator.log", namespace.name));
        let operator = Operator::start(NEIGHBOUR_CLUSTER, &namespace.name, &emulator.endpoint(), log);
        let domains: Api<StudioDomain> = Api::namespaced(client.clone(), &namespace.name);
        let profiles: Api<UserProfile> = Api::namespaced(client.clone(), &namespace.name);
        let mut domain = domain("vpc-0a1b2c3d4e5f67890");
        domain["metadata"]["name"] = json!("neighbour");
        domain["spec"]["domainName"] = json!("neighbour");
        domain["spec"]["idleShutdown"] = json!({"idleTimeoutMinutes": 120});
        apply(&domains, "neighbour", &domain).await;
        let mut nina = profile("nina", "neighbours");
        nina["spec"]["domainRef"]["name"] = json!("neighbour");
        apply(&profiles, "nina", &nina).await;
        Neighbour {
            _namespace: namespace,
            domains,
            profiles,
            operator,
        }
    }

    async fn wait_ready(&self, report: &mut RunReport) {
        let ready = crate::support::wait::try_until(PHASE_TIMEOUT, || async {
            let domain = self.domains.get("neighbour").await.map_err(|e| e.to_string())?;
            let profile = self.profiles.get("nina").await.map_err(|e| e.to_string())?;
            let domain_ready = domain.status.is_some_and(|st| has(&st.conditions, "Ready", "True"));
            let profile_ready = profile.status.is_some_and(|st| has(&st.conditions, "Ready", "True"));
            if domain_ready && profile_ready {
                Ok(())
            } else {
                Err("the neighbour's domain or profile is not Ready".to_string())
            }
        })
        .await;
        if let Err(e) = ready {
            report.violations.push(format!("neighbour: {e}"));
        }
    }

    /// The neighbour's domain and profile are untouched: live, still tagged as the neighbour's,
    /// and no call ever deleted anything of its domain.
    fn check(&self, emulator: &Emulator, report: &mut RunReport, phase: &str) {
        let live: Vec<_> = emulator
            .control()
            .domains()
            .into_iter()
            .filter(|d| d.domain_name == "neighbour" && d.status == "InService")
            .collect();
        let [domain] = live.as_slice() else {
            report.violations.push(format!(
                "after {phase}: expected the neighbour's domain InService, found {live:?}"
            ));
            return;
        };
        if domain.user_profiles != ["nina"] {
            report.violations.push(format!(
                "after {phase}: the neighbour's profiles are {:?}",
                domain.user_profiles
            ));
        }
        let cluster = domain
            .tags
            .iter()
            .find(|t| t.key == "studio-operator.io/cluster")
            .map(|t| t.value.clone());
        if cluster.as_deref() != Some(NEIGHBOUR_CLUSTER) {
            report.violations.push(format!(
                "after {phase}: the neighbour's domain is tagged cluster={cluster:?}"
            ));
        }
        let deletes: Vec<String> = emulator
            .control()
            .calls()
            .into_iter()
            .filter(|c| c.operation.starts_with("Delete") && c.members["DomainId"] == domain.domain_id.as_str())
            .map(|c| format!("{} {}", c.operation, c.members))
            .collect();
        if !deletes.is_empty() {
            report.violations.push(format!(
                "after {phase}: deletions in the neighbour's domain: {deletes:?}"
            ));
        }
    }

    /// The neighbour deletes its own resources, then stops.
    async fn delete(mut self, report: &mut RunReport) {
        let _ = self.profiles.delete("nina", &DeleteParams::default()).await;
        let _ = self.domains.delete("neighbour", &DeleteParams::default()).await;
        let gone = crate::support::wait::try_until(PHASE_TIMEOUT, || async {
            match self.domains.list(&Default::default()).await {
                Ok(list) if list.items.is_empty() => Ok(()),
                other => Err(format!(
                    "the neighbour's domain is not gone: {:?}",
                    other.map(|l| l.items.len())
                )),
            }
        })
        .await;
        if let Err(e) = gone {
            report.violations.push(format!("neighbour: {e}"));
        }
        self.operator.kill();
    }
}

/// One seeded run: create, update, recreate, delete, each under kills and faults.
pub async fn chaos_run(seed: u64) -> RunReport {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut report = RunReport {
        seed,
        ..Default::default()
    };
    eprintln!("chaos run with CHAOS_SEED={seed}");
    let client = TestEnv::get().client().await;
    let namespace = TestNamespace::new(&client, "chaos").await;
    let emulator = Emulator::start(EmulatorConfig {
        delays: Delays::uniform(0.3),
        ..Default::default()
    })
    .await
    .unwrap();
    emulator.control().set_seed(seed);
    let sdk = sdk_config(&emulator.endpoint());
    let kms = aws_sdk_kms::Client::new(&sdk);
    let sagemaker = aws_sdk_sagemaker::Client::new(&sdk);
    let key = kms.create_key().send().await.unwrap().key_metadata.unwrap();
    kms.create_alias()
        .alias_name("alias/studio")
        .target_key_id(key.key_id())
        .send()
        .await
        .unwrap();
    let cluster = Cluster {
        domains: Api::namespaced(client.clone(), &namespace.name),
        profiles: Api::namespaced(client.clone(), &namespace.name),
        spaces: Api::namespaced(client.clone(), &namespace.name),
    };
    let log = std::env::temp_dir().join(format!("chaos-{seed}-operator.log"));
    let _ = std::fs::remove_file(&log);
    let mut operator = Operator::start("chaos", &namespace.name, &emulator.endpoint(), log.clone());
    let neighbour = Neighbour::start(&client, &emulator).await;
    for rule in faults() {
        emulator.control().inject_fault(rule);
    }
    let all_ready = || async {
        let waiting = cluster.not_ready().await;
        if waiting.is_empty() {
            Ok(())
        } else {
            Err(format!("not Ready: {waiting:?}"))
        }
    };

    // Create.
    apply(&cluster.domains, "platform", &domain("vpc-0a1b2c3d4e5f67890")).await;
    for p in PROFILES {
        apply(&cluster.profiles, p, &profile(p, "one")).await;
    }
    for s in SPACES {
        apply(&cluster.spaces, s, &space(s)).await;
    }
    if let Err(e) = converge_under_kills(&mut rng, &mut operator, "create", all_ready).await {
        report.violations.push(e);
    }
    check_phase(&emulator, &sagemaker, &mut report, "create", "ml.t3.medium", "one").await;
    neighbour.wait_ready(&mut report).await;
    neighbour.check(&emulator, &mut report, "create");

    // Update: profile tags and the domain's default instance type.
    let mut updated = domain("vpc-0a1b2c3d4e5f67890");
    updated["spec"]["defaultUserSettings"]["jupyterLab"]["defaultResourceSpec"]["instanceType"] = json!("ml.m5.large");
    apply(&cluster.domains, "platform", &updated).await;
    for p in PROFILES {
        apply(&cluster.profiles, p, &profile(p, "two")).await;
    }
    if let Err(e) = converge_under_kills(&mut rng, &mut operator, "update", all_ready).await {
        report.violations.push(e);
    }
    check_phase(&emulator, &sagemaker, &mut report, "update", "ml.m5.large", "two").await;
    neighbour.check(&emulator, &mut report, "update");

    // Recreate: a new VPC (immutable) recreates the domain, members and all, once the spaces'
    // homes are backed up. First the backups are stale: the gate holds the recreation through
    // kills and faults, and nothing is deleted; then the agent catches up and it proceeds.
    agent_backs_up(&cluster.spaces, &sagemaker, &mut report, true).await;
    let mut moved = updated.clone();
    moved["spec"]["network"]["vpcId"] = json!("vpc-0f1e2d3c4b5a69788");
    apply(&cluster.domains, "platform", &moved).await;
    hold_under_kills(&mut rng, &mut operator, &cluster.domains, &emulator, &mut report).await;
    agent_backs_up(&cluster.spaces, &sagemaker, &mut report, false).await;
    if let Err(e) = converge_under_kills(&mut rng, &mut operator, "recreate", all_ready).await {
        report.violations.push(e);
    }
    check_phase(&emulator, &sagemaker, &mut report, "recreate", "ml.m5.large", "two").await;
    check_restores(&cluster.spaces, &sagemaker, &mut report).await;
    neighbour.check(&emulator, &mut report, "recreate");

    // While stalled (the key disabled), the operator's calls per minute stay bounded.
    emulator.control().clear_faults();
    kms.disable_key().key_id(key.key_id()).send().await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = emulator.control().calls().len();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let per_minute = (emulator.control().calls().len() - before) as f64 * 6.0;
    report.stalled_calls_per_minute = per_minute;
    // Five resources, a 2 s resync and a few calls each: hundreds a minute is the bound; a hot
    // loop would make tens of thousands.
    if per_minute > 1200.0 {
        report
            .violations
            .push(format!("{per_minute} AWS calls per minute while stalled"));
    }
    kms.enable_key().key_id(key.key_id()).send().await.unwrap();
    for rule in faults() {
        emulator.control().inject_fault(rule);
    }

    // Delete everything: nothing the operator owns is left, and no EFS volume is deleted
    // (efsRetention defaults to Retain).
    for s in SPACES {
        let _ = cluster.spaces.delete(s, &DeleteParams::default()).await;
    }
    for p in PROFILES {
        let _ = cluster.profiles.delete(p, &DeleteParams::default()).await;
    }
    let _ = cluster.domains.delete("platform", &DeleteParams::default()).await;
    let gone = || async {
        let left = cluster
            .domains
            .list(&Default::default())
            .await
            .map(|l| l.items.len())
            .unwrap_or(1)
            + cluster
                .profiles
                .list(&Default::default())
                .await
                .map(|l| l.items.len())
                .unwrap_or(1)
            + cluster
                .spaces
                .list(&Default::default())
                .await
                .map(|l| l.items.len())
                .unwrap_or(1);
        if left == 0 {
            Ok(())
        } else {
            Err(format!("{left} resources left"))
        }
    };
    if let Err(e) = converge_under_kills(&mut rng, &mut operator, "delete", gone).await {
        report.violations.push(e);
    }
    emulator.control().clear_faults();
    neighbour.check(&emulator, &mut report, "delete");
    neighbour.delete(&mut report).await;
    let leftovers: Vec<String> = emulator
        .control()
        .domains()
        .into_iter()
        .filter(|d| d.status != "Deleted")
        .map(|d| format!("domain {} ({}) is {}", d.domain_id, d.domain_name, d.status))
        .collect();
    report.violations.extend(leftovers);
    for efs in emulator.control().efs_file_systems() {
        if efs.state != "available" {
            report.violations.push(format!(
                "EFS {} is {} although efsRetention is Retain",
                efs.file_system_id, efs.state
            ));
        }
    }
    let configs = sagemaker.list_studio_lifecycle_configs().send().await.unwrap();
    if !configs.studio_lifecycle_configs().is_empty() {
        report.violations.push(format!(
            "{} lifecycle configurations left",
            configs.studio_lifecycle_configs().len()
        ));
    }
    operator.kill();
    report.restarts = operator.restarts;
    report.peak_rss_kib = operator.peak_rss_kib.iter().copied().max().unwrap_or_default();
    report.calls = emulator.control().calls().len() as u64;
    for call in emulator.control().calls() {
        if matches!(
            call.outcome.as_str(),
            "ThrottlingException" | "InternalFailure" | "ServiceUnavailable" | "dropped"
        ) {
            *report.faults_injected.entry(call.outcome.clone()).or_default() += 1;
        }
    }
    let logs = std::fs::read_to_string(&log).unwrap_or_default();
    for secret in [ACCESS_KEY_ID, SECRET_ACCESS_KEY, SESSION_TOKEN] {
        if logs.contains(secret) {
            report
                .violations
                .push(format!("the operator logged a credential ({secret})"));
        }
    }
    report.log_lines = logs.lines().count();
    report.seconds = started.elapsed().as_secs_f64();
    if !report.violations.is_empty() {
        let tail = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = tail.lines().rev().take(40).collect();
        eprintln!("operator log (last lines, newest first):\n{}", tail.join("\n"));
    }
    report
}

fn runs_and_seed() -> (u64, u64) {
    let runs = std::env::var("CHAOS_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(2);
    let seed = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random_range(1..1_000_000));
    (runs, seed)
}

#[tokio::test]
async fn faults_and_kills_never_lose_duplicate_or_leak_anything() {
    let (runs, first_seed) = runs_and_seed();
    let mut reports = Vec::new();
    for run in 0..runs {
        reports.push(chaos_run(first_seed + run).await);
    }
    let out = crate::support::testenv::repo_root().join("target/chaos-report.json");
    std::fs::write(&out, serde_json::to_string_pretty(&reports).unwrap()).unwrap();
    let failed: Vec<&RunReport> = reports.iter().filter(|r| !r.violations.is_empty()).collect();
    assert!(
        failed.is_empty(),
        "invariants broken (replay with CHAOS_SEED): {failed:#?}"
    );
    let first = reports.first().map(|r| r.peak_rss_kib).unwrap_or_default();
    let last = reports.last().map(|r| r.peak_rss_kib).unwrap_or_default();
    assert!(
        last <= first * 2 + 20 * 1024,
        "peak memory grew from {first} KiB to {last} KiB"
    );
}
