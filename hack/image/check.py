#!/usr/bin/env python3
"""`make image-test`: the Dockerfile and the image `make image` built describe the same image.

    hack/image/check.py [--dockerfile Dockerfile] [--binary target/release/studio-operator] ARCHIVE

Checks, each printed as ok/FAIL, then "N passed, N failed":
  - the OCI archive is a well-formed image layout: index.json -> one manifest (linux/amd64,
    named by io.containerd.image.name) -> config and one gzip layer, every blob's digest and size
    as recorded;
  - the Dockerfile's final stage starts FROM scratch and copies only the tree that its builder
    stage made with hack/image/rootfs.sh;
  - user, entrypoint, cmd, exposed ports, labels, environment and working directory of the image
    config equal the final stage's USER, ENTRYPOINT, CMD, EXPOSE, LABEL, ENV and WORKDIR;
  - the layer holds exactly the files hack/image/rootfs.sh makes from the release binary (path,
    type, mode, owner, size, content, link target): nothing missing, nothing else; the binary is
    byte-identical to the release build and carries every file of assets/ (compiled in);
  - the non-root user the Dockerfile names exists in the image's /etc/passwd and /etc/group, and
    the CA bundle is not empty.
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import re
import shlex
import subprocess
import sys
import tarfile
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# BuildKit gives an image built FROM scratch this PATH when no ENV sets one (Linux default).
DOCKER_DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"  ok    {name}")
        else:
            self.failed += 1
            print(f"  FAIL  {name}")
            for line in str(detail).splitlines()[:30]:
                print(f"        | {line}")


def dockerfile_stages(path):
    """The Dockerfile's stages: [(from_line, [(INSTRUCTION, args)])], continuation lines joined."""
    lines, current = [], ""
    for raw in open(path, encoding="utf-8"):
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    stages = []
    for line in lines:
        instr, _, args = line.partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            stages.append((args.strip(), []))
        elif stages:
            stages[-1][1].append((instr, args.strip()))
    return stages


def exec_form(args):
    """ENTRYPOINT/CMD: the JSON (exec) form, or the shell form as Docker runs it."""
    args = args.strip()
    if args.startswith("["):
        return json.loads(args)
    return ["/bin/sh", "-c", args]


def key_values(args):
    """LABEL/ENV k=v pairs (values may be quoted)."""
    out = {}
    for token in shlex.split(args):
        key, sep, value = token.partition("=")
        if not sep:
            raise ValueError(f"not key=value: {token!r} in {args!r}")
        out[key] = value
    return out


def expected_config(stage_instructions):
    config = {"User": "", "Entrypoint": None, "Cmd": None, "ExposedPorts": {}, "Labels": {}, "Env": [], "WorkingDir": ""}
    env = {}
    for instr, args in stage_instructions:
        if instr == "USER":
            config["User"] = args
        elif instr == "ENTRYPOINT":
            config["Entrypoint"] = exec_form(args)
        elif instr == "CMD":
            config["Cmd"] = exec_form(args)
        elif instr == "EXPOSE":
            for port in args.split():
                config["ExposedPorts"][port if "/" in port else port + "/tcp"] = {}
        elif instr == "LABEL":
            config["Labels"].update(key_values(args))
        elif instr == "ENV":
            env.update(key_values(args))
        elif instr == "WORKDIR":
            config["WorkingDir"] = args
    if "PATH" not in env:
        config["Env"].append(DOCKER_DEFAULT_PATH)
    config["Env"] += [f"{k}={v}" for k, v in env.items()]
    return config


class Layout:
    """An OCI archive read into memory: blobs by digest, checked against their descriptors."""

    def __init__(self, path):
        self.tar = tarfile.open(path)
        self.names = {(m.name[2:] if m.name.startswith("./") else m.name): m for m in self.tar.getmembers()}

    def read(self, name):
        return self.tar.extractfile(self.names[name]).read()

    def blob(self, descriptor):
        algo, hexdigest = descriptor["digest"].split(":", 1)
        data = self.read(f"blobs/{algo}/{hexdigest}")
        if hashlib.sha256(data).hexdigest() != hexdigest or len(data) != descriptor["size"]:
            raise ValueError(f"blob {descriptor['digest']} does not match its descriptor")
        return data


def tree_entries_from_tar(data):
    """{path: (type, mode, uid, gid, size, sha256 or link target)} of a layer tar."""
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as layer:
        for m in layer.getmembers():
            name = m.name[2:] if m.name.startswith("./") else m.name
            path = "/" + name.rstrip("/") if name not in ("", ".") else "/"
            if m.isdir():
                out[path] = ("dir", m.mode, m.uid, m.gid, 0, "")
            elif m.issym():
                out[path] = ("symlink", m.mode, m.uid, m.gid, 0, m.linkname)
            elif m.isfile():
                content = layer.extractfile(m).read()
                out[path] = ("file", m.mode, m.uid, m.gid, m.size, hashlib.sha256(content).hexdigest())
            else:
                out[path] = ("other:" + str(m.type), m.mode, m.uid, m.gid, m.size, "")
    return out


def tree_entries_from_dir(root):
    """The same shape for a directory tree; owners are what the image build writes (root)."""
    out = {"/": ("dir", os.stat(root).st_mode & 0o7777, 0, 0, 0, "")}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            path = "/" + os.path.relpath(full, root)
            st = os.lstat(full)
            mode = st.st_mode & 0o7777
            if os.path.islink(full):
                out[path] = ("symlink", mode, 0, 0, 0, os.readlink(full))
            elif os.path.isdir(full):
                out[path] = ("dir", mode, 0, 0, 0, "")
            else:
                with open(full, "rb") as f:
                    out[path] = ("file", mode, 0, 0, st.st_size, hashlib.sha256(f.read()).hexdigest())
    return out


def compiled_in_assets():
    """The files under assets/ that src/ compiles in with include_str!/include_bytes!."""
    found = set()
    for dirpath, _, filenames in os.walk(os.path.join(ROOT, "src")):
        for name in filenames:
            if not name.endswith(".rs"):
                continue
            source = open(os.path.join(dirpath, name), encoding="utf-8").read()
            for rel in re.findall(r'include_(?:str|bytes)!\(\s*"([^"]+)"\s*\)', source):
                path = os.path.normpath(os.path.join(dirpath, rel))
                if path.startswith(os.path.join(ROOT, "assets") + os.sep):
                    found.add(path)
    return sorted(found)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("archive")
    parser.add_argument("--dockerfile", default=os.path.join(ROOT, "Dockerfile"))
    profile_dir = "debug" if os.environ.get("IMAGE_PROFILE") == "dev" else "release"
    parser.add_argument("--binary", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), profile_dir, "studio-operator"))
    args = parser.parse_args()
    c = Checks()

    print(f"== {args.archive}: OCI layout")
    layout = Layout(args.archive)
    c.check("oci-layout says imageLayoutVersion 1.0.0", json.loads(layout.read("oci-layout")).get("imageLayoutVersion") == "1.0.0")
    index = json.loads(layout.read("index.json"))
    c.check("index.json has one manifest", len(index.get("manifests", [])) == 1, index)
    descriptor = index["manifests"][0]
    ref = descriptor.get("annotations", {}).get("io.containerd.image.name", "")
    tag = descriptor.get("annotations", {}).get("org.opencontainers.image.ref.name", "")
    c.check(f"the manifest is named {ref} (tag {tag})", ":" in ref and ref.endswith(":" + tag), descriptor)
    manifest = json.loads(layout.blob(descriptor))
    c.check("manifest media type is OCI", manifest.get("mediaType") == "application/vnd.oci.image.manifest.v1+json", manifest.get("mediaType"))
    config = json.loads(layout.blob(manifest["config"]))
    c.check("platform linux/amd64", (config.get("os"), config.get("architecture")) == ("linux", "amd64"), (config.get("os"), config.get("architecture")))
    layers = manifest.get("layers", [])
    c.check("one gzip layer", len(layers) == 1 and layers[0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip", layers)
    layer_tar = gzip.decompress(layout.blob(layers[0]))
    c.check("the layer's diff_id is in the config", config.get("rootfs", {}).get("diff_ids") == ["sha256:" + hashlib.sha256(layer_tar).hexdigest()], config.get("rootfs"))

    print(f"== {args.dockerfile}: final stage against the image config")
    stages = dockerfile_stages(args.dockerfile)
    final_from, final = stages[-1]
    c.check("the final stage is FROM scratch", final_from == "scratch", final_from)
    copies = [a for i, a in final if i in ("COPY", "ADD")]
    c.check("the final stage copies only the builder's /rootfs/ to /", copies == ["--from=builder /rootfs/ /"], copies)
    builder = dict((f.split()[-1], instrs) for f, instrs in stages[:-1] if " AS " in f.upper())
    builder_runs = [a for i, a in builder.get("builder", []) if i == "RUN"]
    c.check("the builder stage makes /rootfs with hack/image/rootfs.sh", any(re.search(r"\brootfs\.sh \S+ /rootfs$", r) for r in builder_runs)
            and ("COPY", "hack/image/rootfs.sh /usr/local/bin/rootfs.sh") in builder.get("builder", []), builder_runs)
    want = expected_config(final)
    got = config.get("config", {})
    for key in ("User", "Entrypoint", "Cmd", "ExposedPorts", "Labels", "Env", "WorkingDir"):
        empty = {} if key in ("ExposedPorts", "Labels") else [] if key == "Env" else None if key in ("Entrypoint", "Cmd") else ""
        c.check(f"{key}: {json.dumps(want[key])}", (got.get(key) or empty) == (want[key] or empty), f"image: {json.dumps(got.get(key))}")
    c.check("user is non-root (65532)", want["User"].split(":")[0] == "65532", want["User"])

    print(f"== files: the layer against hack/image/rootfs.sh {args.binary}")
    image_tree = tree_entries_from_tar(layer_tar)
    with tempfile.TemporaryDirectory() as tmp:
        rootfs = os.path.join(tmp, "rootfs")
        subprocess.run([os.path.join(ROOT, "hack/image/rootfs.sh"), args.binary, rootfs], check=True)
        want_tree = tree_entries_from_dir(rootfs)
    missing = sorted(set(want_tree) - set(image_tree))
    extra = sorted(set(image_tree) - set(want_tree))
    differ = sorted(p for p in set(want_tree) & set(image_tree) if want_tree[p] != image_tree[p])
    c.check(f"same {len(want_tree)} entries (paths)", not missing and not extra, f"missing: {missing}\nextra: {extra}")
    c.check("same type, mode, owner, size and content for each",
            not differ, "\n".join(f"{p}: image {image_tree[p]} want {want_tree[p]}" for p in differ))
    files = sorted(p for p, e in image_tree.items() if e[0] != "dir")
    print("        files: " + " ".join(files))
    with open(args.binary, "rb") as f:
        binary = f.read()
    entry = image_tree.get("/usr/local/bin/studio-operator")
    c.check("/usr/local/bin/studio-operator is the built binary, mode 0755",
            entry is not None and entry[5] == hashlib.sha256(binary).hexdigest() and entry[1] == 0o755, entry)
    assets = compiled_in_assets()
    not_embedded = [a for a in assets if open(a, "rb").read() not in binary]
    c.check(f"the binary carries the assets the source compiles in: {', '.join(os.path.relpath(a, ROOT) for a in assets)}",
            assets and not not_embedded, not_embedded)
    with tarfile.open(fileobj=io.BytesIO(layer_tar)) as layer:
        def text(path):
            return layer.extractfile("./" + path.lstrip("/")).read().decode()
        uid, _, gid = want["User"].partition(":")
        c.check(f"/etc/passwd has uid {uid} (gid {gid})", any(l.split(":")[2:4] == [uid, gid] for l in text("/etc/passwd").splitlines()))
        c.check(f"/etc/group has gid {gid}", any(l.split(":")[2] == gid for l in text("/etc/group").splitlines()))
        c.check("/etc/ssl/certs/ca-certificates.crt holds certificates", text("/etc/ssl/certs/ca-certificates.crt").count("BEGIN CERTIFICATE") > 50)
    ep = want["Entrypoint"][0] if want["Entrypoint"] else ""
    c.check(f"the entrypoint {ep} is an executable file of the image", ep in image_tree and image_tree[ep][0] == "file" and image_tree[ep][1] & 0o111)

    print()
    print(f"image-test: {c.passed} passed, {c.failed} failed")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
