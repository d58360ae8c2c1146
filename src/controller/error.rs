//! The errors of a reconcile, each with a stable category: its snake_case label names it in
//! metrics and logs, its CamelCase reason in conditions and Events.

use crate::aws::AwsError;

/// Errors of a reconcile.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// An AWS call failed.
    #[error("{0}")]
    Aws(#[from] AwsError),
    /// A Kubernetes call failed.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// The object lacks something the API server always sets.
    #[error("object has no {0}")]
    MissingField(&'static str),
    /// The reconcile panicked: a bug of the operator, contained to this object.
    #[error("internal error (the operator panicked: {0}); it retries with backoff, please report this")]
    Panicked(String),
}

/// What kind of failure an error is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCategory {
    /// AWS says the resource does not exist.
    AwsNotFound,
    /// AWS says the resource is busy or exists already.
    AwsInUse,
    /// AWS refused the call rate.
    AwsThrottled,
    /// AWS rejected the request as invalid: the spec must change.
    AwsValidation,
    /// An AWS quota is exhausted.
    AwsLimitExceeded,
    /// The operator's AWS identity may not make the call.
    AwsAccessDenied,
    /// A resource's state forbids the call (KMS).
    AwsInvalidState,
    /// A server-side or network failure.
    AwsTransient,
    /// Any other AWS error.
    AwsOther,
    /// The Kubernetes API failed.
    Kube,
    /// The object lacks a field the API server always sets.
    MissingField,
    /// The operator panicked.
    Panic,
    /// A mutating AWS call was not sent because this replica lost the leader lease.
    NotLeader,
}

impl ErrorCategory {
    /// Stable snake_case label for metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            ErrorCategory::AwsNotFound => "aws_not_found",
            ErrorCategory::AwsInUse => "aws_in_use",
            ErrorCategory::AwsThrottled => "aws_throttled",
            ErrorCategory::AwsValidation => "aws_validation",
            ErrorCategory::AwsLimitExceeded => "aws_limit_exceeded",
            ErrorCategory::AwsAccessDenied => "aws_access_denied",
            ErrorCategory::AwsInvalidState => "aws_invalid_state",
            ErrorCategory::AwsTransient => "aws_transient",
            ErrorCategory::AwsOther => "aws_other",
            ErrorCategory::Kube => "kube",
            ErrorCategory::MissingField => "missing_field",
            ErrorCategory::Panic => "panic",
            ErrorCategory::NotLeader => "not_leader",
        }
    }

    /// Stable CamelCase reason for conditions and Events.
    pub fn reason(self) -> &'static str {
        match self {
            ErrorCategory::AwsNotFound => "AwsNotFound",
            ErrorCategory::AwsInUse => "AwsInUse",
            ErrorCategory::AwsThrottled => "AwsThrottled",
            ErrorCategory::AwsValidation => "AwsValidation",
            ErrorCategory::AwsLimitExceeded => "AwsLimitExceeded",
            ErrorCategory::AwsAccessDenied => "AwsAccessDenied",
            ErrorCategory::AwsInvalidState => "AwsInvalidState",
            ErrorCategory::AwsTransient => "AwsTransient",
            ErrorCategory::AwsOther => "AwsError",
            ErrorCategory::Kube => "KubernetesError",
            ErrorCategory::MissingField => "MissingField",
            ErrorCategory::Panic => "InternalError",
            ErrorCategory::NotLeader => "NotLeader",
        }
    }

    /// Whether only a person can resolve it (a spec change, a quota raise, an IAM change):
    /// the resource is Stalled, and retried only at its resync.
    pub fn stalls(self) -> bool {
        matches!(
            self,
            ErrorCategory::AwsValidation
                | ErrorCategory::AwsAccessDenied
                | ErrorCategory::AwsLimitExceeded
                | ErrorCategory::MissingField
        )
    }
}

impl ReconcileError {
    /// Stable category, used as Event and condition reason and as metric label.
    pub fn category(&self) -> ErrorCategory {
        match self {
            ReconcileError::Aws(error) => match error {
                AwsError::NotFound { .. } => ErrorCategory::AwsNotFound,
                AwsError::InUse { .. } => ErrorCategory::AwsInUse,
                AwsError::Throttled { .. } => ErrorCategory::AwsThrottled,
                AwsError::Validation { .. } => ErrorCategory::AwsValidation,
                AwsError::LimitExceeded { .. } => ErrorCategory::AwsLimitExceeded,
                AwsError::AccessDenied { .. } => ErrorCategory::AwsAccessDenied,
                AwsError::InvalidState { .. } => ErrorCategory::AwsInvalidState,
                AwsError::Transient { .. } => ErrorCategory::AwsTransient,
                AwsError::Other { .. } => ErrorCategory::AwsOther,
                AwsError::NotLeader { .. } => ErrorCategory::NotLeader,
            },
            ReconcileError::Kube(_) => ErrorCategory::Kube,
            ReconcileError::MissingField(_) => ErrorCategory::MissingField,
            ReconcileError::Panicked(_) => ErrorCategory::Panic,
        }
    }

    /// The message for the condition: what failed, and what happens next.
    pub fn condition_message(&self) -> String {
        if self.category().stalls() {
            format!(
                "{self}; fix the cause (the spec, a quota or the operator's permissions): the operator retries at each resync and at once when the spec changes"
            )
        } else {
            format!("{self} (retrying with backoff)")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_needs_a_person_stalls() {
        let validation = ReconcileError::Aws(AwsError::Validation { message: "bad".into() });
        assert_eq!(validation.category(), ErrorCategory::AwsValidation);
        assert!(validation.category().stalls());
        assert!(
            validation
                .condition_message()
                .contains("validation: bad; fix the cause")
        );
        let throttled = ReconcileError::Aws(AwsError::Throttled { message: "slow".into() });
        assert!(!throttled.category().stalls());
        assert!(throttled.condition_message().ends_with("(retrying with backoff)"));
        assert!(!ReconcileError::Panicked("boom".into()).category().stalls());
    }

    #[test]
    fn reasons_are_camel_case_and_labels_snake_case() {
        for category in [
            ErrorCategory::AwsNotFound,
            ErrorCategory::AwsOther,
            ErrorCategory::Kube,
            ErrorCategory::Panic,
        ] {
            let reason = category.reason();
            assert!(reason.chars().next().unwrap().is_ascii_uppercase() && !reason.contains('_'));
            assert!(category.label().chars().all(|c| c.is_ascii_lowercase() || c == '_'));
        }
    }
}
