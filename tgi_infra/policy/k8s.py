"""Read Kubernetes objects the way policies see them: plain dicts or the policy SDK's proxies.

Everything here takes `Mapping`/`Sequence` (not `dict`/`list`) so the same code runs on
builder output in tests and on `pulumi_policy`'s read-only proxies inside the pack, where
touching a value unknown during preview raises the SDK's `UnknownValueError`. Numbers may
arrive as floats (gRPC's Struct has only doubles): use `as_int`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tgi_infra import naming
from tgi_infra.engines import ENGINE_NAMES, get_engine
from tgi_infra.engines.base import Engine

TGI_IMAGE_REPOSITORY = "text-generation-inference"
LAUNCHER = "text-generation-launcher"
PINNED_REVISION = re.compile(r"^[0-9a-f]{40}$")
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
ROUTE_KINDS = ("HTTPRoute", "GRPCRoute", "AIGatewayRoute")


@dataclass(frozen=True)
class PlanObject:
    """One resource of a plan as a stack policy sees it: URN, type token and inputs."""

    urn: str
    type: str
    name: str
    props: Mapping[str, Any]

    @property
    def kind(self) -> str | None:
        return kind_of(self.type, self.props)

    @property
    def namespace(self) -> str | None:
        return namespace_of(self.props)

    @property
    def ref(self) -> str:
        """`Kind/namespace/name` for messages."""
        meta = mapping(self.props.get("metadata"))
        name = meta.get("name") or self.name
        ns = meta.get("namespace")
        return f"{self.kind}/{ns}/{name}" if ns else f"{self.kind}/{name}"


def type_token(obj: Mapping[str, Any]) -> str:
    """The Pulumi type of a Kubernetes object: `kubernetes:apps/v1:Deployment`,
    `kubernetes:core/v1:Service`, `kubernetes:monitoring.coreos.com/v1:ServiceMonitor`."""
    api_version = str(obj.get("apiVersion", ""))
    group_version = api_version if "/" in api_version else f"core/{api_version}"
    return f"kubernetes:{group_version}:{obj.get('kind')}"


def plan_objects(objs: Sequence[Mapping[str, Any]]) -> list[PlanObject]:
    """Builder output (plain Kubernetes objects) as a stack policy sees a plan."""
    out = []
    for obj in objs:
        meta = mapping(obj.get("metadata"))
        name = "-".join(str(p) for p in (meta.get("namespace"), meta.get("name")) if p)
        token = type_token(obj)
        out.append(PlanObject(f"urn:pulumi:test::tgi-infra::{token}::{name}", token, name, obj))
    return out


def mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def sequence(value: Any) -> Sequence[Any]:
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return value
    return ()


def get_path(obj: Any, path: Sequence[str]) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def as_int(value: Any) -> int | None:
    """2, 2.0 and "2" are 2; anything else (quantities like "500m", None) is None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def is_kubernetes(resource_type: str) -> bool:
    return resource_type.startswith("kubernetes:") and not resource_type.startswith(
        "pulumi:providers:"
    )


def kind_of(resource_type: str, props: Mapping[str, Any]) -> str | None:
    """The Kubernetes kind of a resource (from its inputs, else its type token)."""
    if not is_kubernetes(resource_type):
        return None
    kind = props.get("kind")
    if isinstance(kind, str) and kind:
        return kind
    return resource_type.rsplit(":", 1)[-1] or None


def namespace_of(props: Mapping[str, Any]) -> str | None:
    ns = mapping(props.get("metadata")).get("namespace")
    return ns if isinstance(ns, str) and ns else None


def name_of(props: Mapping[str, Any]) -> str | None:
    name = mapping(props.get("metadata")).get("name")
    return name if isinstance(name, str) and name else None


def labels_of(props: Mapping[str, Any]) -> Mapping[str, Any]:
    return mapping(mapping(props.get("metadata")).get("labels"))


def pod_spec(kind: str | None, props: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The pod spec of a workload (None for other kinds or when it is not readable)."""
    path = POD_SPEC_PATHS.get(kind or "")
    if path is None:
        return None
    spec = get_path(props, path)
    return spec if isinstance(spec, Mapping) else None


def pod_template_metadata(kind: str | None, props: Mapping[str, Any]) -> Mapping[str, Any]:
    if kind == "Pod":
        return mapping(props.get("metadata"))
    path = POD_SPEC_PATHS.get(kind or "")
    if path is None:
        return {}
    return mapping(get_path(props, (*path[:-1], "metadata")))


def containers(spec: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Init containers, then containers."""
    for key in ("initContainers", "containers"):
        for container in sequence(spec.get(key)):
            if isinstance(container, Mapping):
                yield container


@dataclass(frozen=True)
class ImageRef:
    repository: str
    tag: str | None
    digest: str | None


def parse_image(image: str) -> ImageRef:
    """`registry/repo:tag@sha256:...` into its parts (a port in the registry is no tag)."""
    name, _, digest = image.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return ImageRef(name[:colon], name[colon + 1 :] or None, digest or None)
    return ImageRef(name, None, digest or None)


def is_tgi_image(image: Any) -> bool:
    return (
        isinstance(image, str)
        and parse_image(image).repository.rsplit("/", 1)[-1] == TGI_IMAGE_REPOSITORY
    )


def is_tgi_server(container: Mapping[str, Any]) -> bool:
    """A container running TGI's launcher: the TGI image with its own entrypoint.

    The model-download Job runs the same image with a shell command: not a server.
    """
    if not is_tgi_image(container.get("image")):
        return False
    command = sequence(container.get("command"))
    return not command or str(command[0]).rsplit("/", 1)[-1] == LAUNCHER


def server_engine(container: Mapping[str, Any]) -> Engine | None:
    """The engine whose server this container runs (TGI, vLLM, SGLang), or None (the
    download Job, sidecars, anything else)."""
    image = container.get("image")
    if not isinstance(image, str):
        return None
    command = [str(c) for c in sequence(container.get("command"))]
    return next((e for e in map(get_engine, ENGINE_NAMES) if e.is_server(image, command)), None)


def is_server(container: Mapping[str, Any]) -> bool:
    return server_engine(container) is not None


def server_setting(container: Mapping[str, Any], engine: Engine, key: str) -> str | None:
    """A neutral setting (`Engine.policy_settings`: max_total_tokens, num_shard, revision...)
    as the engine's container carries it: its flag (or, for TGI, flag or env); None when
    absent or when the engine has no such setting."""
    name = engine.policy_settings.get(key)
    if name is None:
        return None
    if not name.startswith("--"):
        return launcher_setting(container, name)
    args = [str(a) for a in sequence(container.get("args"))]
    for i, arg in enumerate(args):
        if arg == name:
            return args[i + 1] if i + 1 < len(args) and not args[i + 1].startswith("--") else ""
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def env_entries(container: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """name -> env entry (the last wins, as in Kubernetes)."""
    out: dict[str, Mapping[str, Any]] = {}
    for entry in sequence(container.get("env")):
        if isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
            out[entry["name"]] = entry
    return out


def flag_name(env_name: str) -> str:
    """MAX_INPUT_TOKENS -> --max-input-tokens (TGI's launcher reads both)."""
    return "--" + env_name.lower().replace("_", "-")


def launcher_setting(container: Mapping[str, Any], env_name: str) -> str | None:
    """A launcher setting from the container's args (which win) or its env."""
    args = [str(a) for a in sequence(container.get("args"))]
    flag = flag_name(env_name)
    for i, arg in enumerate(args):
        if arg == flag:
            return args[i + 1] if i + 1 < len(args) and not args[i + 1].startswith("--") else ""
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    entry = env_entries(container).get(env_name)
    if entry is None:
        return None
    value = entry.get("value")
    return str(value) if value is not None else None


def is_truthy(value: str | None) -> bool:
    """Clap's boolean flags: present without a value, or true/1/yes/on."""
    return value is not None and value.strip().lower() in ("", "true", "1", "yes", "on")


def gpu_limit(container: Mapping[str, Any]) -> int | None:
    resources = mapping(container.get("resources"))
    value = mapping(resources.get("limits")).get(naming.GPU_RESOURCE)
    if value is None:
        value = mapping(resources.get("requests")).get(naming.GPU_RESOURCE)
    return as_int(value)


def selector_matches(selector: Any, labels: Mapping[str, Any]) -> bool:
    """A metav1.LabelSelector against labels. An empty selector matches everything."""
    selector = mapping(selector)
    for key, value in mapping(selector.get("matchLabels")).items():
        if labels.get(key) != value:
            return False
    for expr in sequence(selector.get("matchExpressions")):
        expr = mapping(expr)
        key, op = expr.get("key"), expr.get("operator")
        values = [str(v) for v in sequence(expr.get("values"))]
        present = key in labels
        if op == "In" and not (present and str(labels[key]) in values):
            return False
        if op == "NotIn" and present and str(labels[key]) in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def namespace_selector_matches(
    selector: Any, namespace: str | None, own_namespace: str | None
) -> bool:
    """A Prometheus-operator `namespaceSelector` (any / matchNames; default: own namespace)."""
    selector = mapping(selector)
    if selector.get("any") is True:
        return True
    names = [str(n) for n in sequence(selector.get("matchNames"))]
    if names:
        return namespace in names
    return namespace is None or own_namespace is None or namespace == own_namespace


def same_namespace(a: str | None, b: str | None) -> bool:
    """Unset on either side counts as the same (the provider's default namespace)."""
    return a is None or b is None or a == b
