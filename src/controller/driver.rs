//! The reconcile driver every kind shares: one [`Pass`] per reconcile (the object, its status
//! and the [`Report`] being built), [`drive`] to run it (finalizer, apply or cleanup, status,
//! metrics), panics contained to the object, and [`run_controller`] for the watch loop.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use tracing::{error, warn};

use super::catalog;
use super::context::{Context, Pace};
use super::error::ReconcileError;
use super::report::{Happening, Report, Reported, publish_status};
use super::stores;
use crate::api::{StudioDomain, StudioImage, StudioLifecycleConfig};
use crate::metrics::{ErrorLabels, KindLabels};
use crate::status;

/// Finalizer that guards AWS cleanup.
pub const FINALIZER: &str = "studio-operator.io/cleanup";

/// A kind with a controller: how to bring AWS towards its spec, and how to clean up.
pub trait Reconcile: Reported {
    /// Whether deletion waits for [`Reconcile::cleanup`] behind [`FINALIZER`].
    const FINALIZES: bool = true;

    /// The API of the object's kind where the object lives.
    fn api(client: &Client, obj: &Self) -> Api<Self>;

    /// Brings AWS towards the spec; reports into `pass.report`.
    fn apply(pass: &mut Pass<'_, Self>) -> impl Future<Output = Result<Action, ReconcileError>> + Send;

    /// Cleans up AWS for an object being deleted, and releases the finalizer when done.
    fn cleanup(pass: &mut Pass<'_, Self>) -> impl Future<Output = Result<Action, ReconcileError>> + Send;
}

/// One reconcile of one object.
pub struct Pass<'a, K: Reported> {
    /// The object as the cache has it.
    pub obj: &'a K,
    /// What every reconcile can reach.
    pub ctx: &'a Context,
    /// The API of the object's kind where it lives.
    pub api: Api<K>,
    /// The status being built (starts as the object's).
    pub status: K::Status,
    /// The conditions being built.
    pub report: Report,
    /// Set once the finalizer is released: the object is gone, nothing more is written.
    pub released: bool,
    /// The status last written in this pass.
    written: Option<K::Status>,
}

impl<'a, K: Reconcile> Pass<'a, K> {
    fn new(obj: &'a K, ctx: &'a Context) -> Self {
        Self {
            obj,
            ctx,
            api: K::api(&ctx.client, obj),
            status: obj.status().cloned().unwrap_or_default(),
            report: Report::default(),
            released: false,
            written: None,
        }
    }

    /// The object's UID (empty only for objects the API server never stored).
    pub fn uid(&self) -> String {
        self.obj.uid().unwrap_or_default()
    }

    /// The object's `metadata.generation`.
    pub fn generation(&self) -> i64 {
        self.obj.meta().generation.unwrap_or_default()
    }

    /// The object's namespace (empty for cluster-scoped kinds).
    pub fn namespace(&self) -> String {
        self.obj.namespace().unwrap_or_default()
    }

    /// Polls again soon: work is under way in AWS (backs off while the phase stays the same).
    pub fn poll(&self) -> Action {
        self.ctx.wait_after(&self.uid(), &self.report.phase(), Pace::Progress)
    }

    /// Looks again later: blocked until something else changes (backs off up to the resync).
    pub fn blocked(&self) -> Action {
        self.ctx.wait_after(&self.uid(), &self.report.phase(), Pace::Blocked)
    }

    /// Comes back at the next resync round.
    pub fn resync(&self) -> Action {
        self.resync_every(self.ctx.config.resync_interval)
    }

    /// Comes back at the next round of `period`.
    pub fn resync_every(&self, period: Duration) -> Action {
        self.ctx.resync_after(&self.uid(), period)
    }

    /// Publishes an Event about the object.
    pub async fn event(&self, happening: Happening) {
        self.ctx.publish(self.obj, happening).await;
    }

    /// Writes the status now (a step that must survive a crash before the next one).
    pub async fn checkpoint(&mut self) -> Result<(), ReconcileError> {
        self.write_status().await
    }

    async fn write_status(&mut self) -> Result<(), ReconcileError> {
        if self.released {
            return Ok(());
        }
        publish_status(
            self.ctx,
            &self.api,
            self.obj,
            &mut self.status,
            &self.report,
            &mut self.written,
        )
        .await?;
        Ok(())
    }

    /// Removes the finalizer, letting Kubernetes delete the object; nothing is written after.
    pub async fn release(&mut self) -> Result<Action, ReconcileError> {
        remove_finalizer(&self.api, self.obj).await?;
        self.released = true;
        self.ctx.forget(&self.uid());
        Ok(Action::await_change())
    }

    /// The Ready condition's status as written, or `None` once the object is gone.
    fn ready(&self) -> Option<String> {
        (!self.released).then(|| {
            status::find(K::conditions(&self.status), crate::api::condition_type::READY)
                .map_or_else(|| "Unknown".to_string(), |c| c.status.clone())
        })
    }
}

/// Runs one reconcile: counts and times it, adds the finalizer, applies or cleans up, writes the
/// status, and on failure reports the error in status before backing off.
pub async fn drive<K: Reconcile>(obj: Arc<K>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let started = std::time::Instant::now();
    let labels = KindLabels {
        kind: K::kind(&()).into(),
    };
    ctx.metrics.reconciles.get_or_create(&labels).inc();
    let mut pass = Pass::new(obj.as_ref(), &ctx);
    let result = run_pass(&mut pass).await;
    let result = match result {
        Ok(action) => {
            pass.write_status().await?;
            ctx.metrics
                .record_ready(&labels.kind, &pass.uid(), pass.ready().as_deref());
            ctx.succeeded(&pass.uid());
            Ok(action)
        }
        Err(error) => {
            pass.report.failed(&error);
            if let Err(write_error) = pass.write_status().await {
                warn!(%write_error, "cannot report the error in status");
            }
            Err(error)
        }
    };
    ctx.metrics
        .reconcile_duration
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    result
}

async fn run_pass<K: Reconcile>(pass: &mut Pass<'_, K>) -> Result<Action, ReconcileError> {
    if let Some(panic_on) = &pass.ctx.config.panic_on
        && (panic_on.0)(&ObjectRef::from_obj(pass.obj).erase())
    {
        panic!("fault injection: a reconcile of {} panics", pass.obj.name_any());
    }
    if pass.obj.meta().deletion_timestamp.is_some() {
        if K::FINALIZES && !has_finalizer(pass.obj) {
            pass.released = true;
            return Ok(Action::await_change());
        }
        return K::cleanup(pass).await;
    }
    if K::FINALIZES && !has_finalizer(pass.obj) {
        add_finalizer(&pass.api, pass.obj).await?;
    }
    K::apply(pass).await
}

/// [`drive`], with a panic contained to the object: it is counted
/// (`studio_operator_reconcile_panics_total`), logged with the object, reported as a condition,
/// and retried with backoff; the controller goes on with every other object.
pub async fn drive_contained<K: Reconcile>(obj: Arc<K>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    match AssertUnwindSafe(drive(obj.clone(), ctx.clone())).catch_unwind().await {
        Ok(result) => result,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            let kind = K::kind(&()).to_string();
            ctx.metrics
                .reconcile_panics
                .get_or_create(&KindLabels { kind: kind.clone() })
                .inc();
            error!(%kind, namespace = obj.namespace().unwrap_or_default(), name = %obj.name_any(), panic = %message, "reconcile panicked; the controller goes on");
            let error = ReconcileError::Panicked(message);
            let mut report = Report::default();
            report.failed(&error);
            let mut status = obj.status().cloned().unwrap_or_default();
            let api = K::api(&ctx.client, &obj);
            if let Err(write_error) = publish_status(&ctx, &api, obj.as_ref(), &mut status, &report, &mut None).await {
                warn!(%write_error, "cannot report the panic in status");
            }
            Err(error)
        }
    }
}

/// Logs a failure, counts it by category, and backs off: errors only a person can resolve wait
/// for the resync (or a spec change), the others retry from 5 s doubling to 5 minutes.
pub fn error_policy<K: Reconcile>(obj: Arc<K>, error: &ReconcileError, ctx: Arc<Context>) -> Action {
    let kind = K::kind(&());
    let category = error.category();
    warn!(%kind, name = %obj.name_any(), namespace = obj.namespace().unwrap_or_default(), %error, category = category.label(), "reconcile failed");
    ctx.metrics
        .reconcile_errors
        .get_or_create(&ErrorLabels {
            kind: kind.to_string(),
            reason: category.label().into(),
        })
        .inc();
    let uid = obj.uid().unwrap_or_default();
    let backoff = ctx.failed(&uid);
    if category.stalls() {
        ctx.resync_after(&uid, ctx.config.resync_interval)
    } else {
        backoff
    }
}

/// The StudioDomain (namespace, name) a member refers to.
pub type DomainOf<K> = fn(&K) -> (String, String);

/// Runs one controller for one scope (a namespace, or `None` for all) until `shutdown` resolves.
///
/// Only changes that `trigger` hashes differently cause a reconcile, so status writes never
/// trigger one; the resync comes from each reconcile's requeue. Failures back off per object.
pub async fn run_controller<K>(
    ctx: Arc<Context>,
    scope: Option<String>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
    trigger: fn(&K) -> Option<u64>,
    domain_of: Option<DomainOf<K>>,
    follows_references: bool,
) where
    K: Reconcile + Resource<Scope = k8s_openapi::NamespaceResourceScope> + stores::Cached + serde::Serialize,
{
    let api: Api<K> = watched_api(&ctx.client, scope.as_deref());
    let (reader, writer) = reflector::store();
    K::shared(&ctx.stores).add(reader.clone());
    // The first list comes from the API server's watch cache (resourceVersion 0, as client-go's
    // informers ask): a consistent list can wait seconds for that cache to catch up after a
    // burst of writes, which held up readiness. The watch that follows brings every later change.
    let changes = watcher(api, watcher::Config::default().any_semantic())
        .default_backoff()
        .modify(stores::trim)
        .reflect(writer)
        .inspect(ctx.caches.register())
        .applied_objects()
        .predicate_filter(trigger, Default::default());
    let mut controller = Controller::for_stream(changes, reader.clone())
        .with_config(kube::runtime::controller::Config::default().concurrency(ctx.config.concurrency));
    if follows_references {
        controller = catalog::follow::<K, StudioLifecycleConfig>(controller, &ctx, scope.as_deref(), reader.clone());
        controller = catalog::follow::<K, StudioImage>(controller, &ctx, scope.as_deref(), reader.clone());
    }
    if let Some(domain_of) = domain_of {
        // Members waiting for their domain start as soon as it becomes Ready (or changes its
        // domain id), instead of at their next poll. Other domain status writes trigger nothing.
        let domains = watcher(
            watched_api::<StudioDomain>(&ctx.client, scope.as_deref()),
            watcher::Config::default(),
        )
        .default_backoff()
        .applied_objects()
        .predicate_filter(domain_readiness, Default::default());
        controller = controller.watches_stream(domains, move |domain: StudioDomain| {
            let key = (domain.namespace().unwrap_or_default(), domain.name_any());
            reader
                .state()
                .into_iter()
                .filter(|member| domain_of(member) == key)
                .map(|member| ObjectRef::from_obj(member.as_ref()))
                .collect::<Vec<_>>()
        });
    }
    controller
        .graceful_shutdown_on(shutdown)
        .run(drive_contained::<K>, error_policy::<K>, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}

/// A hash of what should trigger a reconcile: a spec change or deletion, not status writes.
pub fn spec_or_deletion<K: Resource>(obj: &K) -> Option<u64> {
    Some(change_hash(&(
        obj.meta().generation,
        obj.meta().deletion_timestamp.is_some(),
    )))
}

/// What members of a domain react to: whether it is Ready, and its domain id.
fn domain_readiness(domain: &StudioDomain) -> Option<u64> {
    let status = domain.status.as_ref();
    let ready = status.map(|s| status::is_true(&s.conditions, crate::api::condition_type::READY));
    Some(change_hash(&(ready, status.and_then(|s| s.domain_id.as_ref()))))
}

/// A hash for change detection within this process (never persisted).
pub fn change_hash<T: std::hash::Hash>(value: &T) -> u64 {
    use std::hash::{DefaultHasher, Hasher};
    let mut hasher = DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

/// The API of a kind in one watched namespace, or in all namespaces.
pub fn watched_api<K>(client: &Client, scope: Option<&str>) -> Api<K>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
{
    match scope {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    }
}

/// Adds our finalizer (JSON patch that fails if the list changed meanwhile).
pub async fn add_finalizer<K: Reported>(api: &Api<K>, obj: &K) -> Result<(), kube::Error> {
    let patch = if obj.finalizers().is_empty() {
        serde_json::json!([{"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]}])
    } else {
        serde_json::json!([
            {"op": "test", "path": "/metadata/finalizers", "value": obj.finalizers()},
            {"op": "add", "path": "/metadata/finalizers/-", "value": FINALIZER}
        ])
    };
    api.patch(
        &obj.name_any(),
        &PatchParams::default(),
        &Patch::Json::<()>(serde_json::from_value(patch).expect("valid JSON patch")),
    )
    .await?;
    Ok(())
}

/// Removes our finalizer, letting Kubernetes delete the object.
pub async fn remove_finalizer<K: Reported>(api: &Api<K>, obj: &K) -> Result<(), kube::Error> {
    let Some(index) = obj.finalizers().iter().position(|f| f == FINALIZER) else {
        return Ok(());
    };
    let patch = serde_json::json!([
        {"op": "test", "path": format!("/metadata/finalizers/{index}"), "value": FINALIZER},
        {"op": "remove", "path": format!("/metadata/finalizers/{index}")}
    ]);
    match api
        .patch(
            &obj.name_any(),
            &PatchParams::default(),
            &Patch::Json::<()>(serde_json::from_value(patch).expect("valid JSON patch")),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(error) => Err(error),
    }
}

/// Whether the object carries our finalizer.
pub fn has_finalizer<K: Resource>(obj: &K) -> bool {
    obj.finalizers().iter().any(|f| f == FINALIZER)
}
