//! S3 through the real aws-sdk-s3 client: buckets; objects with SSE-KMS uploaded with the SDK's
//! default checksums (a streaming body goes in `aws-chunked` framing with a checksum trailer);
//! ranges; listings with a delimiter and through the paginator; DeleteObjects and what the call
//! log records of it; typed errors; SlowDown and dropped connections retried; a multipart upload;
//! and the raw wire (unsigned chunks, NotImplemented).

use std::sync::{Arc, Mutex};

use aws_emulator::{FaultKind, FaultRule};
use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::{BoxError, ProvideErrorMetadata};
use aws_sdk_s3::operation::RequestId;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier, ServerSideEncryption};
use serde_json::json;

use super::*;

const BUCKET: &str = "studio-backups";

/// The `Content-Encoding` and `x-amz-content-sha256` of one request.
type Sent = (Option<String>, Option<String>);

/// What every request the client sends says of its body framing.
#[derive(Debug, Clone, Default)]
struct Framing(Arc<Mutex<Vec<Sent>>>);

impl Intercept for Framing {
    fn name(&self) -> &'static str {
        "Framing"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let headers = context.request().headers();
        let get = |name: &str| headers.get(name).map(String::from);
        self.0
            .lock()
            .unwrap()
            .push((get("content-encoding"), get("x-amz-content-sha256")));
        Ok(())
    }
}

/// An S3 client of the conformance SdkConfig, as is: the endpoint is an IP address, for which
/// the SDK's endpoint rules choose path-style addressing.
async fn s3_client(emu: &Emulator, framing: &Framing) -> aws_sdk_s3::Client {
    let conf = sdk_config(emu, "AKIATESTTESTTEST", "test", None).await;
    let conf = aws_sdk_s3::config::Builder::from(&conf)
        .interceptor(framing.clone())
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

async fn started() -> (Emulator, aws_sdk_s3::Client, Framing) {
    let emu = Emulator::start(instant()).await.unwrap();
    let framing = Framing::default();
    let s3 = s3_client(&emu, &framing).await;
    s3.create_bucket().bucket(BUCKET).send().await.expect("create bucket");
    (emu, s3, framing)
}

async fn put(s3: &aws_sdk_s3::Client, key: &str, body: &str) {
    s3.put_object()
        .bucket(BUCKET)
        .key(key)
        .body(ByteStream::from(body.as_bytes().to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
}

async fn read(s3: &aws_sdk_s3::Client, key: &str) -> Vec<u8> {
    let out = s3.get_object().bucket(BUCKET).key(key).send().await.expect("get");
    out.body.collect().await.expect("body").into_bytes().to_vec()
}

#[tokio::test]
async fn objects_with_sse_kms_in_aws_chunked_framing() {
    let (emu, s3, framing) = started().await;
    let err = s3
        .create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_bucket_already_owned_by_you(), "{err:?}");
    s3.head_bucket().bucket(BUCKET).send().await.expect("head bucket");

    // A body streamed from a file: the SDK frames it in aws-chunked (4 chunks of up to 64 KiB)
    // with a CRC32 trailer, signing each chunk over http.
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let path = std::env::temp_dir().join(format!("s3-conformance-{}.bin", std::process::id()));
    tokio::fs::write(&path, &body).await.unwrap();
    framing.0.lock().unwrap().clear();
    let key = "team/alice/objects/0001";
    let stored = s3
        .put_object()
        .bucket(BUCKET)
        .key(key)
        .body(ByteStream::from_path(&path).await.unwrap())
        .content_type("application/octet-stream")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id("alias/studio")
        .metadata("owner", "alice")
        .send()
        .await
        .expect("put");
    tokio::fs::remove_file(&path).await.unwrap();
    let (encoding, sha) = framing.0.lock().unwrap()[0].clone();
    assert_eq!(encoding.as_deref(), Some("aws-chunked"));
    assert!(sha.is_some_and(|s| s.starts_with("STREAMING-")));
    assert_eq!(stored.server_side_encryption(), Some(&ServerSideEncryption::AwsKms));
    let etag = stored.e_tag().expect("etag").to_string();
    assert!(etag.len() == 34 && etag.starts_with('"'), "{etag}");

    let got = s3.get_object().bucket(BUCKET).key(key).send().await.expect("get");
    assert_eq!(got.server_side_encryption(), Some(&ServerSideEncryption::AwsKms));
    assert_eq!(got.ssekms_key_id(), Some("alias/studio"));
    assert_eq!(got.content_type(), Some("application/octet-stream"));
    assert_eq!(got.content_length(), Some(200_000));
    assert_eq!(got.e_tag(), Some(etag.as_str()));
    assert_eq!(
        got.metadata().and_then(|m| m.get("owner")).map(String::as_str),
        Some("alice")
    );
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), body.as_slice());

    let range = s3
        .get_object()
        .bucket(BUCKET)
        .key(key)
        .range("bytes=100000-100009")
        .send()
        .await
        .expect("ranged get");
    assert_eq!(range.content_range(), Some("bytes 100000-100009/200000"));
    assert_eq!(
        range.body.collect().await.unwrap().into_bytes().as_ref(),
        &body[100_000..100_010]
    );

    let head = s3.head_object().bucket(BUCKET).key(key).send().await.expect("head");
    assert_eq!(head.content_length(), Some(200_000));
    assert_eq!(head.ssekms_key_id(), Some("alias/studio"));

    // An in-memory body carries its checksum in a header instead: no framing.
    framing.0.lock().unwrap().clear();
    put(&s3, "team/plain", "plain").await;
    assert_eq!(framing.0.lock().unwrap()[0].0, None);
    let plain = s3.head_object().bucket(BUCKET).key("team/plain").send().await.unwrap();
    assert_eq!(plain.server_side_encryption(), Some(&ServerSideEncryption::Aes256));

    let objects = emu.s3_objects(BUCKET, "team/alice/").unwrap();
    assert_eq!(objects.len(), 1);
    let o = &objects[0];
    assert_eq!((o.key.as_str(), o.size, o.etag.as_str()), (key, 200_000, etag.as_str()));
    assert_eq!(
        (o.sse.as_deref(), o.kms_key_id.as_deref()),
        (Some("aws:kms"), Some("alias/studio"))
    );
    assert!((emu.now() - o.last_modified).abs() < 5.0);
    assert_eq!(emu.s3_objects("no-such-bucket", "").unwrap_err().code, "NoSuchBucket");
}

#[tokio::test]
async fn listings_with_a_delimiter_and_the_paginator() {
    let (emu, s3, _) = started().await;
    for key in ["team/a/1", "team/a/2", "team/b", "team/c/x", "team/d", "other"] {
        put(&s3, key, key).await;
    }
    let out = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix("team/")
        .delimiter("/")
        .send()
        .await
        .expect("list");
    let keys: Vec<&str> = out.contents().iter().filter_map(|o| o.key()).collect();
    let folders: Vec<&str> = out.common_prefixes().iter().filter_map(|p| p.prefix()).collect();
    assert_eq!((keys, folders), (vec!["team/b", "team/d"], vec!["team/a/", "team/c/"]));
    assert_eq!((out.key_count(), out.is_truncated()), (Some(4), Some(false)));
    let first = &out.contents()[0];
    assert_eq!(first.size(), Some(6));
    assert!(
        first
            .last_modified()
            .is_some_and(|t| (t.as_secs_f64() - emu.now()).abs() < 5.0)
    );

    emu.clear_calls();
    let pages: Vec<_> = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix("team/")
        .max_keys(2)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .expect("pages");
    let per_page: Vec<usize> = pages.iter().map(|p| p.contents().len()).collect();
    assert_eq!(per_page, [2, 2, 1]);
    let keys: Vec<&str> = pages
        .iter()
        .flat_map(|p| p.contents())
        .filter_map(|o| o.key())
        .collect();
    assert_eq!(keys, ["team/a/1", "team/a/2", "team/b", "team/c/x", "team/d"]);
    let calls = emu.calls();
    assert_eq!(calls.len(), 3);
    assert!(
        calls
            .iter()
            .all(|c| c.service == "s3" && c.operation == "ListObjectsV2" && c.outcome == "ok")
    );
    assert_eq!(calls[0].members["Prefix"], "team/");
    assert!(calls[0].members.get("ContinuationToken").is_none());
    assert!(calls[1].members.get("ContinuationToken").is_some());
}

#[tokio::test]
async fn delete_objects_and_the_call_log() {
    let (emu, s3, _) = started().await;
    for key in ["old/1", "old/2", "old/3", "keep/1", "new/1"] {
        put(&s3, key, "x").await;
    }
    let delete = |keys: &[&str], quiet: bool| {
        let objects = keys
            .iter()
            .map(|k| ObjectIdentifier::builder().key(*k).build().unwrap())
            .collect();
        Delete::builder()
            .set_objects(Some(objects))
            .quiet(quiet)
            .build()
            .unwrap()
    };
    let out = s3
        .delete_objects()
        .bucket(BUCKET)
        .delete(delete(&["old/1", "old/2", "old/3"], false))
        .send()
        .await
        .expect("delete objects");
    let deleted: Vec<&str> = out.deleted().iter().filter_map(|d| d.key()).collect();
    assert_eq!(deleted, ["old/1", "old/2", "old/3"]);
    assert!(out.errors().is_empty());
    let record = emu
        .calls()
        .into_iter()
        .find(|c| c.operation == "DeleteObjects")
        .expect("DeleteObjects in the call log");
    assert_eq!((record.service.as_str(), record.outcome.as_str()), ("s3", "ok"));
    assert_eq!(record.members["Bucket"], BUCKET);
    assert_eq!(record.members["Keys"], json!(["old/1", "old/2", "old/3"]));
    let left: Vec<String> = emu.s3_objects(BUCKET, "").unwrap().into_iter().map(|o| o.key).collect();
    assert_eq!(left, ["keep/1", "new/1"]);

    // A denied deletion is an error entry for its key; the rest is deleted (quiet: no Deleted).
    emu.s3_deny_delete(BUCKET, "keep/").unwrap();
    let out = s3
        .delete_objects()
        .bucket(BUCKET)
        .delete(delete(&["keep/1", "new/1"], true))
        .send()
        .await
        .expect("delete objects");
    assert!(out.deleted().is_empty());
    let errors: Vec<_> = out.errors().iter().map(|e| (e.key(), e.code())).collect();
    assert_eq!(errors, [(Some("keep/1"), Some("AccessDenied"))]);
    let left: Vec<String> = emu.s3_objects(BUCKET, "").unwrap().into_iter().map(|o| o.key).collect();
    assert_eq!(left, ["keep/1"]);

    // DeleteObject answers 204 for an absent key too.
    s3.delete_object()
        .bucket(BUCKET)
        .key("never/was")
        .send()
        .await
        .expect("delete absent");
    let err = s3
        .delete_object()
        .bucket(BUCKET)
        .key("keep/1")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("AccessDenied"));
}

#[tokio::test]
async fn typed_errors() {
    let (_emu, s3, _) = started().await;
    let err = s3
        .list_objects_v2()
        .bucket("no-such-bucket")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_no_such_bucket(), "{err:?}");
    assert!(err.request_id().is_some());

    let err = s3
        .get_object()
        .bucket(BUCKET)
        .key("missing")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_no_such_key(), "{err:?}");
    let err = s3
        .get_object()
        .bucket("no-such-bucket")
        .key("k")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("NoSuchBucket"));

    // HEAD answers carry no body: the SDK sees 404 NotFound.
    let err = s3
        .head_object()
        .bucket(BUCKET)
        .key("missing")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_not_found(), "{err:?}");
    let err = s3
        .head_bucket()
        .bucket("no-such-bucket")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_not_found(), "{err:?}");

    put(&s3, "k", "x").await;
    let err = s3
        .delete_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("BucketNotEmpty"));
    let err = s3
        .get_object()
        .bucket(BUCKET)
        .key("k")
        .range("bytes=5-")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("InvalidRange"));
}

#[tokio::test]
async fn slow_down_and_dropped_connections_are_retried() {
    let (emu, s3, _) = started().await;
    emu.inject_fault(FaultRule {
        target: "PutObject".into(),
        kind: FaultKind::Throttling,
        probability: None,
        count: Some(2),
        delay_ms: None,
    });
    put(&s3, "k", "after two SlowDowns").await;
    let counts = emu.call_counts();
    assert_eq!(counts["PutObject"]["SlowDown"], 2);
    assert_eq!(counts["PutObject"]["ok"], 1);

    emu.inject_fault(FaultRule {
        target: "s3".into(),
        kind: FaultKind::DropConnection,
        probability: None,
        count: Some(1),
        delay_ms: None,
    });
    assert_eq!(read(&s3, "k").await, b"after two SlowDowns");
    assert_eq!(emu.count("GetObject", Some("dropped")), 1);
    assert_eq!(emu.count("GetObject", Some("ok")), 1);
}

#[tokio::test]
async fn multipart_upload_reads_back_equal() {
    let (emu, s3, _) = started().await;
    let key = "team/alice/archive.tar";
    let created = s3
        .create_multipart_upload()
        .bucket(BUCKET)
        .key(key)
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id("alias/studio")
        .send()
        .await
        .expect("create multipart upload");
    let upload_id = created.upload_id().expect("upload id").to_string();
    // Every part but the last must have 5 MiB.
    let parts = [vec![b'a'; 5 * 1024 * 1024], b"and the end".to_vec()];
    let mut completed = CompletedMultipartUpload::builder();
    for (i, part) in parts.iter().enumerate() {
        let number = i as i32 + 1;
        let out = s3
            .upload_part()
            .bucket(BUCKET)
            .key(key)
            .upload_id(&upload_id)
            .part_number(number)
            .body(ByteStream::from(part.clone()))
            .send()
            .await
            .expect("upload part");
        completed = completed.parts(
            CompletedPart::builder()
                .part_number(number)
                .e_tag(out.e_tag().expect("part etag"))
                .build(),
        );
    }
    let done = s3
        .complete_multipart_upload()
        .bucket(BUCKET)
        .key(key)
        .upload_id(&upload_id)
        .multipart_upload(completed.build())
        .send()
        .await
        .expect("complete");
    assert!(done.e_tag().is_some_and(|e| e.ends_with("-2\"")), "{:?}", done.e_tag());
    assert_eq!(read(&s3, key).await, parts.concat());
    let view = &emu.s3_objects(BUCKET, key).unwrap()[0];
    assert_eq!(
        (view.size, view.kms_key_id.as_deref()),
        (parts.concat().len() as u64, Some("alias/studio"))
    );

    // Completed uploads are gone; aborting one that does not exist is NoSuchUpload.
    let err = s3
        .abort_multipart_upload()
        .bucket(BUCKET)
        .key(key)
        .upload_id(&upload_id)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_no_such_upload(), "{err:?}");
}

#[tokio::test]
async fn raw_unsigned_chunks_and_unsupported_operations() {
    let (emu, s3, _) = started().await;
    let auth = "AWS4-HMAC-SHA256 Credential=AKIATESTTESTTEST/20260101/us-east-1/s3/aws4_request, \
                SignedHeaders=host, Signature=00";
    // The framing of SDKs over https: unsigned chunks and a checksum trailer.
    let body = "5\r\nhello\r\n7\r\n, world\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n";
    let answer = raw_http(
        &emu,
        format!(
            "PUT /{BUCKET}/raw%20key HTTP/1.1\r\nHost: {}\r\nAuthorization: {auth}\r\n\
             Content-Encoding: aws-chunked\r\nx-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER\r\n\
             x-amz-decoded-content-length: 12\r\nx-amz-trailer: x-amz-checksum-crc32\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            emu.addr(),
            body.len()
        ),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("x-amz-request-id:"), "{answer}");
    assert_eq!(read(&s3, "raw key").await, b"hello, world");

    let answer = raw_http(
        &emu,
        format!(
            "GET /{BUCKET}?acl HTTP/1.1\r\nHost: {}\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n",
            emu.addr()
        ),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 501"), "{answer}");
    assert!(answer.contains("<Code>NotImplemented</Code>"), "{answer}");
    assert_eq!(emu.count("GET bucket?acl", Some("NotImplemented")), 1);
}
