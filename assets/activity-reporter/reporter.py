#!/usr/bin/env python3
"""studio-operator activity reporter.

Runs inside a SageMaker Studio app (JupyterLab, JupyterServer, KernelGateway) and keeps the tag
studio-operator.io/last-activity on the app at the time of its last user activity, so that the
operator can stop apps whose kernels are open but idle: native idle shutdown waits for them to
close, and DescribeApp's LastUserActivityTimestamp follows health checks, not users.

Environment: STUDIO_RESOURCE_METADATA, JUPYTER_BASE_URL, JUPYTER_TOKEN, REPORT_INTERVAL_SECONDS,
ACTIVITY_STATE_FILE and the standard boto3 variables (credentials, AWS_ENDPOINT_URL).
"""
import argparse
import datetime
import json
import logging
import os
import sys
import time
import urllib.error
import urllib.request

TAG_KEY = "studio-operator.io/last-activity"
METADATA_FILE = "/opt/ml/metadata/resource-metadata.json"
STATE_FILE = "/tmp/studio-operator/state.json"
BASE_URLS = {
    "JupyterLab": "http://localhost:8888/jupyterlab/default",
    "JupyterServer": "http://localhost:8888/jupyter/default",
    "KernelGateway": "http://localhost:8888",
}
# A kernel that nobody has connected to stays "starting" for ever; past this it is not "now".
STARTING_GRACE_SECONDS = 600

log = logging.getLogger("activity-reporter")


def parse_time(value):
    """Epoch seconds of a Jupyter timestamp ('2026-11-28T20:48:00.123456Z'), None if unusable."""
    try:
        t = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    if t.tzinfo is None:  # Jupyter reports UTC
        t = t.replace(tzinfo=datetime.timezone.utc)
    return t.timestamp()


def format_time(epoch):
    """RFC 3339 UTC with whole seconds: fits the tag value pattern and reads well in the console."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(epoch)))


def load_metadata(path):
    with open(path) as f:
        meta = json.load(f)
    if not meta.get("ResourceArn") or not meta.get("AppType"):
        raise ValueError("%s lacks ResourceArn or AppType" % path)
    return meta


def get_json(base, path, token):
    """GET a Jupyter API; None when the server does not offer it (a kernel gateway may refuse
    to list kernels and has no terminals)."""
    headers = {"Authorization": "token " + token} if token else {}
    req = urllib.request.Request(base.rstrip("/") + path, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.load(resp)
    except urllib.error.HTTPError as e:
        if e.code in (403, 404):
            return None
        raise


def observe(base, token):
    """Open kernels (from /api/kernels and /api/sessions, by id) and terminals."""
    listed = get_json(base, "/api/kernels", token)
    sessions = get_json(base, "/api/sessions", token)
    if listed is None and sessions is None:
        # Reporting "idle" for kernels we cannot see could get a busy app stopped.
        raise RuntimeError("no kernel list from %s (403/404: wrong JUPYTER_TOKEN?)" % base)
    kernels = {k.get("id"): k for k in listed or []}
    for s in sessions or []:
        k = s.get("kernel") or {}
        kernels.setdefault(k.get("id"), k)
    return list(kernels.values()), get_json(base, "/api/terminals", token) or []


def working(kernel, now):
    """Busy, or starting (recently): working for the user now, however old its last_activity."""
    state = kernel.get("execution_state")
    if state == "starting":
        return now - (parse_time(kernel.get("last_activity")) or 0) < STARTING_GRACE_SECONDS
    return state == "busy"


def last_activity(kernels, terminals, now, recorded):
    """Now while a kernel works; else the newest last_activity, never earlier than the recorded
    value so that closing kernels and terminals does not make the app look idle for longer."""
    if any(working(k, now) for k in kernels):
        return now
    seen = [parse_time(x.get("last_activity")) for x in kernels + terminals]
    # min(): a timestamp ahead of our clock must not keep the app "active" into the future.
    return max([min(t, now) for t in seen if t is not None] + [recorded])


def load_state(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def save_state(path, state):
    """Atomic replace: a reporter killed mid-write must not lose the recorded activity."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f)
    os.replace(tmp, path)


class Reporter:
    def __init__(self, meta, base, token, state_file):
        self.arn = meta["ResourceArn"]
        self.base, self.token, self.state_file = base, token, state_file
        self.started = time.time()
        self.client = None

    def sagemaker(self):
        if self.client is None:
            import boto3
            from botocore.config import Config

            # The app's own region; boto3 takes credentials and AWS_ENDPOINT_URL from the env.
            self.client = boto3.client(
                "sagemaker",
                region_name=self.arn.split(":")[3],
                config=Config(retries={"mode": "standard", "max_attempts": 3},
                              connect_timeout=10, read_timeout=30),
            )
        return self.client

    def report(self):
        """One pass: observe, record, and tag the app when the value changed."""
        state = load_state(self.state_file)
        kernels, terminals = observe(self.base, self.token)
        now = time.time()
        # Never saw anything: the app counts as active since the reporter started.
        state["last_activity"] = last_activity(
            kernels, terminals, now, state.get("last_activity", self.started))
        value = format_time(state["last_activity"])
        try:
            if value == state.get("reported"):
                log.debug("unchanged: %s", value)
                return
            self.sagemaker().add_tags(ResourceArn=self.arn, Tags=[{"Key": TAG_KEY, "Value": value}])
            state["reported"] = value
            log.info("%s=%s (%d kernels, %d terminals)", TAG_KEY, value, len(kernels), len(terminals))
        finally:
            save_state(self.state_file, state)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--once", action="store_true", help="one pass, exit 1 if it failed")
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=os.environ.get("LOG_LEVEL", "INFO"),
                        format="%(asctime)s activity-reporter %(levelname)s %(message)s")
    env = os.environ.get
    interval = float(env("REPORT_INTERVAL_SECONDS") or 300)
    path = env("STUDIO_RESOURCE_METADATA") or METADATA_FILE
    while True:
        try:
            meta = load_metadata(path)
            break
        except (OSError, ValueError) as e:
            log.warning("cannot read app metadata: %s", e)
            if args.once:
                return 1
            time.sleep(interval)
    base = env("JUPYTER_BASE_URL") or BASE_URLS.get(meta["AppType"])
    if not base:
        log.error("app type %s is not supported", meta["AppType"])
        return 1
    reporter = Reporter(meta, base, env("JUPYTER_TOKEN") or "", env("ACTIVITY_STATE_FILE") or STATE_FILE)
    log.info("reporting on %s from %s every %gs", reporter.arn, base, interval)
    while True:
        try:
            reporter.report()
            failed = False
        except Exception as e:  # Jupyter restarting, throttling, network: try again next pass
            log.warning("pass failed: %s", e)
            failed = True
        if args.once:
            return 1 if failed else 0
        time.sleep(interval)


if __name__ == "__main__":
    sys.exit(main())
