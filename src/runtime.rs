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
use tracing::info;

use crate::api::{Guardrail, SharedSpace, StudioDomain, UserProfile};
use crate::aws::AwsClients;
use crate::controller::{self, Context, ControllerConfig};
use crate::metrics::{AwsCallLabels, Metrics};
use crate::server::{self, Health};

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
    /// Binding or serving the HTTP endpoints failed.
    #[error("cannot serve health and metrics on {addr}: {source}")]
    Serve { addr: SocketAddr, source: std::io::Error },
}

impl RuntimeError {
    /// Stable category for logs and metrics.
    pub fn category(&self) -> &'static str {
        match self {
            RuntimeError::CrdMissing { .. } => "crd_missing",
            RuntimeError::Kube(_) => "kube",
            RuntimeError::CacheClosed(_) => "cache_closed",
            RuntimeError::Serve { .. } => "serve",
        }
    }
}

/// Settings of `run`.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Where `/healthz`, `/readyz` and `/metrics` listen.
    pub metrics_addr: SocketAddr,
    /// Settings shared by the controllers.
    pub controllers: ControllerConfig,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            metrics_addr: ([0, 0, 0, 0], 8080).into(),
            controllers: ControllerConfig::default(),
        }
    }
}

/// Fails with install instructions when a CRD of ours is missing.
pub async fn check_crds(client: &Client) -> Result<(), RuntimeError> {
    check_crd::<StudioDomain>(client).await?;
    check_crd::<UserProfile>(client).await?;
    check_crd::<SharedSpace>(client).await?;
    check_crd::<Guardrail>(client).await
}

async fn check_crd<K>(client: &Client) -> Result<(), RuntimeError>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    let api: Api<K> = Api::all(client.clone());
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
        _ => "Guardrail",
    }
}

fn static_plural<K: Resource<DynamicType = ()>>() -> &'static str {
    match K::kind(&()).as_ref() {
        "StudioDomain" => "studiodomains",
        "UserProfile" => "userprofiles",
        "SharedSpace" => "sharedspaces",
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
        .reflect(writer)
        .take_until(shutdown)
        .for_each(|_| futures::future::ready(()));
    tokio::spawn(stream);
    reader
}

/// Runs the operator until `shutdown` resolves: health and metrics endpoints plus every
/// controller, all stopped by the same signal.
pub async fn run(
    client: Client,
    aws: AwsClients,
    options: RunOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RuntimeError> {
    check_crds(&client).await?;
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
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    let health = Health::new(metrics.clone());
    let (addr, serve) = server::bind(options.metrics_addr, health.clone(), stopped())
        .await
        .map_err(|source| RuntimeError::Serve {
            addr: options.metrics_addr,
            source,
        })?;
    info!(%addr, resync_interval_s = options.controllers.resync_interval.as_secs(), "serving /healthz, /readyz and /metrics");
    let guardrails = watch_guardrails(&client, &options.controllers, stopped());
    guardrails
        .wait_until_ready()
        .await
        .map_err(|_| RuntimeError::CacheClosed("Guardrail"))?;
    let ctx = Arc::new(Context::new(client, aws, metrics, options.controllers, guardrails));
    let mut controllers = vec![tokio::spawn(controller::guardrail::run(ctx.clone(), stopped()))];
    for scope in ctx.config.scopes() {
        controllers.push(tokio::spawn(controller::domain::run(
            ctx.clone(),
            scope.clone(),
            stopped(),
        )));
        controllers.push(tokio::spawn(controller::profile::run(
            ctx.clone(),
            scope.clone(),
            stopped(),
        )));
        controllers.push(tokio::spawn(controller::space::run(ctx.clone(), scope, stopped())));
    }
    health.set_ready(true);
    serve.await.map_err(|source| RuntimeError::Serve { addr, source })?;
    for controller in controllers {
        let _ = controller.await;
    }
    info!("shut down");
    Ok(())
}
