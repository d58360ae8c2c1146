//! User profiles: Create/Describe/Update/Delete/ListUserProfiles.

use serde_json::{Map, Value, json};

use crate::clock::Millis;
use crate::error::{ApiError, ApiResult};
use crate::pagination::{page_request, paginate};
use crate::state::domain::{self, Domain, ensure_mutable};
use crate::state::settings::{check_user_settings, merge_shallow};
use crate::state::tags::{Tag, parse_tags};
use crate::state::{Lifecycle, Owner, Scope, State, Status, put_opt, sort_listing, ts};
use crate::validate::{Input, check_len};

#[derive(Debug, Clone)]
pub struct UserProfile {
    pub name: String,
    pub arn: String,
    pub uid: String,
    pub life: Lifecycle,
    pub created: Millis,
    pub modified: Millis,
    pub sso_identifier: Option<String>,
    pub sso_value: Option<String>,
    pub settings: Option<Value>,
    pub tags: Vec<Tag>,
}

impl UserProfile {
    pub fn describe(&self, domain_id: &str) -> Value {
        let mut out = Map::new();
        out.insert("DomainId".into(), json!(domain_id));
        out.insert("UserProfileArn".into(), json!(self.arn));
        out.insert("UserProfileName".into(), json!(self.name));
        out.insert("HomeEfsFileSystemUid".into(), json!(self.uid));
        out.insert("Status".into(), json!(self.life.status.as_str()));
        out.insert("CreationTime".into(), ts(self.created));
        out.insert("LastModifiedTime".into(), ts(self.modified));
        put_opt(
            &mut out,
            "SingleSignOnUserIdentifier",
            self.sso_identifier.clone().map(Value::from),
        );
        put_opt(
            &mut out,
            "SingleSignOnUserValue",
            self.sso_value.clone().map(Value::from),
        );
        put_opt(&mut out, "UserSettings", self.settings.clone());
        Value::Object(out)
    }

    pub fn snapshot(&self) -> Value {
        let mut out = self.describe("");
        out.as_object_mut().map(|o| o.remove("DomainId"));
        out["Tags"] = crate::state::tags::to_json(&self.tags);
        out
    }
}

/// Profile names are not case sensitive.
pub fn find_in<'a>(domain: &'a mut Domain, name: &str) -> ApiResult<&'a mut UserProfile> {
    let domain_id = domain.id.clone();
    domain
        .profiles
        .iter_mut()
        .find(|p| p.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| ApiError::not_found(format!("User profile {name} does not exist in domain {domain_id}.")))
}

pub fn create(state: &mut State, scope: &Scope, now: Millis, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let name = input.name_req("UserProfileName")?;
    let sso_id = input.str_opt("SingleSignOnUserIdentifier")?;
    let sso_value = input.str_opt("SingleSignOnUserValue")?;
    if let Some(v) = sso_id
        && v != "UserName"
    {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{v}' at 'singleSignOnUserIdentifier' failed to satisfy constraint: Member must satisfy regular expression pattern: UserName"
        )));
    }
    if let Some(v) = sso_value {
        check_len("singleSignOnUserValue", v, 0, 256)?;
    }
    if let Some(us) = input.obj_opt("UserSettings")? {
        check_user_settings(us, "userSettings", false)?;
    }
    let tags = parse_tags(&input, "Tags")?;
    let quota = state.quotas.user_profiles;
    let delay = state.delays.profile_create;
    let part = state.partition(scope);
    let total: usize = part.domains.iter().map(|d| d.profiles.len()).sum();
    let domain = domain::find_from(part, &input)?;
    if !domain.life.status.accepts_children() {
        return Err(ApiError::in_use(format!(
            "Domain [{}] is in {} state; user profiles can only be created in an InService domain.",
            domain.arn,
            domain.life.status.as_str()
        )));
    }
    match (domain.auth_mode(), sso_id.is_some() || sso_value.is_some()) {
        ("SSO", false) => {
            return Err(ApiError::validation(
                "SingleSignOnUserIdentifier and SingleSignOnUserValue are required for a UserProfile in a Domain with AuthMode SSO.",
            ));
        }
        ("SSO", true) if sso_id.is_none() || sso_value.is_none() => {
            return Err(ApiError::validation(
                "SingleSignOnUserIdentifier and SingleSignOnUserValue must be specified together.",
            ));
        }
        ("IAM", true) => {
            return Err(ApiError::validation(
                "SingleSignOnUserIdentifier and SingleSignOnUserValue can only be specified for a Domain with AuthMode SSO.",
            ));
        }
        _ => {}
    }
    if domain.profiles.iter().any(|p| p.name.eq_ignore_ascii_case(name)) {
        return Err(ApiError::in_use(format!(
            "User profile with name {name} already exists in domain {}.",
            domain.id
        )));
    }
    if total >= quota {
        return Err(ApiError::limit_exceeded(format!(
            "The account-level service limit 'Maximum number of Studio user profiles allowed per account' is {quota} UserProfiles, with current utilization of {total} UserProfiles."
        )));
    }
    let arn = format!(
        "arn:aws:sagemaker:{}:{}:user-profile/{}/{}",
        scope.region,
        scope.account,
        domain.id,
        name.to_ascii_lowercase()
    );
    let uid = domain.next_uid();
    domain.profiles.push(UserProfile {
        name: name.into(),
        arn: arn.clone(),
        uid,
        life: Lifecycle::start(Status::Pending, now, delay),
        created: now,
        modified: now,
        sso_identifier: sso_id.map(String::from),
        sso_value: sso_value.map(String::from),
        settings: input.raw("UserSettings").cloned(),
        tags,
    });
    Ok(json!({ "UserProfileArn": arn }))
}

pub fn describe(state: &mut State, scope: &Scope, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let name = input.str_req("UserProfileName")?;
    let domain = domain::find_from(state.partition(scope), &input)?;
    let domain_id = domain.id.clone();
    Ok(find_in(domain, name)?.describe(&domain_id))
}

pub fn update(state: &mut State, scope: &Scope, now: Millis, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let name = input.str_req("UserProfileName")?;
    let settings = input.obj_opt("UserSettings")?;
    if let Some(us) = settings {
        check_user_settings(us, "userSettings", false)?;
    }
    let delay = state.delays.profile_update;
    let domain = domain::find_from(state.partition(scope), &input)?;
    let profile = find_in(domain, name)?;
    ensure_mutable("UserProfile", &profile.arn, profile.life.status, false)?;
    if let Some(us) = settings {
        merge_shallow(profile.settings.get_or_insert_with(|| json!({})), us);
    }
    profile.life = Lifecycle::start(Status::Updating, now, delay);
    profile.modified = now;
    Ok(json!({ "UserProfileArn": profile.arn }))
}

pub fn delete(state: &mut State, scope: &Scope, now: Millis, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let name = input.str_req("UserProfileName")?;
    let delay = state.delays.profile_delete;
    let domain = domain::find_from(state.partition(scope), &input)?;
    let profile = find_in(domain, name)?;
    let (arn, canonical) = (profile.arn.clone(), profile.name.clone());
    ensure_mutable("UserProfile", &arn, profile.life.status, true)?;
    let owns_apps = domain.apps.iter().any(|a| {
        a.blocks_owner_deletion() && matches!(&a.owner, Owner::UserProfile(p) if p.eq_ignore_ascii_case(&canonical))
    });
    if owns_apps {
        return Err(ApiError::in_use(format!(
            "Unable to delete UserProfile [{arn}] because App(s) are associated with it."
        )));
    }
    if domain
        .spaces
        .iter()
        .any(|s| s.owner().is_some_and(|o| o.eq_ignore_ascii_case(&canonical)))
    {
        return Err(ApiError::in_use(format!(
            "Unable to delete UserProfile [{arn}] because Space(s) are associated with it."
        )));
    }
    let profile = find_in(domain, name)?;
    profile.life = Lifecycle::start(Status::Deleting, now, delay);
    profile.modified = now;
    Ok(json!({}))
}

pub fn list(state: &mut State, scope: &Scope, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let page = page_request(&input, "ListUserProfiles", 10, 1, 100)?;
    let domain_filter = input.str_opt("DomainIdEquals")?;
    let contains = input.str_opt("UserProfileNameContains")?;
    let mut rows: Vec<(Millis, Millis, Value)> = Vec::new();
    for d in &state.partition(scope).domains {
        if domain_filter.is_some_and(|f| f != d.id) {
            continue;
        }
        for p in &d.profiles {
            if contains.is_some_and(|c| !p.name.contains(c)) {
                continue;
            }
            rows.push((
                p.created,
                p.modified,
                json!({
                    "DomainId": d.id,
                    "UserProfileName": p.name,
                    "Status": p.life.status.as_str(),
                    "CreationTime": ts(p.created),
                    "LastModifiedTime": ts(p.modified),
                }),
            ));
        }
    }
    sort_listing(&mut rows, &input, &["CreationTime", "LastModifiedTime"], |r| (r.0, r.1))?;
    let (items, next) = paginate(rows.into_iter().map(|r| r.2).collect(), "ListUserProfiles", page);
    let mut out = json!({ "UserProfiles": items });
    if let Some(t) = next {
        out["NextToken"] = json!(t);
    }
    Ok(out)
}
