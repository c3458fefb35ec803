"""Which API group an object belongs to: a core kind (typed pulumi_kubernetes resource,
kubernetes-validate schema) or a custom resource (CRD). Pure, no schema library."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CORE_GROUPS = frozenset(
    {
        "",
        "v1",
        "apps",
        "batch",
        "policy",
        "autoscaling",
        "networking.k8s.io",
        "rbac.authorization.k8s.io",
        "storage.k8s.io",
        "scheduling.k8s.io",
    }
)


def api_group(obj: Mapping[str, Any]) -> str:
    api_version = obj.get("apiVersion", "")
    return api_version.split("/")[0] if "/" in api_version else ""


def is_custom_resource(obj: Mapping[str, Any]) -> bool:
    return api_group(obj) not in CORE_GROUPS
