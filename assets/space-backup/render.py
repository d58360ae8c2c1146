#!/usr/bin/env python3
"""Packs the space backup agent for its lifecycle script, and renders the script.

The lifecycle configuration content may be at most 16384 base64 characters (12288 bytes of
script), less than agent.py and reporter.py take as source. So the script carries them as one
payload: both files without comments and docstrings (reporter.py without its Reporter class and
main, which the agent does not use), joined as name NUL text NUL ..., LZMA-compressed (xz) and
Base85-encoded. The payload depends on nothing but the sources; agent.payload holds it so that
the operator only replaces placeholders (see README.md).

    render.py payload            print the payload
    render.py write              rewrite agent.payload from the sources
    render.py check              exit 1 if agent.payload is stale or the script is over the limit
    render.py script URI KEY N   print the lifecycle script for s3 URI, KMS key and interval
"""
import ast
import base64
import io
import lzma
import pathlib
import sys
import tokenize

HERE = pathlib.Path(__file__).resolve().parent
AGENT = HERE / "agent.py"
REPORTER = HERE.parent / "activity-reporter" / "reporter.py"
ON_START = HERE / "on-start.sh"
PAYLOAD_FILE = HERE / "agent.payload"
PLACEHOLDERS = ("__S3_URI__", "__KMS_KEY_ID__", "__INTERVAL_SECONDS__", "__AGENT_PAYLOAD__")
# CreateStudioLifecycleConfig: StudioLifecycleConfigContent is the script in base64, <= 16384.
MAX_BASE64 = 16384


def strip(source, drop=()):
    """The source without comments, docstrings, blank lines and the named top-level definitions
    (and without its `if __name__ == "__main__"` block when drop is given)."""
    tree = ast.parse(source)
    removed = {}
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            doc = body[0]
            removed.update(dict.fromkeys(range(doc.lineno, doc.end_lineno + 1)))
            if len(body) == 1:
                removed[doc.lineno] = " " * doc.col_offset + "pass\n"
    for node in tree.body:
        main = drop and isinstance(node, ast.If) and "__main__" in ast.unparse(node.test)
        if getattr(node, "name", None) in drop or main:
            removed.update(dict.fromkeys(range(node.lineno, node.end_lineno + 1)))
    comments = {t.start[0]: t.start[1] for t in tokenize.generate_tokens(io.StringIO(source).readline)
                if t.type == tokenize.COMMENT}
    out = []
    for number, line in enumerate(source.splitlines(True), 1):
        if number in removed:
            out.append(removed[number] or "")
            continue
        if number in comments:
            line = line[:comments[number]].rstrip() + "\n"
        if line.strip():
            out.append(line)
    return "".join(out)


def files():
    """The programs the payload carries: name -> text."""
    return {"agent.py": strip(AGENT.read_text()), "reporter.py": strip(REPORTER.read_text(), {"Reporter", "main"})}


def pack(named):
    blob = "\0".join(part for item in named.items() for part in item).encode()
    return base64.b85encode(lzma.compress(blob, preset=9 | lzma.PRESET_EXTREME)).decode()


def unpack(payload):
    """What on-start.sh does with the payload (kept in step with its decoder)."""
    parts = lzma.decompress(base64.b85decode(payload.strip())).decode().split("\0")
    return dict(zip(parts[::2], parts[1::2]))


def script(s3_uri, kms_key_id, interval_seconds, payload=None):
    """The lifecycle script, substituted as the operator does: configuration first, payload last."""
    text = ON_START.read_text()
    for name, value in zip(PLACEHOLDERS, (s3_uri, kms_key_id, str(interval_seconds))):
        assert text.count(name) == 1, name
        text = text.replace(name, value)
    return text.replace("__AGENT_PAYLOAD__", payload or PAYLOAD_FILE.read_text().strip())


def main(argv):
    command = argv[1] if len(argv) > 1 else ""
    if command == "payload":
        print(pack(files()))
    elif command == "write":
        if not PAYLOAD_FILE.exists() or unpack(PAYLOAD_FILE.read_text()) != files():
            PAYLOAD_FILE.write_text(pack(files()) + "\n")
            print("wrote", PAYLOAD_FILE)
    elif command == "check":
        if unpack(PAYLOAD_FILE.read_text()) != files():
            sys.exit("%s is stale: run %s write and commit it" % (PAYLOAD_FILE, argv[0]))
        # The longest values the operator may substitute: a 63-character bucket with a long
        # prefix, a KMS key ARN in a long partition, a large interval.
        size = len(base64.b64encode(script("s3://" + "b" * 63 + "/" + "p" * 180 + "/",
                                           "arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/" + "k" * 36,
                                           "2592000").encode()))
        if size > MAX_BASE64:
            sys.exit("the rendered script is %d base64 characters, over %d" % (size, MAX_BASE64))
        print("agent.payload is fresh; the script is at most %d of %d base64 characters" % (size, MAX_BASE64))
    elif command == "script" and len(argv) == 5:
        sys.stdout.write(script(*argv[2:5]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
