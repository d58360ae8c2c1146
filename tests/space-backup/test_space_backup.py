"""Tests of the space backup agent (assets/space-backup) against real software.

moto's standalone server is S3, reached through ``S3Proxy``, a small HTTP proxy in this file that
logs every request (operation, headers) and injects S3 faults (503 SlowDown, a connection dropped
in the middle of a request body, delays). The aws-emulator binary is SageMaker (tags, fault
injection); a real ``jupyter server`` gives the activity. The agent runs as a subprocess, as its
lifecycle script runs it. Run through ``run.sh`` (venv, emulator build).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import http.client
import http.server
import importlib.util
import itertools
import json
import os
import pathlib
import random
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.parse

import boto3
import pytest
from botocore.config import Config

REPO = pathlib.Path(__file__).resolve().parents[2]
ASSETS = REPO / "assets" / "space-backup"
sys.path[:0] = [str(ASSETS), str(REPO / "assets" / "activity-reporter"), str(REPO / "tests" / "activity-reporter")]

# The activity reporter's test harness: the emulator, a Jupyter server, a kernel client.
from test_reporter import (  # noqa: E402
    AWS_ENV, JUPYTER_TOKEN, REGION, domain, emulator, free_port, jupyter, kernel_client, stop, wait_for,
)

_spec = importlib.util.spec_from_file_location("render", ASSETS / "render.py")
render = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(render)
import agent  # noqa: E402

# The programs as the lifecycle script unpacks them (stripped, reporter.py beside agent.py).
SHIPPED = pathlib.Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target") / "space-backup-agent"
SHIPPED.mkdir(parents=True, exist_ok=True)
for _name, _text in render.files().items():
    (SHIPPED / _name).write_text(_text)
AGENT = SHIPPED / "agent.py"

BUCKET = "space-backups"
BASE = f"s3://{BUCKET}/studio/prod-eu-default-ml-platform/"
KMS_KEY = f"arn:aws:kms:{REGION}:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
THRESHOLD = 6 * 1024 * 1024
TAGS = {"activity": agent.LAST_ACTIVITY, "backup": agent.LAST_BACKUP, "requested": agent.REQUESTED,
        "restore_from": agent.RESTORE_FROM, "restored": agent.RESTORED}
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")

# --- S3: moto's server behind a logging, fault-injecting proxy ------------------------------


def s3_operation(method: str, path: str, query: dict) -> str:
    key = path.strip("/").partition("/")[2]
    if "uploads" in query:
        return "CreateMultipartUpload"
    if "uploadId" in query:
        return {"PUT": "UploadPart", "POST": "CompleteMultipartUpload", "DELETE": "AbortMultipartUpload"}.get(
            method, "ListParts")
    if "delete" in query:
        return "DeleteObjects"
    if not key:
        return {"GET": "ListObjectsV2", "PUT": "CreateBucket", "HEAD": "HeadBucket"}.get(method, method)
    return {"PUT": "PutObject", "GET": "GetObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}[method]


class S3Proxy:
    """Forwards to moto; records {operation, key, headers, status}; applies fault rules
    {operation, kind: slowdown|drop|delay, count, seconds}."""

    def __init__(self, upstream_port: int):
        self.upstream_port, self.calls, self.faults, self.lock = upstream_port, [], [], threading.Lock()
        self.unencrypted = []  # stores without SSE-KMS and the key, over the whole run
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_one(self):
                url = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
                op = s3_operation(self.command, url.path, query)
                length = int(self.headers.get("Content-Length") or 0)
                assert "chunked" not in (self.headers.get("Transfer-Encoding") or ""), "chunked bodies not handled"
                fault = proxy.take_fault(op)
                record = {"operation": op, "key": urllib.parse.unquote(url.path.strip("/").partition("/")[2]),
                          "headers": {k.lower(): v for k, v in self.headers.items()}, "status": None}
                with proxy.lock:
                    proxy.calls.append(record)
                    if op in ("PutObject", "CreateMultipartUpload") and (
                            record["headers"].get("x-amz-server-side-encryption") != "aws:kms"
                            or record["headers"].get("x-amz-server-side-encryption-aws-kms-key-id") != KMS_KEY):
                        proxy.unencrypted.append(record)
                if fault and fault["kind"] == "drop":
                    self.rfile.read(length // 2)
                    record["status"] = "dropped"
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                body = self.rfile.read(length) if length else b""
                if fault and fault["kind"] == "delay":
                    time.sleep(fault["seconds"])
                if fault and fault["kind"] == "slowdown":
                    payload = (b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code>"
                               b"<Message>Please reduce your request rate.</Message></Error>")
                    record["status"] = 503
                    self.send_response(503)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                upstream = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=60)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "expect")}
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    resp = upstream.getresponse()
                    data = resp.read()
                finally:
                    upstream.close()
                record["status"] = resp.status
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length", "server", "date"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_one

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def take_fault(self, op: str):
        with self.lock:
            for rule in self.faults:
                if rule["operation"] == op and rule["count"] > 0:
                    rule["count"] -= 1
                    return rule
        return None

    def inject(self, operation: str, kind: str, count: int, seconds: float = 0.0) -> None:
        with self.lock:
            self.faults.append({"operation": operation, "kind": kind, "count": count, "seconds": seconds})

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()
            self.calls.clear()

    def ops(self, prefix: str = "") -> list[dict]:
        with self.lock:
            return [c for c in self.calls if c["key"].startswith(prefix)]


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(pathlib.Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1",
                                 "-p", str(port)], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        def up():
            if proc.poll() is not None:
                raise RuntimeError(f"moto_server exited: {log.read_text(errors='replace')}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        wait_for(up, 60, "moto_server to listen", interval=0.2)
        proxy = S3Proxy(port)
        client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name=REGION,
                              aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
                              aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"])
        client.create_bucket(Bucket=BUCKET)
        proxy.client = client
        yield proxy
    finally:
        proxy.server.shutdown()
        stop(proc)


@pytest.fixture
def clean_s3(s3):
    s3.clear()
    yield s3
    s3.clear()
    # Whatever a test did, every object the agent stored asked for SSE-KMS with the key.
    assert s3.unencrypted == []


# --- spaces, homes and running the agent ----------------------------------------------------

_spaces = itertools.count()


class Space:
    """A space (and its running app) in the emulator, with a home directory and an agent
    directory of its own, as one Studio app sees them."""

    def __init__(self, emulator, domain_id, root: pathlib.Path, app_type: str, s3proxy: S3Proxy):
        self.emulator, self.s3, self.app_type = emulator, s3proxy, app_type
        self.name = f"space-{next(_spaces)}"
        sm = emulator.client("sagemaker")
        sm.create_space(DomainId=domain_id, SpaceName=self.name, SpaceSettings={"AppType": app_type},
                        OwnershipSettings={"OwnerUserProfileName": "alice"},
                        SpaceSharingSettings={"SharingType": "Private"})
        emulator.settle()
        self.arn = sm.describe_space(DomainId=domain_id, SpaceName=self.name)["SpaceArn"]
        keys = {"DomainId": domain_id, "SpaceName": self.name, "AppType": app_type, "AppName": "default"}
        sm.create_app(ResourceSpec={"InstanceType": "ml.t3.medium"}, **keys)
        emulator.settle()
        self.app_arn = sm.describe_app(**keys)["AppArn"]
        self.root = root / self.name
        self.home, self.dir = self.root / "home", self.root / "agent"
        self.home.mkdir(parents=True)
        self.metadata = self.root / "resource-metadata.json"
        self.metadata.write_text(json.dumps({
            "AppType": app_type, "DomainId": domain_id, "SpaceName": self.name, "UserProfileName": "",
            "ResourceName": "default", "ResourceArn": self.app_arn}))
        self.prefix = f"studio/prod-eu-default-ml-platform/{self.name}/"
        self.uri = f"s3://{BUCKET}/{self.prefix}"

    def env(self, **extra) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "JUPYTER_", "SPACE_BACKUP_"))}
        env.update(AWS_ENV, AWS_ENDPOINT_URL_SAGEMAKER=self.emulator.endpoint, AWS_ENDPOINT_URL_S3=self.s3.endpoint,
                   AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null",
                   AWS_EC2_METADATA_DISABLED="true", STUDIO_RESOURCE_METADATA=str(self.metadata),
                   SPACE_BACKUP_S3_URI=BASE, SPACE_BACKUP_KMS_KEY_ID=KMS_KEY, SPACE_BACKUP_HOME=str(self.home),
                   SPACE_BACKUP_DIR=str(self.dir), SPACE_BACKUP_MULTIPART_THRESHOLD=str(THRESHOLD),
                   SPACE_BACKUP_MAX_ATTEMPTS="3", SPACE_BACKUP_IDLE_FILE=str(self.root / "idle-timestamp"),
                   ACTIVITY_REPORTER_DIR=str(self.root / "reporter"))
        if self.app_type == "JupyterLab":  # no server in these tests unless one is given
            env["JUPYTER_BASE_URL"] = f"http://127.0.0.1:{free_port()}/jupyterlab/default"
        env.update(extra)
        return env

    def agent(self, command: str, expect: int = 0, **extra) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, str(AGENT), command], capture_output=True, text=True, timeout=120,
                              env=self.env(**extra))
        assert done.returncode == expect, done.stderr
        return done

    def tags(self, arn: str | None = None) -> dict:
        listed = self.emulator.client("sagemaker").list_tags(ResourceArn=arn or self.arn, MaxResults=100)["Tags"]
        return {t["Key"]: t["Value"] for t in listed}

    def tag_time(self, key: str, arn: str | None = None) -> float | None:
        value = self.tags(arn).get(key)
        if value is None:
            return None
        assert RFC3339.fullmatch(value), value
        return agent.reporter.parse_time(value)

    def set_tag(self, key: str, value: str) -> None:
        self.emulator.client("sagemaker").add_tags(ResourceArn=self.arn, Tags=[{"Key": key, "Value": value}])

    def manifests(self) -> list[str]:
        listed = self.s3.client.list_objects_v2(Bucket=BUCKET, Prefix=self.prefix + "manifests/")
        return sorted(o["Key"] for o in listed.get("Contents", []))


@pytest.fixture
def new_space(emulator, domain, tmp_path, s3):
    return lambda app_type="JupyterLab": Space(emulator, domain, tmp_path, app_type, s3)


def backup_requests(calls: list[dict]) -> list[dict]:
    return [c for c in calls if c["operation"] in ("PutObject", "CreateMultipartUpload")]


# --- the trees ------------------------------------------------------------------------------

BASE_NS = 1_700_000_000_123_456_789
LATIN1 = os.fsdecode(b"latin1-caf\xe9.txt")  # not UTF-8: kept byte for byte


def make_tree(home: pathlib.Path) -> None:
    """Every kind of entry the manifest keeps, plus the caches it leaves out."""
    files = {
        "notebooks/analysis.ipynb": (b'{"cells": []}\n', 0o644),
        "notebooks/Ünïcödé/日本語 ✓.txt": ("grüße\n".encode(), 0o644),
        "emoji-🎉.md": (b"# party\n", 0o644),
        LATIN1: (b"latin-1 name\n", 0o640),
        "private/secret.txt": (b"s3cr3t\n", 0o600),
        "bin/run.sh": (b"#!/bin/sh\necho run\n", 0o755),
        ".bashrc": (b"# my own bashrc\nexport EDITOR=vim\n", 0o644),
        "data/big.bin": (random.Random(7).randbytes(2 * THRESHOLD + 1234), 0o644),
        "data/empty.txt": (b"", 0o644),
        # caches and mount points: not backed up
        ".cache/pip/wheel.whl": (b"cache", 0o644),
        "src/__pycache__/m.cpython-311.pyc": (b"pyc", 0o644),
        "web/node_modules/left-pad/index.js": (b"pad", 0o644),
        "notebooks/.ipynb_checkpoints/analysis-checkpoint.ipynb": (b"{}", 0o644),
        ".local/share/Trash/files/old.txt": (b"trash", 0o644),
        "custom-file-systems/efs/fs-0123/shared.txt": (b"efs", 0o644),
        "lost+found/#1234": (b"fsck", 0o644),
    }
    for rel, (content, mode) in files.items():
        path = home / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        path.chmod(mode)
    (home / "src" / "main.py").write_text("print('hi')\n")
    for empty in ("empty-dir", "data/nested/empty"):
        (home / empty).mkdir(parents=True)
    (home / "notebooks" / "latest").symlink_to("analysis.ipynb")
    (home / "bin" / "up").symlink_to("../notebooks/Ünïcödé")
    (home / "dangling").symlink_to("does/not/exist")
    (home / "hosts").symlink_to("/etc/hosts")
    (home / "private").chmod(0o700)
    set_times(home)


def set_times(home: pathlib.Path) -> None:
    """Distinct, old mtimes with nanoseconds on everything, deepest first."""
    paths = sorted(home.rglob("*"), key=lambda p: -len(p.parts))
    for i, path in enumerate(paths):
        ns = BASE_NS + i * 1_000_003_001
        os.utime(path, ns=(ns, ns), follow_symlinks=False)


def snapshot(home: pathlib.Path, skip=("lost+found", "custom-file-systems", agent.MARKER)) -> dict:
    """rel -> (kind, mode, mtime_ns, size, sha256 | link target), without excluded entries."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(home):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, home)
            if rel.split("/")[0] in skip or agent.excluded(agent.EXCLUDE.split(), rel, name):
                continue
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                found[rel] = ("l", None, st.st_mtime_ns, None, os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                found[rel] = ("d", stat.S_IMODE(st.st_mode), st.st_mtime_ns, None, None)
            else:
                digest = hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()
                found[rel] = ("f", stat.S_IMODE(st.st_mode), st.st_mtime_ns, st.st_size, digest)
        dirnames[:] = [d for d in dirnames if not agent.excluded(agent.EXCLUDE.split(),
                                                                  os.path.relpath(os.path.join(dirpath, d), home), d)]
    return found


def sha(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def restore_into(new_space, source_uri: str, image_entries: bool = True) -> "Space":
    """A new space tagged restore-from, whose home holds what a fresh volume and image hold."""
    target = new_space()
    if image_entries:
        (target.home / "lost+found").mkdir()
        (target.home / ".bashrc").write_text("# the image's bashrc\n")
    target.set_tag(agent.RESTORE_FROM, source_uri)
    return target


# --- tests ----------------------------------------------------------------------------------


def test_rendered_script_fits_the_limit_and_the_payload_is_fresh(tmp_path):
    checked = subprocess.run([sys.executable, str(ASSETS / "render.py"), "check"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    payload = (ASSETS / "agent.payload").read_text().strip()
    assert render.unpack(payload) == render.files()
    # The unpacked agent is a working program: its own helpers answer as in the source.
    assert "def backup(" in render.files()["agent.py"] and "def observe(" in render.files()["reporter.py"]
    script = render.script(BASE, KMS_KEY, 900)
    for name in render.PLACEHOLDERS:
        assert name not in script and name not in payload
    assert len(base64.b64encode(script.encode())) <= render.MAX_BASE64
    assert "\nSTUDIO_OPERATOR_PAYLOAD_EOF\n" not in payload
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)
    # Unpacking exactly as on-start.sh does gives both programs, which compile.
    (tmp_path / "x").mkdir()
    unpacker = script.split("\"$py\" -c '", 1)[1].split("\n' \"$dir\"", 1)[0]
    subprocess.run([sys.executable, "-c", unpacker, str(tmp_path / "x")], input=payload, text=True, check=True)
    for name, text in render.files().items():
        assert (tmp_path / "x" / name).read_text() == text
        compile(text, name, "exec")


def test_helpers():
    assert agent.s3_location("s3://b/p/q/") == ("b", "p/q/") and agent.s3_location("s3://b") == ("b", "")
    for bad in ("", "__S3_URI__", "s3://", "https://b/p", "s3://__S3_URI__"):
        with pytest.raises(ValueError):
            agent.s3_location(bad)
    patterns = agent.EXCLUDE.split()
    assert agent.excluded(patterns, "a/b/.cache", ".cache") and agent.excluded(patterns, "lost+found", "lost+found")
    assert not agent.excluded(patterns, "a/lost+found", "lost+found")
    assert agent.excluded(patterns, ".local/share/Trash", "Trash") and not agent.excluded(patterns, "x/Trash", "Trash")
    root = "/home/u"
    assert agent.checked_path(root, "a/b") == "/home/u/a/b"
    for bad in ("", "/etc/passwd", "../x", "a/../../x", "a//b", "./a"):
        with pytest.raises(ValueError):
            agent.checked_path(root, bad)


def test_round_trip_incremental_and_deletions(new_space, clean_s3):
    source = new_space()
    make_tree(source.home)
    expected = snapshot(source.home)
    assert "data/nested/empty" in expected and LATIN1 in expected and "hosts" in expected
    assert not any(".cache" in p or "node_modules" in p or "custom-file-systems" in p for p in expected)

    before = time.time()
    done = source.agent("backup")
    after = time.time()
    # last-backup: the scan's start, after the manifest; last-activity on the space and the app.
    backed_up = source.tag_time(agent.LAST_BACKUP)
    assert int(before) <= backed_up <= after, done.stderr
    assert int(before) <= source.tag_time(agent.LAST_ACTIVITY) <= backed_up
    assert source.tag_time(agent.LAST_ACTIVITY, source.app_arn) == source.tag_time(agent.LAST_ACTIVITY)

    calls = clean_s3.ops(source.prefix)
    # SSE-KMS with the configured key on every request that stores data.
    stores = backup_requests(calls)
    assert stores and all(c["headers"].get("x-amz-server-side-encryption") == "aws:kms"
                          and c["headers"].get("x-amz-server-side-encryption-aws-kms-key-id") == KMS_KEY
                          for c in stores), stores
    # The big file went in parts; the manifest was the last object written.
    big_key = source.prefix + "objects/" + sha(source.home / "data/big.bin")
    assert [c["operation"] for c in calls if c["key"] == big_key].count("UploadPart") == 3
    head = clean_s3.client.head_object(Bucket=BUCKET, Key=big_key)
    assert head["ETag"].strip('"').endswith("-3") and head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == KMS_KEY
    writes = [c for c in calls if c["operation"] in ("PutObject", "CompleteMultipartUpload")]
    assert "/manifests/" in writes[-1]["key"] and all("/objects/" in c["key"] for c in writes[:-1])
    (manifest_key,) = source.manifests()
    manifest = json.loads(clean_s3.client.get_object(Bucket=BUCKET, Key=manifest_key)["Body"].read())
    assert {e["p"] for e in manifest["entries"]} == set(expected)
    assert manifest["scan_started"] == source.tags()[agent.LAST_BACKUP]
    # Where it is, for a restore after the domain's s3Uri changed.
    assert source.tags()[agent.LOCATION] == source.uri
    objects = {c["key"] for c in calls if c["operation"] == "PutObject" and "/objects/" in c["key"]}
    assert len(objects) == len({v[4] for v in expected.values() if v[0] == "f"}) - 1  # all but the big one

    # Restore into a new space: the same tree, modes, mtimes, links; the image's .bashrc replaced.
    target = restore_into(new_space, source.uri)
    target.agent("restore")
    assert snapshot(target.home) == expected
    assert (target.home / "lost+found").is_dir() and not (target.home / agent.MARKER).exists()
    restored = target.tag_time(agent.RESTORED)
    assert restored and time.time() - restored < 30
    target.agent("restore")  # tagged restored: nothing to do again
    assert target.tag_time(agent.RESTORED) == restored

    # Incremental: change one file, add one, delete one, touch one, remove an empty directory.
    clean_s3.clear()
    (source.home / "notebooks/analysis.ipynb").write_bytes(b'{"cells": [1]}\n')
    (source.home / "new.txt").write_text("new\n")
    (source.home / "private/secret.txt").unlink()
    (source.home / "empty-dir").rmdir()
    os.utime(source.home / "bin/run.sh", ns=(BASE_NS, BASE_NS))
    expected = snapshot(source.home)
    source.agent("backup")
    calls = clean_s3.ops(source.prefix)
    uploaded = {c["key"].rsplit("/", 1)[1] for c in backup_requests(calls) if "/objects/" in c["key"]}
    assert uploaded == {sha(source.home / "notebooks/analysis.ipynb"), sha(source.home / "new.txt")}, calls
    assert not [c for c in calls if c["operation"] == "UploadPart"]
    assert len(source.manifests()) == 2

    again = restore_into(new_space, source.uri)
    # The agent runs as root here: what it restores gets the home's owner (Studio's user).
    assert os.geteuid() == 0, "these tests run as root, as CI does"
    os.chown(again.home, 1000, 100)
    again.agent("restore")
    assert snapshot(again.home) == expected
    owners = {(os.lstat(path).st_uid, os.lstat(path).st_gid) for path in again.home.rglob("*")
              if path.name != "lost+found"}
    assert owners == {(1000, 100)}, owners
    assert not (again.home / "private/secret.txt").exists() and not (again.home / "empty-dir").exists()

    # Nothing changed: a run uploads nothing but still writes its manifest (a one-shot run) and
    # moves last-backup on.
    clean_s3.clear()
    time.sleep(1.1)
    source.agent("backup")
    assert [c["key"].rsplit("/", 2)[1] for c in backup_requests(clean_s3.ops(source.prefix))] == ["manifests"]
    assert source.tag_time(agent.LAST_BACKUP) > backed_up


def test_restore_refuses_a_home_that_is_not_empty(new_space, clean_s3):
    source = new_space()
    (source.home / "work.txt").write_text("mine\n")
    source.agent("backup")

    target = restore_into(new_space, source.uri)
    (target.home / "notes.txt").write_text("already here\n")
    before = snapshot(target.home)
    done = target.agent("restore", expect=2)
    assert "is not empty (notes.txt)" in done.stderr and "refused" in done.stderr
    assert snapshot(target.home) == before
    assert agent.RESTORED not in target.tags() and agent.LAST_BACKUP not in target.tags()
    # While the restore is pending, nothing is backed up over the source's backups.
    clean_s3.clear()
    done = target.agent("backup", expect=2)
    assert "restore is pending" in done.stderr
    assert not backup_requests(clean_s3.ops())
    # An object that does not match the manifest (size and SHA-256 are checked) fails the restore.
    clean_s3.client.put_object(Bucket=BUCKET, Key=source.prefix + "objects/" + sha(source.home / "work.txt"),
                               Body=b"mine, but changed\n")
    corrupt = restore_into(new_space, source.uri)
    done = corrupt.agent("restore", expect=1, SPACE_BACKUP_MAX_ATTEMPTS="2")
    assert "'work.txt' does not match the manifest" in done.stderr
    assert not (corrupt.home / "work.txt").exists() and (corrupt.home / agent.MARKER).exists()
    assert agent.RESTORED not in corrupt.tags()
    # A restore-from prefix without any backup is an error, and tags nothing either.
    empty = restore_into(new_space, f"s3://{BUCKET}/studio/nothing-here/")
    done = empty.agent("restore", expect=1)
    assert "no backup manifest under" in done.stderr and agent.RESTORED not in empty.tags()


def test_throttling_and_a_dropped_connection(new_space, clean_s3, emulator):
    source = new_space()
    make_tree(source.home)
    source.agent("backup")
    first = source.manifests()
    kept = snapshot(source.home)

    # S3 throttles: botocore's retries with backoff carry the run through.
    (source.home / "notebooks/analysis.ipynb").write_bytes(b'{"cells": ["throttled"]}\n')
    clean_s3.clear()
    clean_s3.inject("PutObject", "slowdown", 2)
    source.agent("backup")
    statuses = [c["status"] for c in clean_s3.ops(source.prefix) if c["operation"] == "PutObject"]
    assert statuses[:2] == [503, 503] and statuses[2:] and set(statuses[2:]) == {200}, statuses
    kept = snapshot(source.home)
    manifests = source.manifests()
    assert len(manifests) == len(first) + 1

    # The connection drops in the middle of every part of the big file: the run fails, no
    # manifest is written, the previous backup stays the newest complete one.
    big = source.home / "data/big.bin"
    big.write_bytes(random.Random(8).randbytes(2 * THRESHOLD + 99))
    (source.home / "after.txt").write_text("after\n")
    clean_s3.clear()
    clean_s3.inject("UploadPart", "drop", 1000)
    backed_up = source.tag_time(agent.LAST_BACKUP)
    done = source.agent("backup", expect=1)
    assert "backup failed" in done.stderr
    assert source.manifests() == manifests and source.tag_time(agent.LAST_BACKUP) == backed_up
    assert "dropped" in {c["status"] for c in clean_s3.ops(source.prefix)}
    target = restore_into(new_space, source.uri)
    target.agent("restore")
    assert snapshot(target.home) == kept

    # The network is back: the next run completes.
    clean_s3.clear()
    source.agent("backup")
    assert len(source.manifests()) == len(manifests) + 1
    assert source.tag_time(agent.LAST_BACKUP) > backed_up
    latest = restore_into(new_space, source.uri)
    latest.agent("restore")
    assert snapshot(latest.home) == snapshot(source.home)

    # SageMaker throttles ListTags and AddTags beyond boto3's three attempts: the agent's loop
    # keeps going and tags last-backup once they pass.
    (source.home / "later.txt").write_text("later\n")
    log = source.root / "run.log"
    requested = time.time()
    source.set_tag(agent.REQUESTED, agent.reporter.format_time(requested + 1))
    try:
        emulator.admin("POST", "faults", {"target": "ListTags", "kind": "throttling", "count": 4})
        emulator.admin("POST", "faults", {"target": "AddTags", "kind": "throttling", "count": 4})
        with open(log, "w") as err:
            proc = subprocess.Popen([sys.executable, str(AGENT), "run"], stdout=subprocess.DEVNULL, stderr=err,
                                    env=source.env(SPACE_BACKUP_POLL_SECONDS="0.2", SPACE_BACKUP_INTERVAL_SECONDS="3600"))
        try:
            # Only the agent calls SageMaker meanwhile: the test reads its log, not the tags.
            wait_for(lambda: agent.LAST_BACKUP + "=" in log.read_text(), 60, "the requested backup")
        finally:
            stop(proc)
    finally:
        emulator.admin("DELETE", "faults")
    assert source.tag_time(agent.LAST_BACKUP) >= int(requested + 1)
    text = log.read_text()
    assert "ThrottlingException" in text and "failed" in text, text
    outcomes = [c["outcome"] for c in emulator.admin("GET", "calls")
                if c["operation"] == "ListTags" and c["members"].get("ResourceArn") == source.arn]
    assert outcomes.count("ThrottlingException") == 4


def test_the_lock_lets_one_run_at_a_time(new_space, clean_s3):
    space = new_space()
    make_tree(space.home)
    space.dir.mkdir(parents=True)
    fd = os.open(space.dir / "run.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        done = space.agent("backup", expect=agent.LOCKED)
        assert "another backup or restore is running" in done.stderr
        assert not backup_requests(clean_s3.ops(space.prefix))
    finally:
        os.close(fd)

    # Two runs started together: one backs up, the other stands aside.
    clean_s3.inject("PutObject", "delay", 3, seconds=2.0)
    procs = [subprocess.Popen([sys.executable, str(AGENT), "backup"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, env=space.env()) for _ in range(2)]
    codes = sorted(p.wait(timeout=120) for p in procs)
    assert codes == [0, agent.LOCKED], [p.stderr.read() for p in procs]
    assert len(space.manifests()) == 1


def run_on_start(space, script: pathlib.Path, **extra) -> float:
    started = time.monotonic()
    subprocess.run(["bash", str(script)], env=space.env(SPACE_BACKUP_PYTHON=sys.executable, **extra),
                   check=True, timeout=60, capture_output=True)
    return time.monotonic() - started


def agent_pid(space) -> int:
    return int((space.dir / "agent.pid").read_text())


def kill_agent(space) -> None:
    with contextlib.suppress(FileNotFoundError, ProcessLookupError, ValueError):
        os.kill(agent_pid(space), signal.SIGTERM)


def test_lifecycle_script_runs_the_agent_with_jupyter_activity(new_space, clean_s3, jupyter, tmp_path):
    jupyter.close_everything()
    space = new_space()
    (space.home / "notes.md").write_text("# notes\n")
    script = tmp_path / "on-start.sh"
    script.write_text(render.script("__unused__", "__unused__", 1))
    env = dict(JUPYTER_BASE_URL=jupyter.url, JUPYTER_TOKEN=JUPYTER_TOKEN, SPACE_BACKUP_INTERVAL_SECONDS="2",
               SPACE_BACKUP_POLL_SECONDS="0.3", SPACE_BACKUP_ACTIVITY_SECONDS="0.5")
    try:
        took = run_on_start(space, script, SPACE_BACKUP_RESTORE_BUDGET_SECONDS="120", **env)
        # It returned because the agent's start-up step was done, not because the budget ran out.
        assert (space.dir / "ready").exists() and took < 60, took
        pid = agent_pid(space)
        # Low priority: nice 10 (and best-effort class 7 where ionice exists).
        assert int(pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16]) == 10
        # Started once: a second run of the script finds it running.
        run_on_start(space, script, **env)
        assert agent_pid(space) == pid
        os.kill(pid, 0)

        # The first backup at start, then idle: no more backups.
        first = wait_for(lambda: space.tag_time(agent.LAST_BACKUP), 30, "the first backup")
        assert space.tag_time(agent.LAST_ACTIVITY) <= first
        assert space.tag_time(agent.LAST_ACTIVITY, space.app_arn) == space.tag_time(agent.LAST_ACTIVITY)
        time.sleep(3)
        assert space.tag_time(agent.LAST_BACKUP) == first and len(space.manifests()) == 1

        # A kernel that works: activity newer than the backup, so a backup follows within the interval.
        time.sleep(1.1)
        kernel_id = jupyter.api("POST", "/api/kernels", {"name": "python3"})["id"]
        with kernel_client(jupyter, kernel_id) as kc:
            kc.execute("open('/dev/null').close()")
        active = wait_for(lambda: (t := space.tag_time(agent.LAST_ACTIVITY)) > first and t, 20, "activity on the space")
        assert space.tag_time(agent.LAST_ACTIVITY, space.app_arn) >= active
        wait_for(lambda: space.tag_time(agent.LAST_BACKUP) >= active, 20, "a backup after the activity")
        jupyter.close_everything()

        # backup-requested by the operator: handled within a few polls, whatever the interval.
        (space.home / "final.txt").write_text("the last change\n")
        time.sleep(1.1)
        requested = time.time()
        space.set_tag(agent.REQUESTED, agent.reporter.format_time(requested))
        t0 = time.monotonic()
        wait_for(lambda: space.tag_time(agent.LAST_BACKUP) >= int(requested), 20, "the requested backup")
        assert time.monotonic() - t0 < 10
        manifest = json.loads(clean_s3.client.get_object(Bucket=BUCKET, Key=space.manifests()[-1])["Body"].read())
        assert "final.txt" in {e["p"] for e in manifest["entries"]}
        log = (space.dir / "agent.log").read_text()
        assert "Traceback" not in log, log
    finally:
        kill_agent(space)
        jupyter.close_everything()


def test_lifecycle_script_restores_within_its_budget_then_in_the_background(new_space, clean_s3, tmp_path):
    source = new_space()
    make_tree(source.home)
    for i in range(12):
        (source.home / f"many/file-{i:02}.txt").parent.mkdir(exist_ok=True)
        (source.home / f"many/file-{i:02}.txt").write_text(f"file {i}\n")
    set_times(source.home)
    source.agent("backup")
    expected = snapshot(source.home)

    target = restore_into(new_space, source.uri)
    script = tmp_path / "on-start.sh"
    script.write_text(render.script(BASE, KMS_KEY, 3600))
    clean_s3.clear()
    clean_s3.inject("GetObject", "delay", 1000, seconds=0.4)  # a slow network: ~30 objects, 1 worker
    try:
        took = run_on_start(target, script, SPACE_BACKUP_RESTORE_BUDGET_SECONDS="4", SPACE_BACKUP_WORKERS="1",
                            SPACE_BACKUP_POLL_SECONDS="0.3")
        # The budget ran out: the script returned while the agent goes on restoring.
        assert 3 < took < 30 and not (target.dir / "ready").exists(), took
        os.kill(agent_pid(target), 0)
        # The user's server would start now: a marker says what is going on.
        marker = wait_for(lambda: (target.home / agent.MARKER).exists() and (target.home / agent.MARKER).read_text(),
                          30, "the marker")
        assert source.uri in marker and "in progress" in marker
        assert agent.RESTORED not in target.tags()
        # The app stops in the middle of the restore; at the next start the restore resumes
        # (the marker names the same source), keeping what is already there.
        partial = wait_for(lambda: (n := len(list(target.home.rglob("*")))) > 12 and n, 30, "some files restored")
        os.kill(agent_pid(target), signal.SIGKILL)
        wait_for(lambda: _gone(agent_pid(target)), 10, "the agent to die")
        run_on_start(target, script, SPACE_BACKUP_RESTORE_BUDGET_SECONDS="1", SPACE_BACKUP_POLL_SECONDS="0.3")
        wait_for(lambda: target.tag_time(agent.RESTORED), 90, "the background restore")
        clean_s3.clear()
        assert partial < len(expected)
        assert snapshot(target.home) == expected and not (target.home / agent.MARKER).exists()
        assert not [p for p in target.home.rglob(".restoring-*")]
        assert "restored %d entries" % len(expected) in (target.dir / "agent.log").read_text()
        # Then the agent backs the restored home up, to the new space's own prefix.
        wait_for(lambda: target.tag_time(agent.LAST_BACKUP), 30, "the first backup after the restore")
        assert target.tag_time(agent.LAST_BACKUP) >= target.tag_time(agent.RESTORED)
    finally:
        kill_agent(target)


def _gone(pid: int) -> bool:
    with contextlib.suppress(OSError):
        return pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in "ZX"
    return True


def test_old_backups_are_pruned(new_space, clean_s3):
    space = new_space()
    env = dict(SPACE_BACKUP_KEEP_MANIFESTS="2", SPACE_BACKUP_PRUNE_SECONDS="0")
    for name in ("a.txt", "b.txt", "c.txt"):
        (space.home / name).write_text(name + " v1\n")
    first_a = sha(space.home / "a.txt")
    space.agent("backup", **env)
    (space.home / "a.txt").write_text("a v2\n")
    space.agent("backup", **env)
    (space.home / "a.txt").write_text("a v3\n")
    (space.home / "b.txt").unlink()
    space.agent("backup", **env)
    manifests = space.manifests()
    assert len(manifests) == 2
    live = set()
    for key in manifests:
        body = json.loads(clean_s3.client.get_object(Bucket=BUCKET, Key=key)["Body"].read())
        live |= {e["h"] for e in body["entries"] if e["t"] == "f"}
    listed = clean_s3.client.list_objects_v2(Bucket=BUCKET, Prefix=space.prefix + "objects/")["Contents"]
    assert {o["Key"].rsplit("/", 1)[1] for o in listed} == live and first_a not in live
    target = restore_into(new_space, space.uri, image_entries=False)
    target.agent("restore")
    assert snapshot(target.home) == snapshot(space.home)


def test_code_editor_activity_from_the_idle_file(new_space, clean_s3):
    space = new_space("CodeEditor")
    (space.home / "main.py").write_text("print(1)\n")
    log = space.root / "run.log"
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, str(AGENT), "run"], stdout=subprocess.DEVNULL, stderr=err,
                                env=space.env(SPACE_BACKUP_POLL_SECONDS="0.2", SPACE_BACKUP_ACTIVITY_SECONDS="0.2",
                                              SPACE_BACKUP_INTERVAL_SECONDS="1"))
    try:
        first = wait_for(lambda: space.tag_time(agent.LAST_BACKUP), 30, "the first backup")
        time.sleep(2.2)
        # Code Editor's idle extension writes its last activity to a file (ISO, milliseconds).
        now = time.time()
        (space.root / "idle-timestamp").write_text(
            time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + ".250Z")
        wait_for(lambda: space.tag_time(agent.LAST_ACTIVITY) == int(now), 20, "activity from the idle file")
        assert space.tag_time(agent.LAST_ACTIVITY, space.app_arn) == int(now)
        wait_for(lambda: space.tag_time(agent.LAST_BACKUP) >= int(now) > first, 20, "a backup after it")
    finally:
        stop(proc)
    assert "Traceback" not in log.read_text()
