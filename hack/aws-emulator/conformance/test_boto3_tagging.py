"""boto3 against the emulator's Resource Groups Tagging API: GetResources over SageMaker
resources (the operator reads every profile's and space's tags this way, 100 per call)."""

from __future__ import annotations

import pytest

from conftest import make_client
from model_check import assert_items, assert_members
from scenario import create_domain_in_service, raises_code


@pytest.fixture
def tagging(emu):
    return make_client("resourcegroupstaggingapi", emu.endpoint)


def test_get_resources_filters_by_type_and_tag_and_paginates(sagemaker, tagging, emu):
    domain_id = create_domain_in_service(sagemaker, emu)
    profiles = {}
    for i in range(5):
        name = f"user-{i}"
        tags = [{"Key": "team", "Value": "a" if i % 2 == 0 else "b"}]
        profiles[name] = sagemaker.create_user_profile(DomainId=domain_id, UserProfileName=name, Tags=tags)[
            "UserProfileArn"
        ]
    sagemaker.create_user_profile(DomainId=domain_id, UserProfileName="untagged")
    emu.settle()

    first = tagging.get_resources(ResourceTypeFilters=["sagemaker:user-profile"], ResourcesPerPage=2)
    assert_members(tagging, "GetResources", first, ["PaginationToken", "ResourceTagMappingList"])
    assert_items(tagging, "ResourceTagMapping", first["ResourceTagMappingList"], ["ResourceARN", "Tags"])
    seen = list(first["ResourceTagMappingList"])
    token = first["PaginationToken"]
    while token:
        page = tagging.get_resources(
            ResourceTypeFilters=["sagemaker:user-profile"], ResourcesPerPage=2, PaginationToken=token
        )
        seen += page["ResourceTagMappingList"]
        token = page["PaginationToken"]
    # Untagged resources and other types are not returned.
    assert {m["ResourceARN"] for m in seen} == set(profiles.values())
    assert all(m["Tags"] in ([{"Key": "team", "Value": "a"}], [{"Key": "team", "Value": "b"}]) for m in seen)

    team_a = tagging.get_resources(TagFilters=[{"Key": "team", "Values": ["a"]}])["ResourceTagMappingList"]
    assert {m["ResourceARN"] for m in team_a} == {profiles["user-0"], profiles["user-2"], profiles["user-4"]}

    # A tag change moves no LastModifiedTime but shows here at once.
    sagemaker.delete_tags(ResourceArn=profiles["user-1"], TagKeys=["team"])
    left = tagging.get_resources(ResourceTypeFilters=["sagemaker:user-profile"])["ResourceTagMappingList"]
    assert profiles["user-1"] not in {m["ResourceARN"] for m in left}


def test_get_resources_errors_use_the_tagging_codes(tagging, emu):
    with raises_code("InvalidParameterException", 400):
        tagging.get_resources(ResourcesPerPage=101)
    with raises_code("InvalidParameterException", 400):
        tagging.get_resources(PaginationToken="not-a-token")
    emu.add_fault("GetResources", "throttling", count=1)
    with raises_code("ThrottledException", 400):
        tagging.get_resources()
    assert tagging.get_resources()["ResourceTagMappingList"] == []
