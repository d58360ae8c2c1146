//! The Resource Groups Tagging API: the tags of every SageMaker user profile and space of the
//! session's account and region, up to 100 per call. Tag changes move no `LastModifiedTime`, so
//! without it only one ListTags per resource would see them.

use super::AwsError;
use super::clients::AwsSession;
use super::model::TaggedResource;

/// Resource types whose tags the operator watches.
const MEMBER_TYPES: [&str; 2] = ["sagemaker:user-profile", "sagemaker:space"];

impl AwsSession {
    /// Every tagged user profile and space of the account and region, sorted by ARN.
    pub async fn tagged_members(&self) -> Result<Vec<TaggedResource>, AwsError> {
        let mut resources = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let request = self
                .tagging
                .get_resources()
                .set_resource_type_filters(Some(MEMBER_TYPES.map(String::from).to_vec()))
                .resources_per_page(100)
                .set_pagination_token(token.clone());
            let page = self.call("GetResources", || request.clone().send()).await?;
            for mapping in page.resource_tag_mapping_list() {
                resources.push(TaggedResource {
                    arn: mapping.resource_arn().unwrap_or_default().to_string(),
                    tags: mapping
                        .tags()
                        .iter()
                        .map(|t| (t.key().to_string(), t.value().to_string()))
                        .collect(),
                });
            }
            // The last page answers with an empty token.
            match page.pagination_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_string()),
                _ => break,
            }
        }
        resources.sort_by(|a, b| a.arn.cmp(&b.arn));
        Ok(resources)
    }
}
