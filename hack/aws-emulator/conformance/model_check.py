"""Checks emulator responses against the official botocore service model.

boto3 already validates every request against the model (parameter validation is on) and
parses every response with it, but its JSON parser is lenient: members the model does not
define are dropped silently, ISO-8601 strings are accepted where the wire format is epoch
numbers, and wrong JSON types are often passed through. ``install`` therefore hooks the raw
HTTP response of every call made by a client and checks it strictly:

* success bodies of JSON services: every member is defined by the operation's output shape
  (recursively), has the JSON type the model implies (timestamps are numbers, integers are
  integers, enums hold a listed value), is never ``null`` and every ``required`` member is
  present; operations without an output shape answer ``{}``;
* error bodies of JSON services: ``{"__type": code, "message": ...}`` with the same code in
  ``X-Amzn-ErrorType``;
* every answer carries ``x-amzn-RequestId`` and an RFC 7231 ``Date``;
* STS (query protocol): the XML root is ``<Operation>Response`` / ``ErrorResponse``.

A violation raises ``ModelViolation`` (an AssertionError) out of the boto3 call, so the test
that made the call fails and names the operation and the offending member.

``assert_members`` checks that a parsed response carries a chosen set of output members and
that each of them is defined by the model and parsed to the expected Python type.
"""

from __future__ import annotations

import datetime
import email.utils
import json
import xml.etree.ElementTree as ET
from typing import Any, Iterable

from botocore.model import Shape


class ModelViolation(AssertionError):
    pass


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def validate_value(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    t = shape.type_name
    if value is None:
        problems.append(f"{path}: null (AWS omits absent members instead)")
        return
    if t == "structure":
        if not isinstance(value, dict):
            problems.append(f"{path}: expected object for {shape.name}, got {type(value).__name__}")
            return
        for key, item in value.items():
            member = shape.members.get(key)
            if member is None:
                problems.append(f"{path}.{key}: not a member of {shape.name} in the model")
                continue
            validate_value(member, item, f"{path}.{key}", problems)
        for req in shape.required_members:
            if req not in value:
                problems.append(f"{path}.{req}: required member of {shape.name} is missing")
    elif t == "list":
        if not isinstance(value, list):
            problems.append(f"{path}: expected array, got {type(value).__name__}")
            return
        for i, item in enumerate(value):
            validate_value(shape.member, item, f"{path}[{i}]", problems)
    elif t == "map":
        if not isinstance(value, dict):
            problems.append(f"{path}: expected object (map), got {type(value).__name__}")
            return
        for k, v in value.items():
            validate_value(shape.key, k, f"{path}<key {k}>", problems)
            validate_value(shape.value, v, f"{path}[{k}]", problems)
    elif t == "string":
        if not isinstance(value, str):
            problems.append(f"{path}: expected string, got {type(value).__name__} {value!r}")
            return
        enum = shape.enum
        if enum and value not in enum:
            problems.append(f"{path}: {value!r} is not in enum {shape.name} {list(enum)}")
    elif t in ("integer", "long"):
        if not (isinstance(value, int) and not isinstance(value, bool)):
            problems.append(f"{path}: expected integer, got {value!r}")
    elif t in ("float", "double"):
        if not _is_number(value):
            problems.append(f"{path}: expected number, got {value!r}")
    elif t == "boolean":
        if not isinstance(value, bool):
            problems.append(f"{path}: expected boolean, got {value!r}")
    elif t == "timestamp":
        fmt = shape.serialization.get("timestampFormat", "unixTimestamp")
        if fmt.lower() == "unixtimestamp" and not _is_number(value):
            problems.append(f"{path}: timestamp must be epoch seconds (a JSON number), got {value!r}")
    elif t == "blob":
        if not isinstance(value, str):
            problems.append(f"{path}: expected base64 string, got {value!r}")


def _check_json(operation_model, http_response, problems: list[str]) -> None:
    raw = http_response.content or b""
    status = http_response.status_code
    try:
        body = json.loads(raw) if raw.strip() else None
    except ValueError:
        problems.append(f"body is not JSON: {raw[:200]!r}")
        return
    ctype = http_response.headers.get("content-type", "")
    if not ctype.startswith("application/x-amz-json-1.1"):
        problems.append(f"Content-Type is {ctype!r}, expected application/x-amz-json-1.1")
    if status >= 300:
        if not isinstance(body, dict) or "__type" not in body:
            problems.append(f"error body lacks __type: {raw[:200]!r}")
            return
        if "message" not in body and "Message" not in body:
            problems.append(f"error body lacks message: {raw[:200]!r}")
        header = http_response.headers.get("x-amzn-errortype")
        code = body["__type"].split("#")[-1].split(":")[0]
        if header is None or header.split(":")[0] != code:
            problems.append(f"X-Amzn-ErrorType header {header!r} does not match __type {code!r}")
        return
    output = operation_model.output_shape
    if output is None:
        if body not in (None, {}):
            problems.append(f"operation has no output shape but answered {body!r}")
        return
    if body is None:
        problems.append("empty body for an operation with an output shape")
        return
    validate_value(output, body, operation_model.name, problems)


def _check_query(operation_model, http_response, problems: list[str]) -> None:
    raw = http_response.content or b""
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as e:
        problems.append(f"body is not XML ({e}): {raw[:200]!r}")
        return
    tag = root.tag.split("}")[-1]
    want = "ErrorResponse" if http_response.status_code >= 300 else f"{operation_model.name}Response"
    if tag != want:
        problems.append(f"XML root is <{tag}>, expected <{want}>")


def _is_http_date(text: str) -> bool:
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return False
    return text.endswith(" GMT") and parsed.tzinfo is not None


def install(client) -> None:
    """Registers the raw-response check on every operation of ``client``."""
    protocol = client.meta.service_model.protocol

    def after_call(http_response=None, model=None, **_kwargs):
        if http_response is None or model is None:
            return
        problems: list[str] = []
        if not (http_response.headers.get("x-amzn-requestid") or http_response.headers.get("x-amz-request-id")):
            problems.append("response has no x-amzn-RequestId header")
        date = http_response.headers.get("date")
        if date is None or not _is_http_date(date):
            problems.append(f"response Date header {date!r} is not an RFC 7231 date")
        if protocol == "json":
            _check_json(model, http_response, problems)
        elif protocol == "query":
            _check_query(model, http_response, problems)
        if problems:
            raise ModelViolation(
                f"{client.meta.service_model.service_name}.{model.name} answered (HTTP {http_response.status_code}) "
                f"outside the botocore model:\n  " + "\n  ".join(problems)
            )

    client.meta.events.register(f"after-call.{client.meta.service_model.service_id.hyphenize()}", after_call)


_PY_TYPES = {
    "string": str,
    "integer": int,
    "long": int,
    "boolean": bool,
    "timestamp": datetime.datetime,
    "structure": dict,
    "list": list,
    "map": dict,
    "double": (int, float),
    "float": (int, float),
}


def check_members(shape: Shape, item: dict, expected: Iterable[str], where: str) -> None:
    """``item`` (parsed) carries every ``expected`` member of ``shape`` with the right Python type."""
    for name in expected:
        assert name in shape.members, f"{where}: {name} is not a member of {shape.name} in the botocore model"
        assert name in item, f"{where}: response lacks {name} (model {shape.name}); got {sorted(item)}"
        want = _PY_TYPES.get(shape.members[name].type_name)
        if want is not None:
            assert isinstance(item[name], want), (
                f"{where}: {name} parsed to {type(item[name]).__name__}, expected {want}"
            )


def assert_members(client, operation: str, response: dict, expected: Iterable[str]) -> None:
    """The parsed output of ``operation`` carries ``expected`` members, as the model defines them."""
    output = client.meta.service_model.operation_model(operation).output_shape
    assert output is not None, f"{operation} has no output shape"
    check_members(output, response, expected, operation)


def assert_items(client, shape_name: str, items: list[dict], expected: Iterable[str]) -> None:
    """Every element of a list output carries ``expected`` members of ``shape_name``."""
    shape = client.meta.service_model.shape_for(shape_name)
    expected = list(expected)
    for i, item in enumerate(items):
        check_members(shape, item, expected, f"{shape_name}[{i}]")
