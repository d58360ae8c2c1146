//! Controllers, one module per kind, each the same pipeline: observe (AWS + cluster) -> plan
//! (pure) -> act -> report status.

pub mod domain;
pub mod guardrail;
mod members;
pub mod observe;
pub mod ownership;
pub mod profile;
pub mod reference;
pub mod settings;
pub mod space;
pub mod stores;
pub mod sweeper;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{StreamExt, TryFuture};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::warn;

use crate::api::{Guardrail, StudioDomain, Violation};
use crate::aws::AwsError;
use crate::aws::clients::AwsClients;
use crate::guardrail::{DomainLabels, covers};
use crate::metrics::{ErrorLabels, KindLabels, Metrics};

/// Field manager of every write the operator makes.
pub const FIELD_MANAGER: &str = "studio-operator";
/// Finalizer that guards AWS cleanup.
pub const FINALIZER: &str = "studio-operator.io/cleanup";

/// Settings shared by every controller.
#[derive(Clone, Debug)]
pub struct ControllerConfig {
    /// Cluster id written into ownership tags, so clusters sharing an account keep apart.
    pub cluster_id: String,
    /// How often an unchanged resource is compared with AWS.
    pub resync_interval: Duration,
    /// How often a resource in transition (Pending, Deleting, ...) is polled.
    pub poll_interval: Duration,
    /// Reconciles running at once, per controller.
    pub concurrency: u16,
    /// Watch only these namespaces (a namespace-scoped installation); all namespaces when empty.
    pub namespaces: Vec<String>,
    /// How often the apps of each domain are swept for idle, over-age and forbidden apps.
    pub sweep_interval: Duration,
    /// Label selector of the Guardrails this installation enforces; all when `None`.
    pub guardrail_selector: Option<String>,
    /// Namespace of the ConfigMaps with the Guardrails' rendered policies (the operator's own).
    pub policy_namespace: String,
    /// The time the sweeper measures idleness and uptime against.
    pub clock: Clock,
    /// How long a List of a domain's profiles, spaces or apps is reused by the polls of
    /// resources in transition (never longer than `poll_interval`); resyncs reuse the List of
    /// their resync round.
    pub list_cache_ttl: Duration,
    /// How often the tags of an unchanged profile or space are listed at least when the tag
    /// index does not show them: AddTags and DeleteTags move no `LastModifiedTime`.
    pub tag_audit_interval: Duration,
}

/// A source of the current time (epoch seconds). The system clock in production; tests pass the
/// AWS emulator's clock, which they advance instead of sleeping.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> f64 + Send + Sync>);

impl Clock {
    /// A clock that reads `now`.
    pub fn new(now: impl Fn() -> f64 + Send + Sync + 'static) -> Self {
        Self(Arc::new(now))
    }

    /// The current time, epoch seconds.
    pub fn now(&self) -> f64 {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or_default()
        })
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clock({})", self.now())
    }
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            cluster_id: "default".into(),
            resync_interval: Duration::from_secs(300),
            poll_interval: Duration::from_secs(15),
            concurrency: 8,
            namespaces: Vec::new(),
            sweep_interval: Duration::from_secs(300),
            guardrail_selector: None,
            policy_namespace: "studio-operator".into(),
            clock: Clock::default(),
            list_cache_ttl: Duration::from_secs(2),
            tag_audit_interval: Duration::from_secs(6 * 3600),
        }
    }
}

/// What every reconcile can reach.
pub struct Context {
    /// Kubernetes client.
    pub client: Client,
    /// AWS sessions per account and region.
    pub aws: AwsClients,
    /// One shared Event recorder, so events aggregate.
    pub recorder: Recorder,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Settings.
    pub config: ControllerConfig,
    /// The Guardrails this installation enforces, from the cluster cache.
    pub guardrails: reflector::Store<Guardrail>,
    /// What the sweeper found per Guardrail since its status was last written.
    pub guardrail_findings: Mutex<BTreeMap<String, GuardrailFindings>>,
    /// When each domain (by UID) was last swept.
    sweeps: Mutex<HashMap<String, std::time::Instant>>,
    /// Consecutive failures per object UID, for exponential backoff.
    failures: Mutex<HashMap<String, u32>>,
    /// Short-lived List results per domain, shared by all reconciles.
    pub listings: observe::Listings,
    /// What each UserProfile last saw of its profile in AWS.
    pub(crate) profiles_seen: observe::Memory<crate::aws::model::ObservedProfile>,
    /// What each SharedSpace last saw of its space in AWS.
    pub(crate) spaces_seen: observe::Memory<crate::aws::model::ObservedSpace>,
    /// Consecutive polls per object UID in the same phase (progress reason and message): polls
    /// back off from one second to `poll_interval` while nothing changes, and start again when
    /// progress is made.
    polls: Mutex<HashMap<String, (String, u32)>>,
    /// The controllers' caches, which `/readyz` waits for.
    pub caches: crate::server::CacheSync,
    /// The same caches' contents, which the Guardrail controller and the sweeper read.
    pub stores: stores::Stores,
}

/// Runtime findings of the sweeper for one Guardrail, which its controller writes to status.
#[derive(Clone, Debug, Default)]
pub struct GuardrailFindings {
    /// Apps stopped because of the guardrail, not yet added to `status.appsStopped`.
    pub apps_stopped: i64,
    /// Running apps that break it, per StudioDomain (`namespace/name`), as of the last sweep.
    pub apps: BTreeMap<String, Vec<Violation>>,
}

impl Context {
    /// A context for the controllers.
    pub fn new(
        client: Client,
        aws: AwsClients,
        metrics: Arc<Metrics>,
        config: ControllerConfig,
        guardrails: reflector::Store<Guardrail>,
    ) -> Self {
        let recorder = Recorder::new(client.clone(), Reporter::from(FIELD_MANAGER));
        Self {
            client,
            aws,
            recorder,
            metrics,
            guardrails,
            guardrail_findings: Mutex::default(),
            sweeps: Mutex::default(),
            failures: Mutex::default(),
            listings: Default::default(),
            profiles_seen: Default::default(),
            spaces_seen: Default::default(),
            polls: Mutex::default(),
            caches: crate::server::CacheSync::expecting(controller_caches(&config)),
            stores: Default::default(),
            config,
        }
    }

    /// How old a shared List result a reconcile accepts: a resync of a settled resource takes
    /// the List of its resync round (fetched since the last multiple of the resync interval),
    /// a poll of a resource in transition one of at most `list_cache_ttl`.
    pub fn list_age(&self, settled: bool) -> Duration {
        let ttl = self.config.list_cache_ttl.min(self.config.poll_interval);
        if settled {
            ttl.max(observe::into_round(self.config.resync_interval))
        } else {
            ttl
        }
    }

    /// The requeue of a resource in transition: one second, doubling with each consecutive poll
    /// of the same `phase` up to `poll_interval` (a poll of a profile or space costs no AWS call
    /// of its own, so waiting for a transition need not add most of a poll interval).
    pub fn poll_after(&self, uid: &str, phase: &str) -> Action {
        let mut polls = self.polls.lock().expect("polls lock");
        let entry = polls.entry(uid.to_string()).or_insert_with(|| (phase.to_string(), 0));
        if entry.0 != phase {
            *entry = (phase.to_string(), 0);
        }
        let delay = Duration::from_secs(1)
            .saturating_mul(1 << entry.1.min(10))
            .min(self.config.poll_interval);
        entry.1 = entry.1.saturating_add(1);
        Action::requeue(delay)
    }

    /// The requeue of a resource that is done for now: the next multiple of `period`, so that
    /// the resources of a domain resync together and share their List calls.
    pub fn resync_after(&self, uid: &str, period: Duration) -> Action {
        self.polls.lock().expect("polls lock").remove(uid);
        Action::requeue(observe::aligned(period))
    }

    /// The Guardrails that cover a StudioDomain (and so its profiles and spaces). Reads the
    /// domain's Namespace only when a guardrail selects by namespace.
    pub async fn guardrails_for(
        &self,
        domain_namespace: &str,
        domain_labels: &BTreeMap<String, String>,
    ) -> Result<Vec<Arc<Guardrail>>, kube::Error> {
        let all = self.guardrails.state();
        if all.is_empty() {
            return Ok(all);
        }
        let mut labels = DomainLabels {
            domain: domain_labels.clone(),
            ..Default::default()
        };
        if all.iter().any(|g| g.spec.selector.namespace_selector.is_some()) {
            let namespaces: Api<Namespace> = Api::all(self.client.clone());
            labels.namespace = namespaces
                .get_opt(domain_namespace)
                .await?
                .map(|n| n.labels().clone())
                .unwrap_or_default();
        }
        let mut covering: Vec<Arc<Guardrail>> = all.into_iter().filter(|g| covers(g, &labels)).collect();
        covering.sort_by_key(|g| g.name_any());
        Ok(covering)
    }

    /// Publishes an Event about `obj`; failures to publish are logged, never fatal.
    pub async fn event<K>(&self, obj: &K, type_: EventType, reason: &str, note: String)
    where
        K: Resource<DynamicType = ()>,
    {
        let mut note = note;
        note.truncate(1000);
        let event = Event {
            type_,
            reason: reason.into(),
            note: Some(note),
            action: reason.into(),
            secondary: None,
        };
        if let Err(error) = self.recorder.publish(&event, &obj.object_ref(&())).await {
            warn!(%error, reason, "cannot publish event");
        }
    }

    /// Reports corrected fields: after a spec change an `Updated` Event; otherwise AWS drifted, so
    /// a `DriftCorrected` Event and the drift metric.
    pub async fn report_correction<K>(&self, obj: &K, kind: &str, spec_changed: bool, fields: &[&str])
    where
        K: Resource<DynamicType = ()>,
    {
        let (reason, what) = if spec_changed {
            ("Updated", "applied spec change to")
        } else {
            self.metrics
                .drift_corrections
                .get_or_create(&KindLabels { kind: kind.into() })
                .inc();
            ("DriftCorrected", "corrected drift in")
        };
        self.event(obj, EventType::Normal, reason, format!("{what} {}", fields.join(", ")))
            .await;
    }

    /// Forgets the failures of an object after a successful reconcile.
    pub fn succeeded(&self, uid: &str) {
        self.failures.lock().expect("failures lock").remove(uid);
    }

    /// Counts a failure and returns the backoff: 5 s doubling to 5 minutes.
    pub fn failed(&self, uid: &str, kind: &str, error: &ReconcileError) -> Action {
        self.metrics
            .reconcile_errors
            .get_or_create(&ErrorLabels {
                kind: kind.into(),
                reason: error.category(),
            })
            .inc();
        let mut failures = self.failures.lock().expect("failures lock");
        let count = failures.entry(uid.to_string()).or_insert(0);
        *count = count.saturating_add(1);
        let delay = Duration::from_secs(5)
            .saturating_mul(1 << (*count - 1).min(6))
            .min(Duration::from_secs(300));
        Action::requeue(delay)
    }
}

/// Errors of a reconcile.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// An AWS call failed.
    #[error("{0}")]
    Aws(#[from] AwsError),
    /// A Kubernetes call failed.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// The object lacks something the API server always sets.
    #[error("object has no {0}")]
    MissingField(&'static str),
}

impl ReconcileError {
    /// Stable category, used as Event reason and metric label.
    pub fn category(&self) -> String {
        match self {
            ReconcileError::Aws(error) => format!("aws_{}", error.category()),
            ReconcileError::Kube(_) => "kube".into(),
            ReconcileError::MissingField(_) => "missing_field".into(),
        }
    }
}

impl ControllerConfig {
    /// What each controller instance watches: one namespace each, or (`None`) the whole cluster.
    pub fn scopes(&self) -> Vec<Option<String>> {
        if self.namespaces.is_empty() {
            vec![None]
        } else {
            self.namespaces.iter().cloned().map(Some).collect()
        }
    }
}

/// The steps of one reconcile pass of one object, which [`drive`] runs in the same order for
/// every kind.
pub(crate) trait Steps {
    /// Brings AWS towards the spec.
    fn apply(&mut self) -> impl Future<Output = Result<Action, ReconcileError>> + Send;
    /// Cleans up AWS for an object being deleted, and releases the finalizer when done.
    fn cleanup(&mut self) -> impl Future<Output = Result<Action, ReconcileError>> + Send;
    /// Puts a failure into the conditions, where users look.
    fn report_error(&mut self, error: &ReconcileError);
    /// Writes the status (only when it changed).
    fn write_status(&mut self) -> impl Future<Output = Result<(), ReconcileError>> + Send;
    /// The Ready condition's status as written, or `None` once the object is gone.
    fn ready(&self) -> Option<String>;
}

/// Runs one reconcile: counts and times it, adds the finalizer, applies or cleans up, writes the
/// status, and on failure reports the error in status before backing off.
pub(crate) async fn drive<K, S>(obj: &K, ctx: &Context, api: &Api<K>, mut steps: S) -> Result<Action, ReconcileError>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
    S: Steps,
{
    let started = std::time::Instant::now();
    let labels = KindLabels {
        kind: K::kind(&()).into(),
    };
    ctx.metrics.reconciles.get_or_create(&labels).inc();
    let result = if obj.meta().deletion_timestamp.is_some() {
        steps.cleanup().await
    } else {
        if !has_finalizer(obj) {
            add_finalizer(api, obj).await?;
        }
        steps.apply().await
    };
    let result = match result {
        Ok(action) => {
            steps.write_status().await?;
            ctx.metrics
                .record_ready(&labels.kind, &obj.uid().unwrap_or_default(), steps.ready().as_deref());
            ctx.succeeded(&obj.uid().unwrap_or_default());
            Ok(action)
        }
        Err(error) => {
            steps.report_error(&error);
            if let Err(write_error) = steps.write_status().await {
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

/// The StudioDomain (namespace, name) a member refers to.
pub type DomainOf<K> = fn(&K) -> (String, String);

/// Runs one controller for one scope (a namespace, or `None` for all) until `shutdown` resolves.
///
/// Only changes that `trigger` hashes differently cause a reconcile, so status writes never
/// trigger one; the resync comes from each reconcile's requeue. Failures back off per object.
pub async fn run_controller<K, ReconcileFn, Fut>(
    ctx: Arc<Context>,
    scope: Option<String>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
    trigger: fn(&K) -> Option<u64>,
    domain_of: Option<DomainOf<K>>,
    reconcile: ReconcileFn,
) where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + stores::Cached
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
    ReconcileFn: FnMut(Arc<K>, Arc<Context>) -> Fut,
    Fut: TryFuture<Ok = Action, Error = ReconcileError> + Send + 'static,
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
        .run(reconcile, error_policy::<K>, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}

/// What members of a domain react to: whether it is Ready, and its domain id.
fn domain_readiness(domain: &StudioDomain) -> Option<u64> {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let status = domain.status.as_ref();
    let mut hasher = DefaultHasher::new();
    status
        .map(|s| crate::status::is_true(&s.conditions, crate::api::condition_type::READY))
        .hash(&mut hasher);
    status.and_then(|s| s.domain_id.as_ref()).hash(&mut hasher);
    Some(hasher.finish())
}

fn error_policy<K: Resource<DynamicType = ()>>(obj: Arc<K>, error: &ReconcileError, ctx: Arc<Context>) -> Action {
    let kind = K::kind(&());
    warn!(%kind, name = %obj.name_any(), namespace = obj.namespace().unwrap_or_default(), %error, category = %error.category(), "reconcile failed");
    ctx.failed(&obj.uid().unwrap_or_default(), &kind, error)
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

/// How many caches the controllers register: the Guardrail controller, and per watched scope
/// the StudioDomain, UserProfile and SharedSpace controllers.
fn controller_caches(config: &ControllerConfig) -> usize {
    1 + 3 * config.scopes().len()
}

/// Writes the status with server-side apply (field manager `studio-operator`).
pub async fn apply_status<K, S>(api: &Api<K>, name: &str, status: &S) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
    S: Serialize,
{
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch))
        .await?;
    Ok(())
}

/// Adds our finalizer (JSON patch that fails if the list changed meanwhile).
pub async fn add_finalizer<K>(api: &Api<K>, obj: &K) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
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
pub async fn remove_finalizer<K>(api: &Api<K>, obj: &K) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
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
