"""SARIF 2.1.0 for `tgi-infra check --format sarif`: CI annotations on the stack file.

Every finding becomes a result whose physical location is the stack file, at the line of the
setting it names (`tiers[chat].maxTotalTokens`), else of its tier, else line 1; the object or
URN it concerns is the logical location. GitHub code scanning (`upload-sarif`) and most CI
annotators read exactly these fields.
"""

from __future__ import annotations

import os
import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import yaml

from tgi_infra.checkrun.check import CheckReport, Finding
from tgi_infra.policy.catalog import BY_NAME

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
PLATFORM_KEY = "tgi-infra:platform"
PATH_IN_TEXT = re.compile(r"\b((?:tiers|tenants|nodePools)\[[A-Za-z0-9_-]+\](?:\.[A-Za-z]+)*)")
STEP = re.compile(r"([A-Za-z][A-Za-z0-9]*)|\[([^\]]+)\]")


def _child(node: yaml.Node | None, step: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        return next((v for k, v in node.value if getattr(k, "value", None) == step), None)
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            name = _child(item, "name")
            if isinstance(name, yaml.ScalarNode) and name.value == step:
                return item
        if step.isdigit() and int(step) < len(node.value):
            return node.value[int(step)]
    return None


def locate(text: str, path: str) -> int | None:
    """1-based line of a stack-terms path (`tiers[chat].maxTotalTokens`) in a stack file;
    the deepest part of the path that exists."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return None
    node = _child(_child(root, "config"), PLATFORM_KEY)
    line = node.start_mark.line + 1 if node is not None else None
    for key, index in STEP.findall(path):
        node = _child(node, key or index)
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


def _line(text: str, finding: Finding) -> int:
    paths = [finding.where] if finding.source == "config" else []
    found = PATH_IN_TEXT.findall(finding.message) + PATH_IN_TEXT.findall(finding.where)
    paths += sorted(found, key=lambda p: -p.count("."))  # the most specific setting first
    for path in paths:
        line = locate(text, path)
        if line:
            return line
    return 1


def _uri(path: Path) -> str:
    try:
        rel = os.path.relpath(path.resolve(), Path.cwd())
    except ValueError:
        rel = str(path.resolve())
    return Path(rel).as_posix() if not rel.startswith("..") else path.resolve().as_uri()


def _rule(finding: Finding) -> dict[str, Any]:
    spec = BY_NAME.get(finding.rule) if finding.source == "policy" else None
    description = spec.description if spec else finding.description or finding.rule
    rule: dict[str, Any] = {
        "id": finding.rule,
        "name": finding.rule,
        "shortDescription": {"text": description},
        "properties": {"source": finding.source},
    }
    if spec:
        rule["fullDescription"] = {"text": spec.rationale}
        rule["helpUri"] = f"policy/README.md#{spec.name}"
    return rule


def _version() -> str:
    try:
        return version("tgi-infra")
    except PackageNotFoundError:
        return "0"


def to_sarif(report: CheckReport) -> dict[str, Any]:
    try:
        text = report.stack_file.read_text()
    except OSError:
        text = ""
    rules: dict[str, dict[str, Any]] = {}
    results = []
    for f in report.findings:
        if f.rule not in rules:
            rules[f.rule] = _rule(f)
        message = f.message + (f" Fix: {f.fix}" if f.fix else "")
        results.append(
            {
                "ruleId": f.rule,
                "ruleIndex": list(rules).index(f.rule),
                "level": f.level,
                "message": {"text": f"{f.where}: {message}" if f.where else message},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": _uri(report.stack_file)},
                            "region": {"startLine": _line(text, f)},
                        },
                        "logicalLocations": [{"fullyQualifiedName": f.where or report.stack}],
                    }
                ],
                "properties": {"source": f.source, "enforcement": f.enforcement or f.level},
            }
        )
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "tgi-infra",
                        "version": _version(),
                        "rules": list(rules.values()),
                    }
                },
                "automationDetails": {"id": f"tgi-infra-check/{report.stack}/"},
                "results": results,
            }
        ],
    }
