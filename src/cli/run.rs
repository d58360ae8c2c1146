//! `studio-operator run`: the flags, and the operator built from them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::{parse_duration, parse_rate};
use crate::aws::AwsClients;
use crate::aws::limiter::LimiterConfig;
use crate::controller::ControllerConfig;
use crate::leader::{self, LeaderElection};
use crate::runtime::{self, RunOptions};
use crate::server::{MetricsAuth, MetricsSecurity, TlsFiles};
use crate::telemetry::{self, LogFormat};

/// The flags of `run` (each also an environment variable).
#[derive(Args)]
pub struct RunArgs {
    /// Address of /healthz, /readyz and /metrics.
    #[arg(long, env = "METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,
    /// Who may read /metrics: `kubernetes` requires a bearer token that the API server
    /// authenticates (TokenReview) and allows `get` on the non-resource URL /metrics
    /// (SubjectAccessReview; the chart's `<fullname>-metrics-reader` ClusterRole), `none` serves
    /// anyone who reaches the port. /healthz and /readyz stay open for the kubelet.
    #[arg(long, env = "METRICS_AUTH", value_enum, default_value_t = MetricsAuth::None)]
    pub metrics_auth: MetricsAuth,
    /// PEM certificate chain (e.g. `tls.crt` of a cert-manager Secret): serve the metrics port
    /// over HTTPS, so that bearer tokens are not sent in clear text. Read again every minute.
    #[arg(long, env = "METRICS_TLS_CERT", value_name = "FILE", requires = "metrics_tls_key")]
    pub metrics_tls_cert: Option<PathBuf>,
    /// PEM private key of --metrics-tls-cert (`tls.key`).
    #[arg(long, env = "METRICS_TLS_KEY", value_name = "FILE", requires = "metrics_tls_cert")]
    pub metrics_tls_key: Option<PathBuf>,
    /// How often every resource is compared with AWS when nothing changed, e.g. 5m, 90s.
    #[arg(long, env = "RESYNC_INTERVAL", default_value = "5m", value_parser = parse_duration)]
    pub resync_interval: Duration,
    /// How often resources in transition (Pending, Deleting, ...) are polled.
    #[arg(long, env = "POLL_INTERVAL", default_value = "15s", value_parser = parse_duration)]
    pub poll_interval: Duration,
    /// Reconciles running at once per controller.
    #[arg(long, env = "CONCURRENCY", default_value_t = 8)]
    pub concurrency: u16,
    /// Id of this cluster, written into the ownership tags of every AWS resource, so
    /// operators of several clusters can share an account.
    #[arg(long, env = "CLUSTER_ID", default_value = "default")]
    pub cluster_id: String,
    /// Watch only these namespaces (comma-separated) instead of all namespaces.
    #[arg(long, env = "WATCH_NAMESPACE", value_delimiter = ',')]
    pub watch_namespace: Vec<String>,
    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Json)]
    pub log_format: LogFormat,
    /// How often the apps of each domain are swept for idle, over-age and forbidden apps.
    #[arg(long, env = "SWEEP_INTERVAL", default_value = "5m", value_parser = parse_duration)]
    pub sweep_interval: Duration,
    /// Enforce only the Guardrails matching this label selector (e.g. `tier=prod`).
    #[arg(long, env = "GUARDRAIL_SELECTOR")]
    pub guardrail_selector: Option<String>,
    /// Namespace of the ConfigMaps with the Guardrails' rendered policies (the operator's own).
    #[arg(long, env = "POD_NAMESPACE", default_value = "studio-operator")]
    pub policy_namespace: String,
    /// How often the tags of a profile or space are listed at least when the account's tag
    /// index (tag:GetResources) does not show them (tag drift moves no LastModifiedTime).
    #[arg(long, env = "TAG_AUDIT_INTERVAL", default_value = "6h", value_parser = parse_duration)]
    pub tag_audit_interval: Duration,
    /// Maintain a ValidatingAdmissionPolicy per Enforce Guardrail, refusing at `kubectl apply`
    /// what its rules can judge from the object alone (`--guardrail-admission-policies=false`
    /// leaves only the reconcile-time check).
    #[arg(long, env = "GUARDRAIL_ADMISSION_POLICIES", default_value_t = true, action = clap::ArgAction::Set)]
    pub guardrail_admission_policies: bool,
    /// Highest rate of AWS calls per second and operation family (reads, mutating calls) per
    /// account and region; the client-side limiter starts here and adapts to throttling.
    #[arg(long, env = "AWS_MAX_RATE", default_value_t = 50.0, value_parser = parse_rate)]
    pub aws_max_rate: f64,
    /// Run the controllers only while holding the leader Lease, so several replicas can run
    /// with one reconciling. Losing the lease exits the process (Kubernetes restarts it).
    #[arg(long, env = "LEADER_ELECTION")]
    pub leader_election: bool,
    /// Namespace of the leader Lease; default: the namespace of the kubeconfig context (in a
    /// pod: its own namespace).
    #[arg(long, env = "POD_NAMESPACE")]
    pub leader_election_namespace: Option<String>,
    /// Name of the leader Lease.
    #[arg(long, env = "LEADER_ELECTION_LEASE", default_value = crate::leader::DEFAULT_LEASE_NAME)]
    pub leader_election_lease: String,
    /// How long the lease stays valid after a renewal (whole seconds): how long the other
    /// replicas wait before taking over from a leader that died.
    #[arg(long, env = "LEADER_ELECTION_LEASE_DURATION", default_value = "15s", value_parser = parse_duration)]
    pub leader_election_lease_duration: Duration,
    /// How long after a renewal the leader renews the lease again (whole seconds, less than
    /// the lease duration; the difference is the clock skew tolerated between nodes). A
    /// failed renewal ends leadership.
    #[arg(long, env = "LEADER_ELECTION_RENEW_DEADLINE", default_value = "10s", value_parser = parse_duration)]
    pub leader_election_renew_deadline: Duration,
}

/// Runs the operator until SIGTERM or Ctrl-C.
pub async fn run(args: RunArgs) -> ExitCode {
    telemetry::init(args.log_format);
    match operate(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            ExitCode::FAILURE
        }
    }
}

async fn operate(args: RunArgs) -> Result<(), String> {
    if args.leader_election {
        leader::validate_durations(args.leader_election_lease_duration, args.leader_election_renew_deadline)?;
    }
    let cannot_connect = |error: &dyn std::fmt::Display| {
        format!("cannot connect to Kubernetes: set KUBECONFIG or run in a cluster ({error})")
    };
    let config = kube::Config::infer().await.map_err(|e| cannot_connect(&e))?;
    let client = kube::Client::try_from(config.clone()).map_err(|e| cannot_connect(&e))?;
    let (lease_client, lease_writes) = leader::lease_client(
        config.clone(),
        args.leader_election_lease_duration,
        args.leader_election_renew_deadline,
    )
    .map_err(|e| cannot_connect(&e))?;
    let leader_election = args.leader_election.then(|| LeaderElection {
        namespace: args
            .leader_election_namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone()),
        lease_name: args.leader_election_lease.clone(),
        identity: leader::identity(&pod_name()),
        lease_duration: args.leader_election_lease_duration,
        renew_deadline: args.leader_election_renew_deadline,
        client: lease_client,
        writes: lease_writes,
    });
    let aws = AwsClients::from_env().await.with_rate_limits(LimiterConfig {
        max_rate: args.aws_max_rate,
        ..Default::default()
    });
    let options = RunOptions {
        metrics_addr: args.metrics_addr,
        metrics_security: args.metrics_security(),
        controllers: args.controllers(),
        leader_election,
    };
    runtime::run(client, aws, options, shutdown_signal())
        .await
        .map_err(|error| format!("operator stopped ({}): {error}", error.category()))
}

impl RunArgs {
    /// Who may read /metrics, and HTTPS (clap makes sure both files or neither are given).
    fn metrics_security(&self) -> MetricsSecurity {
        let tls = match (&self.metrics_tls_cert, &self.metrics_tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ => None,
        };
        MetricsSecurity {
            auth: self.metrics_auth,
            tls,
        }
    }

    /// The controllers' settings.
    fn controllers(&self) -> ControllerConfig {
        ControllerConfig {
            cluster_id: self.cluster_id.clone(),
            resync_interval: self.resync_interval,
            poll_interval: self.poll_interval,
            concurrency: self.concurrency,
            namespaces: self.watch_namespace.clone(),
            sweep_interval: self.sweep_interval,
            guardrail_selector: self.guardrail_selector.clone(),
            policy_namespace: self.policy_namespace.clone(),
            tag_audit_interval: self.tag_audit_interval,
            admission_policies: self.guardrail_admission_policies,
            ..Default::default()
        }
    }
}

/// This pod's name (env POD_NAME, else HOSTNAME, which Kubernetes sets to the pod name).
fn pod_name() -> String {
    ["POD_NAME", "HOSTNAME"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "studio-operator".into())
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {},
        _ = tokio::signal::ctrl_c() => {},
    }
    tracing::info!("shutdown signal received");
}
