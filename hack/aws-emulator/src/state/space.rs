//! Spaces: Create/Describe/Update/Delete/ListSpaces.

use serde_json::{Map, Value, json};

use crate::clock::Millis;
use crate::error::{ApiError, ApiResult};
use crate::pagination::{page_request, paginate};
use crate::state::domain::{self, Domain, ensure_mutable};
use crate::state::settings::{check_space_settings, merge_shallow};
use crate::state::tags::{Tag, parse_tags};
use crate::state::{Lifecycle, Owner, Scope, State, Status, put_opt, sort_listing, ts};
use crate::validate::{Input, check_len, missing};

#[derive(Debug, Clone)]
pub struct Space {
    pub name: String,
    pub arn: String,
    pub uid: String,
    pub url: String,
    pub life: Lifecycle,
    pub created: Millis,
    pub modified: Millis,
    pub settings: Option<Value>,
    pub ownership: Option<Value>,
    pub sharing: Option<Value>,
    pub display_name: Option<String>,
    pub tags: Vec<Tag>,
}

impl Space {
    /// `OwnershipSettings.OwnerUserProfileName`, if any.
    pub fn owner(&self) -> Option<&str> {
        self.ownership.as_ref()?.get("OwnerUserProfileName")?.as_str()
    }

    /// `SpaceSettings.AppType`, fixed at creation.
    pub fn app_type(&self) -> Option<&str> {
        self.settings.as_ref()?.get("AppType")?.as_str()
    }

    pub fn describe(&self, domain_id: &str) -> Value {
        let mut out = Map::new();
        out.insert("DomainId".into(), json!(domain_id));
        out.insert("SpaceArn".into(), json!(self.arn));
        out.insert("SpaceName".into(), json!(self.name));
        out.insert("HomeEfsFileSystemUid".into(), json!(self.uid));
        out.insert("Status".into(), json!(self.life.status.as_str()));
        out.insert("CreationTime".into(), ts(self.created));
        out.insert("LastModifiedTime".into(), ts(self.modified));
        out.insert("Url".into(), json!(self.url));
        put_opt(&mut out, "SpaceSettings", self.settings.clone());
        put_opt(&mut out, "OwnershipSettings", self.ownership.clone());
        put_opt(&mut out, "SpaceSharingSettings", self.sharing.clone());
        put_opt(&mut out, "SpaceDisplayName", self.display_name.clone().map(Value::from));
        Value::Object(out)
    }

    fn details(&self, domain_id: &str) -> Value {
        let mut out = Map::new();
        out.insert("DomainId".into(), json!(domain_id));
        out.insert("SpaceName".into(), json!(self.name));
        out.insert("Status".into(), json!(self.life.status.as_str()));
        out.insert("CreationTime".into(), ts(self.created));
        out.insert("LastModifiedTime".into(), ts(self.modified));
        if let Some(settings) = &self.settings {
            let mut summary = Map::new();
            for member in ["AppType", "RemoteAccess", "SpaceStorageSettings"] {
                put_opt(&mut summary, member, settings.get(member).cloned());
            }
            out.insert("SpaceSettingsSummary".into(), Value::Object(summary));
        }
        if let Some(sharing) = &self.sharing {
            out.insert(
                "SpaceSharingSettingsSummary".into(),
                json!({"SharingType": sharing.get("SharingType")}),
            );
        }
        if let Some(owner) = self.owner() {
            out.insert(
                "OwnershipSettingsSummary".into(),
                json!({"OwnerUserProfileName": owner}),
            );
        }
        put_opt(&mut out, "SpaceDisplayName", self.display_name.clone().map(Value::from));
        Value::Object(out)
    }

    pub fn snapshot(&self) -> Value {
        let mut out = self.describe("");
        out.as_object_mut().map(|o| o.remove("DomainId"));
        out["Tags"] = crate::state::tags::to_json(&self.tags);
        out
    }
}

/// Space names are unique per domain, compared case-insensitively like profiles.
pub fn find_in<'a>(domain: &'a mut Domain, name: &str) -> ApiResult<&'a mut Space> {
    let domain_id = domain.id.clone();
    domain
        .spaces
        .iter_mut()
        .find(|s| s.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| ApiError::not_found(format!("Space {name} does not exist in domain {domain_id}.")))
}

pub fn create(state: &mut State, scope: &Scope, now: Millis, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let name = input.name_req("SpaceName")?;
    let settings = input.obj_opt("SpaceSettings")?;
    if let Some(s) = settings {
        check_space_settings(s, "spaceSettings")?;
    }
    let owner = match input.obj_opt("OwnershipSettings")? {
        Some(o) => Some(Input::nested(o, "ownershipSettings").str_req("OwnerUserProfileName")?),
        None => None,
    };
    let sharing = match input.obj_opt("SpaceSharingSettings")? {
        Some(s) => Some(Input::nested(s, "spaceSharingSettings").enum_req("SharingType", &["Private", "Shared"])?),
        None => None,
    };
    if let Some(d) = input.str_opt("SpaceDisplayName")? {
        check_len("spaceDisplayName", d, 0, 64)?;
    }
    // Stricter choice for an UNCONFIRMED rule: private/shared spaces always need
    // both OwnershipSettings and SpaceSharingSettings, and JupyterLab/CodeEditor
    // spaces need them too.
    let app_type = settings.and_then(|s| s.get("AppType")).and_then(Value::as_str);
    let needs_both = owner.is_some() || sharing.is_some() || matches!(app_type, Some("JupyterLab" | "CodeEditor"));
    if needs_both && owner.is_none() {
        return Err(missing("ownershipSettings"));
    }
    if needs_both && sharing.is_none() {
        return Err(missing("spaceSharingSettings"));
    }
    let tags = parse_tags(&input, "Tags")?;
    let quota = state.quotas.spaces;
    let delay = state.delays.space_create;
    let part = state.partition(scope);
    let total: usize = part.domains.iter().map(|d| d.spaces.len()).sum();
    let domain = domain::find_from(part, &input)?;
    if !domain.life.status.accepts_children() {
        return Err(ApiError::in_use(format!(
            "Domain [{}] is in {} state; spaces can only be created in an InService domain.",
            domain.arn,
            domain.life.status.as_str()
        )));
    }
    if let Some(owner) = owner {
        let profile = crate::state::profile::find_in(domain, owner)?;
        if !profile.life.status.accepts_children() {
            return Err(ApiError::in_use(format!(
                "UserProfile [{}] is in {} state.",
                profile.arn,
                profile.life.status.as_str()
            )));
        }
    }
    if domain.spaces.iter().any(|s| s.name.eq_ignore_ascii_case(name)) {
        return Err(ApiError::in_use(format!(
            "Space with name {name} already exists in domain {}.",
            domain.id
        )));
    }
    if total >= quota {
        return Err(ApiError::limit_exceeded(format!(
            "The account-level service limit 'Maximum number of Studio spaces allowed per account' is {quota} Spaces, with current utilization of {total} Spaces."
        )));
    }
    let arn = format!(
        "arn:aws:sagemaker:{}:{}:space/{}/{name}",
        scope.region, scope.account, domain.id
    );
    let uid = domain.next_uid();
    let url = format!("{}/spaces/{name}", domain.url);
    domain.spaces.push(Space {
        name: name.into(),
        arn: arn.clone(),
        uid,
        url,
        life: Lifecycle::start(Status::Pending, now, delay),
        created: now,
        modified: now,
        settings: input.raw("SpaceSettings").cloned(),
        ownership: input.raw("OwnershipSettings").cloned(),
        sharing: input.raw("SpaceSharingSettings").cloned(),
        display_name: input.str_opt("SpaceDisplayName")?.map(String::from),
        tags,
    });
    Ok(json!({ "SpaceArn": arn }))
}

pub fn describe(state: &mut State, scope: &Scope, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let name = input.str_req("SpaceName")?;
    let domain = domain::find_from(state.partition(scope), &input)?;
    let domain_id = domain.id.clone();
    Ok(find_in(domain, name)?.describe(&domain_id))
}

pub fn update(state: &mut State, scope: &Scope, now: Millis, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let name = input.str_req("SpaceName")?;
    let settings = input.obj_opt("SpaceSettings")?;
    if let Some(s) = settings {
        if s.contains_key("AppType") {
            return Err(ApiError::validation("Updating AppType for Space is not supported."));
        }
        check_space_settings(s, "spaceSettings")?;
    }
    let display = input.str_opt("SpaceDisplayName")?;
    if let Some(d) = display {
        check_len("spaceDisplayName", d, 0, 64)?;
    }
    let delay = state.delays.space_update;
    let domain = domain::find_from(state.partition(scope), &input)?;
    let space = find_in(domain, name)?;
    ensure_mutable("Space", &space.arn, space.life.status, false)?;
    if let Some(s) = settings {
        merge_shallow(space.settings.get_or_insert_with(|| json!({})), s);
    }
    if let Some(d) = display {
        space.display_name = Some(d.into());
    }
    space.life = Lifecycle::start(Status::Updating, now, delay);
    space.modified = now;
    Ok(json!({ "SpaceArn": space.arn }))
}

pub fn delete(state: &mut State, scope: &Scope, now: Millis, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let name = input.str_req("SpaceName")?;
    let delay = state.delays.space_delete;
    let domain = domain::find_from(state.partition(scope), &input)?;
    let space = find_in(domain, name)?;
    let (arn, canonical) = (space.arn.clone(), space.name.clone());
    ensure_mutable("Space", &arn, space.life.status, true)?;
    let has_apps = domain.apps.iter().any(|a| {
        a.blocks_owner_deletion() && matches!(&a.owner, Owner::Space(s) if s.eq_ignore_ascii_case(&canonical))
    });
    if has_apps {
        return Err(ApiError::in_use(format!(
            "Unable to delete Space [{arn}] because App(s) are associated with it."
        )));
    }
    let space = find_in(domain, name)?;
    space.life = Lifecycle::start(Status::Deleting, now, delay);
    space.modified = now;
    Ok(json!({}))
}

pub fn list(state: &mut State, scope: &Scope, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let page = page_request(&input, "ListSpaces", 10, 1, 100)?;
    let domain_filter = input.str_opt("DomainIdEquals")?;
    let contains = input.str_opt("SpaceNameContains")?;
    let mut rows: Vec<(Millis, Millis, Value)> = Vec::new();
    for d in &state.partition(scope).domains {
        if domain_filter.is_some_and(|f| f != d.id) {
            continue;
        }
        for s in &d.spaces {
            if contains.is_some_and(|c| !s.name.contains(c)) {
                continue;
            }
            rows.push((s.created, s.modified, s.details(&d.id)));
        }
    }
    sort_listing(&mut rows, &input, &["CreationTime", "LastModifiedTime"], |r| (r.0, r.1))?;
    let (items, next) = paginate(rows.into_iter().map(|r| r.2).collect(), "ListSpaces", page);
    let mut out = json!({ "Spaces": items });
    if let Some(t) = next {
        out["NextToken"] = json!(t);
    }
    Ok(out)
}
