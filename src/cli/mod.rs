//! The command line: `run` the operator, or print what it generates (CRDs, policies, the
//! migration script). `main.rs` only parses and calls [`dispatch`].

mod print;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::aws::limiter::LimiterConfig;

/// The command line.
#[derive(Parser)]
#[command(
    name = "studio-operator",
    version,
    about = "Run Amazon SageMaker AI Studio from Kubernetes"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once at start-up: the size of the `Run` variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum Command {
    /// Run the operator against the cluster of the current kubeconfig (or in-cluster config).
    Run(run::RunArgs),
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
        #[arg(long, env = "CLUSTER_ID")]
        cluster_id: String,
        /// ARN pattern of the roles the operator assumes per domain (spec.aws.roleArn); repeatable.
        #[arg(long = "role-arn-pattern", value_name = "ARN", value_parser = parse_arn)]
        role_arn_patterns: Vec<String>,
        /// Execution role the operator may pass to SageMaker; repeatable, at least one: only these
        /// roles can reach users' apps, whatever a tenant writes in a spec.
        #[arg(long = "execution-role-arn", value_name = "ARN", value_parser = parse_arn, required = true)]
        execution_role_arns: Vec<String>,
        /// Bucket of a spec.spaceBackup.s3Uri with `retention: <N>d`, whose retired backups the
        /// operator deletes; repeatable. Without it the policy grants no S3 access.
        #[arg(long = "backup-bucket", value_name = "BUCKET")]
        backup_buckets: Vec<String>,
    },
    /// IAM policies rendered from Guardrails.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
}

#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Print a Guardrail's SCP and IAM policies, each after a `# file-name` line.
    Render {
        /// Name of the Guardrail.
        name: String,
        /// Read the Guardrail from this YAML file (may hold several documents) instead of the cluster.
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: Option<PathBuf>,
    },
}

/// Runs the command.
pub async fn dispatch(cli: Cli) -> ExitCode {
    crate::install_crypto_provider();
    let result = match cli.command {
        Command::Run(args) => return run::run(args).await,
        Command::Crd => {
            print!("{}", crate::api::crds_yaml());
            Ok(())
        }
        Command::MigrationPlan { domain } => print::migration_plan(&domain).await,
        Command::IamPolicy {
            cluster_id,
            role_arn_patterns,
            execution_role_arns,
            backup_buckets,
        } => print::iam_policy(cluster_id, role_arn_patterns, execution_role_arns, backup_buckets),
        Command::Policy {
            command: PolicyCommand::Render { name, file },
        } => print::guardrail_policies(&name, file.as_deref()).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

pub(crate) fn parse_arn(text: &str) -> Result<String, String> {
    if text.starts_with("arn:") {
        Ok(text.to_string())
    } else {
        Err(format!(
            "'{text}' is not an ARN (pattern) such as arn:aws:iam::123456789012:role/name"
        ))
    }
}

/// A duration such as `90s`, `5m`, `1h30m` or `500ms` (humantime's syntax); a bare number is
/// seconds.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("'{text}' is not a duration such as 30s, 5m or 1h");
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    humantime::parse_duration(text).map_err(|_| invalid())
}

/// A call rate of at least the limiter's floor (1 call per second).
pub(crate) fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate >= LimiterConfig::default().min_rate => Ok(rate),
        _ => Err(format!("'{text}' is not a rate of at least 1 call per second")),
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
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(
            parse_duration("120"),
            Ok(Duration::from_secs(120)),
            "a bare number is seconds"
        );
        assert!(parse_duration("5 parsecs").is_err());
    }
}
