//! Wire protocol: service detection, SigV4 credential-scope parsing (signatures
//! are not verified) and rendering of AWS JSON 1.1 and STS XML answers (S3's REST-XML
//! answers are rendered by [`crate::s3`]).

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use serde_json::{Value, json};

use crate::error::ApiError;

pub const JSON_CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// Which emulated service a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    SageMaker,
    Kms,
    Sts,
    /// The Resource Groups Tagging API.
    Tagging,
    /// S3 (REST-XML), recognised by the credential scope alone.
    S3,
}

impl Service {
    /// SigV4 signing name expected in the credential scope.
    pub fn signing_name(self) -> &'static str {
        match self {
            Service::SageMaker => "sagemaker",
            Service::Kms => "kms",
            Service::Sts => "sts",
            Service::Tagging => "tagging",
            Service::S3 => "s3",
        }
    }

    /// Error codes for a missing Authorization header, an incomplete one, and a credential
    /// scoped to another service, with their HTTP statuses.
    fn auth_errors(self) -> [(u16, &'static str); 3] {
        match self {
            Service::Sts => [
                (403, "MissingAuthenticationToken"),
                (403, "IncompleteSignature"),
                (403, "SignatureDoesNotMatch"),
            ],
            Service::S3 => [
                (403, "AccessDenied"),
                (400, "AuthorizationHeaderMalformed"),
                (403, "SignatureDoesNotMatch"),
            ],
            _ => [
                (403, "MissingAuthenticationTokenException"),
                (403, "IncompleteSignatureException"),
                (403, "InvalidSignatureException"),
            ],
        }
    }
}

/// The service named by the credential scope of a SigV4 `Authorization` header
/// (`Credential=AKID/DATE/REGION/SERVICE/aws4_request`), if it has one. S3 requests carry no
/// other sign of their service.
pub fn credential_service(headers: &HeaderMap) -> Option<&str> {
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let credential = auth
        .strip_prefix("AWS4-HMAC-SHA256 ")?
        .split(',')
        .find_map(|p| p.trim().strip_prefix("Credential="))?;
    credential.split('/').nth(3)
}

/// Splits `X-Amz-Target: <Prefix>.<Operation>` into service and operation.
pub fn parse_target(target: &str) -> Result<(Service, &str), ApiError> {
    match target.split_once('.') {
        Some(("SageMaker", op)) => Ok((Service::SageMaker, op)),
        Some(("TrentService", op)) => Ok((Service::Kms, op)),
        Some((crate::tagging::TARGET_PREFIX, op)) => Ok((Service::Tagging, op)),
        _ => Err(ApiError::unknown_operation(target)),
    }
}

/// What the credential scope of a SigV4 `Authorization` header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialScope {
    pub access_key: String,
    pub region: String,
    pub service: String,
}

/// Parses `AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request, ...`.
/// Missing or malformed headers are refused the way a real endpoint does.
pub fn parse_authorization(headers: &HeaderMap, service: Service) -> Result<CredentialScope, ApiError> {
    let [missing, incomplete, wrong_service] = service.auth_errors();
    let Some(auth) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return Err(ApiError::new(missing.0, missing.1, "Missing Authentication Token"));
    };
    let incomplete = |why: &str| ApiError::new(incomplete.0, incomplete.1, format!("{why} Authorization={auth}"));
    let Some(params) = auth.strip_prefix("AWS4-HMAC-SHA256 ") else {
        return Err(incomplete(
            "Authorization header requires the AWS4-HMAC-SHA256 algorithm.",
        ));
    };
    let field = |name: &str| {
        params
            .split(',')
            .map(str::trim)
            .find_map(|p| p.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
    };
    let (Some(credential), Some(_), Some(_)) = (field("Credential"), field("SignedHeaders"), field("Signature")) else {
        return Err(incomplete(
            "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters.",
        ));
    };
    let parts: Vec<&str> = credential.split('/').collect();
    if parts.len() != 5 || parts[4] != "aws4_request" || parts[0].is_empty() || parts[2].is_empty() {
        return Err(incomplete(
            "Credential is malformed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".",
        ));
    }
    if parts[3] != service.signing_name() {
        return Err(ApiError::new(
            wrong_service.0,
            wrong_service.1,
            format!(
                "Credential should be scoped to correct service: '{}'.",
                service.signing_name()
            ),
        ));
    }
    Ok(CredentialScope {
        access_key: parts[0].into(),
        region: parts[2].into(),
        service: parts[3].into(),
    })
}

fn base(status: u16, request_id: &str, content_type: &'static str, body: String) -> Response<Body> {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-RequestId", v);
    }
    resp
}

/// Successful AWS JSON 1.1 answer.
pub fn json_ok(body: &Value, request_id: &str) -> Response<Body> {
    base(200, request_id, JSON_CONTENT_TYPE, body.to_string())
}

/// AWS JSON 1.1 error: `{"__type","message"}` plus `X-Amzn-ErrorType`.
pub fn json_error(err: &ApiError, request_id: &str) -> Response<Body> {
    let body = json!({"__type": err.code, "message": err.message}).to_string();
    let mut resp = base(err.status, request_id, JSON_CONTENT_TYPE, body);
    if let Ok(v) = HeaderValue::from_str(&err.code) {
        resp.headers_mut().insert("X-Amzn-ErrorType", v);
    }
    resp
}

/// STS XML answer (success or ErrorResponse).
pub fn xml(status: u16, body: String, request_id: &str) -> Response<Body> {
    base(status, request_id, "text/xml", body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
        h
    }

    #[test]
    fn credential_scope() {
        let h = headers(
            "AWS4-HMAC-SHA256 Credential=AKID/20261128/eu-west-1/sagemaker/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc",
        );
        let c = parse_authorization(&h, Service::SageMaker).unwrap();
        assert_eq!((c.access_key.as_str(), c.region.as_str()), ("AKID", "eu-west-1"));
        let err = parse_authorization(&h, Service::Kms).unwrap_err();
        assert_eq!((err.status, err.code.as_str()), (403, "InvalidSignatureException"));
    }

    #[test]
    fn missing_or_malformed() {
        let err = parse_authorization(&HeaderMap::new(), Service::SageMaker).unwrap_err();
        assert_eq!(
            (err.status, err.code.as_str()),
            (403, "MissingAuthenticationTokenException")
        );
        let err = parse_authorization(&headers("AWS4-HMAC-SHA256 Signature=x"), Service::Kms).unwrap_err();
        assert_eq!(err.code, "IncompleteSignatureException");
        let err = parse_authorization(&HeaderMap::new(), Service::Sts).unwrap_err();
        assert_eq!(err.code, "MissingAuthenticationToken");
        let err = parse_authorization(
            &headers("AWS4-HMAC-SHA256 Credential=A/D/R/s3/aws4_request"),
            Service::S3,
        )
        .unwrap_err();
        assert_eq!((err.status, err.code.as_str()), (400, "AuthorizationHeaderMalformed"));
    }

    #[test]
    fn service_of_the_credential_scope() {
        let h = headers(
            "AWS4-HMAC-SHA256 Credential=AKID/20261128/eu-west-1/s3/aws4_request, SignedHeaders=host, Signature=abc",
        );
        assert_eq!(credential_service(&h), Some("s3"));
        assert_eq!(credential_service(&headers("Bearer x")), None);
        assert_eq!(credential_service(&HeaderMap::new()), None);
    }

    #[test]
    fn targets() {
        assert_eq!(
            parse_target("SageMaker.CreateDomain").unwrap(),
            (Service::SageMaker, "CreateDomain")
        );
        assert_eq!(
            parse_target("TrentService.DescribeKey").unwrap(),
            (Service::Kms, "DescribeKey")
        );
        assert!(parse_target("DynamoDB_20120810.GetItem").is_err());
    }

    #[test]
    fn throttling_body_has_the_observed_length() {
        let body = json!({"__type": "ThrottlingException", "message": "Rate exceeded"}).to_string();
        assert_eq!(body.len(), 58);
    }
}
