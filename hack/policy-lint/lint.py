"""Lints IAM policies with parliament (https://github.com/duo-labs/parliament).

Usage: lint.py ACCEPTED_YAML POLICY.json...

Every finding must be explained in ACCEPTED_YAML (issue code, a file glob, a substring of the
finding's detail, and the reason it is right as it is); an unexplained finding, or an
explanation that no finding needs any more, fails the run.
"""

import fnmatch
import json
import sys

import parliament
import parliament.statement as statement
import yaml

_translate = statement.translate_documentation_types


def _translate_arrays(kind):
    # parliament 1.6.4 knows ArrayOfString but crashes on the ArrayOfARN (and other ArrayOf*)
    # types of its own, newer IAM definitions: an array is checked element by element.
    if kind.startswith("ArrayOf"):
        kind = kind[len("ArrayOf"):]
    return _translate(kind)


statement.translate_documentation_types = _translate_arrays


def findings_of(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    policy = parliament.analyze_policy_string(text, filepath=path, include_community_auditors=True)
    for finding in policy.findings:
        yield {
            "file": path,
            "issue": finding.issue,
            "severity": parliament.config.get(finding.issue, {}).get("severity", "?"),
            "detail": json.dumps(finding.detail, sort_keys=True, default=str),
        }


def explained(finding, accepted):
    for entry in accepted:
        if (
            entry["issue"] == finding["issue"]
            and fnmatch.fnmatch(finding["file"], entry["files"])
            and entry.get("detail", "") in finding["detail"]
        ):
            return entry
    return None


def main(argv):
    with open(argv[1], encoding="utf-8") as f:
        accepted = yaml.safe_load(f) or []
    for entry in accepted:
        if not entry.get("reason", "").strip():
            print(f"policy-lint: accepted entry without a reason: {entry}")
            return 1
    used = set()
    unexplained = []
    count = 0
    for path in argv[2:]:
        for finding in findings_of(path):
            count += 1
            entry = explained(finding, accepted)
            if entry is None:
                unexplained.append(finding)
            else:
                used.add(id(entry))
    stale = [e for e in accepted if id(e) not in used]
    for finding in unexplained:
        print(f"UNEXPLAINED {finding['severity']} {finding['issue']} in {finding['file']}: {finding['detail']}")
    for entry in stale:
        print(f"STALE explanation, no finding matches it any more: {entry}")
    print(
        f"policy-lint: {len(argv) - 2} policies, {count} findings, "
        f"{count - len(unexplained)} explained, {len(unexplained)} unexplained, {len(stale)} stale"
    )
    return 1 if unexplained or stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
