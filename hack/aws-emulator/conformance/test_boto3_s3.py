"""boto3 against the emulator's S3 subset: buckets, objects with SSE-KMS, listings (botocore asks
for ``encoding-type=url`` and decodes the keys), DeleteObjects, s3transfer's multipart upload
and ranged download, and the error codes."""

from __future__ import annotations

import pytest
from boto3.s3.transfer import TransferConfig

from conftest import make_client
from scenario import raises_code

BUCKET = "studio-backups"
MIB = 1024 * 1024


@pytest.fixture
def s3(emu):
    client = make_client("s3", emu.endpoint)
    client.create_bucket(Bucket=BUCKET)
    return client


def test_objects_keep_their_encryption_and_metadata(s3, emu):
    put = s3.put_object(
        Bucket=BUCKET,
        Key="team/alice/manifest.json",
        Body=b'{"files": 3}',
        ContentType="application/json",
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId="alias/studio",
        Metadata={"owner": "alice"},
    )
    assert put["ServerSideEncryption"] == "aws:kms"
    got = s3.get_object(Bucket=BUCKET, Key="team/alice/manifest.json")
    assert got["Body"].read() == b'{"files": 3}'
    assert (got["ContentType"], got["ContentLength"], got["ETag"]) == ("application/json", 12, put["ETag"])
    assert (got["ServerSideEncryption"], got["SSEKMSKeyId"]) == ("aws:kms", "alias/studio")
    assert got["Metadata"] == {"owner": "alice"}
    head = s3.head_object(Bucket=BUCKET, Key="team/alice/manifest.json")
    assert head["ContentLength"] == 12
    [view] = emu.s3_objects(BUCKET, "team/")
    assert (view["key"], view["size"], view["sse"], view["kmsKeyId"]) == (
        "team/alice/manifest.json",
        12,
        "aws:kms",
        "alias/studio",
    )
    assert abs(view["lastModified"] - emu.now()) < 5


def test_listings_decode_url_encoded_keys_and_paginate(s3, emu):
    keys = ["dir a/x+y&z.txt", "dir a/b/c", "dir a/é", "other", "top level"]
    for key in keys:
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")
    out = s3.list_objects_v2(Bucket=BUCKET, Prefix="dir a/", Delimiter="/")
    assert [o["Key"] for o in out["Contents"]] == ["dir a/x+y&z.txt", "dir a/é"]
    assert [p["Prefix"] for p in out["CommonPrefixes"]] == ["dir a/b/"]
    assert out["Prefix"] == "dir a/" and out["KeyCount"] == 3 and not out["IsTruncated"]
    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, PaginationConfig={"PageSize": 2}))
    assert [len(p["Contents"]) for p in pages] == [2, 2, 1]
    assert [o["Key"] for p in pages for o in p["Contents"]] == sorted(keys, key=lambda k: k.encode())
    calls = [c for c in emu.calls() if c["operation"] == "ListObjectsV2"]
    assert all(c["service"] == "s3" and c["members"]["Bucket"] == BUCKET for c in calls)


def test_delete_objects_reports_each_key(s3, emu):
    for key in ["old/1", "old/2", "keep/&1"]:
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")
    emu.s3_deny_delete(BUCKET, "keep/")
    out = s3.delete_objects(
        Bucket=BUCKET, Delete={"Objects": [{"Key": k} for k in ["old/1", "old/2", "keep/&1", "absent"]]}
    )
    assert [d["Key"] for d in out["Deleted"]] == ["old/1", "old/2", "absent"]
    assert [(e["Key"], e["Code"]) for e in out["Errors"]] == [("keep/&1", "AccessDenied")]
    [record] = [c for c in emu.calls() if c["operation"] == "DeleteObjects"]
    assert record["members"]["Keys"] == ["old/1", "old/2", "keep/&1", "absent"]
    assert [o["key"] for o in emu.s3_objects(BUCKET)] == ["keep/&1"]


def test_multipart_upload_file_and_ranged_download(s3, emu, tmp_path):
    source = tmp_path / "archive.bin"
    source.write_bytes(bytes(range(256)) * (11 * MIB // 256) + b"tail")
    config = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB, max_concurrency=2)
    s3.upload_file(str(source), BUCKET, "archive.bin", Config=config)
    uploads = [c["operation"] for c in emu.calls() if c["operation"].endswith(("MultipartUpload", "UploadPart"))]
    assert uploads.count("UploadPart") == 3 and "CompleteMultipartUpload" in uploads
    assert s3.head_object(Bucket=BUCKET, Key="archive.bin")["ETag"].endswith('-3"')
    target = tmp_path / "copy.bin"
    emu.clear_calls()
    s3.download_file(BUCKET, "archive.bin", str(target), Config=config)
    assert target.read_bytes() == source.read_bytes()
    # Above the threshold, s3transfer downloads in ranged GETs.
    assert [c["operation"] for c in emu.calls()].count("GetObject") == 3


def test_error_codes(s3, emu):
    with raises_code("NoSuchKey", 404):
        s3.get_object(Bucket=BUCKET, Key="missing")
    with raises_code("NoSuchBucket", 404):
        s3.list_objects_v2(Bucket="no-such-bucket")
    with raises_code("404", 404):
        s3.head_object(Bucket=BUCKET, Key="missing")
    with raises_code("BucketAlreadyOwnedByYou", 409):
        s3.create_bucket(Bucket=BUCKET)
    with raises_code("InvalidBucketName", 400):
        s3.create_bucket(Bucket="Not_Valid")
    with raises_code("IllegalLocationConstraintException", 400):
        s3.create_bucket(Bucket="elsewhere", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    with raises_code("NoSuchUpload", 404):
        s3.abort_multipart_upload(Bucket=BUCKET, Key="k", UploadId="nope")
    with raises_code("NotImplemented", 501):
        s3.get_bucket_tagging(Bucket=BUCKET)
    emu.add_fault("PutObject", "throttling", count=1)
    with raises_code("SlowDown", 503):
        s3.put_object(Bucket=BUCKET, Key="k", Body=b"x")
