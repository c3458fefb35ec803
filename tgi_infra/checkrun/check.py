"""`tgi-infra check`: everything a preview would tell a reviewer, without the Pulumi CLI.

validate (config checks) → offline plan (the real program under mocks) → schema validation
of every rendered Kubernetes object → the policy pack, started and called over gRPC the way
the engine does (`harness.py`). Findings are printed grouped by check or policy; the exit
code is 1 when a config check errs, an object breaks its schema or a mandatory policy fails.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from rich.console import Console
from rich.markup import escape

from tgi_infra.checkrun.harness import POLICY_DIR, AnalysisResult, analyze_plan

Source = Literal["config", "schema", "policy"]
Level = Literal["error", "warning"]
SCHEMA_RULE = "kubernetes-schema"
SCHEMA_SKIPPED_RULE = "kubernetes-schema-unavailable"
BLIND_SPOT_RULE = "policy-blind-spot"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod")


@dataclass(frozen=True)
class Finding:
    """One thing `check` reports: a config problem, a schema error or a policy violation."""

    source: Source
    rule: str
    level: Level
    message: str
    where: str = ""
    fix: str = ""
    enforcement: str = ""
    description: str = ""


@dataclass
class CheckReport:
    stack: str
    stack_file: Path
    environment: str | None = None
    planned: bool = False
    resources: int = 0
    objects: int = 0
    pack: str = ""
    pack_version: str = ""
    pack_config: Path | None = None
    policy_levels: dict[str, str] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(f.level == "error" for f in self.findings)

    def of(self, source: Source) -> list[Finding]:
        return [f for f in self.findings if f.source == source]

    def grouped(self, source: Source) -> dict[str, list[Finding]]:
        out: dict[str, list[Finding]] = {}
        for f in sorted(self.of(source), key=lambda f: (f.rule, f.where)):
            out.setdefault(f.rule, []).append(f)
        return out


def default_pack_config(stack: str, pack_dir: Path = POLICY_DIR) -> Path | None:
    """`policy/config/<stack>.json` when it exists, as the CI template passes it."""
    path = pack_dir / "config" / f"{stack}.json"
    return path if path.is_file() else None


def _where(inputs: Mapping[str, Any], fallback: str) -> str:
    meta = inputs.get("metadata") if isinstance(inputs.get("metadata"), Mapping) else {}
    kind, name, ns = inputs.get("kind"), meta.get("name"), meta.get("namespace")
    if isinstance(kind, str) and isinstance(name, str):
        return f"{kind} {ns}/{name}" if ns else f"{kind} {name}"
    return fallback


def schema_findings(objects: list[dict[str, Any]]) -> list[Finding]:
    """Every rendered object against its schema; kinds without one are listed once."""
    from tgi_infra.offline.plan import REDACTED
    from tgi_infra.validation import SchemaUnavailable, validate_object

    out: list[Finding] = []
    unavailable: dict[str, str] = {}
    for obj in objects:
        # A field the plan shows as `[secret]` (a Secret's stringData) has no shape offline.
        visible = {k: v for k, v in obj.items() if v != REDACTED}
        try:
            errors = validate_object(visible)
        except SchemaUnavailable as exc:
            unavailable.setdefault(f"{obj.get('apiVersion')}/{obj.get('kind')}", str(exc))
            continue
        out += [
            Finding(
                "schema",
                SCHEMA_RULE,
                "error",
                e,
                _where(obj, ""),
                "fix the builder (this is a bug in tgi-infra or a component override).",
            )
            for e in errors
        ]
    out += [
        Finding(
            "schema",
            SCHEMA_SKIPPED_RULE,
            "warning",
            f"not validated: {why}",
            kind,
            "set TGI_INFRA_CRDS to a folder of CRD YAML files.",
        )
        for kind, why in sorted(unavailable.items())
    ]
    return out


def blind_spots(resources: list[Any]) -> list[Finding]:
    """Workloads whose spec the plan could only show as a secret: policies cannot see in."""
    from tgi_infra.offline.plan import REDACTED

    return [
        Finding(
            "schema",
            BLIND_SPOT_RULE,
            "warning",
            "spec is a secret in the plan (an input derived from a secret), so no policy "
            "can inspect its pods and previews show no diff of it.",
            _where(r.inputs, r.urn),
            "unsecret the derived value (e.g. pulumi.Output.unsecret on a hash).",
        )
        for r in resources
        if r.inputs.get("kind") in WORKLOAD_KINDS and r.inputs.get("spec") == REDACTED
    ]


def policy_findings(analysis: AnalysisResult, resources: list[Any]) -> list[Finding]:
    by_urn = {r.urn: r for r in resources}
    out = []
    for d in analysis.diagnostics:
        r = by_urn.get(d.urn)
        where = _where(r.inputs, r.urn) if r is not None else (d.urn or "stack")
        level: Level = "error" if d.mandatory else "warning"
        out.append(
            Finding(
                "policy",
                d.policy,
                level,
                d.message,
                where,
                enforcement=d.enforcement,
                description=d.description,
            )
        )
    return out


def run_check(
    stack_path: Path,
    stack: str,
    *,
    pack_config: Path | None = None,
    pack_dir: Path = POLICY_DIR,
) -> CheckReport:
    """All of `check` for one stack file; ConfigInvalid when it cannot even be parsed."""
    from tgi_infra.checks.stack import validate_stack_config
    from tgi_infra.config.loader import read_stack_file
    from tgi_infra.offline.plan import run_offline
    from tgi_infra.program import main as program

    config = read_stack_file(stack_path)
    validation = validate_stack_config(config, str(stack_path))
    report = CheckReport(stack, stack_path, environment=validation.config.environment)
    report.findings += [
        Finding("config", p.check, p.severity, p.message, p.path, p.fix)
        for p in validation.problems
    ]
    if not validation.ok:
        return report  # the program refuses such a stack: there is nothing to plan
    plan = run_offline(program, config, stack=stack)
    objects = plan.kubernetes_objects()
    report.planned, report.resources, report.objects = True, len(plan.resources), len(objects)
    report.findings += schema_findings(objects) + blind_spots(plan.resources)
    report.pack_config = pack_config
    analysis = analyze_plan(
        plan.resources,
        stack=stack,
        stack_config=config,
        pack_config=pack_config,
        pack_dir=pack_dir,
    )
    report.pack, report.pack_version = analysis.pack, analysis.version
    report.policy_levels = {k: v["enforcementLevel"] for k, v in analysis.config.items()}
    report.findings += policy_findings(analysis, plan.resources)
    return report


# ------------------------------------------------------------------ output


def _subject_and_message(f: Finding) -> str:
    """`where: message`, unless the message already starts by naming its object."""
    if f.where and f.message.startswith((f.where, f.where.replace(" ", "/", 1))):
        return escape(f.message)
    return f"[bold]{escape(f.where)}[/bold]: {escape(f.message)}" if f.where else escape(f.message)


def print_text(report: CheckReport, console: Console) -> None:
    style = {"error": "bold red", "warning": "yellow"}
    console.print(
        f"[bold]stack {escape(report.stack)}[/bold] ({report.environment}, "
        f"{escape(str(report.stack_file))})"
    )
    sections: list[tuple[Source, str]] = [
        ("config", "config checks"),
        ("schema", "schemas"),
        ("policy", "policies"),
    ]
    for source, title in sections:
        groups = report.grouped(source)
        if source == "schema" and report.planned:
            title += f" ({report.objects} objects)"
        if source == "policy" and report.planned:
            config = f", config {report.pack_config}" if report.pack_config else ""
            title += (
                f" ({report.pack} {report.pack_version}, {len(report.policy_levels)} "
                f"policies, {report.environment} defaults{config})"
            )
        if source != "config" and not report.planned:
            console.print(f"[dim]– {title}: skipped (no plan while config checks fail)[/dim]")
            continue
        mark = "[green]✓[/green]" if not groups else "[bold]•[/bold]"
        console.print(f"{mark} {escape(title)}" + ("" if groups else ": nothing to report"))
        for rule, findings in groups.items():
            level = findings[0].enforcement or findings[0].level
            console.print(
                f"  [{style[findings[0].level]}]{escape(rule)}[/] ({level}, {len(findings)})",
                highlight=False,
            )
            for f in findings:
                mark = "✗" if f.level == "error" else "!"
                console.print(
                    f"    {mark} {_subject_and_message(f)}", soft_wrap=True, highlight=False
                )
                if f.fix:
                    console.print(f"      fix: {escape(f.fix)}", soft_wrap=True, highlight=False)
    errors = sum(f.level == "error" for f in report.findings)
    warnings = len(report.findings) - errors
    if report.ok:
        console.print(
            f"[green]✓ stack {escape(report.stack)} passes[/green] ({warnings} warning(s))"
        )
    else:
        console.print(f"[bold red]✗ {errors} blocking finding(s)[/bold red], {warnings} warning(s)")


def to_json(report: CheckReport) -> dict[str, Any]:
    policies: dict[str, dict[str, Any]] = {
        name: {"enforcement": level, "violations": 0}
        for name, level in report.policy_levels.items()
    }
    for f in report.of("policy"):
        policies.setdefault(f.rule, {"enforcement": f.enforcement, "violations": 0})
        policies[f.rule]["violations"] += 1
    return {
        "stack": report.stack,
        "stackFile": str(report.stack_file),
        "environment": report.environment,
        "ok": report.ok,
        "planned": report.planned,
        "resources": report.resources,
        "objects": report.objects,
        "pack": {
            "name": report.pack,
            "version": report.pack_version,
            "config": str(report.pack_config) if report.pack_config else None,
        },
        "policies": policies,
        "findings": [asdict(f) for f in report.findings],
    }


def render(report: CheckReport, fmt: str, console: Console) -> None:
    if fmt == "text":
        print_text(report, console)
    elif fmt == "json":
        print(json.dumps(to_json(report), indent=2))
    else:
        from tgi_infra.checkrun.sarif import to_sarif

        print(json.dumps(to_sarif(report), indent=2))
