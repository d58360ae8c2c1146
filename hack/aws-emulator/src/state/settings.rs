//! Validation of the settings structures that are otherwise stored as sent
//! (UserSettings, SpaceSettings, DomainSettings): only the members whose
//! constraints matter to a client are checked.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::validate::{Input, check_count, check_enum, check_range, check_role_arn, missing};

/// The AppType enum.
pub const APP_TYPES: &[&str] = &[
    "JupyterServer",
    "KernelGateway",
    "DetailedProfiler",
    "TensorBoard",
    "CodeEditor",
    "JupyterLab",
    "RStudioServerPro",
    "RSessionGateway",
    "Canvas",
];

const IDLE_MIN: i64 = 60;
const IDLE_MAX: i64 = 525_600;

/// Validates `AppLifecycleManagement.IdleSettings` inside an app-settings structure.
fn check_idle(settings: &Input<'_>, app_settings: &str) -> ApiResult<()> {
    let Some(app) = settings.obj_opt(app_settings)? else {
        return Ok(());
    };
    let app_path = settings.member(app_settings);
    let app = Input::nested(app, &app_path);
    let Some(alm) = app.obj_opt("AppLifecycleManagement")? else {
        return Ok(());
    };
    let alm_path = app.member("AppLifecycleManagement");
    let alm = Input::nested(alm, &alm_path);
    let Some(idle) = alm.obj_opt("IdleSettings")? else {
        return Ok(());
    };
    let idle_path = alm.member("IdleSettings");
    let idle = Input::nested(idle, &idle_path);
    idle.enum_opt("LifecycleManagement", &["ENABLED", "DISABLED"])?;
    for member in [
        "IdleTimeoutInMinutes",
        "MinIdleTimeoutInMinutes",
        "MaxIdleTimeoutInMinutes",
    ] {
        if let Some(v) = idle.i64_opt(member)? {
            check_range(&idle.member(member), v, IDLE_MIN, IDLE_MAX)?;
        }
    }
    Ok(())
}

/// `SpaceStorageSettings.DefaultEbsStorageSettings`: the default size cannot exceed the maximum.
fn check_default_storage(settings: &Input<'_>) -> ApiResult<()> {
    let Some(storage) = settings.obj_opt("SpaceStorageSettings")? else {
        return Ok(());
    };
    let size = |member: &str| {
        storage
            .get("DefaultEbsStorageSettings")
            .and_then(|d| d.get(member))
            .and_then(Value::as_i64)
    };
    if let (Some(default), Some(maximum)) = (size("DefaultEbsVolumeSizeInGb"), size("MaximumEbsVolumeSizeInGb"))
        && default > maximum
    {
        return Err(ApiError::validation(format!(
            "DefaultEbsVolumeSizeInGb {default} must not exceed MaximumEbsVolumeSizeInGb {maximum}."
        )));
    }
    Ok(())
}

/// `UserSettings` (domain DefaultUserSettings and profile UserSettings).
/// `require_role`: the domain defaults must name an ExecutionRole (as CloudFormation requires).
pub fn check_user_settings(obj: &Map<String, Value>, path: &str, require_role: bool) -> ApiResult<()> {
    let s = Input::nested(obj, path);
    match s.str_opt("ExecutionRole")? {
        Some(role) => check_role_arn(&s.member("ExecutionRole"), role)?,
        None if require_role => return Err(missing(&s.member("ExecutionRole"))),
        None => {}
    }
    if let Some(groups) = s.str_list_opt("SecurityGroups")? {
        check_count(&s.member("SecurityGroups"), groups.len(), 0, 5)?;
    }
    s.enum_opt("StudioWebPortal", &["ENABLED", "DISABLED"])?;
    check_default_storage(&s)?;
    check_idle(&s, "JupyterLabAppSettings")?;
    check_idle(&s, "CodeEditorAppSettings")?;
    Ok(())
}

/// `DefaultSpaceSettings` of a domain.
pub fn check_default_space_settings(obj: &Map<String, Value>, path: &str) -> ApiResult<()> {
    let s = Input::nested(obj, path);
    if let Some(role) = s.str_opt("ExecutionRole")? {
        check_role_arn(&s.member("ExecutionRole"), role)?;
    }
    if let Some(groups) = s.str_list_opt("SecurityGroups")? {
        check_count(&s.member("SecurityGroups"), groups.len(), 0, 5)?;
    }
    check_default_storage(&s)?;
    check_idle(&s, "JupyterLabAppSettings")
}

/// `SpaceSettings`; `AppType` is only accepted at creation.
pub fn check_space_settings(obj: &Map<String, Value>, path: &str) -> ApiResult<()> {
    let s = Input::nested(obj, path);
    s.enum_opt("AppType", APP_TYPES)?;
    if let Some(storage) = s.obj_opt("SpaceStorageSettings")? {
        let storage_path = s.member("SpaceStorageSettings");
        let storage = Input::nested(storage, &storage_path);
        if let Some(ebs) = storage.obj_opt("EbsStorageSettings")? {
            let ebs_path = storage.member("EbsStorageSettings");
            let ebs = Input::nested(ebs, &ebs_path);
            let size = ebs
                .i64_opt("EbsVolumeSizeInGb")?
                .ok_or_else(|| missing(&ebs.member("EbsVolumeSizeInGb")))?;
            check_range(&ebs.member("EbsVolumeSizeInGb"), size, 5, 16_384)?;
        }
    }
    if let Some(fs) = s.arr_opt("CustomFileSystems")? {
        check_count(&s.member("CustomFileSystems"), fs.len(), 0, 5)?;
    }
    s.enum_opt("RemoteAccess", &["ENABLED", "DISABLED"])?;
    s.enum_opt("SpaceManagedResources", &["ENABLED", "DISABLED"])?;
    check_idle(&s, "JupyterLabAppSettings")?;
    check_idle(&s, "CodeEditorAppSettings")
}

/// `DomainSettings` / `DomainSettingsForUpdate`.
pub fn check_domain_settings(obj: &Map<String, Value>, path: &str) -> ApiResult<()> {
    let s = Input::nested(obj, path);
    if let Some(groups) = s.str_list_opt("SecurityGroupIds")? {
        check_count(&s.member("SecurityGroupIds"), groups.len(), 0, 3)?;
    }
    if let Some(v) = s.str_opt("ExecutionRoleIdentityConfig")? {
        check_enum(
            &s.member("ExecutionRoleIdentityConfig"),
            v,
            &["USER_PROFILE_NAME", "DISABLED"],
        )?;
    }
    Ok(())
}

/// How UpdateDomain, UpdateUserProfile and UpdateSpace merge a settings structure of the
/// request into the stored one. How deep AWS merges is unconfirmed, so tests can choose.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateMerge {
    /// A member given in the request replaces the stored member of the same name wholesale;
    /// omitted members are kept.
    #[default]
    Replace,
    /// Objects merge recursively member by member; lists and scalars given replace.
    Deep,
}

/// Merges the settings structure of an Update request into the stored one.
pub fn merge_settings(stored: &mut Value, update: &Map<String, Value>, mode: UpdateMerge) {
    if !stored.is_object() {
        *stored = Value::Object(Map::new());
    }
    let obj = stored.as_object_mut().expect("object");
    for (k, v) in update.iter().filter(|(_, v)| !v.is_null()) {
        match (mode, obj.get_mut(k), v) {
            (UpdateMerge::Deep, Some(existing @ Value::Object(_)), Value::Object(nested)) => {
                merge_settings(existing, nested, mode);
            }
            _ => {
                obj.insert(k.clone(), v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn user_settings() {
        let role = "arn:aws:iam::123456789012:role/Exec";
        assert!(check_user_settings(&obj(json!({"ExecutionRole": role})), "defaultUserSettings", true).is_ok());
        let err = check_user_settings(&obj(json!({})), "defaultUserSettings", true).unwrap_err();
        assert!(err.message.contains("defaultUserSettings.executionRole"));
        let six = json!({"SecurityGroups": ["a", "b", "c", "d", "e", "f"]});
        assert!(check_user_settings(&obj(six), "userSettings", false).is_err());
        let idle = json!({"JupyterLabAppSettings": {"AppLifecycleManagement": {"IdleSettings": {"IdleTimeoutInMinutes": 30}}}});
        let err = check_user_settings(&obj(idle), "userSettings", false).unwrap_err();
        assert!(err.message.contains("idleTimeoutInMinutes"), "{}", err.message);
    }

    #[test]
    fn space_settings() {
        assert!(check_space_settings(&obj(json!({"AppType": "JupyterLab"})), "spaceSettings").is_ok());
        assert!(check_space_settings(&obj(json!({"AppType": "Notebook"})), "spaceSettings").is_err());
        let ebs = json!({"SpaceStorageSettings": {"EbsStorageSettings": {"EbsVolumeSizeInGb": 4}}});
        assert!(check_space_settings(&obj(ebs), "spaceSettings").is_err());
    }

    #[test]
    fn replace_merge_replaces_top_level_members() {
        let mut stored = json!({"ExecutionRole": "r", "JupyterLabAppSettings": {"A": 1, "B": 2}});
        let update = obj(json!({"JupyterLabAppSettings": {"A": 3}}));
        merge_settings(&mut stored, &update, UpdateMerge::Replace);
        assert_eq!(stored, json!({"ExecutionRole": "r", "JupyterLabAppSettings": {"A": 3}}));
    }

    #[test]
    fn deep_merge_merges_objects_and_replaces_lists_and_scalars() {
        let mut stored = json!({
            "ExecutionRole": "r",
            "SecurityGroups": ["sg-1", "sg-2"],
            "JupyterLabAppSettings": {"CustomImages": [{"ImageName": "i"}], "DefaultResourceSpec": {"InstanceType": "a", "LifecycleConfigArn": "l"}},
        });
        let update = obj(json!({
            "SecurityGroups": ["sg-3"],
            "JupyterLabAppSettings": {"DefaultResourceSpec": {"InstanceType": "b"}},
        }));
        merge_settings(&mut stored, &update, UpdateMerge::Deep);
        assert_eq!(
            stored,
            json!({
                "ExecutionRole": "r",
                "SecurityGroups": ["sg-3"],
                "JupyterLabAppSettings": {"CustomImages": [{"ImageName": "i"}], "DefaultResourceSpec": {"InstanceType": "b", "LifecycleConfigArn": "l"}},
            })
        );
    }
}
