//! Ordered log of every API call with its outcome, for tests and benchmarks.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::state::Tag;

/// One call as the emulator saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    pub seq: u64,
    /// `sagemaker`, `kms`, `sts`, `tagging` or `s3`.
    pub service: String,
    pub operation: String,
    /// `ok`, an error code (`ResourceInUse`, `ThrottlingException`, ...) or `dropped`.
    pub outcome: String,
    /// Emulated epoch seconds.
    pub timestamp: f64,
    pub account: String,
    pub region: String,
    /// Identifying request members (DomainId, UserProfileName, KeyId, ...; for STS AssumeRole
    /// also ExternalId, SourceIdentity and the session Tags; for S3 Bucket, Key, Prefix, ... and
    /// the Keys a DeleteObjects names).
    pub members: Value,
    /// ARN of the caller (`arn:aws:sts::<account>:assumed-role/<role>/<session>` for keys issued
    /// by AssumeRole); empty when the request was refused before the caller was known.
    #[serde(default)]
    pub principal: String,
    /// Session tags carried by the caller's credentials.
    #[serde(default)]
    pub session_tags: Vec<Tag>,
}

/// Request members worth recording: the ones that say which resource a call touched.
pub const KEY_MEMBERS: &[&str] = &[
    "DomainId",
    "DomainName",
    "UserProfileName",
    "SpaceName",
    "AppType",
    "AppName",
    "ResourceArn",
    "StudioLifecycleConfigName",
    "ImageName",
    "Version",
    "Alias",
    "AppImageConfigName",
    "KeyId",
    "AliasName",
    "TargetKeyId",
    "DomainIdEquals",
    "UserProfileNameEquals",
    "SpaceNameEquals",
    "NextToken",
    "MaxResults",
    "RoleArn",
    "RoleSessionName",
];

#[derive(Debug, Default)]
pub struct CallLog {
    records: Vec<CallRecord>,
    next_seq: u64,
}

impl CallLog {
    pub fn push(&mut self, mut record: CallRecord) {
        record.seq = self.next_seq;
        self.next_seq += 1;
        self.records.push(record);
    }

    pub fn records(&self) -> Vec<CallRecord> {
        self.records.clone()
    }

    /// operation -> outcome -> count.
    pub fn counts(&self) -> BTreeMap<String, BTreeMap<String, u64>> {
        let mut out: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for r in &self.records {
            *out.entry(r.operation.clone())
                .or_default()
                .entry(r.outcome.clone())
                .or_default() += 1;
        }
        out
    }

    pub fn clear(&mut self) {
        self.records.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_operation_and_outcome() {
        let mut log = CallLog::default();
        for outcome in ["ThrottlingException", "ThrottlingException", "ok"] {
            log.push(CallRecord {
                seq: 0,
                service: "sagemaker".into(),
                operation: "ListDomains".into(),
                outcome: outcome.into(),
                timestamp: 0.0,
                account: "123456789012".into(),
                region: "us-east-1".into(),
                members: Value::Null,
                principal: String::new(),
                session_tags: Vec::new(),
            });
        }
        assert_eq!(log.counts()["ListDomains"]["ThrottlingException"], 2);
        assert_eq!(log.records()[2].seq, 2);
        log.clear();
        assert!(log.records().is_empty());
    }
}
