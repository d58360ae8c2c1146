//! Rust control API: what tests and benchmarks use to steer the emulator and
//! to act "behind the operator's back". The HTTP admin API maps onto it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::calllog::{CallLog, CallRecord};
use crate::clock::{Clock, Millis, http_date, secs_to_ms, to_epoch_secs};
use crate::config::{Config, Delays, Quotas};
use crate::error::{ApiError, ApiResult};
use crate::faults::{FaultRule, Faults, RateLimit};
use crate::s3::S3ObjectView;
use crate::state::{self, EbsVolume, EfsFileSystem, Owner, Scope, State, Tag, UpdateMerge, merge_patch};
use crate::sts::RoleTrust;
use crate::validate::Input;

/// State shared by the server and every control handle.
pub(crate) struct Shared {
    pub config: Config,
    pub clock: Clock,
    pub state: Mutex<State>,
    pub faults: Mutex<Faults>,
    pub calls: Mutex<CallLog>,
    requests: AtomicU64,
    /// Seconds added to the emulated time in the `Date` header only.
    date_skew_ms: AtomicI64,
}

impl Shared {
    pub fn new(config: Config) -> Self {
        Self {
            state: Mutex::new(State::new(&config)),
            faults: Mutex::new(Faults::new(config.seed)),
            calls: Mutex::new(CallLog::default()),
            clock: Clock::default(),
            requests: AtomicU64::new(0),
            date_skew_ms: AtomicI64::new(0),
            config,
        }
    }

    /// Locks the state after applying every transition due now.
    pub fn state(&self) -> (MutexGuard<'_, State>, Millis) {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = self.clock.now();
        guard.tick(now);
        (guard, now)
    }

    pub fn faults(&self) -> MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn calls(&self) -> MutexGuard<'_, CallLog> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The `Date` header of every answer: emulated time plus the configured skew.
    pub fn date_header(&self) -> String {
        http_date(self.clock.now() + self.date_skew_ms.load(Ordering::Relaxed))
    }

    /// UUID-shaped request id, unique per emulator.
    pub fn request_id(&self) -> String {
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        format!("e0e0e0e0-0000-4000-8000-{n:012x}")
    }
}

/// An app launched "from the Studio UI" by a user, outside the operator.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LaunchApp {
    pub domain_id: String,
    pub user_profile_name: Option<String>,
    pub space_name: Option<String>,
    pub app_type: String,
    pub app_name: String,
    pub instance_type: Option<String>,
    pub image_arn: Option<String>,
    pub tags: Vec<Tag>,
}

/// Names one resource for behind-the-back edits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ResourceRef {
    Domain {
        domain_id: String,
    },
    UserProfile {
        domain_id: String,
        user_profile_name: String,
    },
    Space {
        domain_id: String,
        space_name: String,
    },
    App {
        domain_id: String,
        #[serde(default)]
        user_profile_name: Option<String>,
        #[serde(default)]
        space_name: Option<String>,
        app_type: String,
        app_name: String,
    },
}

impl ResourceRef {
    fn domain_id(&self) -> &str {
        match self {
            ResourceRef::Domain { domain_id }
            | ResourceRef::UserProfile { domain_id, .. }
            | ResourceRef::Space { domain_id, .. }
            | ResourceRef::App { domain_id, .. } => domain_id,
        }
    }
}

/// A domain as seen by invariant checks: where it lives, its status, tags and EFS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainView {
    pub account: String,
    pub region: String,
    pub domain_id: String,
    pub domain_name: String,
    pub domain_arn: String,
    pub status: String,
    pub tags: Vec<Tag>,
    pub home_efs_file_system_id: Option<String>,
    pub efs_state: Option<String>,
    pub user_profiles: Vec<String>,
    pub spaces: Vec<String>,
    pub apps: usize,
}

/// Cheap, cloneable handle on a running emulator's controls.
#[derive(Clone)]
pub struct Control {
    pub(crate) shared: Arc<Shared>,
}

impl Control {
    /// Forgets all resources, faults, limits, calls and clock offset; delays,
    /// quotas and seed return to the start configuration.
    pub fn reset(&self) {
        let s = &self.shared;
        *s.state.lock().unwrap_or_else(|e| e.into_inner()) = State::new(&s.config);
        *s.faults() = Faults::new(s.config.seed);
        s.calls().clear();
        s.clock.reset();
        s.date_skew_ms.store(0, Ordering::Relaxed);
    }

    /// Emulated time, epoch seconds.
    pub fn now(&self) -> f64 {
        to_epoch_secs(self.shared.clock.now())
    }

    /// Advances emulated time; due transitions happen on the next access.
    pub fn advance(&self, seconds: f64) {
        self.shared.clock.advance(seconds);
    }

    /// Skews the `Date` response header (only it) by `seconds` from the emulated time, negative
    /// for a server clock behind; 0 removes the skew. Lets clients test their clock-skew guards.
    pub fn set_date_skew(&self, seconds: f64) {
        self.shared.date_skew_ms.store(secs_to_ms(seconds), Ordering::Relaxed);
    }

    /// The current `Date` header skew, seconds.
    pub fn date_skew(&self) -> f64 {
        to_epoch_secs(self.shared.date_skew_ms.load(Ordering::Relaxed))
    }

    /// How UpdateDomain, UpdateUserProfile and UpdateSpace merge settings structures from now
    /// on (`Replace` by default and after `reset`).
    pub fn set_update_merge(&self, mode: UpdateMerge) {
        self.shared.state().0.update_merge = mode;
    }

    pub fn update_merge(&self) -> UpdateMerge {
        self.shared.state().0.update_merge
    }

    pub fn delays(&self) -> Delays {
        self.shared.state().0.delays.clone()
    }

    /// New delays apply to transitions started afterwards.
    pub fn set_delays(&self, delays: Delays) {
        self.shared.state().0.delays = delays;
    }

    pub fn quotas(&self) -> Quotas {
        self.shared.state().0.quotas.clone()
    }

    pub fn set_quotas(&self, quotas: Quotas) {
        self.shared.state().0.quotas = quotas;
    }

    /// Extra real-time latency for calls matching `target` (operation, family,
    /// service or `*`); 0 removes it.
    pub fn set_latency(&self, target: &str, ms: u64) {
        self.shared.faults().set_latency(target, ms);
    }

    pub fn add_rate_limit(&self, limit: RateLimit) {
        self.shared.faults().add_rate_limit(limit);
    }

    pub fn clear_rate_limits(&self) {
        self.shared.faults().clear_rate_limits();
    }

    pub fn inject_fault(&self, rule: FaultRule) {
        self.shared.faults().add_rule(rule);
    }

    pub fn faults(&self) -> Vec<FaultRule> {
        self.shared.faults().rules()
    }

    pub fn clear_faults(&self) {
        self.shared.faults().clear_rules();
    }

    /// Restarts the random sequence behind probabilistic faults.
    pub fn set_seed(&self, seed: u64) {
        self.shared.faults().reseed(seed);
    }

    pub fn calls(&self) -> Vec<CallRecord> {
        self.shared.calls().records()
    }

    /// operation -> outcome (`ok` or error code) -> count.
    pub fn call_counts(&self) -> BTreeMap<String, BTreeMap<String, u64>> {
        self.shared.calls().counts()
    }

    /// Number of calls of `operation` (all outcomes when `outcome` is None).
    pub fn count(&self, operation: &str, outcome: Option<&str>) -> u64 {
        self.call_counts()
            .get(operation)
            .map(|m| {
                m.iter()
                    .filter(|(o, _)| outcome.is_none_or(|want| want == o.as_str()))
                    .map(|(_, n)| n)
                    .sum()
            })
            .unwrap_or(0)
    }

    pub fn clear_calls(&self) {
        self.shared.calls().clear();
    }

    /// Launches an app as a Studio user would; same rules as CreateApp. Returns the AppArn.
    pub fn launch_app(&self, scope: &Scope, req: &LaunchApp) -> ApiResult<String> {
        let mut spec = serde_json::Map::new();
        if let Some(t) = &req.instance_type {
            spec.insert("InstanceType".into(), json!(t));
        }
        if let Some(i) = &req.image_arn {
            spec.insert("SageMakerImageArn".into(), json!(i));
        }
        let mut body = json!({
            "DomainId": req.domain_id,
            "AppType": req.app_type,
            "AppName": req.app_name,
            "Tags": req.tags,
        });
        if !spec.is_empty() {
            body["ResourceSpec"] = json!(spec);
        }
        if let Some(p) = &req.user_profile_name {
            body["UserProfileName"] = json!(p);
        }
        if let Some(s) = &req.space_name {
            body["SpaceName"] = json!(s);
        }
        let (mut state, now) = self.shared.state();
        let out = state::app::create(&mut state, scope, now, &body)?;
        Ok(out["AppArn"].as_str().unwrap_or_default().to_string())
    }

    /// Sets an app's LastHealthCheckTimestamp / LastUserActivityTimestamp
    /// (epoch seconds); from then on the given values stay fixed.
    pub fn set_app_activity(
        &self,
        scope: &Scope,
        app: &ResourceRef,
        last_health_check: Option<f64>,
        last_user_activity: Option<f64>,
    ) -> ApiResult<()> {
        let ResourceRef::App {
            user_profile_name,
            space_name,
            app_type,
            app_name,
            ..
        } = app
        else {
            return Err(ApiError::validation("set_app_activity needs an app reference"));
        };
        let (mut state, _) = self.shared.state();
        let domain = state::domain::find(state.partition(scope), app.domain_id())?;
        let body = json!({
            "AppType": app_type, "AppName": app_name,
            "UserProfileName": user_profile_name, "SpaceName": space_name,
        });
        let app = state::app::find(domain, &Input::new(&body))?;
        if let Some(t) = last_health_check {
            app.health_override = Some(secs_to_ms(t));
        }
        if let Some(t) = last_user_activity {
            app.activity_override = Some(secs_to_ms(t));
        }
        Ok(())
    }

    /// Replaces the tags of any resource by ARN, bypassing tag validation.
    pub fn set_tags(&self, scope: &Scope, arn: &str, tags: Vec<Tag>) -> ApiResult<()> {
        let (mut state, _) = self.shared.state();
        let slot = state::tags::tags_of(state.partition(scope), arn)
            .ok_or_else(|| ApiError::not_found(format!("{arn} does not exist")))?;
        *slot = tags;
        Ok(())
    }

    /// Merges a JSON merge patch into a resource's stored settings and bumps
    /// LastModifiedTime. Domains are patched at the top level (e.g.
    /// `{"DefaultUserSettings": {...}}`), profiles in `UserSettings`, spaces at
    /// the top level of `{"SpaceSettings", "SpaceDisplayName"}`.
    pub fn patch(&self, scope: &Scope, resource: &ResourceRef, patch: &Value) -> ApiResult<()> {
        let (mut state, now) = self.shared.state();
        let domain = state::domain::find(state.partition(scope), resource.domain_id())?;
        match resource {
            ResourceRef::Domain { .. } => {
                let mut settings = Value::Object(domain.settings.clone());
                merge_patch(&mut settings, patch);
                domain.settings = settings.as_object().cloned().unwrap_or_default();
                domain.modified = now;
            }
            ResourceRef::UserProfile { user_profile_name, .. } => {
                let p = state::profile::find_in(domain, user_profile_name)?;
                merge_patch(p.settings.get_or_insert_with(|| json!({})), patch);
                p.modified = now;
            }
            ResourceRef::Space { space_name, .. } => {
                let s = state::space::find_in(domain, space_name)?;
                let mut top = json!({"SpaceSettings": s.settings, "SpaceDisplayName": s.kind.display_name});
                merge_patch(&mut top, patch);
                s.settings = top.get("SpaceSettings").filter(|v| !v.is_null()).cloned();
                s.kind.display_name = top.get("SpaceDisplayName").and_then(Value::as_str).map(String::from);
                s.modified = now;
            }
            ResourceRef::App { .. } => {
                return Err(ApiError::validation("apps have no settings to patch"));
            }
        }
        Ok(())
    }

    /// Removes a resource immediately, as if deleted out of band, cascading to its children: a
    /// domain's profiles, spaces and apps (its EFS is retained), a profile's apps and the spaces
    /// it owns, a space's apps. The EBS volumes of removed spaces are recorded as deleted.
    pub fn delete(&self, scope: &Scope, resource: &ResourceRef) -> ApiResult<()> {
        let (mut state, now) = self.shared.state();
        let part = state.partition(scope);
        let domain = state::domain::find(part, resource.domain_id())?;
        let mut removed_spaces: Vec<state::Space> = Vec::new();
        match resource {
            ResourceRef::Domain { domain_id } => {
                let efs = domain.efs_id.clone();
                removed_spaces = std::mem::take(&mut domain.spaces);
                part.domains.retain(|d| &d.id != domain_id);
                if let Some(fs) = efs
                    && let Some(entry) = state.efs.iter_mut().find(|f| f.file_system_id == fs)
                {
                    entry.retention = Some("Retain".into());
                }
            }
            ResourceRef::UserProfile { user_profile_name, .. } => {
                let name = state::profile::find_in(domain, user_profile_name)?.name.clone();
                domain.profiles.retain(|p| p.name != name);
                let (owned, kept) = std::mem::take(&mut domain.spaces)
                    .into_iter()
                    .partition(|s| s.owner().is_some_and(|o| o.eq_ignore_ascii_case(&name)));
                domain.spaces = kept;
                removed_spaces = owned;
                domain.apps.retain(|a| a.owner != Owner::UserProfile(name.clone()));
            }
            ResourceRef::Space { space_name, .. } => {
                let name = state::space::find_in(domain, space_name)?.name.clone();
                let (gone, kept) = std::mem::take(&mut domain.spaces)
                    .into_iter()
                    .partition(|s| s.name == name);
                domain.spaces = kept;
                removed_spaces = gone;
            }
            ResourceRef::App {
                user_profile_name,
                space_name,
                app_type,
                app_name,
                ..
            } => {
                let body = json!({
                    "AppType": app_type, "AppName": app_name,
                    "UserProfileName": user_profile_name, "SpaceName": space_name,
                });
                let arn = state::app::find(domain, &Input::new(&body))?.arn.clone();
                domain.apps.retain(|a| a.arn != arn);
            }
        }
        if let Ok(domain) = state::domain::find(state.partition(scope), resource.domain_id()) {
            for space in &removed_spaces {
                domain.apps.retain(|a| a.owner != Owner::Space(space.name.clone()));
            }
        }
        for volume_id in removed_spaces.iter().filter_map(|s| s.kind.ebs_volume_id.as_deref()) {
            state.ebs_deleted(volume_id, now);
        }
        Ok(())
    }

    /// Makes AssumeRole of `trust.role_arn` require its ExternalId and session tag keys
    /// (replacing earlier conditions for that role); a call without them is AccessDenied.
    pub fn set_role_trust(&self, trust: RoleTrust) -> ApiResult<()> {
        if !crate::validate::is_role_arn(&trust.role_arn) {
            return Err(ApiError::validation(format!("{} is not a role ARN", trust.role_arn)));
        }
        let (mut state, _) = self.shared.state();
        state.role_trusts.insert(trust.role_arn.clone(), trust);
        Ok(())
    }

    /// Every role's trust conditions.
    pub fn role_trusts(&self) -> Vec<RoleTrust> {
        self.shared.state().0.role_trusts.values().cloned().collect()
    }

    /// Forgets every trust condition: any role can be assumed again.
    pub fn clear_role_trusts(&self) {
        self.shared.state().0.role_trusts.clear();
    }

    /// Creates (or returns) the AWS-managed key behind `alias` (e.g.
    /// `alias/aws/sagemaker`), returning its KeyMetadata.
    pub fn create_aws_managed_key(&self, scope: &Scope, alias: &str) -> Value {
        let (mut state, now) = self.shared.state();
        crate::kms::aws_managed_key(&mut state, scope, now, alias).metadata()
    }

    /// Raw dump of all accounts and regions (domains with children, tags and EFS, KMS keys).
    pub fn snapshot(&self) -> Value {
        let (state, now) = self.shared.state();
        state.snapshot(now)
    }

    /// Every domain in every account and region.
    pub fn domains(&self) -> Vec<DomainView> {
        let (state, _) = self.shared.state();
        state
            .partitions
            .iter()
            .flat_map(|(scope, part)| {
                part.domains.iter().map(|d| {
                    let efs = d
                        .efs_id
                        .as_ref()
                        .and_then(|id| state.efs.iter().find(|f| &f.file_system_id == id));
                    DomainView {
                        account: scope.account.clone(),
                        region: scope.region.clone(),
                        domain_id: d.id.clone(),
                        domain_name: d.name.clone(),
                        domain_arn: d.arn.clone(),
                        status: d.life.status.as_str().into(),
                        tags: d.tags.clone(),
                        home_efs_file_system_id: efs.map(|f| f.file_system_id.clone()),
                        efs_state: efs.map(|f| f.state.clone()),
                        user_profiles: d.profiles.iter().map(|p| p.name.clone()).collect(),
                        spaces: d.spaces.iter().map(|s| s.name.clone()).collect(),
                        apps: d.apps.len(),
                    }
                })
            })
            .collect()
    }

    /// The EFS registry, including volumes of deleted domains.
    pub fn efs_file_systems(&self) -> Vec<EfsFileSystem> {
        self.shared.state().0.efs.clone()
    }

    /// The EBS registry: one volume per JupyterLab / Code Editor space ever created, with its
    /// size and, once the space is gone, when it was deleted.
    pub fn ebs_volumes(&self) -> Vec<EbsVolume> {
        self.shared.state().0.ebs.clone()
    }

    /// Creates an S3 bucket in `scope`, as CreateBucket there would (naming rules, one
    /// namespace for all accounts).
    pub fn s3_create_bucket(&self, scope: &Scope, bucket: &str) -> ApiResult<()> {
        let (mut state, now) = self.shared.state();
        state.s3.create_bucket(bucket, scope, now).map_err(|e| e.error)
    }

    /// Stores an object as a plain PutObject of `body` would, at the emulated time (no
    /// metadata, no encryption asked). The bucket must exist.
    pub fn s3_put_object(&self, bucket: &str, key: &str, body: impl Into<Vec<u8>>) -> ApiResult<()> {
        let (mut state, now) = self.shared.state();
        state
            .s3
            .put_object(bucket, key, body.into().into(), now)
            .map_err(|e| e.error)
    }

    /// The objects of `bucket` whose keys start with `prefix`, in key order. A bucket that
    /// does not exist is `NoSuchBucket`, so that a misspelt name does not pass for an empty one.
    pub fn s3_objects(&self, bucket: &str, prefix: &str) -> ApiResult<Vec<S3ObjectView>> {
        self.shared.state().0.s3.objects(bucket, prefix).map_err(|e| e.error)
    }

    /// Makes the deletion of objects of `bucket` under `prefix` fail as a bucket policy denying
    /// `s3:DeleteObject` there would: DeleteObject answers 403 AccessDenied, DeleteObjects an
    /// AccessDenied entry per such key. `reset` lifts it.
    pub fn s3_deny_delete(&self, bucket: &str, prefix: &str) -> ApiResult<()> {
        self.shared
            .state()
            .0
            .s3
            .deny_delete(bucket, prefix)
            .map_err(|e| e.error)
    }
}
