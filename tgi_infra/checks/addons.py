"""Preview-time checks of `addons:`: pins compatible as their projects state, every object
the stack renders has its controller (not `off`), managed values not overridden.

The compatibility tables are kept here as data, each with the file it was read from.
"""

from __future__ import annotations

import re
from typing import Any

from tgi_infra.config.models import PlatformConfig
from tgi_infra.manifests.addons import (
    PINS,
    AddonRefs,
    controller_for,
    managed_values,
    merge_values,
)
from tgi_infra.problems import Problem

# envoyproxy/ai-gateway tag v1.1.0, site/docs/compatibility.md. The v1.1 line is not in
# that table yet; its `main` row (the v1.1.0 tag) states the same needs as v1.0.x.
# AI Gateway minor -> (lowest Envoy Gateway, Gateway API minor, lowest Kubernetes).
AI_GATEWAY_NEEDS: dict[str, tuple[str, str, str]] = {
    "1.1": ("1.8.1", "1.5", "1.32"),
    "1.0": ("1.8.1", "1.5", "1.32"),
    "0.7": ("1.8.0", "1.5", "1.32"),
    "0.6": ("1.7.0", "1.4", "1.32"),
    "0.5": ("1.6.0", "1.4", "1.32"),
}
# envoyproxy/gateway d32f282 site/content/en/news/releases/matrix.md: the Gateway API each
# Envoy Gateway minor bundles (its chart installs those CRDs) and the Kubernetes it supports.
ENVOY_GATEWAY_BUNDLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "1.9": ("1.6.1", ("1.33", "1.34", "1.35", "1.36")),
    "1.8": ("1.5.1", ("1.32", "1.33", "1.34", "1.35")),
    "1.7": ("1.4.1", ("1.32", "1.33", "1.34", "1.35")),
    "1.6": ("1.4.0", ("1.30", "1.31", "1.32", "1.33")),
    "1.5": ("1.3.0", ("1.30", "1.31", "1.32", "1.33")),
}
CHECK = "addon"
# Fields the platform's objects use that an Envoy Gateway CRD gained in a release
# (envoyproxy/gateway charts/gateway-crds-helm/templates/generated/, v1.8.3 against v1.9.0).
SECURITY_POLICY_OPERATION_PATH = "1.9.0"


def version_tuple(version: str) -> tuple[int, ...]:
    core = re.match(r"^v?(\d+(?:\.\d+)*)", version)
    return tuple(int(p) for p in core.group(1).split(".")) if core else ()


def minor(version: str) -> str:
    return ".".join(str(p) for p in version_tuple(version)[:2])


def effective_version(cfg: PlatformConfig, addon: str) -> str:
    entry = cfg.addons.entries()[addon]
    return entry.version or PINS[addon].version


def check_compatibility(cfg: PlatformConfig) -> list[Problem]:
    """Envoy AI Gateway against Envoy Gateway, the Gateway API it bundles and Kubernetes."""
    problems: list[Problem] = []
    ai, eg = cfg.addons.ai_gateway, cfg.addons.envoy_gateway
    eg_version = effective_version(cfg, "envoyGateway")
    eg_minor = minor(eg_version)
    k8s = cfg.cluster.settings.kubernetes_version if cfg.cluster.create else None
    if eg.mode == "install" and eg_minor not in ENVOY_GATEWAY_BUNDLES:
        problems.append(
            Problem(
                "addons.envoyGateway.version",
                f"{eg_version} is not in Envoy Gateway's compatibility matrix as read "
                f"(known: {', '.join(sorted(ENVOY_GATEWAY_BUNDLES))}).",
                f"pin a listed version (default {PINS['envoyGateway'].version}).",
                CHECK,
            )
        )
    if eg.mode == "install" and k8s and eg_minor in ENVOY_GATEWAY_BUNDLES:
        supported = ENVOY_GATEWAY_BUNDLES[eg_minor][1]
        if k8s not in supported:
            problems.append(
                Problem(
                    "cluster.settings.kubernetesVersion",
                    f"Kubernetes {k8s} is not supported by Envoy Gateway {eg_minor} "
                    f"(supports {', '.join(supported)}).",
                    "pick a supported Kubernetes version or another Envoy Gateway pin.",
                    CHECK,
                )
            )
    if (
        eg.mode == "install"
        and version_tuple(eg_version) < version_tuple(SECURITY_POLICY_OPERATION_PATH)
        and uses_operation_path(cfg)
    ):
        problems.append(
            Problem(
                "addons.envoyGateway.version",
                f"{eg_version}: the gateway's SecurityPolicy allows GET /v1/models by "
                "`authorization.rules[].operation.path`, a field Envoy Gateway's CRD has from "
                f"{SECURITY_POLICY_OPERATION_PATH}; older CRDs reject or prune it.",
                f"pin Envoy Gateway {SECURITY_POLICY_OPERATION_PATH} or newer.",
                CHECK,
            )
        )
    if ai.mode != "install" or eg.mode == "off":
        return problems
    ai_version = effective_version(cfg, "aiGateway")
    needs = AI_GATEWAY_NEEDS.get(minor(ai_version))
    if needs is None:
        problems.append(
            Problem(
                "addons.aiGateway.version",
                f"{ai_version} is not in Envoy AI Gateway's compatibility matrix as read "
                f"(known: {', '.join(sorted(AI_GATEWAY_NEEDS))}).",
                f"pin a listed version (default {PINS['aiGateway'].version}).",
                CHECK,
            )
        )
        return problems
    eg_min, gw_api, k8s_min = needs
    if version_tuple(eg_version) < version_tuple(eg_min):
        problems.append(
            Problem(
                "addons.envoyGateway.version",
                f"Envoy AI Gateway {ai_version} needs Envoy Gateway {eg_min} or newer; "
                f"{eg_version} is pinned.",
                f"set addons.envoyGateway.version to {eg_min} or newer (same minor as the "
                f"Gateway API {gw_api}.x it needs).",
                CHECK,
            )
        )
    bundled = ENVOY_GATEWAY_BUNDLES.get(eg_minor, ("", ()))[0]
    if eg.mode == "install" and bundled and version_tuple(bundled)[:2] < version_tuple(gw_api):
        problems.append(
            Problem(
                "addons.envoyGateway.version",
                f"Envoy Gateway {eg_version} installs Gateway API {bundled}; Envoy AI Gateway "
                f"{ai_version} needs Gateway API {gw_api}.x.",
                f"pin Envoy Gateway {eg_min} or newer.",
                CHECK,
            )
        )
    elif eg.mode == "install" and bundled and minor(bundled) != gw_api:
        # Newer than the tested one: the project says other versions "may work but are not
        # officially supported".
        problems.append(
            Problem(
                "addons.envoyGateway.version",
                f"Envoy Gateway {eg_version} installs Gateway API {bundled}; Envoy AI Gateway "
                f"{ai_version} was tested with Gateway API {gw_api}.x (its compatibility "
                "matrix): a combination it does not state as supported.",
                "run `tgi-infra doctor` after install and test a request end to end; Envoy "
                "Gateway 1.8 (Gateway API 1.5) lacks a SecurityPolicy field the gateway uses.",
                CHECK,
                "warning",
            )
        )
    if k8s and version_tuple(k8s) < version_tuple(k8s_min):
        problems.append(
            Problem(
                "cluster.settings.kubernetesVersion",
                f"Envoy AI Gateway {ai_version} needs Kubernetes {k8s_min}+; {k8s} is set.",
                f"set cluster.settings.kubernetesVersion to {k8s_min} or newer.",
                CHECK,
            )
        )
    return problems


def uses_operation_path(cfg: PlatformConfig) -> bool:
    """Whether a rendered SecurityPolicy matches requests by operation.path."""
    if not cfg.gateway.enabled:
        return False
    from tgi_infra.manifests.gateway import build_gateway_objects

    return any(
        "path" in (rule.get("operation") or {})
        for obj in build_gateway_objects(cfg)
        if obj["kind"] == "SecurityPolicy"
        for rule in (obj["spec"].get("authorization") or {}).get("rules", [])
    )


def rendered_api_versions(cfg: PlatformConfig) -> dict[str, set[str]]:
    """Each custom resource group/version the stack renders -> its kinds."""
    from tgi_infra.manifests.autoscaling import build_autoscaling_objects
    from tgi_infra.manifests.gateway import build_gateway_objects
    from tgi_infra.manifests.nodepools import karpenter_objects
    from tgi_infra.manifests.observability import build_observability_objects

    objs = list(build_observability_objects(cfg, None)) + list(build_autoscaling_objects(cfg))
    if cfg.gateway.enabled:
        objs += build_gateway_objects(cfg)
    for pool in cfg.node_pools:
        if pool.provisioner == "karpenter":
            objs += karpenter_objects(cfg, pool, pool.node_role_name or "node-role")
    out: dict[str, set[str]] = {}
    for obj in objs:
        out.setdefault(obj["apiVersion"], set()).add(obj["kind"])
    return out


def _off(cfg: PlatformConfig, addon: str) -> bool:
    return cfg.addons.entries()[addon].mode == "off"


def check_controllers(cfg: PlatformConfig) -> list[Problem]:
    """Objects whose controller's add-on is `off`; capabilities nothing provides."""
    problems: list[Problem] = []
    needed: dict[str, set[str]] = {}
    for api_version, kinds in rendered_api_versions(cfg).items():
        addon = controller_for(api_version)
        if addon and _off(cfg, addon):
            needed.setdefault(addon, set()).update(f"{k} ({api_version})" for k in kinds)
    for addon, kinds in sorted(needed.items()):
        problems.append(
            Problem(
                f"addons.{addon}.mode",
                f"off, but the stack renders {', '.join(sorted(kinds))}, which only its "
                "controller serves.",
                "set mode: install (or existing when the cluster runs it), or turn off "
                "what renders these objects.",
                CHECK,
            )
        )
    obs = cfg.observability
    autoscaled = any(t.replicas.max > t.replicas.min for t in cfg.tiers)
    if obs.autoscaler == "hpa" and autoscaled and _off(cfg, "prometheusAdapter"):
        problems.append(
            Problem(
                "addons.prometheusAdapter.mode",
                "off, but observability.autoscaler is hpa: the HPAs read tgi_queue_size from "
                "the custom metrics API that prometheus-adapter serves.",
                "set addons.prometheusAdapter.mode: install, or observability.autoscaler: keda.",
                CHECK,
            )
        )
    cache = cfg.cache
    efs = cfg.addons.efs
    if cache.storage_class_name == efs.storage_class_name and efs.mode == "off":
        problems.append(
            Problem(
                "cache.storageClassName",
                f"{cache.storage_class_name} is the EFS add-on's StorageClass, and "
                "addons.efs.mode is off.",
                "set addons.efs.mode: install, or another cache.storageClassName.",
                CHECK,
            )
        )
    if efs.mode == "install" and cache.storage_class_name != efs.storage_class_name:
        problems.append(
            Problem(
                "addons.efs.storageClassName",
                f"EFS is installed as StorageClass {efs.storage_class_name}, but the caches "
                f"use {cache.storage_class_name or 'the cluster default'}.",
                f"set cache.storageClassName: {efs.storage_class_name} (ReadWriteMany).",
                CHECK,
                "warning",
            )
        )
    if cfg.gateway.cluster_issuer and _off(cfg, "certManager"):
        problems.append(
            Problem(
                "gateway.clusterIssuer",
                f"{cfg.gateway.cluster_issuer} is set, but addons.certManager.mode is off.",
                "set addons.certManager.mode: install (with clusterIssuer) or existing.",
                CHECK,
            )
        )
    nvidia = cfg.addons.nvidia
    if nvidia.mode == "off" and not cfg.cluster.gpu_operator_installed:
        problems.append(
            Problem(
                "addons.nvidia.mode",
                "off: nothing advertises nvidia.com/gpu, so no tier's pod can be scheduled.",
                "set mode: install, or existing when the GPU operator already runs.",
                CHECK,
            )
        )
    if cfg.cluster.gpu_operator_installed and (nvidia.mode, nvidia.kind) == (
        "install",
        "gpu-operator",
    ):
        problems.append(
            Problem(
                "addons.nvidia.mode",
                "install, but cluster.gpuOperatorInstalled is true: two device plugins "
                "would advertise the same GPUs.",
                "set addons.nvidia.mode: existing (or gpuOperatorInstalled: false).",
                CHECK,
            )
        )
    eg = cfg.addons.envoy_gateway
    if eg.redis == "existing" and not eg.redis_url:
        problems.append(
            Problem(
                "addons.envoyGateway.redisUrl",
                "redis is existing, but no redisUrl says where it is.",
                "set redisUrl: host:6379, or redis: install.",
                CHECK,
            )
        )
    if cfg.cluster.create and cfg.cluster.kubeconfig_from_secret:
        problems.append(
            Problem(
                "cluster.create",
                "true together with kubeconfigFromSecret: a created cluster's kubeconfig "
                "comes from the cluster itself.",
                "drop kubeconfigFromSecret.",
                CHECK,
            )
        )
    return problems


def check_user_values(cfg: PlatformConfig) -> list[Problem]:
    """Extra values may add, not replace what the platform manages."""
    problems: list[Problem] = []
    for addon, entry in cfg.addons.entries().items():
        if not entry.values:
            continue
        if entry.mode != "install":
            problems.append(
                Problem(
                    f"addons.{addon}.values",
                    f"set, but mode is {entry.mode}: values only apply to an install.",
                    "remove values, or set mode: install.",
                    CHECK,
                    "warning",
                )
            )
            continue
        problems += [
            Problem(
                f"addons.{addon}.values{where}",
                "has a key that is empty or only spaces (''): no chart value has such a "
                "name, so Helm would carry it without effect.",
                "remove the key, or name the chart value it was meant for.",
                CHECK,
            )
            for where in _blank_keys(entry.values)
        ]
        if addon in PINS:
            _, conflicts = merge_values(managed_values(cfg, addon, AddonRefs()), entry.values)
            problems += [
                Problem(
                    f"addons.{addon}.values.{path}",
                    "is managed by tgi-infra (it derives it from the stack config).",
                    "remove it; change the stack setting it comes from (docs/day0.md).",
                    CHECK,
                )
                for path in conflicts
            ]
    return problems


def _blank_keys(values: Any, where: str = "") -> list[str]:
    """Paths (`.a.b`) of the mappings in `values` that have an empty or blank key."""
    if isinstance(values, list):
        return [p for i, v in enumerate(values) for p in _blank_keys(v, f"{where}[{i}]")]
    if not isinstance(values, dict):
        return []
    out = [where] if any(not str(k).strip() for k in values) else []
    return out + [p for k, v in values.items() for p in _blank_keys(v, f"{where}.{k}")]


def check_addons(cfg: PlatformConfig) -> list[Problem]:
    return check_compatibility(cfg) + check_controllers(cfg) + check_user_values(cfg)
