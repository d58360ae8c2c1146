//! What the sweeper does with each running app: pure decisions from what ListApps, DescribeApp
//! and the app's tags say, the domain's idle shutdown settings and the covering guardrails.

use wildmatch::WildMatch;

use crate::api::{Enforcement, IdleShutdown, MaxLifetime, SharedSpaceSpec, SweepMode, UserProfileSpec};
use crate::aws::model::AppSummary;
use crate::compliance::{AppPolicy, Verdict, rules};

/// Tag the activity reporter writes on its app: the last user activity, RFC 3339 UTC.
pub const LAST_ACTIVITY_TAG: &str = "studio-operator.io/last-activity";
/// Tag in a UserProfile's or SharedSpace's `spec.tags` that exempts its apps from idle shutdown
/// and the domain's lifetime caps (never from a guardrail's), when the guardrails allow it. The
/// same tag on an app in AWS is ignored: anyone with a notebook could set it.
pub const KEEP_ALIVE_TAG: &str = "studio-operator.io/keep-alive";
/// How far in the future a reported activity may lie (clock differences between the app and
/// AWS) before it is taken for a forgery and ignored.
pub const MAX_FUTURE_ACTIVITY_SECONDS: f64 = 300.0;

/// What is known about one InService app.
#[derive(Clone, Debug, Default)]
pub struct Observation {
    /// Last activity the reporter wrote, epoch seconds.
    pub reported_activity: Option<f64>,
    /// `DescribeApp.LastHealthCheckTimestamp`, epoch seconds.
    pub last_health_check: Option<f64>,
    /// `DescribeApp.LastUserActivityTimestamp`, epoch seconds.
    pub last_user_activity: Option<f64>,
    /// The keep-alive tag is in the spec of the app's profile or space.
    pub keep_alive: bool,
}

/// The rules for one app.
#[derive(Clone, Debug)]
pub struct AppRules<'a> {
    /// Stop or only report idle and over-age apps.
    pub mode: SweepMode,
    /// The idle timeout that applies to the app; `None` when idle shutdown is off.
    pub idle_timeout_minutes: Option<i32>,
    /// The domain's `idleShutdown.maxLifetime` entries.
    pub max_lifetime: &'a [MaxLifetime],
    /// The covering guardrails.
    pub policy: &'a AppPolicy<'a>,
}

/// Why an app is (or would be) stopped.
#[derive(Clone, Debug, PartialEq)]
pub enum Reason {
    /// It broke an instance-type or image guardrail: what it broke, and the guardrails' names.
    Guardrail { message: String, guardrails: Vec<String> },
    /// It ran longer than a lifetime cap (of the domain, or of the named guardrail).
    MaxLifetime {
        uptime_hours: f64,
        cap_hours: i32,
        guardrail: Option<String>,
    },
    /// No activity for longer than its timeout.
    Idle { idle_minutes: f64, timeout_minutes: i32 },
}

impl Reason {
    /// Stable label for metrics and Event reasons.
    pub fn category(&self) -> &'static str {
        match self {
            Reason::Guardrail { .. } => "guardrail",
            Reason::MaxLifetime { .. } => "max_lifetime",
            Reason::Idle { .. } => "idle",
        }
    }

    /// The guardrails this reason comes from, which count the stop in their status.
    pub fn guardrails(&self) -> Vec<String> {
        match self {
            Reason::Guardrail { guardrails, .. } => guardrails.clone(),
            Reason::MaxLifetime {
                guardrail: Some(name), ..
            } => vec![name.clone()],
            _ => Vec::new(),
        }
    }

    /// Human-readable explanation.
    pub fn describe(&self) -> String {
        match self {
            Reason::Guardrail { message, .. } => format!("it breaks a guardrail: {message}"),
            Reason::MaxLifetime {
                uptime_hours,
                cap_hours,
                guardrail,
            } => {
                let source = match guardrail {
                    Some(name) => format!("Guardrail {name}"),
                    None => "the domain's idleShutdown.maxLifetime".into(),
                };
                format!("it has run for {uptime_hours:.1}h, more than the {cap_hours}h cap of {source}")
            }
            Reason::Idle {
                idle_minutes,
                timeout_minutes,
            } => format!("it has been idle for {idle_minutes:.0} min, more than its {timeout_minutes} min timeout"),
        }
    }
}

/// The decision for one app.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// Leave it running.
    Keep,
    /// Stop it (DeleteApp).
    Stop(Reason),
    /// Report that it would be stopped (DryRun or Audit).
    Report(Reason),
}

/// Whether an app is the Studio UI itself, which is never stopped.
pub fn is_default_jupyter_server(app: &AppSummary) -> bool {
    app.app_type == "JupyterServer" && app.app_name == "default"
}

/// Decides for one app. Guardrail breaches win, then lifetime caps, then idleness. Keep-alive
/// exempts from idleness and the domain's own caps, never from a guardrail's breach or cap.
pub fn decide(app: &AppSummary, seen: &Observation, rules: &AppRules<'_>, now: f64) -> Decision {
    if app.status != "InService" || is_default_jupyter_server(app) {
        return Decision::Keep;
    }
    let verdict = Verdict::of(&rules.policy.guardrails, |r| rules::check_app(r, app));
    if !verdict.breaches.is_empty() {
        let mut guardrails: Vec<String> = verdict.breaches.iter().map(|b| b.guardrail.clone()).collect();
        guardrails.dedup();
        let reason = Reason::Guardrail {
            message: verdict.message(),
            guardrails,
        };
        return if verdict.blocks() {
            Decision::Stop(reason)
        } else {
            Decision::Report(reason)
        };
    }
    let kept_alive = seen.keep_alive && rules.policy.allow_keep_alive;
    let idle_action = |reason| match rules.mode {
        SweepMode::Enforce => Decision::Stop(reason),
        SweepMode::DryRun => Decision::Report(reason),
    };
    if let Some(created) = app.created {
        let uptime_hours = (now - created) / 3600.0;
        if let Some((cap_hours, guardrail, enforced)) = lifetime_cap(app, rules, kept_alive)
            && uptime_hours > f64::from(cap_hours)
        {
            let reason = Reason::MaxLifetime {
                uptime_hours,
                cap_hours,
                guardrail,
            };
            return match enforced {
                Some(true) => Decision::Stop(reason),
                Some(false) => Decision::Report(reason),
                None => idle_action(reason),
            };
        }
    }
    if kept_alive {
        return Decision::Keep;
    }
    if let (Some(timeout_minutes), Some(since)) = (rules.idle_timeout_minutes, idle_since(seen, app.created, now)) {
        let idle_minutes = (now - since) / 60.0;
        if idle_minutes > f64::from(timeout_minutes) {
            return idle_action(Reason::Idle {
                idle_minutes,
                timeout_minutes,
            });
        }
    }
    Decision::Keep
}

/// The resource an app belongs to, as far as its idle timeout goes.
#[derive(Clone, Copy, Debug)]
pub enum HolderSpec<'a> {
    /// A UserProfile's spec.
    Profile(&'a UserProfileSpec),
    /// A SharedSpace's spec.
    Space(&'a SharedSpaceSpec),
}

/// The idle timeout for an app (the one place that decides it): its profile's or space's own
/// timeout for the app type, else the domain's `idleShutdown.idleTimeoutMinutes`; none when the
/// domain has idle shutdown off. Profiles set theirs per app type (JupyterLab, Code Editor),
/// spaces one for their app.
pub fn idle_timeout(domain: Option<&IdleShutdown>, app_type: &str, holder: Option<HolderSpec<'_>>) -> Option<i32> {
    let idle = domain.filter(|i| i.enabled)?;
    let own = match holder {
        Some(HolderSpec::Profile(spec)) => spec.user_settings.as_ref().and_then(|s| {
            let s = s.effective();
            let management = match app_type {
                "JupyterLab" => s.jupyter_lab_app_settings.and_then(|j| j.app_lifecycle_management),
                "CodeEditor" => s.code_editor_app_settings.and_then(|c| c.app_lifecycle_management),
                _ => None,
            };
            management.and_then(|m| m.idle_settings?.idle_timeout_in_minutes)
        }),
        Some(HolderSpec::Space(spec)) => spec
            .settings
            .as_ref()
            .and_then(|s| s.effective(spec.app_type).idle_timeout())
            .map(|(_, minutes)| minutes),
        None => None,
    };
    Some(own.unwrap_or(idle.idle_timeout_minutes))
}

/// Since when the app is idle, from the latest of two signals: the reporter's tag, and the API's
/// activity timestamp when it is strictly older than the last health check (health checks
/// refresh it, so equal values say nothing). Unknown (not idle) without either.
///
/// The tag can be written by anyone who can tag the app, so it is bounded: a time far in the
/// future is ignored (it would keep the app alive for ever), and no signal makes an app idle for
/// longer than it has existed (a forged old time would stop a fresh app at once).
pub fn idle_since(seen: &Observation, created: Option<f64>, now: f64) -> Option<f64> {
    let reported = seen
        .reported_activity
        .filter(|t| *t <= now + MAX_FUTURE_ACTIVITY_SECONDS);
    let api = match (seen.last_user_activity, seen.last_health_check) {
        (Some(activity), Some(health)) if activity < health => Some(activity),
        _ => None,
    };
    let since = match (reported, api) {
        (Some(r), Some(a)) => r.max(a),
        (one, other) => one.or(other)?,
    };
    Some(since.max(created.unwrap_or(f64::MIN)).min(now))
}

/// The tightest lifetime cap that matches the app: its hours, the guardrail it comes from (none
/// for the domain's own caps), and who decides (`Some(enforce)` for a guardrail, `None` for the
/// domain's sweep mode). A kept-alive app has only the guardrails' caps.
fn lifetime_cap(
    app: &AppSummary,
    rules: &AppRules<'_>,
    kept_alive: bool,
) -> Option<(i32, Option<String>, Option<bool>)> {
    let domain_caps = rules
        .max_lifetime
        .iter()
        .filter(|cap| !kept_alive && lifetime_matches(cap, app))
        .map(|cap| (cap.hours, None, None));
    let guardrail_caps = rules.policy.guardrails.iter().filter_map(|g| {
        g.spec.rules.max_app_lifetime_hours.map(|hours| {
            (
                hours,
                Some(kube::ResourceExt::name_any(*g)),
                Some(g.spec.enforcement == Enforcement::Enforce),
            )
        })
    });
    domain_caps.chain(guardrail_caps).min_by_key(|(hours, _, _)| *hours)
}

fn lifetime_matches(cap: &MaxLifetime, app: &AppSummary) -> bool {
    let type_matches = cap.app_type.as_deref().is_none_or(|t| t == app.app_type);
    let instance_matches = cap.instance_type_pattern.as_deref().is_none_or(|pattern| {
        app.instance_type
            .as_deref()
            .is_some_and(|t| WildMatch::new(pattern).matches(t))
    });
    type_matches && instance_matches
}

/// Parses the reporter's tag value (RFC 3339) into epoch seconds.
pub fn parse_activity(value: &str) -> Option<f64> {
    chrono::DateTime::parse_from_rfc3339(value)
        .ok()
        .map(|t| t.timestamp() as f64)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::api::Guardrail;

    const NOW: f64 = 1_800_000_000.0;
    const HOUR: f64 = 3600.0;

    fn app(app_type: &str, instance_type: &str, age_hours: f64) -> AppSummary {
        AppSummary {
            app_type: app_type.into(),
            app_name: "default".into(),
            user_profile: Some("alice".into()),
            space: None,
            status: "InService".into(),
            instance_type: Some(instance_type.into()),
            image_arn: None,
            created: Some(NOW - age_hours * HOUR),
        }
    }

    fn guardrail(spec: serde_json::Value) -> Guardrail {
        serde_json::from_value(json!({
            "apiVersion": "studio-operator.io/v1alpha1", "kind": "Guardrail",
            "metadata": {"name": "g"}, "spec": spec,
        }))
        .unwrap()
    }

    fn reported(minutes_ago: f64) -> Observation {
        Observation {
            reported_activity: Some(NOW - minutes_ago * 60.0),
            ..Default::default()
        }
    }

    fn rules<'a>(policy: &'a AppPolicy<'a>, caps: &'a [MaxLifetime]) -> AppRules<'a> {
        AppRules {
            mode: SweepMode::Enforce,
            idle_timeout_minutes: Some(60),
            max_lifetime: caps,
            policy,
        }
    }

    #[test]
    fn idle_by_report_past_the_timeout_is_stopped_and_active_kept() {
        let policy = AppPolicy::of(Vec::new());
        let r = rules(&policy, &[]);
        let lab = app("JupyterLab", "ml.t3.medium", 3.0);
        assert!(matches!(
            decide(&lab, &reported(90.0), &r, NOW),
            Decision::Stop(Reason::Idle {
                timeout_minutes: 60,
                ..
            })
        ));
        assert_eq!(decide(&lab, &reported(30.0), &r, NOW), Decision::Keep);
    }

    #[test]
    fn api_timestamps_count_only_when_activity_is_older_than_the_health_check() {
        let equal = Observation {
            last_health_check: Some(NOW - 7200.0),
            last_user_activity: Some(NOW - 7200.0),
            ..Default::default()
        };
        assert_eq!(idle_since(&equal, None, NOW), None);
        let older = Observation {
            last_health_check: Some(NOW - 60.0),
            last_user_activity: Some(NOW - 7200.0),
            ..Default::default()
        };
        assert_eq!(idle_since(&older, None, NOW), Some(NOW - 7200.0));
        assert_eq!(idle_since(&Observation::default(), None, NOW), None);
        let policy = AppPolicy::of(Vec::new());
        let lab = app("JupyterLab", "ml.t3.medium", 3.0);
        assert_eq!(decide(&lab, &equal, &rules(&policy, &[]), NOW), Decision::Keep);
        assert!(matches!(
            decide(&lab, &older, &rules(&policy, &[]), NOW),
            Decision::Stop(_)
        ));
    }

    #[test]
    fn forged_activity_neither_keeps_an_app_alive_nor_stops_a_fresh_one() {
        // Far in the future: ignored, the API's older activity decides.
        let forever = Observation {
            reported_activity: Some(NOW + 100.0 * 3600.0),
            last_health_check: Some(NOW - 60.0),
            last_user_activity: Some(NOW - 7200.0),
            ..Default::default()
        };
        assert_eq!(idle_since(&forever, None, NOW), Some(NOW - 7200.0));
        // A little ahead (clock differences): active now.
        let ahead = Observation {
            reported_activity: Some(NOW + 60.0),
            ..Default::default()
        };
        assert_eq!(idle_since(&ahead, None, NOW), Some(NOW));
        // An old time on an app created ten minutes ago: idle for ten minutes at most.
        let old = Observation {
            reported_activity: Some(NOW - 86_400.0),
            ..Default::default()
        };
        assert_eq!(idle_since(&old, Some(NOW - 600.0), NOW), Some(NOW - 600.0));
        // The later of the two signals wins: an old tag cannot hide newer API activity.
        let both = Observation {
            reported_activity: Some(NOW - 86_400.0),
            last_health_check: Some(NOW - 10.0),
            last_user_activity: Some(NOW - 300.0),
            ..Default::default()
        };
        assert_eq!(idle_since(&both, None, NOW), Some(NOW - 300.0));
    }

    #[test]
    fn keep_alive_never_exempts_from_a_guardrail_cap() {
        let mut seen = reported(600.0);
        seen.keep_alive = true;
        let g = guardrail(json!({"rules": {"allowKeepAlive": true, "maxAppLifetimeHours": 8}}));
        let policy = AppPolicy::of(vec![&g]);
        let domain_cap = [MaxLifetime {
            app_type: None,
            instance_type_pattern: None,
            hours: 2,
        }];
        let young = app("JupyterLab", "ml.t3.medium", 5.0);
        assert_eq!(decide(&young, &seen, &rules(&policy, &domain_cap), NOW), Decision::Keep);
        let old = app("JupyterLab", "ml.t3.medium", 9.0);
        assert!(matches!(
            decide(&old, &seen, &rules(&policy, &domain_cap), NOW),
            Decision::Stop(Reason::MaxLifetime { cap_hours: 8, .. })
        ));
    }

    #[test]
    fn the_default_jupyter_server_is_never_stopped() {
        let g = guardrail(json!({"rules": {"maxAppLifetimeHours": 1}}));
        let policy = AppPolicy::of(vec![&g]);
        let ui = app("JupyterServer", "system", 100.0);
        assert_eq!(
            decide(&ui, &reported(1000.0), &rules(&policy, &[]), NOW),
            Decision::Keep
        );
    }

    #[test]
    fn keep_alive_is_honoured_only_when_every_guardrail_allows_it() {
        let mut seen = reported(600.0);
        seen.keep_alive = true;
        let lab = app("JupyterLab", "ml.t3.medium", 20.0);
        let none = AppPolicy::of(Vec::new());
        assert_eq!(decide(&lab, &seen, &rules(&none, &[]), NOW), Decision::Keep);
        let strict = guardrail(json!({}));
        let policy = AppPolicy::of(vec![&strict]);
        assert!(matches!(
            decide(&lab, &seen, &rules(&policy, &[]), NOW),
            Decision::Stop(_)
        ));
        let lenient = guardrail(json!({"rules": {"allowKeepAlive": true}}));
        let policy = AppPolicy::of(vec![&lenient]);
        assert_eq!(decide(&lab, &seen, &rules(&policy, &[]), NOW), Decision::Keep);
    }

    #[test]
    fn lifetime_caps_match_app_type_or_instance_pattern_and_the_tightest_wins() {
        let caps = [
            MaxLifetime {
                app_type: None,
                instance_type_pattern: Some("ml.g*".into()),
                hours: 12,
            },
            MaxLifetime {
                app_type: Some("KernelGateway".into()),
                instance_type_pattern: None,
                hours: 48,
            },
        ];
        let policy = AppPolicy::of(Vec::new());
        let r = rules(&policy, &caps);
        let active = reported(1.0);
        match decide(&app("JupyterLab", "ml.g5.xlarge", 13.0), &active, &r, NOW) {
            Decision::Stop(Reason::MaxLifetime { cap_hours, .. }) => assert_eq!(cap_hours, 12),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            decide(&app("JupyterLab", "ml.t3.medium", 13.0), &active, &r, NOW),
            Decision::Keep
        );
        assert!(matches!(
            decide(&app("KernelGateway", "ml.m5.large", 49.0), &active, &r, NOW),
            Decision::Stop(Reason::MaxLifetime { cap_hours: 48, .. })
        ));
        let g = guardrail(json!({"enforcement": "Audit", "rules": {"maxAppLifetimeHours": 6}}));
        let audit = AppPolicy::of(vec![&g]);
        assert!(matches!(
            decide(
                &app("JupyterLab", "ml.g5.xlarge", 7.0),
                &active,
                &rules(&audit, &caps),
                NOW
            ),
            Decision::Report(Reason::MaxLifetime { cap_hours: 6, .. })
        ));
    }

    #[test]
    fn dry_run_reports_instead_of_stopping() {
        let policy = AppPolicy::of(Vec::new());
        let mut r = rules(&policy, &[]);
        r.mode = SweepMode::DryRun;
        assert!(matches!(
            decide(&app("JupyterLab", "ml.t3.medium", 3.0), &reported(120.0), &r, NOW),
            Decision::Report(Reason::Idle { .. })
        ));
    }

    #[test]
    fn guardrail_breaches_stop_under_enforce_report_under_audit_and_ignore_keep_alive() {
        let enforce = guardrail(json!({"rules": {"allowedInstanceTypes": ["ml.t3.*"], "allowKeepAlive": true}}));
        let policy = AppPolicy::of(vec![&enforce]);
        let mut seen = reported(0.0);
        seen.keep_alive = true;
        let gpu = app("JupyterLab", "ml.p4d.24xlarge", 0.1);
        match decide(&gpu, &seen, &rules(&policy, &[]), NOW) {
            Decision::Stop(Reason::Guardrail { message, guardrails }) => {
                assert_eq!(message, "allowedInstanceTypes: ml.p4d.24xlarge (Guardrail g, Enforce)");
                assert_eq!(guardrails, ["g"]);
            }
            other => panic!("{other:?}"),
        }
        let audit = guardrail(json!({"enforcement": "Audit", "rules": {"allowedInstanceTypes": ["ml.t3.*"]}}));
        let policy = AppPolicy::of(vec![&audit]);
        assert!(matches!(
            decide(&gpu, &seen, &rules(&policy, &[]), NOW),
            Decision::Report(Reason::Guardrail { .. })
        ));
    }

    #[test]
    fn pending_apps_and_apps_without_timeout_are_kept() {
        let policy = AppPolicy::of(Vec::new());
        let mut r = rules(&policy, &[]);
        let mut pending = app("JupyterLab", "ml.t3.medium", 3.0);
        pending.status = "Pending".into();
        assert_eq!(decide(&pending, &reported(600.0), &r, NOW), Decision::Keep);
        r.idle_timeout_minutes = None;
        assert_eq!(
            decide(&app("JupyterLab", "ml.t3.medium", 3.0), &reported(600.0), &r, NOW),
            Decision::Keep
        );
    }

    #[test]
    fn the_holders_own_timeout_wins_over_the_domains_and_only_with_idle_shutdown_on() {
        let domain: IdleShutdown = serde_json::from_value(serde_json::json!({"idleTimeoutMinutes": 120})).unwrap();
        let profile: UserProfileSpec = serde_json::from_value(serde_json::json!({
            "domainRef": {"name": "d"},
            "userSettings": {"jupyterLab": {"idle": {"idleTimeoutMinutes": 240}}},
        }))
        .unwrap();
        let space: SharedSpaceSpec = serde_json::from_value(serde_json::json!({
            "domainRef": {"name": "d"},
            "appType": "JupyterLab",
            "sharing": {"type": "Shared", "ownerProfile": "alice"},
            "settings": {"idleTimeoutMinutes": 90},
        }))
        .unwrap();
        let as_profile = Some(HolderSpec::Profile(&profile));
        assert_eq!(idle_timeout(Some(&domain), "JupyterLab", as_profile), Some(240));
        assert_eq!(
            idle_timeout(Some(&domain), "CodeEditor", as_profile),
            Some(120),
            "no own Code Editor timeout: the domain's"
        );
        assert_eq!(
            idle_timeout(Some(&domain), "JupyterLab", Some(HolderSpec::Space(&space))),
            Some(90)
        );
        assert_eq!(
            idle_timeout(Some(&domain), "JupyterLab", None),
            Some(120),
            "unmanaged apps"
        );
        let off = IdleShutdown {
            enabled: false,
            ..domain.clone()
        };
        assert_eq!(idle_timeout(Some(&off), "JupyterLab", as_profile), None);
        assert_eq!(idle_timeout(None, "JupyterLab", as_profile), None);
    }

    #[test]
    fn activity_tags_parse_as_rfc3339() {
        assert_eq!(parse_activity("2027-01-15T08:00:00Z"), Some(1_800_000_000.0));
        assert_eq!(parse_activity("yesterday"), None);
    }
}
