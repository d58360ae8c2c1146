//! Apps: Create/Describe/Delete/ListApps, plus the emulated health checks that
//! move `LastHealthCheckTimestamp`/`LastUserActivityTimestamp` with the clock.

use serde_json::{Map, Value, json};

use crate::clock::{Millis, secs_to_ms};
use crate::error::{ApiError, ApiResult};
use crate::pagination::{page_request, paginate};
use crate::state::domain::{self, Domain};
use crate::state::settings::APP_TYPES;
use crate::state::tags::{Tag, parse_tags, propagate};
use crate::state::{Lifecycle, Scope, State, Status, Step, put_opt, sort_listing, ts};
use crate::validate::{Input, check_name, missing};

/// Who an app belongs to: a user profile or a space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    UserProfile(String),
    Space(String),
}

impl Owner {
    fn name(&self) -> &str {
        match self {
            Owner::UserProfile(n) | Owner::Space(n) => n,
        }
    }

    pub fn same(&self, other: &Owner) -> bool {
        match (self, other) {
            (Owner::UserProfile(a), Owner::UserProfile(b)) | (Owner::Space(a), Owner::Space(b)) => {
                a.eq_ignore_ascii_case(b)
            }
            _ => false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct App {
    pub owner: Owner,
    pub app_type: String,
    pub name: String,
    pub arn: String,
    pub life: Lifecycle,
    pub created: Millis,
    /// When the app became InService (health checks count from here).
    pub ready_at: Option<Millis>,
    /// When the app reached Deleted (health checks stop here).
    pub deleted_at: Option<Millis>,
    pub resource_spec: Value,
    pub recovery_mode: Option<bool>,
    pub tags: Vec<Tag>,
    pub health_interval: Millis,
    /// Explicit values set through the control API; otherwise computed.
    pub health_override: Option<Millis>,
    pub activity_override: Option<Millis>,
}

impl App {
    pub fn matches(&self, owner: &Owner, app_type: &str, name: &str) -> bool {
        self.owner.same(owner) && self.app_type == app_type && self.name == name
    }

    /// Pending, InService and Deleting apps block deleting their owner.
    pub fn blocks_owner_deletion(&self) -> bool {
        matches!(self.life.status, Status::Pending | Status::InService | Status::Deleting)
    }

    fn running(&self) -> bool {
        matches!(self.life.status, Status::Pending | Status::InService)
    }

    /// Applies due transitions; false when the record must disappear.
    pub fn tick(&mut self, now: Millis, deleted_retention: f64) -> bool {
        match self.life.step(now, Some(deleted_retention)) {
            Some(Step::Gone) => false,
            Some(Step::Became(Status::InService, at)) => {
                self.ready_at = Some(at);
                true
            }
            Some(Step::Became(Status::Deleted, at)) => {
                self.deleted_at = Some(at);
                true
            }
            _ => true,
        }
    }

    /// Last emulated health check: every `health_interval` since InService.
    pub fn last_health_check(&self, now: Millis) -> Option<Millis> {
        if let Some(t) = self.health_override {
            return Some(t);
        }
        let ready = self.ready_at?;
        let upto = self.deleted_at.unwrap_or(now).max(ready);
        let interval = self.health_interval.max(1);
        Some(ready + (upto - ready) / interval * interval)
    }

    /// Health checks count as activity, as the model documents.
    pub fn last_user_activity(&self, now: Millis) -> Option<Millis> {
        self.activity_override.or_else(|| self.last_health_check(now))
    }

    fn owner_members(&self, out: &mut Map<String, Value>) {
        match &self.owner {
            Owner::UserProfile(p) => out.insert("UserProfileName".into(), json!(p)),
            Owner::Space(s) => out.insert("SpaceName".into(), json!(s)),
        };
    }

    pub fn describe(&self, domain_id: &str, now: Millis) -> Value {
        let mut out = Map::new();
        out.insert("AppArn".into(), json!(self.arn));
        out.insert("AppType".into(), json!(self.app_type));
        out.insert("AppName".into(), json!(self.name));
        out.insert("DomainId".into(), json!(domain_id));
        self.owner_members(&mut out);
        out.insert("Status".into(), json!(self.life.status.as_str()));
        out.insert("CreationTime".into(), ts(self.created));
        out.insert("ResourceSpec".into(), self.resource_spec.clone());
        put_opt(&mut out, "RecoveryMode", self.recovery_mode.map(Value::from));
        put_opt(
            &mut out,
            "LastHealthCheckTimestamp",
            self.last_health_check(now).map(ts),
        );
        put_opt(
            &mut out,
            "LastUserActivityTimestamp",
            self.last_user_activity(now).map(ts),
        );
        Value::Object(out)
    }

    fn details(&self, domain_id: &str) -> Value {
        let mut out = Map::new();
        out.insert("DomainId".into(), json!(domain_id));
        self.owner_members(&mut out);
        out.insert("AppType".into(), json!(self.app_type));
        out.insert("AppName".into(), json!(self.name));
        out.insert("Status".into(), json!(self.life.status.as_str()));
        out.insert("CreationTime".into(), ts(self.created));
        out.insert("ResourceSpec".into(), self.resource_spec.clone());
        Value::Object(out)
    }

    pub fn snapshot(&self, domain: &Domain, now: Millis) -> Value {
        let mut out = self.describe(&domain.id, now);
        out["Tags"] = crate::state::tags::to_json(&self.tags);
        out
    }
}

/// Reads the owner: exactly one of UserProfileName or SpaceName.
fn owner_from(input: &Input<'_>) -> ApiResult<Owner> {
    match (input.str_opt("UserProfileName")?, input.str_opt("SpaceName")?) {
        (Some(p), None) => Ok(Owner::UserProfile(p.into())),
        (None, Some(s)) => Ok(Owner::Space(s.into())),
        _ => Err(ApiError::validation(
            "Exactly one of UserProfileName or SpaceName must be specified.",
        )),
    }
}

/// `<AppType>AppSettings.DefaultResourceSpec` of a settings structure.
fn default_spec<'a>(settings: Option<&'a Value>, app_type: &str) -> Option<&'a Map<String, Value>> {
    settings?
        .get(format!("{app_type}AppSettings"))?
        .get("DefaultResourceSpec")?
        .as_object()
}

/// The ResourceSpec an app runs with: the request's, completed from the owner's
/// and then the domain's defaults, then the service-wide defaults.
fn effective_spec(
    domain: &Domain,
    owner: &Owner,
    app_type: &str,
    given: Option<&Map<String, Value>>,
) -> ApiResult<Value> {
    let owner_settings = match owner {
        Owner::UserProfile(p) => domain
            .profiles
            .iter()
            .find(|x| x.name.eq_ignore_ascii_case(p))
            .and_then(|x| x.settings.as_ref()),
        Owner::Space(s) => domain
            .spaces
            .iter()
            .find(|x| x.name.eq_ignore_ascii_case(s))
            .and_then(|x| x.settings.as_ref()),
    };
    let domain_settings = match owner {
        Owner::Space(_) => domain
            .settings
            .get("DefaultSpaceSettings")
            .or(domain.settings.get("DefaultUserSettings")),
        Owner::UserProfile(_) => domain.settings.get("DefaultUserSettings"),
    };
    let mut spec = Map::new();
    for layer in [
        default_spec(domain_settings, app_type),
        default_spec(owner_settings, app_type),
        given,
    ]
    .into_iter()
    .flatten()
    {
        for (k, v) in layer {
            spec.insert(k.clone(), v.clone());
        }
    }
    let instance = spec.get("InstanceType").and_then(Value::as_str).map(String::from);
    match (app_type, instance.as_deref()) {
        ("JupyterServer", None) => {
            spec.insert("InstanceType".into(), json!("system"));
        }
        ("JupyterServer", Some(t)) if t != "system" => {
            return Err(ApiError::validation(format!(
                "Invalid InstanceType {t} for AppType JupyterServer. JupyterServer apps only support the system instance type."
            )));
        }
        ("KernelGateway", None) => {
            return Err(ApiError::validation(
                "InstanceType is required for KernelGateway apps: specify it in ResourceSpec or in the DefaultResourceSpec of the user profile or domain.",
            ));
        }
        ("JupyterLab" | "CodeEditor", None) => {
            spec.insert("InstanceType".into(), json!("ml.t3.medium"));
        }
        _ => {}
    }
    Ok(Value::Object(spec))
}

/// CreateApp; also used by the control API to launch an app "from the Studio UI".
pub fn create(state: &mut State, scope: &Scope, now: Millis, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let app_type = input.enum_req("AppType", APP_TYPES)?;
    let name = input.str_req("AppName")?;
    check_name("appName", name)?;
    let owner = owner_from(&input)?;
    let given_spec = input.obj_opt("ResourceSpec")?;
    if let Some(spec) = given_spec
        && let Some(t) = Input::nested(spec, "resourceSpec").str_opt("InstanceType")?
        && !(t == "system" || t.starts_with("ml."))
    {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{t}' at 'resourceSpec.instanceType' failed to satisfy constraint: Member must satisfy enum value set"
        )));
    }
    let recovery_mode = input.bool_opt("RecoveryMode")?;
    let own_tags = parse_tags(&input, "Tags")?;
    let (quota, delay) = (state.quotas.running_apps, state.delays.app_create);
    let health_interval = secs_to_ms(state.delays.health_check_interval);
    let part = state.partition(scope);
    let running: usize = part
        .domains
        .iter()
        .flat_map(|d| d.apps.iter())
        .filter(|a| a.running())
        .count();
    let domain = domain::find_from(part, &input)?;
    if !domain.life.status.accepts_children() {
        return Err(ApiError::in_use(format!(
            "Domain [{}] is in {} state.",
            domain.arn,
            domain.life.status.as_str()
        )));
    }
    let (owner_tags, owner_status, owner_arn, canonical) = match &owner {
        Owner::UserProfile(p) => {
            let p = crate::state::profile::find_in(domain, p)?;
            (
                p.tags.clone(),
                p.life.status,
                p.arn.clone(),
                Owner::UserProfile(p.name.clone()),
            )
        }
        Owner::Space(s) => {
            let s = crate::state::space::find_in(domain, s)?;
            if let Some(t) = s.app_type()
                && t != app_type
            {
                return Err(ApiError::validation(format!(
                    "AppType {app_type} does not match the AppType {t} of Space [{}].",
                    s.arn
                )));
            }
            (
                s.tags.clone(),
                s.life.status,
                s.arn.clone(),
                Owner::Space(s.name.clone()),
            )
        }
    };
    if !owner_status.accepts_children() {
        return Err(ApiError::in_use(format!(
            "[{owner_arn}] is in {} state.",
            owner_status.as_str()
        )));
    }
    let existing = domain.apps.iter().position(|a| a.matches(&canonical, app_type, name));
    if let Some(i) = existing
        && !matches!(domain.apps[i].life.status, Status::Deleted | Status::Failed)
    {
        return Err(ApiError::in_use(format!(
            "App [{}] already exists.",
            domain.apps[i].arn
        )));
    }
    if let Owner::Space(_) = canonical
        && let Some(other) = domain
            .apps
            .iter()
            .find(|a| a.owner.same(&canonical) && a.blocks_owner_deletion())
    {
        return Err(ApiError::in_use(format!(
            "Space [{owner_arn}] already has an app [{}]; a space runs one app at a time.",
            other.arn
        )));
    }
    if running >= quota {
        return Err(ApiError::limit_exceeded(format!(
            "The account-level service limit 'Maximum number of running Studio apps allowed per account' is {quota} Apps, with current utilization of {running} Apps."
        )));
    }
    let resource_spec = effective_spec(domain, &canonical, app_type, given_spec)?;
    let tags = propagate(&[&domain.tags, &owner_tags, &own_tags])?;
    let arn = format!(
        "arn:aws:sagemaker:{}:{}:app/{}/{}/{}/{name}",
        scope.region,
        scope.account,
        domain.id,
        canonical.name().to_ascii_lowercase(),
        app_type.to_ascii_lowercase()
    );
    let app = App {
        owner: canonical,
        app_type: app_type.into(),
        name: name.into(),
        arn: arn.clone(),
        life: Lifecycle::start(Status::Pending, now, delay),
        created: now,
        ready_at: None,
        deleted_at: None,
        resource_spec,
        recovery_mode,
        tags,
        health_interval,
        health_override: None,
        activity_override: None,
    };
    match existing {
        Some(i) => domain.apps[i] = app,
        None => domain.apps.push(app),
    }
    Ok(json!({ "AppArn": arn }))
}

/// Finds the app named by DomainId, owner, AppType and AppName.
pub fn find<'a>(domain: &'a mut Domain, input: &Input<'_>) -> ApiResult<&'a mut App> {
    let app_type = input.enum_req("AppType", APP_TYPES)?;
    let name = input.str_opt("AppName")?.ok_or_else(|| missing("appName"))?;
    let owner = owner_from(input)?;
    let domain_id = domain.id.clone();
    domain
        .apps
        .iter_mut()
        .find(|a| a.matches(&owner, app_type, name))
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "App {app_type}/{name} of {} does not exist in domain {domain_id}.",
                owner.name()
            ))
        })
}

pub fn describe(state: &mut State, scope: &Scope, now: Millis, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let domain = domain::find_from(state.partition(scope), &input)?;
    let domain_id = domain.id.clone();
    Ok(find(domain, &input)?.describe(&domain_id, now))
}

pub fn delete(state: &mut State, scope: &Scope, now: Millis, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let delay = state.delays.app_delete;
    let domain = domain::find_from(state.partition(scope), &input)?;
    let app = find(domain, &input)?;
    match app.life.status {
        Status::Deleted => Err(ApiError::not_found(format!("App [{}] does not exist.", app.arn))),
        Status::Failed => Err(ApiError::validation(format!(
            "App [{}] is in Failed state and does not need to be deleted.",
            app.arn
        ))),
        Status::Pending | Status::Deleting => Err(ApiError::in_use(format!(
            "App [{}] is in {} state and cannot be deleted.",
            app.arn,
            app.life.status.as_str()
        ))),
        _ => {
            app.life = Lifecycle::start(Status::Deleting, now, delay);
            Ok(json!({}))
        }
    }
}

pub fn list(state: &mut State, scope: &Scope, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let page = page_request(&input, "ListApps", 10, 1, 100)?;
    let domain_filter = input.str_opt("DomainIdEquals")?;
    let profile_filter = input.str_opt("UserProfileNameEquals")?;
    let space_filter = input.str_opt("SpaceNameEquals")?;
    if profile_filter.is_some() && space_filter.is_some() {
        return Err(ApiError::validation(
            "UserProfileNameEquals and SpaceNameEquals are mutually exclusive.",
        ));
    }
    let mut rows: Vec<(Millis, Value)> = Vec::new();
    for d in &state.partition(scope).domains {
        if domain_filter.is_some_and(|f| f != d.id) {
            continue;
        }
        for a in &d.apps {
            let keep = match (&a.owner, profile_filter, space_filter) {
                (_, None, None) => true,
                (Owner::UserProfile(p), Some(f), _) => p.eq_ignore_ascii_case(f),
                (Owner::Space(s), _, Some(f)) => s.eq_ignore_ascii_case(f),
                _ => false,
            };
            if keep {
                rows.push((a.created, a.details(&d.id)));
            }
        }
    }
    sort_listing(&mut rows, &input, &["CreationTime"], |r| (r.0, r.0))?;
    let (items, next) = paginate(rows.into_iter().map(|r| r.1).collect(), "ListApps", page);
    let mut out = json!({ "Apps": items });
    if let Some(t) = next {
        out["NextToken"] = json!(t);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> App {
        App {
            owner: Owner::UserProfile("alice".into()),
            app_type: "JupyterLab".into(),
            name: "default".into(),
            arn: "arn".into(),
            life: Lifecycle::start(Status::Pending, 0, 1.0),
            created: 0,
            ready_at: None,
            deleted_at: None,
            resource_spec: json!({}),
            recovery_mode: None,
            tags: vec![],
            health_interval: 300_000,
            health_override: None,
            activity_override: None,
        }
    }

    #[test]
    fn health_checks_follow_the_clock() {
        let mut a = app();
        assert_eq!(a.last_health_check(500), None);
        assert!(a.tick(1000, 86_400.0));
        assert_eq!(a.last_health_check(1000), Some(1000));
        assert_eq!(a.last_health_check(300_999), Some(1000));
        assert_eq!(a.last_health_check(301_000), Some(301_000));
        assert_eq!(a.last_user_activity(301_000), Some(301_000));
        a.activity_override = Some(5);
        assert_eq!(a.last_user_activity(901_000), Some(5));
    }

    #[test]
    fn deleted_apps_expire() {
        let mut a = app();
        a.tick(1000, 86_400.0);
        a.life = Lifecycle::start(Status::Deleting, 2000, 1.0);
        assert!(a.tick(3000, 86_400.0));
        assert_eq!(a.life.status, Status::Deleted);
        assert_eq!(a.deleted_at, Some(3000));
        assert!(a.tick(3000 + 86_399_000, 86_400.0));
        assert!(!a.tick(3000 + 86_400_000, 86_400.0));
    }

    #[test]
    fn owners_compare_case_insensitively() {
        assert!(Owner::UserProfile("Alice".into()).same(&Owner::UserProfile("alice".into())));
        assert!(!Owner::UserProfile("a".into()).same(&Owner::Space("a".into())));
    }
}
