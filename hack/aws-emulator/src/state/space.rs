//! Spaces: Create/Describe/Update/Delete/ListSpaces. The shared member bookkeeping is in
//! `member.rs`; this adds ownership, sharing, the display name, the Url and the space's rules.

use serde_json::{Map, Value, json};

use crate::clock::Millis;
use crate::config::{Delays, Quotas};
use crate::error::{ApiError, ApiResult};
use crate::state::domain::Domain;
use crate::state::member::{self, Member, MemberKind};
use crate::state::settings::check_space_settings;
use crate::state::{Owner, Scope, State, put_opt, ts};
use crate::validate::{Input, check_len, missing};

/// What only a space has.
#[derive(Debug, Clone, Default)]
pub struct SpaceFields {
    pub url: String,
    pub ownership: Option<Value>,
    pub sharing: Option<Value>,
    pub display_name: Option<String>,
}

pub type Space = Member<SpaceFields>;

impl Space {
    /// `OwnershipSettings.OwnerUserProfileName`, if any.
    pub fn owner(&self) -> Option<&str> {
        self.kind.ownership.as_ref()?.get("OwnerUserProfileName")?.as_str()
    }

    /// `SpaceSettings.AppType`, fixed at creation.
    pub fn app_type(&self) -> Option<&str> {
        self.settings.as_ref()?.get("AppType")?.as_str()
    }
}

impl MemberKind for SpaceFields {
    const RESOURCE: &'static str = "Space";
    const LABEL: &'static str = "Space";
    const PLURAL: &'static str = "spaces";
    const ARN_TYPE: &'static str = "space";
    const NAME_MEMBER: &'static str = "SpaceName";
    const ARN_MEMBER: &'static str = "SpaceArn";
    const SETTINGS_MEMBER: &'static str = "SpaceSettings";
    const LIST_OPERATION: &'static str = "ListSpaces";
    const LIST_KEY: &'static str = "Spaces";
    const NAME_CONTAINS: &'static str = "SpaceNameContains";
    const QUOTA_NAME: &'static str = "Studio spaces";
    const QUOTA_UNIT: &'static str = "Spaces";

    fn all(domain: &Domain) -> &Vec<Space> {
        &domain.spaces
    }

    fn all_mut(domain: &mut Domain) -> &mut Vec<Space> {
        &mut domain.spaces
    }

    fn owner(name: &str) -> Owner {
        Owner::Space(name.into())
    }

    fn quota(quotas: &Quotas) -> usize {
        quotas.spaces
    }

    fn delays(delays: &Delays) -> (f64, f64, f64) {
        (delays.space_create, delays.space_update, delays.space_delete)
    }

    fn arn_name(name: &str) -> String {
        name.into()
    }

    fn describe_extra(space: &Space, out: &mut Map<String, Value>) {
        let fields = &space.kind;
        out.insert("Url".into(), json!(fields.url));
        put_opt(out, "OwnershipSettings", fields.ownership.clone());
        put_opt(out, "SpaceSharingSettings", fields.sharing.clone());
        put_opt(out, "SpaceDisplayName", fields.display_name.clone().map(Value::from));
    }

    fn details(space: &Space, domain_id: &str) -> Value {
        let mut out = Map::new();
        out.insert("DomainId".into(), json!(domain_id));
        out.insert("SpaceName".into(), json!(space.name));
        out.insert("Status".into(), json!(space.life.status.as_str()));
        out.insert("CreationTime".into(), ts(space.created));
        out.insert("LastModifiedTime".into(), ts(space.modified));
        if let Some(settings) = &space.settings {
            let mut summary = Map::new();
            for member in ["AppType", "RemoteAccess", "SpaceStorageSettings"] {
                put_opt(&mut summary, member, settings.get(member).cloned());
            }
            out.insert("SpaceSettingsSummary".into(), Value::Object(summary));
        }
        if let Some(sharing) = &space.kind.sharing {
            out.insert(
                "SpaceSharingSettingsSummary".into(),
                json!({"SharingType": sharing.get("SharingType")}),
            );
        }
        if let Some(owner) = space.owner() {
            out.insert(
                "OwnershipSettingsSummary".into(),
                json!({"OwnerUserProfileName": owner}),
            );
        }
        put_opt(
            &mut out,
            "SpaceDisplayName",
            space.kind.display_name.clone().map(Value::from),
        );
        Value::Object(out)
    }
}

/// Space names are unique per domain, compared case-insensitively like profiles.
pub fn find_in<'a>(domain: &'a mut Domain, name: &str) -> ApiResult<&'a mut Space> {
    member::find_in(domain, name)
}

pub fn create(state: &mut State, scope: &Scope, now: Millis, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    input.name_req("SpaceName")?;
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
    let display_name = input.str_opt("SpaceDisplayName")?;
    if let Some(d) = display_name {
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
    let check_owner = |domain: &mut Domain| {
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
        Ok(())
    };
    member::create(state, scope, now, &input, check_owner, |domain, name| SpaceFields {
        url: format!("{}/spaces/{name}", domain.url),
        ownership: input.raw("OwnershipSettings").cloned(),
        sharing: input.raw("SpaceSharingSettings").cloned(),
        display_name: display_name.map(String::from),
    })
}

pub fn describe(state: &mut State, scope: &Scope, body: &Value) -> ApiResult<Value> {
    member::describe::<SpaceFields>(state, scope, body)
}

pub fn update(state: &mut State, scope: &Scope, now: Millis, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    input.str_req("SpaceName")?;
    if let Some(s) = input.obj_opt("SpaceSettings")? {
        if s.contains_key("AppType") {
            return Err(ApiError::validation("Updating AppType for Space is not supported."));
        }
        check_space_settings(s, "spaceSettings")?;
    }
    let display = input.str_opt("SpaceDisplayName")?;
    if let Some(d) = display {
        check_len("spaceDisplayName", d, 0, 64)?;
    }
    member::update::<SpaceFields>(state, scope, now, &input, |space| {
        if let Some(d) = display {
            space.kind.display_name = Some(d.into());
        }
    })
}

pub fn delete(state: &mut State, scope: &Scope, now: Millis, body: &Value) -> ApiResult<Value> {
    member::delete::<SpaceFields>(state, scope, now, body, |_, _| None)
}

pub fn list(state: &mut State, scope: &Scope, body: &Value) -> ApiResult<Value> {
    member::list::<SpaceFields>(state, scope, body)
}
