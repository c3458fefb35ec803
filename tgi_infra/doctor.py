"""`tgi-infra doctor`: which CRDs, controllers and settings a stack needs, and which a live
cluster has. Read-only (get and list calls only), through the official Kubernetes client.

`requirements(cfg)` is pure: what the stack's rendered objects and add-ons need.
`inspect(requirements, client)` asks the cluster; `Finding`s carry what was found,
including controller versions read from their images.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, Literal

import yaml

from tgi_infra.config.models import PlatformConfig
from tgi_infra.manifests.addons import CONTROLLER_OF_GROUP, addon_namespace

Kind = Literal["crd", "controller", "apiservice", "storageclass", "gatewayclass", "config"]

# Image repositories (without registry) of each add-on's controller, as their charts ship
# them, and the workload kind that runs it.
CONTROLLER_IMAGES: dict[str, tuple[str, str]] = {
    "envoyGateway": ("Deployment", "envoyproxy/gateway"),
    "aiGateway": ("Deployment", "envoyproxy/ai-gateway-controller"),
    "prometheus": ("Deployment", "prometheus-operator/prometheus-operator"),
    "prometheusAdapter": ("Deployment", "prometheus-adapter/prometheus-adapter"),
    "keda": ("Deployment", "kedacore/keda"),
    "karpenter": ("Deployment", "karpenter/controller"),
    "efs": ("Deployment", "amazon/aws-efs-csi-driver"),
    "metricsServer": ("Deployment", "metrics-server/metrics-server"),
    "certManager": ("Deployment", "jetstack/cert-manager-controller"),
    "nvidia/device-plugin": ("DaemonSet", "nvidia/k8s-device-plugin"),
    "nvidia/gpu-operator": ("Deployment", "nvidia/gpu-operator"),
}
# Every kind the library renders, per add-on: the CRDs `doctor` without a stack checks.
KINDS_OF: dict[str, list[tuple[str, str]]] = {
    "envoyGateway": [
        ("gateway.networking.k8s.io/v1", "GatewayClass"),
        ("gateway.networking.k8s.io/v1", "Gateway"),
        ("gateway.networking.k8s.io/v1", "HTTPRoute"),
        ("gateway.envoyproxy.io/v1alpha1", "SecurityPolicy"),
        ("gateway.envoyproxy.io/v1alpha1", "BackendTrafficPolicy"),
        ("gateway.envoyproxy.io/v1alpha1", "ClientTrafficPolicy"),
        ("gateway.envoyproxy.io/v1alpha1", "Backend"),
    ],
    "aiGateway": [
        ("aigateway.envoyproxy.io/v1beta1", "AIGatewayRoute"),
        ("aigateway.envoyproxy.io/v1beta1", "AIServiceBackend"),
    ],
    "prometheus": [
        ("monitoring.coreos.com/v1", "ServiceMonitor"),
        ("monitoring.coreos.com/v1", "PodMonitor"),
        ("monitoring.coreos.com/v1", "PrometheusRule"),
    ],
    "karpenter": [("karpenter.sh/v1", "NodePool"), ("karpenter.k8s.aws/v1", "EC2NodeClass")],
    "keda": [("keda.sh/v1alpha1", "ScaledObject")],
}
CUSTOM_METRICS_API = "v1beta1.custom.metrics.k8s.io"
ENVOY_GATEWAY_CONFIG = ("envoy-gateway-config", "envoy-gateway.yaml")  # gateway-helm v1.9.0


@dataclass(frozen=True)
class Requirement:
    addon: str
    kind: Kind
    name: str
    detail: str = ""
    """crd: the version that must be served; controller: the workload kind."""
    min_version: str = ""
    """controller: the lowest image version the stack works with (empty: any)."""


@dataclass(frozen=True)
class Finding:
    requirement: Requirement
    present: bool
    found: str = ""
    too_old: bool = False


def plural(kind: str) -> str:
    """The resource name Kubernetes' CRDs of these projects use (lowercase plural)."""
    low = kind.lower()
    if low.endswith("y") and low[-2:-1] not in ("a", "e", "i", "o", "u"):
        return low[:-1] + "ies"
    if low.endswith("s"):
        return low + "es"
    return low + "s"


def crd_name(api_version: str, kind: str) -> str:
    return f"{plural(kind)}.{api_version.rpartition('/')[0]}"


def _crd(addon: str, api_version: str, kind: str) -> Requirement:
    return Requirement(addon, "crd", crd_name(api_version, kind), api_version.rpartition("/")[2])


def _controller(addon: str, image_key: str | None = None) -> Requirement:
    workload, image = CONTROLLER_IMAGES[image_key or addon]
    return Requirement(addon, "controller", image, workload)


def requirements(cfg: PlatformConfig | None) -> list[Requirement]:
    """What the stack needs on the cluster; without a stack, every add-on's CRDs and
    controllers (device plugin for GPUs)."""
    if cfg is None:
        out = [_crd(a, v, k) for a, kinds in KINDS_OF.items() for v, k in kinds]
        keys = [k for k in CONTROLLER_IMAGES if not k.startswith("nvidia/gpu")]
        return out + [_controller(k.split("/")[0], k) for k in keys]
    from tgi_infra.checks.addons import rendered_api_versions

    modes = {a: e.mode for a, e in cfg.addons.entries().items()}
    out: list[Requirement] = []
    needed: set[str] = set()
    for api_version, kinds in sorted(rendered_api_versions(cfg).items()):
        addon = CONTROLLER_OF_GROUP.get(api_version.rpartition("/")[0])
        if addon is None or modes.get(addon) == "off":
            continue
        needed.add(addon)
        out += [_crd(addon, api_version, kind) for kind in sorted(kinds)]
    if cfg.gateway.enabled and modes["envoyGateway"] != "off":
        out.append(Requirement("envoyGateway", "gatewayclass", cfg.gateway.gateway_class_name))
        out.append(
            Requirement(
                "envoyGateway",
                "config",
                f"{addon_namespace(cfg, 'envoyGateway')}/{ENVOY_GATEWAY_CONFIG[0]}",
                "ai" if modes["aiGateway"] != "off" else "",
            )
        )
    autoscaled = any(t.replicas.max > t.replicas.min for t in cfg.tiers)
    if cfg.observability.autoscaler == "hpa" and autoscaled:
        needed.add("prometheusAdapter")
        out.append(Requirement("prometheusAdapter", "apiservice", CUSTOM_METRICS_API))
    if cfg.cache.storage_class_name:
        out.append(Requirement("efs", "storageclass", cfg.cache.storage_class_name))
    for addon in sorted(needed):
        if modes.get(addon) != "off" and addon in CONTROLLER_IMAGES:
            req = _controller(addon)
            if addon == "envoyGateway":
                req = replace(req, min_version=envoy_gateway_minimum(cfg))
            out.append(req)
    nvidia = cfg.addons.nvidia
    if nvidia.mode != "off":
        key = "nvidia/gpu-operator" if nvidia.kind == "gpu-operator" else "nvidia/device-plugin"
        out.append(_controller("nvidia", key))
    if modes["metricsServer"] != "off":
        out.append(_controller("metricsServer"))
    return out


def envoy_gateway_minimum(cfg: PlatformConfig) -> str:
    """The lowest Envoy Gateway the stack's objects and AI Gateway pin work with."""
    from tgi_infra.checks.addons import (
        AI_GATEWAY_NEEDS,
        SECURITY_POLICY_OPERATION_PATH,
        effective_version,
        minor,
        uses_operation_path,
        version_tuple,
    )

    floors = ["0.0.0"]
    if uses_operation_path(cfg):
        floors.append(SECURITY_POLICY_OPERATION_PATH)
    if cfg.addons.ai_gateway.mode != "off":
        needs = AI_GATEWAY_NEEDS.get(minor(effective_version(cfg, "aiGateway")))
        floors += [needs[0]] if needs else []
    return max(floors, key=version_tuple) if len(floors) > 1 else ""


def image_version(image: str, repository: str) -> str | None:
    """The tag of `image` when its repository ends with `repository`; None otherwise."""
    name, _, tag = image.partition("@")[0].rpartition(":")
    if not name or "/" in tag:
        name, tag = image.partition("@")[0], ""
    return (tag or "untagged") if name.endswith(repository) else None


class ClusterReader:
    """The read-only calls `inspect` makes, over one `kubernetes.client.ApiClient`."""

    def __init__(self, api_client: Any) -> None:
        from kubernetes import client

        self.ext = client.ApiextensionsV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.core = client.CoreV1Api(api_client)
        self.storage = client.StorageV1Api(api_client)
        self.registration = client.ApiregistrationV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self.apis = client.ApisApi(api_client)

    def served_groups(self) -> dict[str, list[str]]:
        """API discovery (`/apis`): every group the cluster serves, with its versions."""
        groups = self.apis.get_api_versions().groups or []
        return {g.name: [v.version for v in g.versions] for g in groups}

    def crds(self) -> dict[str, list[str]]:
        items = self.ext.list_custom_resource_definition().items
        return {c.metadata.name: [v.name for v in c.spec.versions if v.served] for c in items}

    def images(self, workload: str) -> list[tuple[str, str]]:
        lister = (
            self.apps.list_deployment_for_all_namespaces
            if workload == "Deployment"
            else self.apps.list_daemon_set_for_all_namespaces
        )
        return [
            (f"{d.metadata.namespace}/{d.metadata.name}", c.image)
            for d in lister().items
            for c in d.spec.template.spec.containers
        ]


def _older(version: str | None, floor: str) -> bool:
    from tgi_infra.checks.addons import version_tuple

    parsed = version_tuple(version or "")
    return bool(parsed) and parsed < version_tuple(floor)


def _missing(status: int) -> bool:
    return status == 404


def inspect(reqs: Iterable[Requirement], reader: ClusterReader) -> list[Finding]:
    """Each requirement with what the cluster has (read-only)."""
    from kubernetes.client.exceptions import ApiException

    reqs = list(reqs)
    want_crds = any(r.kind == "crd" for r in reqs)
    crds = reader.crds() if want_crds else {}
    discovered = reader.served_groups() if want_crds else {}
    images: dict[str, list[tuple[str, str]]] = {}
    out: list[Finding] = []
    for req in reqs:
        if req.kind == "crd":
            served = crds.get(req.name)
            group = req.name.partition(".")[2]
            ok = bool(served) and req.detail in served and req.detail in discovered.get(group, [])
            found = f"serves {', '.join(served)}" if served else ""
            out.append(Finding(req, ok, found))
        elif req.kind == "controller":
            listed = images.setdefault(req.detail, reader.images(req.detail))
            hits = [(w, image_version(i, req.name)) for w, i in listed]
            hits = [(w, v) for w, v in hits if v]
            found = ", ".join(f"{w} {v}" for w, v in hits)
            old = (
                bool(hits)
                and bool(req.min_version)
                and all(_older(v, req.min_version) for _, v in hits)
            )
            if old:
                found += f" (needs ≥ {req.min_version})"
            out.append(Finding(req, bool(hits) and not old, found, too_old=old))
        else:
            try:
                out.append(_read_one(req, reader))
            except ApiException as exc:
                if not _missing(exc.status):
                    raise
                out.append(Finding(req, False, ""))
    return out


def _read_one(req: Requirement, reader: ClusterReader) -> Finding:
    if req.kind == "apiservice":
        svc = reader.registration.read_api_service(req.name)
        conditions = (svc.status.conditions or []) if svc.status else []
        available = any(c.type == "Available" and c.status == "True" for c in conditions)
        ref = svc.spec.service
        where = f"{ref.namespace}/{ref.name}" if ref else "local"
        return Finding(req, available, f"{where}, Available={available}")
    if req.kind == "storageclass":
        sc = reader.storage.read_storage_class(req.name)
        return Finding(req, True, sc.provisioner)
    if req.kind == "gatewayclass":
        gc = reader.custom.get_cluster_custom_object(
            "gateway.networking.k8s.io", "v1", "gatewayclasses", req.name
        )
        return Finding(req, True, gc.get("spec", {}).get("controllerName", ""))
    namespace, name = req.name.split("/")
    cm = reader.core.read_namespaced_config_map(name, namespace)
    return envoy_gateway_config_finding(req, (cm.data or {}).get(ENVOY_GATEWAY_CONFIG[1], ""))


def envoy_gateway_config_finding(req: Requirement, text: str) -> Finding:
    """Envoy Gateway's own config: the Backend API, the rate-limit backend and (with AI
    Gateway) the extension manager must be on, or policies are accepted but not enforced."""
    config = yaml.safe_load(text) or {}
    lacks = []
    if not (config.get("extensionApis") or {}).get("enableBackend"):
        lacks.append("extensionApis.enableBackend")
    if not (config.get("rateLimit") or {}).get("backend"):
        lacks.append("rateLimit.backend")
    if req.detail == "ai" and not config.get("extensionManager"):
        lacks.append("extensionManager")
    found = "lacks " + ", ".join(lacks) if lacks else "Backend API, rate limits, extension on"
    return Finding(req, not lacks, found)
