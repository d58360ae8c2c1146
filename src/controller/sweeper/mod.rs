//! The sweeper: per domain, one paginated ListApps, then each running app is kept, stopped or
//! reported according to its activity, its uptime and the guardrails (see [`decide`]).
//!
//! It runs on its own timer over every domain the operator created or adopted, independent of
//! the domain's reconcile: a domain that is blocked, failing or out of policy is still swept, so
//! nobody can switch runtime enforcement off by keeping a domain out of sync.
//!
//! DescribeApp and ListTags are called only for apps an idle timeout or a lifetime cap could
//! stop, never for the rest.

pub mod decide;

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::Future;
use kube::ResourceExt;
use tracing::{debug, info, warn};

use self::decide::{AppRules, Decision, HolderSpec, KEEP_ALIVE_TAG, LAST_ACTIVITY_TAG, Observation, Reason};
use super::context::Context;
use super::error::ReconcileError;
use super::report::Happening;
use super::space_data::retention;
use crate::api::{Guardrail, SharedSpace, StudioDomain, SweepMode, UserProfile, Violation};
use crate::aws::clients::AwsSession;
use crate::aws::model::AppSummary;
use crate::aws::{AwsError, RoleFor};
use crate::compliance::{self, AppPolicy, Verdict, rules};
use crate::metrics::SweepLabels;
use crate::ownership::Owner;

/// How far the local clock may be from AWS's before the sweeper stops no app: idle times and
/// uptimes are measured against AWS's timestamps, so a wrong local clock would stop apps early.
pub const MAX_CLOCK_SKEW_SECONDS: f64 = 120.0;

/// Sweeps every domain every `sweep_interval` until `stopped` resolves. Starts once the caches
/// are synced: an app whose UserProfile is not cached yet would lose its keep-alive.
pub async fn run(ctx: Arc<Context>, stopped: impl Future<Output = ()>) {
    tokio::pin!(stopped);
    tokio::select! {
        _ = &mut stopped => return,
        _ = ctx.caches.wait() => {}
    }
    let mut ticker = tokio::time::interval(ctx.config.sweep_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            _ = ticker.tick() => {}
        }
        for domain in ctx.stores.domains.all() {
            // One domain's failure (throttling, a revoked role) must not spare the others.
            if let Err(error) = sweep_domain(&ctx, &domain).await {
                warn!(domain = %domain.name_any(), %error, category = error.category().label(), "sweeping apps failed");
            }
        }
    }
}

/// Sweeps one domain, if it has one in AWS that still carries this resource's ownership tags.
async fn sweep_domain(ctx: &Context, domain: &StudioDomain) -> Result<(), ReconcileError> {
    let Some(status) = domain.status.as_ref() else {
        return Ok(());
    };
    let (Some(domain_id), Some(domain_arn)) = (status.domain_id.as_deref(), status.domain_arn.as_deref()) else {
        return Ok(());
    };
    if domain.metadata.deletion_timestamp.is_some() {
        return Ok(());
    }
    let namespace = domain.namespace().unwrap_or_default();
    let name = domain.name_any();
    let guardrails = ctx.guardrails_for(&namespace, domain.labels(), None).await?;
    let aws = &domain.spec.aws;
    if !compliance::role_allowed(&guardrails, aws.role_arn.as_deref()) {
        debug!(domain = %name, "not swept: an Enforce guardrail forbids its aws.roleArn");
        return Ok(());
    }
    let role = aws.role_arn.as_deref().map(|arn| RoleFor {
        arn,
        namespace: &namespace,
        name: &name,
    });
    let session = ctx.aws.session(&aws.region, role).await?;
    let owner = Owner {
        cluster: ctx.config.cluster_id.clone(),
        namespace: namespace.clone(),
        name: name.clone(),
        uid: domain.uid().unwrap_or_default(),
    };
    // status can be stale or written by someone else: act only on a domain AWS says is ours.
    match session.list_tags(domain_arn).await {
        Ok(tags) if owner.owns(&tags) => {}
        Ok(_) | Err(AwsError::NotFound { .. }) => {
            debug!(domain = %name, domain_id, "not swept: the domain in AWS is not this resource's");
            return Ok(());
        }
        Err(error) => return Err(error.into()),
    }
    let apps = session.list_apps(domain_id).await?;
    if let Some(skew) = clock_skew(ctx.config.clock.now(), session.aws_now()) {
        let note = format!(
            "no app is stopped while the local clock is {skew:.0} s away from AWS's (more than {MAX_CLOCK_SKEW_SECONDS} s): fix the node's time synchronisation"
        );
        warn!(domain = %name, "{note}");
        ctx.publish(domain, Happening::warning("ClockSkew", note)).await;
        return Ok(());
    }
    let swept = sweep(ctx, domain, &session, domain_id, &apps, &guardrails).await;
    // Backups are looked after even when a stop failed, and the other way round; never in a
    // location an Enforce guardrail forbids (a tenant may have pointed s3Uri at another team's).
    let location = domain.spec.space_backup.as_ref().map(|b| b.s3_uri.as_str());
    if location.is_some_and(|uri| !compliance::backup_location_allowed(&guardrails, uri)) {
        debug!(domain = %name, "no backup expired: an Enforce guardrail forbids its spaceBackup.s3Uri");
    } else if let Err(error) = retention::apply(ctx, domain, &session, domain_id).await {
        warn!(domain = %name, %error, category = error.category().label(), "applying the backup retention failed");
    }
    swept
}

/// How far the local clock is from AWS's, when it is too far to trust.
fn clock_skew(local: f64, aws: Option<f64>) -> Option<f64> {
    let skew = (local - aws?).abs();
    (skew > MAX_CLOCK_SKEW_SECONDS).then_some(skew)
}

/// The Kubernetes resource an app belongs to, for its Events and its keep-alive tag.
enum Holder {
    Profile(Arc<UserProfile>),
    Space(Arc<SharedSpace>),
}

impl Holder {
    fn spec(&self) -> HolderSpec<'_> {
        match self {
            Holder::Profile(p) => HolderSpec::Profile(&p.spec),
            Holder::Space(s) => HolderSpec::Space(&s.spec),
        }
    }

    fn keep_alive(&self) -> bool {
        let tags = match self {
            Holder::Profile(p) => &p.spec.tags,
            Holder::Space(s) => &s.spec.tags,
        };
        tags.get(KEEP_ALIVE_TAG).is_some_and(|v| v == "true")
    }
}

/// The UserProfile and SharedSpace resources of a domain, by their names in AWS.
struct Holders {
    profiles: BTreeMap<String, Arc<UserProfile>>,
    spaces: BTreeMap<String, Arc<SharedSpace>>,
}

impl Holders {
    /// From the controllers' caches (complete: a sweep runs only once they are synced).
    fn load(ctx: &Context, domain_id: &str) -> Self {
        Holders {
            profiles: in_domain(ctx.stores.profiles.all(), domain_id, |p| {
                let status = p.status.as_ref()?;
                Some((status.domain_id.as_deref()?, status.user_profile_name.clone()?))
            }),
            spaces: in_domain(ctx.stores.spaces.all(), domain_id, |s| {
                let status = s.status.as_ref()?;
                Some((status.domain_id.as_deref()?, status.space_name.clone()?))
            }),
        }
    }

    fn of(&self, app: &AppSummary) -> Option<Holder> {
        if let Some(profile) = &app.user_profile {
            return self.profiles.get(profile).cloned().map(Holder::Profile);
        }
        app.space
            .as_ref()
            .and_then(|space| self.spaces.get(space).cloned().map(Holder::Space))
    }
}

/// The resources whose status places them in this domain, by their names in AWS.
fn in_domain<K>(
    resources: Vec<Arc<K>>,
    domain_id: &str,
    placed: impl Fn(&K) -> Option<(&str, String)>,
) -> BTreeMap<String, Arc<K>> {
    resources
        .into_iter()
        .filter_map(|r| {
            let name = placed(&r).filter(|(id, _)| *id == domain_id)?.1;
            Some((name, r))
        })
        .collect()
}

/// Sweeps the apps of a domain, whose apps the caller has just listed.
async fn sweep(
    ctx: &Context,
    domain: &StudioDomain,
    session: &AwsSession,
    domain_id: &str,
    apps: &[AppSummary],
    guardrails: &[Arc<Guardrail>],
) -> Result<(), ReconcileError> {
    let idle = domain.spec.idle_shutdown.as_ref();
    let policy = AppPolicy::of(guardrails.iter().map(Arc::as_ref).collect());
    record_app_findings(ctx, domain, apps, &policy);
    let idle_enabled = idle.is_some_and(|i| i.enabled);
    let has_caps = idle.is_some_and(|i| !i.max_lifetime.is_empty());
    if !idle_enabled && !has_caps && policy.guardrails.is_empty() {
        return Ok(());
    }
    let running: Vec<&AppSummary> = apps
        .iter()
        .filter(|a| a.status == "InService" && !decide::is_default_jupyter_server(a))
        .collect();
    if running.is_empty() {
        return Ok(());
    }
    let holders = Holders::load(ctx, domain_id);
    let max_lifetime = idle.map(|i| i.max_lifetime.as_slice()).unwrap_or_default();
    let now = ctx.config.clock.now();
    for app in running {
        let holder = holders.of(app);
        let rules = AppRules {
            mode: idle.map(|i| i.mode).unwrap_or(SweepMode::Enforce),
            idle_timeout_minutes: decide::idle_timeout(idle, &app.app_type, holder.as_ref().map(Holder::spec)),
            max_lifetime,
            policy: &policy,
        };
        let mut seen = Observation {
            keep_alive: holder.as_ref().is_some_and(Holder::keep_alive),
            ..Default::default()
        };
        let blind = decide::decide(app, &seen, &rules, now);
        // Without activity data only guardrail breaches and lifetime caps can decide; look
        // closer only when idleness or the keep-alive tag could change the outcome.
        if rules.idle_timeout_minutes.is_some() || blind != Decision::Keep {
            match observe(session, domain_id, app, &mut seen).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(error) => return Err(error.into()),
            }
        }
        match decide::decide(app, &seen, &rules, now) {
            Decision::Keep => {}
            Decision::Stop(reason) => stop(ctx, domain, session, domain_id, app, holder.as_ref(), &reason).await?,
            Decision::Report(reason) => report(ctx, domain, app, holder.as_ref(), &reason).await,
        }
    }
    Ok(())
}

/// Fills in the activity timestamps and tags; false when the app is already gone.
async fn observe(
    session: &AwsSession,
    domain_id: &str,
    app: &AppSummary,
    seen: &mut Observation,
) -> Result<bool, AwsError> {
    let Some(details) = session.describe_app(domain_id, app).await? else {
        return Ok(false);
    };
    seen.last_health_check = details.last_health_check;
    seen.last_user_activity = details.last_user_activity;
    let tags = match session.list_tags(&details.arn).await {
        Ok(tags) => tags,
        Err(AwsError::NotFound { .. }) => return Ok(false),
        Err(error) => return Err(error),
    };
    seen.reported_activity = tags.get(LAST_ACTIVITY_TAG).and_then(|v| decide::parse_activity(v));
    Ok(true)
}

async fn stop(
    ctx: &Context,
    domain: &StudioDomain,
    session: &AwsSession,
    domain_id: &str,
    app: &AppSummary,
    holder: Option<&Holder>,
    reason: &Reason,
) -> Result<(), ReconcileError> {
    match session.delete_app(domain_id, app).await {
        Ok(()) => {}
        // Gone or already stopping since ListApps: nothing left to do.
        Err(AwsError::NotFound { .. } | AwsError::InUse { .. }) => return Ok(()),
        Err(error) => return Err(error.into()),
    }
    let note = format!("stopped {} because {}", app.label(), reason.describe());
    info!(app = %app.app_name, app_type = %app.app_type, reason = reason.category(), "{note}");
    ctx.metrics
        .apps_stopped
        .get_or_create(&SweepLabels {
            reason: reason.category().into(),
        })
        .inc();
    {
        let mut findings = ctx.guardrail_findings.lock().expect("findings lock");
        for guardrail in reason.guardrails() {
            findings.entry(guardrail).or_default().apps_stopped += 1;
        }
    }
    publish(
        ctx,
        domain,
        holder,
        Happening::normal("AppStopped", note).about(app.path()),
    )
    .await;
    Ok(())
}

async fn report(ctx: &Context, domain: &StudioDomain, app: &AppSummary, holder: Option<&Holder>, reason: &Reason) {
    let note = format!("would stop {} because {}", app.label(), reason.describe());
    ctx.metrics
        .apps_flagged
        .get_or_create(&SweepLabels {
            reason: reason.category().into(),
        })
        .inc();
    publish(
        ctx,
        domain,
        holder,
        Happening::warning("AppWouldBeStopped", note).about(app.path()),
    )
    .await;
}

/// An Event on the app's UserProfile or SharedSpace, or on the domain for apps of members the
/// operator does not manage; one per app, so that two apps stopped together are two Events.
async fn publish(ctx: &Context, domain: &StudioDomain, holder: Option<&Holder>, happening: Happening) {
    match holder {
        Some(Holder::Profile(profile)) => ctx.publish(profile.as_ref(), happening).await,
        Some(Holder::Space(space)) => ctx.publish(space.as_ref(), happening).await,
        None => ctx.publish(domain, happening).await,
    }
}

/// Remembers which running apps break which guardrail, for the Guardrails' status.
fn record_app_findings(ctx: &Context, domain: &StudioDomain, apps: &[AppSummary], policy: &AppPolicy<'_>) {
    let key = format!("{}/{}", domain.namespace().unwrap_or_default(), domain.name_any());
    let mut by_guardrail: BTreeMap<String, Vec<Violation>> = BTreeMap::new();
    for app in apps.iter().filter(|a| a.is_running()) {
        let verdict = Verdict::of(&policy.guardrails, |r| rules::check_app(r, app));
        for breach in verdict.breaches {
            by_guardrail.entry(breach.guardrail).or_default().push(Violation {
                kind: "App".into(),
                name: format!(
                    "{key}/{}/{}",
                    app.user_profile
                        .as_ref()
                        .or(app.space.as_ref())
                        .map_or("-", String::as_str),
                    app.app_name
                ),
                rule: breach.finding.rule.into(),
                value: breach.finding.value,
            });
        }
    }
    let mut findings = ctx.guardrail_findings.lock().expect("findings lock");
    for guardrail in &policy.guardrails {
        let name = guardrail.name_any();
        let entry = findings.entry(name.clone()).or_default();
        match by_guardrail.remove(&name) {
            Some(violations) => entry.apps.insert(key.clone(), violations),
            None => entry.apps.remove(&key),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_far_from_aws_is_distrusted_and_an_unknown_one_is_not() {
        assert_eq!(clock_skew(1000.0, Some(1000.0 + 60.0)), None);
        assert_eq!(clock_skew(1000.0, Some(1000.0 - 121.0)), Some(121.0));
        assert_eq!(clock_skew(1000.0, Some(1000.0 + 3600.0)), Some(3600.0));
        assert_eq!(clock_skew(1000.0, None), None);
    }
}
