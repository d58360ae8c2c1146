//! The HTTP endpoints Kubernetes and Prometheus use: `/healthz`, `/readyz` and `/metrics`.
//! The probes are always open (the kubelet sends no credentials); `/metrics` can require a
//! token the API server allows to read it ([`auth`]), and the port can serve HTTPS ([`tls`]).

pub mod auth;
pub mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use futures::future::BoxFuture;
use kube::Client;
use kube::runtime::watcher;
use tokio::net::TcpListener;
use tokio::sync::watch as channel;

use crate::metrics::Metrics;
pub use auth::MetricsAuthorizer;
pub use tls::{TlsFiles, TlsListener};

/// Errors of the endpoints: binding and serving, the TLS files, the reviews of `/metrics`.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The socket cannot be bound or served.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A TLS file cannot be read.
    #[error("cannot read the metrics TLS file {}: {source}", path.display())]
    TlsFile { path: PathBuf, source: std::io::Error },
    /// A TLS file holds no usable PEM block.
    #[error("the metrics TLS {what} file is not usable PEM: {reason}")]
    TlsPem { what: &'static str, reason: String },
    /// The certificate and key do not make a TLS configuration (e.g. the key is not the
    /// certificate's).
    #[error("the metrics TLS certificate and key do not fit: {0}")]
    TlsConfig(rustls::Error),
    /// The API server could not answer a TokenReview or SubjectAccessReview.
    #[error("the {review} of a metrics request failed: {source}")]
    Review { review: &'static str, source: kube::Error },
}

/// Who may read `/metrics` (`run --metrics-auth`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum MetricsAuth {
    /// Anyone who reaches the port (limit that with a NetworkPolicy).
    #[default]
    None,
    /// A bearer token the API server authenticates (TokenReview) whose user may `get` the
    /// non-resource URL `/metrics` (SubjectAccessReview).
    Kubernetes,
}

/// How the endpoints are protected.
#[derive(Clone, Debug, Default)]
pub struct MetricsSecurity {
    /// Who may read `/metrics`.
    pub auth: MetricsAuth,
    /// HTTPS with these files; `None` serves plain HTTP.
    pub tls: Option<TlsFiles>,
}

/// State the endpoints report on.
#[derive(Clone)]
pub struct Health {
    ready: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
}

impl Health {
    /// Starts not ready.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            ready: Arc::new(AtomicBool::new(false)),
            metrics,
        }
    }
    /// Marks the operator ready (caches synced, lease held where elected) or not.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }
    /// Whether `/readyz` answers 200.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}

/// The caches `/readyz` waits for. Each controller registers the reflector of its watch; the
/// caches are synced when the expected number are registered and each has had its first
/// complete list.
#[derive(Clone)]
pub struct CacheSync {
    /// How many caches the controllers register.
    expected: usize,
    /// (registered, filled).
    counts: Arc<channel::Sender<(usize, usize)>>,
}

impl CacheSync {
    /// Tracks `expected` caches.
    pub fn expecting(expected: usize) -> Self {
        Self {
            expected,
            counts: Arc::new(channel::Sender::new((0, 0))),
        }
    }

    /// Registers a cache. Apply the returned observer to every event of the cache's reflector
    /// stream (`.reflect(writer).inspect(caches.register())`): the cache counts as filled at its
    /// first complete list (`InitDone`). (`Store::wait_until_ready` cannot be used beside the
    /// controller: a store wakes only the last task that waits for it.)
    pub fn register<K>(&self) -> impl FnMut(&Result<watcher::Event<K>, watcher::Error>) + Send + Sync + 'static {
        self.counts.send_modify(|(registered, _)| *registered += 1);
        let counts = self.counts.clone();
        let mut filled = false;
        move |event| {
            if !filled && matches!(event, Ok(watcher::Event::InitDone)) {
                filled = true;
                counts.send_modify(|(_, filled)| *filled += 1);
            }
        }
    }

    fn complete(&self, (registered, filled): (usize, usize)) -> bool {
        registered >= self.expected && filled == registered
    }

    /// Whether every expected cache is filled.
    pub fn is_synced(&self) -> bool {
        self.complete(*self.counts.borrow())
    }

    /// Waits until every expected cache is filled.
    pub async fn wait(&self) {
        let mut counts = self.counts.subscribe();
        let _ = counts.wait_for(|counts| self.complete(*counts)).await;
    }
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(health): State<Health>) -> impl IntoResponse {
    if health.is_ready() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}

async fn metrics(State(health): State<Health>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        health.metrics.encode(),
    )
}

/// The routes; `/metrics` behind the authorizer when there is one.
fn router(health: Health, authorizer: Option<Arc<MetricsAuthorizer>>) -> Router {
    let mut scrape = Router::new().route(auth::METRICS_PATH, get(metrics));
    if let Some(authorizer) = authorizer {
        scrape = scrape.route_layer(axum::middleware::from_fn_with_state(
            authorizer,
            auth::require_metrics_reader,
        ));
    }
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(scrape)
        .with_state(health)
}

/// Binds the endpoints; returns the bound address (port 0 picks a free one) and the server future.
/// `client` makes the reviews of `/metrics` requests when `security.auth` asks for them.
pub async fn bind(
    addr: SocketAddr,
    health: Health,
    security: &MetricsSecurity,
    client: &Client,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(SocketAddr, BoxFuture<'static, std::io::Result<()>>), ServeError> {
    let authorizer =
        (security.auth == MetricsAuth::Kubernetes).then(|| Arc::new(MetricsAuthorizer::new(client.clone())));
    let app = router(health, authorizer);
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let serve: BoxFuture<'static, std::io::Result<()>> = match &security.tls {
        Some(files) => {
            let listener = TlsListener::new(listener, files.clone()).await?;
            Box::pin(
                axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown)
                    .into_future(),
            )
        }
        None => Box::pin(
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .into_future(),
        ),
    };
    Ok((local, serve))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use k8s_openapi::api::core::v1::ConfigMap;

    use super::*;

    #[tokio::test]
    async fn caches_are_synced_when_every_expected_one_had_its_first_list() {
        let caches = CacheSync::expecting(3);
        let mut first = caches.register::<ConfigMap>();
        let mut second = caches.register::<ConfigMap>();
        let synced = || {
            let caches = caches.clone();
            async move {
                let waited = tokio::time::timeout(Duration::from_millis(50), caches.wait())
                    .await
                    .is_ok();
                assert_eq!(waited, caches.is_synced());
                waited
            }
        };
        first(&Ok(watcher::Event::Init));
        first(&Ok(watcher::Event::InitDone));
        first(&Ok(watcher::Event::InitDone));
        assert!(!synced().await, "one of three");
        second(&Ok(watcher::Event::InitApply(ConfigMap::default())));
        assert!(!synced().await);
        second(&Ok(watcher::Event::InitDone));
        assert!(!synced().await, "a controller that has not registered yet");
        let mut third = caches.register::<ConfigMap>();
        assert!(!synced().await);
        third(&Ok(watcher::Event::InitDone));
        assert!(synced().await);
    }
}
