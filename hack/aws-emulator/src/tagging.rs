//! The Resource Groups Tagging API's `GetResources` over the SageMaker resources of an account
//! and region: the tags of up to 100 resources per call, so a client can see tag changes (which
//! move no `LastModifiedTime`) without one ListTags per resource.

use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::pagination::{decode_token, encode_token};
use crate::state::tags::{Tag, to_json};
use crate::state::{Scope, State};
use crate::validate::{Input, check_range};

/// Target prefix of the service's operations.
pub const TARGET_PREFIX: &str = "ResourceGroupsTaggingAPI_20170126";
const DEFAULT_PER_PAGE: usize = 50;

fn invalid(message: String) -> ApiError {
    ApiError::new(400, "InvalidParameterException", message)
}

/// Runs one Resource Groups Tagging API operation.
pub fn handle(state: &mut State, scope: &Scope, op: &str, body: &Value) -> ApiResult<Value> {
    match op {
        "GetResources" => get_resources(state, scope, body),
        other => Err(ApiError::unknown_operation(&format!("{TARGET_PREFIX}.{other}"))),
    }
}

/// One `TagFilters` entry: the key must be present and, when values are given, have one of them.
struct TagFilter {
    key: String,
    values: Vec<String>,
}

impl TagFilter {
    fn matches(&self, tags: &[Tag]) -> bool {
        tags.iter()
            .any(|t| t.key == self.key && (self.values.is_empty() || self.values.contains(&t.value)))
    }
}

fn tag_filters(input: &Input<'_>) -> ApiResult<Vec<TagFilter>> {
    let Some(items) = input.arr_opt("TagFilters")? else {
        return Ok(Vec::new());
    };
    if items.len() > 50 {
        return Err(invalid("TagFilters can have at most 50 entries".into()));
    }
    let mut filters = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let obj = item
            .as_object()
            .ok_or_else(|| ApiError::serialization("TagFilters must be a list of structures"))?;
        let path = format!("tagFilters.{}", i + 1);
        let filter = Input::nested(obj, &path);
        let key = filter
            .str_opt("Key")?
            .ok_or_else(|| invalid(format!("{path}.key must be specified")))?;
        let values = filter.str_list_opt("Values")?.unwrap_or_default();
        filters.push(TagFilter {
            key: key.into(),
            values: values.into_iter().map(String::from).collect(),
        });
    }
    Ok(filters)
}

/// `service[:type]` filters; only SageMaker resources exist here.
fn type_filters(input: &Input<'_>) -> ApiResult<Vec<String>> {
    let filters = input.str_list_opt("ResourceTypeFilters")?.unwrap_or_default();
    if filters.len() > 100 {
        return Err(invalid("ResourceTypeFilters can have at most 100 entries".into()));
    }
    for filter in &filters {
        let valid = filter.split(':').all(|part| !part.is_empty()) && filter.split(':').count() <= 2;
        if !valid {
            return Err(invalid(format!("Unsupported resource type filter: {filter}")));
        }
    }
    Ok(filters.into_iter().map(String::from).collect())
}

fn wanted(filters: &[String], resource_type: &str) -> bool {
    filters.is_empty()
        || filters
            .iter()
            .any(|f| f == "sagemaker" || f == &format!("sagemaker:{resource_type}"))
}

fn get_resources(state: &mut State, scope: &Scope, body: &Value) -> ApiResult<Value> {
    let input = Input::new(body);
    let per_page = match input.i64_opt("ResourcesPerPage")? {
        Some(v) => {
            check_range("resourcesPerPage", v, 1, 100).map_err(|e| invalid(e.message))?;
            v as usize
        }
        None => DEFAULT_PER_PAGE,
    };
    let offset = match input.str_opt("PaginationToken")? {
        Some(token) if !token.is_empty() => {
            decode_token("GetResources", token).map_err(|_| invalid(format!("Invalid PaginationToken {token}")))?
        }
        _ => 0,
    };
    let types = type_filters(&input)?;
    let filters = tag_filters(&input)?;
    let part = state.partition(scope);
    let mut resources: Vec<(&str, &str, &[Tag])> = Vec::new();
    for domain in &part.domains {
        resources.push(("domain", &domain.arn, &domain.tags));
        resources.extend(
            domain
                .profiles
                .iter()
                .map(|p| ("user-profile", p.arn.as_str(), p.tags.as_slice())),
        );
        resources.extend(
            domain
                .spaces
                .iter()
                .map(|s| ("space", s.arn.as_str(), s.tags.as_slice())),
        );
        resources.extend(domain.apps.iter().map(|a| ("app", a.arn.as_str(), a.tags.as_slice())));
    }
    resources.extend(
        part.lifecycle_configs
            .iter()
            .map(|l| ("studio-lifecycle-config", l.arn.as_str(), l.tags.as_slice())),
    );
    resources.extend(part.images.iter().map(|i| ("image", i.arn.as_str(), i.tags.as_slice())));
    resources.extend(
        part.app_image_configs
            .iter()
            .map(|c| ("app-image-config", c.arn.as_str(), c.tags.as_slice())),
    );
    // Untagged resources are not returned, as in AWS.
    let matching: Vec<Value> = resources
        .into_iter()
        .filter(|(kind, _, tags)| !tags.is_empty() && wanted(&types, kind) && filters.iter().all(|f| f.matches(tags)))
        .map(|(_, arn, tags)| json!({"ResourceARN": arn, "Tags": to_json(tags)}))
        .collect();
    let end = offset.saturating_add(per_page).min(matching.len());
    let token = if end < matching.len() {
        encode_token("GetResources", end)
    } else {
        String::new()
    };
    let page: Vec<Value> = matching
        .into_iter()
        .skip(offset)
        .take(end.saturating_sub(offset))
        .collect();
    Ok(json!({"PaginationToken": token, "ResourceTagMappingList": page}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(key: &str, value: &str) -> Tag {
        Tag {
            key: key.into(),
            value: value.into(),
        }
    }

    #[test]
    fn tag_filters_need_the_key_and_one_of_the_values() {
        let filter = TagFilter {
            key: "team".into(),
            values: vec!["a".into(), "b".into()],
        };
        assert!(filter.matches(&[tag("team", "b")]));
        assert!(!filter.matches(&[tag("team", "c")]));
        assert!(!filter.matches(&[tag("owner", "a")]));
        let any_value = TagFilter {
            key: "team".into(),
            values: Vec::new(),
        };
        assert!(any_value.matches(&[tag("team", "")]));
    }

    #[test]
    fn type_filters_name_a_service_or_a_service_and_type() {
        assert!(wanted(&[], "space"));
        assert!(wanted(&["sagemaker".into()], "space"));
        assert!(wanted(
            &["sagemaker:user-profile".into(), "sagemaker:space".into()],
            "space"
        ));
        assert!(!wanted(&["sagemaker:user-profile".into()], "space"));
        let body = json!({"ResourceTypeFilters": ["sagemaker::x"]});
        assert!(type_filters(&Input::new(&body)).is_err());
    }
}
