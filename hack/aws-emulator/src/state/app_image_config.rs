//! App image configs (how Studio runs a custom image): CreateAppImageConfig,
//! DescribeAppImageConfig, UpdateAppImageConfig, DeleteAppImageConfig, ListAppImageConfigs.
//! They have no status: changes are immediate.

use serde_json::{Map, Value, json};

use crate::clock::Millis;
use crate::error::{ApiError, ApiResult};
use crate::pagination::{page_request, paginate};
use crate::state::image::TimeBounds;
use crate::state::tags::{Tag, parse_tags};
use crate::state::{Partition, Scope, State, put_opt, ts};
use crate::validate::Input;

/// The app kinds a config can describe; one per config.
const KINDS: &[&str] = &[
    "KernelGatewayImageConfig",
    "JupyterLabAppImageConfig",
    "CodeEditorAppImageConfig",
];

#[derive(Debug, Clone)]
pub struct AppImageConfig {
    pub name: String,
    pub arn: String,
    /// The one KINDS member, as sent.
    pub config: Map<String, Value>,
    pub created: Millis,
    pub modified: Millis,
    pub tags: Vec<Tag>,
}

impl AppImageConfig {
    fn describe(&self) -> Value {
        let mut out = self.config.clone();
        out.insert("AppImageConfigArn".into(), json!(self.arn));
        out.insert("AppImageConfigName".into(), json!(self.name));
        out.insert("CreationTime".into(), ts(self.created));
        out.insert("LastModifiedTime".into(), ts(self.modified));
        Value::Object(out)
    }

    /// Describe plus tags (control API dumps).
    pub fn snapshot(&self) -> Value {
        let mut out = self.describe();
        out["Tags"] = crate::state::tags::to_json(&self.tags);
        out
    }
}

/// The app-kind members of a request, checked: at most one kind, one kernel spec, and the
/// POSIX identities Studio supports (UID 0 or 1000, GID 0 or 100).
fn kinds(input: &Input<'_>) -> ApiResult<Map<String, Value>> {
    let mut out = Map::new();
    for kind in KINDS {
        put_opt(&mut out, kind, input.raw(kind).cloned());
    }
    if out.len() > 1 {
        return Err(ApiError::validation(format!(
            "Only one of {} can be specified in an AppImageConfig.",
            KINDS.join(", ")
        )));
    }
    for (kind, config) in &out {
        let path = |member: &str| {
            let mut chars = kind.chars();
            let head: String = chars.next().map(|c| c.to_lowercase().collect()).unwrap_or_default();
            format!("{head}{}.{member}", chars.as_str())
        };
        if let Some(specs) = config.get("KernelSpecs").and_then(Value::as_array)
            && specs.len() > 1
        {
            return Err(ApiError::validation(format!(
                "Only one kernel can be specified in the AppImageConfig API ({} given at '{}').",
                specs.len(),
                path("kernelSpecs")
            )));
        }
        let fs = config.get("FileSystemConfig");
        for (member, allowed) in [("DefaultUid", [0, 1000]), ("DefaultGid", [0, 100])] {
            if let Some(id) = fs.and_then(|f| f.get(member)).and_then(Value::as_i64)
                && !allowed.contains(&id)
            {
                let camel = format!("fileSystemConfig.{}{}", member[..1].to_lowercase(), &member[1..]);
                return Err(ApiError::validation(format!(
                    "1 validation error detected: Value '{id}' at '{}' failed to satisfy constraint: Member must be {} or {}",
                    path(&camel),
                    allowed[0],
                    allowed[1]
                )));
            }
        }
    }
    Ok(out)
}

fn position(part: &Partition, name: &str) -> ApiResult<usize> {
    part.app_image_configs
        .iter()
        .position(|c| c.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| ApiError::not_found(format!("AppImageConfig {name} does not exist.")))
}

/// Domain, profile and space settings that name `config` in a `CustomImages` entry.
fn attached_to(part: &Partition, config: &str) -> Option<String> {
    fn uses(settings: &Value, config: &str) -> bool {
        match settings {
            Value::Object(obj) => obj.iter().any(|(k, v)| {
                if k == "AppImageConfigName" {
                    v.as_str().is_some_and(|n| n.eq_ignore_ascii_case(config))
                } else {
                    uses(v, config)
                }
            }),
            Value::Array(items) => items.iter().any(|v| uses(v, config)),
            _ => false,
        }
    }
    part.domains.iter().find_map(|d| {
        if uses(&Value::Object(d.settings.clone()), config) {
            return Some(d.arn.clone());
        }
        d.profiles
            .iter()
            .filter_map(|p| p.settings.as_ref().map(|s| (&p.arn, s)))
            .chain(d.spaces.iter().filter_map(|s| s.settings.as_ref().map(|x| (&s.arn, x))))
            .find(|(_, s)| uses(s, config))
            .map(|(arn, _)| arn.clone())
    })
}

pub fn create(state: &mut State, scope: &Scope, now: Millis, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let name = input.str_req("AppImageConfigName")?;
    let config = kinds(&input)?;
    let tags = parse_tags(&input, "Tags")?;
    let part = state.partition(scope);
    if part.app_image_configs.iter().any(|c| c.name.eq_ignore_ascii_case(name)) {
        return Err(ApiError::in_use(format!(
            "The AppImageConfig with name {name} already exists: the ID or Name specified is already in use."
        )));
    }
    let arn = format!(
        "arn:aws:sagemaker:{}:{}:app-image-config/{}",
        scope.region,
        scope.account,
        name.to_ascii_lowercase()
    );
    part.app_image_configs.push(AppImageConfig {
        name: name.into(),
        arn: arn.clone(),
        config,
        created: now,
        modified: now,
        tags,
    });
    Ok(json!({ "AppImageConfigArn": arn }))
}

pub fn describe(state: &mut State, scope: &Scope, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let part = state.partition(scope);
    let i = position(part, input.str_req("AppImageConfigName")?)?;
    Ok(part.app_image_configs[i].describe())
}

/// The kind given replaces the stored one; without one, nothing but LastModifiedTime changes.
pub fn update(state: &mut State, scope: &Scope, now: Millis, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let config = kinds(&input)?;
    let part = state.partition(scope);
    let i = position(part, input.str_req("AppImageConfigName")?)?;
    let stored = &mut part.app_image_configs[i];
    if !config.is_empty() {
        stored.config = config;
    }
    stored.modified = now;
    Ok(json!({ "AppImageConfigArn": stored.arn }))
}

/// Refused while a domain, profile or space still names the config in its CustomImages.
pub fn delete(state: &mut State, scope: &Scope, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let name = input.str_req("AppImageConfigName")?;
    let part = state.partition(scope);
    let i = position(part, name)?;
    if let Some(owner) = attached_to(part, name) {
        return Err(ApiError::in_use(format!(
            "AppImageConfig {name} is used by [{owner}] through CustomImages; detach it first."
        )));
    }
    part.app_image_configs.remove(i);
    Ok(json!({}))
}

pub fn list(state: &mut State, scope: &Scope, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let page = page_request(&input, "ListAppImageConfigs", 10, 1, 100)?;
    let bounds = TimeBounds::read(&input, "ModifiedTime")?;
    let contains = input.str_opt("NameContains")?;
    let mut rows: Vec<&AppImageConfig> = state
        .partition(scope)
        .app_image_configs
        .iter()
        .filter(|c| contains.is_none_or(|n| c.name.contains(n)) && bounds.contains(c.created, c.modified))
        .collect();
    match input.str_opt("SortBy")?.unwrap_or("CreationTime") {
        "Name" => rows.sort_by(|a, b| a.name.cmp(&b.name)),
        "LastModifiedTime" => rows.sort_by_key(|c| c.modified),
        _ => rows.sort_by_key(|c| c.created),
    }
    // The documented default order is Descending.
    if input.str_opt("SortOrder")? != Some("Ascending") {
        rows.reverse();
    }
    let items = rows.into_iter().map(AppImageConfig::describe).collect();
    let (items, next) = paginate(items, "ListAppImageConfigs", page);
    let mut out = json!({ "AppImageConfigs": items });
    if let Some(t) = next {
        out["NextToken"] = json!(t);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_kind_one_kernel_and_supported_ids() {
        let ok = json!({"JupyterLabAppImageConfig": {"FileSystemConfig": {"DefaultUid": 1000, "DefaultGid": 100}}});
        assert_eq!(kinds(&Input::new(&ok)).unwrap().len(), 1);
        let two = json!({"JupyterLabAppImageConfig": {}, "CodeEditorAppImageConfig": {}});
        assert!(kinds(&Input::new(&two)).is_err());
        let kernels = json!({"KernelGatewayImageConfig": {"KernelSpecs": [{"Name": "a"}, {"Name": "b"}]}});
        assert!(kinds(&Input::new(&kernels)).is_err());
        let uid = json!({"CodeEditorAppImageConfig": {"FileSystemConfig": {"DefaultUid": 1001}}});
        let err = kinds(&Input::new(&uid)).unwrap_err();
        assert!(
            err.message
                .contains("at 'codeEditorAppImageConfig.fileSystemConfig.defaultUid'"),
            "{}",
            err.message
        );
        let root = json!({"KernelGatewayImageConfig": {"KernelSpecs": [{"Name": "python3"}],
            "FileSystemConfig": {"DefaultUid": 0, "DefaultGid": 0}}});
        assert!(kinds(&Input::new(&root)).is_ok());
    }
}
