#!/usr/bin/env python3
"""Generates the CRD types of the SageMaker settings structures from the pinned botocore model.

    hack/settings-model/generate.py [--check]

Writes src/api/settings/generated.rs: one Rust struct per structure shape reachable from the
roots in settings_model.ROOTS (UserSettings, DefaultSpaceSettings, SpaceSettings,
DomainSettings), one Rust enum per enum shape, with the model's documentation as doc comments
(`kubectl explain`), its enums, ranges, lengths and patterns as schema validation (patterns
matched in full, as SageMaker does; friendly CEL messages for common shapes), union shapes as
"exactly one of" CEL rules, and `ToDoc` conversions to the structure as the API names it.
Fields are the API members in lowerCamelCase, plus the extras of settings_model.EXTRAS (earlier
names and shortcuts; `effective()` in src/api/settings/mod.rs folds them into API members).
--check compares instead of writing and exits 1 when the committed file is stale.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import textwrap

from settings_model import (
    BOTOCORE_VERSION,
    EXTRA_ENUMS,
    EXTRAS,
    OVERRIDES,
    PATTERN_MESSAGES,
    REPO,
    ROOTS,
    doc_text,
    load_model,
    lower_camel,
    pascal,
    snake,
    variant,
)

OUTPUT = REPO / "src" / "api" / "settings" / "generated.rs"


def rust_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def raw_str(text: str) -> str:
    hashes = "#"
    while f'"{hashes}' in text:
        hashes += "#"
    return f'r{hashes}"{text}"{hashes}'


def doc_lines(text: str, indent: str) -> list[str]:
    lines = textwrap.wrap(text, width=100 - len(indent) - 4, break_long_words=False, break_on_hyphens=False)
    return [f"{indent}/// {line}".rstrip() for line in lines] or [f"{indent}///"]


# The largest repeat count RE2 accepts (the apiserver's schema patterns and CEL use RE2).
RE2_MAX_REPEAT = 1000


def re2_repeats(pattern: str) -> str:
    """The pattern with repeat bounds above RE2's limit left open (`{3,1016}` -> `{3,}`): the
    member's maxLength still bounds the value, and the apiserver refuses the CRD otherwise."""

    def bound(match: re.Match) -> str:
        low, high = match.group(1), match.group(2)
        return f"{{{low},}}" if int(high) > RE2_MAX_REPEAT else match.group(0)

    return re.sub(r"\{(\d+),(\d+)\}", bound, pattern)


def full_pattern(pattern: str) -> str:
    """SageMaker matches a member's pattern against the whole value."""
    return f"^(?:{re2_repeats(pattern)})$"


class Generator:
    def __init__(self, model: dict):
        self.model = model
        self.shapes = model["shapes"]
        self.structs: list[str] = []
        self.enums: list[str] = []

    def collect(self) -> None:
        seen = set()

        def visit(name: str) -> None:
            if name in seen:
                return
            seen.add(name)
            shape = self.shapes[name]
            if shape["type"] == "structure":
                self.structs.append(name)
                excluded = ROOTS.get(name, {}).get("exclude", {})
                for member, ref in shape["members"].items():
                    if member not in excluded:
                        visit(ref["shape"])
            elif shape["type"] == "list":
                visit(shape["member"]["shape"])
            elif "enum" in shape:
                self.enums.append(name)

        for root in ROOTS:
            visit(root)
        for name in EXTRA_ENUMS:
            visit(name)

    def rust_type(self, shape_name: str) -> str:
        shape = self.shapes[shape_name]
        kind = shape["type"]
        if kind == "structure" or (kind == "string" and "enum" in shape):
            return pascal(shape_name)
        if kind == "list":
            return f"Vec<{self.rust_type(shape['member']['shape'])}>"
        return {"string": "String", "integer": "i32", "long": "i64", "boolean": "bool"}[kind]

    def validation(self, struct: str, member: str, shape_name: str) -> tuple[list[str], list[str]]:
        """(schemars validations, x_kube rules) for a member."""
        shape = self.shapes[shape_name]
        override = OVERRIDES.get((struct, member), {})
        schemars: list[str] = []
        rules: list[str] = []

        def bounds(kind: str, spec: dict) -> str | None:
            parts = [f"{k} = {spec[k]}" for k in ("min", "max") if k in spec and not (k == "min" and spec[k] == 0 and kind == "length")]
            return f"{kind}({', '.join(parts)})" if parts else None

        kind = shape["type"]
        if kind == "string" and "enum" not in shape:
            if b := bounds("length", shape):
                schemars.append(b)
            if "pattern" in shape:
                if shape_name in PATTERN_MESSAGES:
                    cel = full_pattern(shape["pattern"]).replace("\\", "\\\\").replace("'", "\\'")
                    rules.append(f"Rule::new({rust_str(f'self.matches({chr(39)}{cel}{chr(39)})')})"
                                 f".message({rust_str(PATTERN_MESSAGES[shape_name])})")
                else:
                    schemars.append(f"pattern({raw_str(full_pattern(shape['pattern']))})")
        elif kind in ("integer", "long"):
            if b := bounds("range", shape):
                schemars.append(b)
        elif kind == "list":
            spec = dict(shape)
            spec.update({k: v for k, v in override.items() if k in ("min", "max")})
            if b := bounds("length", spec):
                schemars.append(b)
            item = self.shapes[shape["member"]["shape"]]
            if item["type"] == "string" and "enum" not in item:
                inner = []
                if b := bounds("length", item):
                    inner.append(b)
                if "pattern" in item:
                    inner.append(f"pattern({raw_str(full_pattern(item['pattern']))})")
                if inner:
                    schemars.append(f"inner({', '.join(inner)})")
        return schemars, rules

    def member_doc(self, struct: str, member: str, ref: dict) -> str:
        text = doc_text(ref.get("documentation") or self.shapes[ref["shape"]].get("documentation", ""))
        why = OVERRIDES.get((struct, member), {}).get("why")
        if why:
            text = f"{text} Here {why}."
        return text or f"`{member}`."

    def struct_rules(self, name: str) -> list[str]:
        shape = self.shapes[name]
        rules = []
        if shape.get("union"):
            fields = [lower_camel(m) for m in shape["members"]] + [e.name for e in EXTRAS.get(name, [])]
            has = ", ".join(f"has(self.{f})" for f in fields)
            rules.append(
                f"Rule::new({rust_str(f'[{has}].filter(x, x).size() == 1')})"
                f".message({rust_str('set exactly one of ' + ', '.join(fields))})"
            )
        for extra in EXTRAS.get(name, []):
            for rule, message in extra.rules:
                rules.append(f"Rule::new({rust_str(rule)}).message({rust_str(message)})")
            if not extra.replaces:
                continue
            clashes = []
            for path in extra.replaces:
                parts = [lower_camel(p) for p in path.split(".")]
                chain = " && ".join(f"has(self.{'.'.join(parts[: i + 1])})" for i in range(len(parts)))
                clashes.append(f"({chain})")
            names = " or ".join(".".join(lower_camel(p) for p in path.split(".")) for path in extra.replaces)
            rule = f"!has(self.{extra.name}) || !({' || '.join(clashes)})"
            rules.append(f"Rule::new({rust_str(rule)}).message({rust_str(f'set {extra.name} or {names}, not both')})")
        return rules

    def render_struct(self, name: str) -> tuple[list[str], list[str]]:
        shape = self.shapes[name]
        rust = pascal(name)
        excluded = ROOTS.get(name, {}).get("exclude", {})
        extras = EXTRAS.get(name, [])
        relaxed = {member for extra in extras for member in extra.relaxes}
        required = set(shape.get("required", [])) - relaxed
        members = [(m, r) for m, r in shape["members"].items() if m not in excluded]
        needs_default = any(m in required and "enum" in self.shapes[r["shape"]] for m, r in members)
        derives = "KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq"
        if not needs_default:
            derives += ", Default"
        out = doc_lines(doc_text(shape.get("documentation", "")) or f"`{name}`.", "")
        if excluded:
            out += ["///"] + doc_lines(
                "Not here: " + "; ".join(f"`{m}` is {where}" for m, where in excluded.items()) + ".", ""
            )
        out.append(f"#[derive({derives})]")
        for rule in self.struct_rules(name):
            out.append(f"#[x_kube(validation = {rule})]")
        out.append(f"pub struct {rust} {{")
        to_doc = [f"impl ToDoc for {rust} {{", "    fn to_doc(&self) -> Value {"]
        for extra in extras:
            if extra.optional:
                to_doc.append(
                    f'        debug_assert!(self.{snake(extra.name)}.is_none(), "fold {extra.name} with effective() first");'
                )
        to_doc.append("        let mut doc = Map::new();")
        for member, ref in members:
            crd = lower_camel(member)
            field = snake(crd)
            kind = self.rust_type(ref["shape"])
            optional = member not in required
            out += doc_lines(self.member_doc(name, member, ref), "    ")
            serde = f'rename = "{crd}"'
            if member in relaxed:
                serde += ', default, skip_serializing_if = "String::is_empty"'
            elif optional:
                serde += ', default, skip_serializing_if = "Option::is_none"'
                kind = f"Option<{kind}>"
            out.append(f"    #[serde({serde})]")
            schemars, rules = self.validation(name, member, ref["shape"])
            for rule in rules:
                out.append(f"    #[x_kube(validation = {rule})]")
            if schemars:
                out.append(f"    #[schemars({', '.join(schemars)})]")
            out.append(f"    pub {field}: {kind},")
            if member in relaxed:
                # Empty until a reference is resolved; never sent empty.
                to_doc.append(f"        if !self.{field}.is_empty() {{")
                to_doc.append(f'            doc.insert("{member}".into(), self.{field}.to_doc());')
                to_doc.append("        }")
            elif optional:
                to_doc.append(f"        if let Some(value) = &self.{field} {{")
                to_doc.append(f'            doc.insert("{member}".into(), value.to_doc());')
                to_doc.append("        }")
            else:
                to_doc.append(f'        doc.insert("{member}".into(), self.{field}.to_doc());')
        for extra in extras:
            out += doc_lines(extra.doc, "    ")
            out.append(f'    #[serde(rename = "{extra.name}", default, skip_serializing_if = "Option::is_none")]')
            out += [f"    {attr}" for attr in extra.attrs]
            out.append(f"    pub {snake(extra.name)}: Option<{extra.rust_type}>,")
        out.append("}")
        to_doc += ["        Value::Object(doc)", "    }", "}"]
        return out, to_doc

    def render_enum(self, name: str) -> list[str]:
        shape = self.shapes[name]
        rust = pascal(name)
        variants = [(variant(v), v) for v in shape["enum"]]
        assert len({v for v, _ in variants}) == len(variants), f"{name}: variant names collide"
        out = doc_lines(doc_text(shape.get("documentation", "")) or f"`{name}`.", "")
        out.append("#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]")
        out.append(f"pub enum {rust} {{")
        for v, value in variants:
            out.append(f'    #[serde(rename = "{value}")]')
            out.append(f"    {v},")
        out.append("}")
        out.append("")
        out.append(f"impl {rust} {{")
        out.append("    /// Every value, in the model's order.")
        out.append(f"    pub const ALL: &[{rust}] = &[")
        out += [f"        {rust}::{v}," for v, _ in variants]
        out.append("    ];")
        out.append("")
        out.append("    /// The value as the API spells it.")
        out.append("    pub fn as_str(self) -> &'static str {")
        out.append("        match self {")
        out += [f'            {rust}::{v} => "{value}",' for v, value in variants]
        out.append("        }")
        out.append("    }")
        out.append("}")
        out.append("")
        out.append(f"impl ToDoc for {rust} {{")
        out.append("    fn to_doc(&self) -> Value {")
        out.append("        Value::String(self.as_str().into())")
        out.append("    }")
        out.append("}")
        return out

    def render(self) -> str:
        self.collect()
        lines = [
            f"//! The SageMaker settings structures as CRD types, generated by hack/settings-model/generate.py",
            f"//! from the SageMaker service model of botocore {BOTOCORE_VERSION}: do not edit; change the",
            "//! generator (or settings_model.py) and run `make settings`.",
            "",
            "use kube::KubeSchema;",
            "use schemars::JsonSchema;",
            "use serde::{Deserialize, Serialize};",
            "use serde_json::{Map, Value};",
            "",
            "use super::{ToDoc, legacy};",
            "",
            f'/// The botocore release the types were generated from.',
            f'pub const BOTOCORE_VERSION: &str = "{BOTOCORE_VERSION}";',
        ]
        for name in self.structs:
            struct, to_doc = self.render_struct(name)
            lines += [""] + struct + [""] + to_doc
        for name in sorted(self.enums):
            lines += [""] + self.render_enum(name)
        return "\n".join(lines) + "\n"


def rustfmt(text: str) -> str:
    """The text as `cargo fmt` leaves it (rustfmt.toml of the repository), so that --check and
    `make fmt-check` agree."""
    done = subprocess.run(
        ["rustfmt", "--edition", "2024", "--config-path", str(REPO / "rustfmt.toml")],
        input=text, capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        sys.exit(f"rustfmt failed on the generated code:\n{done.stderr}")
    return done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail if the committed file differs")
    args = parser.parse_args()
    text = rustfmt(Generator(load_model()).render())
    if args.check:
        if not OUTPUT.exists() or OUTPUT.read_text() != text:
            print(f"{OUTPUT.relative_to(REPO)} is stale: run `make settings` and commit the result", file=sys.stderr)
            return 1
        print(f"{OUTPUT.relative_to(REPO)} is up to date")
        return 0
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT.relative_to(REPO)} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
