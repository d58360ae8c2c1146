//! S3, only what the expiry of retired space backups needs: list a prefix, write and read
//! nothing but the retirement markers, delete a backup's objects in batches.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};

use super::clients::AwsSession;
use super::error::AwsError;

/// DeleteObjects takes at most 1000 keys per call.
const DELETE_BATCH: usize = 1000;

/// One object of a listing.
#[derive(Clone, Debug, PartialEq)]
pub struct S3Object {
    /// Its full key.
    pub key: String,
    /// When it was last written, epoch seconds (S3's clock).
    pub last_modified: f64,
}

/// A listing of one prefix: the objects directly under it and, with a delimiter, the
/// "folders" (common prefixes, full keys ending in the delimiter).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct S3Listing {
    /// Objects, in key order.
    pub objects: Vec<S3Object>,
    /// Common prefixes, in key order.
    pub folders: Vec<String>,
}

impl AwsSession {
    /// ListObjectsV2 of `prefix` in `bucket`, all pages; with `delimiter` `/`, what lies deeper
    /// is folded into folders.
    pub async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
    ) -> Result<S3Listing, AwsError> {
        let mut listing = S3Listing::default();
        let mut token = None;
        loop {
            let request = self
                .s3
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .set_delimiter(delimiter.map(String::from))
                .set_continuation_token(token);
            let out = self.call("ListObjectsV2", || request.clone().send()).await?;
            listing
                .objects
                .extend(out.contents.unwrap_or_default().into_iter().map(|o| S3Object {
                    key: o.key.unwrap_or_default(),
                    last_modified: o.last_modified.map(|t| t.as_secs_f64()).unwrap_or_default(),
                }));
            listing.folders.extend(
                out.common_prefixes
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|p| p.prefix),
            );
            token = out.next_continuation_token.filter(|_| out.is_truncated == Some(true));
            if token.is_none() {
                return Ok(listing);
            }
        }
    }

    /// PutObject of a small body, encrypted with the KMS key `kms_key_id` (SSE-KMS).
    pub async fn put_object(&self, bucket: &str, key: &str, body: &str, kms_key_id: &str) -> Result<(), AwsError> {
        let body = body.as_bytes().to_vec();
        // A streaming body cannot be cloned: each attempt builds its request anew.
        let request = || {
            self.s3
                .put_object()
                .bucket(bucket)
                .key(key)
                .content_type("application/json")
                .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::AwsKms)
                .ssekms_key_id(kms_key_id)
                .body(ByteStream::from(body.clone()))
                .send()
        };
        self.call("PutObject", request).await.map(|_| ())
    }

    /// DeleteObjects of `keys`, in batches of 1000; an object that could not be deleted fails
    /// the call with its key and S3's reason.
    pub async fn delete_objects(&self, bucket: &str, keys: &[String]) -> Result<(), AwsError> {
        for batch in keys.chunks(DELETE_BATCH) {
            let objects = batch
                .iter()
                .map(|key| ObjectIdentifier::builder().key(key).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| AwsError::Validation { message: e.to_string() })?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| AwsError::Validation { message: e.to_string() })?;
            let request = self.s3.delete_objects().bucket(bucket).delete(delete);
            let out = self.call("DeleteObjects", || request.clone().send()).await?;
            if let Some(failed) = out.errors.unwrap_or_default().into_iter().next() {
                return Err(AwsError::from_code(
                    failed.code.as_deref().unwrap_or("InternalError"),
                    format!(
                        "s3://{bucket}/{} not deleted: {}",
                        failed.key.unwrap_or_default(),
                        failed.message.unwrap_or_default()
                    ),
                    None,
                ));
            }
        }
        Ok(())
    }
}
