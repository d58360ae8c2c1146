//! S3, path-style only (`/{bucket}` and `/{bucket}/{key}`): buckets in one namespace for all
//! accounts (each remembers the account and region that created it), objects with their
//! bodies, MD5 ETags, user metadata and the server-side encryption asked at upload, listings,
//! batch deletion and multipart uploads: what a client needs to keep and find data, over S3's
//! REST-XML protocol so that aws-sdk-s3 and boto3 use it unchanged. A request is S3's when the
//! credential scope of its signature names the service `s3`.
//!
//! [`Request::parse`] reads what a request asks (operation, bucket, key, query, and the body
//! without its `aws-chunked` framing); [`execute`] runs it against the state and gives an
//! [`Answer`] or an [`S3Error`], both rendered as S3 renders them.

mod md5;
mod ops;
mod wire;

use std::collections::BTreeMap;
use std::ops::Bound;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode, Uri, header};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::clock::{Millis, to_epoch_secs};
use crate::error::ApiError;
use crate::state::{Scope, State};
use crate::sts::xml_escape;

/// Namespace of S3's XML documents.
const NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";
const XML_DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// Every bucket by name: one namespace for all accounts and regions, as in S3.
#[derive(Debug, Default)]
pub struct S3State {
    pub buckets: BTreeMap<String, Bucket>,
}

#[derive(Debug)]
pub struct Bucket {
    /// The account that created it.
    pub account: String,
    /// Where it lives: requests signed for another region are refused.
    pub region: String,
    pub created: Millis,
    pub objects: BTreeMap<String, Object>,
    /// Multipart uploads in progress, by upload id.
    pub uploads: BTreeMap<String, Upload>,
    /// Key prefixes whose objects cannot be deleted (control API), as under a bucket policy
    /// that denies `s3:DeleteObject` there.
    pub delete_denied: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Object {
    pub body: Bytes,
    /// Quoted, as S3 sends it: `"<md5 hex>"`, or `"<md5 of the parts' md5s>-<parts>"`.
    pub etag: String,
    /// Emulated time in whole seconds, the precision S3 keeps.
    pub last_modified: Millis,
    pub attributes: Attributes,
}

/// What an upload says about its object besides the body; Get and Head answer it back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attributes {
    pub content_type: String,
    /// Content-Encoding (less `aws-chunked`), Cache-Control, Content-Disposition,
    /// Content-Language and Expires, as sent.
    pub headers: Vec<(String, String)>,
    /// `x-amz-meta-*` headers, as sent.
    pub metadata: Vec<(String, String)>,
    /// `x-amz-server-side-encryption` as asked (`AES256`, `aws:kms`, `aws:kms:dsse`).
    pub sse: Option<String>,
    /// `x-amz-server-side-encryption-aws-kms-key-id` as asked.
    pub kms_key_id: Option<String>,
}

/// A multipart upload in progress.
#[derive(Debug)]
pub struct Upload {
    pub key: String,
    pub attributes: Attributes,
    pub parts: BTreeMap<u32, Part>,
}

#[derive(Debug)]
pub struct Part {
    pub body: Bytes,
    pub md5: [u8; 16],
}

/// An object as the control and admin APIs show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3ObjectView {
    pub key: String,
    pub size: u64,
    /// Emulated epoch seconds.
    pub last_modified: f64,
    /// Quoted, as S3 answers it.
    pub etag: String,
    /// `x-amz-server-side-encryption` asked at upload; none asked means S3's default, SSE-S3
    /// (`AES256`), which Get and Head then answer.
    pub sse: Option<String>,
    /// `x-amz-server-side-encryption-aws-kms-key-id` asked at upload.
    pub kms_key_id: Option<String>,
}

impl S3State {
    /// Creates a bucket in `scope` under S3's naming rules. A name in use is
    /// BucketAlreadyOwnedByYou for its owner and BucketAlreadyExists for another account.
    pub fn create_bucket(&mut self, name: &str, scope: &Scope, now: Millis) -> Result<(), S3Error> {
        let now = whole_seconds(now);
        if !ops::valid_bucket_name(name) {
            return Err(
                S3Error::new(400, "InvalidBucketName", "The specified bucket is not valid.").with("BucketName", name),
            );
        }
        if let Some(existing) = self.buckets.get(name) {
            return Err(if existing.account == scope.account {
                S3Error::new(
                    409,
                    "BucketAlreadyOwnedByYou",
                    "Your previous request to create the named bucket succeeded and you already own it.",
                )
            } else {
                S3Error::new(
                    409,
                    "BucketAlreadyExists",
                    "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.",
                )
            }
            .with("BucketName", name));
        }
        self.buckets.insert(
            name.into(),
            Bucket {
                account: scope.account.clone(),
                region: scope.region.clone(),
                created: now,
                objects: BTreeMap::new(),
                uploads: BTreeMap::new(),
                delete_denied: Vec::new(),
            },
        );
        Ok(())
    }

    /// The bucket `name` for a request signed for `region`. S3 refuses a request signed for
    /// another region than the bucket's (on its global endpoint, which path-style addressing
    /// of one endpoint resembles) naming the right one.
    pub fn bucket(&mut self, name: &str, region: &str) -> Result<&mut Bucket, S3Error> {
        let bucket = self
            .buckets
            .get_mut(name)
            .ok_or_else(|| S3Error::no_such_bucket(name))?;
        if bucket.region != region {
            return Err(S3Error::new(
                400,
                "AuthorizationHeaderMalformed",
                format!(
                    "The authorization header is malformed; the region '{region}' is wrong; expecting '{}'",
                    bucket.region
                ),
            )
            .with("Region", &bucket.region));
        }
        Ok(bucket)
    }

    /// The objects of `bucket` whose keys start with `prefix`, in key order.
    pub fn objects(&self, bucket: &str, prefix: &str) -> Result<Vec<S3ObjectView>, S3Error> {
        let bucket = self
            .buckets
            .get(bucket)
            .ok_or_else(|| S3Error::no_such_bucket(bucket))?;
        Ok(bucket
            .objects
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(key, o)| S3ObjectView {
                key: key.clone(),
                size: o.body.len() as u64,
                last_modified: to_epoch_secs(o.last_modified),
                etag: o.etag.clone(),
                sse: o.attributes.sse.clone(),
                kms_key_id: o.attributes.kms_key_id.clone(),
            })
            .collect())
    }

    /// Stores an object as a plain PutObject of `body` would (no metadata, no SSE asked).
    pub fn put_object(&mut self, bucket: &str, key: &str, body: Bytes, now: Millis) -> Result<(), S3Error> {
        let bucket = self
            .buckets
            .get_mut(bucket)
            .ok_or_else(|| S3Error::no_such_bucket(bucket))?;
        ops::check_key(key)?;
        let attributes = Attributes {
            content_type: ops::DEFAULT_CONTENT_TYPE.into(),
            ..Attributes::default()
        };
        bucket
            .objects
            .insert(key.into(), ops::object(body, attributes, whole_seconds(now)));
        Ok(())
    }

    /// Denies deleting the objects of `bucket` whose keys start with `prefix`.
    pub fn deny_delete(&mut self, bucket: &str, prefix: &str) -> Result<(), S3Error> {
        let bucket = self
            .buckets
            .get_mut(bucket)
            .ok_or_else(|| S3Error::no_such_bucket(bucket))?;
        bucket.delete_denied.push(prefix.into());
        Ok(())
    }

    /// Buckets with their keys and sizes, for the state dump.
    pub fn snapshot(&self) -> Value {
        let buckets: Vec<Value> = self
            .buckets
            .iter()
            .map(|(name, b)| {
                json!({
                    "Name": name,
                    "Account": b.account,
                    "Region": b.region,
                    "Objects": b.objects.iter().map(|(k, o)| json!({"Key": k, "Size": o.body.len(), "ETag": o.etag})).collect::<Vec<_>>(),
                    "MultipartUploads": b.uploads.len(),
                })
            })
            .collect();
        Value::Array(buckets)
    }
}

/// An S3 error: code, message and HTTP status, plus the elements after `<Message>` that name
/// what it is about (`BucketName`, `Key`, `UploadId`, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct S3Error {
    pub error: ApiError,
    details: Vec<(&'static str, String)>,
}

impl From<ApiError> for S3Error {
    fn from(error: ApiError) -> Self {
        Self {
            error,
            details: Vec::new(),
        }
    }
}

impl S3Error {
    fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        ApiError::new(status, code, message).into()
    }

    fn with(mut self, element: &'static str, value: &str) -> Self {
        self.details.push((element, value.into()));
        self
    }

    pub fn code(&self) -> &str {
        &self.error.code
    }

    fn no_such_bucket(bucket: &str) -> Self {
        Self::new(404, "NoSuchBucket", "The specified bucket does not exist").with("BucketName", bucket)
    }

    fn no_such_key(key: &str) -> Self {
        Self::new(404, "NoSuchKey", "The specified key does not exist.").with("Key", key)
    }

    fn no_such_upload(upload_id: &str) -> Self {
        Self::new(
            404,
            "NoSuchUpload",
            "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
        )
        .with("UploadId", upload_id)
    }

    fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(400, "InvalidArgument", message)
    }

    fn malformed_xml() -> Self {
        Self::new(
            400,
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our published schema",
        )
    }

    fn access_denied() -> Self {
        Self::new(403, "AccessDenied", "Access Denied")
    }

    fn not_implemented(what: &str) -> Self {
        Self::new(
            501,
            "NotImplemented",
            format!("A header or query you provided implies functionality that is not implemented ({what})"),
        )
    }

    /// A fault from the gate as S3 words it: throttling is `503 SlowDown`, an internal failure
    /// `500 InternalError`.
    pub fn from_fault(error: ApiError) -> Self {
        match error.code.as_str() {
            "ThrottlingException" => Self::new(503, "SlowDown", "Please reduce your request rate."),
            "InternalFailure" => Self::new(
                500,
                "InternalError",
                "We encountered an internal error. Please try again.",
            ),
            _ => error.into(),
        }
    }

    /// The `<Error>` document.
    fn document(&self, request_id: &str) -> String {
        let details: String = self
            .details
            .iter()
            .map(|(name, value)| format!("<{name}>{}</{name}>", xml_escape(value)))
            .collect();
        format!(
            "{XML_DECLARATION}<Error><Code>{}</Code><Message>{}</Message>{details}<RequestId>{request_id}</RequestId><HostId>{request_id}</HostId></Error>",
            xml_escape(&self.error.code),
            xml_escape(&self.error.message),
        )
    }

    /// The answer: the `<Error>` document, or for a HEAD request the status and headers only,
    /// as from S3.
    pub fn response(&self, request_id: &str, head: bool) -> Response<Body> {
        if head {
            return respond(self.error.status, Vec::new(), Bytes::new(), request_id);
        }
        let headers = vec![(header::CONTENT_TYPE, "application/xml".to_string())];
        respond(
            self.error.status,
            headers,
            Bytes::from(self.document(request_id)),
            request_id,
        )
    }
}

/// A successful answer: status, headers and body.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(HeaderName, String)>,
    pub body: Bytes,
}

impl Answer {
    fn empty(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    fn xml(document: String) -> Self {
        Self {
            status: 200,
            headers: vec![(header::CONTENT_TYPE, "application/xml".into())],
            body: Bytes::from(format!("{XML_DECLARATION}{document}")),
        }
    }

    fn header(mut self, name: impl TryInto<HeaderName>, value: impl Into<String>) -> Self {
        if let Ok(name) = name.try_into() {
            self.headers.push((name, value.into()));
        }
        self
    }

    pub fn response(self, request_id: &str) -> Response<Body> {
        respond(self.status, self.headers, self.body, request_id)
    }
}

/// Every S3 answer names its request in `x-amz-request-id` and `x-amz-id-2` (the "host id").
fn respond(status: u16, headers: Vec<(HeaderName, String)>, body: Bytes, request_id: &str) -> Response<Body> {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    for (name, value) in headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.append(name, v);
        }
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amz-request-id", v.clone());
        h.insert("x-amz-id-2", v);
    }
    resp
}

/// The operations served; any other request is [`Op::Unsupported`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    ListBuckets,
    CreateBucket,
    HeadBucket,
    DeleteBucket,
    ListObjectsV2,
    DeleteObjects,
    PutObject,
    GetObject,
    HeadObject,
    DeleteObject,
    CreateMultipartUpload,
    UploadPart,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    /// Anything else, named for the call log (`CopyObject`, `GET bucket?tagging`, ...):
    /// 501 NotImplemented.
    Unsupported(String),
}

/// `response-*` query parameters of GetObject and HeadObject: headers of the answer to override.
const RESPONSE_OVERRIDES: &[&str] = &[
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
];

impl Op {
    /// The name S3's API gives the operation.
    pub fn name(&self) -> &str {
        match self {
            Op::ListBuckets => "ListBuckets",
            Op::CreateBucket => "CreateBucket",
            Op::HeadBucket => "HeadBucket",
            Op::DeleteBucket => "DeleteBucket",
            Op::ListObjectsV2 => "ListObjectsV2",
            Op::DeleteObjects => "DeleteObjects",
            Op::PutObject => "PutObject",
            Op::GetObject => "GetObject",
            Op::HeadObject => "HeadObject",
            Op::DeleteObject => "DeleteObject",
            Op::CreateMultipartUpload => "CreateMultipartUpload",
            Op::UploadPart => "UploadPart",
            Op::CompleteMultipartUpload => "CompleteMultipartUpload",
            Op::AbortMultipartUpload => "AbortMultipartUpload",
            Op::Unsupported(what) => what,
        }
    }

    /// Query parameters the operation takes besides the SDKs' `x-id`. S3 selects other
    /// operations on the same path by query parameters (`?tagging`, `?acl`, ListObjects v1's
    /// `marker`, ...), so any other parameter means an operation the emulator lacks.
    fn query_parameters(&self) -> &'static [&'static str] {
        match self {
            Op::ListBuckets => &["prefix", "bucket-region"],
            Op::ListObjectsV2 => &[
                "list-type",
                "prefix",
                "delimiter",
                "max-keys",
                "continuation-token",
                "start-after",
                "fetch-owner",
                "encoding-type",
            ],
            Op::DeleteObjects => &["delete"],
            Op::GetObject | Op::HeadObject => RESPONSE_OVERRIDES,
            Op::UploadPart => &["partNumber", "uploadId"],
            Op::CreateMultipartUpload => &["uploads"],
            Op::CompleteMultipartUpload | Op::AbortMultipartUpload => &["uploadId"],
            _ => &[],
        }
    }
}

/// One S3 request as the operations read it.
#[derive(Debug)]
pub struct Request {
    pub op: Op,
    /// Percent-decoded; empty for the service (ListBuckets).
    pub bucket: String,
    /// Percent-decoded, `/` included; empty for bucket operations.
    pub key: String,
    query: BTreeMap<String, String>,
    headers: HeaderMap,
    /// The body without `aws-chunked` framing, or why the framing could not be read.
    body: Result<Bytes, S3Error>,
}

impl Request {
    /// Reads a path-style request: `/{bucket}` or `/{bucket}/{key}`.
    pub fn parse(method: &Method, uri: &Uri, headers: &HeaderMap, body: Bytes) -> Self {
        let path = uri.path().strip_prefix('/').unwrap_or(uri.path());
        let (bucket, key) = match path.split_once('/') {
            Some((bucket, key)) => (wire::percent_decode(bucket), wire::percent_decode(key)),
            None => (wire::percent_decode(path), String::new()),
        };
        let query: BTreeMap<String, String> = uri
            .query()
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (wire::percent_decode(k), wire::percent_decode(v))
            })
            .collect();
        let op = classify(method, &bucket, &key, &query, headers);
        Self {
            op,
            bucket,
            key,
            query,
            headers: headers.clone(),
            body: unframe(headers, body),
        }
    }

    fn query(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn body(&self) -> Result<&Bytes, S3Error> {
        self.body.as_ref().map_err(Clone::clone)
    }

    /// What the call log records: `Bucket`, `Key`, the listing's `Prefix`, `Delimiter` and
    /// `ContinuationToken`, a multipart upload's `UploadId` and `PartNumber`, and the `Keys`
    /// a DeleteObjects names (when its document can be read).
    pub fn members(&self) -> Value {
        let mut out = Map::new();
        let mut put = |name: &str, value: Option<&str>| {
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                out.insert(name.into(), json!(v));
            }
        };
        put("Bucket", Some(&self.bucket));
        put("Key", Some(&self.key));
        put("Prefix", self.query("prefix"));
        put("Delimiter", self.query("delimiter"));
        put("ContinuationToken", self.query("continuation-token"));
        put("UploadId", self.query("uploadId"));
        put("PartNumber", self.query("partNumber"));
        if self.op == Op::DeleteObjects
            && let Ok(delete) = self.body().and_then(|b| ops::parse_delete(b))
        {
            out.insert("Keys".into(), json!(delete.keys));
        }
        Value::Object(out)
    }
}

/// Which operation a request is, from its method, path and query (and `x-amz-copy-source`).
fn classify(method: &Method, bucket: &str, key: &str, query: &BTreeMap<String, String>, headers: &HeaderMap) -> Op {
    let has = |name: &str| query.contains_key(name);
    let target = match (bucket.is_empty(), key.is_empty()) {
        (true, _) => "service",
        (false, true) => "bucket",
        (false, false) => "object",
    };
    let op = match (method.as_str(), target) {
        ("GET", "service") => Op::ListBuckets,
        ("PUT", "bucket") => Op::CreateBucket,
        ("HEAD", "bucket") => Op::HeadBucket,
        ("DELETE", "bucket") => Op::DeleteBucket,
        ("GET", "bucket") if query.get("list-type").is_some_and(|t| t == "2") => Op::ListObjectsV2,
        ("POST", "bucket") if has("delete") => Op::DeleteObjects,
        ("PUT", "object") if headers.contains_key("x-amz-copy-source") => {
            return Op::Unsupported(
                if has("partNumber") {
                    "UploadPartCopy"
                } else {
                    "CopyObject"
                }
                .into(),
            );
        }
        ("PUT", "object") if has("partNumber") && has("uploadId") => Op::UploadPart,
        ("PUT", "object") => Op::PutObject,
        ("GET", "object") => Op::GetObject,
        ("HEAD", "object") => Op::HeadObject,
        ("DELETE", "object") if has("uploadId") => Op::AbortMultipartUpload,
        ("DELETE", "object") => Op::DeleteObject,
        ("POST", "object") if has("uploads") => Op::CreateMultipartUpload,
        ("POST", "object") if has("uploadId") => Op::CompleteMultipartUpload,
        _ => Op::Unsupported(String::new()),
    };
    let allowed = op.query_parameters();
    let unknown =
        matches!(op, Op::Unsupported(_)) || query.keys().any(|k| k != "x-id" && !allowed.contains(&k.as_str()));
    if !unknown {
        return op;
    }
    let params: Vec<&str> = query.keys().map(String::as_str).filter(|k| *k != "x-id").collect();
    let params = if params.is_empty() {
        String::new()
    } else {
        format!("?{}", params.join("&"))
    };
    Op::Unsupported(format!("{method} {target}{params}"))
}

/// The body a request carries, without the `aws-chunked` framing when it has one; the length
/// decoded must be the `x-amz-decoded-content-length` announced.
fn unframe(headers: &HeaderMap, body: Bytes) -> Result<Bytes, S3Error> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let chunked = header(header::CONTENT_ENCODING.as_str())
        .split(',')
        .any(|e| e.trim() == "aws-chunked")
        || header("x-amz-content-sha256").starts_with("STREAMING-");
    if !chunked {
        return Ok(body);
    }
    let incomplete = |why: String| {
        S3Error::new(
            400,
            "IncompleteBody",
            format!("The request body could not be read as aws-chunked: {why}"),
        )
    };
    let decoded = wire::decode_aws_chunked(&body).map_err(incomplete)?;
    if let Ok(announced) = header("x-amz-decoded-content-length").parse::<usize>()
        && announced != decoded.len()
    {
        return Err(incomplete(format!(
            "{} bytes decoded, x-amz-decoded-content-length says {announced}",
            decoded.len()
        )));
    }
    Ok(Bytes::from(decoded))
}

/// S3 keeps its timestamps in whole seconds.
fn whole_seconds(now: Millis) -> Millis {
    now - now.rem_euclid(1000)
}

/// Runs one request for a caller in `scope` (account and signing region).
pub fn execute(state: &mut State, scope: &Scope, now: Millis, req: &Request) -> Result<Answer, S3Error> {
    let now = whole_seconds(now);
    let region = scope.region.as_str();
    match &req.op {
        Op::ListBuckets => Ok(ops::list_buckets(&state.s3, scope, req)),
        Op::CreateBucket => ops::create_bucket(&mut state.s3, scope, now, req),
        Op::DeleteBucket => ops::delete_bucket(&mut state.s3, region, req),
        Op::HeadBucket => Ok(ops::head_bucket(state.s3.bucket(&req.bucket, region)?)),
        Op::ListObjectsV2 => ops::list_objects_v2(state.s3.bucket(&req.bucket, region)?, req),
        Op::DeleteObjects => ops::delete_objects(state.s3.bucket(&req.bucket, region)?, req),
        Op::PutObject => ops::put_object(state.s3.bucket(&req.bucket, region)?, now, req),
        Op::GetObject => ops::get_object(state.s3.bucket(&req.bucket, region)?, req, false),
        Op::HeadObject => ops::get_object(state.s3.bucket(&req.bucket, region)?, req, true),
        Op::DeleteObject => ops::delete_object(state.s3.bucket(&req.bucket, region)?, req),
        Op::CreateMultipartUpload => {
            state.s3.bucket(&req.bucket, region)?;
            let upload_id = state.random_alnum(ops::UPLOAD_ID_LEN);
            ops::create_multipart_upload(state.s3.bucket(&req.bucket, region)?, upload_id, req)
        }
        Op::UploadPart => ops::upload_part(state.s3.bucket(&req.bucket, region)?, req),
        Op::CompleteMultipartUpload => ops::complete_multipart_upload(state.s3.bucket(&req.bucket, region)?, now, req),
        Op::AbortMultipartUpload => ops::abort_multipart_upload(state.s3.bucket(&req.bucket, region)?, req),
        Op::Unsupported(what) => Err(S3Error::not_implemented(what)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// 2026-01-02T03:04:05.123Z: S3 keeps the whole second.
    const NOW: Millis = 1_767_323_045_123;

    fn scope() -> Scope {
        Scope::default()
    }

    fn request(method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Request {
        let mut h = HeaderMap::new();
        for (name, value) in headers {
            h.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        Request::parse(&method, &target.parse().unwrap(), &h, Bytes::copy_from_slice(body))
    }

    fn call(
        state: &mut State,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Answer, S3Error> {
        execute(state, &scope(), NOW, &request(method, target, headers, body))
    }

    fn ok(state: &mut State, method: &str, target: &str, body: &[u8]) -> Answer {
        call(state, method, target, &[], body).unwrap_or_else(|e| panic!("{method} {target}: {e:?}"))
    }

    fn code(result: Result<Answer, S3Error>) -> String {
        result.expect_err("an error").code().to_string()
    }

    fn text(answer: &Answer) -> &str {
        std::str::from_utf8(&answer.body).unwrap()
    }

    fn header<'a>(answer: &'a Answer, name: &str) -> Option<&'a str> {
        answer.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// A state with the bucket `bkt` holding `keys` (each key's body is the key).
    fn bucket_with(keys: &[&str]) -> State {
        let mut state = State::new(&Config::default());
        ok(&mut state, "PUT", "/bkt", b"");
        for key in keys {
            state
                .s3
                .put_object("bkt", key, Bytes::from(key.to_string()), NOW)
                .unwrap();
        }
        state
    }

    #[test]
    fn operations_from_method_path_and_query() {
        let op = |method, target: &str| request(method, target, &[], b"").op;
        assert_eq!(op("GET", "/"), Op::ListBuckets);
        assert_eq!(op("PUT", "/bkt"), Op::CreateBucket);
        assert_eq!(op("PUT", "/bkt/"), Op::CreateBucket);
        assert_eq!(op("GET", "/bkt?list-type=2&prefix=a"), Op::ListObjectsV2);
        assert_eq!(op("POST", "/bkt?delete"), Op::DeleteObjects);
        assert_eq!(op("PUT", "/bkt/k?x-id=PutObject"), Op::PutObject);
        assert_eq!(op("PUT", "/bkt/k?partNumber=1&uploadId=u"), Op::UploadPart);
        assert_eq!(op("POST", "/bkt/k?uploads"), Op::CreateMultipartUpload);
        assert_eq!(op("DELETE", "/bkt/k?uploadId=u"), Op::AbortMultipartUpload);
        assert_eq!(op("GET", "/bkt/k?response-content-type=text/plain"), Op::GetObject);
        assert_eq!(
            op("GET", "/bkt?location"),
            Op::Unsupported("GET bucket?location".into())
        );
        assert_eq!(op("GET", "/bkt"), Op::Unsupported("GET bucket".into()));
        assert_eq!(
            op("PUT", "/bkt/k?tagging"),
            Op::Unsupported("PUT object?tagging".into())
        );
        let copy = request("PUT", "/bkt/k", &[("x-amz-copy-source", "/bkt/j")], b"");
        assert_eq!(copy.op, Op::Unsupported("CopyObject".into()));

        let r = request("GET", "/my-bucket/dir/a%20b%2Bc/%C3%A9", &[], b"");
        assert_eq!((r.bucket.as_str(), r.key.as_str()), ("my-bucket", "dir/a b+c/é"));
    }

    #[test]
    fn unsupported_operations_are_not_implemented() {
        let mut state = bucket_with(&[]);
        let err = call(&mut state, "GET", "/bkt?acl", &[], b"").unwrap_err();
        assert_eq!((err.error.status, err.code()), (501, "NotImplemented"));
    }

    #[test]
    fn buckets_share_one_namespace_and_keep_their_region() {
        let mut state = bucket_with(&[]);
        assert_eq!(
            code(call(&mut state, "PUT", "/bkt", &[], b"")),
            "BucketAlreadyOwnedByYou"
        );
        let other = Scope::new("210987654321", "us-east-1");
        let err = execute(&mut state, &other, NOW, &request("PUT", "/bkt", &[], b"")).unwrap_err();
        assert_eq!((err.error.status, err.code()), (409, "BucketAlreadyExists"));
        assert_eq!(
            code(call(&mut state, "PUT", "/Bad_Name", &[], b"")),
            "InvalidBucketName"
        );
        assert_eq!(code(call(&mut state, "HEAD", "/missing", &[], b"")), "NoSuchBucket");

        // Outside us-east-1 the LocationConstraint must name the region.
        let eu = Scope::new(crate::config::DEFAULT_ACCOUNT, "eu-west-1");
        let constraint = b"<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>";
        let err = execute(&mut state, &eu, NOW, &request("PUT", "/euro", &[], b"")).unwrap_err();
        assert_eq!(err.code(), "IllegalLocationConstraintException");
        execute(&mut state, &eu, NOW, &request("PUT", "/euro", &[], constraint)).unwrap();
        assert_eq!(
            code(call(&mut state, "PUT", "/euro2", &[], constraint)),
            "IllegalLocationConstraintException"
        );
        let answer = execute(&mut state, &eu, NOW, &request("HEAD", "/euro", &[], b"")).unwrap();
        assert_eq!(header(&answer, "x-amz-bucket-region"), Some("eu-west-1"));
        // A request signed for another region names the bucket's.
        let err = call(&mut state, "GET", "/euro?list-type=2", &[], b"").unwrap_err();
        assert_eq!(err.code(), "AuthorizationHeaderMalformed");
        assert!(err.details.contains(&("Region", "eu-west-1".into())));

        let listing = ok(&mut state, "GET", "/", b"");
        assert_eq!(wire::elements(text(&listing), "Name"), ["bkt", "euro"]);
        let theirs = execute(&mut state, &other, NOW, &request("GET", "/", &[], b"")).unwrap();
        assert!(wire::elements(text(&theirs), "Name").is_empty());

        state.s3.put_object("bkt", "k", Bytes::from_static(b"x"), NOW).unwrap();
        assert_eq!(code(call(&mut state, "DELETE", "/bkt", &[], b"")), "BucketNotEmpty");
        ok(&mut state, "DELETE", "/bkt/k", b"");
        assert_eq!(ok(&mut state, "DELETE", "/bkt", b"").status, 204);
        assert_eq!(code(call(&mut state, "HEAD", "/bkt", &[], b"")), "NoSuchBucket");
    }

    #[test]
    fn put_and_get_with_aws_chunked_framing_sse_and_metadata() {
        let mut state = bucket_with(&[]);
        let put = call(
            &mut state,
            "PUT",
            "/bkt/dir/data.json?x-id=PutObject",
            &[
                ("content-encoding", "aws-chunked"),
                ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
                ("x-amz-decoded-content-length", "11"),
                ("x-amz-trailer", "x-amz-checksum-crc32"),
                ("content-type", "application/json"),
                ("x-amz-server-side-encryption", "aws:kms"),
                ("x-amz-server-side-encryption-aws-kms-key-id", "alias/studio"),
                ("x-amz-meta-owner", "alice"),
            ],
            b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n",
        )
        .unwrap();
        // MD5 of "hello world".
        let etag = "\"5eb63bbbe01eeed093cb22bb8f5acdc3\"";
        assert_eq!(header(&put, "etag"), Some(etag));
        assert_eq!(header(&put, "x-amz-server-side-encryption"), Some("aws:kms"));

        let get = ok(&mut state, "GET", "/bkt/dir/data.json", b"");
        assert_eq!(text(&get), "hello world");
        for (name, value) in [
            ("etag", etag),
            ("content-type", "application/json"),
            ("content-length", "11"),
            ("last-modified", "Fri, 02 Jan 2026 03:04:05 GMT"),
            ("x-amz-server-side-encryption", "aws:kms"),
            ("x-amz-server-side-encryption-aws-kms-key-id", "alias/studio"),
            ("x-amz-meta-owner", "alice"),
        ] {
            assert_eq!(header(&get, name), Some(value), "{name}");
        }
        assert_eq!(header(&get, "content-encoding"), None, "aws-chunked is not stored");

        let range = call(&mut state, "GET", "/bkt/dir/data.json", &[("range", "bytes=6-")], b"").unwrap();
        assert_eq!((range.status, text(&range)), (206, "world"));
        assert_eq!(header(&range, "content-range"), Some("bytes 6-10/11"));
        let err = call(&mut state, "GET", "/bkt/dir/data.json", &[("range", "bytes=20-")], b"").unwrap_err();
        assert_eq!((err.error.status, err.code()), (416, "InvalidRange"));

        let head = ok(&mut state, "HEAD", "/bkt/dir/data.json", b"");
        assert_eq!((head.body.len(), header(&head, "content-length")), (0, Some("11")));
        assert_eq!(code(call(&mut state, "GET", "/bkt/nothing", &[], b"")), "NoSuchKey");

        // No encryption asked: S3's default, SSE-S3.
        state.s3.put_object("bkt", "plain", Bytes::new(), NOW).unwrap();
        let plain = ok(&mut state, "HEAD", "/bkt/plain", b"");
        assert_eq!(header(&plain, "x-amz-server-side-encryption"), Some("AES256"));
        assert_eq!(header(&plain, "content-type"), Some("binary/octet-stream"));

        let bad = [("x-amz-server-side-encryption", "rot13")];
        assert_eq!(code(call(&mut state, "PUT", "/bkt/x", &bad, b"")), "InvalidArgument");
        let key_alone = [("x-amz-server-side-encryption-aws-kms-key-id", "k")];
        assert_eq!(
            code(call(&mut state, "PUT", "/bkt/x", &key_alone, b"")),
            "InvalidArgument"
        );
        let short = [
            ("content-encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", "9"),
        ];
        assert_eq!(
            code(call(&mut state, "PUT", "/bkt/x", &short, b"5\r\nhello\r\n0\r\n\r\n")),
            "IncompleteBody"
        );

        assert_eq!(ok(&mut state, "DELETE", "/bkt/dir/data.json", b"").status, 204);
        assert_eq!(ok(&mut state, "DELETE", "/bkt/dir/data.json", b"").status, 204);
        let views = state.s3.objects("bkt", "").unwrap();
        assert_eq!(views.iter().map(|v| v.key.as_str()).collect::<Vec<_>>(), ["plain"]);
    }

    /// Keys, common prefixes and the next token of one ListObjectsV2 page.
    fn page(state: &mut State, query: &str) -> (Vec<String>, Vec<String>, Option<String>) {
        let answer = ok(state, "GET", &format!("/bkt?list-type=2&{query}"), b"");
        let xml = text(&answer);
        let contents = wire::elements(xml, "Contents");
        let keys = contents.iter().map(|c| wire::text(c, "Key").unwrap()).collect();
        let prefixes = wire::elements(xml, "CommonPrefixes")
            .iter()
            .map(|c| wire::text(c, "Prefix").unwrap())
            .collect();
        let truncated = wire::text(xml, "IsTruncated").unwrap() == "true";
        let next = wire::text(xml, "NextContinuationToken");
        assert_eq!(truncated, next.is_some(), "{xml}");
        (keys, prefixes, next)
    }

    #[test]
    fn list_objects_v2_pages_through_keys_and_common_prefixes() {
        let mut state = bucket_with(&["a/1", "a/2", "b", "c/x/y", "c/z", "d", "e/1"]);
        let (keys, prefixes, next) = page(&mut state, "delimiter=%2F&max-keys=2");
        assert_eq!((keys, prefixes), (vec!["b".to_string()], vec!["a/".to_string()]));
        let token = next.unwrap();
        let (keys, prefixes, next) = page(
            &mut state,
            &format!("delimiter=/&max-keys=2&continuation-token={token}"),
        );
        assert_eq!((keys, prefixes), (vec!["d".to_string()], vec!["c/".to_string()]));
        let token = next.unwrap();
        let (keys, prefixes, next) = page(
            &mut state,
            &format!("delimiter=/&max-keys=2&continuation-token={token}"),
        );
        assert_eq!((keys, prefixes, next), (vec![], vec!["e/".to_string()], None));

        // Under a prefix, after a key, without delimiter; the default page holds everything.
        let (keys, prefixes, _) = page(&mut state, "prefix=c/&delimiter=/");
        assert_eq!((keys, prefixes), (vec!["c/z".to_string()], vec!["c/x/".to_string()]));
        let (keys, _, _) = page(&mut state, "start-after=c/x/y");
        assert_eq!(keys, ["c/z", "d", "e/1"]);
        let (keys, _, next) = page(&mut state, "");
        assert_eq!((keys.len(), next), (7, None));

        let answer = ok(&mut state, "GET", "/bkt?list-type=2&prefix=a/&max-keys=1", b"");
        let xml = text(&answer);
        for (element, value) in [("Name", "bkt"), ("Prefix", "a/"), ("KeyCount", "1"), ("MaxKeys", "1")] {
            assert_eq!(wire::text(xml, element).as_deref(), Some(value), "{element}");
        }
        let contents = wire::elements(xml, "Contents")[0];
        assert_eq!(
            wire::text(contents, "LastModified").as_deref(),
            Some("2026-01-02T03:04:05.000Z")
        );
        assert_eq!(wire::text(contents, "Size").as_deref(), Some("3"));
        assert_eq!(wire::text(contents, "StorageClass").as_deref(), Some("STANDARD"));
        assert_eq!(
            wire::text(contents, "ETag").unwrap(),
            format!("\"{}\"", md5::hex(&md5::md5(b"a/1")))
        );
        assert!(xml.starts_with("<?xml") && xml.contains(&format!("<ListBucketResult xmlns=\"{NS}\">")));

        assert_eq!(
            code(call(&mut state, "GET", "/bkt?list-type=2&max-keys=x", &[], b"")),
            "InvalidArgument"
        );
        let bad_token = "/bkt?list-type=2&continuation-token=zz";
        assert_eq!(code(call(&mut state, "GET", bad_token, &[], b"")), "InvalidArgument");
    }

    #[test]
    fn listings_are_url_encoded_when_asked() {
        let mut state = bucket_with(&["dir a/x+y&z.txt", "plain"]);
        let answer = ok(
            &mut state,
            "GET",
            "/bkt?list-type=2&encoding-type=url&delimiter=%2F&prefix=dir%20a%2F",
            b"",
        );
        let xml = text(&answer);
        assert!(xml.contains("<Key>dir+a/x%2By%26z.txt</Key>"), "{xml}");
        assert!(xml.contains("<Prefix>dir+a/</Prefix>"), "{xml}");
        assert!(xml.contains("<EncodingType>url</EncodingType>"), "{xml}");
        let answer = ok(
            &mut state,
            "GET",
            "/bkt?list-type=2&delimiter=%2F&prefix=dir%20a%2F",
            b"",
        );
        let xml = text(&answer);
        assert!(xml.contains("<Key>dir a/x+y&amp;z.txt</Key>"), "{xml}");
        assert!(!xml.contains("EncodingType"));
        let common = ok(&mut state, "GET", "/bkt?list-type=2&encoding-type=url&delimiter=/", b"");
        assert!(text(&common).contains("<CommonPrefixes><Prefix>dir+a/</Prefix></CommonPrefixes>"));
    }

    #[test]
    fn delete_objects_reads_escaped_keys_and_reports_each() {
        let mut state = bucket_with(&["a&b", "<c>", "keep/1", "A"]);
        state.s3.deny_delete("bkt", "keep/").unwrap();
        let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                    <Object><Key>a&amp;b</Key></Object><Object><Key>&lt;c&gt;</Key></Object>\
                    <Object><Key>&#x41;</Key></Object><Object><Key>keep/1</Key></Object>\
                    <Object><Key>absent</Key></Object><Quiet>false</Quiet></Delete>";
        let req = request("POST", "/bkt?delete", &[], body.as_bytes());
        assert_eq!(req.members()["Keys"], json!(["a&b", "<c>", "A", "keep/1", "absent"]));
        let answer = execute(&mut state, &scope(), NOW, &req).unwrap();
        let xml = text(&answer);
        let deleted: Vec<String> = wire::elements(xml, "Deleted")
            .iter()
            .map(|d| wire::text(d, "Key").unwrap())
            .collect();
        assert_eq!(deleted, ["a&b", "<c>", "A", "absent"]);
        let errors = wire::elements(xml, "Error");
        assert_eq!(errors.len(), 1);
        assert_eq!(wire::text(errors[0], "Key").as_deref(), Some("keep/1"));
        assert_eq!(wire::text(errors[0], "Code").as_deref(), Some("AccessDenied"));
        assert_eq!(state.s3.objects("bkt", "").unwrap().len(), 1);
        assert_eq!(
            code(call(&mut state, "DELETE", "/bkt/keep/1", &[], b"")),
            "AccessDenied"
        );

        let quiet = "<Delete><Object><Key>x</Key></Object><Quiet>true</Quiet></Delete>";
        let answer = ok(&mut state, "POST", "/bkt?delete", quiet.as_bytes());
        assert_eq!(wire::elements(text(&answer), "Deleted").len(), 0);

        let too_many = format!("<Delete>{}</Delete>", "<Object><Key>k</Key></Object>".repeat(1001));
        assert_eq!(
            code(call(&mut state, "POST", "/bkt?delete", &[], too_many.as_bytes())),
            "MalformedXML"
        );
        for bad in [
            "<Delete></Delete>",
            "<Delete><Object></Object></Delete>",
            "not xml",
            "<Delete><Object><Key>&bad;</Key></Object></Delete>",
        ] {
            assert_eq!(
                code(call(&mut state, "POST", "/bkt?delete", &[], bad.as_bytes())),
                "MalformedXML",
                "{bad}"
            );
        }
    }

    #[test]
    fn multipart_upload() {
        let mut state = bucket_with(&[]);
        let sse = [("x-amz-server-side-encryption", "aws:kms")];
        let created = call(&mut state, "POST", "/bkt/big?uploads", &sse, b"").unwrap();
        let id = wire::text(text(&created), "UploadId").unwrap();
        let part = |state: &mut State, n: u32, body: &[u8]| {
            let answer = ok(state, "PUT", &format!("/bkt/big?partNumber={n}&uploadId={id}"), body);
            header(&answer, "etag").unwrap().to_string()
        };
        let first = vec![7u8; ops::MIN_PART_SIZE];
        let small = part(&mut state, 1, b"small");
        let tail = part(&mut state, 2, b"tail");
        let complete = |parts: &[(u32, &str)]| {
            let parts: String = parts
                .iter()
                .map(|(n, etag)| {
                    format!(
                        "<Part><ETag>{}</ETag><PartNumber>{n}</PartNumber></Part>",
                        xml_escape(etag)
                    )
                })
                .collect();
            format!("<CompleteMultipartUpload xmlns=\"{NS}\">{parts}</CompleteMultipartUpload>")
        };
        let target = format!("/bkt/big?uploadId={id}");
        let attempt = |state: &mut State, doc: String| call(state, "POST", &target, &[], doc.as_bytes());
        assert_eq!(
            code(attempt(&mut state, complete(&[(1, &small), (2, &tail)]))),
            "EntityTooSmall"
        );
        let first_etag = part(&mut state, 1, &first);
        assert_eq!(
            code(attempt(&mut state, complete(&[(2, &tail), (1, &first_etag)]))),
            "InvalidPartOrder"
        );
        assert_eq!(
            code(attempt(&mut state, complete(&[(1, &small), (2, &tail)]))),
            "InvalidPart"
        );
        assert_eq!(
            code(attempt(&mut state, complete(&[(1, &first_etag), (3, &tail)]))),
            "InvalidPart"
        );
        assert_eq!(code(attempt(&mut state, complete(&[]))), "MalformedXML");

        let done = attempt(&mut state, complete(&[(1, &first_etag), (2, &tail)])).unwrap();
        let mut digests = md5::md5(&first).to_vec();
        digests.extend_from_slice(&md5::md5(b"tail"));
        let etag = format!("\"{}-2\"", md5::hex(&md5::md5(&digests)));
        assert_eq!(wire::text(text(&done), "ETag"), Some(etag.clone()));
        assert_eq!(header(&done, "x-amz-server-side-encryption"), Some("aws:kms"));
        let get = ok(&mut state, "GET", "/bkt/big", b"");
        assert_eq!(get.body.len(), ops::MIN_PART_SIZE + 4);
        assert!(get.body.ends_with(b"tail"));
        assert_eq!(header(&get, "etag"), Some(etag.as_str()));

        // The upload is gone once completed; an aborted one too.
        assert_eq!(code(attempt(&mut state, complete(&[(1, &first_etag)]))), "NoSuchUpload");
        let created = ok(&mut state, "POST", "/bkt/other?uploads", b"");
        let id = wire::text(text(&created), "UploadId").unwrap();
        let wrong_key = format!("/bkt/big?uploadId={id}");
        assert_eq!(code(call(&mut state, "DELETE", &wrong_key, &[], b"")), "NoSuchUpload");
        assert_eq!(
            ok(&mut state, "DELETE", &format!("/bkt/other?uploadId={id}"), b"").status,
            204
        );
        let late = format!("/bkt/other?partNumber=1&uploadId={id}");
        assert_eq!(code(call(&mut state, "PUT", &late, &[], b"x")), "NoSuchUpload");
        let bad_number = format!("/bkt/other?partNumber=10001&uploadId={id}");
        assert_eq!(code(call(&mut state, "PUT", &bad_number, &[], b"x")), "InvalidArgument");
    }

    #[test]
    fn errors_are_s3_xml_documents() {
        let err = S3Error::no_such_bucket("a&b");
        assert_eq!(
            err.document("req-1"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchBucket</Code>\
             <Message>The specified bucket does not exist</Message><BucketName>a&amp;b</BucketName>\
             <RequestId>req-1</RequestId><HostId>req-1</HostId></Error>"
        );
        let resp = err.response("req-1", false);
        assert_eq!(resp.status(), 404);
        assert_eq!(resp.headers()["x-amz-request-id"], "req-1");
        assert_eq!(resp.headers()["content-type"], "application/xml");
        let head = err.response("req-1", true);
        assert_eq!(head.status(), 404);
        assert!(!head.headers().contains_key("content-type"));

        let throttled = S3Error::from_fault(ApiError::throttling());
        assert_eq!((throttled.error.status, throttled.code()), (503, "SlowDown"));
        assert_eq!(
            S3Error::from_fault(ApiError::internal_failure()).code(),
            "InternalError"
        );
        assert_eq!(
            S3Error::from_fault(ApiError::service_unavailable()).code(),
            "ServiceUnavailable"
        );
    }
}
