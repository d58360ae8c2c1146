//! KMS: only what domain validation needs.

use super::clients::AwsSession;
use super::error::AwsError;
use super::model::KeyInfo;

impl AwsSession {
    /// DescribeKey by key id, key ARN, alias name (`alias/x`) or alias ARN.
    pub async fn describe_key(&self, key_id: &str) -> Result<KeyInfo, AwsError> {
        let out = self
            .call("DescribeKey", || self.kms.describe_key().key_id(key_id).send())
            .await?;
        let meta = out.key_metadata.ok_or_else(|| AwsError::Other {
            code: "MissingKeyMetadata".into(),
            message: format!("DescribeKey {key_id} returned no KeyMetadata"),
        })?;
        Ok(KeyInfo {
            key_id: meta.key_id().to_string(),
            arn: meta.arn().unwrap_or_default().to_string(),
            key_state: meta.key_state().map(|s| s.as_str().to_string()).unwrap_or_default(),
            enabled: meta.enabled(),
            key_manager: meta.key_manager().map(|m| m.as_str().to_string()).unwrap_or_default(),
            key_spec: meta.key_spec().map(|s| s.as_str().to_string()).unwrap_or_default(),
            key_usage: meta.key_usage().map(|u| u.as_str().to_string()).unwrap_or_default(),
        })
    }
}
