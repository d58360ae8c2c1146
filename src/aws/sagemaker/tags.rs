//! Tags of any SageMaker resource: ListTags, AddTags, DeleteTags.

use std::collections::BTreeMap;

use super::{PAGE_SIZE, TAG_CHUNK, tags_from_sdk, tags_to_sdk};
use crate::aws::clients::AwsSession;
use crate::aws::error::AwsError;

impl AwsSession {
    /// ListTags of any SageMaker resource, all pages.
    pub async fn list_tags(&self, arn: &str) -> Result<BTreeMap<String, String>, AwsError> {
        let mut tags = BTreeMap::new();
        let mut token = None;
        loop {
            let request = self
                .sagemaker
                .list_tags()
                .resource_arn(arn)
                .max_results(PAGE_SIZE)
                .set_next_token(token);
            let out = self.call("ListTags", || request.clone().send()).await?;
            tags.extend(tags_from_sdk(out.tags.unwrap_or_default()));
            token = out.next_token;
            if token.is_none() {
                return Ok(tags);
            }
        }
    }

    /// AddTags (adds or overwrites), in chunks the API accepts.
    pub async fn add_tags(&self, arn: &str, tags: &BTreeMap<String, String>) -> Result<(), AwsError> {
        for chunk in tags_to_sdk(tags).chunks(TAG_CHUNK) {
            let request = self
                .sagemaker
                .add_tags()
                .resource_arn(arn)
                .set_tags(Some(chunk.to_vec()));
            self.call("AddTags", || request.clone().send()).await?;
        }
        Ok(())
    }

    /// DeleteTags, in chunks the API accepts.
    pub async fn delete_tags(&self, arn: &str, keys: &[String]) -> Result<(), AwsError> {
        for chunk in keys.chunks(TAG_CHUNK) {
            let request = self
                .sagemaker
                .delete_tags()
                .resource_arn(arn)
                .set_tag_keys(Some(chunk.to_vec()));
            self.call("DeleteTags", || request.clone().send()).await?;
        }
        Ok(())
    }
}
