//! SageMaker AI Studio calls, one file per family of operations, and the mapping between SDK
//! shapes and [`super::model`] ([`shapes`]). Only this module and its siblings in `src/aws/`
//! name SDK types.

mod apps;
mod domains;
mod images;
mod lifecycle;
mod members;
mod shapes;
mod tags;

use std::collections::BTreeMap;

use aws_sdk_sagemaker::types as sm;

use super::error::AwsError;

/// Page size of the List calls (the API maximum).
const PAGE_SIZE: i32 = 100;
/// AddTags and DeleteTags take at most 50 tags per call.
const TAG_CHUNK: usize = 50;

/// Turns NotFound into `Ok(None)` for Describe calls.
fn found<T>(result: Result<T, AwsError>) -> Result<Option<T>, AwsError> {
    match result {
        Ok(out) => Ok(Some(out)),
        Err(AwsError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

fn non_blank(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

fn non_empty<T: Clone>(items: &[T]) -> Option<Vec<T>> {
    (!items.is_empty()).then(|| items.to_vec())
}

fn tag_propagation_to_sdk(enabled: bool) -> sm::TagPropagation {
    if enabled {
        sm::TagPropagation::Enabled
    } else {
        sm::TagPropagation::Disabled
    }
}

fn tags_to_sdk(tags: &BTreeMap<String, String>) -> Vec<sm::Tag> {
    tags.iter()
        .map(|(k, v)| sm::Tag::builder().key(k).value(v).build())
        .collect()
}

fn tags_from_sdk(tags: Vec<sm::Tag>) -> impl Iterator<Item = (String, String)> {
    tags.into_iter()
        .filter_map(|t| Some((t.key?, t.value.unwrap_or_default())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_map_both_ways() {
        let tags = BTreeMap::from([("a".to_string(), "1".to_string()), ("b".to_string(), String::new())]);
        let back: BTreeMap<_, _> = tags_from_sdk(tags_to_sdk(&tags)).collect();
        assert_eq!(back, tags);
    }

    #[test]
    fn not_found_is_none_for_describe() {
        let nf: Result<(), _> = Err(AwsError::NotFound { message: "gone".into() });
        assert_eq!(found(nf), Ok(None));
        let other: Result<(), _> = Err(AwsError::Validation { message: "bad".into() });
        assert!(found(other).is_err());
    }
}
