//! Tags: validation, propagation to apps and the AddTags/ListTags/DeleteTags operations.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::pagination::{page_request, paginate};
use crate::state::{Partition, Scope, State};
use crate::validate::{Input, check_count, check_len, missing};

/// One tag; the model requires both members (send `""` for an empty value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// Maximum tags per resource.
pub const MAX_TAGS: usize = 50;

fn valid_tag_chars(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c))
}

/// Parses and validates an optional `Tags` member.
pub fn parse_tags(input: &Input<'_>, name: &str) -> ApiResult<Vec<Tag>> {
    let Some(items) = input.arr_opt(name)? else {
        return Ok(Vec::new());
    };
    let member = input.member(name);
    check_count(&member, items.len(), 0, MAX_TAGS)?;
    let mut tags: Vec<Tag> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let obj = item
            .as_object()
            .ok_or_else(|| ApiError::serialization("Tags must be a list of structures"))?;
        let path = format!("{member}.{}", i + 1);
        let tag = Input::nested(obj, &path);
        let key = tag.str_opt("Key")?.ok_or_else(|| missing(&tag.member("Key")))?;
        let value = tag.str_opt("Value")?.ok_or_else(|| missing(&tag.member("Value")))?;
        check_len(&tag.member("Key"), key, 1, 128)?;
        check_len(&tag.member("Value"), value, 0, 256)?;
        if !valid_tag_chars(key) || !valid_tag_chars(value) {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{key}' at '{path}' failed to satisfy constraint: Member must satisfy regular expression pattern: ([\\p{{L}}\\p{{Z}}\\p{{N}}_.:/=+\\-@]*)"
            )));
        }
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(ApiError::validation(format!(
                "Tag keys starting with 'aws:' are reserved for system use: {key}"
            )));
        }
        upsert(
            &mut tags,
            Tag {
                key: key.into(),
                value: value.into(),
            },
        );
    }
    Ok(tags)
}

/// Adds or overwrites one tag, keeping first-insertion order.
pub fn upsert(tags: &mut Vec<Tag>, tag: Tag) {
    match tags.iter_mut().find(|t| t.key == tag.key) {
        Some(existing) => existing.value = tag.value,
        None => tags.push(tag),
    }
}

/// Tags an app receives at creation: domain tags, then its owner's, then its own
/// (later layers win on key collisions).
pub fn propagate(layers: &[&[Tag]]) -> ApiResult<Vec<Tag>> {
    let mut out = Vec::new();
    for layer in layers {
        for tag in *layer {
            upsert(&mut out, tag.clone());
        }
    }
    if out.len() > MAX_TAGS {
        return Err(ApiError::validation(format!(
            "The app would carry {} tags after propagation from its domain and owner; at most {MAX_TAGS} are allowed.",
            out.len()
        )));
    }
    Ok(out)
}

pub fn to_json(tags: &[Tag]) -> Value {
    serde_json::to_value(tags).unwrap_or_else(|_| json!([]))
}

/// Checks the `ResourceArn` pattern `arn:aws[a-z-]*:sagemaker:[a-z0-9-]*:[0-9]{12}:.+`.
fn check_sagemaker_arn(member: &str, arn: &str) -> ApiResult<()> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "sagemaker"
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && !parts[5].is_empty();
    if ok {
        Ok(())
    } else {
        Err(ApiError::validation(format!(
            "1 validation error detected: Value '{arn}' at '{member}' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:aws[a-z\\-]*:sagemaker:[a-z0-9\\-]*:[0-9]{{12}}:.+"
        )))
    }
}

/// Finds the tag list of the resource with this ARN in one partition.
pub fn tags_of<'a>(part: &'a mut Partition, arn: &str) -> Option<&'a mut Vec<Tag>> {
    for domain in part.domains.iter_mut() {
        if domain.arn == arn {
            return Some(&mut domain.tags);
        }
        if let Some(p) = domain.profiles.iter_mut().find(|p| p.arn == arn) {
            return Some(&mut p.tags);
        }
        if let Some(s) = domain.spaces.iter_mut().find(|s| s.arn == arn) {
            return Some(&mut s.tags);
        }
        if let Some(a) = domain.apps.iter_mut().find(|a| a.arn == arn) {
            return Some(&mut a.tags);
        }
    }
    if let Some(image) = part.images.iter_mut().find(|i| i.arn == arn) {
        return Some(&mut image.tags);
    }
    if let Some(config) = part.app_image_configs.iter_mut().find(|c| c.arn == arn) {
        return Some(&mut config.tags);
    }
    part.lifecycle_configs
        .iter_mut()
        .find(|l| l.arn == arn)
        .map(|l| &mut l.tags)
}

fn resolve<'a>(state: &'a mut State, scope: &Scope, input: &Input<'_>) -> ApiResult<&'a mut Vec<Tag>> {
    let arn = input.str_req("ResourceArn")?;
    check_sagemaker_arn(&input.member("ResourceArn"), arn)?;
    tags_of(state.partition(scope), arn).ok_or_else(|| ApiError::validation(format!("Resource {arn} does not exist.")))
}

pub fn add_tags(state: &mut State, scope: &Scope, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    if input.arr_opt("Tags")?.is_none() {
        return Err(missing("tags"));
    }
    let new = parse_tags(&input, "Tags")?;
    let tags = resolve(state, scope, &input)?;
    let mut merged = tags.clone();
    for tag in &new {
        upsert(&mut merged, tag.clone());
    }
    if merged.len() > MAX_TAGS {
        return Err(ApiError::limit_exceeded(format!(
            "The resource would have {} tags; at most {MAX_TAGS} are allowed.",
            merged.len()
        )));
    }
    *tags = merged;
    Ok(json!({ "Tags": to_json(&new) }))
}

pub fn delete_tags(state: &mut State, scope: &Scope, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let keys = input.str_list_opt("TagKeys")?.ok_or_else(|| missing("tagKeys"))?;
    check_count(&input.member("TagKeys"), keys.len(), 1, MAX_TAGS)?;
    for key in &keys {
        check_len(&input.member("TagKeys"), key, 1, 128)?;
    }
    let tags = resolve(state, scope, &input)?;
    tags.retain(|t| !keys.contains(&t.key.as_str()));
    Ok(json!({}))
}

pub fn list_tags(state: &mut State, scope: &Scope, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let page = page_request(&input, "ListTags", MAX_TAGS, MAX_TAGS, 100)?;
    let tags = resolve(state, scope, &input)?.clone();
    let (items, next) = paginate(tags, "ListTags", page);
    let mut out = json!({ "Tags": to_json(&items) });
    if let Some(token) = next {
        out["NextToken"] = json!(token);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(k: &str, v: &str) -> Tag {
        Tag {
            key: k.into(),
            value: v.into(),
        }
    }

    #[test]
    fn propagation_layers_override() {
        let domain = [tag("team", "a"), tag("env", "prod")];
        let owner = [tag("team", "b")];
        let own = [tag("app", "x")];
        let out = propagate(&[&domain, &owner, &own]).unwrap();
        assert_eq!(out, vec![tag("team", "b"), tag("env", "prod"), tag("app", "x")]);
    }

    #[test]
    fn tag_validation() {
        let body = json!({"Tags": [{"Key": "k"}]});
        assert!(parse_tags(&Input::new(&body), "Tags").is_err());
        let body = json!({"Tags": [{"Key": "aws:x", "Value": ""}]});
        assert!(parse_tags(&Input::new(&body), "Tags").is_err());
        let body = json!({"Tags": [{"Key": "bad#", "Value": ""}]});
        assert!(parse_tags(&Input::new(&body), "Tags").is_err());
        let many: Vec<Value> = (0..51).map(|i| json!({"Key": format!("k{i}"), "Value": ""})).collect();
        let body = json!({"Tags": many});
        assert!(parse_tags(&Input::new(&body), "Tags").is_err());
    }

    #[test]
    fn arn_pattern() {
        assert!(check_sagemaker_arn("resourceArn", "arn:aws:sagemaker:us-east-1:123456789012:domain/d-abc").is_ok());
        assert!(check_sagemaker_arn("resourceArn", "arn:aws:kms:us-east-1:123456789012:key/x").is_err());
    }
}
