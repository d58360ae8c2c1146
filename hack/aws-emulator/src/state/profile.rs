//! User profiles: Create/Describe/Update/Delete/ListUserProfiles. The shared member
//! bookkeeping is in `member.rs`; this adds the SSO identity and the profile's rules.

use serde_json::{Map, Value, json};

use crate::clock::Millis;
use crate::config::{Delays, Quotas};
use crate::error::{ApiError, ApiResult};
use crate::state::domain::Domain;
use crate::state::member::{self, Member, MemberKind};
use crate::state::settings::check_user_settings;
use crate::state::{Owner, Scope, State, put_opt, ts};
use crate::validate::Input;

/// What only a profile has: its IAM Identity Center identity.
#[derive(Debug, Clone, Default)]
pub struct ProfileFields {
    pub sso_identifier: Option<String>,
    pub sso_value: Option<String>,
}

pub type UserProfile = Member<ProfileFields>;

impl MemberKind for ProfileFields {
    const RESOURCE: &'static str = "UserProfile";
    const LABEL: &'static str = "User profile";
    const PLURAL: &'static str = "user profiles";
    const ARN_TYPE: &'static str = "user-profile";
    const NAME_MEMBER: &'static str = "UserProfileName";
    const ARN_MEMBER: &'static str = "UserProfileArn";
    const SETTINGS_MEMBER: &'static str = "UserSettings";
    const LIST_OPERATION: &'static str = "ListUserProfiles";
    const LIST_KEY: &'static str = "UserProfiles";
    const NAME_CONTAINS: &'static str = "UserProfileNameContains";
    const QUOTA_NAME: &'static str = "Studio user profiles";
    const QUOTA_UNIT: &'static str = "UserProfiles";

    fn all(domain: &Domain) -> &Vec<UserProfile> {
        &domain.profiles
    }

    fn all_mut(domain: &mut Domain) -> &mut Vec<UserProfile> {
        &mut domain.profiles
    }

    fn owner(name: &str) -> Owner {
        Owner::UserProfile(name.into())
    }

    fn quota(quotas: &Quotas) -> usize {
        quotas.user_profiles
    }

    fn delays(delays: &Delays) -> (f64, f64, f64) {
        (delays.profile_create, delays.profile_update, delays.profile_delete)
    }

    /// Profile ARNs are lower-cased.
    fn arn_name(name: &str) -> String {
        name.to_ascii_lowercase()
    }

    fn describe_extra(profile: &UserProfile, out: &mut Map<String, Value>) {
        let fields = &profile.kind;
        put_opt(
            out,
            "SingleSignOnUserIdentifier",
            fields.sso_identifier.clone().map(Value::from),
        );
        put_opt(out, "SingleSignOnUserValue", fields.sso_value.clone().map(Value::from));
    }

    fn details(profile: &UserProfile, domain_id: &str) -> Value {
        json!({
            "DomainId": domain_id,
            "UserProfileName": profile.name,
            "Status": profile.life.status.as_str(),
            "CreationTime": ts(profile.created),
            "LastModifiedTime": ts(profile.modified),
        })
    }
}

/// Profile names are not case sensitive.
pub fn find_in<'a>(domain: &'a mut Domain, name: &str) -> ApiResult<&'a mut UserProfile> {
    member::find_in(domain, name)
}

pub fn create(state: &mut State, scope: &Scope, now: Millis, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    input.name_req("UserProfileName")?;
    let sso_id = input.str_opt("SingleSignOnUserIdentifier")?;
    let sso_value = input.str_opt("SingleSignOnUserValue")?;
    if let Some(us) = input.obj_opt("UserSettings")? {
        check_user_settings(us, "userSettings", false)?;
    }
    let check_sso = |domain: &mut Domain| match (domain.auth_mode(), sso_id.is_some() || sso_value.is_some()) {
        ("SSO", false) => Err(ApiError::validation(
            "SingleSignOnUserIdentifier and SingleSignOnUserValue are required for a UserProfile in a Domain with AuthMode SSO.",
        )),
        ("SSO", true) if sso_id.is_none() || sso_value.is_none() => Err(ApiError::validation(
            "SingleSignOnUserIdentifier and SingleSignOnUserValue must be specified together.",
        )),
        ("IAM", true) => Err(ApiError::validation(
            "SingleSignOnUserIdentifier and SingleSignOnUserValue can only be specified for a Domain with AuthMode SSO.",
        )),
        _ => Ok(()),
    };
    let fields = ProfileFields {
        sso_identifier: sso_id.map(String::from),
        sso_value: sso_value.map(String::from),
    };
    let settings = input.raw("UserSettings").cloned();
    member::create(state, scope, now, &input, check_sso, |_, _| (fields, settings))
}

pub fn describe(state: &mut State, scope: &Scope, body: &Value) -> ApiResult<Value> {
    member::describe::<ProfileFields>(state, scope, body)
}

pub fn update(state: &mut State, scope: &Scope, now: Millis, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    input.str_req("UserProfileName")?;
    if let Some(us) = input.obj_opt("UserSettings")? {
        check_user_settings(us, "userSettings", false)?;
    }
    member::update::<ProfileFields>(state, scope, now, &input, |_| {})
}

/// Besides running apps, any space the profile owns blocks its deletion.
pub fn delete(state: &mut State, scope: &Scope, now: Millis, body: &Value) -> ApiResult<Value> {
    member::delete::<ProfileFields>(state, scope, now, body, |domain, profile| {
        domain
            .spaces
            .iter()
            .any(|s| s.owner().is_some_and(|o| o.eq_ignore_ascii_case(&profile.name)))
            .then(|| {
                ApiError::in_use(format!(
                    "Unable to delete UserProfile [{}] because Space(s) are associated with it.",
                    profile.arn
                ))
            })
    })
}

pub fn list(state: &mut State, scope: &Scope, body: &Value) -> ApiResult<Value> {
    member::list::<ProfileFields>(state, scope, body)
}
