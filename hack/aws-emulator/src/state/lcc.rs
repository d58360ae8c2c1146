//! Studio lifecycle configurations: Create/Describe/Delete/ListStudioLifecycleConfigs.

use serde_json::{Value, json};

use crate::clock::Millis;
use crate::error::{ApiError, ApiResult};
use crate::pagination::{page_request, paginate};
use crate::state::tags::{Tag, parse_tags};
use crate::state::{Scope, State, sort_listing, ts};
use crate::validate::Input;

#[derive(Debug, Clone)]
pub struct StudioLifecycleConfig {
    pub name: String,
    pub arn: String,
    pub content: String,
    pub app_type: String,
    pub created: Millis,
    pub modified: Millis,
    pub tags: Vec<Tag>,
}

impl StudioLifecycleConfig {
    pub fn describe(&self) -> Value {
        json!({
            "StudioLifecycleConfigArn": self.arn,
            "StudioLifecycleConfigName": self.name,
            "CreationTime": ts(self.created),
            "LastModifiedTime": ts(self.modified),
            "StudioLifecycleConfigContent": self.content,
            "StudioLifecycleConfigAppType": self.app_type,
        })
    }

    fn details(&self) -> Value {
        json!({
            "StudioLifecycleConfigArn": self.arn,
            "StudioLifecycleConfigName": self.name,
            "CreationTime": ts(self.created),
            "LastModifiedTime": ts(self.modified),
            "StudioLifecycleConfigAppType": self.app_type,
        })
    }
}

fn is_base64(s: &str) -> bool {
    s.len().is_multiple_of(4)
        && s.trim_end_matches('=').len() + 2 >= s.len()
        && s.trim_end_matches('=')
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

pub fn create(state: &mut State, scope: &Scope, now: Millis, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let name = input.name_req("StudioLifecycleConfigName")?;
    let content = input.str_req("StudioLifecycleConfigContent")?;
    if !is_base64(content) {
        return Err(ApiError::validation(
            "StudioLifecycleConfigContent must be base64 encoded.",
        ));
    }
    let app_type = input.str_req("StudioLifecycleConfigAppType")?;
    let tags = parse_tags(&input, "Tags")?;
    let part = state.partition(scope);
    if part.lifecycle_configs.iter().any(|l| l.name == name) {
        return Err(ApiError::in_use(format!(
            "Studio lifecycle config {name} already exists."
        )));
    }
    let arn = format!(
        "arn:aws:sagemaker:{}:{}:studio-lifecycle-config/{}",
        scope.region,
        scope.account,
        name.to_ascii_lowercase()
    );
    part.lifecycle_configs.push(StudioLifecycleConfig {
        name: name.into(),
        arn: arn.clone(),
        content: content.into(),
        app_type: app_type.into(),
        created: now,
        modified: now,
        tags,
    });
    Ok(json!({ "StudioLifecycleConfigArn": arn }))
}

fn position(state: &mut State, scope: &Scope, input: &Input<'_>) -> ApiResult<usize> {
    let name = input.str_req("StudioLifecycleConfigName")?;
    state
        .partition(scope)
        .lifecycle_configs
        .iter()
        .position(|l| l.name == name)
        .ok_or_else(|| ApiError::not_found(format!("Studio lifecycle config {name} does not exist.")))
}

pub fn describe(state: &mut State, scope: &Scope, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let i = position(state, scope, &input)?;
    Ok(state.partition(scope).lifecycle_configs[i].describe())
}

/// Refuses deletion (ResourceInUse, as the API reference requires) while an app that is not
/// deleted runs with the config, or any domain, profile or space settings reference the ARN.
pub fn delete(state: &mut State, scope: &Scope, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let i = position(state, scope, &input)?;
    let part = state.partition(scope);
    let arn = part.lifecycle_configs[i].arn.clone();
    let needle = Value::String(arn.clone());
    let running = part
        .domains
        .iter()
        .flat_map(|d| &d.apps)
        .find(|a| a.blocks_owner_deletion() && a.resource_spec.get("LifecycleConfigArn") == Some(&needle));
    if let Some(app) = running {
        return Err(ApiError::in_use(format!(
            "Studio lifecycle config [{arn}] is in use by App [{}].",
            app.arn
        )));
    }
    let referenced = part.domains.iter().any(|d| {
        d.settings.values().any(|v| contains(v, &needle))
            || d.profiles
                .iter()
                .any(|p| p.settings.as_ref().is_some_and(|v| contains(v, &needle)))
            || d.spaces
                .iter()
                .any(|s| s.settings.as_ref().is_some_and(|v| contains(v, &needle)))
    });
    if referenced {
        return Err(ApiError::in_use(format!(
            "Studio lifecycle config [{arn}] is in use by a domain, user profile or space."
        )));
    }
    part.lifecycle_configs.remove(i);
    Ok(json!({}))
}

fn contains(haystack: &Value, needle: &Value) -> bool {
    match haystack {
        Value::Array(items) => items.iter().any(|v| contains(v, needle)),
        Value::Object(obj) => obj.values().any(|v| contains(v, needle)),
        other => other == needle,
    }
}

pub fn list(state: &mut State, scope: &Scope, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let page = page_request(&input, "ListStudioLifecycleConfigs", 10, 1, 100)?;
    let name_contains = input.str_opt("NameContains")?;
    let app_type = input.str_opt("AppTypeEquals")?;
    let bounds = [
        input.f64_opt("CreationTimeBefore")?,
        input.f64_opt("CreationTimeAfter")?,
        input.f64_opt("ModifiedTimeBefore")?,
        input.f64_opt("ModifiedTimeAfter")?,
    ]
    .map(|b| b.map(|s| (s * 1000.0) as Millis));
    let by = input.enum_opt("SortBy", &["CreationTime", "LastModifiedTime", "Name"])?;
    let mut rows: Vec<&StudioLifecycleConfig> = state
        .partition(scope)
        .lifecycle_configs
        .iter()
        .filter(|l| name_contains.is_none_or(|c| l.name.contains(c)))
        .filter(|l| app_type.is_none_or(|t| l.app_type == t))
        .filter(|l| bounds[0].is_none_or(|b| l.created < b) && bounds[1].is_none_or(|b| l.created > b))
        .filter(|l| bounds[2].is_none_or(|b| l.modified < b) && bounds[3].is_none_or(|b| l.modified > b))
        .collect();
    if by == Some("Name") {
        rows.sort_by(|a, b| a.name.cmp(&b.name));
        if input.enum_opt("SortOrder", &["Ascending", "Descending"])? == Some("Descending") {
            rows.reverse();
        }
    } else {
        sort_listing(&mut rows, &input, &["CreationTime", "LastModifiedTime"], |l| {
            (l.created, l.modified)
        })?;
    }
    let items = rows.into_iter().map(StudioLifecycleConfig::details).collect();
    let (items, next) = paginate(items, "ListStudioLifecycleConfigs", page);
    let mut out = json!({ "StudioLifecycleConfigs": items });
    if let Some(t) = next {
        out["NextToken"] = json!(t);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_content() {
        assert!(is_base64("ZWNobyBoaQ=="));
        assert!(!is_base64("echo hi"));
        assert!(!is_base64("abc"));
    }
}
