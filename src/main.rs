//! Command line of studio-operator.
#![recursion_limit = "256"]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use studio_operator::api::{Guardrail, StudioDomain};
use studio_operator::aws::AwsClients;
use studio_operator::aws::limiter::LimiterConfig;
use studio_operator::controller::ControllerConfig;
use studio_operator::leader::{self, LeaderElection};
use studio_operator::policy::guardrail::{guardrail_from_yaml, policies};
use studio_operator::policy::operator::{OperatorPolicyOptions, operator_policy};
use studio_operator::runtime::{self, RunOptions};
use studio_operator::telemetry::{self, LogFormat};

#[derive(Parser)]
#[command(
    name = "studio-operator",
    version,
    about = "Run Amazon SageMaker AI Studio from Kubernetes"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once at start-up: the size of the `Run` variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the operator against the cluster of the current kubeconfig (or in-cluster config).
    Run {
        /// Address of /healthz, /readyz and /metrics.
        #[arg(long, env = "METRICS_ADDR", default_value = "0.0.0.0:8080")]
        metrics_addr: SocketAddr,
        /// How often every resource is compared with AWS when nothing changed, e.g. 5m, 90s.
        #[arg(long, env = "RESYNC_INTERVAL", default_value = "5m", value_parser = parse_duration)]
        resync_interval: Duration,
        /// How often resources in transition (Pending, Deleting, ...) are polled.
        #[arg(long, env = "POLL_INTERVAL", default_value = "15s", value_parser = parse_duration)]
        poll_interval: Duration,
        /// Reconciles running at once per controller.
        #[arg(long, env = "CONCURRENCY", default_value_t = 8)]
        concurrency: u16,
        /// Id of this cluster, written into the ownership tags of every AWS resource, so
        /// operators of several clusters can share an account.
        #[arg(long, env = "CLUSTER_ID", default_value = "default")]
        cluster_id: String,
        /// Watch only these namespaces (comma-separated) instead of all namespaces.
        #[arg(long, env = "WATCH_NAMESPACE", value_delimiter = ',')]
        watch_namespace: Vec<String>,
        /// Log format.
        #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Json)]
        log_format: LogFormat,
        /// How often the apps of each domain are swept for idle, over-age and forbidden apps.
        #[arg(long, env = "SWEEP_INTERVAL", default_value = "5m", value_parser = parse_duration)]
        sweep_interval: Duration,
        /// Enforce only the Guardrails matching this label selector (e.g. `tier=prod`).
        #[arg(long, env = "GUARDRAIL_SELECTOR")]
        guardrail_selector: Option<String>,
        /// Namespace of the ConfigMaps with the Guardrails' rendered policies (the operator's own).
        #[arg(long, env = "POD_NAMESPACE", default_value = "studio-operator")]
        policy_namespace: String,
        /// How often the tags of a profile or space are listed at least when the account's tag
        /// index (tag:GetResources) does not show them (tag drift moves no LastModifiedTime).
        #[arg(long, env = "TAG_AUDIT_INTERVAL", default_value = "6h", value_parser = parse_duration)]
        tag_audit_interval: Duration,
        /// Highest rate of AWS calls per second and operation family (reads, mutating calls) per
        /// account and region; the client-side limiter starts here and adapts to throttling.
        #[arg(long, env = "AWS_MAX_RATE", default_value_t = 50.0, value_parser = parse_rate)]
        aws_max_rate: f64,
        /// Run the controllers only while holding the leader Lease, so several replicas can run
        /// with one reconciling. Losing the lease exits the process (Kubernetes restarts it).
        #[arg(long, env = "LEADER_ELECTION")]
        leader_election: bool,
        /// Namespace of the leader Lease; default: the namespace of the kubeconfig context (in a
        /// pod: its own namespace).
        #[arg(long, env = "POD_NAMESPACE")]
        leader_election_namespace: Option<String>,
        /// Name of the leader Lease.
        #[arg(long, env = "LEADER_ELECTION_LEASE", default_value = studio_operator::leader::DEFAULT_LEASE_NAME)]
        leader_election_lease: String,
        /// How long the lease stays valid after a renewal (whole seconds): how long the other
        /// replicas wait before taking over from a leader that died.
        #[arg(long, env = "LEADER_ELECTION_LEASE_DURATION", default_value = "15s", value_parser = parse_duration)]
        leader_election_lease_duration: Duration,
        /// How long after a renewal the leader renews the lease again (whole seconds, less than
        /// the lease duration; the difference is the clock skew tolerated between nodes). A
        /// failed renewal ends leadership.
        #[arg(long, env = "LEADER_ELECTION_RENEW_DEADLINE", default_value = "10s", value_parser = parse_duration)]
        leader_election_renew_deadline: Duration,
    },
    /// Print every CustomResourceDefinition as YAML.
    Crd,
    /// Print the copy-and-chown script for the migration plan of a recreated StudioDomain.
    MigrationPlan {
        /// The domain as NAMESPACE/NAME.
        domain: String,
    },
    /// Print the least-privilege IAM policy the operator needs, as JSON.
    IamPolicy {
        /// The operator's --cluster-id: it may only change resources tagged with it (or untagged).
        #[arg(long, env = "CLUSTER_ID", default_value = "default")]
        cluster_id: String,
        /// ARN pattern of the roles the operator assumes per domain (spec.aws.roleArn); repeatable.
        #[arg(long = "role-arn-pattern", value_name = "ARN", value_parser = parse_arn)]
        role_arn_patterns: Vec<String>,
        /// Execution role the operator may pass to SageMaker; repeatable. Default: any role.
        #[arg(long = "execution-role-arn", value_name = "ARN", value_parser = parse_arn)]
        execution_role_arns: Vec<String>,
    },
    /// IAM policies rendered from Guardrails.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Print a Guardrail's SCP and IAM policies, each after a `# file-name` line.
    Render {
        /// Name of the Guardrail.
        name: String,
        /// Read the Guardrail from this YAML file (may hold several documents) instead of the cluster.
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: Option<PathBuf>,
    },
}

fn parse_arn(text: &str) -> Result<String, String> {
    if text.starts_with("arn:") {
        Ok(text.to_string())
    } else {
        Err(format!(
            "'{text}' is not an ARN (pattern) such as arn:aws:iam::123456789012:role/name"
        ))
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let value: u64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a duration such as 30s, 5m or 1h"))?;
    match unit {
        "" | "s" => Ok(Duration::from_secs(value)),
        "m" => Ok(Duration::from_secs(value * 60)),
        "h" => Ok(Duration::from_secs(value * 3600)),
        "ms" => Ok(Duration::from_millis(value)),
        _ => Err(format!("'{text}' is not a duration such as 30s, 5m or 1h")),
    }
}

/// A call rate of at least the limiter's floor (1 call per second).
fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate >= LimiterConfig::default().min_rate => Ok(rate),
        _ => Err(format!("'{text}' is not a rate of at least 1 call per second")),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    studio_operator::install_crypto_provider();
    match Cli::parse().command {
        Command::Crd => {
            print!("{}", studio_operator::api::crds_yaml());
            ExitCode::SUCCESS
        }
        Command::MigrationPlan { domain } => match print_migration_plan(&domain).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("{message}");
                ExitCode::FAILURE
            }
        },
        Command::IamPolicy {
            cluster_id,
            role_arn_patterns,
            execution_role_arns,
        } => {
            let policy = operator_policy(&OperatorPolicyOptions {
                cluster_id,
                role_arn_patterns,
                execution_role_arns,
            });
            print!("{}", policy.pretty());
            match policy.check_size("the operator policy") {
                Ok(()) => ExitCode::SUCCESS,
                Err(too_large) => {
                    eprintln!("{too_large}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Policy {
            command: PolicyCommand::Render { name, file },
        } => match print_guardrail_policies(&name, file.as_deref()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("{message}");
                ExitCode::FAILURE
            }
        },
        Command::Run {
            metrics_addr,
            resync_interval,
            poll_interval,
            concurrency,
            cluster_id,
            watch_namespace,
            log_format,
            sweep_interval,
            guardrail_selector,
            policy_namespace,
            tag_audit_interval,
            aws_max_rate,
            leader_election,
            leader_election_namespace,
            leader_election_lease,
            leader_election_lease_duration,
            leader_election_renew_deadline,
        } => {
            telemetry::init(log_format);
            if leader_election
                && let Err(message) =
                    leader::validate_durations(leader_election_lease_duration, leader_election_renew_deadline)
            {
                tracing::error!("{message}");
                return ExitCode::FAILURE;
            }
            let config = match kube::Config::infer().await {
                Ok(config) => config,
                Err(error) => {
                    tracing::error!(%error, "cannot connect to Kubernetes: set KUBECONFIG or run in a cluster");
                    return ExitCode::FAILURE;
                }
            };
            let clients = kube::Client::try_from(config.clone()).and_then(|client| {
                let lease_config = leader::lease_client_config(
                    config.clone(),
                    leader_election_lease_duration,
                    leader_election_renew_deadline,
                );
                Ok((client, kube::Client::try_from(lease_config)?))
            });
            let (client, lease_client) = match clients {
                Ok(clients) => clients,
                Err(error) => {
                    tracing::error!(%error, "cannot connect to Kubernetes: set KUBECONFIG or run in a cluster");
                    return ExitCode::FAILURE;
                }
            };
            let leader_election = leader_election.then(|| LeaderElection {
                namespace: leader_election_namespace.unwrap_or_else(|| config.default_namespace.clone()),
                lease_name: leader_election_lease,
                identity: leader::identity(&pod_name()),
                lease_duration: leader_election_lease_duration,
                renew_deadline: leader_election_renew_deadline,
                client: lease_client,
            });
            let controllers = ControllerConfig {
                cluster_id,
                resync_interval,
                poll_interval,
                concurrency,
                namespaces: watch_namespace,
                sweep_interval,
                guardrail_selector,
                policy_namespace,
                clock: Default::default(),
                tag_audit_interval,
                ..Default::default()
            };
            let options = RunOptions {
                metrics_addr,
                controllers,
                leader_election,
            };
            let aws = AwsClients::from_env().await.with_rate_limits(LimiterConfig {
                max_rate: aws_max_rate,
                ..Default::default()
            });
            match runtime::run(client, aws, options, shutdown_signal()).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    tracing::error!(%error, category = error.category(), "operator stopped");
                    ExitCode::FAILURE
                }
            }
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

/// Reads a StudioDomain and prints the migration script of its last recreation.
async fn print_migration_plan(reference: &str) -> Result<(), String> {
    let (namespace, name) = reference
        .split_once('/')
        .ok_or_else(|| format!("'{reference}' is not NAMESPACE/NAME"))?;
    let client = kube::Client::try_default()
        .await
        .map_err(|e| format!("cannot connect to Kubernetes: {e}"))?;
    let api: kube::Api<StudioDomain> = kube::Api::namespaced(client, namespace);
    let domain = api
        .get(name)
        .await
        .map_err(|e| format!("cannot read StudioDomain {reference}: {e}"))?;
    let plan = domain
        .status
        .and_then(|s| s.migration_plan)
        .ok_or_else(|| format!("StudioDomain {reference} has no migration plan: it was never recreated"))?;
    print!(
        "{}",
        studio_operator::migration::render_script(&plan, &domain.spec.aws.region)
    );
    Ok(())
}

/// Prints the policies of a Guardrail from the cluster or from a file; fails after printing when
/// a document is too large for AWS.
async fn print_guardrail_policies(name: &str, file: Option<&Path>) -> Result<(), String> {
    let guardrail = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            guardrail_from_yaml(&text, name).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => {
            let client = kube::Client::try_default()
                .await
                .map_err(|e| format!("cannot connect to Kubernetes: {e}"))?;
            kube::Api::<Guardrail>::all(client)
                .get(name)
                .await
                .map_err(|e| format!("cannot read Guardrail {name}: {e}"))?
        }
    };
    let documents = policies(&guardrail.spec);
    if documents.is_empty() {
        eprintln!("Guardrail {name} sets no rule that IAM can express: nothing to render");
        return Ok(());
    }
    let mut too_large = Vec::new();
    for (file, policy) in &documents {
        println!("# {file}");
        print!("{}", policy.pretty());
        if let Err(error) = policy.check_size(file) {
            too_large.push(error.to_string());
        }
    }
    if too_large.is_empty() {
        Ok(())
    } else {
        Err(too_large.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_below_the_limiter_floor_are_refused() {
        assert_eq!(parse_rate("10"), Ok(10.0));
        assert_eq!(parse_rate("2.5"), Ok(2.5));
        for bad in ["0", "0.5", "-3", "NaN", "inf", "fast"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_take_the_usual_units() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("6h"), Ok(Duration::from_secs(6 * 3600)));
        assert!(parse_duration("5 minutes").is_err());
    }
}
