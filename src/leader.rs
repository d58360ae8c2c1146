//! Leader election on a `coordination.k8s.io/v1` Lease, with the `kube-lease-manager` crate, so
//! that of several replicas exactly one reconciles.
//!
//! The lease is taken with server-side apply (a conflict when another replica took it first)
//! and renewed `renew_deadline` after each renewal, so the holder renews
//! `lease_duration - renew_deadline` before the lease expires; that margin is also the clock skew
//! between nodes the election tolerates. The lease requests use a client of their own whose
//! connect, read and write timeouts are half that margin, so a renewal that hangs fails before
//! the lease could expire.
//!
//! **Losing the lease ends the process.** When a renewal fails, or another replica holds the
//! lease, the elector reports [`Leadership::Lost`]; `runtime::run` then aborts every controller
//! at once (in-flight reconciles are dropped at their next await, as in a crash, which the
//! controllers are built to resume from), logs why, and returns an error, so the process exits
//! non-zero and Kubernetes restarts it as a fresh candidate. Going back to candidate inside the
//! process would have to prove that every controller task and cache of the old term is gone; a
//! restart proves it. On SIGTERM the leader stops its controllers first and then releases the
//! lease, so a starting replica takes it at once (a running standby checks again when the lease
//! it last saw would expire: kube-lease-manager does not watch the Lease).
//!
//! **Fencing.** The elector's state alone is not enough: a leader frozen longer than the lease
//! (CPU throttling, a paused node) resumes believing it leads until its next renewal fails. So
//! the Lease client records when each of its confirmed lease writes was sent ([`LeaseWrites`]),
//! and the fence the AWS sessions ask before every mutating call holds only while the newest one
//! is younger than [`fence_bound`], a bound inside the lease's validity.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use kube::Client;
use kube_lease_manager::{LeaseCreateMode, LeaseManager, LeaseParams};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::backoff::Backoff;

/// Default name of the Lease.
pub const DEFAULT_LEASE_NAME: &str = "studio-operator";
/// How long a lease stays valid after its last renewal, by default.
pub const DEFAULT_LEASE_DURATION: Duration = Duration::from_secs(15);
/// How long after its last renewal the leader renews the lease, by default.
pub const DEFAULT_RENEW_DEADLINE: Duration = Duration::from_secs(10);

/// Settings of leader election.
#[derive(Clone)]
pub struct LeaderElection {
    /// Client for the Lease requests only (see [`lease_client`]).
    pub client: Client,
    /// The confirmed writes of that client.
    pub writes: LeaseWrites,
    /// Namespace of the Lease (the operator's own).
    pub namespace: String,
    /// Name of the Lease.
    pub lease_name: String,
    /// This process's identity in `spec.holderIdentity`; unique per process.
    pub identity: String,
    /// How long the lease is valid after a renewal (whole seconds).
    pub lease_duration: Duration,
    /// How long after a renewal the leader renews again (whole seconds, less than
    /// `lease_duration`).
    pub renew_deadline: Duration,
}

impl std::fmt::Debug for LeaderElection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderElection")
            .field("namespace", &self.namespace)
            .field("lease_name", &self.lease_name)
            .field("identity", &self.identity)
            .field("lease_duration", &self.lease_duration)
            .field("renew_deadline", &self.renew_deadline)
            .finish_non_exhaustive()
    }
}

/// Checks the durations: whole seconds (the Lease API counts seconds), at least 1 s, and a
/// renew deadline shorter than the lease.
pub fn validate_durations(lease_duration: Duration, renew_deadline: Duration) -> Result<(), String> {
    for (flag, value) in [
        ("--leader-election-lease-duration", lease_duration),
        ("--leader-election-renew-deadline", renew_deadline),
    ] {
        if value.subsec_nanos() != 0 || value.as_secs() == 0 {
            return Err(format!(
                "{flag} must be a whole number of seconds, at least 1s (got {value:?})"
            ));
        }
    }
    if renew_deadline >= lease_duration {
        return Err(format!(
            "--leader-election-renew-deadline ({}s) must be less than --leader-election-lease-duration ({}s)",
            renew_deadline.as_secs(),
            lease_duration.as_secs()
        ));
    }
    Ok(())
}

/// The kube client settings for the Lease requests: `config` with connect, read and write
/// timeouts of half the renewal margin (at least 500 ms), so a renewal either succeeds or fails
/// before the lease expires.
fn lease_client_config(mut config: kube::Config, lease_duration: Duration, renew_deadline: Duration) -> kube::Config {
    let margin = lease_duration.saturating_sub(renew_deadline);
    let timeout = (margin / 2).max(Duration::from_millis(500));
    config.connect_timeout = Some(timeout);
    config.read_timeout = Some(timeout);
    config.write_timeout = Some(timeout);
    config
}

/// The Lease client: `config` with [`lease_client_config`]'s timeouts, and a layer that records
/// its confirmed writes in the returned [`LeaseWrites`].
pub fn lease_client(
    config: kube::Config,
    lease_duration: Duration,
    renew_deadline: Duration,
) -> Result<(Client, LeaseWrites), kube::Error> {
    let config = lease_client_config(config, lease_duration, renew_deadline);
    let writes = LeaseWrites::default();
    let client = kube::client::ClientBuilder::try_from(config)?
        .with_layer(&RecordWrites(writes.clone()))
        .build();
    Ok((client, writes))
}

/// How long after sending its newest confirmed lease write a leader may still make a mutating
/// call: the renewal interval plus half the margin before expiry. The lease requests time out
/// within that half margin ([`lease_client_config`]), so a leader that renews on time is never
/// fenced, and one whose renewals stopped is fenced before any other replica may take the lease
/// (the other half is the clock skew the election tolerates).
pub fn fence_bound(lease_duration: Duration, renew_deadline: Duration) -> Duration {
    renew_deadline + lease_duration.saturating_sub(renew_deadline) / 2
}

/// When the newest lease write that the API server confirmed was sent. A write's time is taken
/// when it is sent, because the lease it writes is valid from the holder's clock at that moment.
#[derive(Clone, Debug, Default)]
pub struct LeaseWrites(Arc<Mutex<Option<Instant>>>);

impl LeaseWrites {
    fn confirm(&self, sent: Instant) {
        let mut newest = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if newest.is_none_or(|newest| newest < sent) {
            *newest = Some(sent);
        }
    }

    /// Whether a confirmed write was sent less than `bound` ago.
    pub fn confirmed_within(&self, bound: Duration) -> bool {
        let newest = *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        newest.is_some_and(|sent| sent.elapsed() < bound)
    }
}

/// The tower layer of the Lease client that feeds [`LeaseWrites`].
struct RecordWrites(LeaseWrites);

impl<S> tower::Layer<S> for RecordWrites {
    type Service = WriteRecorder<S>;

    fn layer(&self, inner: S) -> Self::Service {
        WriteRecorder {
            inner,
            writes: self.0.clone(),
        }
    }
}

/// Records the send time of every successful non-GET request (the Lease client sends nothing
/// else than lease reads and writes).
#[derive(Clone)]
pub struct WriteRecorder<S> {
    inner: S,
    writes: LeaseWrites,
}

type Recorded<R, E> = Pin<Box<dyn Future<Output = Result<R, E>> + Send>>;

impl<S, B> tower::Service<http::Request<kube::client::Body>> for WriteRecorder<S>
where
    S: tower::Service<http::Request<kube::client::Body>, Response = http::Response<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Recorded<S::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<kube::client::Body>) -> Self::Future {
        let write = request.method() != http::Method::GET;
        let sent = Instant::now();
        let writes = self.writes.clone();
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            if write && response.status().is_success() {
                writes.confirm(sent);
            }
            Ok(response)
        })
    }
}

/// A holder identity: `base` (the pod name) and a suffix unique to this process, so a restarted
/// pod never mistakes the lease of its previous life for its own.
pub fn identity(base: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{base}_{:x}{nanos:08x}", std::process::id())
}

/// What this process is in the election.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Leadership {
    /// Waiting for the lease.
    Candidate,
    /// Holding the lease.
    Leader,
    /// Held the lease and lost it (the reason); final.
    Lost(String),
}

/// A running campaign for the lease.
pub struct Elector {
    state: watch::Receiver<Leadership>,
    writes: LeaseWrites,
    fence_bound: Duration,
    release: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    lease: String,
}

impl Elector {
    /// Makes sure the Lease exists (creating it when missing) and campaigns for it in the
    /// background. Fails when the Lease cannot be read or created (e.g. RBAC).
    pub async fn start(config: LeaderElection) -> Result<Elector, kube_lease_manager::LeaseManagerError> {
        let grace = config.lease_duration.saturating_sub(config.renew_deadline);
        let params = LeaseParams::new(
            config.identity.clone(),
            config.lease_duration.as_secs(),
            grace.as_secs(),
        );
        let manager = LeaseManager::new(
            config.client.clone(),
            config.lease_name.clone(),
            config.namespace.clone(),
            params,
            LeaseCreateMode::AutoCreate,
        )
        .await?;
        let lease = format!("{}/{}", config.namespace, config.lease_name);
        info!(%lease, identity = %config.identity, lease_duration_s = config.lease_duration.as_secs(),
            renew_deadline_s = config.renew_deadline.as_secs(), "campaigning for the leader lease");
        let (state_tx, state) = watch::channel(Leadership::Candidate);
        let (release, release_rx) = oneshot::channel();
        let task = tokio::spawn(campaign(manager, lease.clone(), state_tx, release_rx));
        Ok(Elector {
            state,
            writes: config.writes.clone(),
            fence_bound: fence_bound(config.lease_duration, config.renew_deadline),
            release: Some(release),
            task,
            lease,
        })
    }

    /// Whether this process leads right now, by the elector's state and by the age of its newest
    /// confirmed lease write: the fence its AWS sessions ask before every mutating call (see
    /// [`crate::aws::clients::Fence`]).
    pub fn fence(&self) -> crate::aws::clients::Fence {
        let state = self.state.clone();
        let writes = self.writes.clone();
        let bound = self.fence_bound;
        Arc::new(move || *state.borrow() == Leadership::Leader && writes.confirmed_within(bound))
    }

    /// `namespace/name` of the Lease.
    pub fn lease(&self) -> &str {
        &self.lease
    }

    /// Waits until this process leads or lost; returns [`Leadership::Leader`] or
    /// [`Leadership::Lost`].
    pub async fn acquired(&mut self) -> Leadership {
        match self.state.wait_for(|s| *s != Leadership::Candidate).await {
            Ok(state) => state.clone(),
            Err(_) => Leadership::Lost("the election task ended".into()),
        }
    }

    /// Waits until the lease is lost; returns why.
    pub async fn lost(&mut self) -> String {
        match self.state.wait_for(|s| matches!(s, Leadership::Lost(_))).await {
            Ok(state) => match &*state {
                Leadership::Lost(reason) => reason.clone(),
                _ => unreachable!("wait_for returned a state it did not accept"),
            },
            Err(_) => "the election task ended".into(),
        }
    }

    /// Ends the campaign; releases the lease if this process holds it, so another replica need
    /// not wait for it to expire. Call it only after the controllers stopped.
    pub async fn release(mut self) {
        if let Some(release) = self.release.take() {
            let _ = release.send(());
        }
        if tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .is_err()
        {
            warn!(lease = %self.lease, "releasing the leader lease took too long; it will expire instead");
            self.task.abort();
        }
    }
}

impl Drop for Elector {
    fn drop(&mut self) {
        // Dropped without release(): after a loss, or when run() fails. Never renew again.
        if self.release.is_some() {
            self.task.abort();
        }
    }
}

/// Takes the lease when it is free or expired, renews it while held, and reports changes.
async fn campaign(
    manager: LeaseManager,
    lease: String,
    state: watch::Sender<Leadership>,
    mut release: oneshot::Receiver<()>,
) {
    let mut leading = false;
    let backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
    let mut failures = 0;
    loop {
        tokio::select! {
            _ = &mut release => {
                if leading {
                    match manager.release().await {
                        Ok(()) => info!(%lease, "released the leader lease"),
                        Err(error) => warn!(%lease, %error, "cannot release the leader lease; it will expire instead"),
                    }
                }
                return;
            }
            changed = manager.changed() => match changed {
                Ok(true) => {
                    leading = true;
                    failures = 0;
                    info!(%lease, "acquired the leader lease: this replica reconciles");
                    state.send_replace(Leadership::Leader);
                }
                Ok(false) if leading => {
                    state.send_replace(Leadership::Lost("another replica holds the lease".into()));
                    return;
                }
                Ok(false) => {}
                Err(error) if leading => {
                    state.send_replace(Leadership::Lost(format!("cannot renew the lease: {error}")));
                    return;
                }
                Err(error) => {
                    let delay = backoff.delay(failures);
                    failures += 1;
                    warn!(%lease, %error, retry_in_s = delay.as_secs(), "cannot read or take the leader lease");
                    tokio::select! {
                        _ = &mut release => return,
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_whole_seconds_and_the_deadline_is_shorter_than_the_lease() {
        assert!(validate_durations(Duration::from_secs(15), Duration::from_secs(10)).is_ok());
        assert!(validate_durations(Duration::from_secs(2), Duration::from_secs(1)).is_ok());
        let error = validate_durations(Duration::from_secs(10), Duration::from_secs(10)).unwrap_err();
        assert!(error.contains("must be less than"), "{error}");
        let error = validate_durations(Duration::from_millis(1500), Duration::from_secs(1)).unwrap_err();
        assert!(
            error.contains("--leader-election-lease-duration must be a whole number"),
            "{error}"
        );
        assert!(validate_durations(Duration::from_secs(5), Duration::ZERO).is_err());
    }

    #[test]
    fn lease_requests_time_out_within_the_renewal_margin() {
        let config = kube::Config::new("https://127.0.0.1:6443".parse().unwrap());
        let config = lease_client_config(config, Duration::from_secs(15), Duration::from_secs(10));
        assert_eq!(config.read_timeout, Some(Duration::from_millis(2500)));
        assert_eq!(config.connect_timeout, Some(Duration::from_millis(2500)));
        assert_eq!(config.write_timeout, Some(Duration::from_millis(2500)));
        let config = lease_client_config(config, Duration::from_secs(2), Duration::from_secs(1));
        assert_eq!(config.read_timeout, Some(Duration::from_millis(500)));
    }

    #[test]
    fn the_fence_bound_lies_between_the_renewal_and_the_expiry() {
        assert_eq!(
            fence_bound(Duration::from_secs(15), Duration::from_secs(10)),
            Duration::from_millis(12500)
        );
        assert_eq!(
            fence_bound(Duration::from_secs(2), Duration::from_secs(1)),
            Duration::from_millis(1500)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_leader_whose_lease_writes_stopped_is_fenced_before_its_lease_expires() {
        let (state_tx, state) = watch::channel(Leadership::Leader);
        let writes = LeaseWrites::default();
        let (task_release, _) = oneshot::channel();
        let elector = Elector {
            state,
            writes: writes.clone(),
            fence_bound: fence_bound(Duration::from_secs(15), Duration::from_secs(10)),
            release: Some(task_release),
            task: tokio::spawn(async {}),
            lease: "ns/lease".into(),
        };
        let fence = elector.fence();
        assert!(!fence(), "no confirmed write yet: not fenced in");
        writes.confirm(Instant::now());
        assert!(fence());
        // Renewed on time: the elector renews every 10 s and the request takes under 2.5 s.
        tokio::time::advance(Duration::from_secs(12)).await;
        assert!(fence());
        writes.confirm(Instant::now() - Duration::from_secs(1));
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(
            fence(),
            "a renewal sent 1 s before it was confirmed counts from its send time"
        );
        // Frozen: the elector still says Leader, but nothing was confirmed for 12.5 s.
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert!(!fence(), "fenced before the 15 s lease could expire");
        // An older confirmation arriving late does not move the newest one back.
        writes.confirm(Instant::now() - Duration::from_secs(20));
        assert!(!fence());
        writes.confirm(Instant::now());
        assert!(fence());
        state_tx.send_replace(Leadership::Lost("another replica holds the lease".into()));
        assert!(!fence(), "a lost lease fences whatever the writes say");
    }

    #[test]
    fn identities_differ_per_process_start() {
        let id = identity("studio-operator-5d8f7c9b4-x2kqz");
        assert!(id.starts_with("studio-operator-5d8f7c9b4-x2kqz_"), "{id}");
    }
}
