"""Register plain Kubernetes objects (dicts from the pure builders) with pulumi_kubernetes.

Core kinds become their typed resource (so Pulumi's await logic, secret handling of
`Secret.stringData` and replacement rules apply); custom resources become
`apiextensions.CustomResource`. Nested keys stay camelCase, as the API expects.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from tgi_infra import naming
from tgi_infra.manifests.kinds import is_custom_resource

_GROUP_MODULES = {
    "": "core",
    "apps": "apps",
    "batch": "batch",
    "policy": "policy",
    "autoscaling": "autoscaling",
    "networking.k8s.io": "networking",
    "rbac.authorization.k8s.io": "rbac",
    "storage.k8s.io": "storage",
    "scheduling.k8s.io": "scheduling",
}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def resource_class(api_version: str, kind: str) -> type[pulumi.CustomResource]:
    group, _, version = api_version.rpartition("/")
    module = importlib.import_module(f"pulumi_kubernetes.{_GROUP_MODULES[group]}.{version}")
    return getattr(module, kind)


def logical_name(obj: Mapping[str, Any]) -> str:
    """The Pulumi name: `<namespace>-<name>` (or `<name>` for cluster-scoped objects, and
    for objects whose namespace is another resource's output, unknown at registration).

    Kubernetes names start with the component's name (`naming`), so the Pulumi names do
    too. Objects whose metadata.name carries a model hash set `tgi-infra/logical-name` so
    a model swap shows as a replacement of the same resource, not an unrelated create.
    """
    meta = obj["metadata"]
    annotations = meta.get("annotations") or {}
    name = annotations.get("pulumi.tgi-infra/logical-name", meta["name"])
    namespace = meta.get("namespace")
    return f"{namespace}-{name}" if isinstance(namespace, str) and namespace else name


def legacy_aliases(obj: Mapping[str, Any]) -> list[pulumi.Alias]:
    """The Pulumi name a shared object of the "tgi" platform had before its Kubernetes name
    carried the platform (`naming.legacy_names`): aliased, so its URN stays the same."""
    old = naming.legacy_names().get(obj["metadata"]["name"])
    if old is None:
        return []
    renamed = {**obj, "metadata": {**obj["metadata"], "name": old, "annotations": {}}}
    return [pulumi.Alias(name=logical_name(renamed))]


def register_object(
    obj: Mapping[str, Any],
    opts: pulumi.ResourceOptions | None = None,
    *,
    name: str | None = None,
) -> pulumi.CustomResource:
    """Register one object; `name` overrides its Pulumi name (`logical_name`)."""
    body = dict(obj)
    api_version, kind = body.pop("apiVersion"), body.pop("kind")
    metadata = dict(body.pop("metadata"))
    annotations = {
        k: v
        for k, v in (metadata.get("annotations") or {}).items()
        if not k.startswith("pulumi.tgi-infra/")
    }
    if annotations:
        metadata["annotations"] = annotations
    else:
        metadata.pop("annotations", None)
    name = name or logical_name(obj)
    aliases = legacy_aliases(obj)
    if aliases:
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(aliases=aliases))
    if is_custom_resource(obj):
        extra = {k: v for k, v in body.items() if k != "spec"}
        if extra:
            raise ValueError(f"{kind}/{metadata['name']}: only `spec` is supported, got {extra}")
        return k8s.apiextensions.CustomResource(
            name,
            api_version=api_version,
            kind=kind,
            metadata=metadata,
            spec=body.get("spec"),
            opts=opts,
        )
    cls = resource_class(api_version, kind)
    kwargs = {_snake(k): v for k, v in body.items()}
    return cls(name, metadata=metadata, opts=opts, **kwargs)


def register_objects(
    objs: Iterable[Mapping[str, Any]],
    parent: pulumi.Resource,
    depends_on: list[pulumi.Resource] | None = None,
) -> dict[str, pulumi.CustomResource]:
    """Register each object as a child of `parent`; returns them by `Kind/name`."""
    out: dict[str, pulumi.CustomResource] = {}
    for obj in objs:
        opts = pulumi.ResourceOptions(parent=parent, depends_on=depends_on or [])
        out[f"{obj['kind']}/{obj['metadata']['name']}"] = register_object(obj, opts)
    return out
