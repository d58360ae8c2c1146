"""Tests of the activity reporter (assets/activity-reporter) against real software.

A real ``jupyter server`` with a real ipykernel and terminal stands in for the Studio app, the
aws-emulator binary for SageMaker. The reporter runs as a subprocess, as on-start.sh runs it,
and the tag is read back with boto3's ListTags. Run through ``run.sh`` (venv, emulator build).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import glob
import importlib.util
import itertools
import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.config import Config

REPO = pathlib.Path(__file__).resolve().parents[2]
ASSETS = REPO / "assets" / "activity-reporter"
REPORTER = ASSETS / "reporter.py"
ON_START = ASSETS / "on-start.sh"
TAG = "studio-operator.io/last-activity"
TOKEN_LINE = "__REPORTER_PY__"
REGION = "us-east-1"
ACCOUNT = "123456789012"
AWS_ENV = {"AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "test"}
JUPYTER_TOKEN = "reporter-test-token"
BASE_PATH = "/jupyterlab/default"  # a JupyterLab app's base URL in Studio
# Emulated transition delays: long, so nothing moves by wall-clock time; ``settle`` jumps past.
DELAYS = {k: 30 for k in ("domain_update", "domain_delete", "profile_create", "space_create", "app_create")}
DELAYS["domain_create"] = 60

_spec = importlib.util.spec_from_file_location("reporter", REPORTER)
reporter = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(reporter)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def substituted_on_start() -> str:
    """on-start.sh as the operator ships it: the token line replaced by reporter.py."""
    script = ON_START.read_text()
    assert script.count(TOKEN_LINE) == 1 and f"\n{TOKEN_LINE}\n" in script
    return script.replace(TOKEN_LINE + "\n", REPORTER.read_text())


# --- AWS emulator --------------------------------------------------------------------------


class Emulator:
    """The aws-emulator binary and its admin API (hack/aws-emulator/README.md)."""

    def __init__(self, binary: pathlib.Path, logdir: pathlib.Path):
        self.log = logdir / "emulator.log"
        with open(self.log, "wb") as err:
            # stdin stays open for the emulator's lifetime, as in the conformance suite.
            self.proc = subprocess.Popen([str(binary), "--port", "0"], stdin=subprocess.PIPE,
                                         stdout=subprocess.DEVNULL, stderr=err)
        port = wait_for(self._port, 30, "the emulator to listen")
        self.endpoint = f"http://127.0.0.1:{port}"

    def _port(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"aws-emulator exited: {self.log.read_text(errors='replace')}")
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", self.log.read_text(errors="replace"))
        return int(m.group(1)) if m else None

    def admin(self, method: str, path: str, body=None):
        req = urllib.request.Request(f"{self.endpoint}/_emulator/{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            text = resp.read().decode()
        return json.loads(text) if text.strip() else None

    def settle(self) -> None:
        """Moves the emulated clock past every transition delay instead of sleeping."""
        self.admin("POST", "clock/advance", {"seconds": 121})

    def add_tags_calls(self, arn: str) -> list[dict]:
        return [c for c in self.admin("GET", "calls")
                if c["operation"] == "AddTags" and c["members"].get("ResourceArn") == arn]

    def client(self, service: str):
        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
                            config=Config(retries={"total_max_attempts": 1}))


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    binary = pathlib.Path(os.environ.get("AWS_EMULATOR_BIN") or REPO / "target" / "debug" / "aws-emulator")
    if not binary.exists():
        subprocess.run(["cargo", "build", "-q", "-p", "aws-emulator"], cwd=REPO, check=True)
    emu = Emulator(binary, tmp_path_factory.mktemp("emulator"))
    try:
        emu.admin("POST", "delays", DELAYS)
        yield emu
    finally:
        stop(emu.proc)
        emu.proc.stdin.close()


@pytest.fixture(scope="module")
def domain(emulator):
    """A KMS-encrypted domain with the profile 'alice', InService."""
    key_id = emulator.client("kms").create_key(Description="studio")["KeyMetadata"]["KeyId"]
    sm = emulator.client("sagemaker")
    domain_id = sm.create_domain(
        DomainName="reporter", AuthMode="IAM", KmsKeyId=key_id,
        DefaultUserSettings={"ExecutionRole": f"arn:aws:iam::{ACCOUNT}:role/SageMakerExecution"},
        VpcId="vpc-0123456789abcdef0", SubnetIds=["subnet-0123456789abcdef0"],
    )["DomainId"]
    emulator.settle()
    assert sm.describe_domain(DomainId=domain_id)["Status"] == "InService"
    sm.create_user_profile(DomainId=domain_id, UserProfileName="alice")
    emulator.settle()
    return domain_id


_spaces = itertools.count()


@pytest.fixture
def app(emulator, domain, tmp_path):
    """A fresh InService JupyterLab app in alice's private space; returns its resource metadata
    (as Studio writes it), with the path of the metadata file under 'path'."""
    sm = emulator.client("sagemaker")
    space = f"space-{next(_spaces)}"
    sm.create_space(DomainId=domain, SpaceName=space, SpaceSettings={"AppType": "JupyterLab"},
                    OwnershipSettings={"OwnerUserProfileName": "alice"},
                    SpaceSharingSettings={"SharingType": "Private"})
    emulator.settle()
    keys = {"DomainId": domain, "SpaceName": space, "AppType": "JupyterLab", "AppName": "default"}
    sm.create_app(ResourceSpec={"InstanceType": "ml.t3.medium"}, **keys)
    emulator.settle()
    described = sm.describe_app(**keys)
    assert described["Status"] == "InService"
    meta = {"AppType": "JupyterLab", "DomainId": domain, "SpaceName": space, "UserProfileName": "",
            "ResourceName": "default", "ResourceArn": described["AppArn"]}
    path = tmp_path / "resource-metadata.json"
    path.write_text(json.dumps(meta))
    return {**meta, "path": str(path)}


def tag_value(emulator, arn: str) -> str | None:
    tags = emulator.client("sagemaker").list_tags(ResourceArn=arn)["Tags"]
    return {t["Key"]: t["Value"] for t in tags}.get(TAG)


# --- Jupyter -------------------------------------------------------------------------------


class Jupyter:
    """A real jupyter_server with terminals, token auth and Studio's JupyterLab base URL."""

    def __init__(self, root: pathlib.Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}{BASE_PATH}"
        self.runtime = root / "runtime"
        work = root / "work"
        work.mkdir()
        env = {**os.environ, "JUPYTER_CONFIG_DIR": str(root / "config"), "JUPYTER_DATA_DIR": str(root / "data"),
               "JUPYTER_RUNTIME_DIR": str(self.runtime), "JUPYTER_PLATFORM_DIRS": "1", "SHELL": "/bin/bash"}
        self.log = root / "jupyter.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
                 f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
                 f"--ServerApp.base_url={BASE_PATH}/", f"--ServerApp.root_dir={work}",
                 f"--IdentityProvider.token={JUPYTER_TOKEN}"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=work)
        wait_for(self._ready, 60, "jupyter server to answer", interval=0.25)

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"jupyter server exited: {self.log.read_text(errors='replace')}")
        try:
            return self.api("GET", "/api/status") is not None
        except OSError:
            return False

    def api(self, method: str, path: str, body=None):
        req = urllib.request.Request(self.url + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"token {JUPYTER_TOKEN}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            text = resp.read().decode()
        return json.loads(text) if text.strip() else {}

    def kernel(self, kernel_id: str) -> dict:
        return self.api("GET", f"/api/kernels/{kernel_id}")

    def terminal(self, name: str) -> dict:
        return self.api("GET", f"/api/terminals/{name}")

    def close_everything(self) -> None:
        for k in self.api("GET", "/api/kernels"):
            self.api("DELETE", f"/api/kernels/{k['id']}")
        for t in self.api("GET", "/api/terminals"):
            self.api("DELETE", f"/api/terminals/{t['name']}")


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory):
    server = Jupyter(tmp_path_factory.mktemp("jupyter"))
    try:
        yield server
    finally:
        with contextlib.suppress(Exception):
            server.close_everything()
        stop(server.proc)


@pytest.fixture
def clean_jupyter(jupyter):
    jupyter.close_everything()
    yield jupyter
    jupyter.close_everything()


# --- running the reporter ------------------------------------------------------------------


def reporter_env(emulator, app, state_file, base_url: str, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "JUPYTER_"))}
    env.update(AWS_ENV, AWS_ENDPOINT_URL=emulator.endpoint, AWS_CONFIG_FILE="/dev/null",
               AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_EC2_METADATA_DISABLED="true",
               STUDIO_RESOURCE_METADATA=app["path"], JUPYTER_BASE_URL=base_url,
               JUPYTER_TOKEN=JUPYTER_TOKEN, ACTIVITY_STATE_FILE=str(state_file))
    env.update(extra)
    return env


def run_once(emulator, app, state_file, base_url: str, expect_ok: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, str(REPORTER), "--once"], capture_output=True, text=True, timeout=120,
                          env=reporter_env(emulator, app, state_file, base_url))
    assert (done.returncode == 0) == expect_ok, done.stderr
    return done


def tag_time(emulator, app) -> float:
    value = tag_value(emulator, app["ResourceArn"])
    assert value and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", value), value
    return reporter.parse_time(value)


@contextlib.contextmanager
def kernel_client(jupyter, kernel_id: str):
    """A jupyter_client on the kernel's ZMQ channels; the server sees its iopub traffic."""
    from jupyter_client import BlockingKernelClient

    (connection_file,) = glob.glob(str(jupyter.runtime / f"kernel-{kernel_id}.json"))
    client = BlockingKernelClient(connection_file=connection_file)
    client.load_connection_file()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        yield client
    finally:
        client.stop_channels()


def type_in_terminal(jupyter, name: str) -> None:
    """Runs a command in the terminal over its websocket, as a user at the JupyterLab terminal."""
    from tornado.websocket import websocket_connect

    async def session():
        ws = await websocket_connect(f"ws://127.0.0.1:{jupyter.port}{BASE_PATH}/terminals/websocket/{name}"
                                     f"?token={JUPYTER_TOKEN}")
        try:
            await ws.write_message(json.dumps(["stdin", "echo studio-$((6 * 7))\r"]))
            while True:
                msg = await asyncio.wait_for(ws.read_message(), 30)
                assert msg is not None, "terminal websocket closed"
                kind, *data = json.loads(msg)
                if kind == "stdout" and "studio-42" in "".join(map(str, data)):
                    return
        finally:
            ws.close()

    asyncio.run(session())


# --- tests ---------------------------------------------------------------------------------


def test_on_start_fits_the_lifecycle_config_limit():
    script = substituted_on_start()
    # CreateStudioLifecycleConfig takes the script base64-encoded, at most 16384 characters.
    assert len(base64.b64encode(script.encode())) <= 16384
    # The quoted heredoc must carry reporter.py verbatim: its delimiter may not occur inside.
    assert "\nSTUDIO_OPERATOR_REPORTER_EOF\n" not in REPORTER.read_text()
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)


def test_helpers():
    assert reporter.BASE_URLS == {
        "JupyterLab": "http://localhost:8888/jupyterlab/default",
        "JupyterServer": "http://localhost:8888/jupyter/default",
        "KernelGateway": "http://localhost:8888",
    }
    assert reporter.format_time(1795899480.987) == "2026-11-28T20:58:00Z"
    assert reporter.parse_time("2026-11-28T20:58:00.500000Z") == 1795899480.5
    assert reporter.parse_time("2026-11-28T20:58:00+00:00") == 1795899480.0
    assert reporter.parse_time(None) is None and reporter.parse_time("") is None
    # Busy wins; otherwise the newest, never before the recorded value nor after now.
    idle = {"execution_state": "idle", "last_activity": "2026-11-28T20:00:00Z"}
    term = {"name": "1", "last_activity": "2026-11-28T20:10:00Z"}
    now = reporter.parse_time("2026-11-28T21:00:00Z")
    assert reporter.last_activity([idle, {"execution_state": "busy"}], [], now, 0) == now
    assert reporter.last_activity([idle], [term], now, 0) == reporter.parse_time(term["last_activity"])
    assert reporter.last_activity([idle], [], now, now - 60) == now - 60
    assert reporter.last_activity([{"last_activity": "2027-01-01T00:00:00Z"}], [], now, 0) == now
    # "starting" is "now" only for a while: a kernel nobody connected to must not pin the app.
    starting = {"execution_state": "starting", "last_activity": "2026-11-28T20:55:00Z"}
    assert reporter.last_activity([starting], [], now, 0) == now
    assert reporter.last_activity([starting], [], now + 600, 0) == now - 300
    # Every character of a value is allowed by the SageMaker tag value pattern.
    assert re.fullmatch(r"[\w\s.:/=+\-@]*", reporter.format_time(time.time()))


def test_reports_kernel_and_terminal_activity(emulator, app, clean_jupyter, tmp_path):
    jupyter, arn, state = clean_jupyter, app["ResourceArn"], tmp_path / "state.json"

    # Nothing seen yet: active since the reporter started.
    before = time.time()
    run_once(emulator, app, state, jupyter.url)
    assert int(before) <= tag_time(emulator, app) <= time.time()
    values = [tag_value(emulator, arn)]

    # A kernel started through the API stays "starting" until a client connects: "now".
    kernel_id = jupyter.api("POST", "/api/kernels", {"name": "python3"})["id"]
    time.sleep(2.2)
    assert jupyter.kernel(kernel_id)["execution_state"] == "starting"
    before = time.time()
    run_once(emulator, app, state, jupyter.url)
    assert int(before) <= tag_time(emulator, app) <= time.time()
    values.append(tag_value(emulator, arn))

    # A kernel running a cell counts as "now", however old its last_activity.
    with kernel_client(jupyter, kernel_id) as kc:
        wait_for(lambda: jupyter.kernel(kernel_id)["execution_state"] == "idle", 30, "the kernel to be idle")
        time.sleep(1.2)
        msg_id = kc.execute("import time; time.sleep(4)")
        wait_for(lambda: jupyter.kernel(kernel_id)["execution_state"] == "busy", 10, "the kernel to be busy")
        before = time.time()
        run_once(emulator, app, state, jupyter.url)
        assert int(before) <= tag_time(emulator, app) <= time.time()
        values.append(tag_value(emulator, arn))
        reply = kc.get_shell_msg(timeout=30)
        assert reply["parent_header"]["msg_id"] == msg_id and reply["content"]["status"] == "ok"
    wait_for(lambda: jupyter.kernel(kernel_id)["execution_state"] == "idle", 10, "the kernel to be idle")

    # Idle again: the kernel's last_activity (the end of the cell), not the time of the pass.
    time.sleep(1.2)
    run_once(emulator, app, state, jupyter.url)
    kernel_last = reporter.parse_time(jupyter.kernel(kernel_id)["last_activity"])
    assert abs(tag_time(emulator, app) - kernel_last) < 1.0
    assert time.time() - tag_time(emulator, app) > 1.0
    values.append(tag_value(emulator, arn))

    # A terminal used after the kernel: its last_activity is the newest.
    time.sleep(1.2)
    name = jupyter.api("POST", "/api/terminals", {})["name"]
    type_in_terminal(jupyter, name)
    time.sleep(1.2)
    terminal_last = reporter.parse_time(jupyter.terminal(name)["last_activity"])
    assert terminal_last > kernel_last + 1
    run_once(emulator, app, state, jupyter.url)
    assert abs(tag_time(emulator, app) - terminal_last) < 1.0
    reported = tag_value(emulator, arn)
    values.append(reported)

    # One AddTags per change of value (the busy pass and the cell's end may share a second).
    writes = len(emulator.add_tags_calls(arn))
    assert writes == len(set(values)) >= 4 and values == sorted(values), values

    # Everything closed: the state file keeps the last activity, the tag does not move and the
    # unchanged value is not written again.
    jupyter.api("DELETE", f"/api/terminals/{name}")
    jupyter.api("DELETE", f"/api/kernels/{kernel_id}")
    assert jupyter.api("GET", "/api/kernels") == [] and jupyter.api("GET", "/api/terminals") == []
    for _ in range(2):
        done = run_once(emulator, app, state, jupyter.url)
        assert "AddTags" not in done.stderr
    assert tag_value(emulator, arn) == reported
    assert json.loads(state.read_text())["reported"] == reported
    assert abs(json.loads(state.read_text())["last_activity"] - terminal_last) < 1.0
    assert len(emulator.add_tags_calls(arn)) == writes


def test_survives_jupyter_down_and_throttling(emulator, app, clean_jupyter, tmp_path):
    jupyter, arn, state = clean_jupyter, app["ResourceArn"], tmp_path / "state.json"
    log = tmp_path / "reporter.log"

    # Jupyter not answering: the pass fails, nothing is tagged, the loop goes on.
    closed = f"http://127.0.0.1:{free_port()}{BASE_PATH}"
    run_once(emulator, app, state, closed, expect_ok=False)
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, str(REPORTER)], stdout=subprocess.DEVNULL, stderr=err,
                                env=reporter_env(emulator, app, state, closed, REPORT_INTERVAL_SECONDS="0.2"))
    try:
        wait_for(lambda: log.read_text().count("pass failed") >= 3, 30, "three failed passes")
        assert proc.poll() is None
    finally:
        stop(proc)
    assert emulator.add_tags_calls(arn) == [] and tag_value(emulator, arn) is None

    # AddTags throttled beyond boto3's retries: the pass fails, the next one writes the tag.
    emulator.admin("POST", "faults", {"target": "AddTags", "kind": "throttling", "count": 4})
    try:
        with open(log, "w") as err:
            proc = subprocess.Popen([sys.executable, str(REPORTER)], stdout=subprocess.DEVNULL, stderr=err,
                                    env=reporter_env(emulator, app, state, jupyter.url, REPORT_INTERVAL_SECONDS="0.2"))
        try:
            wait_for(lambda: tag_value(emulator, arn), 60, "the tag after throttling")
            assert proc.poll() is None
        finally:
            stop(proc)
    finally:
        emulator.admin("DELETE", "faults")
    outcomes = [c["outcome"] for c in emulator.add_tags_calls(arn)]
    assert outcomes == ["ThrottlingException"] * 4 + ["ok"], outcomes
    assert "ThrottlingException" in log.read_text()


def test_on_start_installs_and_starts_the_reporter(emulator, app, clean_jupyter, tmp_path):
    jupyter, arn = clean_jupyter, app["ResourceArn"]
    lcc = tmp_path / "on-start.sh"
    lcc.write_text(substituted_on_start())
    workdir = tmp_path / "studio-operator"
    env = reporter_env(emulator, app, workdir / "state.json", jupyter.url, REPORT_INTERVAL_SECONDS="1",
                       ACTIVITY_REPORTER_DIR=str(workdir), ACTIVITY_REPORTER_PYTHON=sys.executable)
    del env["ACTIVITY_STATE_FILE"]  # on-start.sh puts it beside the script

    started = time.monotonic()
    subprocess.run(["bash", str(lcc)], env=env, check=True, timeout=30, capture_output=True)
    assert time.monotonic() - started < 15, "on-start.sh must not wait for the reporter"
    pid = int((workdir / "reporter.pid").read_text())
    try:
        assert (workdir / "reporter.py").read_bytes() == REPORTER.read_bytes()
        wait_for(lambda: tag_value(emulator, arn), 30, "the tag from the started reporter")
        assert (workdir / "state.json").exists()
        # Running the script again does not start a second reporter.
        subprocess.run(["bash", str(lcc)], env=env, check=True, timeout=30, capture_output=True)
        assert int((workdir / "reporter.pid").read_text()) == pid
        os.kill(pid, 0)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not pathlib.Path(f"/proc/{pid}").exists() or _zombie(pid), 10, "the reporter to stop")
    assert "reporting on " + arn in (workdir / "reporter.log").read_text()


def _zombie(pid: int) -> bool:
    with contextlib.suppress(OSError):
        return " Z " in pathlib.Path(f"/proc/{pid}/stat").read_text()
    return True
