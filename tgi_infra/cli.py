"""`tgi-infra`: validate stacks, size models on GPUs, plan and render without a cluster.

Exit codes: 0 sound, 1 problems found, 2 usage error. Bad input never prints a traceback
(set TGI_INFRA_DEBUG=1 to see one for an internal error).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from tgi_infra.checks import StackReport
    from tgi_infra.offline.plan import OfflinePlan

from tgi_infra.commands import bench_report, capacity, doctor, size
from tgi_infra.problems import ConfigInvalid, Problem

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


STACK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def stack_name_arg(value: str) -> str:
    """`--stack`: a Pulumi stack name, never a path."""
    if not STACK_NAME.match(value) or ".." in value:
        raise argparse.ArgumentTypeError(
            f"{_bounded(value, 60)!r} is not a stack name (letters, digits, . _ -, at most "
            "100); pass a file with --config instead"
        )
    return value


def _stack_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    where = p.add_mutually_exclusive_group(required=required)
    where.add_argument(
        "--stack", type=stack_name_arg, help="stack name: stacks/Pulumi.<NAME>.yaml"
    )
    where.add_argument("--config", type=Path, help="path to a Pulumi stack file")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tgi-infra", description="TGI on Kubernetes: validate, plan and render stacks."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check a stack: schema, references, TGI's rules, memory")
    _stack_args(p)
    p.add_argument("--json", action="store_true", help="print problems and capacity as JSON")

    capacity.register(sub)

    p = sub.add_parser("plan", help="run the Pulumi program under mocks and print the plan")
    _stack_args(p, required=False)
    p.add_argument(
        "--program",
        type=Path,
        help="your own Pulumi program (a __main__.py, or its folder) to run instead of "
        "tgi-infra's; --config gives its stack file (config), default none",
    )
    p.add_argument("--format", choices=["text", "json"], default="text")

    p = sub.add_parser("render", help="write every Kubernetes object as YAML (secrets redacted)")
    _stack_args(p)
    p.add_argument("--out", type=Path, required=True, help="output folder")

    p = sub.add_parser(
        "check", help="validate, plan, check schemas and run the policy pack (as CI would)"
    )
    _stack_args(p)
    p.add_argument("--format", choices=["text", "json", "sarif"], default="text")
    p.add_argument(
        "--policy-config",
        type=Path,
        help="policy pack config JSON (default: the pack's config/<stack>.json, if any)",
    )

    doctor.register(sub)

    p = sub.add_parser("config-reference", help="print the stack config reference (Markdown)")
    p.add_argument("--out", type=Path, help="write it to this file instead")
    size.register(sub)
    bench_report.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=160)
    try:
        handler = getattr(args, "handler", None) or {
            "validate": cmd_validate,
            "plan": cmd_plan,
            "render": cmd_render,
            "config-reference": cmd_config_reference,
            "check": cmd_check,
        }[args.command]
        return handler(args, console)
    except ConfigInvalid as exc:
        from tgi_infra.report import print_problems

        print_problems(console, exc.problems)
        return EXIT_PROBLEMS
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if os.environ.get("TGI_INFRA_DEBUG"):
            raise
        console.print(
            f"[red]internal error:[/red] {type(exc).__name__}: {exc} "
            "(TGI_INFRA_DEBUG=1 shows the traceback)"
        )
        return EXIT_INTERNAL


def _bounded(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _stack_path(args: argparse.Namespace) -> Path:
    from tgi_infra.config.loader import stack_file

    return args.config if args.config else stack_file(args.stack)


def _stack_name(args: argparse.Namespace) -> str:
    if args.stack:
        return str(args.stack)
    name = Path(args.config).name.removeprefix("Pulumi.").removesuffix(".yaml")
    name = re.sub(r"[^A-Za-z0-9._-]", "-", name)[:100].lstrip(".-_")
    return name or "stack"


def _validated(args: argparse.Namespace) -> StackReport:
    """The stack file's config validated whole: platform, secrets, tenant keys."""
    from tgi_infra.checks.stack import validate_stack_config
    from tgi_infra.config.loader import read_stack_file

    path = _stack_path(args)
    return validate_stack_config(read_stack_file(path), str(path))


def cmd_validate(args: argparse.Namespace, console: Console) -> int:
    from tgi_infra.report import capacity_table, print_problems

    report = _validated(args)
    if args.json:
        print(
            json.dumps(
                {
                    "ok": report.ok,
                    "problems": [asdict(p) for p in report.problems],
                    "tiers": {
                        name: {"facts_source": cap.facts.source, **asdict(cap.memory)}
                        for name, cap in report.tiers.items()
                    },
                },
                indent=2,
            )
        )
    else:
        if report.tiers:
            console.print(capacity_table(report))
        print_problems(console, report.problems)
        if report.ok:
            console.print(f"[green]✓ stack {_stack_name(args)} is sound[/green]")
    return EXIT_OK if report.ok else EXIT_PROBLEMS


def _offline_plan(args: argparse.Namespace) -> OfflinePlan:
    from tgi_infra.config.loader import read_stack_file
    from tgi_infra.offline.plan import run_offline
    from tgi_infra.program import main as program

    path = _stack_path(args)
    config = read_stack_file(path)
    return run_offline(program, config, stack=_stack_name(args))


def cmd_plan(args: argparse.Namespace, console: Console) -> int:
    from tgi_infra.report import (
        addons_table,
        capacity_table,
        cost_table,
        engine_comparison_table,
        plan_tree,
        print_problems,
    )

    if args.program:
        return _plan_program(args, console)
    if not (args.stack or args.config):
        console.print("plan: one of --stack, --config or --program is required")
        return EXIT_USAGE
    report = _validated(args)
    if not report.ok:
        if args.format == "json":
            print(json.dumps({"ok": False, "problems": [asdict(p) for p in report.problems]}))
            return EXIT_PROBLEMS
        print_problems(console, report.problems)
        console.print("[red]no plan: fix the problems above first[/red]")
        return EXIT_PROBLEMS
    plan = _offline_plan(args)
    if args.format == "json":
        problems = [asdict(p) for p in report.problems]
        print(json.dumps({"ok": True, **plan.to_json(), "problems": problems}, indent=2))
        return EXIT_OK
    console.print(plan_tree(plan))
    console.print(addons_table(plan, report.config))
    console.print(capacity_table(report))
    comparison = engine_comparison_table(report)
    if comparison is not None:
        console.print(comparison)
    console.print(cost_table(report))
    if plan.outputs:
        console.print("[bold]outputs[/bold]")
        for key, value in sorted(plan.outputs.items()):
            console.print(f"  {key}: {escape(json.dumps(value))}", soft_wrap=True)
    print_problems(console, report.problems)
    _print_plan_notes(console, plan)
    return EXIT_OK


def _print_plan_notes(console: Console, plan: OfflinePlan) -> None:
    """What the plan assumed and did not do: secrets, unknowns, mocks, no state."""
    if plan.secrets:
        console.print(
            f"[dim]secrets declared (planned with a placeholder, shown as \\[secret]): "
            f"{escape(', '.join(plan.secrets))}[/dim]",
            soft_wrap=True,
        )
    if plan.unknown:
        console.print(
            f"[dim]{len(plan.unknown)} value(s) computed at `pulumi up` are \\[unknown] "
            "(ids, ARNs, generated keys)[/dim]",
            soft_wrap=True,
        )
    kept = [r for r in plan.retained() if r.type.endswith("PersistentVolumeClaim")]
    if kept:
        console.print(
            f"[dim]{len(kept)} weight cache claim(s) are kept on the cluster when deleted or "
            "replaced (cache.retainOnDelete: true); delete them by hand once unused[/dim]",
            soft_wrap=True,
        )
    for note in plan.notes:
        console.print(f"[dim]{escape(note)}[/dim]", soft_wrap=True)


def _plan_program(args: argparse.Namespace, console: Console) -> int:
    """`plan --program FILE.py [--config STACKFILE]`: a user's program under the mocks."""
    from tgi_infra.offline.program import ProgramFailed, plan_program
    from tgi_infra.report import plan_tree, print_problems

    if args.stack:
        console.print("plan: --program takes --config STACKFILE, not --stack")
        return EXIT_USAGE
    try:
        plan = plan_program(args.program, args.config)
    except ProgramFailed as exc:
        if args.format == "json":
            problems = [asdict(p) for p in exc.problems]
            print(json.dumps({"ok": False, "error": exc.message, "problems": problems}))
        else:
            print_problems(console, exc.problems)
            console.print(f"[red]no plan: {escape(exc.message)}[/red]")
        return EXIT_USAGE if exc.usage else EXIT_PROBLEMS
    if args.format == "json":
        print(json.dumps({"ok": True, **plan.to_json(), "problems": []}, indent=2))
        return EXIT_OK
    console.print(plan_tree(plan))
    if plan.outputs:
        console.print("[bold]outputs[/bold]")
        for key, value in sorted(plan.outputs.items()):
            console.print(f"  {key}: {escape(json.dumps(value))}", soft_wrap=True)
    return EXIT_OK


def cmd_render(args: argparse.Namespace, console: Console) -> int:
    from tgi_infra.offline.output import prepare, write_render
    from tgi_infra.report import print_problems

    prepare(args.out)  # refuse a bad --out before the (slow) plan
    report = _validated(args)
    if not report.ok:
        print_problems(console, report.problems)
        return EXIT_PROBLEMS
    plan = _offline_plan(args)
    objects = plan.kubernetes_objects()
    releases = plan.of_type("kubernetes:helm.sh/v3:Release")
    files = [
        (
            f"{i:03d}-{obj['metadata'].get('namespace', 'cluster')}-{obj['kind'].lower()}-"
            f"{obj['metadata']['name']}.yaml",
            yaml.safe_dump(obj, sort_keys=False),
        )
        for i, obj in enumerate(objects)
    ]
    files += [
        (f"addons/{r.inputs.get('name', r.name)}.yaml", yaml.safe_dump(r.inputs, sort_keys=False))
        for r in releases
    ]
    write_render(args.out, files)
    console.print(
        f"wrote {len(objects)} objects and {len(releases)} Helm releases to "
        f"{escape(str(args.out))}"
    )
    return EXIT_OK


def cmd_check(args: argparse.Namespace, console: Console) -> int:
    from tgi_infra.checkrun.check import default_pack_config, render, run_check
    from tgi_infra.checkrun.harness import HarnessError, load_pack_config

    stack = _stack_name(args)
    pack_config = args.policy_config or default_pack_config(stack)
    flag = "--policy-config" if args.policy_config else "policy config"
    fix = "pass a JSON object of policy names to levels (see policy/README.md)."
    try:
        load_pack_config(pack_config)
    except (OSError, UnicodeDecodeError, ValueError, HarnessError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigInvalid(
            [Problem(f"{flag} {_bounded(str(pack_config))}", _bounded(why), fix, "policy-config")]
        ) from None
    try:
        report = run_check(_stack_path(args), stack, pack_config=pack_config)
    except HarnessError as exc:
        if "policy pack config" not in str(exc):
            raise
        raise ConfigInvalid(
            [
                Problem(
                    f"{flag} {_bounded(str(pack_config))}", _bounded(str(exc)), fix, "policy-config"
                )
            ]
        ) from None
    render(report, args.format, console)
    return EXIT_OK if report.ok else EXIT_PROBLEMS


def cmd_config_reference(args: argparse.Namespace, console: Console) -> int:
    from tgi_infra.config.reference import render_reference
    from tgi_infra.fileio import write_regular_text

    text = render_reference()
    if args.out:
        try:
            write_regular_text(args.out, text)
        except OSError as exc:
            raise ConfigInvalid(
                [
                    Problem(
                        f"--out {_bounded(str(args.out))}",
                        f"cannot be written ({exc.strerror}).",
                        "pass a writable file path.",
                        "cli-flag",
                    )
                ]
            ) from None
    else:
        print(text, end="")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
