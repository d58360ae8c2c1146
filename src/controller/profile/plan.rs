//! The profile's rules, as pure functions: its name and tags, which identity its domain
//! requires, what UpdateUserProfile must change, and what forces a recreation.

use std::collections::BTreeMap;

use crate::api::{AuthMode, SsoIdentity, UserProfileSpec, UserProfileStatus};
use crate::aws::model::{AppSummary, ObservedProfile, ProfileCreate, SsoUser, UserSettings};
use crate::controller::settings;

/// Tag that lets IAM policies stop users from opening each other's profiles (whitepaper).
pub const USER_ID_TAG: &str = "studiouserid";

/// `UserProfileName`: `spec.userProfileName`, or the resource's name.
pub fn profile_name(spec: &UserProfileSpec, metadata_name: &str) -> String {
    spec.user_profile_name
        .clone()
        .unwrap_or_else(|| metadata_name.to_string())
}

/// Why the spec's identity does not fit the domain (condition reason and message), if it does not.
pub fn identity_problem(auth_mode: AuthMode, sso: Option<&SsoIdentity>) -> Option<(&'static str, String)> {
    match (auth_mode, sso) {
        (AuthMode::Sso, None) => Some((
            "SsoIdentityRequired",
            "the domain signs users in with IAM Identity Center (authMode SSO): set spec.sso.userValue to the user's IAM Identity Center user name".into(),
        )),
        (AuthMode::Iam, Some(_)) => Some((
            "SsoNotAllowed",
            "the domain uses IAM authentication: remove spec.sso (it applies to SSO domains only)".into(),
        )),
        _ => None,
    }
}

/// User tags, `studiouserid` unless turned off, and the ownership tags.
pub fn desired_tags(
    spec: &UserProfileSpec,
    name: &str,
    ownership: BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut tags = spec.tags.clone();
    if spec.tag_user_id {
        tags.insert(USER_ID_TAG.into(), name.into());
    }
    tags.extend(ownership);
    tags
}

/// What CreateUserProfile sends.
pub fn desired_profile(spec: &UserProfileSpec, name: String, tags: BTreeMap<String, String>) -> ProfileCreate {
    ProfileCreate {
        name,
        sso: spec.sso.as_ref().map(|sso| SsoUser {
            identifier: sso.user_identifier.clone(),
            value: sso.user_value.clone(),
        }),
        settings: settings::user_settings(&spec.user_settings.clone().unwrap_or_default(), None),
        tags,
    }
}

/// What cannot change in place: the SSO identity (the name is handled by [`renamed_from`]).
pub fn recreation_reasons(desired: &ProfileCreate, observed: &ObservedProfile) -> Vec<&'static str> {
    let wanted = desired.sso.as_ref().map(|s| s.value.as_str());
    if wanted != observed.sso_user_value.as_deref() {
        vec!["sso.userValue"]
    } else {
        Vec::new()
    }
}

/// The settings members UpdateUserProfile must change. Members the spec leaves out inherit the
/// domain defaults and are not compared (AWS cannot unset them by omission).
pub fn settings_changes(desired: &UserSettings, observed: &UserSettings) -> Vec<&'static str> {
    let mut changes = Vec::new();
    let mut differs = |name, set: bool, same: bool| {
        if set && !same {
            changes.push(name);
        }
    };
    differs(
        "executionRole",
        desired.execution_role.is_some(),
        desired.execution_role == observed.execution_role,
    );
    differs(
        "securityGroups",
        true,
        desired.security_groups == observed.security_groups,
    );
    differs(
        "sharing",
        desired.sharing.is_some(),
        desired.sharing == observed.sharing,
    );
    differs(
        "jupyterLab",
        desired.jupyter_lab.is_some(),
        desired.jupyter_lab == observed.jupyter_lab,
    );
    differs(
        "codeEditor",
        desired.code_editor.is_some(),
        desired.code_editor == observed.code_editor,
    );
    differs(
        "kernelGateway",
        desired.kernel_gateway.is_some(),
        desired.kernel_gateway == observed.kernel_gateway,
    );
    differs(
        "spaceStorage",
        desired.space_storage.is_some(),
        desired.space_storage == observed.space_storage,
    );
    changes
}

/// The name of a profile this resource created under another name in the same domain, which
/// must go before the new one is created.
pub fn renamed_from(status: &UserProfileStatus, domain_id: &str, name: &str) -> Option<String> {
    match (&status.user_profile_name, &status.domain_id) {
        (Some(old), Some(id)) if id == domain_id && old != name => Some(old.clone()),
        _ => None,
    }
}

/// The apps of one profile.
pub fn apps_of<'a>(apps: &'a [AppSummary], profile: &str) -> Vec<&'a AppSummary> {
    apps.iter()
        .filter(|a| a.user_profile.as_deref() == Some(profile) && a.space.is_none())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{DomainRef, JupyterLabSettings, ResourceSpec};

    fn spec() -> UserProfileSpec {
        UserProfileSpec {
            domain_ref: DomainRef {
                name: "platform".into(),
                namespace: None,
            },
            user_profile_name: None,
            sso: None,
            user_settings: None,
            tags: BTreeMap::from([("team".to_string(), "a".to_string())]),
            tag_user_id: true,
            deletion_policy: Default::default(),
            adopt: false,
        }
    }

    fn sso(value: &str) -> SsoIdentity {
        SsoIdentity {
            user_identifier: "UserName".into(),
            user_value: value.into(),
        }
    }

    #[test]
    fn name_defaults_to_the_resource_name() {
        assert_eq!(profile_name(&spec(), "alice"), "alice");
        let renamed = UserProfileSpec {
            user_profile_name: Some("alice-2".into()),
            ..spec()
        };
        assert_eq!(profile_name(&renamed, "alice"), "alice-2");
    }

    #[test]
    fn sso_identity_must_match_the_domains_auth_mode() {
        assert_eq!(identity_problem(AuthMode::Sso, None).unwrap().0, "SsoIdentityRequired");
        assert_eq!(
            identity_problem(AuthMode::Iam, Some(&sso("alice"))).unwrap().0,
            "SsoNotAllowed"
        );
        assert!(identity_problem(AuthMode::Sso, Some(&sso("alice"))).is_none());
        assert!(identity_problem(AuthMode::Iam, None).is_none());
    }

    #[test]
    fn user_id_tag_is_on_by_default_and_can_be_turned_off() {
        let owner = BTreeMap::from([("studio-operator.io/uid".to_string(), "u".to_string())]);
        let tags = desired_tags(&spec(), "alice", owner.clone());
        assert_eq!(tags.get(USER_ID_TAG).map(String::as_str), Some("alice"));
        assert_eq!(tags.get("team").map(String::as_str), Some("a"));
        assert!(tags.contains_key("studio-operator.io/uid"));
        let off = UserProfileSpec {
            tag_user_id: false,
            ..spec()
        };
        assert!(!desired_tags(&off, "alice", owner).contains_key(USER_ID_TAG));
    }

    #[test]
    fn a_changed_sso_identity_forces_recreation() {
        let with = |value: &str| UserProfileSpec {
            sso: Some(sso(value)),
            ..spec()
        };
        let desired = desired_profile(&with("alice@new"), "alice".into(), BTreeMap::new());
        let observed = ObservedProfile {
            sso_user_value: Some("alice@old".into()),
            ..Default::default()
        };
        assert_eq!(recreation_reasons(&desired, &observed), vec!["sso.userValue"]);
        let same = ObservedProfile {
            sso_user_value: Some("alice@new".into()),
            ..Default::default()
        };
        assert!(recreation_reasons(&desired, &same).is_empty());
    }

    #[test]
    fn only_members_the_spec_sets_are_compared() {
        let with_lab = UserProfileSpec {
            user_settings: Some(crate::api::UserSettings {
                jupyter_lab: Some(JupyterLabSettings {
                    default_resource_spec: Some(ResourceSpec {
                        instance_type: Some("ml.m5.large".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..spec()
        };
        let desired = desired_profile(&with_lab, "alice".into(), BTreeMap::new()).settings;
        let drifted = UserSettings {
            execution_role: Some("arn:aws:iam::123456789012:role/Other".into()),
            ..Default::default()
        };
        assert_eq!(settings_changes(&desired, &drifted), vec!["jupyterLab"]);
        assert!(settings_changes(&desired, &desired).is_empty());
        let role = UserSettings {
            execution_role: Some("arn:aws:iam::123456789012:role/Mine".into()),
            ..Default::default()
        };
        assert_eq!(settings_changes(&role, &drifted), vec!["executionRole"]);
    }

    #[test]
    fn a_rename_in_the_same_domain_retires_the_old_name() {
        let status = UserProfileStatus {
            domain_id: Some("d-1".into()),
            user_profile_name: Some("alice".into()),
            ..Default::default()
        };
        assert_eq!(renamed_from(&status, "d-1", "alice-2"), Some("alice".into()));
        assert_eq!(renamed_from(&status, "d-1", "alice"), None);
        assert_eq!(renamed_from(&status, "d-2", "alice-2"), None, "the old domain is gone");
    }

    #[test]
    fn apps_of_a_profile_exclude_its_spaces_apps() {
        let app = |profile: &str, space: Option<&str>| AppSummary {
            user_profile: Some(profile.into()),
            space: space.map(String::from),
            ..Default::default()
        };
        let apps = vec![app("alice", None), app("alice", Some("s")), app("bob", None)];
        assert_eq!(apps_of(&apps, "alice").len(), 1);
    }
}
