//! One error type for every AWS call, so reconcilers match on meaning instead of SDK types.
//!
//! Messages are kept verbatim: they end up in Kubernetes conditions where users read them.

use std::error::Error as StdError;

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_sts::config::http::HttpResponse;
use aws_sdk_sts::error::SdkError;
use aws_sdk_sts::operation::assume_role::AssumeRoleError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// An AWS call failed; the variant says what the caller can do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AwsError {
    /// The resource does not exist (`ResourceNotFound`, `NotFoundException`, ...).
    #[error("not found: {message}")]
    NotFound { message: String },
    /// The resource exists already, or is busy (e.g. in a transitional status).
    #[error("in use: {message}")]
    InUse { message: String },
    /// The API refused the call rate; `AwsSession::call` already retried (slowing its limiter).
    #[error("throttled: {message}")]
    Throttled { message: String },
    /// The request was rejected as invalid.
    #[error("validation: {message}")]
    Validation { message: String },
    /// A service quota is exhausted.
    #[error("limit exceeded: {message}")]
    LimitExceeded { message: String },
    /// Missing permissions or unusable credentials.
    #[error("access denied: {message}")]
    AccessDenied { message: String },
    /// The resource is in a state that forbids the call (KMS `KMSInvalidStateException`).
    #[error("invalid state: {message}")]
    InvalidState { message: String },
    /// Server-side or network failure that should go away by itself.
    #[error("transient: {message}")]
    Transient { message: String },
    /// Anything else, with the service's error code.
    #[error("{code}: {message}")]
    Other { code: String, message: String },
    /// Not sent: this replica lost the leader lease (fencing), so another one acts now.
    #[error("not leader: {message}")]
    NotLeader { message: String },
}

impl AwsError {
    /// Stable snake_case label for metrics and logs.
    pub fn category(&self) -> &'static str {
        match self {
            AwsError::NotFound { .. } => "not_found",
            AwsError::InUse { .. } => "in_use",
            AwsError::Throttled { .. } => "throttled",
            AwsError::Validation { .. } => "validation",
            AwsError::LimitExceeded { .. } => "limit_exceeded",
            AwsError::AccessDenied { .. } => "access_denied",
            AwsError::InvalidState { .. } => "invalid_state",
            AwsError::Transient { .. } => "transient",
            AwsError::Other { .. } => "other",
            AwsError::NotLeader { .. } => "not_leader",
        }
    }

    /// Whether repeating the same call later may succeed without anyone changing anything
    /// (busy resources finish their transition; throttling and outages pass).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            AwsError::InUse { .. } | AwsError::Throttled { .. } | AwsError::Transient { .. }
        )
    }

    /// The message as the service (or the SDK) phrased it.
    pub fn message(&self) -> &str {
        match self {
            AwsError::NotFound { message }
            | AwsError::InUse { message }
            | AwsError::Throttled { message }
            | AwsError::Validation { message }
            | AwsError::LimitExceeded { message }
            | AwsError::AccessDenied { message }
            | AwsError::InvalidState { message }
            | AwsError::NotLeader { message }
            | AwsError::Transient { message }
            | AwsError::Other { message, .. } => message,
        }
    }

    /// Classifies a service error by its code (and HTTP status for unknown codes).
    pub fn from_code(code: &str, message: String, status: Option<u16>) -> Self {
        match code {
            "ResourceNotFound" | "ResourceNotFoundException" | "NotFoundException" | "NoSuchBucket" | "NoSuchKey" => {
                AwsError::NotFound { message }
            }
            "ValidationException" if message.contains("RecordNotFound") => AwsError::NotFound { message },
            "ResourceInUse" | "ResourceInUseException" | "ConflictException" => AwsError::InUse { message },
            "ThrottlingException"
            | "Throttling"
            | "ThrottledException"
            | "TooManyRequestsException"
            | "RequestLimitExceeded"
            | "SlowDown" => AwsError::Throttled { message },
            "ValidationException" | "InvalidArnException" | "ValidationError" => AwsError::Validation { message },
            "ResourceLimitExceeded" | "LimitExceededException" => AwsError::LimitExceeded { message },
            c if c.starts_with("AccessDenied") => AwsError::AccessDenied { message },
            "KMSInvalidStateException" => AwsError::InvalidState { message },
            "InternalFailure"
            | "InternalError"
            | "ServiceUnavailable"
            | "KMSInternalException"
            | "DependencyTimeoutException" => AwsError::Transient { message },
            _ if status.is_some_and(|s| s >= 500) => AwsError::Transient { message },
            code => AwsError::Other {
                code: code.to_string(),
                message,
            },
        }
    }

    /// Classifies a failure that produced no service error: credential problems by what the
    /// credential provider reported, everything else (network, timeouts, unparsable responses) as transient.
    fn from_failure(err: &(dyn StdError + 'static), construction: bool) -> Self {
        let message = format!("{}", DisplayErrorContext(err));
        let mut chain = vec![err];
        while let Some(source) = chain[chain.len() - 1].source() {
            chain.push(source);
        }
        // AssumeRole failed behind the credential provider: refusals (AccessDenied, bad role ARN)
        // mean the role cannot be used; keep the full context in the message.
        if let Some(sts) = chain
            .iter()
            .find_map(|e| e.downcast_ref::<SdkError<AssumeRoleError, HttpResponse>>())
        {
            return match AwsError::from_sdk(sts) {
                AwsError::Transient { .. } => AwsError::Transient { message },
                AwsError::Throttled { .. } => AwsError::Throttled { message },
                _ => AwsError::AccessDenied { message },
            };
        }
        if let Some(creds) = chain.iter().find_map(|e| e.downcast_ref::<CredentialsError>()) {
            return match creds {
                CredentialsError::ProviderTimedOut(_) | CredentialsError::ProviderError(_) => {
                    AwsError::Transient { message }
                }
                _ => AwsError::AccessDenied { message },
            };
        }
        if construction {
            // The request could not even be built: retrying will not help.
            return AwsError::Other {
                code: "ConstructionFailure".into(),
                message,
            };
        }
        AwsError::Transient { message }
    }

    /// Maps any SDK error (all AWS SDK crates share `SdkError` and `HttpResponse`).
    pub fn from_sdk<E>(err: &SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + StdError + 'static,
    {
        match err {
            SdkError::ServiceError(ctx) => {
                let e = ctx.err();
                let status = ctx.raw().status().as_u16();
                let message = e
                    .message()
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("{}", DisplayErrorContext(e)));
                match e.code() {
                    Some(code) => AwsError::from_code(code, message, Some(status)),
                    None if status >= 500 => AwsError::Transient { message },
                    None => AwsError::Other {
                        code: format!("HTTP {status}"),
                        message,
                    },
                }
            }
            SdkError::ConstructionFailure(_) => AwsError::from_failure(err, true),
            _ => AwsError::from_failure(err, false),
        }
    }
}

impl<E> From<SdkError<E, HttpResponse>> for AwsError
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    fn from(err: SdkError<E, HttpResponse>) -> Self {
        AwsError::from_sdk(&err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(code: &str, message: &str) -> &'static str {
        AwsError::from_code(code, message.to_string(), Some(400)).category()
    }

    #[test]
    fn codes_map_to_categories() {
        assert_eq!(classify("ResourceNotFound", "x"), "not_found");
        assert_eq!(classify("NotFoundException", "x"), "not_found");
        assert_eq!(
            classify("ValidationException", "RecordNotFound: no such arn"),
            "not_found"
        );
        assert_eq!(classify("ResourceInUse", "x"), "in_use");
        for code in [
            "ThrottlingException",
            "Throttling",
            "ThrottledException",
            "TooManyRequestsException",
            "RequestLimitExceeded",
        ] {
            assert_eq!(classify(code, "x"), "throttled", "{code}");
        }
        for code in ["ValidationException", "InvalidArnException", "ValidationError"] {
            assert_eq!(classify(code, "x"), "validation", "{code}");
        }
        assert_eq!(classify("ResourceLimitExceeded", "x"), "limit_exceeded");
        assert_eq!(classify("LimitExceededException", "x"), "limit_exceeded");
        assert_eq!(classify("AccessDeniedException", "x"), "access_denied");
        assert_eq!(classify("AccessDenied", "x"), "access_denied");
        assert_eq!(classify("KMSInvalidStateException", "x"), "invalid_state");
        for code in [
            "InternalFailure",
            "ServiceUnavailable",
            "KMSInternalException",
            "DependencyTimeoutException",
        ] {
            assert_eq!(classify(code, "x"), "transient", "{code}");
        }
    }

    #[test]
    fn unknown_codes_keep_code_and_message_unless_5xx() {
        let e = AwsError::from_code("WeirdException", "odd".into(), Some(400));
        assert_eq!(
            e,
            AwsError::Other {
                code: "WeirdException".into(),
                message: "odd".into()
            }
        );
        assert_eq!(e.message(), "odd");
        assert_eq!(
            AwsError::from_code("WeirdException", "odd".into(), Some(502)).category(),
            "transient"
        );
    }

    #[test]
    fn retryable_categories() {
        let m = || "m".to_string();
        assert!(AwsError::Throttled { message: m() }.is_retryable());
        assert!(AwsError::Transient { message: m() }.is_retryable());
        assert!(AwsError::InUse { message: m() }.is_retryable());
        assert!(!AwsError::Validation { message: m() }.is_retryable());
        assert!(!AwsError::NotFound { message: m() }.is_retryable());
        assert!(!AwsError::AccessDenied { message: m() }.is_retryable());
    }

    #[test]
    fn messages_survive_display() {
        let e = AwsError::from_code("ResourceInUse", "Domain with name a already exists".into(), Some(400));
        assert_eq!(e.to_string(), "in use: Domain with name a already exists");
    }
}
