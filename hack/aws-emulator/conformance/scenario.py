"""Shared request builders and small helpers for the suites."""

from __future__ import annotations

import base64
import contextlib
import re

import pytest
from botocore.exceptions import ClientError

ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/SageMakerExecution"
VPC = "vpc-0123456789abcdef0"
SUBNETS = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
DOMAIN_ID_RE = re.compile(r"^d-[a-z0-9]{12}$")
KEY_ID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def domain_request(name: str = "conformance", **extra) -> dict:
    req = {
        "DomainName": name,
        "AuthMode": "IAM",
        "DefaultUserSettings": {"ExecutionRole": ROLE},
        "SubnetIds": SUBNETS,
        "VpcId": VPC,
    }
    req.update(extra)
    return req


def lcc_content(script: str = "#!/bin/bash\necho hello\n") -> str:
    return base64.b64encode(script.encode()).decode()


def body(resp: dict) -> dict:
    """A response without ResponseMetadata."""
    return {k: v for k, v in resp.items() if k != "ResponseMetadata"}


@contextlib.contextmanager
def raises_code(code: str, status: int | None = None):
    """Expects a ClientError with this error code (and HTTP status)."""
    with pytest.raises(ClientError) as info:
        yield info
    err = info.value.response["Error"]
    assert err["Code"] == code, f"expected {code}, got {err['Code']}: {err.get('Message')}"
    if status is not None:
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == status


def create_domain_in_service(sagemaker, emu, name: str = "conformance", **extra) -> str:
    domain_id = sagemaker.create_domain(**domain_request(name, **extra))["DomainId"]
    emu.settle()
    assert sagemaker.describe_domain(DomainId=domain_id)["Status"] == "InService"
    return domain_id


def create_profile_in_service(sagemaker, emu, domain_id: str, name: str) -> str:
    arn = sagemaker.create_user_profile(DomainId=domain_id, UserProfileName=name)["UserProfileArn"]
    emu.settle()
    return arn
