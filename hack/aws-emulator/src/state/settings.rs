//! Rules for the settings structures (UserSettings, DefaultSpaceSettings, SpaceSettings,
//! DomainSettings) that the service model cannot express; types, enums, lengths, patterns and
//! ranges of every member are checked from the model (`model.rs`) before these run. Also how
//! Update operations merge settings into the stored ones.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::validate::{Input, missing};

/// The AppType enum (CreateApp reads it; apps launched through the control API are checked
/// against it too).
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

/// `SpaceStorageSettings.DefaultEbsStorageSettings`: the default size cannot exceed the maximum.
fn check_default_storage(settings: &Map<String, Value>) -> ApiResult<()> {
    let size = |member: &str| {
        settings
            .get("SpaceStorageSettings")
            .and_then(|s| s.get("DefaultEbsStorageSettings"))
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
/// `require_role`: the domain defaults must name an ExecutionRole (as CloudFormation requires;
/// the model does not).
pub fn check_user_settings(obj: &Map<String, Value>, path: &str, require_role: bool) -> ApiResult<()> {
    let s = Input::nested(obj, path);
    if require_role && s.str_opt("ExecutionRole")?.is_none() {
        return Err(missing(&s.member("ExecutionRole")));
    }
    check_default_storage(obj)
}

/// `DefaultSpaceSettings` of a domain.
pub fn check_default_space_settings(obj: &Map<String, Value>) -> ApiResult<()> {
    check_default_storage(obj)
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
    fn domain_defaults_need_an_execution_role() {
        let role = "arn:aws:iam::123456789012:role/Exec";
        assert!(check_user_settings(&obj(json!({"ExecutionRole": role})), "defaultUserSettings", true).is_ok());
        let err = check_user_settings(&obj(json!({})), "defaultUserSettings", true).unwrap_err();
        assert!(err.message.contains("defaultUserSettings.executionRole"));
        assert!(check_user_settings(&obj(json!({})), "userSettings", false).is_ok());
    }

    #[test]
    fn default_storage_within_its_maximum() {
        let storage = |d: i64, m: i64| {
            obj(json!({"SpaceStorageSettings": {"DefaultEbsStorageSettings": {
                "DefaultEbsVolumeSizeInGb": d, "MaximumEbsVolumeSizeInGb": m}}}))
        };
        assert!(check_default_space_settings(&storage(10, 10)).is_ok());
        assert!(check_default_space_settings(&storage(11, 10)).is_err());
        assert!(check_user_settings(&storage(11, 10), "userSettings", false).is_err());
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
