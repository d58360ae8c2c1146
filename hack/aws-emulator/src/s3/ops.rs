//! The operations: buckets, objects, listings, batch deletion and multipart uploads.

use std::collections::BTreeMap;
use std::ops::Bound;

use axum::body::Bytes;
use axum::http::header;

use super::md5::{hex, md5};
use super::wire::{self, Range};
use super::{Answer, Attributes, Bucket, NS, Object, Part, RESPONSE_OVERRIDES, Request, S3Error, S3State, Upload};
use crate::clock::{Millis, http_date};
use crate::state::Scope;
use crate::sts::xml_escape;

/// What S3 calls an object uploaded without a Content-Type.
pub(super) const DEFAULT_CONTENT_TYPE: &str = "binary/octet-stream";
pub(super) const UPLOAD_ID_LEN: usize = 64;
/// Keys per DeleteObjects call, and the most (and default) per listing page.
const MAX_KEYS: usize = 1000;
const MAX_KEY_BYTES: usize = 1024;
/// The smallest size of every part of a multipart upload but the last.
pub(super) const MIN_PART_SIZE: usize = 5 * 1024 * 1024;
const MAX_PART_NUMBER: u32 = 10_000;
/// Headers kept with an object and answered back by Get and Head (Content-Encoding aside).
const STORED_HEADERS: [&str; 4] = ["cache-control", "content-disposition", "content-language", "expires"];
const SSE_ALGORITHMS: [&str; 3] = ["AES256", "aws:kms", "aws:kms:dsse"];

/// S3's rules for new bucket names: 3 to 63 lowercase letters, digits, dots and hyphens,
/// starting and ending with a letter or digit, no `..`, not shaped like an IP address.
pub(super) fn valid_bucket_name(name: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    (3..=63).contains(&name.len())
        && name.chars().all(|c| alnum(c) || c == '.' || c == '-')
        && name.starts_with(alnum)
        && name.ends_with(alnum)
        && !name.contains("..")
        && name.parse::<std::net::Ipv4Addr>().is_err()
}

pub(super) fn check_key(key: &str) -> Result<(), S3Error> {
    if key.len() > MAX_KEY_BYTES {
        return Err(S3Error::new(400, "KeyTooLongError", "Your key is too long")
            .with("Size", &key.len().to_string())
            .with("MaxSizeAllowed", &MAX_KEY_BYTES.to_string()));
    }
    Ok(())
}

pub(super) fn object(body: Bytes, attributes: Attributes, now: Millis) -> Object {
    Object {
        etag: format!("\"{}\"", hex(&md5(&body))),
        body,
        last_modified: now,
        attributes,
    }
}

/// Reads what PutObject and CreateMultipartUpload say about the object besides its body.
fn attributes(req: &Request) -> Result<Attributes, S3Error> {
    let sse = req.header("x-amz-server-side-encryption").map(String::from);
    if let Some(algorithm) = &sse
        && !SSE_ALGORITHMS.contains(&algorithm.as_str())
    {
        return Err(
            S3Error::invalid_argument("The encryption method specified is not supported")
                .with("ArgumentName", "x-amz-server-side-encryption")
                .with("ArgumentValue", algorithm),
        );
    }
    let kms_key_id = req
        .header("x-amz-server-side-encryption-aws-kms-key-id")
        .map(String::from);
    if kms_key_id.is_some() && !sse.as_deref().is_some_and(|s| s.starts_with("aws:kms")) {
        return Err(S3Error::invalid_argument(
            "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms",
        )
        .with("ArgumentName", "x-amz-server-side-encryption-aws-kms-key-id"));
    }
    let mut headers = Vec::new();
    let encodings: Vec<&str> = req
        .header("content-encoding")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty() && *e != "aws-chunked")
        .collect();
    if !encodings.is_empty() {
        headers.push(("content-encoding".to_string(), encodings.join(",")));
    }
    for name in STORED_HEADERS {
        if let Some(value) = req.header(name) {
            headers.push((name.to_string(), value.to_string()));
        }
    }
    let metadata = req
        .headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("x-amz-meta-"))
        .filter_map(|(name, value)| Some((name.as_str().to_string(), value.to_str().ok()?.to_string())))
        .collect();
    Ok(Attributes {
        content_type: req.header("content-type").unwrap_or(DEFAULT_CONTENT_TYPE).into(),
        headers,
        metadata,
        sse,
        kms_key_id,
    })
}

/// The encryption headers of an object's answers. An object uploaded without SSE has S3's
/// default encryption, SSE-S3, which S3 reports as `AES256`.
fn with_sse(answer: Answer, attributes: &Attributes) -> Answer {
    let answer = answer.header(
        "x-amz-server-side-encryption",
        attributes.sse.as_deref().unwrap_or("AES256"),
    );
    match &attributes.kms_key_id {
        Some(key) => answer.header("x-amz-server-side-encryption-aws-kms-key-id", key.as_str()),
        None => answer,
    }
}

pub(super) fn list_buckets(s3: &S3State, scope: &Scope, req: &Request) -> Answer {
    let prefix = req.query("prefix").unwrap_or_default();
    let region = req.query("bucket-region");
    let buckets: String = s3
        .buckets
        .iter()
        .filter(|(name, b)| {
            b.account == scope.account && name.starts_with(prefix) && region.is_none_or(|r| r == b.region)
        })
        .map(|(name, b)| {
            format!(
                "<Bucket><Name>{}</Name><CreationDate>{}</CreationDate><BucketRegion>{}</BucketRegion></Bucket>",
                xml_escape(name),
                wire::iso8601(b.created),
                xml_escape(&b.region)
            )
        })
        .collect();
    let owner = xml_escape(&scope.account);
    Answer::xml(format!(
        "<ListAllMyBucketsResult xmlns=\"{NS}\"><Owner><ID>{owner}</ID><DisplayName>{owner}</DisplayName></Owner><Buckets>{buckets}</Buckets></ListAllMyBucketsResult>"
    ))
}

/// CreateBucket in the signing region. As on S3's regional endpoints, a `LocationConstraint`
/// must name that region, and is required outside us-east-1 and refused naming us-east-1.
pub(super) fn create_bucket(s3: &mut S3State, scope: &Scope, now: Millis, req: &Request) -> Result<Answer, S3Error> {
    let document = std::str::from_utf8(req.body()?).map_err(|_| S3Error::malformed_xml())?;
    let constraint = wire::text(document, "LocationConstraint")
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty());
    let illegal = |which: &str| {
        S3Error::new(
            400,
            "IllegalLocationConstraintException",
            format!(
                "The {which} location constraint is incompatible for the region specific endpoint this request was sent to."
            ),
        )
    };
    match constraint.as_deref() {
        Some("us-east-1") => {
            return Err(S3Error::new(
                400,
                "InvalidLocationConstraint",
                "The specified location-constraint is not valid",
            )
            .with("LocationConstraint", "us-east-1"));
        }
        Some(region) if region != scope.region => return Err(illegal(region)),
        None if scope.region != "us-east-1" => return Err(illegal("unspecified")),
        _ => {}
    }
    s3.create_bucket(&req.bucket, scope, now)?;
    Ok(Answer::empty(200).header(header::LOCATION, format!("/{}", req.bucket)))
}

pub(super) fn head_bucket(bucket: &Bucket) -> Answer {
    Answer::empty(200).header("x-amz-bucket-region", bucket.region.as_str())
}

/// DeleteBucket; objects left are BucketNotEmpty, uploads in progress go with the bucket.
pub(super) fn delete_bucket(s3: &mut S3State, region: &str, req: &Request) -> Result<Answer, S3Error> {
    if !s3.bucket(&req.bucket, region)?.objects.is_empty() {
        return Err(
            S3Error::new(409, "BucketNotEmpty", "The bucket you tried to delete is not empty")
                .with("BucketName", &req.bucket),
        );
    }
    s3.buckets.remove(&req.bucket);
    Ok(Answer::empty(204))
}

/// One entry of a listing: an object, or the common prefix standing for every key under it.
#[derive(Debug, Clone, Copy)]
enum Entry<'a> {
    Object(&'a str, &'a Object),
    Prefix(&'a str),
}

impl<'a> Entry<'a> {
    fn name(&self) -> &'a str {
        match self {
            Entry::Object(key, _) | Entry::Prefix(key) => key,
        }
    }
}

/// One page of a listing, in key order.
#[derive(Debug)]
struct Page<'a> {
    entries: Vec<Entry<'a>>,
    truncated: bool,
}

/// The listing of the keys under `prefix` that come after `start_after`, with the keys that
/// hold `delimiter` after the prefix folded into common prefixes (each counts once), from the
/// entry after `after` (the previous page's last entry, which the continuation token carries),
/// at most `max_keys` entries.
fn list_page<'a>(
    objects: &'a BTreeMap<String, Object>,
    prefix: &str,
    delimiter: Option<&str>,
    start_after: Option<&str>,
    after: Option<&str>,
    max_keys: usize,
) -> Page<'a> {
    // An entry's name is its key or a prefix of it, so no key before `after` can contribute.
    let from = [Some(prefix), start_after, after]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or_default();
    let mut entries: Vec<Entry<'a>> = Vec::new();
    let mut truncated = false;
    for (key, object) in objects.range::<str, _>((Bound::Included(from), Bound::Unbounded)) {
        if !key.starts_with(prefix) {
            break;
        }
        if start_after.is_some_and(|s| key.as_str() <= s) {
            continue;
        }
        let folded = delimiter.and_then(|d| key[prefix.len()..].find(d).map(|i| prefix.len() + i + d.len()));
        let entry = match folded {
            Some(end) => Entry::Prefix(&key[..end]),
            None => Entry::Object(key, object),
        };
        let seen = after.is_some_and(|a| entry.name() <= a) || entries.last().is_some_and(|e| e.name() == entry.name());
        if seen {
            continue;
        }
        if entries.len() == max_keys {
            truncated = max_keys > 0;
            break;
        }
        entries.push(entry);
    }
    Page { entries, truncated }
}

/// Continuation tokens are the hex of the last entry listed: opaque to clients, and a page
/// follows on correctly whatever was written or deleted in between.
fn encode_token(name: &str) -> String {
    hex(name.as_bytes())
}

fn decode_token(token: &str) -> Option<String> {
    if !token.len().is_multiple_of(2) {
        return None;
    }
    let bytes = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

/// ListObjectsV2: `prefix`, `delimiter`, `max-keys`, `continuation-token`, `start-after` and
/// `encoding-type=url` (with which keys, prefixes, the delimiter and start-after are answered
/// URL-encoded, as botocore asks and decodes). `fetch-owner` is ignored: no Owner is answered.
pub(super) fn list_objects_v2(bucket: &Bucket, req: &Request) -> Result<Answer, S3Error> {
    let prefix = req.query("prefix").unwrap_or_default();
    let delimiter = req.query("delimiter").filter(|d| !d.is_empty());
    let start_after = req.query("start-after").filter(|s| !s.is_empty());
    let token = req.query("continuation-token");
    let max_keys = match req.query("max-keys") {
        None => MAX_KEYS,
        Some(value) => value
            .parse::<usize>()
            .map_err(|_| {
                S3Error::invalid_argument("Provided max-keys not an integer or within integer range")
                    .with("ArgumentName", "max-keys")
                    .with("ArgumentValue", value)
            })?
            .min(MAX_KEYS),
    };
    let url = match req.query("encoding-type") {
        None => false,
        Some("url") => true,
        Some(other) => {
            return Err(
                S3Error::invalid_argument("Invalid Encoding Method specified in Request")
                    .with("ArgumentName", "encoding-type")
                    .with("ArgumentValue", other),
            );
        }
    };
    let after = token
        .map(|t| {
            decode_token(t).ok_or_else(|| {
                S3Error::invalid_argument("The continuation token provided is incorrect")
                    .with("ArgumentName", "continuation-token")
            })
        })
        .transpose()?;
    let page = list_page(
        &bucket.objects,
        prefix,
        delimiter,
        start_after,
        after.as_deref(),
        max_keys,
    );
    let enc = |s: &str| xml_escape(&if url { wire::url_encode(s) } else { s.to_string() });

    let mut xml = format!(
        "<ListBucketResult xmlns=\"{NS}\"><Name>{}</Name><Prefix>{}</Prefix>",
        xml_escape(&req.bucket),
        enc(prefix)
    );
    if let Some(token) = token {
        xml += &format!("<ContinuationToken>{}</ContinuationToken>", xml_escape(token));
    }
    if page.truncated
        && let Some(last) = page.entries.last()
    {
        xml += &format!(
            "<NextContinuationToken>{}</NextContinuationToken>",
            encode_token(last.name())
        );
    }
    xml += &format!(
        "<KeyCount>{}</KeyCount><MaxKeys>{max_keys}</MaxKeys>",
        page.entries.len()
    );
    if let Some(d) = delimiter {
        xml += &format!("<Delimiter>{}</Delimiter>", enc(d));
    }
    xml += &format!("<IsTruncated>{}</IsTruncated>", page.truncated);
    for entry in &page.entries {
        if let Entry::Object(key, o) = entry {
            xml += &format!(
                "<Contents><Key>{}</Key><LastModified>{}</LastModified><ETag>{}</ETag><Size>{}</Size><StorageClass>STANDARD</StorageClass></Contents>",
                enc(key),
                wire::iso8601(o.last_modified),
                xml_escape(&o.etag),
                o.body.len()
            );
        }
    }
    for entry in &page.entries {
        if let Entry::Prefix(p) = entry {
            xml += &format!("<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>", enc(p));
        }
    }
    if url {
        xml += "<EncodingType>url</EncodingType>";
    }
    if let Some(s) = start_after {
        xml += &format!("<StartAfter>{}</StartAfter>", enc(s));
    }
    xml += "</ListBucketResult>";
    Ok(Answer::xml(xml))
}

/// A DeleteObjects document: the keys named, and whether only errors are to be answered.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct DeleteRequest {
    pub keys: Vec<String>,
    pub quiet: bool,
}

/// Reads `<Delete><Object><Key>k</Key></Object>...<Quiet>true</Quiet></Delete>`; no object, more
/// than 1000, or an object without a key is MalformedXML, as on S3.
pub(super) fn parse_delete(body: &[u8]) -> Result<DeleteRequest, S3Error> {
    let xml = std::str::from_utf8(body).map_err(|_| S3Error::malformed_xml())?;
    let delete = *wire::elements(xml, "Delete")
        .first()
        .ok_or_else(S3Error::malformed_xml)?;
    let objects = wire::elements(delete, "Object");
    if objects.is_empty() || objects.len() > MAX_KEYS {
        return Err(S3Error::malformed_xml());
    }
    let keys = objects
        .iter()
        .map(|o| wire::text(o, "Key").ok_or_else(S3Error::malformed_xml))
        .collect::<Result<Vec<_>, _>>()?;
    let quiet = wire::text(delete, "Quiet").is_some_and(|q| q.trim() == "true");
    Ok(DeleteRequest { keys, quiet })
}

fn delete_denied(bucket: &Bucket, key: &str) -> bool {
    bucket
        .delete_denied
        .iter()
        .any(|prefix| key.starts_with(prefix.as_str()))
}

/// DeleteObjects: every key named is deleted (an absent key too, as S3 counts it) unless its
/// deletion is denied, which is answered as an `<Error>` entry for that key.
pub(super) fn delete_objects(bucket: &mut Bucket, req: &Request) -> Result<Answer, S3Error> {
    let delete = parse_delete(req.body()?)?;
    let mut results = String::new();
    for key in &delete.keys {
        let key_xml = xml_escape(key);
        if delete_denied(bucket, key) {
            results += &format!(
                "<Error><Key>{key_xml}</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
            );
            continue;
        }
        bucket.objects.remove(key);
        if !delete.quiet {
            results += &format!("<Deleted><Key>{key_xml}</Key></Deleted>");
        }
    }
    Ok(Answer::xml(format!(
        "<DeleteResult xmlns=\"{NS}\">{results}</DeleteResult>"
    )))
}

pub(super) fn put_object(bucket: &mut Bucket, now: Millis, req: &Request) -> Result<Answer, S3Error> {
    check_key(&req.key)?;
    let object = object(req.body()?.clone(), attributes(req)?, now);
    let answer = with_sse(
        Answer::empty(200).header(header::ETAG, object.etag.as_str()),
        &object.attributes,
    );
    bucket.objects.insert(req.key.clone(), object);
    Ok(answer)
}

/// GetObject and HeadObject (`head`: the same headers, no body), with one `Range` of bytes
/// (206) and the `response-*` header overrides.
pub(super) fn get_object(bucket: &Bucket, req: &Request, head: bool) -> Result<Answer, S3Error> {
    let object = bucket
        .objects
        .get(&req.key)
        .ok_or_else(|| S3Error::no_such_key(&req.key))?;
    let size = object.body.len() as u64;
    let asked = req.header("range");
    let (status, start, end) = match asked.and_then(|r| wire::parse_range(r, size)) {
        None => (200, 0, size),
        Some(Range::Bytes(first, last)) => (206, first, last + 1),
        Some(Range::Unsatisfiable) => {
            return Err(
                S3Error::new(416, "InvalidRange", "The requested range is not satisfiable")
                    .with("RangeRequested", asked.unwrap_or_default())
                    .with("ActualObjectSize", &size.to_string()),
            );
        }
    };
    let attributes = &object.attributes;
    let body = if head {
        Bytes::new()
    } else {
        object.body.slice(start as usize..end as usize)
    };
    let mut answer = Answer {
        status,
        headers: Vec::new(),
        body,
    }
    .header(header::CONTENT_LENGTH, (end - start).to_string())
    .header(header::ETAG, object.etag.as_str())
    .header(header::LAST_MODIFIED, http_date(object.last_modified))
    .header(header::ACCEPT_RANGES, "bytes")
    .header(header::CONTENT_TYPE, attributes.content_type.as_str());
    if status == 206 {
        answer = answer.header(header::CONTENT_RANGE, format!("bytes {start}-{}/{size}", end - 1));
    }
    for (name, value) in attributes.headers.iter().chain(&attributes.metadata) {
        answer = answer.header(name.as_str(), value.as_str());
    }
    answer = with_sse(answer, attributes);
    for param in RESPONSE_OVERRIDES {
        if let Some(value) = req.query(param) {
            let name = &param["response-".len()..];
            answer.headers.retain(|(n, _)| n.as_str() != name);
            answer = answer.header(name, value);
        }
    }
    Ok(answer)
}

/// DeleteObject: 204 whether or not the key existed, AccessDenied where deletion is denied.
pub(super) fn delete_object(bucket: &mut Bucket, req: &Request) -> Result<Answer, S3Error> {
    if delete_denied(bucket, &req.key) {
        return Err(S3Error::access_denied());
    }
    bucket.objects.remove(&req.key);
    Ok(Answer::empty(204))
}

pub(super) fn create_multipart_upload(
    bucket: &mut Bucket,
    upload_id: String,
    req: &Request,
) -> Result<Answer, S3Error> {
    check_key(&req.key)?;
    let attributes = attributes(req)?;
    let answer = with_sse(
        Answer::xml(format!(
            "<InitiateMultipartUploadResult xmlns=\"{NS}\"><Bucket>{}</Bucket><Key>{}</Key><UploadId>{upload_id}</UploadId></InitiateMultipartUploadResult>",
            xml_escape(&req.bucket),
            xml_escape(&req.key)
        )),
        &attributes,
    );
    bucket.uploads.insert(
        upload_id,
        Upload {
            key: req.key.clone(),
            attributes,
            parts: BTreeMap::new(),
        },
    );
    Ok(answer)
}

/// The upload `uploadId` names, which must be for the request's key.
fn upload<'a>(bucket: &'a mut Bucket, req: &Request) -> Result<&'a mut Upload, S3Error> {
    let id = req.query("uploadId").unwrap_or_default();
    bucket
        .uploads
        .get_mut(id)
        .filter(|u| u.key == req.key)
        .ok_or_else(|| S3Error::no_such_upload(id))
}

pub(super) fn upload_part(bucket: &mut Bucket, req: &Request) -> Result<Answer, S3Error> {
    let asked = req.query("partNumber").unwrap_or_default();
    let number = asked
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_PART_NUMBER).contains(n))
        .ok_or_else(|| {
            S3Error::invalid_argument("Part number must be an integer between 1 and 10000, inclusive")
                .with("ArgumentName", "partNumber")
                .with("ArgumentValue", asked)
        })?;
    let upload = upload(bucket, req)?;
    let body = req.body()?.clone();
    let md5 = md5(&body);
    let answer = with_sse(
        Answer::empty(200).header(header::ETAG, format!("\"{}\"", hex(&md5))),
        &upload.attributes,
    );
    upload.parts.insert(number, Part { body, md5 });
    Ok(answer)
}

/// The parts a CompleteMultipartUpload document lists: number and ETag (optional, as in the
/// model), in document order.
fn parse_complete(body: &[u8]) -> Result<Vec<(u32, Option<String>)>, S3Error> {
    let xml = std::str::from_utf8(body).map_err(|_| S3Error::malformed_xml())?;
    let document = *wire::elements(xml, "CompleteMultipartUpload")
        .first()
        .ok_or_else(S3Error::malformed_xml)?;
    let parts = wire::elements(document, "Part");
    if parts.is_empty() {
        return Err(S3Error::malformed_xml());
    }
    parts
        .iter()
        .map(|p| {
            let number = wire::text(p, "PartNumber")
                .and_then(|n| n.trim().parse::<u32>().ok())
                .ok_or_else(S3Error::malformed_xml)?;
            Ok((number, wire::text(p, "ETag")))
        })
        .collect()
}

/// CompleteMultipartUpload: the listed parts, in ascending order (InvalidPartOrder), must have
/// been uploaded with the ETags given (InvalidPart) and be at least 5 MiB but the last
/// (EntityTooSmall). The object's ETag is S3's: the MD5 of the parts' MD5s, `-<parts>`.
pub(super) fn complete_multipart_upload(bucket: &mut Bucket, now: Millis, req: &Request) -> Result<Answer, S3Error> {
    let listed = parse_complete(req.body()?)?;
    let upload = upload(bucket, req)?;
    let invalid_part = || {
        S3Error::new(
            400,
            "InvalidPart",
            "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
        )
    };
    if listed.windows(2).any(|pair| pair[0].0 >= pair[1].0) {
        return Err(S3Error::new(
            400,
            "InvalidPartOrder",
            "The list of parts was not in ascending order. The parts list must be specified in order by part number.",
        ));
    }
    let mut body = Vec::new();
    let mut digests = Vec::new();
    for (i, (number, etag)) in listed.iter().enumerate() {
        let part = upload
            .parts
            .get(number)
            .filter(|p| etag.as_ref().is_none_or(|e| e.trim().trim_matches('"') == hex(&p.md5)))
            .ok_or_else(invalid_part)?;
        if i + 1 < listed.len() && part.body.len() < MIN_PART_SIZE {
            return Err(S3Error::new(
                400,
                "EntityTooSmall",
                "Your proposed upload is smaller than the minimum allowed size",
            )
            .with("ProposedSize", &part.body.len().to_string())
            .with("MinSizeAllowed", &MIN_PART_SIZE.to_string())
            .with("PartNumber", &number.to_string()));
        }
        body.extend_from_slice(&part.body);
        digests.extend_from_slice(&part.md5);
    }
    let attributes = upload.attributes.clone();
    bucket.uploads.remove(req.query("uploadId").unwrap_or_default());
    let etag = format!("\"{}-{}\"", hex(&md5(&digests)), listed.len());
    let location = format!(
        "http://{}/{}/{}",
        req.header("host").unwrap_or("localhost"),
        req.bucket,
        wire::url_encode(&req.key)
    );
    let answer = with_sse(
        Answer::xml(format!(
            "<CompleteMultipartUploadResult xmlns=\"{NS}\"><Location>{}</Location><Bucket>{}</Bucket><Key>{}</Key><ETag>{}</ETag></CompleteMultipartUploadResult>",
            xml_escape(&location),
            xml_escape(&req.bucket),
            xml_escape(&req.key),
            xml_escape(&etag)
        )),
        &attributes,
    );
    bucket.objects.insert(
        req.key.clone(),
        Object {
            body: Bytes::from(body),
            etag,
            last_modified: now,
            attributes,
        },
    );
    Ok(answer)
}

pub(super) fn abort_multipart_upload(bucket: &mut Bucket, req: &Request) -> Result<Answer, S3Error> {
    upload(bucket, req)?;
    bucket.uploads.remove(req.query("uploadId").unwrap_or_default());
    Ok(Answer::empty(204))
}
