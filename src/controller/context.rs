//! What every reconcile can reach: the clients, the settings, the shared caches and the pacing
//! of requeues (polls, blocked states and failures back off per object).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::runtime::controller::Action;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef};
use kube::{Api, Client, ResourceExt};

use super::listings::{self, Listings};
use super::memory::Memory;
use super::stores::Stores;
use crate::api::{AwsTarget, Guardrail, Violation};
use crate::aws::clients::{AwsClients, AwsSession};
use crate::aws::model::{ObservedProfile, ObservedSpace};
use crate::aws::{AwsError, RoleFor};
use crate::backoff::Backoff;
use crate::compliance::{DomainLabels, covers, covers_member};
use crate::metrics::Metrics;

/// Field manager of every write the operator makes.
pub const FIELD_MANAGER: &str = "studio-operator";

/// Settings shared by every controller.
#[derive(Clone, Debug)]
pub struct ControllerConfig {
    /// Cluster id written into ownership tags, so clusters sharing an account keep apart.
    pub cluster_id: String,
    /// How often an unchanged resource is compared with AWS; blocked states back off up to it.
    pub resync_interval: Duration,
    /// How often a resource in transition (Pending, Deleting, ...) is polled at most.
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
    /// Whether every Enforce Guardrail gets a ValidatingAdmissionPolicy, so what breaks it is
    /// refused at `kubectl apply` (the reconcile-time check stays either way).
    pub admission_policies: bool,
    /// Fault injection for tests: a reconcile of an object this returns true for panics, to
    /// prove that a panic is contained. Never set by the command line.
    pub panic_on: Option<PanicOn>,
}

/// Whether a reconcile of the object panics on purpose.
pub type PanicPredicate = dyn Fn(&ObjectRef<kube::api::DynamicObject>) -> bool + Send + Sync;

/// Which reconciles panic on purpose (fault injection for tests).
#[derive(Clone)]
pub struct PanicOn(pub Arc<PanicPredicate>);

impl std::fmt::Debug for PanicOn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PanicOn(..)")
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
            admission_policies: true,
            panic_on: None,
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

    /// Whether this installation watches `namespace`. A namespace-scoped installation has RBAC in
    /// its namespaces only, so it never reads or follows anything outside them.
    pub fn watches(&self, namespace: &str) -> bool {
        self.namespaces.is_empty() || self.namespaces.iter().any(|n| n == namespace)
    }

    /// How many caches the controllers register: the Guardrail controller, and per watched
    /// scope the StudioDomain, UserProfile, SharedSpace, StudioLifecycleConfig and StudioImage
    /// controllers.
    pub fn controller_caches(&self) -> usize {
        1 + 5 * self.scopes().len()
    }
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

/// How a resource waits for its next pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pace {
    /// Work is under way (a transition in AWS): poll from one second up to the poll interval.
    Progress,
    /// Blocked until something else changes (a person, another resource): back off from the
    /// poll interval up to the resync interval.
    Blocked,
}

/// Runtime findings of the sweeper for one Guardrail, which its controller writes to status.
#[derive(Clone, Debug, Default)]
pub struct GuardrailFindings {
    /// Apps stopped because of the guardrail, not yet added to `status.appsStopped`.
    pub apps_stopped: i64,
    /// Running apps that break it, per StudioDomain (`namespace/name`), as of the last sweep.
    pub apps: BTreeMap<String, Vec<Violation>>,
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
    /// Consecutive failures per object UID, for exponential backoff.
    failures: Mutex<HashMap<String, u32>>,
    /// Short-lived List results per domain, shared by all reconciles.
    pub listings: Listings,
    /// What each UserProfile last saw of its profile in AWS.
    pub(crate) profiles_seen: Memory<ObservedProfile>,
    /// What each SharedSpace last saw of its space in AWS.
    pub(crate) spaces_seen: Memory<ObservedSpace>,
    /// Consecutive waits per object UID in the same phase (reason and message): waits back off
    /// while nothing changes, and start again when the phase changes.
    waits: Mutex<HashMap<String, (String, u32)>>,
    /// The controllers' caches, which `/readyz` waits for.
    pub caches: crate::server::CacheSync,
    /// The same caches' contents, which the Guardrail controller and the sweeper read.
    pub stores: Stores,
}

/// Failures are retried from 5 s, doubling to 5 minutes.
const FAILURE_BACKOFF: Backoff = Backoff::new(Duration::from_secs(5), Duration::from_secs(300));

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
            failures: Mutex::default(),
            listings: Default::default(),
            profiles_seen: Default::default(),
            spaces_seen: Default::default(),
            waits: Mutex::default(),
            caches: crate::server::CacheSync::expecting(config.controller_caches()),
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
            ttl.max(listings::into_round(self.config.resync_interval))
        } else {
            ttl
        }
    }

    /// The requeue of a resource that waits in `phase`: the delay doubles with each consecutive
    /// pass in the same phase (a [`Pace::Progress`] poll from one second up to the poll
    /// interval, a [`Pace::Blocked`] wait from the poll interval up to the resync interval), and
    /// starts again when the phase changes.
    pub fn wait_after(&self, uid: &str, phase: &str, pace: Pace) -> Action {
        let backoff = match pace {
            Pace::Progress => Backoff::new(Duration::from_secs(1), self.config.poll_interval),
            Pace::Blocked => Backoff::new(self.config.poll_interval, self.config.resync_interval),
        };
        let mut waits = self.waits.lock().expect("waits lock");
        let entry = waits.entry(uid.to_string()).or_insert_with(|| (phase.to_string(), 0));
        if entry.0 != phase {
            *entry = (phase.to_string(), 0);
        }
        let delay = backoff.delay(entry.1);
        entry.1 = entry.1.saturating_add(1);
        Action::requeue(delay)
    }

    /// The requeue of a resource that is done for now: the next multiple of `period`, so that
    /// the resources of a domain resync together and share their List calls.
    pub fn resync_after(&self, uid: &str, period: Duration) -> Action {
        self.waits.lock().expect("waits lock").remove(uid);
        Action::requeue(listings::aligned(period))
    }

    /// Forgets what is kept per object (waits, failures, observations) once it is gone, so
    /// that the maps do not grow with every object ever seen.
    pub fn forget(&self, uid: &str) {
        self.waits.lock().expect("waits lock").remove(uid);
        self.failures.lock().expect("failures lock").remove(uid);
        self.profiles_seen.forget(uid);
        self.spaces_seen.forget(uid);
    }

    /// The Guardrails that cover a StudioDomain, or (with `member_namespace`) a profile or space
    /// of it: through the domain, or through the member's own namespace. Reads Namespaces only
    /// when a guardrail selects by namespace.
    pub async fn guardrails_for(
        &self,
        domain_namespace: &str,
        domain_labels: &BTreeMap<String, String>,
        member_namespace: Option<&str>,
    ) -> Result<Vec<Arc<Guardrail>>, kube::Error> {
        let all = self.guardrails.state();
        if all.is_empty() {
            return Ok(all);
        }
        let mut labels = DomainLabels {
            domain: domain_labels.clone(),
            ..Default::default()
        };
        let mut member_labels = BTreeMap::new();
        if all.iter().any(|g| g.spec.selector.namespace_selector.is_some()) {
            let namespaces: Api<Namespace> = Api::all(self.client.clone());
            let labels_of = |namespace: &str| {
                let namespaces = namespaces.clone();
                let namespace = namespace.to_string();
                async move {
                    Ok::<_, kube::Error>(
                        namespaces
                            .get_opt(&namespace)
                            .await?
                            .map(|n| n.labels().clone())
                            .unwrap_or_default(),
                    )
                }
            };
            labels.namespace = labels_of(domain_namespace).await?;
            if let Some(member) = member_namespace.filter(|m| *m != domain_namespace) {
                member_labels = labels_of(member).await?;
            }
        }
        let mut covering: Vec<Arc<Guardrail>> = all
            .into_iter()
            .filter(|g| match member_namespace {
                Some(_) => covers_member(g, &labels, &member_labels),
                None => covers(g, &labels),
            })
            .collect();
        covering.sort_by_key(|g| g.name_any());
        Ok(covering)
    }

    /// The AWS session of a resource that lives at `aws`: the role, if any, is assumed for the
    /// object `namespace/name` (its ExternalId and session tags name them).
    pub async fn session(&self, aws: &AwsTarget, namespace: &str, name: &str) -> Result<Arc<AwsSession>, AwsError> {
        let role = aws.role_arn.as_deref().map(|arn| RoleFor { arn, namespace, name });
        self.aws.session(&aws.region, role).await
    }

    /// Why the Enforce Guardrails covering a resource of `namespace` forbid assuming `role`
    /// (its `spec.aws.roleArn`), if they do: checked before any AWS call, so no AssumeRole
    /// happens for a forbidden role.
    pub async fn forbidden_role(
        &self,
        namespace: &str,
        labels: &BTreeMap<String, String>,
        role: Option<&str>,
    ) -> Result<Option<String>, kube::Error> {
        let Some(role) = role else {
            return Ok(None);
        };
        let covering = self.guardrails_for(namespace, labels, None).await?;
        Ok((!crate::compliance::role_allowed(&covering, Some(role))).then(|| {
            format!("allowedAwsRoles: {role} (aws.roleArn) is not allowed by the Guardrails covering this namespace")
        }))
    }

    /// Forgets the failures of an object after a successful reconcile.
    pub fn succeeded(&self, uid: &str) {
        self.failures.lock().expect("failures lock").remove(uid);
    }

    /// Counts a failure of an object and returns its backoff: 5 s doubling to 5 minutes.
    pub fn failed(&self, uid: &str) -> Action {
        let mut failures = self.failures.lock().expect("failures lock");
        let count = failures.entry(uid.to_string()).or_insert(0);
        let delay = FAILURE_BACKOFF.delay(*count);
        *count = count.saturating_add(1);
        Action::requeue(delay)
    }
}
