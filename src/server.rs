//! The HTTP endpoints Kubernetes and Prometheus use: `/healthz`, `/readyz` and `/metrics`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use kube::runtime::watcher;
use tokio::net::TcpListener;
use tokio::sync::watch as channel;

use crate::metrics::Metrics;

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

/// Binds the endpoints; returns the bound address (port 0 picks a free one) and the server future.
pub async fn bind(
    addr: SocketAddr,
    health: Health,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<(SocketAddr, impl std::future::Future<Output = std::io::Result<()>>)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(health);
    let serve = axum::serve(listener, app).with_graceful_shutdown(shutdown);
    Ok((local, async move { serve.await }))
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
