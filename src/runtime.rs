//! `studio-operator run`: connects to the cluster, checks the CRDs, serves health and metrics,
//! and runs the controllers until shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use futures::StreamExt;
use kube::api::ListParams;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::api::{Guardrail, SharedSpace, StudioDomain, StudioImage, StudioLifecycleConfig, UserProfile};
use crate::aws::AwsClients;
use crate::controller::{self, Context, ControllerConfig};
use crate::leader::{Elector, LeaderElection, Leadership};
use crate::metrics::{AwsCallLabels, Metrics};
use crate::server::{self, Health, MetricsAuth, MetricsSecurity, ServeError};

/// Errors that stop the operator.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A CRD is not installed in the cluster.
    #[error(
        "the CustomResourceDefinition for {kind} ({plural}.studio-operator.io) is not installed: install the CRDs with `kubectl apply --server-side -f crds/` (or install the Helm chart)"
    )]
    CrdMissing { kind: &'static str, plural: &'static str },
    /// The Kubernetes API answered with an error.
    #[error("Kubernetes API error: {0}")]
    Kube(#[from] kube::Error),
    /// A cache stopped before it was filled.
    #[error("the {0} cache closed before it was filled")]
    CacheClosed(&'static str),
    /// Binding or serving the HTTP endpoints failed, or their TLS files are not usable.
    #[error("cannot serve health and metrics on {addr}: {source}")]
    Serve { addr: SocketAddr, source: ServeError },
    /// The leader Lease cannot be read or created.
    #[error("cannot read or create the leader election Lease {lease}: {source}")]
    Lease {
        lease: String,
        source: kube_lease_manager::LeaseManagerError,
    },
    /// A controller stopped while the operator was running (it should never happen: panics are
    /// contained per object); every controller was stopped so that Kubernetes restarts the pod.
    #[error(
        "the {controller} controller stopped unexpectedly ({reason}): exiting so that Kubernetes restarts this replica"
    )]
    ControllerStopped { controller: String, reason: String },
    /// This replica held the leader lease and lost it; every controller was stopped.
    #[error(
        "lost the leader lease {lease} ({reason}): exiting so that Kubernetes restarts this replica as a candidate"
    )]
    LeadershipLost { lease: String, reason: String },
}

impl RuntimeError {
    /// Stable category for logs and metrics.
    pub fn category(&self) -> &'static str {
        match self {
            RuntimeError::CrdMissing { .. } => "crd_missing",
            RuntimeError::Kube(_) => "kube",
            RuntimeError::CacheClosed(_) => "cache_closed",
            RuntimeError::Serve { .. } => "serve",
            RuntimeError::Lease { .. } => "lease",
            RuntimeError::LeadershipLost { .. } => "leadership_lost",
            RuntimeError::ControllerStopped { .. } => "controller_stopped",
        }
    }
}

/// Settings of `run`.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Where `/healthz`, `/readyz` and `/metrics` listen.
    pub metrics_addr: SocketAddr,
    /// Who may read `/metrics`, and HTTPS.
    pub metrics_security: MetricsSecurity,
    /// Settings shared by the controllers.
    pub controllers: ControllerConfig,
    /// Leader election; `None` runs the controllers at once (a single replica).
    pub leader_election: Option<LeaderElection>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            metrics_addr: ([0, 0, 0, 0], 8080).into(),
            metrics_security: MetricsSecurity::default(),
            controllers: ControllerConfig::default(),
            leader_election: None,
        }
    }
}

/// Fails with install instructions when a CRD of ours is missing. The namespaced kinds are
/// listed in `namespace` (the first watched one of a namespace-scoped installation, whose RBAC
/// allows nothing cluster-wide), or across the cluster.
pub async fn check_crds(client: &Client, namespace: Option<&str>) -> Result<(), RuntimeError> {
    check_crd(scoped::<StudioDomain>(client, namespace)).await?;
    check_crd(scoped::<UserProfile>(client, namespace)).await?;
    check_crd(scoped::<SharedSpace>(client, namespace)).await?;
    check_crd(scoped::<StudioLifecycleConfig>(client, namespace)).await?;
    check_crd(scoped::<StudioImage>(client, namespace)).await?;
    check_crd(Api::<Guardrail>::all(client.clone())).await
}

fn scoped<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
{
    match namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    }
}

async fn check_crd<K>(api: Api<K>) -> Result<(), RuntimeError>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    match api.list_metadata(&ListParams::default().limit(1)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Err(RuntimeError::CrdMissing {
            kind: static_kind::<K>(),
            plural: static_plural::<K>(),
        }),
        Err(other) => Err(other.into()),
    }
}

fn static_kind<K: Resource<DynamicType = ()>>() -> &'static str {
    match K::kind(&()).as_ref() {
        "StudioDomain" => "StudioDomain",
        "UserProfile" => "UserProfile",
        "SharedSpace" => "SharedSpace",
        "StudioLifecycleConfig" => "StudioLifecycleConfig",
        "StudioImage" => "StudioImage",
        _ => "Guardrail",
    }
}

fn static_plural<K: Resource<DynamicType = ()>>() -> &'static str {
    match K::kind(&()).as_ref() {
        "StudioDomain" => "studiodomains",
        "UserProfile" => "userprofiles",
        "SharedSpace" => "sharedspaces",
        "StudioLifecycleConfig" => "studiolifecycleconfigs",
        "StudioImage" => "studioimages",
        _ => "guardrails",
    }
}

/// A cache of the Guardrails this installation enforces, kept up to date until `shutdown`.
fn watch_guardrails(
    client: &Client,
    config: &ControllerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> reflector::Store<Guardrail> {
    let mut watch = watcher::Config::default();
    if let Some(selector) = &config.guardrail_selector {
        watch = watch.labels(selector);
    }
    let (reader, writer) = reflector::store();
    let stream = watcher(Api::<Guardrail>::all(client.clone()), watch)
        .default_backoff()
        .modify(controller::stores::trim)
        .reflect(writer)
        .take_until(shutdown)
        .for_each(|_| futures::future::ready(()));
    tokio::spawn(stream);
    reader
}

/// Runs the operator until `shutdown` resolves: health and metrics endpoints, and, once this
/// process leads (at once without leader election), every controller, all stopped by the same
/// signal. `/readyz` answers 200 once the lease is held and every cache has its first list.
///
/// Losing the leader lease aborts every controller at once and returns
/// [`RuntimeError::LeadershipLost`]: the binary exits non-zero and Kubernetes restarts it as a
/// candidate (see `crate::leader`).
pub async fn run(
    client: Client,
    aws: AwsClients,
    options: RunOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RuntimeError> {
    check_crds(&client, options.controllers.namespaces.first().map(String::as_str)).await?;
    let metrics = Arc::new(Metrics::default());
    let observed_metrics = metrics.clone();
    let aws = aws.with_call_observer(Arc::new(move |operation, outcome| {
        observed_metrics
            .aws_calls
            .get_or_create(&AwsCallLabels {
                operation: operation.into(),
                outcome: outcome.into(),
            })
            .inc();
    }));
    let aws = aws.with_cluster_id(&options.controllers.cluster_id);
    let limiter_metrics = metrics.clone();
    let aws = aws.with_limiter_observer(Arc::new(move |event| limiter_metrics.observe_limiter(event)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    let forward = stop_tx.clone();
    tokio::spawn(async move {
        shutdown.await;
        let _ = forward.send(true);
    });
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    let health = Health::new(metrics.clone());
    let security = &options.metrics_security;
    let (addr, serve) = server::bind(options.metrics_addr, health.clone(), security, &client, stopped())
        .await
        .map_err(|source| RuntimeError::Serve {
            addr: options.metrics_addr,
            source,
        })?;
    let (auth, tls) = (security.auth, security.tls.is_some());
    info!(%addr, ?auth, tls, resync_interval_s = options.controllers.resync_interval.as_secs(), "serving /healthz, /readyz and /metrics");
    if auth == MetricsAuth::Kubernetes && !tls {
        warn!(%addr, "/metrics takes bearer tokens over plain HTTP: set --metrics-tls-cert and --metrics-tls-key so that they are not sent in clear text");
    }
    let server = tokio::spawn(serve);
    let outcome = lead(client, aws, metrics.clone(), options, &health, &stopped).await;
    health.set_ready(false);
    metrics.leader.set(0);
    let _ = stop_tx.send(true);
    let served = server.await;
    outcome?;
    if let Ok(Err(source)) = served {
        return Err(RuntimeError::Serve {
            addr,
            source: source.into(),
        });
    }
    info!("shut down");
    Ok(())
}

/// Waits for the lease (when elected), then runs the controllers until shutdown, until the lease
/// is lost, or until a controller stops.
async fn lead<S, F>(
    client: Client,
    aws: AwsClients,
    metrics: Arc<Metrics>,
    options: RunOptions,
    health: &Health,
    stopped: &S,
) -> Result<(), RuntimeError>
where
    S: Fn() -> F,
    F: Future<Output = ()> + Send + Sync + 'static,
{
    let Some(mut elector) = elect(options.leader_election, stopped).await? else {
        return Ok(());
    };
    let lease = elector.as_ref().map(|e| e.lease().to_string()).unwrap_or_default();
    metrics.leader.set(1);
    // The controllers must know the Guardrails before their first reconcile.
    let guardrails = watch_guardrails(&client, &options.controllers, stopped());
    tokio::select! {
        // Shutdown ends the Guardrail watch too: check it first.
        biased;
        _ = stopped() => {
            if let Some(leader) = elector {
                leader.release().await;
            }
            return Ok(());
        }
        reason = until_lost(&mut elector) => return Err(lost(lease, reason)),
        filled = guardrails.wait_until_ready() => filled.map_err(|_| RuntimeError::CacheClosed("Guardrail"))?,
    }
    let aws = match &elector {
        Some(leader) => aws.with_fence(leader.fence()),
        None => aws,
    };
    let ctx = Arc::new(Context::new(client, aws, metrics, options.controllers, guardrails));
    let mut controllers = Controllers::spawn(&ctx, stopped);
    let outcome = supervise(&mut controllers, &ctx, health, &mut elector, stopped).await;
    let outcome = match outcome {
        // Shutdown: in-flight reconciles finish, unless the lease is lost meanwhile.
        Ok(()) => {
            health.set_ready(false);
            // A handle `supervise` saw complete must not be polled again (tokio panics on a
            // JoinHandle polled after completion): only the unfinished ones are awaited.
            let running = controllers.handles.iter_mut().filter(|handle| !handle.is_finished());
            tokio::select! {
                _ = futures::future::join_all(running) => Ok(()),
                reason = until_lost(&mut elector) => Err(Stopped::LeaseLost(reason)),
            }
        }
        Err(stopped) => Err(stopped),
    };
    let Err(stopped) = outcome else {
        if let Some(leader) = elector {
            leader.release().await;
        }
        return Ok(());
    };
    controllers.abort();
    health.set_ready(false);
    ctx.metrics.leader.set(0);
    match stopped {
        Stopped::LeaseLost(reason) => {
            error!(%lease, %reason, "lost the leader lease: stopped every controller at once; exiting so that Kubernetes restarts this replica as a candidate");
            Err(lost(lease, reason))
        }
        Stopped::ControllerDied(controller, reason) => {
            error!(%controller, %reason, "a controller stopped: stopped every controller, released the lease; exiting so that Kubernetes restarts this replica");
            if let Some(leader) = elector {
                leader.release().await;
            }
            Err(RuntimeError::ControllerStopped { controller, reason })
        }
    }
}

/// With leader election, starts the elector and waits for the lease: `Some(Some(elector))` once
/// held, `None` at shutdown. Without, `Some(None)` at once.
async fn elect<S, F>(election: Option<LeaderElection>, stopped: &S) -> Result<Option<Option<Elector>>, RuntimeError>
where
    S: Fn() -> F,
    F: Future<Output = ()> + Send + Sync + 'static,
{
    let Some(election) = election else {
        return Ok(Some(None));
    };
    let lease = format!("{}/{}", election.namespace, election.lease_name);
    let mut candidate = Elector::start(election).await.map_err(|source| RuntimeError::Lease {
        lease: lease.clone(),
        source,
    })?;
    info!(%lease, "not ready until this replica holds the leader lease; serving /healthz and /metrics meanwhile");
    let state = tokio::select! {
        _ = stopped() => None,
        state = candidate.acquired() => Some(state),
    };
    match state {
        None => {
            candidate.release().await;
            Ok(None)
        }
        Some(Leadership::Lost(reason)) => Err(lost(lease, reason)),
        Some(_) => Ok(Some(Some(candidate))),
    }
}

/// The controller tasks, with names for logs.
struct Controllers {
    names: Vec<String>,
    handles: Vec<tokio::task::JoinHandle<()>>,
}

impl Controllers {
    /// Starts the Guardrail controller, the sweeper, and per watched scope the StudioDomain, UserProfile,
    /// SharedSpace and StudioImage controllers, all stopping when `stopped` resolves.
    fn spawn<S, F>(ctx: &Arc<Context>, stopped: &S) -> Self
    where
        S: Fn() -> F,
        F: Future<Output = ()> + Send + Sync + 'static,
    {
        let mut names = vec!["Guardrail".to_string(), "Sweeper".to_string()];
        let mut handles = vec![
            tokio::spawn(controller::guardrail::run(ctx.clone(), stopped())),
            tokio::spawn(controller::sweeper::run(ctx.clone(), stopped())),
        ];
        for scope in ctx.config.scopes() {
            let within = scope.as_deref().map(|s| format!(" in {s}")).unwrap_or_default();
            names.extend(
                [
                    "StudioDomain",
                    "UserProfile",
                    "SharedSpace",
                    "StudioLifecycleConfig",
                    "StudioImage",
                ]
                .map(|kind| format!("{kind}{within}")),
            );
            handles.push(tokio::spawn(controller::domain::run(
                ctx.clone(),
                scope.clone(),
                stopped(),
            )));
            handles.push(tokio::spawn(controller::profile::run(
                ctx.clone(),
                scope.clone(),
                stopped(),
            )));
            handles.push(tokio::spawn(controller::space::run(
                ctx.clone(),
                scope.clone(),
                stopped(),
            )));
            handles.push(tokio::spawn(controller::lifecycle::run(
                ctx.clone(),
                scope.clone(),
                stopped(),
            )));
            handles.push(tokio::spawn(controller::image::run(ctx.clone(), scope, stopped())));
        }
        Self { names, handles }
    }

    fn abort(&self) {
        self.handles.iter().for_each(|h| h.abort());
    }
}

/// Marks the replica ready once every cache is synced, and waits for shutdown (`Ok`), the loss
/// of the lease or the end of a controller task.
async fn supervise<S, F>(
    controllers: &mut Controllers,
    ctx: &Context,
    health: &Health,
    elector: &mut Option<Elector>,
    stopped: &S,
) -> Result<(), Stopped>
where
    S: Fn() -> F,
    F: Future<Output = ()> + Send + Sync + 'static,
{
    let synced = ctx.caches.wait();
    let stop = stopped();
    tokio::pin!(synced, stop);
    let mut synced_done = false;
    loop {
        tokio::select! {
            // Controllers end at shutdown too: a shutdown is checked first.
            biased;
            _ = &mut stop => return Ok(()),
            _ = &mut synced, if !synced_done => {
                synced_done = true;
                health.set_ready(true);
                info!("caches synced: ready");
            }
            reason = until_lost(elector) => return Err(Stopped::LeaseLost(reason)),
            (ended, index, _) = futures::future::select_all(controllers.handles.iter_mut()) => {
                // A controller that ends because shutdown began is no failure.
                if futures::FutureExt::now_or_never(stopped()).is_some() {
                    return Ok(());
                }
                let reason = match ended {
                    Ok(()) => "its watch ended".to_string(),
                    Err(error) => error.to_string(),
                };
                return Err(Stopped::ControllerDied(controllers.names[index].clone(), reason));
            }
        }
    }
}

/// Why the controllers stopped before shutdown.
enum Stopped {
    /// The leader lease was lost (why).
    LeaseLost(String),
    /// A controller's task ended (which, why).
    ControllerDied(String, String),
}

/// Resolves with the reason when the lease is lost; never without leader election.
async fn until_lost(elector: &mut Option<Elector>) -> String {
    match elector {
        Some(elector) => elector.lost().await,
        None => std::future::pending().await,
    }
}

fn lost(lease: String, reason: String) -> RuntimeError {
    RuntimeError::LeadershipLost { lease, reason }
}
