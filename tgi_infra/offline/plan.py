"""Run the real Pulumi program under Pulumi's mocks: a plan without CLI, cluster or cloud.

The program (`tgi_infra.program.main`, what `__main__.py` runs) registers its resources
against `PlanMocks` behind a `RecordingMonitor` that keeps each registration's parent, so
the plan can be printed as a tree and every Kubernetes object rendered as YAML.
Secret values never leave as plaintext: they are replaced by `[secret]`.

The plan tells the truth about itself: a secret the stack declares (``secure:``) gets a
placeholder, shown as `[secret]`; a secret it does not declare is absent (no HF token
Secret without `tgi-infra:hfToken`). Values a provider computes at creation are
`[unknown]`, as in `pulumi preview`; values the mocks invented carry `mocked` (see
`tgi_infra.offline.mocks`). `OfflinePlan.notes` says what the plan did not do.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime import settings as pulumi_settings

from tgi_infra.offline.mocks import PlanMocks

SECRET_SIG = "4dabf18193072939515e22adb298388d"
REDACTED = "[secret]"
UNKNOWN_SHOWN = "[unknown]"
PLACEHOLDER = "offline-plan-placeholder"
"""The value every declared secret has in the plan (never shown: secrets are redacted)."""
NOT_DONE = (
    "offline plan: no Pulumi state was read, nothing was diffed against the live cluster "
    "or AWS, and no provider ran; values marked [unknown] are computed at `pulumi up`, "
    "values containing 'mocked' (account 000000000000) were invented for the plan."
)


@dataclass
class PlannedResource:
    urn: str
    type: str
    name: str
    parent: str | None
    custom: bool
    inputs: dict[str, Any] = field(default_factory=dict)
    dependencies: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    """URNs this resource was known by (`aliases`): the engine keeps their state."""
    retain_on_delete: bool = False
    """Pulumi leaves the object on the cluster when it deletes or replaces it."""

    def to_json(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "parent": self.parent,
            "custom": self.custom,
            "dependencies": list(self.dependencies),
            "aliases": list(self.aliases),
            "retainOnDelete": self.retain_on_delete,
            "inputs": self.inputs,
        }


@dataclass
class OfflinePlan:
    stack: str
    resources: list[PlannedResource]
    outputs: dict[str, Any]
    secrets: list[str] = field(default_factory=list)
    """Secret config keys the stack declares (each given a placeholder)."""
    unknown: list[tuple[str, str, str]] = field(default_factory=list)
    """(type, name, output) that a preview does not know."""
    notes: list[str] = field(default_factory=lambda: [NOT_DONE])

    def children(self, parent_urn: str | None) -> list[PlannedResource]:
        """Resources under `parent_urn`; None gives the top level (under the Stack)."""
        if parent_urn is None:
            return [r for r in self.resources if r.parent is None or _is_stack(r.parent)]
        return [r for r in self.resources if r.parent == parent_urn]

    def retained(self) -> list[PlannedResource]:
        """Resources Pulumi keeps on the cluster when it deletes or replaces them."""
        return [r for r in self.resources if r.retain_on_delete]

    def to_json(self) -> dict[str, Any]:
        """Every resource (inputs with secrets redacted) and the stack outputs."""
        return {
            "stack": self.stack,
            "resources": [r.to_json() for r in self.resources],
            "outputs": self.outputs,
            "secrets": self.secrets,
            "unknown": [list(u) for u in self.unknown],
            "notes": self.notes,
        }

    def of_type(self, prefix: str) -> list[PlannedResource]:
        return [r for r in self.resources if r.type.startswith(prefix)]

    def kubernetes_objects(self) -> list[dict[str, Any]]:
        """Every Kubernetes object the program creates, as the API would receive it."""
        out = []
        for r in self.resources:
            if (
                not r.custom
                or not r.type.startswith("kubernetes:")
                or r.type.startswith("pulumi:providers:")
            ):
                continue
            obj = r.inputs
            if "apiVersion" in obj and "kind" in obj:
                out.append(obj)
        return out


def _is_stack(urn: str) -> bool:
    return urn.split("::")[2] == "pulumi:pulumi:Stack"


class DuplicateUrn(Exception):
    """Two resources with one URN: the engine refuses the program ("Duplicate resource URN")."""

    def __init__(self, urn: str) -> None:
        super().__init__(
            f"duplicate resource URN {urn}: two resources share a type, parent type and "
            "name; give each component a distinct name"
        )
        self.urn = urn


def alias_urns(urn: str, request: Any) -> tuple[str, ...]:
    """The URNs a registration's aliases stand for (same stack, project and parent type)."""
    out = list(getattr(request, "aliasURNs", []) or [])
    qualified, _, name = urn.rpartition("::")
    for alias in getattr(request, "aliases", []) or []:
        if alias.WhichOneof("alias") == "urn":
            out.append(alias.urn)
            continue
        spec = alias.spec
        typ = spec.type or request.type
        base = qualified if typ == request.type else qualified.rpartition("$")[0] + "$" + typ
        out.append(f"{base}::{spec.name or name}")
    return tuple(out)


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A MockMonitor that remembers each registration's parent and aliases and the stack
    outputs, and refuses a URN registered twice, as the engine does."""

    def __init__(self, mocks: PlanMocks) -> None:
        super().__init__(mocks)
        self.registrations: list[
            tuple[str, str, str, str, bool, tuple[str, ...], tuple[str, ...], bool]
        ] = []
        self.outputs: dict[str, Any] = {}
        self.urns: set[str] = set()
        self._lock = threading.Lock()

    def RegisterResource(self, request: Any) -> Any:
        with self._lock:  # the SDK registers from several threads
            before = len(self.mocks.resources)
            response = super().RegisterResource(request)
            if len(self.mocks.resources) > before:  # a custom resource: key inputs by URN
                self.mocks.resources[-1].urn = response.urn
        if request.type != "pulumi:pulumi:Stack" and response.urn in self.urns:
            raise DuplicateUrn(response.urn)
        self.urns.add(response.urn)
        self.registrations.append(
            (
                response.urn,
                request.type,
                request.name,
                request.parent,
                request.custom,
                tuple(request.dependencies),
                alias_urns(response.urn, request),
                bool(getattr(request, "retainOnDelete", False)),
            )
        )
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:
        if "::pulumi:pulumi:Stack::" in request.urn:
            from google.protobuf import json_format

            self.outputs.update(json_format.MessageToDict(request.outputs))
        return super().RegisterResourceOutputs(request)


def normalize(value: Any) -> Any:
    """Mocks see numbers as floats; the API wants integers where they are whole. Unknown
    values (a preview's computed outputs) are shown as `[unknown]`."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, pulumi.output.Unknown) or (
        isinstance(value, str) and value == rpc.UNKNOWN
    ):
        return UNKNOWN_SHOWN
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    return value


def redact(value: Any) -> Any:
    """Replace every Pulumi secret (in mock inputs, a signature-tagged dict) by a marker."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG) == "1b47061264138c4ac30d75fd1eb44270":
            inner = value.get("value")
            # Keep a secret map's keys (Secret.stringData stays a valid map); drop values.
            return {k: REDACTED for k in inner} if isinstance(inner, dict) else REDACTED
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def run_offline(
    program: Callable[[], None],
    config: dict[str, Any],
    *,
    stack: str,
    project: str = "tgi-infra",
    secrets: dict[str, str] | None = None,
) -> OfflinePlan:
    """Run `program` under mocks with `config` (a stack file's `config:` mapping).

    `secrets` adds (or overrides) secret values, e.g. for tests."""
    mocks = PlanMocks(region=_region(config), unknown_computed=True)
    monitor = RecordingMonitor(mocks)
    quiet = logging.getLogger("tgi_infra.offline.engine")  # problems are printed by the CLI
    quiet.propagate = False
    quiet.addHandler(logging.NullHandler())
    pulumi.runtime.set_mocks(
        mocks, project=project, stack=stack, preview=True, monitor=monitor, logger=quiet
    )
    values, declared = config_values(config)
    values.update(secrets or {})
    secret_keys = sorted({*declared, *(secrets or {})})
    pulumi.runtime.set_all_config(values, secret_keys)
    pulumi_settings.SETTINGS.rpc_manager.clear()
    pulumi_settings.SETTINGS.outputs.clear()
    pulumi_settings.set_root_resource(None)  # type: ignore[arg-type]  # run_in_stack makes it
    with _fewer_collections():
        pulumi_mocks._sync_await(pulumi.runtime.stack.run_in_stack(program))
    inputs = {r.urn: redact(normalize(r.inputs)) for r in mocks.resources}
    resources = [
        PlannedResource(
            urn,
            typ,
            name,
            parent or None,
            custom,
            inputs.get(urn, {}),
            deps,
            aliases,
            retain,
        )
        for urn, typ, name, parent, custom, deps, aliases, retain in monitor.registrations
        if typ != "pulumi:pulumi:Stack"
    ]
    outputs = redact(normalize(monitor.outputs))
    return OfflinePlan(stack, resources, outputs, secret_keys, list(mocks.unknown))


@contextlib.contextmanager
def _fewer_collections(gen0: int = 50_000) -> Iterator[None]:
    """Collect cycles less often while the SDK registers: its objects are long-lived, and
    the default (a collection per 700 allocations, full ones scanning the whole heap) took
    a third of a 25-tier plan (4.3 s -> 2.5 s without collections)."""
    threshold = gc.get_threshold()
    gc.set_threshold(max(gen0, threshold[0]), *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)


def _is_secure(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"secure"}


def config_values(config: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """Pulumi config strings, with a placeholder for every secret the stack declares
    (``secure:``, or a mapping of them set with ``--path``), and the secret keys."""
    values: dict[str, str] = {}
    declared: list[str] = []
    for key, value in config.items():
        if _is_secure(value):
            values[key], declared = PLACEHOLDER, [*declared, key]
        elif isinstance(value, dict) and any(_is_secure(v) for v in value.values()):
            filled = {k: PLACEHOLDER if _is_secure(v) else v for k, v in value.items()}
            values[key], declared = json.dumps(filled), [*declared, key]
        else:
            values[key] = value if isinstance(value, str) else json.dumps(value)
    return values, declared


def _region(config: dict[str, Any]) -> str:
    """The stack's region, for the mocks' lookups: cluster.region, else aws:region."""
    raw = config.get("tgi-infra:platform")
    cluster = raw.get("cluster") if isinstance(raw, dict) else None
    region = cluster.get("region") if isinstance(cluster, dict) else None
    region = region if isinstance(region, str) else config.get("aws:region")
    return region if isinstance(region, str) else "us-east-1"
