#!/usr/bin/env python3
"""Extracts the request shapes of the SageMaker operations the emulator serves from the
botocore service model, for the emulator's generic request validator (src/model.rs).

    hack/aws-emulator/model/extract.py [--botocore-data DIR] [--check]

DIR defaults to the botocore of the conformance venv (hack/aws-emulator/conformance/.venv,
created by conformance/run.sh), whose version requirements.txt pins. The output,
model/sagemaker.json, keeps per shape only what validation needs: type, members (in model
order), required members, min/max, pattern, enum, list member and map key/value. --check
compares instead of writing and exits 1 when the committed file is stale.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
OUTPUT = HERE / "sagemaker.json"

# Every SageMaker operation the emulator serves (src/api.rs); a Rust unit test keeps the two
# lists equal.
OPERATIONS = [
    "CreateDomain", "DescribeDomain", "UpdateDomain", "DeleteDomain", "ListDomains",
    "CreateUserProfile", "DescribeUserProfile", "UpdateUserProfile", "DeleteUserProfile", "ListUserProfiles",
    "CreateSpace", "DescribeSpace", "UpdateSpace", "DeleteSpace", "ListSpaces",
    "CreateApp", "DescribeApp", "DeleteApp", "ListApps",
    "AddTags", "ListTags", "DeleteTags",
    "CreateStudioLifecycleConfig", "DescribeStudioLifecycleConfig", "DeleteStudioLifecycleConfig",
    "ListStudioLifecycleConfigs",
    "CreateImage", "DescribeImage", "UpdateImage", "DeleteImage", "ListImages",
    "CreateImageVersion", "DescribeImageVersion", "UpdateImageVersion", "DeleteImageVersion",
    "ListImageVersions", "ListAliases",
    "CreateAppImageConfig", "DescribeAppImageConfig", "UpdateAppImageConfig", "DeleteAppImageConfig",
    "ListAppImageConfigs",
]

KEPT = ("min", "max", "pattern", "enum")


def default_data_dir() -> pathlib.Path:
    venv = HERE.parent / "conformance" / ".venv"
    found = sorted(glob.glob(str(venv / "lib" / "python3*" / "site-packages" / "botocore" / "data")))
    if not found:
        sys.exit(f"no botocore in {venv}: run hack/aws-emulator/conformance/run.sh once, or pass --botocore-data")
    return pathlib.Path(found[-1])


def load(data_dir: pathlib.Path) -> dict:
    path = data_dir / "sagemaker" / "2017-07-24" / "service-2.json.gz"
    if path.exists():
        with gzip.open(path) as f:
            return json.load(f)
    return json.loads((path.with_suffix("")).read_text())


def botocore_version(data_dir: pathlib.Path) -> str:
    init = (data_dir.parent / "__init__.py").read_text()
    for line in init.splitlines():
        if line.startswith("__version__"):
            return line.split("=", 1)[1].strip().strip("'\"")
    return "unknown"


def extract(model: dict, version: str) -> dict:
    shapes = model["shapes"]
    out_shapes: dict[str, dict] = {}

    def visit(name: str) -> None:
        if name in out_shapes:
            return
        shape = shapes[name]
        kept: dict = {"type": shape["type"]}
        for key in KEPT:
            if key in shape:
                kept[key] = shape[key]
        out_shapes[name] = kept
        if shape["type"] == "structure":
            kept["members"] = [[m, spec["shape"]] for m, spec in shape["members"].items()]
            if shape.get("required"):
                kept["required"] = shape["required"]
            for _, spec in shape["members"].items():
                visit(spec["shape"])
        elif shape["type"] == "list":
            kept["member"] = shape["member"]["shape"]
            visit(shape["member"]["shape"])
        elif shape["type"] == "map":
            kept["key"] = shape["key"]["shape"]
            kept["value"] = shape["value"]["shape"]
            visit(shape["key"]["shape"])
            visit(shape["value"]["shape"])

    operations = {}
    for op in OPERATIONS:
        input_shape = model["operations"][op]["input"]["shape"]
        operations[op] = input_shape
        visit(input_shape)
    return {
        "source": f"botocore {version}, sagemaker/2017-07-24 service-2.json (request shapes only)",
        "operations": operations,
        "shapes": dict(sorted(out_shapes.items())),
    }


def render(extracted: dict) -> str:
    return json.dumps(extracted, indent=1, sort_keys=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--botocore-data", type=pathlib.Path, default=None)
    parser.add_argument("--check", action="store_true", help="fail if the committed file differs")
    args = parser.parse_args()
    data_dir = args.botocore_data or default_data_dir()
    text = render(extract(load(data_dir), botocore_version(data_dir)))
    if args.check:
        if OUTPUT.read_text() != text:
            print(f"{OUTPUT} is stale: rerun {pathlib.Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
