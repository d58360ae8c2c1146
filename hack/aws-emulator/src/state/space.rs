//! Spaces: Create/Describe/Update/Delete/ListSpaces. The shared member bookkeeping is in
//! `member.rs`; this adds ownership, sharing, the display name, the Url and the space's rules.

use serde_json::{Map, Value, json};

use crate::clock::Millis;
use crate::clock::to_epoch_secs;
use crate::config::{Delays, Quotas};
use crate::error::{ApiError, ApiResult};
use crate::state::domain::{self, Domain};
use crate::state::member::{self, Member, MemberKind};
use crate::state::{EbsVolume, Owner, Scope, State, put_opt, ts};
use crate::validate::{Input, missing};

/// What only a space has.
#[derive(Debug, Clone, Default)]
pub struct SpaceFields {
    pub url: String,
    pub ownership: Option<Value>,
    pub sharing: Option<Value>,
    pub display_name: Option<String>,
    /// The space's EBS volume in the registry (JupyterLab and Code Editor spaces).
    pub ebs_volume_id: Option<String>,
}

/// EBS size of a JupyterLab or Code Editor space when no default is configured (the console's
/// default as well).
pub const DEFAULT_EBS_GB: i64 = 5;

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

    fn is_shared(&self) -> bool {
        self.kind.sharing.as_ref().and_then(|s| s.get("SharingType")) == Some(&json!("Shared"))
    }

    /// `SpaceSettings.SpaceStorageSettings.EbsStorageSettings.EbsVolumeSizeInGb`.
    pub fn ebs_size(&self) -> Option<i64> {
        ebs_size(self.settings.as_ref())
    }
}

/// Only JupyterLab and Code Editor spaces have an EBS volume.
fn has_ebs(app_type: Option<&str>) -> bool {
    matches!(app_type, Some("JupyterLab" | "CodeEditor"))
}

fn ebs_size(settings: Option<&Value>) -> Option<i64> {
    settings?
        .pointer("/SpaceStorageSettings/EbsStorageSettings/EbsVolumeSizeInGb")?
        .as_i64()
}

/// `SpaceStorageSettings.DefaultEbsStorageSettings` (default, maximum) of a settings structure.
fn storage_defaults(settings: Option<&Value>) -> (Option<i64>, Option<i64>) {
    let d = settings.and_then(|s| s.pointer("/SpaceStorageSettings/DefaultEbsStorageSettings"));
    let size = |member: &str| d.and_then(|d| d.get(member)).and_then(Value::as_i64);
    (size("DefaultEbsVolumeSizeInGb"), size("MaximumEbsVolumeSizeInGb"))
}

/// The default and maximum EBS size of a space: from the owner's `UserSettings` for a private
/// space or the domain's `DefaultSpaceSettings` for a shared one, then the domain's
/// `DefaultUserSettings`; the default is 5 GB and there is no maximum when none sets them.
fn storage_limits(domain: &Domain, owner: Option<&str>, shared: bool) -> (i64, Option<i64>) {
    let first = if shared {
        domain.settings.get("DefaultSpaceSettings")
    } else {
        owner.and_then(|o| {
            domain
                .profiles
                .iter()
                .find(|p| p.name.eq_ignore_ascii_case(o))
                .and_then(|p| p.settings.as_ref())
        })
    };
    let (d1, m1) = storage_defaults(first);
    let (d2, m2) = storage_defaults(domain.settings.get("DefaultUserSettings"));
    (d1.or(d2).unwrap_or(DEFAULT_EBS_GB), m1.or(m2))
}

fn check_maximum(size: i64, maximum: Option<i64>) -> ApiResult<()> {
    match maximum {
        Some(max) if size > max => Err(ApiError::validation(format!(
            "EbsVolumeSizeInGb {size} exceeds the maximum EBS volume size of {max} GB configured for this space."
        ))),
        _ => Ok(()),
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
    let owner = match input.obj_opt("OwnershipSettings")? {
        Some(o) => Some(Input::nested(o, "ownershipSettings").str_req("OwnerUserProfileName")?),
        None => None,
    };
    let sharing = match input.obj_opt("SpaceSharingSettings")? {
        Some(s) => Some(Input::nested(s, "spaceSharingSettings").enum_req("SharingType", &["Private", "Shared"])?),
        None => None,
    };
    let display_name = input.str_opt("SpaceDisplayName")?;
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
    let shared = sharing == Some("Shared");
    let requested = ebs_size(input.raw("SpaceSettings"));
    // The EBS size a JupyterLab or Code Editor space gets: as requested (within the maximum)
    // or the configured default, stored so DescribeSpace shows it.
    let size = std::cell::Cell::new(None);
    let check = |domain: &mut Domain| {
        check_owner(domain)?;
        if has_ebs(app_type) {
            let (default, maximum) = storage_limits(domain, owner, shared);
            let chosen = requested.unwrap_or(default);
            check_maximum(chosen, maximum)?;
            size.set(Some(chosen));
        }
        Ok(())
    };
    let build = |domain: &Domain, name: &str| {
        let mut stored = input.raw("SpaceSettings").cloned();
        if let Some(gb) = size.get() {
            let settings = stored.get_or_insert_with(|| json!({}));
            crate::state::merge_patch(
                settings,
                &json!({"SpaceStorageSettings": {"EbsStorageSettings": {"EbsVolumeSizeInGb": gb}}}),
            );
        }
        let fields = SpaceFields {
            url: format!("{}/spaces/{name}", domain.url),
            ownership: input.raw("OwnershipSettings").cloned(),
            sharing: input.raw("SpaceSharingSettings").cloned(),
            display_name: display_name.map(String::from),
            ebs_volume_id: None,
        };
        (fields, stored)
    };
    let out = member::create(state, scope, now, &input, check, build)?;
    if let Some(gb) = size.get() {
        let volume_id = format!("vol-{}", state.random_hex(17));
        let domain = domain::find_from(state.partition(scope), &input)?;
        let domain_id = domain.id.clone();
        let space = find_in(domain, input.str_req("SpaceName")?)?;
        space.kind.ebs_volume_id = Some(volume_id.clone());
        let space_name = space.name.clone();
        state.ebs.push(EbsVolume {
            volume_id,
            account: scope.account.clone(),
            region: scope.region.clone(),
            domain_id,
            space_name,
            size_in_gb: gb,
            created: to_epoch_secs(now),
            deleted_at: None,
        });
    }
    Ok(out)
}

pub fn describe(state: &mut State, scope: &Scope, body: &Value) -> ApiResult<Value> {
    member::describe::<SpaceFields>(state, scope, body)
}

pub fn update(state: &mut State, scope: &Scope, now: Millis, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    input.str_req("SpaceName")?;
    if input
        .obj_opt("SpaceSettings")?
        .is_some_and(|s| s.contains_key("AppType"))
    {
        return Err(ApiError::validation("Updating AppType for Space is not supported."));
    }
    let display = input.str_opt("SpaceDisplayName")?;
    let new_size = ebs_size(input.raw("SpaceSettings"));
    if let Some(gb) = new_size {
        check_resize(state, scope, &input, gb)?;
    }
    let out = member::update::<SpaceFields>(state, scope, now, &input, |space| {
        if let Some(d) = display {
            space.kind.display_name = Some(d.into());
        }
    })?;
    let domain = domain::find_from(state.partition(scope), &input)?;
    let space = find_in(domain, input.str_req("SpaceName")?)?;
    if let (Some(volume_id), Some(gb)) = (space.kind.ebs_volume_id.clone(), space.ebs_size())
        && let Some(volume) = state.ebs.iter_mut().find(|v| v.volume_id == volume_id)
    {
        volume.size_in_gb = gb;
    }
    Ok(out)
}

/// An EBS volume only grows, and not beyond the maximum configured for the space.
fn check_resize(state: &mut State, scope: &Scope, input: &Input<'_>, gb: i64) -> ApiResult<()> {
    let domain = domain::find_from(state.partition(scope), input)?;
    let Some(space) = domain.spaces.iter().find(|s| {
        s.name
            .eq_ignore_ascii_case(input.str_req("SpaceName").unwrap_or_default())
    }) else {
        return Ok(());
    };
    if !has_ebs(space.app_type()) {
        return Ok(());
    }
    if let Some(current) = space.ebs_size()
        && gb < current
    {
        return Err(ApiError::validation(format!(
            "EbsVolumeSizeInGb cannot be decreased from {current} to {gb}: the EBS volume of Space [{}] can only grow.",
            space.arn
        )));
    }
    let (_, maximum) = storage_limits(domain, space.owner(), space.is_shared());
    check_maximum(gb, maximum)
}

pub fn delete(state: &mut State, scope: &Scope, now: Millis, body: &Value) -> ApiResult<Value> {
    member::delete::<SpaceFields>(state, scope, now, body, |_, _| None)
}

pub fn list(state: &mut State, scope: &Scope, body: &Value) -> ApiResult<Value> {
    member::list::<SpaceFields>(state, scope, body)
}
