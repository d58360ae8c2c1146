"""Fixtures for the boto3 conformance and moto parity suites.

* ``emulator_process`` (session): starts ``target/debug/aws-emulator --port 0`` once and
  reads the port from its ``listening on http://127.0.0.1:N`` line.
* ``emu`` (function): an :class:`Admin` handle on the emulator's ``/_emulator/`` API; the
  emulator is reset before every test and its transition delays are made long (so nothing
  changes by wall-clock time while a test runs: tests move time with ``emu.advance``).
* ``sagemaker`` / ``kms`` / ``sts``: boto3 clients for the emulator (region us-east-1,
  access key ``AKIDTEST``, retries disabled, parameter validation on). Every JSON response
  they receive is also checked against the botocore service model (see ``model_check``).
* ``moto_server`` (session) / ``moto`` (function): moto's ThreadedMotoServer, reset before
  every test, and ``moto_clients`` for it.
"""

from __future__ import annotations

import json
import logging
import os
import pathlib
import re
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import boto3
import pytest
from botocore.config import Config

import model_check

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent.parent
REGION = "us-east-1"
ACCESS_KEY = "AKIDTEST"
SECRET_KEY = "test"
DEFAULT_ACCOUNT = "123456789012"

# Transition delays used by every test (emulated seconds). Long enough that wall-clock
# progress during a test never moves a status; ``Admin.settle`` jumps past all of them.
TEST_DELAYS = {
    "domain_create": 60,
    "domain_update": 30,
    "domain_delete": 30,
    "profile_create": 30,
    "profile_update": 30,
    "profile_delete": 30,
    "space_create": 30,
    "space_update": 30,
    "space_delete": 30,
    "app_create": 30,
    "app_delete": 30,
}
SETTLE_SECONDS = 121


def no_retry_config(**extra: Any) -> Config:
    """One attempt only: errors such as ThrottlingException surface unchanged."""
    settings = {"retries": {"total_max_attempts": 1, "mode": "standard"}, "connect_timeout": 5, "read_timeout": 30}
    settings.update(extra)
    return Config(**settings)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def emulator_binary() -> pathlib.Path:
    explicit = os.environ.get("AWS_EMULATOR_BIN")
    if explicit:
        return pathlib.Path(explicit)
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "debug" / "aws-emulator"


class Admin:
    """Client of the emulator's admin API under ``/_emulator/``."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"{self.endpoint}/_emulator/{path.lstrip('/')}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                text = resp.read().decode()
        except urllib.error.HTTPError as e:  # pragma: no cover - surfaced to the test
            raise AssertionError(f"admin {method} {path} failed: {e.code} {e.read().decode()}") from e
        return json.loads(text) if text.strip() else None

    def reset(self) -> None:
        self.request("POST", "reset", {})

    def now(self) -> float:
        return self.request("GET", "clock")["now"]

    def advance(self, seconds: float) -> float:
        return self.request("POST", "clock/advance", {"seconds": seconds})["now"]

    def settle(self) -> float:
        """Moves emulated time past every (test) transition delay."""
        return self.advance(SETTLE_SECONDS)

    def set_delays(self, **delays: float) -> dict:
        return self.request("POST", "delays", delays)

    def set_quotas(self, **quotas: int) -> dict:
        return self.request("POST", "quotas", quotas)

    def add_fault(self, target: str, kind: str, **rule: Any) -> None:
        self.request("POST", "faults", {"target": target, "kind": kind, **rule})

    def clear_faults(self) -> None:
        self.request("DELETE", "faults")

    def add_rate_limit(self, target: str, rate_per_sec: float, burst: float) -> None:
        self.request("POST", "rate-limits", {"target": target, "rate_per_sec": rate_per_sec, "burst": burst})

    def clear_rate_limits(self) -> None:
        self.request("DELETE", "rate-limits")

    def calls(self) -> list[dict]:
        return self.request("GET", "calls")

    def clear_calls(self) -> None:
        self.request("DELETE", "calls")

    def state(self) -> dict:
        return self.request("GET", "state")

    def set_update_merge(self, mode: str) -> None:
        self.request("POST", "update-merge", {"mode": mode})

    def set_date_skew(self, seconds: float) -> None:
        self.request("POST", "date-skew", {"seconds": seconds})

    def s3_objects(self, bucket: str, prefix: str = "") -> list[dict]:
        query = urllib.parse.urlencode({"bucket": bucket, "prefix": prefix})
        return self.request("GET", f"s3/objects?{query}")

    def s3_deny_delete(self, bucket: str, prefix: str) -> None:
        self.request("POST", "s3/deny-delete", {"bucket": bucket, "prefix": prefix})

    def set_role_trust(self, role_arn: str, external_id: str | None = None,
                       required_session_tags: list[str] | None = None) -> None:
        body: dict[str, Any] = {"role_arn": role_arn}
        if external_id is not None:
            body["external_id"] = external_id
        if required_session_tags is not None:
            body["required_session_tags"] = required_session_tags
        self.request("POST", "sts/trust", body)


def _wait_for_listening(proc: subprocess.Popen, log: pathlib.Path, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", text)
        if m:
            port = int(m.group(1))
            with socket.create_connection(("127.0.0.1", port), timeout=2):
                return port
        if proc.poll() is not None:
            raise RuntimeError(f"aws-emulator exited with {proc.returncode}:\n{text}")
        time.sleep(0.05)
    raise RuntimeError(f"aws-emulator did not start within {timeout}s:\n{log.read_text(errors='replace')}")


@pytest.fixture(scope="session")
def emulator_process():
    binary = emulator_binary()
    if not binary.exists():
        subprocess.run(["cargo", "build", "-q", "-p", "aws-emulator"], cwd=REPO, check=True)
    logdir = pathlib.Path(tempfile.mkdtemp(prefix="aws-emulator-conformance-"))
    log = logdir / "emulator.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [str(binary), "--port", "0"],
            stdin=subprocess.PIPE,  # kept open for the emulator's lifetime
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        port = _wait_for_listening(proc, log, timeout=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdin:
            proc.stdin.close()


@pytest.fixture(scope="session")
def endpoint(emulator_process) -> str:
    return emulator_process


@pytest.fixture
def emu(endpoint) -> Admin:
    admin = Admin(endpoint)
    admin.reset()
    admin.set_delays(**TEST_DELAYS)
    return admin


def make_client(service: str, endpoint_url: str, *, check_model: bool = True, config: Config | None = None,
                access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY, session_token: str | None = None,
                region: str = REGION):
    client = boto3.client(
        service,
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        aws_session_token=session_token,
        config=config or no_retry_config(),
    )
    if check_model:
        model_check.install(client)
    return client


@pytest.fixture
def sagemaker(emu):
    return make_client("sagemaker", emu.endpoint)


@pytest.fixture
def kms(emu):
    return make_client("kms", emu.endpoint)


@pytest.fixture
def sts(emu):
    return make_client("sts", emu.endpoint)


# --- moto -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def moto_server():
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    yield url
    server.stop()


@pytest.fixture
def moto(moto_server) -> str:
    req = urllib.request.Request(f"{moto_server}/moto-api/reset", data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=10):
        pass
    return moto_server
