"""Self-test of model_check: the strict response checks catch what boto3 alone would let through,
and they are really wired into the emulator clients."""

from __future__ import annotations

import botocore.session
import pytest

import model_check
from conftest import make_client

MODEL = botocore.session.get_session().get_service_model("sagemaker")


class FakeResponse:
    def __init__(self, status: int, body: bytes, headers: dict):
        self.status_code = status
        self.content = body
        self.headers = {k.lower(): v for k, v in headers.items()}


def problems_for(operation: str, status: int, body: bytes, headers: dict | None = None) -> list[str]:
    hdrs = {"content-type": "application/x-amz-json-1.1", "x-amzn-requestid": "r"}
    hdrs.update(headers or {})
    out: list[str] = []
    model_check._check_json(MODEL.operation_model(operation), FakeResponse(status, body, hdrs), out)
    return out


def test_accepts_a_conforming_answer():
    assert problems_for("ListDomains", 200, b'{"Domains":[{"DomainId":"d-1","Status":"InService","CreationTime":1.5}]}') == []


@pytest.mark.parametrize("body, fragment", [
    (b'{"Domains":[{"CreationTime":"2024-01-01T00:00:00Z"}]}', "epoch seconds"),
    (b'{"Domains":[{"Status":"Running"}]}', "not in enum"),
    (b'{"Domains":[{"DomainID":"d-1"}]}', "not a member"),
    (b'{"Domains":[{"DomainId":null}]}', "null"),
    (b'{"Domains":{"DomainId":"d-1"}}', "expected array"),
])
def test_rejects_what_boto3_would_parse_leniently(body, fragment):
    found = problems_for("ListDomains", 200, body)
    assert any(fragment in p for p in found), found


def test_error_bodies_need_type_and_header():
    ok = problems_for("DescribeDomain", 400, b'{"__type":"ResourceNotFound","message":"x"}',
                      {"x-amzn-errortype": "ResourceNotFound"})
    assert ok == []
    assert problems_for("DescribeDomain", 400, b'{"message":"x"}')
    assert problems_for("DescribeDomain", 400, b'{"__type":"ResourceNotFound","message":"x"}')  # no header


def test_operations_without_output_answer_empty_object():
    assert problems_for("DeleteDomain", 200, b"{}") == []
    assert problems_for("DeleteDomain", 200, b'{"DomainId":"d-1"}')


def test_hook_is_installed_on_emulator_clients(emu):
    client = make_client("sagemaker", emu.endpoint)
    bad = FakeResponse(200, b'{"Domains":[{"DomainID":"d-1"}]}',
                       {"content-type": "application/x-amz-json-1.1", "x-amzn-requestid": "r"})
    with pytest.raises(model_check.ModelViolation, match="DomainID: not a member"):
        client.meta.events.emit("after-call.sagemaker.ListDomains", http_response=bad,
                                model=MODEL.operation_model("ListDomains"), parsed={}, context={})
    unchecked = make_client("sagemaker", emu.endpoint, check_model=False)
    unchecked.meta.events.emit("after-call.sagemaker.ListDomains", http_response=bad,
                               model=MODEL.operation_model("ListDomains"), parsed={}, context={})


def test_answers_need_a_date_header(emu):
    client = make_client("sagemaker", emu.endpoint)
    base = {"content-type": "application/x-amz-json-1.1", "x-amzn-requestid": "r"}
    for date in (None, "2026-11-28T10:00:00Z"):
        headers = dict(base) if date is None else {**base, "date": date}
        answer = FakeResponse(200, b'{"Domains":[]}', headers)
        with pytest.raises(model_check.ModelViolation, match="Date header"):
            client.meta.events.emit("after-call.sagemaker.ListDomains", http_response=answer,
                                    model=MODEL.operation_model("ListDomains"), parsed={}, context={})
    good = FakeResponse(200, b'{"Domains":[]}', {**base, "date": "Sat, 28 Nov 2026 10:00:00 GMT"})
    client.meta.events.emit("after-call.sagemaker.ListDomains", http_response=good,
                            model=MODEL.operation_model("ListDomains"), parsed={}, context={})


def test_committed_model_extract_matches_the_pinned_botocore():
    """model/sagemaker.json (the emulator's request validator) is what extract.py makes of the
    botocore this suite pins: a botocore bump shows up here until the extract is regenerated."""
    import pathlib
    import subprocess
    import sys

    import botocore

    script = pathlib.Path(__file__).resolve().parent.parent / "model" / "extract.py"
    data = pathlib.Path(botocore.__file__).parent / "data"
    result = subprocess.run([sys.executable, str(script), "--check", "--botocore-data", str(data)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
