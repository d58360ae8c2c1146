//! Generic request validation driven by the SageMaker service model: the request shapes of the
//! emulated operations, extracted from botocore by `model/extract.py` into
//! `model/sagemaker.json` and compiled in.
//!
//! Like the service, a request is first deserialized against its input shape (a member the
//! shape does not define, or a value of the wrong JSON type, is a `SerializationException`) and
//! then checked against the shape's constraints: required members, string length (in UTF-16
//! units, as Java counts), pattern (matched in full), enum, numeric range, list and map sizes.
//! Every violation is reported in one `ValidationException`, with member paths as the service
//! writes them (`defaultUserSettings.customImages.1.member.imageName`). Rules that span members
//! or resources stay with the operations.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::validate::Violations;

/// The committed extract of the botocore model.
const MODEL_JSON: &str = include_str!("../model/sagemaker.json");

#[derive(Debug, Deserialize)]
struct ServiceModel {
    /// Operation name -> input shape name.
    operations: HashMap<String, String>,
    shapes: HashMap<String, Shape>,
}

#[derive(Debug, Deserialize)]
struct Shape {
    #[serde(rename = "type")]
    kind: String,
    /// Structure members as (name, shape), in model order.
    #[serde(default)]
    members: Vec<(String, String)>,
    #[serde(default)]
    required: Vec<String>,
    min: Option<f64>,
    max: Option<f64>,
    pattern: Option<String>,
    #[serde(default, rename = "enum")]
    allowed: Vec<String>,
    /// List element shape.
    member: Option<String>,
    /// Map key and value shapes.
    key: Option<String>,
    value: Option<String>,
}

static MODEL: LazyLock<ServiceModel> =
    LazyLock::new(|| serde_json::from_str(MODEL_JSON).expect("model/sagemaker.json is valid"));

/// Operations the committed model covers.
pub fn operations() -> impl Iterator<Item = &'static str> {
    MODEL.operations.keys().map(String::as_str)
}

/// Validates a SageMaker request body against the operation's input shape. Operations the
/// model does not cover pass (the operation table answers them).
pub fn validate(operation: &str, body: &Value) -> ApiResult<()> {
    let Some(input) = MODEL.operations.get(operation) else {
        return Ok(());
    };
    let empty = Value::Object(Map::new());
    let body = if body.is_null() { &empty } else { body };
    let mut check = Check::default();
    check.value(input, body, "");
    if let Some(problem) = check.serialization {
        return Err(ApiError::serialization(problem));
    }
    check.violations.into_result("ValidationException")
}

/// How the service names a member in messages: lowerCamelCase, dotted below the top level.
fn member_path(parent: &str, name: &str) -> String {
    let mut chars = name.chars();
    let camel: String = match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    };
    if parent.is_empty() {
        camel
    } else {
        format!("{parent}.{camel}")
    }
}

/// A value as the service shows it in messages (Java's `toString` of the deserialized value).
fn shown(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => format!("[{}]", items.iter().map(shown).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "structure or map",
    }
}

/// One request's walk: the first deserialization problem, and every constraint violation.
#[derive(Default)]
struct Check {
    serialization: Option<String>,
    violations: Violations,
}

impl Check {
    fn mismatch(&mut self, path: &str, expected: &str, value: &Value) {
        self.serialization.get_or_insert_with(|| {
            let at = if path.is_empty() { "request" } else { path };
            format!(
                "Unexpected value type at '{at}': expected {expected}, got {}",
                type_name(value)
            )
        });
    }

    fn value(&mut self, shape_name: &str, value: &Value, path: &str) {
        let Some(shape) = MODEL.shapes.get(shape_name) else {
            return;
        };
        match shape.kind.as_str() {
            "structure" => self.structure(shape_name, shape, value, path),
            "list" => self.list(shape, value, path),
            "map" => self.map(shape, value, path),
            "string" => match value {
                Value::String(s) => self.string(shape, s, path),
                other => self.mismatch(path, "string", other),
            },
            "integer" | "long" => match value.as_i64() {
                Some(n) => self.violations.range(path, n as f64, shape.min, shape.max),
                None => self.mismatch(path, "integer", value),
            },
            "float" | "double" => match value.as_f64() {
                Some(n) => self.violations.range(path, n, shape.min, shape.max),
                None => self.mismatch(path, "number", value),
            },
            "boolean" if !value.is_boolean() => self.mismatch(path, "boolean", value),
            "timestamp" if !value.is_number() => self.mismatch(path, "timestamp (epoch seconds)", value),
            "blob" if !value.is_string() => self.mismatch(path, "base64 string", value),
            _ => {}
        }
    }

    fn structure(&mut self, shape_name: &str, shape: &Shape, value: &Value, path: &str) {
        let Value::Object(obj) = value else {
            self.mismatch(path, "structure", value);
            return;
        };
        if let Some(unknown) = obj.keys().find(|k| !shape.members.iter().any(|(name, _)| name == *k)) {
            self.serialization
                .get_or_insert_with(|| format!("Unknown member '{}' of {shape_name}", member_path(path, unknown)));
        }
        for (name, member_shape) in &shape.members {
            let member = member_path(path, name);
            match obj.get(name).filter(|v| !v.is_null()) {
                Some(v) => self.value(member_shape, v, &member),
                None if shape.required.contains(name) => self.violations.not_null(&member),
                None => {}
            }
        }
    }

    fn list(&mut self, shape: &Shape, value: &Value, path: &str) {
        let Value::Array(items) = value else {
            self.mismatch(path, "list", value);
            return;
        };
        let bounds = (shape.min.map(|m| m as u64), shape.max.map(|m| m as u64));
        self.violations
            .length(path, &shown(value), items.len(), bounds.0, bounds.1);
        if let Some(element) = &shape.member {
            for (i, item) in items.iter().enumerate() {
                self.value(element, item, &format!("{path}.{}.member", i + 1));
            }
        }
    }

    fn map(&mut self, shape: &Shape, value: &Value, path: &str) {
        let Value::Object(entries) = value else {
            self.mismatch(path, "map", value);
            return;
        };
        let bounds = (shape.min.map(|m| m as u64), shape.max.map(|m| m as u64));
        self.violations
            .length(path, &value.to_string(), entries.len(), bounds.0, bounds.1);
        for (k, v) in entries {
            if let Some(key_shape) = &shape.key {
                self.value(key_shape, &Value::String(k.clone()), path);
            }
            if let Some(value_shape) = &shape.value {
                self.value(value_shape, v, &format!("{path}.{k}"));
            }
        }
    }

    fn string(&mut self, shape: &Shape, s: &str, path: &str) {
        let units = s.encode_utf16().count();
        self.violations
            .length(path, s, units, shape.min.map(|m| m as u64), shape.max.map(|m| m as u64));
        if let Some(pattern) = &shape.pattern {
            self.violations.pattern(path, s, pattern);
        }
        if !shape.allowed.is_empty() {
            let allowed: Vec<&str> = shape.allowed.iter().map(String::as_str).collect();
            self.violations.enumeration(path, s, &allowed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ROLE: &str = "arn:aws:iam::123456789012:role/Exec";

    fn domain(extra: Value) -> Value {
        let mut body = json!({
            "DomainName": "studio",
            "AuthMode": "IAM",
            "DefaultUserSettings": {"ExecutionRole": ROLE},
            "SubnetIds": ["subnet-1"],
            "VpcId": "vpc-1",
        });
        crate::state::merge_patch(&mut body, &extra);
        body
    }

    #[test]
    fn every_committed_pattern_compiles() {
        for (name, shape) in &MODEL.shapes {
            if let Some(p) = &shape.pattern {
                assert!(crate::validate::compile_pattern(p).is_ok(), "{name}: {p}");
            }
        }
    }

    #[test]
    fn every_referenced_shape_is_in_the_extract() {
        for (op, input) in &MODEL.operations {
            assert!(MODEL.shapes.contains_key(input), "{op}: {input}");
        }
        for (name, shape) in &MODEL.shapes {
            let refs = shape
                .members
                .iter()
                .map(|(_, s)| s)
                .chain(&shape.member)
                .chain(&shape.key)
                .chain(&shape.value);
            for r in refs {
                assert!(MODEL.shapes.contains_key(r), "{name} -> {r}");
            }
        }
    }

    #[test]
    fn valid_requests_pass() {
        assert!(validate("CreateDomain", &domain(json!({}))).is_ok());
        assert!(validate("ListDomains", &Value::Null).is_ok());
        assert!(validate("NotModelled", &json!({"x": 1})).is_ok());
    }

    #[test]
    fn unknown_members_and_wrong_types_are_serialization_errors() {
        let err = validate("CreateDomain", &domain(json!({"Colour": "blue"}))).unwrap_err();
        assert_eq!(err.code, "SerializationException");
        assert!(err.message.contains("'colour'"), "{}", err.message);
        let nested = json!({"DefaultUserSettings": {"JupyterLabAppSettings": {"Bogus": 1}}});
        let err = validate("CreateDomain", &domain(nested)).unwrap_err();
        assert!(
            err.message.contains("defaultUserSettings.jupyterLabAppSettings.bogus"),
            "{}",
            err.message
        );
        let err = validate("CreateDomain", &domain(json!({"SubnetIds": "subnet-1"}))).unwrap_err();
        assert_eq!(err.code, "SerializationException");
        let err = validate("ListDomains", &json!({"MaxResults": "10"})).unwrap_err();
        assert_eq!(err.code, "SerializationException");
    }

    #[test]
    fn constraints_are_reported_together_with_service_paths() {
        let body = domain(json!({
            "DomainName": "bad_name",
            "AuthMode": "LDAP",
            "DefaultUserSettings": {
                "ExecutionRole": ROLE,
                "SecurityGroups": ["a", "b", "c", "d", "e", "f"],
                "JupyterLabAppSettings": {"CustomImages": [{"ImageName": "ok"}]},
            },
        }));
        let err = validate("CreateDomain", &body).unwrap_err();
        assert_eq!(err.code, "ValidationException");
        assert!(
            err.message.starts_with("4 validation errors detected: "),
            "{}",
            err.message
        );
        for fragment in [
            "Value 'bad_name' at 'domainName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}",
            "Value 'LDAP' at 'authMode' failed to satisfy constraint: Member must satisfy enum value set: [SSO, IAM]",
            "Value '[a, b, c, d, e, f]' at 'defaultUserSettings.securityGroups' failed to satisfy constraint: Member must have length less than or equal to 5",
            "Value null at 'defaultUserSettings.jupyterLabAppSettings.customImages.1.member.appImageConfigName' failed to satisfy constraint: Member must not be null",
        ] {
            assert!(err.message.contains(fragment), "{fragment}\n{}", err.message);
        }
    }

    #[test]
    fn settings_members_are_checked_deep_down() {
        let idle = json!({"DomainId": "d-abc", "UserProfileName": "p", "UserSettings": {"JupyterLabAppSettings": {
            "AppLifecycleManagement": {"IdleSettings": {"IdleTimeoutInMinutes": 30, "LifecycleManagement": "ON"}}}}});
        let err = validate("UpdateUserProfile", &idle).unwrap_err();
        assert!(
            err.message.starts_with("2 validation errors detected"),
            "{}",
            err.message
        );
        assert!(err.message.contains("at 'userSettings.jupyterLabAppSettings.appLifecycleManagement.idleSettings.idleTimeoutInMinutes' failed to satisfy constraint: Member must have value greater than or equal to 60"));
        let portal = json!({"DomainId": "d-abc", "UserProfileName": "p", "UserSettings": {
            "StudioWebPortalSettings": {"HiddenAppTypes": ["Notebook"]}}});
        let err = validate("UpdateUserProfile", &portal).unwrap_err();
        assert!(
            err.message
                .contains("'userSettings.studioWebPortalSettings.hiddenAppTypes.1.member'"),
            "{}",
            err.message
        );
        let lcc = json!({"StudioLifecycleConfigName": "x", "StudioLifecycleConfigContent": "ZWNobw==",
            "StudioLifecycleConfigAppType": "VSCode"});
        assert!(validate("CreateStudioLifecycleConfig", &lcc).is_err());
        let too_long = json!({"StudioLifecycleConfigName": "x", "StudioLifecycleConfigContent": "A".repeat(16_385),
            "StudioLifecycleConfigAppType": "JupyterLab"});
        let err = validate("CreateStudioLifecycleConfig", &too_long).unwrap_err();
        assert!(
            err.message
                .contains("Member must have length less than or equal to 16384")
        );
    }

    #[test]
    fn ranges_and_required_members() {
        let err = validate("DeleteDomain", &json!({})).unwrap_err();
        assert!(err.message.contains("Value null at 'domainId'"));
        let body = json!({"DomainId": "d-abc", "SpaceName": "s", "SpaceSettings": {
            "SpaceStorageSettings": {"EbsStorageSettings": {"EbsVolumeSizeInGb": 4}}}});
        let err = validate("CreateSpace", &body).unwrap_err();
        assert!(
            err.message.contains("Value '4' at 'spaceSettings.spaceStorageSettings.ebsStorageSettings.ebsVolumeSizeInGb' failed to satisfy constraint: Member must have value greater than or equal to 5"),
            "{}",
            err.message
        );
    }
}
