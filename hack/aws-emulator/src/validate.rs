//! Input validation in the service's own words.
//!
//! SageMaker reports constraint violations as `ValidationException` with
//! "1 validation error detected: Value 'x' at 'memberName' failed to satisfy
//! constraint: ...", naming the member in lowerCamelCase; type mismatches are
//! `SerializationException`. These helpers reproduce both.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};

/// Pattern shared by DomainName, UserProfileName, SpaceName, AppName and
/// StudioLifecycleConfigName.
pub const NAME_PATTERN: &str = "[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}";

/// Read-only view of a request body (or nested structure) with typed getters.
#[derive(Clone, Copy)]
pub struct Input<'a> {
    obj: &'a Map<String, Value>,
    path: &'a str,
}

static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);

impl<'a> Input<'a> {
    /// Wraps a request body; anything but an object (e.g. an empty body) reads as `{}`.
    pub fn new(body: &'a Value) -> Self {
        Self {
            obj: body.as_object().unwrap_or(&EMPTY),
            path: "",
        }
    }

    pub fn raw(&self, name: &str) -> Option<&'a Value> {
        self.obj.get(name).filter(|v| !v.is_null())
    }

    /// Member name as the service prints it: lowerCamelCase, dotted for nesting.
    pub fn member(&self, name: &str) -> String {
        let mut chars = name.chars();
        let camel = match chars.next() {
            Some(c) => c.to_lowercase().chain(chars).collect::<String>(),
            None => String::new(),
        };
        if self.path.is_empty() {
            camel
        } else {
            format!("{}.{camel}", self.path)
        }
    }

    pub fn str_opt(&self, name: &str) -> ApiResult<Option<&'a str>> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(type_error(name, "string")),
        }
    }

    pub fn str_req(&self, name: &str) -> ApiResult<&'a str> {
        self.str_opt(name)?.ok_or_else(|| missing(&self.member(name)))
    }

    pub fn i64_opt(&self, name: &str) -> ApiResult<Option<i64>> {
        match self.raw(name) {
            None => Ok(None),
            Some(v) => v.as_i64().map(Some).ok_or_else(|| type_error(name, "integer")),
        }
    }

    pub fn f64_opt(&self, name: &str) -> ApiResult<Option<f64>> {
        match self.raw(name) {
            None => Ok(None),
            Some(v) => v.as_f64().map(Some).ok_or_else(|| type_error(name, "number")),
        }
    }

    pub fn bool_opt(&self, name: &str) -> ApiResult<Option<bool>> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(type_error(name, "boolean")),
        }
    }

    pub fn arr_opt(&self, name: &str) -> ApiResult<Option<&'a Vec<Value>>> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(_) => Err(type_error(name, "list")),
        }
    }

    /// A list of strings (SubnetIds, TagKeys, ...).
    pub fn str_list_opt(&self, name: &str) -> ApiResult<Option<Vec<&'a str>>> {
        let Some(items) = self.arr_opt(name)? else {
            return Ok(None);
        };
        items
            .iter()
            .map(|v| v.as_str().ok_or_else(|| type_error(name, "string")))
            .collect::<ApiResult<Vec<_>>>()
            .map(Some)
    }

    pub fn obj_opt(&self, name: &str) -> ApiResult<Option<&'a Map<String, Value>>> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::Object(o)) => Ok(Some(o)),
            Some(_) => Err(type_error(name, "structure")),
        }
    }

    /// Nested structure with a member path for messages; the `path` string is
    /// owned by the caller so views can be borrowed cheaply.
    pub fn nested(obj: &'a Map<String, Value>, path: &'a str) -> Self {
        Self { obj, path }
    }

    /// Enum-valued optional member.
    pub fn enum_opt(&self, name: &str, allowed: &[&str]) -> ApiResult<Option<&'a str>> {
        let v = self.str_opt(name)?;
        if let Some(v) = v {
            check_enum(&self.member(name), v, allowed)?;
        }
        Ok(v)
    }

    /// Enum-valued required member.
    pub fn enum_req(&self, name: &str, allowed: &[&str]) -> ApiResult<&'a str> {
        let v = self.str_req(name)?;
        check_enum(&self.member(name), v, allowed)?;
        Ok(v)
    }

    /// Required resource name matching [`NAME_PATTERN`].
    pub fn name_req(&self, name: &str) -> ApiResult<&'a str> {
        let v = self.str_req(name)?;
        check_name(&self.member(name), v)?;
        Ok(v)
    }
}

fn type_error(name: &str, expected: &str) -> ApiError {
    ApiError::serialization(format!("Unexpected value type for member {name}: expected {expected}"))
}

fn constraint(member: &str, value: &str, rule: &str) -> ApiError {
    ApiError::validation(format!(
        "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {rule}"
    ))
}

/// Constraint violations of one request, reported together as the services do:
/// "2 validation errors detected: Value 'x' at 'a' failed to satisfy constraint: ...; Value ...".
#[derive(Debug, Default)]
pub struct Violations(Vec<String>);

impl Violations {
    /// `value` is shown as the service shows it (`null` for a missing member).
    pub fn add(&mut self, member: &str, value: Option<&str>, rule: &str) {
        let value = value.map_or_else(|| "null".to_string(), |v| format!("'{v}'"));
        self.0.push(format!(
            "Value {value} at '{member}' failed to satisfy constraint: {rule}"
        ));
    }

    pub fn not_null(&mut self, member: &str) {
        self.add(member, None, "Member must not be null");
    }

    /// Length bounds of a string (in characters) or of a list/map (`shown` renders the value).
    pub fn length(&mut self, member: &str, shown: &str, len: usize, min: Option<u64>, max: Option<u64>) {
        if let Some(min) = min.filter(|m| (len as u64) < *m) {
            self.add(
                member,
                Some(shown),
                &format!("Member must have length greater than or equal to {min}"),
            );
        }
        if let Some(max) = max.filter(|m| (len as u64) > *m) {
            self.add(
                member,
                Some(shown),
                &format!("Member must have length less than or equal to {max}"),
            );
        }
    }

    pub fn range(&mut self, member: &str, value: f64, min: Option<f64>, max: Option<f64>) {
        let shown = if value.fract() == 0.0 {
            format!("{value:.0}")
        } else {
            value.to_string()
        };
        let bound = |b: f64| {
            if b.fract() == 0.0 {
                format!("{b:.0}")
            } else {
                b.to_string()
            }
        };
        if let Some(min) = min.filter(|m| value < *m) {
            self.add(
                member,
                Some(&shown),
                &format!("Member must have value greater than or equal to {}", bound(min)),
            );
        }
        if let Some(max) = max.filter(|m| value > *m) {
            self.add(
                member,
                Some(&shown),
                &format!("Member must have value less than or equal to {}", bound(max)),
            );
        }
    }

    pub fn pattern(&mut self, member: &str, value: &str, pattern: &str) {
        if !matches_pattern(pattern, value) {
            self.add(
                member,
                Some(value),
                &format!("Member must satisfy regular expression pattern: {pattern}"),
            );
        }
    }

    pub fn enumeration(&mut self, member: &str, value: &str, allowed: &[&str]) {
        if !allowed.contains(&value) {
            self.add(
                member,
                Some(value),
                &format!("Member must satisfy enum value set: [{}]", allowed.join(", ")),
            );
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok` when nothing was found; otherwise one error with `code` (ValidationException, or
    /// STS's ValidationError) listing every violation.
    pub fn into_result(self, code: &str) -> ApiResult<()> {
        match self.0.len() {
            0 => Ok(()),
            1 => Err(ApiError::new(
                400,
                code,
                format!("1 validation error detected: {}", self.0[0]),
            )),
            n => Err(ApiError::new(
                400,
                code,
                format!("{n} validation errors detected: {}", self.0.join("; ")),
            )),
        }
    }
}

/// Compiled model patterns, by source text.
static PATTERNS: LazyLock<Mutex<HashMap<String, Option<fancy_regex::Regex>>>> = LazyLock::new(Default::default);

/// Translates the Java regular-expression dialect of the AWS models into fancy-regex syntax:
/// `\p{Alnum}` is ASCII `[a-zA-Z0-9]` in Java, and a quantified `$` (`${1,128}`, accepted by
/// Java) is just the end anchor.
fn translate_java_pattern(pattern: &str) -> String {
    let mut out = pattern.replace("\\p{Alnum}", "a-zA-Z0-9");
    while let Some(start) = out.find("${") {
        match out[start..].find('}') {
            Some(end) => out.replace_range(start + 1..start + end + 1, ""),
            None => break,
        }
    }
    out
}

/// Whether `value` matches a model pattern in full (Java `Pattern.matches`, as the services
/// check them). A pattern that cannot be compiled accepts everything (and is caught by the
/// test that compiles every committed pattern).
pub fn matches_pattern(pattern: &str, value: &str) -> bool {
    let mut cache = PATTERNS.lock().unwrap_or_else(|e| e.into_inner());
    let regex = cache
        .entry(pattern.to_string())
        .or_insert_with(|| compile_pattern(pattern).ok());
    match regex {
        Some(re) => re.is_match(value).unwrap_or(true),
        None => true,
    }
}

/// Compiles a model pattern anchored at both ends.
pub fn compile_pattern(pattern: &str) -> Result<fancy_regex::Regex, fancy_regex::Error> {
    fancy_regex::Regex::new(&format!("^(?:{})$", translate_java_pattern(pattern)))
}

/// "Member must not be null".
pub fn missing(member: &str) -> ApiError {
    ApiError::validation(format!(
        "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
    ))
}

pub fn check_enum(member: &str, value: &str, allowed: &[&str]) -> ApiResult<()> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(constraint(
            member,
            value,
            &format!("Member must satisfy enum value set: [{}]", allowed.join(", ")),
        ))
    }
}

/// Checks `[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}`: alphanumerics and hyphens,
/// starting and ending alphanumeric, at most 63 characters.
pub fn is_valid_name(value: &str) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
}

pub fn check_name(member: &str, value: &str) -> ApiResult<()> {
    if value.len() > 63 {
        return Err(constraint(
            member,
            value,
            "Member must have length less than or equal to 63",
        ));
    }
    if is_valid_name(value) {
        Ok(())
    } else {
        Err(constraint(
            member,
            value,
            &format!("Member must satisfy regular expression pattern: {NAME_PATTERN}"),
        ))
    }
}

/// String length bounds (in characters).
pub fn check_len(member: &str, value: &str, min: usize, max: usize) -> ApiResult<()> {
    let n = value.chars().count();
    if n < min {
        Err(constraint(
            member,
            value,
            &format!("Member must have length greater than or equal to {min}"),
        ))
    } else if n > max {
        Err(constraint(
            member,
            value,
            &format!("Member must have length less than or equal to {max}"),
        ))
    } else {
        Ok(())
    }
}

/// List length bounds.
pub fn check_count(member: &str, count: usize, min: usize, max: usize) -> ApiResult<()> {
    let shown = format!("[{count} items]");
    if count < min {
        Err(constraint(
            member,
            &shown,
            &format!("Member must have length greater than or equal to {min}"),
        ))
    } else if count > max {
        Err(constraint(
            member,
            &shown,
            &format!("Member must have length less than or equal to {max}"),
        ))
    } else {
        Ok(())
    }
}

/// Numeric range bounds.
pub fn check_range(member: &str, value: i64, min: i64, max: i64) -> ApiResult<()> {
    if value < min {
        Err(constraint(
            member,
            &value.to_string(),
            &format!("Member must have value greater than or equal to {min}"),
        ))
    } else if value > max {
        Err(constraint(
            member,
            &value.to_string(),
            &format!("Member must have value less than or equal to {max}"),
        ))
    } else {
        Ok(())
    }
}

/// Checks `arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+`.
pub fn is_role_arn(value: &str) -> bool {
    let Some(rest) = value.strip_prefix("arn:aws") else {
        return false;
    };
    let Some((partition_tail, rest)) = rest.split_once(":iam::") else {
        return false;
    };
    let Some((account, role)) = rest.split_once(":role") else {
        return false;
    };
    let role = role.strip_prefix('/').unwrap_or(role);
    partition_tail.chars().all(|c| c.is_ascii_lowercase() || c == '-')
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && !role.is_empty()
        && role
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-/".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_follow_the_service_pattern() {
        for ok in ["a", "A1", "a-b", "a--b", "abc-123-x", &"a".repeat(63)] {
            assert!(is_valid_name(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "a_b", "a.b", "ä", &"a".repeat(64)] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn messages_name_the_member() {
        let body = json!({"DomainName": "bad_name", "AuthMode": "LDAP"});
        let input = Input::new(&body);
        let err = input.name_req("DomainName").unwrap_err();
        assert_eq!(err.code, "ValidationException");
        assert!(err.message.contains("'domainName'"), "{}", err.message);
        let err = input.enum_req("AuthMode", &["SSO", "IAM"]).unwrap_err();
        assert!(err.message.contains("[SSO, IAM]"));
        let err = input.str_req("DefaultUserSettings").unwrap_err();
        assert!(err.message.contains("Value null at 'defaultUserSettings'"));
    }

    #[test]
    fn wrong_types_are_serialization_errors() {
        let body = json!({"SubnetIds": "subnet-1"});
        let err = Input::new(&body).str_list_opt("SubnetIds").unwrap_err();
        assert_eq!(err.code, "SerializationException");
    }

    #[test]
    fn role_arns() {
        assert!(is_role_arn("arn:aws:iam::123456789012:role/service-role/Exec"));
        assert!(is_role_arn("arn:aws-us-gov:iam::123456789012:role/x"));
        assert!(!is_role_arn("arn:aws:iam::12345:role/x"));
        assert!(!is_role_arn("arn:aws:iam::123456789012:user/x"));
    }

    #[test]
    fn violations_are_reported_together() {
        let mut v = Violations::default();
        assert!(v.is_empty());
        v.length("domainName", "x", 1, Some(2), Some(63));
        v.not_null("authMode");
        let err = v.into_result("ValidationException").unwrap_err();
        assert_eq!(
            err.message,
            "2 validation errors detected: Value 'x' at 'domainName' failed to satisfy constraint: Member must have length greater than or equal to 2; Value null at 'authMode' failed to satisfy constraint: Member must not be null"
        );
        let mut v = Violations::default();
        v.range("ebsVolumeSizeInGb", 4.0, Some(5.0), Some(16384.0));
        assert!(v.into_result("ValidationException").unwrap_err().message.starts_with(
            "1 validation error detected: Value '4' at 'ebsVolumeSizeInGb' failed to satisfy constraint: Member must have value greater than or equal to 5"
        ));
    }

    #[test]
    fn java_patterns_match_in_full() {
        assert!(matches_pattern("[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", "a-b"));
        assert!(!matches_pattern("[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", "a-b-"));
        assert!(matches_pattern("(?!^[.-])^([a-zA-Z0-9-_.]+)", "latest"));
        assert!(!matches_pattern("(?!^[.-])^([a-zA-Z0-9-_.]+)", ".hidden"));
        assert!(matches_pattern("([\\p{L}\\p{Z}\\p{N}_.:\\/=+\\-@]*)${1,256}", "é 1"));
        assert!(matches_pattern(
            "arn:[\\p{Alnum}\\-]+:lambda:[\\p{Alnum}\\-]+:[0-9]{12}:function:.*",
            "arn:aws:lambda:us-east-1:123456789012:function:f"
        ));
        assert!(!matches_pattern(".*", "two\nlines"));
    }

    #[test]
    fn bounds() {
        assert!(check_count("subnetIds", 0, 1, 16).is_err());
        assert!(check_count("subnetIds", 16, 1, 16).is_ok());
        assert!(check_range("maxResults", 101, 1, 100).is_err());
        assert!(check_len("key", "", 1, 128).is_err());
    }
}
