//! Client construction: one base configuration from the standard AWS chain, and one cached
//! session per (region, role) so credentials, connections and the account id are reused.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_config::identity::IdentityCache;
use aws_config::retry::{RetryConfig, RetryMode};
use aws_config::sts::AssumeRoleProvider;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_sts::config::http::HttpResponse;
use aws_sdk_sts::error::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use tokio::sync::{Mutex, OnceCell};

use super::clock::{AwsClock, DateRecorder};
use super::error::AwsError;
use super::limiter::{self, Limiter, LimiterConfig, LimiterObserver};
use crate::backoff::Backoff;

/// Observes every AWS call: `(operation, outcome)` where outcome is `ok` or an
/// [`AwsError::category`]. Wired to Prometheus by the operator.
pub type CallObserver = Arc<dyn Fn(&'static str, &'static str) + Send + Sync>;

/// Whether this replica may change anything in AWS now (it holds the leader lease). Asked right
/// before every mutating call, so a replica that lost the lease changes nothing more even while
/// its reconciles are still running.
pub type Fence = Arc<dyn Fn() -> bool + Send + Sync>;

/// Session tag keys of an assumed role: which StudioDomain (namespace and name) the session
/// acts for, so a role's trust policy can pin who may use it (`aws:RequestTag/...`).
pub const SESSION_TAG_NAMESPACE: &str = "studio-operator.io/namespace";
/// See [`SESSION_TAG_NAMESPACE`].
pub const SESSION_TAG_NAME: &str = "studio-operator.io/name";
/// Attempts per call: throttled and transient failures are retried by [`AwsSession::call`] (each
/// attempt waits for the rate limiter); reconcilers requeue with their own backoff on top.
const MAX_ATTEMPTS: u32 = 3;
/// A stuck connection must not block a reconciler forever (unless configured otherwise).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
const OPERATION_TIMEOUT: Duration = Duration::from_secs(90);

/// Sessions by (region, role assumed for whom).
type SessionCache = Mutex<HashMap<(String, Option<(String, String, String)>), Arc<AwsSession>>>;

/// A role assumed for one StudioDomain (its `spec.aws.roleArn`, its namespace and name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoleFor<'a> {
    /// The role to assume.
    pub arn: &'a str,
    /// Namespace of the StudioDomain the calls are for.
    pub namespace: &'a str,
    /// Name of the StudioDomain.
    pub name: &'a str,
}

/// The session name of an AssumeRole for a StudioDomain: `so-<namespace>-<name>`, cut with a
/// hash suffix to STS's 64 characters (CloudTrail shows it).
pub fn session_name(namespace: &str, name: &str) -> String {
    let full = format!("so-{namespace}-{name}");
    if full.len() <= 64 {
        return full;
    }
    use sha2::{Digest, Sha256};
    let hash: String = Sha256::digest(full.as_bytes())
        .iter()
        .take(4)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{}-{hash}", &full[..55])
}

/// Rate limiters by (region, account), shared by every session acting there.
#[derive(Default)]
pub(crate) struct Limiters {
    config: LimiterConfig,
    observer: Option<LimiterObserver>,
    by_account: std::sync::Mutex<HashMap<(String, String), Arc<Limiter>>>,
}

impl Limiters {
    fn get(&self, region: &str, account: &str) -> Arc<Limiter> {
        let mut limiters = self.by_account.lock().expect("limiters lock");
        limiters
            .entry((region.to_string(), account.to_string()))
            .or_insert_with(|| Arc::new(Limiter::new(self.config.clone(), self.observer.clone())))
            .clone()
    }
}

/// Entry point of the adapter: built once at start-up, hands out sessions.
pub struct AwsClients {
    base: SdkConfig,
    /// The operator's cluster id: the `ExternalId` of every AssumeRole is `<cluster id>/<namespace>`.
    cluster_id: String,
    observer: Option<CallObserver>,
    fence: Option<Fence>,
    sessions: SessionCache,
    limiters: Arc<Limiters>,
}

impl AwsClients {
    /// Loads the standard chain: environment (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, ...),
    /// profiles, IRSA web identity, EKS Pod Identity, IMDS.
    pub async fn from_env() -> Self {
        Self::from_conf(aws_config::defaults(BehaviorVersion::latest()).load().await)
    }

    /// Uses a ready configuration (tests: endpoint URL, static credentials, region).
    pub fn from_conf(sdk_config: SdkConfig) -> Self {
        // AssumeRole needs a time source; a hand-built configuration may lack one.
        let sdk_config = match sdk_config.time_source() {
            Some(_) => sdk_config,
            None => sdk_config
                .into_builder()
                .time_source(aws_smithy_async::time::SystemTimeSource::new())
                .build(),
        };
        Self {
            base: sdk_config,
            cluster_id: "default".into(),
            observer: None,
            fence: None,
            sessions: Mutex::new(HashMap::new()),
            limiters: Arc::default(),
        }
    }

    /// Names the cluster in the `ExternalId` of the roles assumed afterwards.
    pub fn with_cluster_id(mut self, cluster_id: &str) -> Self {
        self.cluster_id = cluster_id.to_string();
        self
    }

    /// Makes sessions created afterwards refuse mutating calls while `fence` says no.
    pub fn with_fence(mut self, fence: Fence) -> Self {
        self.fence = Some(fence);
        self
    }

    /// Reports every call of sessions created afterwards to `observer`.
    pub fn with_call_observer(mut self, observer: CallObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Tunes the rate limiters (one per account and region) of sessions created afterwards.
    pub fn with_rate_limits(mut self, config: LimiterConfig) -> Self {
        self.limiters = Arc::new(Limiters {
            config,
            observer: self.limiters.observer.clone(),
            by_account: Default::default(),
        });
        self
    }

    /// Reports the waits and rates of the rate limiters of sessions created afterwards.
    pub fn with_limiter_observer(mut self, observer: LimiterObserver) -> Self {
        self.limiters = Arc::new(Limiters {
            config: self.limiters.config.clone(),
            observer: Some(observer),
            by_account: Default::default(),
        });
        self
    }

    /// The session for `region`, acting as a role assumed for a StudioDomain (through STS, with
    /// `ExternalId = <cluster id>/<namespace>`, a session name and session tags naming the
    /// StudioDomain) or as the base identity. Created on first use and cached; assumed
    /// credentials refresh by themselves.
    pub async fn session(&self, region: &str, role: Option<RoleFor<'_>>) -> Result<Arc<AwsSession>, AwsError> {
        if region.is_empty() {
            return Err(AwsError::Validation {
                message: "region must not be empty".into(),
            });
        }
        if let Some(role) = &role {
            check_role_arn(role.arn)?;
        }
        let key = (
            region.to_string(),
            role.map(|r| (r.arn.to_string(), r.namespace.to_string(), r.name.to_string())),
        );
        let mut sessions = self.sessions.lock().await;
        if let Some(session) = sessions.get(&key) {
            return Ok(session.clone());
        }
        let session = Arc::new(self.new_session(region, role).await);
        sessions.insert(key, session.clone());
        Ok(session)
    }

    async fn new_session(&self, region: &str, role: Option<RoleFor<'_>>) -> AwsSession {
        let timeouts = self
            .base
            .timeout_config()
            .map(|t| t.to_builder())
            .unwrap_or_default()
            .take_unset_from(
                TimeoutConfig::builder()
                    .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                    .operation_timeout(OPERATION_TIMEOUT),
            )
            .build();
        // Retries happen in `AwsSession::call`, where every attempt passes the rate limiter; the
        // configured backoff timings are kept for them.
        let configured = self.base.retry_config().cloned().unwrap_or_else(RetryConfig::standard);
        let backoff = Backoff::new(configured.initial_backoff(), configured.max_backoff());
        let retry = configured.with_retry_mode(RetryMode::Standard).with_max_attempts(1);
        let mut conf = self
            .base
            .to_builder()
            .region(Region::new(region.to_string()))
            .retry_config(retry)
            .timeout_config(timeouts)
            // Shared by the session's clients, so a role is assumed once per session, not per client.
            .identity_cache(IdentityCache::lazy().build())
            .build();
        if let Some(role) = role {
            // The provider's STS client inherits the base credentials and endpoint override.
            let provider = AssumeRoleProvider::builder(role.arn)
                .session_name(session_name(role.namespace, role.name))
                .external_id(format!("{}/{}", self.cluster_id, role.namespace))
                .tags([(SESSION_TAG_NAMESPACE, role.namespace), (SESSION_TAG_NAME, role.name)])
                .configure(&conf)
                .build()
                .await;
            conf = conf
                .into_builder()
                .credentials_provider(SharedCredentialsProvider::new(provider))
                .build();
        }
        let clock = Arc::new(AwsClock::default());
        let sagemaker_conf = aws_sdk_sagemaker::config::Builder::from(&conf)
            .interceptor(DateRecorder(clock.clone()))
            .build();
        AwsSession {
            sagemaker: aws_sdk_sagemaker::Client::from_conf(sagemaker_conf),
            clock,
            kms: aws_sdk_kms::Client::new(&conf),
            // Behind an endpoint override (an S3-compatible store, the emulator) bucket names
            // cannot become host names: address buckets by path there.
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(&conf)
                    .force_path_style(conf.endpoint_url().is_some())
                    .build(),
            ),
            sts: aws_sdk_sts::Client::new(&conf),
            tagging: aws_sdk_resourcegroupstagging::Client::new(&conf),
            region: region.to_string(),
            role_arn: role.map(|r| r.arn.to_string()),
            account_id: OnceCell::new(),
            observer: self.observer.clone(),
            fence: self.fence.clone(),
            limiters: self.limiters.clone(),
            limiter: OnceCell::new(),
            backoff,
        }
    }
}

/// The account of a role ARN (`arn:aws:iam::<account>:role/...`).
fn role_account(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| !a.is_empty())
}

/// Rejects obviously malformed role ARNs before they turn into opaque credential errors.
fn check_role_arn(arn: &str) -> Result<(), AwsError> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "iam"
        && parts[4].len() == 12
        && parts[4].chars().all(|c| c.is_ascii_digit())
        && parts[5].starts_with("role/")
        && parts[5].len() > "role/".len();
    if ok {
        Ok(())
    } else {
        Err(AwsError::Validation {
            message: format!("{arn} is not a valid IAM role ARN"),
        })
    }
}

/// Clients for one region and identity. The operator never sees the SDK clients themselves.
pub struct AwsSession {
    pub(super) sagemaker: aws_sdk_sagemaker::Client,
    pub(super) kms: aws_sdk_kms::Client,
    pub(super) s3: aws_sdk_s3::Client,
    sts: aws_sdk_sts::Client,
    pub(super) tagging: aws_sdk_resourcegroupstagging::Client,
    region: String,
    role_arn: Option<String>,
    account_id: OnceCell<String>,
    observer: Option<CallObserver>,
    fence: Option<Fence>,
    limiters: Arc<Limiters>,
    limiter: OnceCell<Arc<Limiter>>,
    backoff: Backoff,
    /// AWS's time, from the `Date` header of SageMaker's answers.
    clock: Arc<AwsClock>,
}

impl AwsSession {
    /// Region every call of this session goes to.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// AWS's time now (epoch seconds) as SageMaker's last answer said; `None` before one.
    pub fn aws_now(&self) -> Option<f64> {
        self.clock.now()
    }

    /// The assumed role, if any.
    pub fn role_arn(&self) -> Option<&str> {
        self.role_arn.as_deref()
    }

    /// Account the session acts in (STS GetCallerIdentity, asked once).
    pub async fn account_id(&self) -> Result<String, AwsError> {
        self.account_id
            .get_or_try_init(|| async {
                // Not rate limited: the limiter itself needs the account.
                let out = self
                    .limited_call("GetCallerIdentity", None, || self.sts.get_caller_identity().send())
                    .await?;
                out.account.ok_or_else(|| AwsError::Other {
                    code: "MissingAccount".into(),
                    message: "GetCallerIdentity returned no account".into(),
                })
            })
            .await
            .cloned()
    }

    /// The rate limiter of the session's account and region: the role's account, or the base
    /// identity's (asked from STS once; if STS cannot say, the base identity counts as an account
    /// of its own).
    async fn limiter(&self) -> Arc<Limiter> {
        self.limiter
            .get_or_init(|| async {
                let account = match self.role_arn.as_deref().and_then(role_account) {
                    Some(account) => account.to_string(),
                    None => self.account_id().await.unwrap_or_else(|_| "base-identity".into()),
                };
                self.limiters.get(&self.region, &account)
            })
            .await
            .clone()
    }

    /// Runs one SDK call: every attempt waits for the rate limiter of its family, throttles
    /// slow the family down, throttled and transient failures are retried with backoff, the
    /// error is mapped and the outcome reported to the observer.
    pub(super) async fn call<T, E, F, Fut>(&self, operation: &'static str, request: F) -> Result<T, AwsError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let limiter = self.limiter().await;
        self.limited_call(operation, Some(&limiter), request).await
    }

    /// [`AwsSession::call`] with the given limiter, or none.
    async fn limited_call<T, E, F, Fut>(
        &self,
        operation: &'static str,
        limiter: Option<&Limiter>,
        request: F,
    ) -> Result<T, AwsError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let (family, priority) = limiter::family(operation);
        let fenced = priority == limiter::Priority::Mutating && family != "sts";
        let mut attempt = 1;
        let result = loop {
            if fenced && self.fence.as_ref().is_some_and(|holds| !holds()) {
                break Err(AwsError::NotLeader {
                    message: format!("{operation} not sent: this replica no longer holds the leader lease"),
                });
            }
            let permit = match limiter {
                Some(limiter) => Some(limiter.acquire(family, priority).await),
                None => None,
            };
            let result = request().await.map_err(AwsError::from);
            let throttled = matches!(result, Err(AwsError::Throttled { .. }));
            if let (Some(limiter), Some(permit)) = (limiter, permit) {
                limiter.complete(permit, throttled);
            }
            let retry = matches!(result, Err(AwsError::Throttled { .. } | AwsError::Transient { .. }));
            if !retry || attempt >= MAX_ATTEMPTS {
                break result;
            }
            // Full jitter, like the SDK's standard retry mode.
            tokio::time::sleep(self.backoff.jittered(attempt - 1)).await;
            attempt += 1;
        };
        if let Some(observe) = &self.observer {
            observe(operation, result.as_ref().map_or_else(AwsError::category, |_| "ok"));
        }
        if let Err(e) = &result {
            tracing::debug!(operation, region = %self.region, attempts = attempt, error = %e, "AWS call failed");
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns() {
        assert!(check_role_arn("arn:aws:iam::210987654321:role/x").is_ok());
        assert!(check_role_arn("arn:aws-us-gov:iam::210987654321:role/path/x").is_ok());
        assert!(check_role_arn("arn:aws:iam::21098765432:role/x").is_err());
        assert!(check_role_arn("arn:aws:iam::210987654321:user/x").is_err());
        assert!(check_role_arn("arn:aws:iam::210987654321:role/").is_err());
        assert!(check_role_arn("x").is_err());
    }

    #[test]
    fn session_names_name_the_domain_within_the_limit() {
        assert_eq!(session_name("team-a", "studio"), "so-team-a-studio");
        let long = session_name(&"n".repeat(63), &"d".repeat(63));
        assert_eq!(long.len(), 64);
        assert!(long.starts_with("so-nnn"));
        assert_ne!(
            long,
            session_name(&"n".repeat(63), &"e".repeat(63)),
            "cut names stay distinct"
        );
        assert!(long.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@-_".contains(c)));
    }

    #[test]
    fn role_accounts() {
        assert_eq!(role_account("arn:aws:iam::210987654321:role/x"), Some("210987654321"));
        assert_eq!(role_account("nonsense"), None);
    }
}
