//! What AWS should hold, from the spec: the spec's settings as documents keyed by the API's
//! member names (pure), shared by the domain, profile and space controllers. Earlier names and
//! shortcuts are folded first (`effective()`), then the operator's own settings are applied:
//! the domain's `idleShutdown` and the UI restrictions of the covering guardrails.

use std::collections::BTreeSet;

use super::catalog::Resolution;
use crate::api::{
    self, AppLifecycleManagement, CustomImage, IdleSettings, LifecycleConfigRef, LifecycleManagement, ResourceSpec,
    SpaceAppType, StudioDomainSpec, StudioWebPortalSettings, document,
};
use crate::aws::model::Document;
use crate::compliance::UiRestrictions;

/// One app's lifecycle configurations by name: each resolved ARN joins the ARN list, and the
/// `default` one becomes the default unless the spec names a default ARN itself.
fn resolve_lifecycle(
    named: &mut Option<Vec<LifecycleConfigRef>>,
    arns: &mut Option<Vec<String>>,
    default: &mut Option<ResourceSpec>,
    resolved: &Resolution,
) {
    for reference in named.take().into_iter().flatten() {
        let Some(arn) = resolved.lifecycle_configs.get(&reference.name) else {
            continue;
        };
        let list = arns.get_or_insert_default();
        if !list.contains(arn) {
            list.push(arn.clone());
        }
        if reference.default == Some(true) {
            default
                .get_or_insert_default()
                .lifecycle_config_arn
                .get_or_insert_with(|| arn.clone());
        }
    }
}

/// One app's custom images by `imageRef`: the names AWS expects, from the StudioImage.
fn resolve_images(images: &mut Option<Vec<CustomImage>>, resolved: &Resolution) {
    for image in images.iter_mut().flatten() {
        if let Some((name, config)) = image.image_ref.take().and_then(|r| resolved.images.get(&r)) {
            image.image_name = name.clone();
            image.app_image_config_name = config.clone();
        }
    }
}

/// Resolves the references of every app's settings that can hold them.
macro_rules! resolve_apps {
    ($settings:expr, $resolved:expr; lifecycle: $($lifecycle:ident),*; images: $($images:ident),*) => {{
        $(if let Some(app) = $settings.$lifecycle.as_mut() {
            resolve_lifecycle(&mut app.lifecycle_configs, &mut app.lifecycle_config_arns, &mut app.default_resource_spec, $resolved);
        })*
        $(if let Some(app) = $settings.$images.as_mut() {
            resolve_images(&mut app.custom_images, $resolved);
        })*
    }};
}

fn resolve_user(settings: &mut api::UserSettings, resolved: &Resolution) {
    resolve_apps!(settings, resolved;
        lifecycle: jupyter_server_app_settings, kernel_gateway_app_settings, jupyter_lab_app_settings, code_editor_app_settings;
        images: kernel_gateway_app_settings, jupyter_lab_app_settings, code_editor_app_settings, r_session_app_settings);
}

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
pub fn default_user_settings(spec: &StudioDomainSpec, ui: &UiRestrictions, resolved: &Resolution) -> Document {
    let mut settings = spec.default_user_settings.effective();
    resolve_user(&mut settings, resolved);
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
pub fn default_space_settings(spec: &StudioDomainSpec, resolved: &Resolution) -> Document {
    let mut settings = spec
        .default_space_settings
        .as_ref()
        .map(api::DefaultSpaceSettings::effective)
        .unwrap_or_default();
    resolve_apps!(settings, resolved;
        lifecycle: jupyter_server_app_settings, kernel_gateway_app_settings, jupyter_lab_app_settings;
        images: kernel_gateway_app_settings, jupyter_lab_app_settings);
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
pub fn user_settings(spec: Option<&api::UserSettings>, ui: &UiRestrictions, resolved: &Resolution) -> Document {
    let mut settings = spec.map(api::UserSettings::effective).unwrap_or_default();
    resolve_user(&mut settings, resolved);
    restrict_ui(&mut settings, ui, false);
    document(&settings)
}

/// `SpaceSettings` of a space running `app_type`, with its `AppType`.
pub fn space_settings(app_type: SpaceAppType, spec: Option<&api::SpaceSettings>, resolved: &Resolution) -> Document {
    let mut settings = spec
        .map(|s| {
            let mut settings = s.effective(app_type);
            resolve_apps!(settings, resolved;
                lifecycle: jupyter_server_app_settings, kernel_gateway_app_settings;
                images: kernel_gateway_app_settings);
            document(&settings)
        })
        .unwrap_or_default();
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

    fn none() -> Resolution {
        Resolution::default()
    }

    #[test]
    fn references_become_arns_and_image_names_and_the_default_configuration() {
        let resolved = Resolution {
            lifecycle_configs: [("pip".to_string(), "arn:lcc/pip-1".to_string())].into(),
            images: [(
                "torch".to_string(),
                ("team-torch".to_string(), "team-torch".to_string()),
            )]
            .into(),
        };
        let own: api::UserSettings = serde_json::from_value(json!({"jupyterLabAppSettings": {
            "lifecycleConfigArns": ["arn:lcc/console"],
            "lifecycleConfigs": [{"name": "pip", "default": true}],
            "customImages": [{"imageRef": "torch"}, {"imageName": "raw", "appImageConfigName": "raw-config"}],
        }}))
        .unwrap();
        let lab = &user_settings(Some(&own), &UiRestrictions::default(), &resolved)["JupyterLabAppSettings"];
        assert_eq!(lab["LifecycleConfigArns"], json!(["arn:lcc/console", "arn:lcc/pip-1"]));
        assert_eq!(lab["DefaultResourceSpec"]["LifecycleConfigArn"], "arn:lcc/pip-1");
        assert_eq!(
            lab["CustomImages"],
            json!([
                {"ImageName": "team-torch", "AppImageConfigName": "team-torch"},
                {"ImageName": "raw", "AppImageConfigName": "raw-config"},
            ])
        );
    }

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
        let users = default_user_settings(&spec, &UiRestrictions::default(), &none());
        assert_eq!(users["JupyterLabAppSettings"]["AppLifecycleManagement"], idle);
        assert_eq!(users["CodeEditorAppSettings"]["AppLifecycleManagement"], idle);
        assert_eq!(
            default_space_settings(&spec, &none())["JupyterLabAppSettings"]["AppLifecycleManagement"],
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
        assert_eq!(default_space_settings(&spec, &none()), Document::new());
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
        let portal = &default_user_settings(&spec, &ui, &none())["StudioWebPortalSettings"];
        assert_eq!(
            portal["HiddenInstanceTypes"],
            json!(["ml.g5.xlarge", "ml.p4d.24xlarge"])
        );
        assert_eq!(portal["HiddenAppTypes"], json!(["Canvas"]));
        assert_eq!(portal["HiddenMlTools"], json!(["Comet"]));
        assert!(
            !user_settings(None, &ui, &none()).contains_key("StudioWebPortalSettings"),
            "a profile that hides nothing itself inherits the domain's"
        );
        let own: api::UserSettings =
            serde_json::from_value(json!({"studioWebPortalSettings": {"hiddenInstanceTypes": []}})).unwrap();
        assert_eq!(
            user_settings(Some(&own), &ui, &none())["StudioWebPortalSettings"]["HiddenInstanceTypes"],
            json!(["ml.p4d.24xlarge"]),
            "a profile's own list cannot show what the guardrails forbid"
        );
        assert!(
            !default_user_settings(&spec, &UiRestrictions::default(), &none())["StudioWebPortalSettings"]
                .as_object()
                .unwrap()
                .contains_key("HiddenAppTypes")
        );
    }

    #[test]
    fn space_settings_carry_the_app_type() {
        let settings: api::SpaceSettings = serde_json::from_value(json!({"idleTimeoutMinutes": 120})).unwrap();
        let doc = space_settings(SpaceAppType::CodeEditor, Some(&settings), &none());
        assert_eq!(doc["AppType"], "CodeEditor");
        assert_eq!(
            doc["CodeEditorAppSettings"]["AppLifecycleManagement"]["IdleSettings"]["IdleTimeoutInMinutes"],
            120
        );
        assert_eq!(
            Value::Object(space_settings(SpaceAppType::JupyterLab, None, &none())),
            json!({"AppType": "JupyterLab"})
        );
    }
}
