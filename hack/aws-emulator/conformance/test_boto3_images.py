"""SageMaker images, image versions, aliases and app image configs through boto3, with every
response checked against the official model (model_check), and the generic request validation
(model/sagemaker.json) seen from a client: SerializationException for unknown members and
wrong types, every constraint violation in one ValidationException.

moto 5.2.1 implements none of these operations, so there is no parity suite for them."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import WaiterError

from conftest import make_client, no_retry_config
from model_check import assert_items, assert_members
from scenario import ACCOUNT, ROLE, body, create_domain_in_service, raises_code

ECR = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/team/lab"
QUICK = {"Delay": 1, "MaxAttempts": 2}


def created_image(sagemaker, emu, name="team-image", **extra):
    arn = sagemaker.create_image(ImageName=name, RoleArn=ROLE, **extra)["ImageArn"]
    emu.settle()
    return arn


def test_image_lifecycle_and_waiters(sagemaker, emu):
    created = sagemaker.create_image(ImageName="Team-Image", RoleArn=ROLE, DisplayName="Team image",
                                     Description="tools", Tags=[{"Key": "team", "Value": "ml"}])
    assert_members(sagemaker, "CreateImage", created, ["ImageArn"])
    assert created["ImageArn"] == f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:image/team-image"
    desc = sagemaker.describe_image(ImageName="team-image")
    assert_members(sagemaker, "DescribeImage", desc, [
        "CreationTime", "Description", "DisplayName", "ImageArn", "ImageName", "ImageStatus", "LastModifiedTime",
        "RoleArn"])
    assert desc["ImageStatus"] == "CREATING" and desc["ImageName"] == "Team-Image"
    with raises_code("ResourceInUse"):
        sagemaker.create_image(ImageName="team-image", RoleArn=ROLE)
    with raises_code("ValidationException"):  # only CREATED images get versions
        sagemaker.create_image_version(ImageName="team-image", BaseImage=f"{ECR}:1")
    emu.settle()
    sagemaker.get_waiter("image_created").wait(ImageName="team-image", WaiterConfig=QUICK)

    updated = sagemaker.update_image(ImageName="team-image", DeleteProperties=["Description"], DisplayName="New")
    assert_members(sagemaker, "UpdateImage", updated, ["ImageArn"])
    assert sagemaker.describe_image(ImageName="team-image")["ImageStatus"] == "UPDATING"
    with raises_code("ResourceInUse"):  # Update while UPDATING
        sagemaker.update_image(ImageName="team-image", DisplayName="Again")
    emu.settle()
    sagemaker.get_waiter("image_updated").wait(ImageName="team-image", WaiterConfig=QUICK)
    desc = sagemaker.describe_image(ImageName="team-image")
    assert desc["DisplayName"] == "New" and "Description" not in desc
    with raises_code("ValidationException"):
        sagemaker.update_image(ImageName="team-image", DisplayName="X", DeleteProperties=["DisplayName"])

    listed = sagemaker.list_images(NameContains="Team")
    assert_members(sagemaker, "ListImages", listed, ["Images"])
    assert_items(sagemaker, "Image", listed["Images"], ["CreationTime", "ImageArn", "ImageName", "ImageStatus",
                                                        "LastModifiedTime"])
    assert sagemaker.list_tags(ResourceArn=created["ImageArn"])["Tags"] == [{"Key": "team", "Value": "ml"}]

    assert body(sagemaker.delete_image(ImageName="team-image")) == {}
    assert sagemaker.describe_image(ImageName="team-image")["ImageStatus"] == "DELETING"
    emu.settle()
    sagemaker.get_waiter("image_deleted").wait(ImageName="team-image", WaiterConfig=QUICK)
    with raises_code("ResourceNotFound"):
        sagemaker.delete_image(ImageName="team-image")


def test_image_versions_and_aliases(sagemaker, emu):
    image_arn = created_image(sagemaker, emu)
    v1 = sagemaker.create_image_version(ImageName="team-image", BaseImage=f"{ECR}:1.0", Aliases=["stable", "v1"],
                                        VendorGuidance="STABLE", JobType="NOTEBOOK_KERNEL", Processor="GPU",
                                        MLFramework="PyTorch 2.3", ProgrammingLang="Python 3.12", Horovod=True,
                                        ReleaseNotes="first")
    assert_members(sagemaker, "CreateImageVersion", v1, ["ImageVersionArn"])
    assert v1["ImageVersionArn"] == f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:image-version/team-image/1"
    emu.settle()
    sagemaker.get_waiter("image_version_created").wait(ImageName="team-image", Version=1, WaiterConfig=QUICK)
    desc = sagemaker.describe_image_version(ImageName="team-image", Alias="v1")
    assert_members(sagemaker, "DescribeImageVersion", desc, [
        "BaseImage", "ContainerImage", "CreationTime", "ImageArn", "ImageVersionArn", "ImageVersionStatus",
        "LastModifiedTime", "Version", "VendorGuidance", "JobType", "MLFramework", "ProgrammingLang", "Processor",
        "Horovod", "ReleaseNotes"])
    assert (desc["Version"], desc["ImageArn"], desc["Processor"]) == (1, image_arn, "GPU")
    assert desc["ContainerImage"].startswith(f"{ECR}@sha256:")

    # Idempotent retries: boto3 fills ClientToken; the same token answers the same version.
    again = sagemaker.create_image_version(ImageName="team-image", BaseImage=f"{ECR}:1.0", ClientToken="retry-1")
    assert body(sagemaker.create_image_version(ImageName="team-image", BaseImage=f"{ECR}:1.0",
                                               ClientToken="retry-1")) == body(again)
    assert again["ImageVersionArn"].endswith("/2")
    bad = sagemaker.create_image_version(ImageName="team-image", BaseImage="quay.io/team/lab:1")
    emu.settle()
    with pytest.raises(WaiterError):  # CREATE_FAILED is the waiter's failure state
        sagemaker.get_waiter("image_version_created").wait(ImageName="team-image", Version=3, WaiterConfig=QUICK)
    failed = sagemaker.describe_image_version(ImageName="team-image")
    assert (failed["ImageVersionArn"], failed["ImageVersionStatus"]) == (bad["ImageVersionArn"], "CREATE_FAILED")
    assert "quay.io/team/lab:1" in failed["FailureReason"]

    upd = sagemaker.update_image_version(ImageName="team-image", Version=2, AliasesToAdd=["latest"],
                                         ReleaseNotes="second")
    assert_members(sagemaker, "UpdateImageVersion", upd, ["ImageVersionArn"])
    with raises_code("ValidationException"):  # an alias belongs to one version
        sagemaker.update_image_version(ImageName="team-image", Version=2, AliasesToAdd=["stable"])
    with raises_code("ValidationException"):
        sagemaker.update_image_version(ImageName="team-image", Alias="v1", AliasesToDelete=["latest"])
    aliases = sagemaker.list_aliases(ImageName="team-image")
    assert_members(sagemaker, "ListAliases", aliases, ["SageMakerImageVersionAliases"])
    assert aliases["SageMakerImageVersionAliases"] == ["stable", "v1", "latest"]
    assert sagemaker.list_aliases(ImageName="team-image", Version=2)["SageMakerImageVersionAliases"] == ["latest"]
    assert sagemaker.list_aliases(ImageName="team-image", Alias="v1")["SageMakerImageVersionAliases"] == ["v1"]

    versions = sagemaker.list_image_versions(ImageName="team-image")
    assert_members(sagemaker, "ListImageVersions", versions, ["ImageVersions"])
    assert_items(sagemaker, "ImageVersion", versions["ImageVersions"], [
        "CreationTime", "ImageArn", "ImageVersionArn", "ImageVersionStatus", "LastModifiedTime", "Version"])
    pages = sagemaker.get_paginator("list_image_versions").paginate(
        ImageName="team-image", SortBy="VERSION", SortOrder="ASCENDING", PaginationConfig={"PageSize": 2})
    assert [v["Version"] for p in pages for v in p["ImageVersions"]] == [1, 2, 3]

    with raises_code("ValidationException"):
        sagemaker.describe_image_version(ImageName="team-image", Version=1, Alias="v1")
    with raises_code("ResourceNotFound"):
        sagemaker.describe_image_version(ImageName="team-image", Alias="nope")
    assert body(sagemaker.delete_image_version(ImageName="team-image", Alias="latest")) == {}
    emu.settle()
    sagemaker.get_waiter("image_version_deleted").wait(ImageName="team-image", Version=2, WaiterConfig=QUICK)
    assert [v["Version"] for v in sagemaker.list_image_versions(ImageName="team-image")["ImageVersions"]] == [3, 1]


def test_app_image_configs(sagemaker, emu):
    lab = {"FileSystemConfig": {"MountPath": "/home/sagemaker-user", "DefaultUid": 1000, "DefaultGid": 100},
           "ContainerConfig": {"ContainerArguments": ["--debug"], "ContainerEntrypoint": ["jupyter-lab"],
                               "ContainerEnvironmentVariables": {"TEAM": "ml"}}}
    created = sagemaker.create_app_image_config(AppImageConfigName="team-config", JupyterLabAppImageConfig=lab,
                                                Tags=[{"Key": "team", "Value": "ml"}])
    assert_members(sagemaker, "CreateAppImageConfig", created, ["AppImageConfigArn"])
    assert created["AppImageConfigArn"] == f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:app-image-config/team-config"
    desc = sagemaker.describe_app_image_config(AppImageConfigName="team-config")
    assert_members(sagemaker, "DescribeAppImageConfig", desc, [
        "AppImageConfigArn", "AppImageConfigName", "CreationTime", "LastModifiedTime", "JupyterLabAppImageConfig"])
    assert desc["JupyterLabAppImageConfig"] == lab
    with raises_code("ResourceInUse"):
        sagemaker.create_app_image_config(AppImageConfigName="team-config")
    with raises_code("ValidationException"):  # Studio runs images as UID 0 or 1000, GID 0 or 100
        sagemaker.create_app_image_config(AppImageConfigName="uid", CodeEditorAppImageConfig={
            "FileSystemConfig": {"DefaultUid": 1001}})
    with raises_code("ValidationException"):  # one app kind per config
        sagemaker.create_app_image_config(AppImageConfigName="two", JupyterLabAppImageConfig={},
                                          CodeEditorAppImageConfig={})
    kernel = {"KernelSpecs": [{"Name": "python3", "DisplayName": "Python 3"}],
              "FileSystemConfig": {"DefaultUid": 0, "DefaultGid": 0}}
    sagemaker.create_app_image_config(AppImageConfigName="kernels", KernelGatewayImageConfig=kernel)
    upd = sagemaker.update_app_image_config(AppImageConfigName="kernels", CodeEditorAppImageConfig={})
    assert_members(sagemaker, "UpdateAppImageConfig", upd, ["AppImageConfigArn"])
    listed = sagemaker.list_app_image_configs(SortBy="Name", SortOrder="Ascending")
    assert_members(sagemaker, "ListAppImageConfigs", listed, ["AppImageConfigs"])
    assert_items(sagemaker, "AppImageConfigDetails", listed["AppImageConfigs"], [
        "AppImageConfigArn", "AppImageConfigName", "CreationTime", "LastModifiedTime"])
    assert [c["AppImageConfigName"] for c in listed["AppImageConfigs"]] == ["kernels", "team-config"]
    assert listed["AppImageConfigs"][0]["CodeEditorAppImageConfig"] == {}
    assert "KernelGatewayImageConfig" not in listed["AppImageConfigs"][0]
    assert body(sagemaker.delete_app_image_config(AppImageConfigName="kernels")) == {}
    with raises_code("ResourceNotFound"):
        sagemaker.describe_app_image_config(AppImageConfigName="kernels")


def test_custom_images_attached_to_a_domain_block_deletion(sagemaker, emu):
    created_image(sagemaker, emu)
    sagemaker.create_image_version(ImageName="team-image", BaseImage=f"{ECR}:1.0")
    sagemaker.create_app_image_config(AppImageConfigName="team-config", JupyterLabAppImageConfig={})
    emu.settle()
    custom = {"ImageName": "team-image", "AppImageConfigName": "team-config"}
    domain_id = create_domain_in_service(sagemaker, emu, "custom", DefaultUserSettings={
        "ExecutionRole": ROLE, "JupyterLabAppSettings": {"CustomImages": [custom]}})
    with raises_code("ResourceInUse"):
        sagemaker.delete_image(ImageName="team-image")
    with raises_code("ResourceInUse"):  # the only version of an image attached as "latest"
        sagemaker.delete_image_version(ImageName="team-image", Version=1)
    with raises_code("ResourceInUse"):
        sagemaker.delete_app_image_config(AppImageConfigName="team-config")
    sagemaker.update_domain(DomainId=domain_id, DefaultUserSettings={"JupyterLabAppSettings": {}})
    emu.settle()
    sagemaker.delete_app_image_config(AppImageConfigName="team-config")
    sagemaker.delete_image(ImageName="team-image")


def test_tag_index_lists_images_and_app_image_configs(sagemaker, emu):
    tagging = make_client("resourcegroupstaggingapi", emu.endpoint)
    image = created_image(sagemaker, emu, Tags=[{"Key": "team", "Value": "ml"}])
    config = sagemaker.create_app_image_config(AppImageConfigName="cfg", Tags=[{"Key": "team", "Value": "ml"}])
    sagemaker.create_app_image_config(AppImageConfigName="untagged")
    found = {t: [m["ResourceARN"] for m in tagging.get_resources(ResourceTypeFilters=[f"sagemaker:{t}"])[
        "ResourceTagMappingList"]] for t in ("image", "app-image-config")}
    assert found == {"image": [image], "app-image-config": [config["AppImageConfigArn"]]}
    sagemaker.delete_tags(ResourceArn=image, TagKeys=["team"])
    assert tagging.get_resources(ResourceTypeFilters=["sagemaker:image"])["ResourceTagMappingList"] == []


# --- Generic validation from the model ----------------------------------------------------


def raw_call(emu, operation: str, payload: dict) -> tuple[int, dict]:
    """A SageMaker call with a body botocore would not send (signature not checked)."""
    req = urllib.request.Request(emu.endpoint + "/", data=json.dumps(payload).encode(), method="POST", headers={
        "X-Amz-Target": f"SageMaker.{operation}",
        "Content-Type": "application/x-amz-json-1.1",
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDTEST/20261128/us-east-1/sagemaker/aws4_request, "
                         "SignedHeaders=host, Signature=0",
    })
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_unknown_members_and_wrong_types_are_serialization_errors(emu):
    status, answer = raw_call(emu, "CreateImage", {"ImageName": "x", "RoleArn": ROLE, "Colour": "blue"})
    assert (status, answer["__type"]) == (400, "SerializationException")
    assert "'colour'" in answer["message"]
    status, answer = raw_call(emu, "CreateImage", {"ImageName": 7, "RoleArn": ROLE})
    assert (status, answer["__type"]) == (400, "SerializationException")
    status, answer = raw_call(emu, "UpdateUserProfile", {"DomainId": "d-abc", "UserProfileName": "p", "UserSettings": {
        "StudioWebPortalSettings": {"HiddenMlTools": "Canvas"}}})
    assert answer["__type"] == "SerializationException"


def test_settings_members_are_validated_from_the_model(emu):
    unvalidated = make_client("sagemaker", emu.endpoint, config=no_retry_config(parameter_validation=False))
    settings = {
        "ExecutionRole": ROLE,
        "StudioWebPortalSettings": {"HiddenMlTools": ["NotATool"], "HiddenAppTypes": ["Notebook"]},
        "DefaultLandingUri": "x" * 1024,
        "AutoMountHomeEFS": "Sometimes",
        "CustomPosixUserConfig": {"Uid": 1, "Gid": 1},
        "JupyterLabAppSettings": {"CustomImages": [{"ImageName": "bad_name", "AppImageConfigName": "c"}]},
    }
    with raises_code("ValidationException") as info:
        unvalidated.create_domain(DomainName="strict", AuthMode="IAM", DefaultUserSettings=settings,
                                  SubnetIds=["subnet-1"], VpcId="vpc-1")
    message = info.value.response["Error"]["Message"]
    assert message.startswith("7 validation errors detected: "), message
    for member in ("defaultUserSettings.studioWebPortalSettings.hiddenMlTools.1.member",
                   "defaultUserSettings.studioWebPortalSettings.hiddenAppTypes.1.member",
                   "defaultUserSettings.defaultLandingUri",
                   "defaultUserSettings.autoMountHomeEFS",
                   "defaultUserSettings.customPosixUserConfig.uid",
                   "defaultUserSettings.customPosixUserConfig.gid",
                   "defaultUserSettings.jupyterLabAppSettings.customImages.1.member.imageName"):
        assert f"at '{member}'" in message, member
