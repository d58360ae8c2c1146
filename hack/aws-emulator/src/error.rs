//! API errors as the services report them (code, message, HTTP status).

use serde::Serialize;

/// An error answer. `code` is what goes into `__type` / `X-Amzn-ErrorType`
/// (JSON protocols) or `<Code>` (STS query protocol).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(400, "ValidationException", message)
    }

    pub fn serialization(message: impl Into<String>) -> Self {
        Self::new(400, "SerializationException", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(400, "ResourceNotFound", message)
    }

    pub fn in_use(message: impl Into<String>) -> Self {
        Self::new(400, "ResourceInUse", message)
    }

    pub fn limit_exceeded(message: impl Into<String>) -> Self {
        Self::new(400, "ResourceLimitExceeded", message)
    }

    pub fn throttling() -> Self {
        Self::new(400, "ThrottlingException", "Rate exceeded")
    }

    pub fn internal_failure() -> Self {
        Self::new(
            500,
            "InternalFailure",
            "We encountered an internal error. Please try again.",
        )
    }

    pub fn service_unavailable() -> Self {
        Self::new(503, "ServiceUnavailable", "Service is unavailable. Please try again.")
    }

    pub fn unknown_operation(target: &str) -> Self {
        Self::new(400, "UnknownOperationException", format!("Unknown operation {target}"))
    }
}

/// Result alias used by every operation handler.
pub type ApiResult<T> = Result<T, ApiError>;
