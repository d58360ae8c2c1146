"""KMS and STS through boto3: every emulated operation, success and error paths, and the
cross-account behaviour SageMaker clients depend on (AssumeRole into another account)."""

from __future__ import annotations

import datetime

import pytest
from botocore.exceptions import ClientError, ParamValidationError

from conftest import make_client, no_retry_config
from model_check import assert_items, assert_members
from scenario import ACCOUNT, KEY_ID_RE, OTHER_ACCOUNT, body, domain_request, raises_code

KEY_METADATA_MEMBERS = [
    "AWSAccountId", "KeyId", "Arn", "CreationDate", "Enabled", "Description", "KeyUsage", "KeyState",
    "Origin", "KeyManager", "KeySpec", "CustomerMasterKeySpec", "EncryptionAlgorithms", "MultiRegion",
]


def key_metadata_shape(kms):
    return kms.meta.service_model.shape_for("KeyMetadata")


def test_create_and_describe_key_by_every_reference(kms, emu):
    created = kms.create_key(Description="studio key", Tags=[{"TagKey": "team", "TagValue": "ml"}])
    assert_members(kms, "CreateKey", created, ["KeyMetadata"])
    meta = created["KeyMetadata"]
    assert_items(kms, "KeyMetadata", [meta], KEY_METADATA_MEMBERS)
    assert KEY_ID_RE.match(meta["KeyId"]), meta["KeyId"]
    assert meta["Arn"] == f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{meta['KeyId']}"
    assert meta["AWSAccountId"] == ACCOUNT
    assert (meta["KeyState"], meta["Enabled"], meta["KeyManager"]) == ("Enabled", True, "CUSTOMER")
    assert (meta["KeySpec"], meta["KeyUsage"], meta["Origin"]) == ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "AWS_KMS")
    assert isinstance(meta["CreationDate"], datetime.datetime)

    assert body(kms.create_alias(AliasName="alias/studio", TargetKeyId=meta["KeyId"])) == {}
    alias_arn = f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/studio"
    for ref in (meta["KeyId"], meta["Arn"], "alias/studio", alias_arn):
        described = kms.describe_key(KeyId=ref)
        assert_members(kms, "DescribeKey", described, ["KeyMetadata"])
        assert described["KeyMetadata"]["KeyId"] == meta["KeyId"], ref
        assert described["KeyMetadata"]["Arn"] == meta["Arn"], ref


def test_key_spec_variants(kms, emu):
    rsa = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    assert (rsa["KeySpec"], rsa["KeyUsage"]) == ("RSA_2048", "SIGN_VERIFY")
    assert "SigningAlgorithms" in rsa and "EncryptionAlgorithms" not in rsa
    hmac = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    assert hmac["KeyUsage"] == "GENERATE_VERIFY_MAC"
    with raises_code("ValidationException"):
        kms.create_key(KeySpec="SYMMETRIC_DEFAULT", KeyUsage="SIGN_VERIFY")
    external = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]
    assert (external["KeyState"], external["Enabled"]) == ("PendingImport", False)


def test_list_keys_and_aliases_with_pagination(kms, emu):
    ids = [kms.create_key(Description=f"k{i}")["KeyMetadata"]["KeyId"] for i in range(5)]
    kms.create_alias(AliasName="alias/first", TargetKeyId=ids[0])
    kms.create_alias(AliasName="alias/first-bis", TargetKeyId=ids[0])
    kms.create_alias(AliasName="alias/second", TargetKeyId=ids[1])

    listed = kms.list_keys()
    assert_members(kms, "ListKeys", listed, ["Keys", "Truncated"])
    assert_items(kms, "KeyListEntry", listed["Keys"], ["KeyId", "KeyArn"])
    assert sorted(k["KeyId"] for k in listed["Keys"]) == sorted(ids)
    assert listed["Truncated"] is False and "NextMarker" not in listed

    first = kms.list_keys(Limit=2)
    assert len(first["Keys"]) == 2 and first["Truncated"] is True and first["NextMarker"]
    pages = list(kms.get_paginator("list_keys").paginate(PaginationConfig={"PageSize": 2}))
    assert [len(p["Keys"]) for p in pages] == [2, 2, 1]
    assert sorted(k["KeyId"] for p in pages for k in p["Keys"]) == sorted(ids)

    aliases = kms.list_aliases()
    assert_members(kms, "ListAliases", aliases, ["Aliases", "Truncated"])
    assert_items(kms, "AliasListEntry", aliases["Aliases"], ["AliasName", "AliasArn", "TargetKeyId"])
    mine = {a["AliasName"]: a["TargetKeyId"] for a in aliases["Aliases"] if not a["AliasName"].startswith("alias/aws/")}
    assert mine == {"alias/first": ids[0], "alias/first-bis": ids[0], "alias/second": ids[1]}
    for_key = kms.list_aliases(KeyId=ids[0])["Aliases"]
    assert sorted(a["AliasName"] for a in for_key) == ["alias/first", "alias/first-bis"]
    alias_pages = list(kms.get_paginator("list_aliases").paginate(PaginationConfig={"PageSize": 1}))
    assert len([a for p in alias_pages for a in p["Aliases"]]) == len(aliases["Aliases"])
    with raises_code("NotFoundException"):
        kms.list_aliases(KeyId="11111111-2222-4333-a444-555555555555")


def test_alias_errors(kms, emu):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/taken", TargetKeyId=key_id)
    with raises_code("AlreadyExistsException"):
        kms.create_alias(AliasName="alias/taken", TargetKeyId=key_id)
    with raises_code("NotFoundException"):
        kms.create_alias(AliasName="alias/orphan", TargetKeyId="11111111-2222-4333-a444-555555555555")
    with raises_code("ValidationException"):  # AliasName pattern ^alias/[a-zA-Z0-9/_-]+$
        kms.create_alias(AliasName="studio", TargetKeyId=key_id)
    with pytest.raises(ClientError):
        # alias/aws/ is reserved for AWS managed keys (the real error code is unconfirmed,
        # see test_moto_parity.test_kms_error_codes).
        kms.create_alias(AliasName="alias/aws/mine", TargetKeyId=key_id)
    with raises_code("NotFoundException"):
        kms.describe_key(KeyId="alias/missing")


def test_update_alias_and_delete_alias(kms, emu):
    first = kms.create_key(Description="first")["KeyMetadata"]
    second = kms.create_key(Description="second")["KeyMetadata"]
    with raises_code("NotFoundException"):  # UpdateAlias needs an existing alias
        kms.update_alias(AliasName="alias/studio", TargetKeyId=second["KeyId"])
    kms.create_alias(AliasName="alias/studio", TargetKeyId=first["KeyId"])
    emu.advance(120)
    assert body(kms.update_alias(AliasName="alias/studio", TargetKeyId=second["Arn"])) == {}
    assert kms.describe_key(KeyId="alias/studio")["KeyMetadata"]["KeyId"] == second["KeyId"]
    (entry,) = kms.list_aliases(KeyId=second["KeyId"])["Aliases"]
    assert_items(kms, "AliasListEntry", [entry], ["AliasName", "AliasArn", "TargetKeyId", "CreationDate",
                                                 "LastUpdatedDate"])
    assert (entry["LastUpdatedDate"] - entry["CreationDate"]).total_seconds() >= 120
    assert kms.list_aliases(KeyId=first["KeyId"])["Aliases"] == []

    hmac = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    with raises_code("ValidationException"):  # the new key must be of the same class and usage
        kms.update_alias(AliasName="alias/studio", TargetKeyId=hmac["KeyId"])
    managed = kms.describe_key(KeyId="alias/aws/sagemaker")["KeyMetadata"]
    with raises_code("ValidationException"):  # not an AWS managed key
        kms.update_alias(AliasName="alias/studio", TargetKeyId=managed["KeyId"])
    with raises_code("ValidationException"):  # AWS managed aliases cannot be changed
        kms.update_alias(AliasName="alias/aws/sagemaker", TargetKeyId=first["KeyId"])
    with raises_code("ValidationException"):
        kms.delete_alias(AliasName="alias/aws/sagemaker")
    with raises_code("ValidationException"):  # a key, never an alias
        kms.update_alias(AliasName="alias/studio", TargetKeyId="alias/studio")
    kms.schedule_key_deletion(KeyId=first["KeyId"], PendingWindowInDays=7)
    with raises_code("KMSInvalidStateException"):
        kms.update_alias(AliasName="alias/studio", TargetKeyId=first["KeyId"])

    assert body(kms.delete_alias(AliasName="alias/studio")) == {}
    with raises_code("NotFoundException"):
        kms.describe_key(KeyId="alias/studio")
    with raises_code("NotFoundException"):
        kms.delete_alias(AliasName="alias/studio")
    with raises_code("ValidationException"):  # AliasName pattern
        kms.delete_alias(AliasName="studio")


def test_enable_disable_and_schedule_deletion(kms, emu):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    assert body(kms.disable_key(KeyId=key_id)) == {}
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert (meta["KeyState"], meta["Enabled"]) == ("Disabled", False)
    assert body(kms.enable_key(KeyId=key_id)) == {}
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert (meta["KeyState"], meta["Enabled"]) == ("Enabled", True)

    scheduled = kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert_members(kms, "ScheduleKeyDeletion", scheduled, ["KeyId", "DeletionDate", "KeyState", "PendingWindowInDays"])
    # KMS answers the key ARN in ScheduleKeyDeletion.KeyId.
    assert scheduled["KeyId"] == f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{key_id}"
    assert (scheduled["KeyState"], scheduled["PendingWindowInDays"]) == ("PendingDeletion", 7)
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert_items(kms, "KeyMetadata", [meta], ["DeletionDate"])
    assert (meta["KeyState"], meta["Enabled"]) == ("PendingDeletion", False)
    assert abs((meta["DeletionDate"] - meta["CreationDate"]).total_seconds() - 7 * 86400) < 120

    for call in (kms.enable_key, kms.disable_key):
        with raises_code("KMSInvalidStateException"):
            call(KeyId=key_id)
    with raises_code("KMSInvalidStateException"):
        kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    with raises_code("KMSInvalidStateException"):
        kms.create_alias(AliasName="alias/late", TargetKeyId=key_id)

    # After the waiting period the key is gone.
    emu.advance(7 * 86400 + 60)
    with raises_code("NotFoundException"):
        kms.describe_key(KeyId=key_id)
    assert kms.list_keys()["Keys"] == []


def test_kms_validation_and_not_found(kms, emu):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    with raises_code("ValidationException"):  # KMS allows 7..30 days (the model says 1..365)
        kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=3)
    with pytest.raises(ParamValidationError):  # below the model minimum of 1
        kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=0)
    missing = "11111111-2222-4333-a444-555555555555"
    for call in (kms.describe_key, kms.enable_key, kms.disable_key):
        with raises_code("NotFoundException", 400):
            call(KeyId=missing)
    with raises_code("NotFoundException"):
        kms.schedule_key_deletion(KeyId=missing)
    with raises_code("InvalidArnException"):
        kms.describe_key(KeyId="arn:aws:kms:us-east-1:not-an-account")


def test_aws_managed_key_via_predefined_alias(kms, emu):
    # DescribeKey on a predefined alias/aws/<service> creates the AWS managed key.
    meta = kms.describe_key(KeyId="alias/aws/sagemaker")["KeyMetadata"]
    assert meta["KeyManager"] == "AWS" and meta["KeyState"] == "Enabled"
    assert kms.describe_key(KeyId="alias/aws/sagemaker")["KeyMetadata"]["KeyId"] == meta["KeyId"]
    with raises_code("AccessDeniedException"):  # AWS managed keys cannot be disabled
        kms.disable_key(KeyId=meta["KeyId"])


def test_kms_throttling(kms, emu):
    emu.add_fault("kms", "throttling", count=1)
    with raises_code("ThrottlingException", 400):
        kms.list_keys()
    assert kms.list_keys()["Keys"] == []


# --- STS ------------------------------------------------------------------------------


def test_get_caller_identity_default_account(sts, emu):
    ident = sts.get_caller_identity()
    assert_members(sts, "GetCallerIdentity", ident, ["UserId", "Account", "Arn"])
    assert ident["Account"] == ACCOUNT
    assert ident["Arn"].startswith(f"arn:aws:iam::{ACCOUNT}:")


def test_assume_role_into_another_account_isolates_sagemaker(sts, sagemaker, kms, emu):
    role_arn = f"arn:aws:iam::{OTHER_ACCOUNT}:role/StudioAdmin"
    assumed = sts.assume_role(RoleArn=role_arn, RoleSessionName="conformance", DurationSeconds=900)
    assert_members(sts, "AssumeRole", assumed, ["Credentials", "AssumedRoleUser", "PackedPolicySize"])
    creds = assumed["Credentials"]
    assert_items(sts, "Credentials", [creds], ["AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"])
    assert isinstance(creds["Expiration"], datetime.datetime)
    assert creds["AccessKeyId"].startswith("ASIA")
    assert assumed["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{OTHER_ACCOUNT}:assumed-role/StudioAdmin/conformance"
    assert assumed["AssumedRoleUser"]["AssumedRoleId"].endswith(":conformance")

    session = dict(access_key=creds["AccessKeyId"], secret_key=creds["SecretAccessKey"],
                   session_token=creds["SessionToken"])
    other_sts = make_client("sts", emu.endpoint, **session)
    other_sm = make_client("sagemaker", emu.endpoint, **session)
    other_kms = make_client("kms", emu.endpoint, **session)
    ident = other_sts.get_caller_identity()
    assert ident["Account"] == OTHER_ACCOUNT
    assert ident["Arn"] == assumed["AssumedRoleUser"]["Arn"]

    created = other_sm.create_domain(**domain_request("cross-account"))
    assert created["DomainArn"] == f"arn:aws:sagemaker:us-east-1:{OTHER_ACCOUNT}:domain/{created['DomainId']}"
    assert [d["DomainId"] for d in other_sm.list_domains()["Domains"]] == [created["DomainId"]]
    # The default account does not see the other account's domain.
    assert sagemaker.list_domains()["Domains"] == []
    with raises_code("ResourceNotFound"):
        sagemaker.describe_domain(DomainId=created["DomainId"])
    # Same name in the default account is fine (names are unique per account and region).
    sagemaker.create_domain(**domain_request("cross-account"))
    assert len(other_sm.list_domains()["Domains"]) == 1

    # KMS keys are per account as well; a key ARN from the other account resolves cross-account.
    other_key = other_kms.create_key()["KeyMetadata"]
    assert other_key["AWSAccountId"] == OTHER_ACCOUNT
    assert kms.list_keys()["Keys"] == []
    assert kms.describe_key(KeyId=other_key["Arn"])["KeyMetadata"]["KeyId"] == other_key["KeyId"]
    with raises_code("NotFoundException"):  # a bare key id is looked up in the caller's account
        kms.describe_key(KeyId=other_key["KeyId"])


def test_assume_role_errors(sts, emu):
    with raises_code("ValidationError", 400):
        sts.assume_role(RoleArn="not-an-arn-but-long-enough", RoleSessionName="s1")
    with raises_code("ValidationError"):
        sts.assume_role(RoleArn=f"arn:aws:iam::{OTHER_ACCOUNT}:role/R", RoleSessionName="bad session!")
    with raises_code("ValidationError"):
        sts.assume_role(RoleArn=f"arn:aws:iam::{OTHER_ACCOUNT}:role/R", RoleSessionName="s1", DurationSeconds=43201)
    with pytest.raises(ParamValidationError):
        sts.assume_role(RoleArn=f"arn:aws:iam::{OTHER_ACCOUNT}:role/R")


def test_sts_throttling_uses_the_sts_code(sts, emu):
    emu.add_fault("sts", "throttling", count=1)
    with raises_code("Throttling", 400):
        sts.get_caller_identity()
    assert sts.get_caller_identity()["Account"] == ACCOUNT


def test_assume_role_trust_conditions_and_session_tags(sts, emu):
    role_arn = f"arn:aws:iam::{OTHER_ACCOUNT}:role/Operator"
    emu.set_role_trust(role_arn, external_id="tenant-42", required_session_tags=["team"])
    assert emu.request("GET", "sts/trust") == [
        {"role_arn": role_arn, "external_id": "tenant-42", "required_session_tags": ["team"]}
    ]
    denied = f"User: arn:aws:iam::{ACCOUNT}:user/emulator is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
    for extra in ({}, {"ExternalId": "wrong-id"}, {"ExternalId": "tenant-42"}):
        with raises_code("AccessDenied", 403) as info:
            sts.assume_role(RoleArn=role_arn, RoleSessionName="operator", **extra)
        assert info.value.response["Error"]["Message"] == denied

    assumed = sts.assume_role(
        RoleArn=role_arn, RoleSessionName="operator", ExternalId="tenant-42", SourceIdentity="alice",
        Tags=[{"Key": "team", "Value": "ml"}, {"Key": "project", "Value": "studio"}], TransitiveTagKeys=["team"],
    )
    assert_members(sts, "AssumeRole", assumed, ["Credentials", "AssumedRoleUser", "PackedPolicySize", "SourceIdentity"])
    assert assumed["SourceIdentity"] == "alice"
    record = [c for c in emu.calls() if c["operation"] == "AssumeRole"][-1]
    assert record["outcome"] == "ok"
    assert record["members"]["ExternalId"] == "tenant-42"
    assert record["members"]["RoleSessionName"] == "operator"
    assert record["members"]["Tags"] == [{"Key": "team", "Value": "ml"}, {"Key": "project", "Value": "studio"}]
    assert record["members"]["TransitiveTagKeys"] == ["team"]

    creds = assumed["Credentials"]
    session = make_client("sagemaker", emu.endpoint, access_key=creds["AccessKeyId"],
                          secret_key=creds["SecretAccessKey"], session_token=creds["SessionToken"])
    emu.clear_calls()
    session.list_domains()
    (call,) = emu.calls()
    assert call["principal"] == f"arn:aws:sts::{OTHER_ACCOUNT}:assumed-role/Operator/operator"
    assert call["session_tags"] == [{"Key": "team", "Value": "ml"}, {"Key": "project", "Value": "studio"}]
    emu.request("DELETE", "sts/trust")
    sts.assume_role(RoleArn=role_arn, RoleSessionName="operator")


def test_assume_role_validation_of_new_members(emu):
    # botocore checks minimum lengths itself; the server must check the rest (and the minimums).
    sts = make_client("sts", emu.endpoint, config=no_retry_config(parameter_validation=False))
    role_arn = f"arn:aws:iam::{OTHER_ACCOUNT}:role/Operator"
    with raises_code("ValidationError", 400) as info:
        sts.assume_role(RoleArn=role_arn, RoleSessionName="x", ExternalId="has space")
    message = info.value.response["Error"]["Message"]
    assert message.startswith("2 validation errors detected: "), message
    assert "at 'roleSessionName'" in message and "at 'externalId'" in message
    with raises_code("ValidationError"):
        sts.assume_role(RoleArn=role_arn, RoleSessionName="s1", ExternalId="x" * 1225)
    with raises_code("ValidationError") as info:
        sts.assume_role(RoleArn=role_arn, RoleSessionName="s1",
                        Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(51)])
    assert "at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50" in \
        info.value.response["Error"]["Message"]
    with raises_code("ValidationError") as info:
        sts.assume_role(RoleArn=role_arn, RoleSessionName="s1", Tags=[{"Key": "k" * 129, "Value": "v"}])
    assert "'tags.1.member.key'" in info.value.response["Error"]["Message"]
    with raises_code("ValidationError"):
        sts.assume_role(RoleArn=role_arn, RoleSessionName="s1", Tags=[{"Key": "team", "Value": "a"}],
                        TransitiveTagKeys=["project"])
    with raises_code("ValidationError"):
        sts.assume_role(RoleArn=role_arn, RoleSessionName="s1", SourceIdentity="bad identity")
    refused = [c for c in emu.calls() if c["outcome"] == "ValidationError"]
    assert refused[0]["members"]["ExternalId"] == "has space"
