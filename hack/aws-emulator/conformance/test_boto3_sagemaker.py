"""SageMaker Studio control plane through boto3: every emulated operation, success and error paths.

Requests are validated by botocore against the official model before they are sent; every
raw response is checked against the model by ``model_check`` (installed on the clients by
conftest), and the tests below additionally assert the output members the emulator
implements (``assert_members``) and the behaviour the reference describes.
"""

from __future__ import annotations

import datetime
import urllib.request

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ParamValidationError

from conftest import make_client, no_retry_config
from model_check import assert_items, assert_members
from scenario import (
    ACCOUNT,
    DOMAIN_ID_RE,
    ROLE,
    SUBNETS,
    VPC,
    body,
    create_domain_in_service,
    create_profile_in_service,
    domain_request,
    lcc_content,
    raises_code,
)

DOMAIN_DESCRIBE_MEMBERS = [
    "DomainArn", "DomainId", "DomainName", "Status", "CreationTime", "LastModifiedTime", "Url",
    "AuthMode", "DefaultUserSettings", "AppNetworkAccessType", "SubnetIds", "VpcId", "TagPropagation",
]
DOMAIN_DETAILS_MEMBERS = ["DomainArn", "DomainId", "DomainName", "Status", "CreationTime", "LastModifiedTime", "Url"]


# --- Domain ---------------------------------------------------------------------------


def test_domain_create_describe_list_delete_lifecycle(sagemaker, emu):
    created = sagemaker.create_domain(**domain_request("lifecycle"))
    assert_members(sagemaker, "CreateDomain", created, ["DomainArn", "DomainId", "Url"])
    domain_id = created["DomainId"]
    assert DOMAIN_ID_RE.match(domain_id), domain_id
    assert created["DomainArn"] == f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:domain/{domain_id}"

    # Create: Pending -> InService, driven by the emulated clock.
    desc = sagemaker.describe_domain(DomainId=domain_id)
    assert_members(sagemaker, "DescribeDomain", desc, DOMAIN_DESCRIBE_MEMBERS)
    assert desc["Status"] == "Pending"
    assert desc["DomainName"] == "lifecycle"
    assert desc["AuthMode"] == "IAM"
    assert desc["DefaultUserSettings"] == {"ExecutionRole": ROLE}
    assert desc["SubnetIds"] == SUBNETS and desc["VpcId"] == VPC
    assert desc["AppNetworkAccessType"] == "PublicInternetOnly"  # documented default
    assert isinstance(desc["CreationTime"], datetime.datetime)
    assert "Tags" not in desc  # DescribeDomain does not return tags

    listed = sagemaker.list_domains()
    assert_members(sagemaker, "ListDomains", listed, ["Domains"])
    assert_items(sagemaker, "DomainDetails", listed["Domains"], DOMAIN_DETAILS_MEMBERS)
    assert [(d["DomainId"], d["Status"]) for d in listed["Domains"]] == [(domain_id, "Pending")]

    emu.settle()
    desc = sagemaker.describe_domain(DomainId=domain_id)
    assert desc["Status"] == "InService"
    assert_members(sagemaker, "DescribeDomain", desc, DOMAIN_DESCRIBE_MEMBERS + ["HomeEfsFileSystemId"])
    assert desc["LastModifiedTime"] >= desc["CreationTime"]

    # Delete: Deleting -> gone (DescribeDomain ResourceNotFound, dropped from ListDomains).
    deleted = sagemaker.delete_domain(DomainId=domain_id, RetentionPolicy={"HomeEfsFileSystem": "Delete"})
    assert body(deleted) == {}
    assert sagemaker.describe_domain(DomainId=domain_id)["Status"] == "Deleting"
    assert [d["Status"] for d in sagemaker.list_domains()["Domains"]] == ["Deleting"]
    emu.settle()
    with raises_code("ResourceNotFound", 400):
        sagemaker.describe_domain(DomainId=domain_id)
    assert sagemaker.list_domains()["Domains"] == []


def test_domain_error_paths(sagemaker, emu):
    with raises_code("ResourceNotFound", 400):
        sagemaker.describe_domain(DomainId="d-000000000000")
    with raises_code("ResourceNotFound"):
        sagemaker.delete_domain(DomainId="d-000000000000")
    with raises_code("ResourceNotFound"):
        sagemaker.update_domain(DomainId="d-000000000000", DefaultUserSettings={"ExecutionRole": ROLE})

    domain_id = sagemaker.create_domain(**domain_request("dup"))["DomainId"]
    with raises_code("ResourceInUse"):  # same name again
        sagemaker.create_domain(**domain_request("dup"))
    # Update/Delete while Pending are refused (emulator's documented strictness choice).
    with raises_code("ResourceInUse"):
        sagemaker.delete_domain(DomainId=domain_id)
    with raises_code("ResourceInUse"):
        sagemaker.update_domain(DomainId=domain_id, DefaultUserSettings={"ExecutionRole": ROLE})
    # Children need an InService domain.
    with raises_code("ResourceInUse"):
        sagemaker.create_user_profile(DomainId=domain_id, UserProfileName="early")

    # botocore validates types and required members, not patterns or enums: the server must.
    with raises_code("ValidationException", 400):
        sagemaker.create_domain(**domain_request("bad_name!"))
    with raises_code("ValidationException"):
        sagemaker.create_domain(**domain_request("badauth", AuthMode="PASSWORD"))
    with raises_code("ValidationException"):
        sagemaker.create_domain(**domain_request("x" * 64))
    with pytest.raises(ParamValidationError):
        sagemaker.create_domain(DomainName="noauth", DefaultUserSettings={})


def test_domain_quota_resource_limit_exceeded(sagemaker, emu):
    emu.set_quotas(domains=2)
    sagemaker.create_domain(**domain_request("q1"))
    sagemaker.create_domain(**domain_request("q2"))
    with raises_code("ResourceLimitExceeded", 400) as info:
        sagemaker.create_domain(**domain_request("q3"))
    assert info.value.response["Error"]["Message"]
    assert len(sagemaker.list_domains()["Domains"]) == 2


def test_domain_update_lifecycle(sagemaker, emu):
    domain_id = create_domain_in_service(sagemaker, emu, "updates")
    before = sagemaker.describe_domain(DomainId=domain_id)
    new_settings = {
        "ExecutionRole": ROLE,
        "JupyterLabAppSettings": {
            "DefaultResourceSpec": {"InstanceType": "ml.t3.large"},
            "AppLifecycleManagement": {
                "IdleSettings": {"LifecycleManagement": "ENABLED", "IdleTimeoutInMinutes": 120}
            },
        },
    }
    updated = sagemaker.update_domain(DomainId=domain_id, DefaultUserSettings=new_settings, TagPropagation="ENABLED")
    assert_members(sagemaker, "UpdateDomain", updated, ["DomainArn"])
    assert updated["DomainArn"] == before["DomainArn"]
    assert sagemaker.describe_domain(DomainId=domain_id)["Status"] == "Updating"
    with raises_code("ResourceInUse"):  # Update while Updating
        sagemaker.update_domain(DomainId=domain_id, TagPropagation="DISABLED")
    emu.settle()
    after = sagemaker.describe_domain(DomainId=domain_id)
    assert after["Status"] == "InService"
    assert after["DefaultUserSettings"]["JupyterLabAppSettings"] == new_settings["JupyterLabAppSettings"]
    assert after["TagPropagation"] == "ENABLED"
    assert after["LastModifiedTime"] > before["LastModifiedTime"]
    # HomeEfsFileSystemCreation can only go Disabled -> Enabled.
    with raises_code("ValidationException"):
        sagemaker.update_domain(DomainId=domain_id, HomeEfsFileSystemCreation="Disabled")
    # VpcOnly without VpcId + SubnetIds is refused (terraform #45528).
    with raises_code("ValidationException"):
        sagemaker.update_domain(DomainId=domain_id, AppNetworkAccessType="VpcOnly")


@pytest.mark.parametrize("mode", ["replace", "deep"])
def test_update_merge_modes(sagemaker, emu, mode):
    emu.set_update_merge(mode)
    assert emu.request("GET", "update-merge") == {"mode": mode}
    domain_id = create_domain_in_service(sagemaker, emu, f"merge-{mode}", DefaultSpaceSettings={
        "ExecutionRole": ROLE,
        "JupyterLabAppSettings": {
            "CustomImages": [{"ImageName": "team-image", "AppImageConfigName": "team-config"}],
            "DefaultResourceSpec": {"InstanceType": "ml.t3.medium"},
        },
    })
    sagemaker.update_domain(DomainId=domain_id, DefaultSpaceSettings={
        "JupyterLabAppSettings": {"DefaultResourceSpec": {"InstanceType": "ml.m5.large"}},
    })
    emu.settle()
    dss = sagemaker.describe_domain(DomainId=domain_id)["DefaultSpaceSettings"]
    assert dss["ExecutionRole"] == ROLE  # omitted members are kept in both modes
    assert dss["JupyterLabAppSettings"]["DefaultResourceSpec"] == {"InstanceType": "ml.m5.large"}
    kept = dss["JupyterLabAppSettings"].get("CustomImages", [])
    assert kept == ([] if mode == "replace" else [{"ImageName": "team-image", "AppImageConfigName": "team-config"}])


def test_update_merge_mode_is_checked(emu):
    import urllib.error

    req = urllib.request.Request(f"{emu.endpoint}/_emulator/update-merge", data=b'{"mode": "shallow"}',
                                 method="POST", headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=10)
    assert info.value.code == 400
    assert emu.request("GET", "update-merge") == {"mode": "replace"}


def test_domain_with_disabled_kms_key_fails_asynchronously(sagemaker, kms, emu):
    key_id = kms.create_key(Description="studio")["KeyMetadata"]["KeyId"]
    kms.disable_key(KeyId=key_id)
    domain_id = sagemaker.create_domain(**domain_request("badkey", KmsKeyId=key_id))["DomainId"]
    assert sagemaker.describe_domain(DomainId=domain_id)["Status"] == "Pending"
    emu.settle()
    desc = sagemaker.describe_domain(DomainId=domain_id)
    assert_members(sagemaker, "DescribeDomain", desc, ["Status", "FailureReason", "KmsKeyId"])
    assert desc["Status"] == "Failed"
    assert domain_id in desc["FailureReason"] and key_id in desc["FailureReason"]
    assert "KMS key" in desc["FailureReason"]
    assert desc["KmsKeyId"] == key_id
    # A Failed domain cannot be updated, but can be deleted.
    with raises_code("ResourceInUse"):
        sagemaker.update_domain(DomainId=domain_id, TagPropagation="ENABLED")
    sagemaker.delete_domain(DomainId=domain_id)
    emu.settle()
    with raises_code("ResourceNotFound"):
        sagemaker.describe_domain(DomainId=domain_id)


def test_domain_with_missing_kms_key_fails_and_enabled_key_succeeds(sagemaker, kms, emu):
    missing = sagemaker.create_domain(**domain_request("nokey", KmsKeyId="alias/does-not-exist"))["DomainId"]
    key = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/studio", TargetKeyId=key["KeyId"])
    good = sagemaker.create_domain(**domain_request("goodkey", KmsKeyId=key["Arn"]))["DomainId"]
    emu.settle()
    failed = sagemaker.describe_domain(DomainId=missing)
    assert failed["Status"] == "Failed" and "does not exist" in failed["FailureReason"]
    ok = sagemaker.describe_domain(DomainId=good)
    assert ok["Status"] == "InService" and "FailureReason" not in ok
    assert ok["KmsKeyId"] == key["Arn"]


# --- UserProfile ----------------------------------------------------------------------


def test_user_profile_crud_pagination_and_filters(sagemaker, emu):
    domain_id = create_domain_in_service(sagemaker, emu, "profiles")
    names = [f"user-{i}" for i in range(5)] + ["admin-a"]
    for n in names:
        created = sagemaker.create_user_profile(DomainId=domain_id, UserProfileName=n, Tags=[{"Key": "team", "Value": "ml"}])
        assert_members(sagemaker, "CreateUserProfile", created, ["UserProfileArn"])
        emu.advance(1)  # distinct CreationTimes
    arn = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:user-profile/{domain_id}/user-0"
    desc = sagemaker.describe_user_profile(DomainId=domain_id, UserProfileName="user-0")
    assert_members(sagemaker, "DescribeUserProfile", desc, [
        "DomainId", "UserProfileArn", "UserProfileName", "HomeEfsFileSystemUid", "Status",
        "CreationTime", "LastModifiedTime",
    ])
    assert desc["UserProfileArn"] == arn and desc["Status"] == "Pending"
    assert desc["HomeEfsFileSystemUid"].isdigit()
    emu.settle()
    assert sagemaker.describe_user_profile(DomainId=domain_id, UserProfileName="user-0")["Status"] == "InService"

    # Pagination through the botocore paginator with MaxResults (UserProfiles result key).
    pages = list(sagemaker.get_paginator("list_user_profiles").paginate(
        DomainIdEquals=domain_id, PaginationConfig={"PageSize": 2}))
    assert [len(p["UserProfiles"]) for p in pages] == [2, 2, 2]
    assert all("NextToken" in p for p in pages[:-1]) and "NextToken" not in pages[-1]
    listed = [u for p in pages for u in p["UserProfiles"]]
    assert_items(sagemaker, "UserProfileDetails", listed,
                 ["DomainId", "UserProfileName", "Status", "CreationTime", "LastModifiedTime"])
    assert [u["UserProfileName"] for u in listed] == names  # CreationTime ascending by default
    one = sagemaker.list_user_profiles(DomainIdEquals=domain_id, MaxResults=4)
    assert len(one["UserProfiles"]) == 4 and one["NextToken"]
    rest = sagemaker.list_user_profiles(DomainIdEquals=domain_id, MaxResults=4, NextToken=one["NextToken"])
    assert len(rest["UserProfiles"]) == 2 and "NextToken" not in rest

    # Filters and sort.
    admins = sagemaker.list_user_profiles(DomainIdEquals=domain_id, UserProfileNameContains="admin")
    assert [u["UserProfileName"] for u in admins["UserProfiles"]] == ["admin-a"]
    desc_order = sagemaker.list_user_profiles(DomainIdEquals=domain_id, SortBy="CreationTime",
                                              SortOrder="Descending", MaxResults=100)
    assert [u["UserProfileName"] for u in desc_order["UserProfiles"]] == list(reversed(names))
    assert sagemaker.list_user_profiles(DomainIdEquals="d-000000000000")["UserProfiles"] == []
    with raises_code("ValidationException"):
        sagemaker.list_user_profiles(NextToken="not-a-token")
    with pytest.raises(ParamValidationError):  # MaxResults min 1 is enforced by botocore
        sagemaker.list_user_profiles(MaxResults=0)

    # Update: Updating -> InService, settings merged.
    upd = sagemaker.update_user_profile(DomainId=domain_id, UserProfileName="user-1",
                                        UserSettings={"ExecutionRole": ROLE})
    assert_members(sagemaker, "UpdateUserProfile", upd, ["UserProfileArn"])
    assert sagemaker.describe_user_profile(DomainId=domain_id, UserProfileName="user-1")["Status"] == "Updating"
    emu.settle()
    after = sagemaker.describe_user_profile(DomainId=domain_id, UserProfileName="user-1")
    assert after["Status"] == "InService" and after["UserSettings"] == {"ExecutionRole": ROLE}

    # Error paths.
    with raises_code("ResourceInUse"):
        sagemaker.create_user_profile(DomainId=domain_id, UserProfileName="user-0")
    with raises_code("ResourceInUse"):  # names are not case sensitive
        sagemaker.create_user_profile(DomainId=domain_id, UserProfileName="USER-0")
    with raises_code("ResourceNotFound"):
        sagemaker.describe_user_profile(DomainId=domain_id, UserProfileName="nobody")
    with raises_code("ResourceNotFound"):
        sagemaker.create_user_profile(DomainId="d-000000000000", UserProfileName="x")
    with raises_code("ValidationException"):  # SSO fields are not allowed in an IAM domain
        sagemaker.create_user_profile(DomainId=domain_id, UserProfileName="sso",
                                      SingleSignOnUserIdentifier="UserName", SingleSignOnUserValue="bob")
    with raises_code("ResourceInUse"):  # domain still has profiles
        sagemaker.delete_domain(DomainId=domain_id)

    # Delete: Deleting -> gone.
    assert body(sagemaker.delete_user_profile(DomainId=domain_id, UserProfileName="user-0")) == {}
    assert sagemaker.describe_user_profile(DomainId=domain_id, UserProfileName="user-0")["Status"] == "Deleting"
    emu.settle()
    with raises_code("ResourceNotFound"):
        sagemaker.describe_user_profile(DomainId=domain_id, UserProfileName="user-0")
    with raises_code("ResourceNotFound"):
        sagemaker.delete_user_profile(DomainId=domain_id, UserProfileName="user-0")


def test_user_profile_quota(sagemaker, emu):
    domain_id = create_domain_in_service(sagemaker, emu, "profquota")
    emu.set_quotas(user_profiles=1)
    sagemaker.create_user_profile(DomainId=domain_id, UserProfileName="one")
    with raises_code("ResourceLimitExceeded"):
        sagemaker.create_user_profile(DomainId=domain_id, UserProfileName="two")


def test_sso_domain_profiles(sagemaker, emu):
    domain_id = create_domain_in_service(sagemaker, emu, "sso", AuthMode="SSO")
    desc = sagemaker.describe_domain(DomainId=domain_id)
    assert desc["AuthMode"] == "SSO"
    with raises_code("ValidationException"):  # SSO fields are required in an SSO domain
        sagemaker.create_user_profile(DomainId=domain_id, UserProfileName="nosso")
    sagemaker.create_user_profile(DomainId=domain_id, UserProfileName="bob",
                                  SingleSignOnUserIdentifier="UserName", SingleSignOnUserValue="bob@example.com")
    prof = sagemaker.describe_user_profile(DomainId=domain_id, UserProfileName="bob")
    assert_members(sagemaker, "DescribeUserProfile", prof, ["SingleSignOnUserIdentifier", "SingleSignOnUserValue"])
    assert prof["SingleSignOnUserValue"] == "bob@example.com"


# --- Space ----------------------------------------------------------------------------


def test_space_crud(sagemaker, emu):
    domain_id = create_domain_in_service(sagemaker, emu, "spaces")
    create_profile_in_service(sagemaker, emu, domain_id, "owner")
    settings = {"AppType": "JupyterLab", "SpaceStorageSettings": {"EbsStorageSettings": {"EbsVolumeSizeInGb": 10}}}
    created = sagemaker.create_space(
        DomainId=domain_id, SpaceName="lab", SpaceSettings=settings,
        OwnershipSettings={"OwnerUserProfileName": "owner"},
        SpaceSharingSettings={"SharingType": "Private"}, SpaceDisplayName="My lab",
    )
    assert_members(sagemaker, "CreateSpace", created, ["SpaceArn"])
    assert created["SpaceArn"] == f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:space/{domain_id}/lab"
    desc = sagemaker.describe_space(DomainId=domain_id, SpaceName="lab")
    assert_members(sagemaker, "DescribeSpace", desc, [
        "DomainId", "SpaceArn", "SpaceName", "HomeEfsFileSystemUid", "Status", "CreationTime",
        "LastModifiedTime", "SpaceSettings", "OwnershipSettings", "SpaceSharingSettings",
        "SpaceDisplayName", "Url",
    ])
    assert desc["Status"] == "Pending" and desc["SpaceSettings"]["AppType"] == "JupyterLab"
    emu.settle()
    assert sagemaker.describe_space(DomainId=domain_id, SpaceName="lab")["Status"] == "InService"

    listed = sagemaker.list_spaces(DomainIdEquals=domain_id)
    assert_members(sagemaker, "ListSpaces", listed, ["Spaces"])
    assert_items(sagemaker, "SpaceDetails", listed["Spaces"], [
        "DomainId", "SpaceName", "Status", "CreationTime", "LastModifiedTime", "SpaceSettingsSummary",
        "SpaceSharingSettingsSummary", "OwnershipSettingsSummary", "SpaceDisplayName",
    ])
    item = listed["Spaces"][0]
    assert item["SpaceSettingsSummary"]["AppType"] == "JupyterLab"
    assert item["OwnershipSettingsSummary"] == {"OwnerUserProfileName": "owner"}
    assert item["SpaceSharingSettingsSummary"] == {"SharingType": "Private"}
    assert sagemaker.list_spaces(DomainIdEquals=domain_id, SpaceNameContains="zzz")["Spaces"] == []

    upd = sagemaker.update_space(DomainId=domain_id, SpaceName="lab", SpaceDisplayName="Renamed")
    assert_members(sagemaker, "UpdateSpace", upd, ["SpaceArn"])
    assert sagemaker.describe_space(DomainId=domain_id, SpaceName="lab")["Status"] == "Updating"
    emu.settle()
    assert sagemaker.describe_space(DomainId=domain_id, SpaceName="lab")["SpaceDisplayName"] == "Renamed"
    with raises_code("ValidationException"):  # boto3 #4375: AppType cannot be updated
        sagemaker.update_space(DomainId=domain_id, SpaceName="lab", SpaceSettings={"AppType": "JupyterLab"})

    with raises_code("ResourceInUse"):
        sagemaker.create_space(DomainId=domain_id, SpaceName="lab", SpaceSettings=settings,
                               OwnershipSettings={"OwnerUserProfileName": "owner"},
                               SpaceSharingSettings={"SharingType": "Private"})
    with raises_code("ResourceNotFound"):
        sagemaker.describe_space(DomainId=domain_id, SpaceName="nospace")
    with raises_code("ValidationException"):  # EbsVolumeSizeInGb is 5..16384
        sagemaker.create_space(DomainId=domain_id, SpaceName="tiny",
                               SpaceSettings={"SpaceStorageSettings": {"EbsStorageSettings": {"EbsVolumeSizeInGb": 20000}}})
    with raises_code("ResourceInUse"):  # the owner's space blocks deleting the owner
        sagemaker.delete_user_profile(DomainId=domain_id, UserProfileName="owner")

    sagemaker.delete_space(DomainId=domain_id, SpaceName="lab")
    assert sagemaker.describe_space(DomainId=domain_id, SpaceName="lab")["Status"] == "Deleting"
    emu.settle()
    with raises_code("ResourceNotFound"):
        sagemaker.describe_space(DomainId=domain_id, SpaceName="lab")


def test_space_storage_defaults_and_ebs_registry(sagemaker, emu):
    def defaults(default, maximum):
        return {"DefaultEbsStorageSettings": {"DefaultEbsVolumeSizeInGb": default, "MaximumEbsVolumeSizeInGb": maximum}}

    domain_id = create_domain_in_service(sagemaker, emu, "storage", DefaultUserSettings={
        "ExecutionRole": ROLE, "SpaceStorageSettings": defaults(10, 50)})
    create_profile_in_service(sagemaker, emu, domain_id, "owner")
    private = {"OwnershipSettings": {"OwnerUserProfileName": "owner"}, "SpaceSharingSettings": {"SharingType": "Private"}}
    sagemaker.create_space(DomainId=domain_id, SpaceName="lab", SpaceSettings={"AppType": "JupyterLab"}, **private)
    desc = sagemaker.describe_space(DomainId=domain_id, SpaceName="lab")
    assert desc["SpaceSettings"]["SpaceStorageSettings"] == {"EbsStorageSettings": {"EbsVolumeSizeInGb": 10}}
    with raises_code("ValidationException"):  # above the configured maximum
        sagemaker.create_space(DomainId=domain_id, SpaceName="big", SpaceSettings={
            "AppType": "CodeEditor", "SpaceStorageSettings": {"EbsStorageSettings": {"EbsVolumeSizeInGb": 51}}}, **private)
    emu.settle()
    sagemaker.update_space(DomainId=domain_id, SpaceName="lab", SpaceSettings={
        "SpaceStorageSettings": {"EbsStorageSettings": {"EbsVolumeSizeInGb": 30}}})
    emu.settle()
    (volume,) = emu.request("GET", "ebs")
    assert set(volume) == {"volume_id", "account", "region", "domain_id", "space_name", "size_in_gb", "created",
                           "deleted_at"}
    assert (volume["domain_id"], volume["space_name"], volume["size_in_gb"], volume["deleted_at"]) == (
        domain_id, "lab", 30, None)
    with raises_code("ValidationException"):  # volumes only grow
        sagemaker.update_space(DomainId=domain_id, SpaceName="lab", SpaceSettings={
            "SpaceStorageSettings": {"EbsStorageSettings": {"EbsVolumeSizeInGb": 20}}})
    sagemaker.delete_space(DomainId=domain_id, SpaceName="lab")
    assert emu.request("GET", "ebs")[0]["deleted_at"] is None  # still Deleting
    emu.settle()
    (volume,) = emu.request("GET", "ebs")
    assert volume["deleted_at"] >= volume["created"]


def test_space_quota(sagemaker, emu):
    domain_id = create_domain_in_service(sagemaker, emu, "spacequota")
    emu.set_quotas(spaces=0)
    with raises_code("ResourceLimitExceeded"):
        sagemaker.create_space(DomainId=domain_id, SpaceName="s1")


# --- App ------------------------------------------------------------------------------


def test_app_lifecycle_with_deleted_status(sagemaker, emu):
    domain_id = create_domain_in_service(sagemaker, emu, "apps")
    create_profile_in_service(sagemaker, emu, domain_id, "alice")
    created = sagemaker.create_app(DomainId=domain_id, UserProfileName="alice", AppType="JupyterServer", AppName="default")
    assert_members(sagemaker, "CreateApp", created, ["AppArn"])
    assert created["AppArn"] == f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:app/{domain_id}/alice/jupyterserver/default"
    keys = {"DomainId": domain_id, "UserProfileName": "alice", "AppType": "JupyterServer", "AppName": "default"}
    desc = sagemaker.describe_app(**keys)
    assert_members(sagemaker, "DescribeApp", desc, [
        "AppArn", "AppType", "AppName", "DomainId", "UserProfileName", "Status", "CreationTime", "ResourceSpec",
    ])
    assert desc["Status"] == "Pending"
    assert desc["ResourceSpec"]["InstanceType"] == "system"  # JupyterServer only supports system
    with raises_code("ResourceInUse"):  # already exists
        sagemaker.create_app(**keys)
    with raises_code("ResourceInUse"):  # cannot delete a Pending app
        sagemaker.delete_app(**keys)
    emu.settle()
    desc = sagemaker.describe_app(**keys)
    assert desc["Status"] == "InService"
    assert_members(sagemaker, "DescribeApp", desc, ["LastHealthCheckTimestamp", "LastUserActivityTimestamp"])

    listed = sagemaker.list_apps(DomainIdEquals=domain_id)
    assert_members(sagemaker, "ListApps", listed, ["Apps"])
    assert_items(sagemaker, "AppDetails", listed["Apps"], [
        "DomainId", "UserProfileName", "AppType", "AppName", "Status", "CreationTime", "ResourceSpec",
    ])
    with raises_code("ResourceInUse"):  # the app blocks deleting its profile
        sagemaker.delete_user_profile(DomainId=domain_id, UserProfileName="alice")

    assert body(sagemaker.delete_app(**keys)) == {}
    assert sagemaker.describe_app(**keys)["Status"] == "Deleting"
    emu.settle()
    # Deleted apps stay visible with Status=Deleted.
    assert sagemaker.describe_app(**keys)["Status"] == "Deleted"
    assert [a["Status"] for a in sagemaker.list_apps(DomainIdEquals=domain_id, UserProfileNameEquals="alice")["Apps"]] == ["Deleted"]
    with raises_code("ResourceNotFound"):
        sagemaker.delete_app(**keys)
    # A deleted app no longer blocks its owner; recreating replaces the record.
    sagemaker.create_app(**keys)
    assert sagemaker.describe_app(**keys)["Status"] == "Pending"


def test_app_errors_filters_and_quota(sagemaker, emu):
    domain_id = create_domain_in_service(sagemaker, emu, "apperr")
    create_profile_in_service(sagemaker, emu, domain_id, "bob")
    sagemaker.create_space(DomainId=domain_id, SpaceName="shared", SpaceSettings={"AppType": "CodeEditor"},
                           OwnershipSettings={"OwnerUserProfileName": "bob"},
                           SpaceSharingSettings={"SharingType": "Shared"})
    emu.settle()
    with raises_code("ResourceNotFound"):
        sagemaker.describe_app(DomainId=domain_id, UserProfileName="bob", AppType="JupyterLab", AppName="nope")
    with raises_code("ResourceNotFound"):  # owner does not exist
        sagemaker.create_app(DomainId=domain_id, UserProfileName="ghost", AppType="JupyterServer", AppName="default")
    with raises_code("ValidationException"):  # KernelGateway needs an InstanceType somewhere
        sagemaker.create_app(DomainId=domain_id, UserProfileName="bob", AppType="KernelGateway", AppName="kg")
    with raises_code("ValidationException"):  # exactly one of UserProfileName / SpaceName
        sagemaker.create_app(DomainId=domain_id, UserProfileName="bob", SpaceName="shared",
                             AppType="CodeEditor", AppName="default")
    with raises_code("ValidationException"):  # AppType enum is checked by the server
        sagemaker.create_app(DomainId=domain_id, UserProfileName="bob", AppType="Notebook", AppName="x")

    sagemaker.create_app(DomainId=domain_id, SpaceName="shared", AppType="CodeEditor", AppName="default",
                         ResourceSpec={"InstanceType": "ml.t3.medium"})
    sagemaker.create_app(DomainId=domain_id, UserProfileName="bob", AppType="KernelGateway", AppName="kg",
                         ResourceSpec={"InstanceType": "ml.m5.large"})
    by_space = sagemaker.list_apps(DomainIdEquals=domain_id, SpaceNameEquals="shared")["Apps"]
    assert [(a["SpaceName"], a["AppType"]) for a in by_space] == [("shared", "CodeEditor")]
    assert "UserProfileName" not in by_space[0]
    by_user = sagemaker.list_apps(DomainIdEquals=domain_id, UserProfileNameEquals="bob")["Apps"]
    assert [a["AppType"] for a in by_user] == ["KernelGateway"]
    with raises_code("ValidationException"):  # the two owner filters are mutually exclusive
        sagemaker.list_apps(UserProfileNameEquals="bob", SpaceNameEquals="shared")
    pages = list(sagemaker.get_paginator("list_apps").paginate(DomainIdEquals=domain_id,
                                                               PaginationConfig={"PageSize": 1}))
    assert [len(p["Apps"]) for p in pages] == [1, 1]

    emu.set_quotas(running_apps=2)
    with raises_code("ResourceLimitExceeded"):
        sagemaker.create_app(DomainId=domain_id, UserProfileName="bob", AppType="JupyterServer", AppName="default")


# --- Tags -----------------------------------------------------------------------------


def test_tags_add_list_delete(sagemaker, emu):
    domain_id = create_domain_in_service(sagemaker, emu, "tags", Tags=[{"Key": "env", "Value": "test"}])
    arn = sagemaker.describe_domain(DomainId=domain_id)["DomainArn"]
    listed = sagemaker.list_tags(ResourceArn=arn)
    assert_members(sagemaker, "ListTags", listed, ["Tags"])
    assert listed["Tags"] == [{"Key": "env", "Value": "test"}]

    added = sagemaker.add_tags(ResourceArn=arn, Tags=[{"Key": "team", "Value": "ml"}, {"Key": "env", "Value": "prod"}])
    assert_members(sagemaker, "AddTags", added, ["Tags"])
    tags = {t["Key"]: t["Value"] for t in sagemaker.list_tags(ResourceArn=arn)["Tags"]}
    assert tags == {"env": "prod", "team": "ml"}  # AddTags overwrites existing keys

    assert body(sagemaker.delete_tags(ResourceArn=arn, TagKeys=["env"])) == {}
    assert sagemaker.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "ml"}]

    # Pagination of ListTags (MaxResults has a model minimum of 50).
    sagemaker.add_tags(ResourceArn=arn, Tags=[{"Key": f"k{i}", "Value": ""} for i in range(49)])
    first = sagemaker.list_tags(ResourceArn=arn, MaxResults=50)
    assert len(first["Tags"]) == 50 and "NextToken" not in first
    all_tags = [t for p in sagemaker.get_paginator("list_tags").paginate(ResourceArn=arn) for t in p["Tags"]]
    assert len(all_tags) == 50
    with raises_code("ResourceLimitExceeded"):  # more than 50 tags on a resource
        sagemaker.add_tags(ResourceArn=arn, Tags=[{"Key": "one-too-many", "Value": ""}])

    # Tag errors.
    with pytest.raises(ParamValidationError):
        sagemaker.list_tags(ResourceArn=arn, MaxResults=10)
    unvalidated = make_client("sagemaker", emu.endpoint, config=no_retry_config(parameter_validation=False))
    with raises_code("ValidationException"):
        unvalidated.list_tags(ResourceArn=arn, MaxResults=10)
    with raises_code("ValidationException"):  # ResourceArn pattern
        sagemaker.list_tags(ResourceArn="arn:aws:kms:us-east-1:123456789012:key/x")
    with raises_code("ValidationException"):  # reserved aws: prefix
        sagemaker.add_tags(ResourceArn=arn, Tags=[{"Key": "aws:reserved", "Value": "x"}])
    with raises_code("ValidationException"):  # emulator: unknown resource
        sagemaker.add_tags(ResourceArn=f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:domain/d-000000000000",
                           Tags=[{"Key": "a", "Value": "b"}])


# --- Studio lifecycle configs -----------------------------------------------------------


def test_studio_lifecycle_config_crud(sagemaker, emu):
    created = sagemaker.create_studio_lifecycle_config(
        StudioLifecycleConfigName="auto-stop", StudioLifecycleConfigContent=lcc_content(),
        StudioLifecycleConfigAppType="JupyterLab", Tags=[{"Key": "k", "Value": "v"}],
    )
    assert_members(sagemaker, "CreateStudioLifecycleConfig", created, ["StudioLifecycleConfigArn"])
    arn = created["StudioLifecycleConfigArn"]
    assert arn == f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:studio-lifecycle-config/auto-stop"
    desc = sagemaker.describe_studio_lifecycle_config(StudioLifecycleConfigName="auto-stop")
    assert_members(sagemaker, "DescribeStudioLifecycleConfig", desc, [
        "StudioLifecycleConfigArn", "StudioLifecycleConfigName", "CreationTime", "LastModifiedTime",
        "StudioLifecycleConfigContent", "StudioLifecycleConfigAppType",
    ])
    assert desc["StudioLifecycleConfigContent"] == lcc_content()
    sagemaker.create_studio_lifecycle_config(StudioLifecycleConfigName="kg-setup", StudioLifecycleConfigContent=lcc_content("x"),
                                             StudioLifecycleConfigAppType="KernelGateway")
    listed = sagemaker.list_studio_lifecycle_configs()
    assert_members(sagemaker, "ListStudioLifecycleConfigs", listed, ["StudioLifecycleConfigs"])
    assert_items(sagemaker, "StudioLifecycleConfigDetails", listed["StudioLifecycleConfigs"], [
        "StudioLifecycleConfigArn", "StudioLifecycleConfigName", "CreationTime", "LastModifiedTime",
        "StudioLifecycleConfigAppType",
    ])
    assert sorted(c["StudioLifecycleConfigName"] for c in listed["StudioLifecycleConfigs"]) == ["auto-stop", "kg-setup"]
    only_lab = sagemaker.list_studio_lifecycle_configs(AppTypeEquals="JupyterLab")["StudioLifecycleConfigs"]
    assert [c["StudioLifecycleConfigName"] for c in only_lab] == ["auto-stop"]
    assert sagemaker.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "k", "Value": "v"}]

    with raises_code("ResourceInUse"):
        sagemaker.create_studio_lifecycle_config(StudioLifecycleConfigName="auto-stop",
                                                 StudioLifecycleConfigContent=lcc_content(),
                                                 StudioLifecycleConfigAppType="JupyterLab")
    with raises_code("ResourceNotFound"):
        sagemaker.describe_studio_lifecycle_config(StudioLifecycleConfigName="missing")
    with raises_code("ResourceNotFound"):
        sagemaker.delete_studio_lifecycle_config(StudioLifecycleConfigName="missing")

    # Referenced by a domain's settings -> ResourceInUse until the domain no longer uses it.
    domain_id = create_domain_in_service(sagemaker, emu, "lccuser", DefaultUserSettings={
        "ExecutionRole": ROLE,
        "JupyterLabAppSettings": {"LifecycleConfigArns": [arn], "DefaultResourceSpec": {"LifecycleConfigArn": arn}},
    })
    with raises_code("ResourceInUse"):
        sagemaker.delete_studio_lifecycle_config(StudioLifecycleConfigName="auto-stop")
    sagemaker.delete_domain(DomainId=domain_id)
    emu.settle()
    assert body(sagemaker.delete_studio_lifecycle_config(StudioLifecycleConfigName="auto-stop")) == {}
    with raises_code("ResourceNotFound"):
        sagemaker.describe_studio_lifecycle_config(StudioLifecycleConfigName="auto-stop")


# --- Faults: throttling, 5xx, retries ---------------------------------------------------


def test_throttling_fault_without_retries(sagemaker, emu):
    emu.add_fault("ListDomains", "throttling", count=1)
    with raises_code("ThrottlingException", 400) as info:
        sagemaker.list_domains()
    assert info.value.response["Error"]["Message"] == "Rate exceeded"
    assert info.value.response["ResponseMetadata"]["RetryAttempts"] == 0
    # ref §1: a real throttled SageMaker answer had Content-Length 58, the exact length of
    # {"__type":"ThrottlingException","message":"Rate exceeded"}.
    assert info.value.response["ResponseMetadata"]["HTTPHeaders"]["content-length"] == "58"
    assert sagemaker.list_domains()["Domains"] == []  # the count=1 rule is used up


def test_rate_limit_throttles_beyond_burst(sagemaker, emu):
    emu.add_rate_limit("read", rate_per_sec=0.001, burst=2)
    sagemaker.list_domains()
    sagemaker.list_domains()
    with raises_code("ThrottlingException"):
        sagemaker.list_domains()
    with raises_code("ThrottlingException"):
        sagemaker.describe_domain(DomainId="d-000000000000")  # same family, same bucket
    sagemaker.create_domain(**domain_request("writes-unaffected"))  # mutating family is not limited
    emu.clear_rate_limits()
    assert len(sagemaker.list_domains()["Domains"]) == 1


def test_standard_retries_recover_from_throttling(emu):
    retrying = make_client("sagemaker", emu.endpoint,
                           config=Config(retries={"total_max_attempts": 3, "mode": "standard"}))
    emu.add_fault("ListDomains", "throttling", count=2)
    resp = retrying.list_domains()
    assert resp["Domains"] == [] and resp["ResponseMetadata"]["RetryAttempts"] == 2
    outcomes = [c["outcome"] for c in emu.calls() if c["operation"] == "ListDomains"]
    assert outcomes == ["ThrottlingException", "ThrottlingException", "ok"]


def test_server_faults(sagemaker, emu):
    emu.add_fault("DescribeDomain", "internal_failure", count=1)
    with raises_code("InternalFailure", 500):
        sagemaker.describe_domain(DomainId="d-000000000000")
    emu.add_fault("sagemaker", "service_unavailable", count=1)
    with raises_code("ServiceUnavailable", 503):
        sagemaker.list_domains()
    with raises_code("ResourceNotFound"):
        sagemaker.describe_domain(DomainId="d-000000000000")


def test_call_log_records_boto3_calls(sagemaker, emu):
    domain_id = sagemaker.create_domain(**domain_request("logged"))["DomainId"]
    with pytest.raises(ClientError):
        sagemaker.describe_domain(DomainId="d-000000000000")
    calls = [(c["service"], c["operation"], c["outcome"], c["account"], c["region"]) for c in emu.calls()]
    assert calls == [
        ("sagemaker", "CreateDomain", "ok", ACCOUNT, "us-east-1"),
        ("sagemaker", "DescribeDomain", "ResourceNotFound", ACCOUNT, "us-east-1"),
    ]
    assert emu.calls()[0]["members"].get("DomainName") == "logged"
    assert domain_id


def test_date_header_follows_the_emulated_clock_and_its_skew(sagemaker, emu):
    import email.utils

    def header_time(resp) -> float:
        return email.utils.parsedate_to_datetime(resp["ResponseMetadata"]["HTTPHeaders"]["date"]).timestamp()

    assert abs(header_time(sagemaker.list_domains()) - emu.now()) <= 2
    emu.advance(3 * 86400)
    assert abs(header_time(sagemaker.list_domains()) - emu.now()) <= 2
    emu.set_date_skew(-600)
    assert emu.request("GET", "date-skew") == {"seconds": -600.0}
    assert abs(header_time(sagemaker.list_domains()) - (emu.now() - 600)) <= 2
    with raises_code("ResourceNotFound") as info:
        sagemaker.describe_domain(DomainId="d-000000000000")
    date = info.value.response["ResponseMetadata"]["HTTPHeaders"]["date"]
    assert abs(email.utils.parsedate_to_datetime(date).timestamp() - (emu.now() - 600)) <= 2


def test_regions_are_isolated(sagemaker, emu):
    west = make_client("sagemaker", emu.endpoint, region="us-west-2")
    domain_id = west.create_domain(**domain_request("west"))["DomainId"]
    assert west.describe_domain(DomainId=domain_id)["DomainArn"].startswith("arn:aws:sagemaker:us-west-2:")
    assert sagemaker.list_domains()["Domains"] == []
    with raises_code("ResourceNotFound"):
        sagemaker.describe_domain(DomainId=domain_id)


# --- More protocol and lifecycle details -------------------------------------------------


def test_unsigned_requests_are_refused(emu):
    from botocore import UNSIGNED

    unsigned = make_client("sagemaker", emu.endpoint, config=no_retry_config(signature_version=UNSIGNED))
    with raises_code("MissingAuthenticationTokenException", 403):
        unsigned.list_domains()


def test_dropped_connection_and_latency_faults(emu):
    from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

    client = make_client("sagemaker", emu.endpoint, config=no_retry_config(read_timeout=5))
    emu.add_fault("ListDomains", "drop_connection", count=1)
    with pytest.raises((ConnectionClosedError, EndpointConnectionError, ReadTimeoutError)):
        client.list_domains()
    assert client.list_domains()["Domains"] == []
    emu.add_fault("ListDomains", "slow", count=1, delay_ms=400)
    import time

    started = time.monotonic()
    client.list_domains()
    assert time.monotonic() - started >= 0.35


def test_list_domains_pagination(sagemaker, emu):
    for i in range(3):
        sagemaker.create_domain(**domain_request(f"page-{i}"))
    pages = list(sagemaker.get_paginator("list_domains").paginate(PaginationConfig={"PageSize": 2}))
    assert [len(p["Domains"]) for p in pages] == [2, 1]
    assert [d["DomainName"] for p in pages for d in p["Domains"]] == ["page-0", "page-1", "page-2"]
    unvalidated = make_client("sagemaker", emu.endpoint, config=no_retry_config(parameter_validation=False))
    with raises_code("ValidationException"):  # MaxResults max 100 is not checked by botocore
        unvalidated.list_domains(MaxResults=101)


def test_names_case_insensitive_and_arns_lowercased(sagemaker, emu):
    domain_id = create_domain_in_service(sagemaker, emu, "cases")
    arn = sagemaker.create_user_profile(DomainId=domain_id, UserProfileName="Alice")["UserProfileArn"]
    assert arn == f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:user-profile/{domain_id}/alice"
    desc = sagemaker.describe_user_profile(DomainId=domain_id, UserProfileName="ALICE")
    assert desc["UserProfileName"] == "Alice"
    with raises_code("ResourceInUse"):  # apps need an InService owner
        sagemaker.create_app(DomainId=domain_id, UserProfileName="Alice", AppType="JupyterServer", AppName="default")


def test_space_owned_app_and_domain_deletion_order(sagemaker, emu):
    domain_id = create_domain_in_service(sagemaker, emu, "order")
    create_profile_in_service(sagemaker, emu, domain_id, "owner")
    sagemaker.create_space(DomainId=domain_id, SpaceName="lab", SpaceSettings={"AppType": "JupyterLab"},
                           OwnershipSettings={"OwnerUserProfileName": "owner"},
                           SpaceSharingSettings={"SharingType": "Private"})
    emu.settle()
    with raises_code("ValidationException"):  # app type must match the space's AppType
        sagemaker.create_app(DomainId=domain_id, SpaceName="lab", AppType="CodeEditor", AppName="default")
    sagemaker.create_app(DomainId=domain_id, SpaceName="lab", AppType="JupyterLab", AppName="default")
    app = sagemaker.describe_app(DomainId=domain_id, SpaceName="lab", AppType="JupyterLab", AppName="default")
    assert_members(sagemaker, "DescribeApp", app, ["SpaceName", "ResourceSpec"])
    assert "UserProfileName" not in app
    emu.settle()
    # Deletion order (ref §5): apps, then spaces, then profiles, then the domain.
    with raises_code("ResourceInUse"):
        sagemaker.delete_space(DomainId=domain_id, SpaceName="lab")
    with raises_code("ResourceInUse"):
        sagemaker.delete_domain(DomainId=domain_id)
    sagemaker.delete_app(DomainId=domain_id, SpaceName="lab", AppType="JupyterLab", AppName="default")
    emu.settle()
    sagemaker.delete_space(DomainId=domain_id, SpaceName="lab")
    emu.settle()
    sagemaker.delete_user_profile(DomainId=domain_id, UserProfileName="owner")
    emu.settle()
    sagemaker.delete_domain(DomainId=domain_id)
    emu.settle()
    assert sagemaker.list_domains()["Domains"] == []


def test_default_page_size_is_ten(sagemaker, emu):
    domain_id = create_domain_in_service(sagemaker, emu, "tenpage")
    for i in range(11):
        sagemaker.create_user_profile(DomainId=domain_id, UserProfileName=f"p{i:02d}")
    first = sagemaker.list_user_profiles(DomainIdEquals=domain_id)  # ref §10: MaxResults default 10
    assert len(first["UserProfiles"]) == 10 and first["NextToken"]


def test_tags_propagate_to_apps_at_creation(sagemaker, emu):
    domain_id = create_domain_in_service(sagemaker, emu, "propagate", Tags=[{"Key": "team", "Value": "d"},
                                                                          {"Key": "cost", "Value": "1"}])
    sagemaker.create_user_profile(DomainId=domain_id, UserProfileName="pat", Tags=[{"Key": "team", "Value": "p"}])
    emu.settle()
    app_arn = sagemaker.create_app(DomainId=domain_id, UserProfileName="pat", AppType="JupyterServer",
                                   AppName="default", Tags=[{"Key": "own", "Value": "a"}])["AppArn"]
    tags = {t["Key"]: t["Value"] for t in sagemaker.list_tags(ResourceArn=app_arn)["Tags"]}
    # ref §8: domain and profile tags are added to apps launched afterwards.
    assert tags == {"team": "p", "cost": "1", "own": "a"}
    domain_arn = sagemaker.describe_domain(DomainId=domain_id)["DomainArn"]
    sagemaker.add_tags(ResourceArn=domain_arn, Tags=[{"Key": "later", "Value": "x"}])
    later = {t["Key"] for t in sagemaker.list_tags(ResourceArn=app_arn)["Tags"]}
    assert "later" not in later  # AddTags on the domain only affects apps launched afterwards


def test_deleted_apps_expire_after_a_day(sagemaker, emu):
    domain_id = create_domain_in_service(sagemaker, emu, "expiry")
    create_profile_in_service(sagemaker, emu, domain_id, "eve")
    keys = {"DomainId": domain_id, "UserProfileName": "eve", "AppType": "JupyterServer", "AppName": "default"}
    sagemaker.create_app(**keys)
    emu.settle()
    sagemaker.delete_app(**keys)
    emu.settle()
    assert sagemaker.describe_app(**keys)["Status"] == "Deleted"
    emu.advance(24 * 3600 + 60)  # ref §3: metadata is deleted 24 h after shutdown
    with raises_code("ResourceNotFound"):
        sagemaker.describe_app(**keys)
    assert sagemaker.list_apps(DomainIdEquals=domain_id)["Apps"] == []
