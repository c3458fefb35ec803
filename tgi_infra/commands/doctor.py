"""`tgi-infra doctor --kubeconfig PATH [--stack S]`: what the stack needs on a live
cluster and what is there. Read-only. Exit 0: all present; 1: something missing, or the
cluster unreachable or refusing the reads (nothing could be checked); 2: usage (no such
kubeconfig, an unreadable kubeconfig or stack)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

EXIT_OK, EXIT_MISSING, EXIT_USAGE = 0, 1, 2
EXIT_UNREACHABLE = 1
"""Not a usage error: the command was right, the cluster did not answer (as for missing)."""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "doctor", help="list the CRDs, controllers and versions a stack needs on a live cluster"
    )
    p.add_argument("--kubeconfig", type=Path, required=True, help="kubeconfig of the cluster")
    p.add_argument("--context", help="kubeconfig context (default: its current-context)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--stack", help="stack name: stacks/Pulumi.<NAME>.yaml")
    where.add_argument("--config", type=Path, help="path to a Pulumi stack file")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, console: Console) -> int:
    from kubernetes import config as kube_config
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    from tgi_infra.config.loader import load_stack, stack_file
    from tgi_infra.config.safe_yaml import YamlRefused, load_yaml
    from tgi_infra.doctor import ClusterReader, inspect, requirements

    if not args.kubeconfig.is_file():
        console.print(f"[red]no kubeconfig at {escape(str(args.kubeconfig))}[/red]")
        return EXIT_USAGE
    try:  # broken or hostile YAML (an alias bomb, a FIFO) refused before the client parses it
        document = load_yaml(args.kubeconfig)
    except YamlRefused as exc:
        where = f" (line {exc.line})" if exc.line else ""
        console.print(
            f"[red]kubeconfig {escape(str(args.kubeconfig))}{where}: {escape(exc.reason)}[/red] "
            f"{escape(exc.fix)}",
            highlight=False,
        )
        return EXIT_USAGE
    if not isinstance(document, dict):
        console.print(
            f"[red]kubeconfig {escape(str(args.kubeconfig))}: not a kubeconfig (a YAML mapping "
            "with clusters, contexts and users).[/red] Pass the file `aws eks "
            "update-kubeconfig` writes (~/.kube/config).",
            highlight=False,
        )
        return EXIT_USAGE
    cfg = None
    if args.stack or args.config:
        cfg = load_stack(args.config or stack_file(args.stack))
    try:
        api = kube_config.new_client_from_config(
            config_file=str(args.kubeconfig), context=args.context
        )
    except (kube_config.ConfigException, ValueError, TypeError, KeyError, AttributeError) as exc:
        console.print(f"[red]kubeconfig {escape(str(args.kubeconfig))}: {escape(str(exc))}[/red]")
        return EXIT_USAGE
    try:
        findings = inspect(requirements(cfg), ClusterReader(api))
    except HTTPError as exc:
        server = escape(str(api.configuration.host))
        console.print(
            f"[red]cluster unreachable at {server}: {escape(str(exc))}[/red]\n"
            "Nothing was checked. Check that the kubeconfig's server is reachable from here "
            "(VPN, the cluster endpoint's public or private access) and its context "
            "(--context), then run doctor again.",
            highlight=False,
        )
        return EXIT_UNREACHABLE
    except ApiException as exc:
        server = escape(str(api.configuration.host))
        console.print(
            f"[red]the cluster at {server} refused the read: {exc.status} "
            f"{escape(str(exc.reason))}[/red]\nNothing was checked. Check the kubeconfig's "
            "credentials (`aws eks get-token`, an access entry for your role) and that they "
            "may read CRDs, Deployments and APIServices.",
            highlight=False,
        )
        return EXIT_UNREACHABLE
    table = Table(
        title="cluster against " + (f"stack {cfg.environment}" if cfg else "every add-on")
    )
    for col in ("add-on", "needs", "name", "present", "found"):
        table.add_column(col)
    for f in findings:
        r = f.requirement
        mark = "[green]yes[/green]" if f.present else "[red]MISSING[/red]"
        mark = "[red]OLD[/red]" if f.too_old else mark
        table.add_row(r.addon, r.kind, escape(r.name), mark, escape(f.found))
    console.print(table)
    missing = [f for f in findings if not f.present]
    if missing:
        console.print(
            f"[red]{len(missing)} of {len(findings)} missing or too old[/red]: install them "
            "or set their add-on to mode: install (docs/day0.md)"
        )
        return EXIT_MISSING
    console.print(f"[green]all {len(findings)} present[/green]")
    return EXIT_OK
