//! What AWS should hold, from the spec: the spec's settings as documents keyed by the API's
//! member names (pure), shared by the domain, profile and space controllers. Earlier names and
//! shortcuts are folded first (`effective()`), then the operator's own settings are applied:
//! the domain's `idleShutdown` and the UI restrictions of the covering guardrails.

use std::collections::BTreeSet;

use crate::api::{
    self, AppLifecycleManagement, IdleSettings, LifecycleManagement, SpaceAppType, StudioDomainSpec,
    StudioWebPortalSettings, document,
};
use crate::aws::model::Document;
use crate::compliance::UiRestrictions;

/// The domain's `idleShutdown` as the app settings' `AppLifecycleManagement`.
fn domain_idle(idle: &api::IdleShutdown) -> AppLifecycleManagement {
    AppLifecycleManagement {
        idle_settings: Some(IdleSettings {
            lifecycle_management: Some(if idle.enabled {
                LifecycleManagement::Enabled
            } else {
                LifecycleManagement::Disabled
            }),
            idle_timeout_in_minutes: Some(idle.idle_timeout_minutes),
            min_idle_timeout_in_minutes: idle.min_idle_timeout_minutes,
            max_idle_timeout_in_minutes: idle.max_idle_timeout_minutes,
        }),
    }
}

/// Hides what the guardrails forbid in the Studio UI: `always` at domain level; at profile level
/// only where the profile sets its own lists (otherwise the domain's apply). A spec that hides
/// more keeps what it hides.
fn restrict_ui(settings: &mut api::UserSettings, ui: &UiRestrictions, always: bool) {
    if ui.is_empty() {
        return;
    }
    let portal = settings
        .studio_web_portal_settings
        .get_or_insert_with(StudioWebPortalSettings::default);
    fn union<T: Ord + Copy>(own: &mut Option<Vec<T>>, forbidden: &BTreeSet<T>, always: bool) {
        if forbidden.is_empty() || (own.is_none() && !always) {
            return;
        }
        let mut hidden: BTreeSet<T> = own.iter().flatten().copied().collect();
        hidden.extend(forbidden);
        *own = Some(hidden.into_iter().collect());
    }
    union(&mut portal.hidden_instance_types, &ui.hidden_instance_types, always);
    union(&mut portal.hidden_app_types, &ui.hidden_app_types, always);
    if settings.studio_web_portal_settings == Some(StudioWebPortalSettings::default()) {
        settings.studio_web_portal_settings = None;
    }
}

/// `DefaultUserSettings` of a domain.
pub fn default_user_settings(spec: &StudioDomainSpec, ui: &UiRestrictions) -> Document {
    let mut settings = spec.default_user_settings.effective();
    if let Some(idle) = &spec.idle_shutdown {
        settings
            .jupyter_lab_app_settings
            .get_or_insert_default()
            .app_lifecycle_management = Some(domain_idle(idle));
        settings
            .code_editor_app_settings
            .get_or_insert_default()
            .app_lifecycle_management = Some(domain_idle(idle));
    }
    restrict_ui(&mut settings, ui, true);
    document(&settings)
}

/// `DefaultSpaceSettings` of a domain (JupyterLab gets the domain's idle shutdown; AWS has no
/// Code Editor defaults for spaces).
pub fn default_space_settings(spec: &StudioDomainSpec) -> Document {
    let mut settings = spec
        .default_space_settings
        .as_ref()
        .map(api::DefaultSpaceSettings::effective)
        .unwrap_or_default();
    if let Some(idle) = &spec.idle_shutdown {
        settings
            .jupyter_lab_app_settings
            .get_or_insert_default()
            .app_lifecycle_management = Some(domain_idle(idle));
    }
    document(&settings)
}

/// `DomainSettings` of a domain: `domainSettings` with the security groups of `network` and the
/// execution role identity.
pub fn domain_settings(spec: &StudioDomainSpec) -> Document {
    let mut settings = spec.domain_settings.as_ref().map(document).unwrap_or_default();
    if !spec.network.security_group_ids.is_empty() {
        settings.insert(
            "SecurityGroupIds".into(),
            spec.network.security_group_ids.clone().into(),
        );
    }
    let identity = match spec.execution_role_identity {
        api::ExecutionRoleIdentity::UserProfileName => "USER_PROFILE_NAME",
        api::ExecutionRoleIdentity::Disabled => "DISABLED",
    };
    settings.insert("ExecutionRoleIdentityConfig".into(), identity.into());
    settings
}

/// `UserSettings` of a profile.
pub fn user_settings(spec: Option<&api::UserSettings>, ui: &UiRestrictions) -> Document {
    let mut settings = spec.map(api::UserSettings::effective).unwrap_or_default();
    restrict_ui(&mut settings, ui, false);
    document(&settings)
}

/// `SpaceSettings` of a space running `app_type`, with its `AppType`.
pub fn space_settings(app_type: SpaceAppType, spec: Option<&api::SpaceSettings>) -> Document {
    let mut settings = spec.map(|s| document(&s.effective(app_type))).unwrap_or_default();
    let app_type = match app_type {
        SpaceAppType::JupyterLab => "JupyterLab",
        SpaceAppType::CodeEditor => "CodeEditor",
    };
    settings.insert("AppType".into(), app_type.into());
    settings
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::api::{AppInstanceType, AppType};

    fn spec(extra: Value) -> StudioDomainSpec {
        let mut spec = json!({
            "aws": {"region": "us-east-1"},
            "network": {"vpcId": "vpc-0a1b2c3d", "subnetIds": ["subnet-1111aaaa"], "securityGroupIds": ["sg-0a1b2c3d"]},
            "encryption": {"kmsKeyId": "alias/studio"},
            "defaultUserSettings": {"executionRole": "arn:aws:iam::123456789012:role/x"},
        });
        for (k, v) in extra.as_object().unwrap() {
            spec[k] = v.clone();
        }
        serde_json::from_value(spec).unwrap()
    }

    #[test]
    fn domain_idle_reaches_both_app_types_and_the_space_defaults() {
        let spec = spec(json!({"idleShutdown": {"idleTimeoutMinutes": 120, "maxIdleTimeoutMinutes": 480}}));
        let idle = json!({"IdleSettings": {"LifecycleManagement": "ENABLED", "IdleTimeoutInMinutes": 120, "MaxIdleTimeoutInMinutes": 480}});
        let users = default_user_settings(&spec, &UiRestrictions::default());
        assert_eq!(users["JupyterLabAppSettings"]["AppLifecycleManagement"], idle);
        assert_eq!(users["CodeEditorAppSettings"]["AppLifecycleManagement"], idle);
        assert_eq!(
            default_space_settings(&spec)["JupyterLabAppSettings"]["AppLifecycleManagement"],
            idle
        );
    }

    #[test]
    fn domain_settings_carry_the_network_groups_and_the_role_identity() {
        let spec = spec(json!({"domainSettings": {"dockerSettings": {"enableDockerAccess": "DISABLED"}}}));
        assert_eq!(
            Value::Object(domain_settings(&spec)),
            json!({
                "DockerSettings": {"EnableDockerAccess": "DISABLED"},
                "SecurityGroupIds": ["sg-0a1b2c3d"],
                "ExecutionRoleIdentityConfig": "DISABLED",
            })
        );
        assert_eq!(default_space_settings(&spec), Document::new());
    }

    #[test]
    fn the_ui_hides_what_guardrails_forbid_and_what_the_spec_hides() {
        let ui = UiRestrictions {
            hidden_instance_types: BTreeSet::from([AppInstanceType::MlP4d24xlarge]),
            hidden_app_types: BTreeSet::from([AppType::Canvas]),
        };
        let spec = spec(json!({"defaultUserSettings": {
            "executionRole": "arn:aws:iam::123456789012:role/x",
            "studioWebPortalSettings": {"hiddenInstanceTypes": ["ml.g5.xlarge"], "hiddenMlTools": ["Comet"]},
        }}));
        let portal = &default_user_settings(&spec, &ui)["StudioWebPortalSettings"];
        assert_eq!(
            portal["HiddenInstanceTypes"],
            json!(["ml.g5.xlarge", "ml.p4d.24xlarge"])
        );
        assert_eq!(portal["HiddenAppTypes"], json!(["Canvas"]));
        assert_eq!(portal["HiddenMlTools"], json!(["Comet"]));
        assert!(
            !user_settings(None, &ui).contains_key("StudioWebPortalSettings"),
            "a profile that hides nothing itself inherits the domain's"
        );
        let own: api::UserSettings =
            serde_json::from_value(json!({"studioWebPortalSettings": {"hiddenInstanceTypes": []}})).unwrap();
        assert_eq!(
            user_settings(Some(&own), &ui)["StudioWebPortalSettings"]["HiddenInstanceTypes"],
            json!(["ml.p4d.24xlarge"]),
            "a profile's own list cannot show what the guardrails forbid"
        );
        assert!(
            !default_user_settings(&spec, &UiRestrictions::default())["StudioWebPortalSettings"]
                .as_object()
                .unwrap()
                .contains_key("HiddenAppTypes")
        );
    }

    #[test]
    fn space_settings_carry_the_app_type() {
        let settings: api::SpaceSettings = serde_json::from_value(json!({"idleTimeoutMinutes": 120})).unwrap();
        let doc = space_settings(SpaceAppType::CodeEditor, Some(&settings));
        assert_eq!(doc["AppType"], "CodeEditor");
        assert_eq!(
            doc["CodeEditorAppSettings"]["AppLifecycleManagement"]["IdleSettings"]["IdleTimeoutInMinutes"],
            120
        );
        assert_eq!(
            Value::Object(space_settings(SpaceAppType::JupyterLab, None)),
            json!({"AppType": "JupyterLab"})
        );
    }
}
