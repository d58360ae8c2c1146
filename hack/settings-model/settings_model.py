"""The SageMaker settings shapes the CRDs model, read from the pinned botocore service model, and
the rules that map them to CRD fields. Shared by generate.py (the Rust CRD types) and
coverage.py (the coverage test).

Naming: a CRD field is the API member name in lowerCamelCase (`lower_camel`), so AWS's
documentation maps one to one: `CustomImages` -> `customImages`, `EFSFileSystemConfig` ->
`efsFileSystemConfig`, `RStudioServerProAppSettings` -> `rStudioServerProAppSettings`.
"""

from __future__ import annotations

import dataclasses
import glob
import gzip
import html
import json
import pathlib
import re
import sys

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
BOTOCORE_VERSION = "1.44.8"
VENV = REPO / "target" / "settings-model-venv"

def lower_camel(name: str) -> str:
    """The CRD field name of an API member: the leading acronym in lower case."""
    if name.startswith("FSx"):
        return "fsx" + name[3:]
    run = len(name) - len(name.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    if run == 0:
        return name
    if run > 1 and run < len(name) and name[run].islower():
        run -= 1
    return name[:run].lower() + name[run:]


def snake(name: str) -> str:
    """The Rust field name of a CRD field name."""
    out = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    out = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", out)
    return out.lower()


def pascal(name: str) -> str:
    """The Rust type name of a shape (acronyms as words)."""
    return "".join(part[:1].upper() + part[1:] for part in snake(lower_camel(name)).split("_"))


def variant(value: str) -> str:
    """The Rust variant name of an enum value: `ml.t3.medium` -> `MlT3Medium`."""
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", value) if p]
    words = []
    for part in parts:
        if part.isupper() or part.islower():
            words.append(part[:1].upper() + part[1:].lower())
        else:
            words.append(part[:1].upper() + part[1:])
    name = "".join(words)
    return name if not name[:1].isdigit() else "V" + name


# The settings structures the CRDs model, and the CRD field each one becomes. `exclude` names
# members of the root that the CRD models elsewhere (under the operator's own names, which
# predate this mapping) and where.
ROOTS = {
    "UserSettings": {
        "crd": ["StudioDomain.spec.defaultUserSettings", "UserProfile.spec.userSettings"],
        "exclude": {},
    },
    "DefaultSpaceSettings": {"crd": ["StudioDomain.spec.defaultSpaceSettings"], "exclude": {}},
    "SpaceSettings": {
        "crd": ["SharedSpace.spec.settings"],
        "exclude": {"AppType": "SharedSpace.spec.appType"},
    },
    "DomainSettings": {
        "crd": ["StudioDomain.spec.domainSettings"],
        "exclude": {
            "SecurityGroupIds": "StudioDomain.spec.network.securityGroupIds",
            "ExecutionRoleIdentityConfig": "StudioDomain.spec.executionRoleIdentity",
        },
    },
}

# Enum shapes used by hand-written CRD fields outside the settings structures.
EXTRA_ENUMS = ["AppSecurityGroupManagement", "HomeEfsFileSystemCreation"]

# UpdateDomain's DomainSettingsForUpdate names the RStudio member differently; the CRD has one
# field for both.
FOR_UPDATE_RENAMES = {"RStudioServerProDomainSettingsForUpdate": "RStudioServerProDomainSettings"}

# Limits the model states only in prose.
OVERRIDES = {
    ("UserSettings", "SecurityGroups"): {
        "max": 4,
        "why": "at most 4: SageMaker adds its own NFS security group to the 5 the API allows",
    },
}


@dataclasses.dataclass
class Extra:
    """A CRD field that is not an API member: an earlier name of one (kept so that manifests
    written for earlier versions still apply) or one of the operator's shortcuts. `replaces`
    lists the API member paths it fills; setting both is refused."""

    name: str
    rust_type: str
    doc: str
    replaces: list[str]
    attrs: list[str] = dataclasses.field(default_factory=list)
    optional: bool = True
    # Required API members that may be left out when this field is set (the operator fills them
    # in from what the field names), with the struct rules that say when.
    relaxes: list[str] = dataclasses.field(default_factory=list)
    rules: list[tuple[str, str]] = dataclasses.field(default_factory=list)


def _lifecycle_refs() -> Extra:
    return Extra(
        name="lifecycleConfigs",
        rust_type="Vec<super::LifecycleConfigRef>",
        doc="StudioLifecycleConfigs of this namespace by name, added to `lifecycleConfigArns` when "
        "they are Ready; the one marked `default` runs when the user picks none "
        "(`defaultResourceSpec.lifecycleConfigArn`).",
        replaces=[],
        attrs=[
            "#[x_kube(validation = Rule::new(\"self.filter(c, has(c.default) && c.default).size() <= 1\")"
            ".message(\"at most one lifecycle configuration can be the default\"))]",
            "#[schemars(length(max = 30))]",
        ],
        optional=False,
    )


def _earlier(api: str, crd: str, rust_type: str, note: str = "") -> Extra:
    return Extra(
        name=crd,
        rust_type=rust_type,
        doc=f"Earlier name of `{lower_camel(api)}`{note}, kept so that manifests written for earlier "
        f"versions apply. Prefer `{lower_camel(api)}`; set one of the two.",
        replaces=[api],
    )


_APP_EARLIER = " with the shortcut `idle` for the level's idle timeout"
EXTRAS: dict[str, list[Extra]] = {
    "UserSettings": [
        _earlier("SharingSettings", "sharing", "legacy::SharingSettings", " (with `notebookOutput`)"),
        _earlier("JupyterLabAppSettings", "jupyterLab", "legacy::JupyterLabSettings", _APP_EARLIER),
        _earlier("CodeEditorAppSettings", "codeEditor", "legacy::CodeEditorSettings", _APP_EARLIER),
        _earlier("KernelGatewayAppSettings", "kernelGateway", "legacy::KernelGatewaySettings"),
        _earlier("SpaceStorageSettings", "spaceStorage", "legacy::SpaceStorageSettings"),
    ],
    "DefaultSpaceSettings": [
        _earlier("JupyterLabAppSettings", "jupyterLab", "legacy::JupyterLabSettings", _APP_EARLIER),
        _earlier("KernelGatewayAppSettings", "kernelGateway", "legacy::KernelGatewaySettings"),
        _earlier("SpaceStorageSettings", "spaceStorage", "legacy::SpaceStorageSettings"),
    ],
    "SpaceSettings": [
        Extra(
            name="defaultResourceSpec",
            rust_type="legacy::ResourceSpec",
            doc="Shortcut: the default image, instance type and lifecycle configuration of the "
            "space's app type (`<appType>AppSettings.defaultResourceSpec`).",
            replaces=["JupyterLabAppSettings.DefaultResourceSpec", "CodeEditorAppSettings.DefaultResourceSpec"],
        ),
        Extra(
            name="ebsVolumeSizeGb",
            rust_type="i32",
            doc="Shortcut: EBS volume size, 5 to 16384 GiB "
            "(`spaceStorageSettings.ebsStorageSettings.ebsVolumeSizeInGb`).",
            replaces=["SpaceStorageSettings"],
            attrs=["#[schemars(range(min = 5, max = 16384))]"],
        ),
        Extra(
            name="idleTimeoutMinutes",
            rust_type="i32",
            doc="Shortcut: idle timeout in minutes, 60 to 525600, of the space's app type "
            "(`<appType>AppSettings.appLifecycleManagement.idleSettings.idleTimeoutInMinutes`).",
            replaces=["JupyterLabAppSettings.AppLifecycleManagement", "CodeEditorAppSettings.AppLifecycleManagement"],
            attrs=["#[schemars(range(min = 60, max = 525600))]"],
        ),
    ],
    "JupyterLabAppSettings": [_lifecycle_refs()],
    "CodeEditorAppSettings": [_lifecycle_refs()],
    "KernelGatewayAppSettings": [_lifecycle_refs()],
    "JupyterServerAppSettings": [_lifecycle_refs()],
    "CustomImage": [
        Extra(
            name="imageRef",
            rust_type="String",
            doc="A StudioImage of this namespace by name: `imageName` and `appImageConfigName` "
            "are filled in from its status when it is Ready.",
            replaces=[],
            attrs=["#[schemars(length(min = 1, max = 253))]"],
            optional=False,
            relaxes=["ImageName", "AppImageConfigName"],
            rules=[
                (
                    "has(self.imageRef) != (has(self.imageName) && has(self.appImageConfigName))",
                    "set imageRef, or imageName and appImageConfigName",
                ),
                (
                    "!has(self.imageRef) || (!has(self.imageName) && !has(self.appImageConfigName))",
                    "set imageRef or imageName and appImageConfigName, not both",
                ),
            ],
        )
    ],
    "CustomFileSystem": [
        Extra(
            name="efsFileSystemId",
            rust_type="String",
            doc="Shortcut (and earlier form): the id of an EFS file system to mount "
            "(`efsFileSystem.fileSystemId`).",
            replaces=["EFSFileSystem"],
            attrs=[
                "#[x_kube(validation = Rule::new(\"self.matches('^fs-[0-9a-f]{8,40}$')\")"
                ".message(\"must be an EFS id such as fs-0123456789abcdef0\"))]",
                "#[schemars(length(max = 64))]",
            ],
        ),
    ],
}

# Friendly messages for the patterns of common string shapes (CEL on single values; values in
# lists keep the schema's plain `pattern`, which costs nothing in CEL's budget).
PATTERN_MESSAGES = {
    "RoleArn": "must be an IAM role ARN such as arn:aws:iam::123456789012:role/SageMakerExecution",
    "ImageArn": "must be a SageMaker image ARN such as arn:aws:sagemaker:us-east-1:123456789012:image/my-image",
    "ImageVersionArn": "must be a SageMaker image version ARN such as "
    "arn:aws:sagemaker:us-east-1:123456789012:image-version/my-image/1, or None",
    "StudioLifecycleConfigArn": "must be a Studio lifecycle configuration ARN such as "
    "arn:aws:sagemaker:us-east-1:123456789012:studio-lifecycle-config/my-config, or None",
    "StudioResourceSpecTrainingPlanArn": "must be a training plan ARN such as "
    "arn:aws:sagemaker:us-east-1:123456789012:training-plan/my-plan, or None",
    "S3Uri": "must be an S3 URI such as s3://my-bucket/prefix/",
    "S3SchemaUri": "must be an S3 URI such as s3://my-bucket/prefix/",
    "KmsKeyId": "must be a KMS key id, key ARN, alias/NAME or alias ARN",
    "FileSystemId": "must be a file system id such as fs-0123456789abcdef0",
    "FileSystemPath": "must be an absolute path such as /shared",
    "AccountId": "must be a 12-digit AWS account id",
    "SecretArn": "must be a Secrets Manager secret ARN",
    "QProfileArn": "must be an Amazon Q Developer profile ARN",
    "SingleSignOnApplicationArn": "must be an IAM Identity Center application ARN",
}


def botocore_data() -> pathlib.Path:
    found = sorted(glob.glob(str(VENV / "lib" / "python3*" / "site-packages" / "botocore")))
    if not found:
        sys.exit(f"no botocore in {VENV}: run hack/settings-model/run.sh generate.py (it creates the venv)")
    botocore = pathlib.Path(found[-1])
    version = re.search(r"__version__ = ['\"]([^'\"]+)", (botocore / "__init__.py").read_text()).group(1)
    if version != BOTOCORE_VERSION:
        sys.exit(f"{VENV} has botocore {version}, not the pinned {BOTOCORE_VERSION}")
    return botocore / "data"


def load_model() -> dict:
    path = botocore_data() / "sagemaker" / "2017-07-24" / "service-2.json.gz"
    with gzip.open(path) as f:
        return json.load(f)


def doc_text(markup: str, limit: int = 420) -> str:
    """A plain-text summary of model documentation: whole sentences, at most `limit` characters."""
    text = re.sub(r"<code>(.*?)</code>", r"`\1`", markup or "", flags=re.S)
    text = re.sub(r"</p>|<br\s*/?>|</li>", "\n", text)
    text = re.sub(r"<[^>]+>", "", text)
    text = html.unescape(text)
    paragraphs = [" ".join(p.split()) for p in text.split("\n")]
    text = " ".join(p for p in paragraphs if p)
    if len(text) <= limit:
        return text
    sentences = re.split(r"(?<=[.!?])\s+", text)
    out = ""
    for sentence in sentences:
        if len(out) + len(sentence) + 1 > limit:
            break
        out = f"{out} {sentence}".strip()
    return out or text[: limit - 3].rstrip() + "..."


def is_deprecated(ref: dict, shape: dict) -> bool:
    return bool(ref.get("deprecated") or shape.get("deprecated"))


@dataclasses.dataclass
class Leaf:
    """One leaf member of a settings structure: a scalar or a list of scalars."""

    path: str  # API member path, `[]` after a list of structures: `CustomImages[].ImageName`
    shape: str
    deprecated: bool

    def crd_path(self, root_crd: str, exclude: dict[str, str]) -> str:
        head = self.path.split(".")[0].removesuffix("[]")
        if head in exclude:
            return exclude[head]
        parts = [lower_camel(p.removesuffix("[]")) + ("[]" if p.endswith("[]") else "") for p in self.path.split(".")]
        return root_crd + "." + ".".join(parts)


def leaves(model: dict, shape_name: str, prefix: str = "", deprecated: bool = False) -> list[Leaf]:
    """Every leaf of a structure, depth first, in model order."""
    shapes = model["shapes"]
    out = []
    for member, ref in shapes[shape_name]["members"].items():
        target = shapes[ref["shape"]]
        gone = deprecated or is_deprecated(ref, target)
        path = f"{prefix}{member}"
        if target["type"] == "structure":
            out += leaves(model, ref["shape"], path + ".", gone)
        elif target["type"] == "list" and shapes[target["member"]["shape"]]["type"] == "structure":
            out += leaves(model, target["member"]["shape"], path + "[].", gone)
        else:
            out.append(Leaf(path, ref["shape"], gone))
    return out
