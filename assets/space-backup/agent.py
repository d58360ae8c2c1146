#!/usr/bin/env python3
"""studio-operator space backup agent.

Runs inside a SageMaker Studio JupyterLab or Code Editor app. Backs the space's home directory up
to S3 (incremental, content-addressed, SSE-KMS, a manifest written last), restores it into the
empty home of a new space, and keeps the space's tags that the operator reads: see README.md.

Commands: run (restore if asked, then back up for ever), backup (one run now), restore (one
attempt). Exit codes: 0 done, 1 failed, 2 restore refused, 75 another run holds the lock.
"""
import argparse
import fcntl
import fnmatch
import hashlib
import json
import logging
import os
import random
import stat
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import reporter  # the activity reporter's program, shipped beside this file

P = "studio-operator.io/"
LAST_ACTIVITY = reporter.TAG_KEY
LAST_BACKUP, LOCATION, REQUESTED, RESTORE_FROM, RESTORED = (
    P + k for k in ("last-backup", "backup-location", "backup-requested", "restore-from", "restored"))
# Caches and mount points. A pattern with "/" is a path from the home root, else a name anywhere.
EXCLUDE = (".cache __pycache__ .ipynb_checkpoints .virtual_documents node_modules .Trash-* .restoring-* lost+found/"
           " custom-file-systems/ .local/share/Trash/ .local/share/jupyter/runtime/ .conda/pkgs/")
# What a new space's home may hold before the restore (the volume's and the image's own entries).
IMAGE_ENTRIES = "lost+found custom-file-systems .bashrc .bash_logout .profile"
MARKER = "RESTORE-IN-PROGRESS.txt"
FORMAT = "studio-operator.io/space-backup/v1"
MiB = 1 << 20
LOCKED = 75
SKIP = "skip"  # a file that went away or cannot be read: not in this backup

log = logging.getLogger("space-backup")


class Refused(Exception):
    """The restore must not run (the home is not empty); a person has to act."""


class Locked(Exception):
    pass


def s3_location(uri):
    """(bucket, prefix ending in '/') of an s3:// URI; a clear error for anything else."""
    if not uri.startswith("s3://") or "__S3_URI__" in uri or not uri[5:].split("/")[0]:
        raise ValueError("not an s3://bucket/prefix URI: %r" % uri)
    bucket, _, prefix = uri[5:].partition("/")
    return bucket, (prefix.rstrip("/") + "/") if prefix.strip("/") else ""


def parse_tag_time(value):
    return reporter.parse_time(value) if value else None


class Config:
    def __init__(self, env):
        def get(name, default=None):
            return env.get("SPACE_BACKUP_" + name) or default

        self.bucket, self.prefix = s3_location(get("S3_URI", ""))
        self.kms = get("KMS_KEY_ID", "")
        if not self.kms or self.kms.startswith("__"):
            raise ValueError("SPACE_BACKUP_KMS_KEY_ID is not set")
        self.interval = float(get("INTERVAL_SECONDS", 900))
        self.poll = float(get("POLL_SECONDS", 60))
        self.activity_every = float(get("ACTIVITY_SECONDS", 300))
        self.prune_every = float(get("PRUNE_SECONDS", 86400))
        self.keep = max(1, int(get("KEEP_MANIFESTS", 3)))
        self.home = os.path.abspath(get("HOME", "/home/sagemaker-user"))
        self.dir = get("DIR", "/tmp/studio-operator-backup")
        self.threshold = int(get("MULTIPART_THRESHOLD", 64 * MiB))
        self.attempts = int(get("MAX_ATTEMPTS", 6))
        self.workers = int(get("WORKERS", 4))
        self.exclude = get("EXCLUDE", EXCLUDE).split()
        self.image_entries = set(get("IMAGE_ENTRIES", IMAGE_ENTRIES).split())
        self.idle_file = get("IDLE_FILE", "/tmp/.sagemaker-last-active-timestamp")
        self.reporter_dir = env.get("ACTIVITY_REPORTER_DIR") or "/tmp/studio-operator"
        self.metadata = env.get("STUDIO_RESOURCE_METADATA") or reporter.METADATA_FILE
        self.jupyter = env.get("JUPYTER_BASE_URL")
        self.token = env.get("JUPYTER_TOKEN") or ""


def excluded(patterns, rel, name):
    return any(fnmatch.fnmatchcase(rel, p.strip("/")) if "/" in p else fnmatch.fnmatchcase(name, p)
               for p in patterns)


def scan(home, patterns):
    """Every directory, file and symlink under home (not following links), parents first."""
    entries, stack = [], [""]
    while stack:
        rel = stack.pop()
        try:
            with os.scandir(os.path.join(home, rel)) as it:
                items = sorted(it, key=lambda e: e.name)
        except OSError as e:
            log.warning("skipped unreadable directory %r: %s", rel, e)
            continue
        for item in reversed(items):
            path = rel + "/" + item.name if rel else item.name
            if path == MARKER or excluded(patterns, path, item.name):
                continue
            try:
                st = item.stat(follow_symlinks=False)
                entry = {"p": path, "m": stat.S_IMODE(st.st_mode), "mt": st.st_mtime_ns}
                if stat.S_ISLNK(st.st_mode):
                    entry.update(t="l", l=os.readlink(item.path))
                elif stat.S_ISDIR(st.st_mode):
                    entry["t"] = "d"
                    stack.append(path)
                elif stat.S_ISREG(st.st_mode):
                    entry.update(t="f", s=st.st_size)
                else:
                    continue  # sockets, FIFOs and devices are not data
            except OSError as e:  # deleted while we looked, or unreadable
                log.warning("skipped %r: %s", path, e)
                continue
            entries.append(entry)
    return sorted(entries, key=lambda e: e["p"].split("/"))


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(MiB), b""):
            h.update(block)
    return h.hexdigest()


def checked_path(root, rel):
    """The absolute path of a manifest entry; refuses anything that leaves the root."""
    parts = rel.split("/")
    if not rel or rel.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\0" in rel:
        raise ValueError("bad path in manifest: %r" % rel)
    path, real = os.path.join(root, rel), os.path.realpath(root)
    if not (os.path.realpath(os.path.dirname(path)) + os.sep).startswith(real + os.sep):
        raise ValueError("path leaves the home through a symlink: %r" % rel)
    return path


class Lock:
    """flock on a file beside the agent: one backup or restore at a time per app."""

    def __init__(self, directory):
        os.makedirs(directory, exist_ok=True)
        self.fd = os.open(os.path.join(directory, "run.lock"), os.O_RDWR | os.O_CREAT, 0o600)

    def __enter__(self):
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Locked("another backup or restore is running") from None

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)


class Agent:
    def __init__(self, cfg, meta):
        self.cfg = cfg
        self.app_arn = meta["ResourceArn"]
        if not meta.get("SpaceName") or not meta.get("DomainId"):
            raise ValueError("resource metadata names no space (SpaceName, DomainId)")
        partition, _, region, account = self.app_arn.split(":")[1:5]
        self.space_arn = "arn:%s:sagemaker:%s:%s:space/%s/%s" % (
            partition, region, account, meta["DomainId"], meta["SpaceName"])
        self.region = region
        self.space = meta["SpaceName"]
        self.uri = "s3://%s/%s%s/" % (cfg.bucket, cfg.prefix, self.space)
        self.jupyter = cfg.jupyter or reporter.BASE_URLS.get(meta.get("AppType"))
        self.state_file = os.path.join(cfg.dir, "activity.json")
        self.state = reporter.load_state(self.state_file)
        self.started = time.time()
        self.lock = Lock(cfg.dir)
        self.known = set()  # object hashes known to be in S3 under our prefix
        self.previous = None  # entries of the newest manifest, by path
        self.last_backup = None
        self.last_run = self.activity_at = self.retry_at = 0.0
        self.pruned_at = self.started  # a predecessor's backups outlive a new app's first day
        self.failures = 0
        self._clients = {}

    # --- AWS -----------------------------------------------------------------------------

    def client(self, service):
        if service not in self._clients:
            import boto3
            from botocore.config import Config as BotoConfig

            attempts = self.cfg.attempts if service == "s3" else 3
            self._clients[service] = boto3.client(service, region_name=self.region, config=BotoConfig(
                retries={"mode": "standard", "max_attempts": attempts}, connect_timeout=10, read_timeout=60,
                max_pool_connections=self.cfg.workers * 4))
        return self._clients[service]

    def tags(self):
        found, token = {}, None
        while True:
            page = self.client("sagemaker").list_tags(
                ResourceArn=self.space_arn, MaxResults=100, **({"NextToken": token} if token else {}))
            found.update({t["Key"]: t["Value"] for t in page.get("Tags", [])})
            token = page.get("NextToken")
            if not token:
                return found

    def tag(self, arn, key, epoch):
        value = reporter.format_time(epoch)
        self.client("sagemaker").add_tags(ResourceArn=arn, Tags=[{"Key": key, "Value": value}])
        log.info("%s=%s on %s", key, value, arn)

    def sse(self):
        return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.cfg.kms}

    def manifest_keys(self, bucket, prefix):
        keys = []
        for page in self.client("s3").get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix + "manifests/"):
            keys += [o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(".json")]
        return sorted(keys)

    def get_json(self, bucket, key):
        return json.loads(self.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())

    # --- activity ------------------------------------------------------------------------

    def measure_activity(self):
        """The reporter's measure (kernels, terminals) and Studio's idle file, never going back."""
        now = time.time()
        seen = [self.state.get("last_activity", self.started)]
        if self.reporter_alive():
            seen.append(reporter.load_state(os.path.join(self.cfg.reporter_dir, "state.json")).get("last_activity", 0))
        elif self.jupyter:
            try:
                kernels, terminals = reporter.observe(self.jupyter, self.cfg.token)
                seen.append(reporter.last_activity(kernels, terminals, now, 0))
            except Exception as e:  # Jupyter not up yet or restarting: the other signals still count
                log.debug("no Jupyter activity: %s", e)
        try:
            with open(self.cfg.idle_file) as f:
                seen.append(min(reporter.parse_time(f.read().strip()) or 0, now))
        except OSError:
            pass
        self.state["last_activity"] = max(seen)
        return self.state["last_activity"]

    def reporter_alive(self):
        try:
            with open(os.path.join(self.cfg.reporter_dir, "reporter.pid")) as f:
                os.kill(int(f.read().strip()), 0)
            return True
        except (OSError, ValueError):
            return False

    def report_activity(self):
        """Tags last-activity on the space, and on the app unless the reporter does that."""
        value = reporter.format_time(self.measure_activity())
        self.activity_at = time.time()
        targets = [("space", self.space_arn)] + ([] if self.reporter_alive() else [("app", self.app_arn)])
        try:
            for name, arn in targets:
                if self.state.get("reported_" + name) != value:
                    self.tag(arn, LAST_ACTIVITY, self.state["last_activity"])
                    self.state["reported_" + name] = value
        finally:
            reporter.save_state(self.state_file, self.state)

    # --- backup --------------------------------------------------------------------------

    def load_previous(self):
        """The newest manifest under our prefix: what an unchanged file is compared against."""
        keys = self.manifest_keys(self.cfg.bucket, self.prefix())
        manifest = self.get_json(self.cfg.bucket, keys[-1]) if keys else {"entries": []}
        self.previous = {e["p"]: e for e in manifest["entries"]}
        self.known |= {e["h"] for e in manifest["entries"] if e["t"] == "f"}

    def prefix(self):
        return self.cfg.prefix + self.space + "/"

    def upload(self, entry, transfer):
        """Hashes and uploads one changed file; None when it changed meanwhile, SKIP when it is
        gone or unreadable. S3 errors fail the run."""
        path = os.path.join(self.cfg.home, entry["p"])
        try:
            digest = sha256_file(path)
        except OSError as e:
            log.warning("left out %r: %s", entry["p"], e)
            return SKIP
        if digest not in self.known:
            self.client("s3").upload_file(path, self.cfg.bucket, self.prefix() + "objects/" + digest,
                                          ExtraArgs=self.sse(), Config=transfer)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return SKIP
        if (st.st_size, st.st_mtime_ns) != (entry["s"], entry["mt"]):
            return None
        self.known.add(digest)
        return digest

    def backup(self, requested=None):
        """One run: scan, upload what changed, write the manifest, tag last-backup. Raises when
        the run is not complete; the previous manifest then stays the newest complete one."""
        from boto3.s3.transfer import TransferConfig

        with self.lock:
            try:
                self.report_activity()
            except Exception as e:
                log.warning("activity not tagged: %s", e)
            if self.previous is None:
                self.load_previous()
            started = time.time()
            entries = scan(self.cfg.home, self.cfg.exclude)
            changed, complete = [], True
            for e in entries:
                old = self.previous.get(e["p"])
                if e["t"] == "f":
                    if old and old["t"] == "f" and (old["s"], old["mt"]) == (e["s"], e["mt"]):
                        e["h"] = old["h"]
                    else:
                        changed.append(e)
            transfer = TransferConfig(multipart_threshold=self.cfg.threshold, max_concurrency=2,
                                      multipart_chunksize=max(5 * MiB, min(self.cfg.threshold, 64 * MiB)))
            with ThreadPoolExecutor(self.cfg.workers) as pool:
                for e, digest in zip(changed, pool.map(lambda e: self.upload(e, transfer), changed)):
                    if digest is SKIP:
                        e["t"] = None
                    elif digest is None:  # still being written: keep the version we have, try again
                        complete = False
                        old = self.previous.get(e["p"])
                        e.update(old if old and old["t"] == "f" else {"t": None})
                    else:
                        e["h"] = digest
            entries = [e for e in entries if e["t"]]
            current = {e["p"]: e for e in entries}
            if current != self.previous or self.last_backup is None:
                key = "%smanifests/%s-%06d.json" % (
                    self.prefix(), time.strftime("%Y%m%dT%H%M%S", time.gmtime(started)), int(started % 1 * 1e6))
                body = json.dumps({
                    "format": FORMAT, "space": self.space_arn, "root": self.cfg.home,
                    "scan_started": reporter.format_time(started), "scan_started_epoch": started,
                    "files": len(current), "bytes": sum(e.get("s", 0) for e in entries), "entries": entries,
                }, separators=(",", ":")).encode()
                self.client("s3").put_object(Bucket=self.cfg.bucket, Key=key, Body=body,
                                             ContentType="application/json", **self.sse())
                log.info("backup %s: %d entries, %d files uploaded", key, len(entries), len(changed))
            self.previous = current
            if not complete:
                raise RuntimeError("files changed during the backup; the manifest keeps their older versions")
            # A run that began after it saw the request holds every change made before it (by
            # the operator's clock too): skew between the clocks must not make it look stale.
            covered = max(started, requested or 0)
            # Where it is, in the same call: an app started before the domain's s3Uri changed
            # still writes to the old location, and the operator restores from where it is.
            self.client("sagemaker").add_tags(ResourceArn=self.space_arn, Tags=[
                {"Key": LAST_BACKUP, "Value": reporter.format_time(covered)}, {"Key": LOCATION, "Value": self.uri}])
            log.info("%s=%s (%s) on %s", LAST_BACKUP, reporter.format_time(covered), self.uri, self.space_arn)
            self.last_backup = covered
            if time.time() - self.pruned_at >= self.cfg.prune_every:
                self.prune()

    def prune(self):
        """Keeps the newest manifests and the objects they name; deletes the rest."""
        s3, bucket, prefix = self.client("s3"), self.cfg.bucket, self.prefix()
        keys = self.manifest_keys(bucket, prefix)
        if len(keys) > self.cfg.keep:
            live = set()
            for key in keys[-self.cfg.keep:]:
                live |= {e["h"] for e in self.get_json(bucket, key)["entries"] if e["t"] == "f"}
            dead = keys[:-self.cfg.keep]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "objects/"):
                dead += [o["Key"] for o in page.get("Contents", []) if o["Key"].rsplit("/", 1)[1] not in live]
            for i in range(0, len(dead), 1000):
                s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in dead[i:i + 1000]]})
            self.known &= live
            log.info("pruned %d old manifests and objects", len(dead))
        self.pruned_at = time.time()

    # --- restore -------------------------------------------------------------------------

    def restore(self, uri):
        """Restores the newest backup under uri into the empty home, verified, then tags restored."""
        bucket, prefix = s3_location(uri)
        home = self.cfg.home
        marker = os.path.join(home, MARKER)
        with self.lock:
            resuming = os.path.exists(marker) and uri in open(marker).read()
            extra = sorted(set(os.listdir(home)) - self.cfg.image_entries - {MARKER})
            if extra and not resuming:
                raise Refused("home %s is not empty (%s); restore from %s refused" % (home, ", ".join(extra[:5]), uri))
            with open(marker, "w") as f:
                f.write("A restore of this home directory from %s is in progress.\nFiles appear as they are"
                        " restored; this file is removed when it is complete. Files you create\nmeanwhile are"
                        " kept: the restore never writes over an existing file. Log: %s/agent.log\n"
                        % (uri, self.cfg.dir))
            keys = self.manifest_keys(bucket, prefix)
            if not keys:
                raise RuntimeError("no backup manifest under %s" % uri)
            manifest = self.get_json(bucket, keys[-1])
            if manifest.get("format") != FORMAT:
                raise ValueError("%s is not a %s manifest" % (keys[-1], FORMAT))
            entries = manifest["entries"]
            owner = None
            if os.geteuid() == 0:
                st = os.stat(home)
                owner = (st.st_uid, st.st_gid)
            for e in entries:
                if e["t"] == "d":
                    os.makedirs(checked_path(home, e["p"]), 0o700, exist_ok=True)
            files = [e for e in entries if e["t"] == "f"]
            with ThreadPoolExecutor(self.cfg.workers) as pool:
                kept = sum(pool.map(lambda e: self.fetch(bucket, prefix, e, owner), files))
            for e in (e for e in entries if e["t"] == "l"):
                path = checked_path(home, e["p"])
                if not os.path.lexists(path):
                    os.symlink(e["l"], path)
                elif not (os.path.islink(path) and os.readlink(path) == e["l"]):
                    kept += 1
                    continue
                if owner:
                    os.lchown(path, *owner)
                os.utime(path, ns=(e["mt"], e["mt"]), follow_symlinks=False)
            for e in sorted((e for e in entries if e["t"] == "d"), key=lambda e: -e["p"].count("/")):
                path = checked_path(home, e["p"])
                if owner:
                    os.lchown(path, *owner)
                os.chmod(path, e["m"])
                os.utime(path, ns=(e["mt"], e["mt"]))
            os.unlink(marker)
            log.info("restored %d entries from %s (%s); %d existing entries kept", len(entries), keys[-1],
                     manifest.get("scan_started"), kept)
        self.tag(self.space_arn, RESTORED, time.time())

    def fetch(self, bucket, prefix, e, owner):
        """Downloads one file beside its place, verifies size and SHA-256, then links it into
        place unless something is there already. Returns 1 when an existing file was kept."""
        path = checked_path(self.cfg.home, e["p"])
        # Named after the path: a restore that resumes after a kill reuses and removes it.
        tmp = "%s/.restoring-%s" % (os.path.dirname(path), hashlib.sha256(e["p"].encode(errors="surrogateescape")).hexdigest()[:20])
        if os.path.lexists(path):
            st = os.lstat(path)
            replace = e["p"] in self.cfg.image_entries and stat.S_ISREG(st.st_mode)
            if (st.st_size, st.st_mtime_ns) == (e["s"], e["mt"]) or not replace:
                if os.path.lexists(tmp):
                    os.unlink(tmp)
                return int((st.st_size, st.st_mtime_ns) != (e["s"], e["mt"]))
        for attempt in range(self.cfg.attempts):
            try:
                body = self.client("s3").get_object(Bucket=bucket, Key=prefix + "objects/" + e["h"])["Body"]
                h, size = hashlib.sha256(), 0
                with open(tmp, "wb") as f:
                    for block in body.iter_chunks(MiB):
                        h.update(block)
                        size += len(block)
                        f.write(block)
                if (size, h.hexdigest()) != (e["s"], e["h"]):
                    raise ValueError("%r does not match the manifest (size %d, sha256 %s)" % (e["p"], size, h.hexdigest()))
                break
            except Exception as exc:
                if attempt + 1 == self.cfg.attempts:
                    raise
                log.warning("fetching %r failed (%s); trying again", e["p"], exc)
                time.sleep(min(30, 2 ** attempt) * random.uniform(0.5, 1))
        if owner:
            os.chown(tmp, *owner)
        os.chmod(tmp, e["m"])
        os.utime(tmp, ns=(e["mt"], e["mt"]))
        if os.path.lexists(path):
            os.replace(tmp, path)  # an image's skeleton file, replaced by the user's own
        else:
            try:
                os.link(tmp, path)  # never over a file that appeared meanwhile
            except FileExistsError:
                return 1
            finally:
                os.unlink(tmp)
        return 0

    # --- the loop ------------------------------------------------------------------------

    def pending_restore(self, tags):
        return tags.get(RESTORE_FROM) if tags.get(RESTORE_FROM) and not tags.get(RESTORED) else None

    def tick(self):
        """One pass: read the space's tags, restore if asked, report activity, back up if due."""
        tags = self.tags()
        source = self.pending_restore(tags)
        if source:  # never back up a home that still waits for its data
            self.restore(source)
            tags = self.tags()
        previous = parse_tag_time(tags.get(LAST_BACKUP))
        if previous and (self.last_backup is None or previous > self.last_backup):
            self.last_backup = previous
        now = time.time()
        if now - self.activity_at >= self.cfg.activity_every:
            try:
                self.report_activity()
            except Exception as e:  # the backup does not wait for a tag
                log.warning("activity not tagged: %s", e)
        requested = parse_tag_time(tags.get(REQUESTED))
        asked = requested is not None and (self.last_backup is None or requested > self.last_backup)
        stale = self.last_backup is None or self.state.get("last_activity", self.started) > self.last_backup
        if asked or (stale and now - self.last_run >= self.cfg.interval):
            self.last_run = now
            self.backup(requested if asked else None)
        self.failures = 0

    def run(self, ready_file):
        """Restores first when the space asks for it (the lifecycle script waits for ready_file
        within its budget), then backs up for ever."""
        for attempt in range(5):  # then on in the loop, which never backs up while a restore is pending
            try:
                source = self.pending_restore(self.tags())
                if source:
                    self.restore(source)
                break
            except Refused as e:
                log.error("%s", e)
                break
            except Exception as e:
                log.warning("start-up restore check failed (%s: %s); trying again", type(e).__name__, e)
                time.sleep(min(self.cfg.poll, 2 ** attempt) * random.uniform(0.5, 1))
        if ready_file:
            open(ready_file, "w").close()
        while True:
            # After a failure the whole pass waits, its ListTags too: throttling asks for less.
            if time.time() < self.retry_at:
                time.sleep(self.cfg.poll)
                continue
            try:
                self.tick()
            except Refused as e:
                log.error("%s; no backups run until a person empties the home or removes the tag %s", e, RESTORE_FROM)
            except Locked as e:
                log.info("%s", e)
            except Exception as e:  # throttling, network, S3: the newest complete backup stays; retry
                self.failures += 1
                delay = min(self.cfg.interval, self.cfg.poll * 2 ** self.failures) * random.uniform(0.5, 1)
                self.retry_at = time.time() + delay
                log.warning("pass failed (%s: %s); next try in %.0fs", type(e).__name__, e, delay)
            time.sleep(self.cfg.poll)


def main(argv=None):
    parser = argparse.ArgumentParser(description="studio-operator space backup agent")
    parser.add_argument("command", choices=["run", "backup", "restore"])
    parser.add_argument("--ready-file", help="created once the start-up restore is done or not needed")
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=os.environ.get("LOG_LEVEL", "INFO"),
                        format="%(asctime)s space-backup %(levelname)s %(message)s")
    logging.getLogger("botocore").setLevel(logging.WARNING)
    try:
        cfg = Config(os.environ)
        agent = Agent(cfg, reporter.load_metadata(cfg.metadata))
    except (OSError, ValueError) as e:
        log.error("not started: %s", e)
        return 1
    log.info("%s: space %s, backups to %s every %gs", args.command, agent.space_arn, agent.uri, cfg.interval)
    if args.command == "run":
        agent.run(args.ready_file)
    try:
        if args.command == "backup":
            if agent.pending_restore(agent.tags()):
                raise Refused("a restore is pending on this space; no backup before it is done")
            agent.backup()
        else:
            source = agent.pending_restore(agent.tags())
            if source:
                agent.restore(source)
            else:
                log.info("no restore pending")
        return 0
    except Refused as e:
        log.error("%s", e)
        return 2
    except Locked as e:
        log.error("%s", e)
        return LOCKED
    except Exception as e:
        log.error("%s failed: %s: %s", args.command, type(e).__name__, e)
        return 1


if __name__ == "__main__":
    sys.exit(main())
