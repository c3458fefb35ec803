"""Pure builders for the add-ons: which Helm releases (chart, repository, pinned version,
values) and which plain objects (Redis, GatewayClass, StorageClass, ClusterIssuer) a stack
installs, and which add-on each custom resource waits for.

Every pin and value name here was read from the chart itself (see `PINS`, and
tests/fixtures/addons/ for the facts kept with their source). Values that only exist once
AWS resources do (the interruption queue, the EFS file system) come in through
`AddonRefs` as plain values or `pulumi.Output`s; nothing here imports Pulumi.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from tgi_infra import naming
from tgi_infra.config.addons import Addon
from tgi_infra.config.models import PlatformConfig
from tgi_infra.manifests.autoscaling import prometheus_adapter_rules
from tgi_infra.manifests.checkov import skip_annotations
from tgi_infra.manifests.nodepools import gpu_taint

K8s = dict[str, Any]


@dataclass(frozen=True)
class Chart:
    """A chart as its project publishes it; `version` is the pin (read from the source)."""

    name: str
    repo: str
    version: str
    namespace: str
    source: str


# Pins (2026-08 snapshots of each project; the compatibility check reads the tables in
# tgi_infra/checks/addons.py). Envoy Gateway 1.9: the gateway's SecurityPolicy matches
# `authorization.rules[].operation.path`, which 1.8.3's CRD lacks (docs/day0.md).
PINS: dict[str, Chart] = {
    "envoyGateway": Chart(
        "gateway-helm",
        "oci://docker.io/envoyproxy",
        "v1.9.0",
        "envoy-gateway-system",
        "envoyproxy/gateway tag v1.9.0 charts/gateway-helm/values.tmpl.yaml",
    ),
    "aiGatewayCrds": Chart(
        "ai-gateway-crds-helm",
        "oci://docker.io/envoyproxy",
        "v1.1.0",
        "envoy-ai-gateway-system",
        "envoyproxy/ai-gateway tag v1.1.0 site/docs/compatibility.md (Helm Upgrade Commands)",
    ),
    "aiGateway": Chart(
        "ai-gateway-helm",
        "oci://docker.io/envoyproxy",
        "v1.1.0",
        "envoy-ai-gateway-system",
        "envoyproxy/ai-gateway tag v1.1.0 manifests/charts/ai-gateway-helm/values.yaml",
    ),
    "prometheus": Chart(
        "kube-prometheus-stack",
        "https://prometheus-community.github.io/helm-charts",
        "88.5.3",
        "monitoring",
        "prometheus-community/helm-charts cf408a2 charts/kube-prometheus-stack (operator v0.93.1)",
    ),
    "prometheusAdapter": Chart(
        "prometheus-adapter",
        "https://prometheus-community.github.io/helm-charts",
        "5.3.0",
        "monitoring",
        "prometheus-community/helm-charts cf408a2 charts/prometheus-adapter",
    ),
    "keda": Chart(
        "keda",
        "https://kedacore.github.io/charts",
        "2.20.2",
        "keda",
        "kedacore/charts 1444d00 keda/Chart.yaml",
    ),
    "karpenter": Chart(
        "karpenter",
        "oci://public.ecr.aws/karpenter",
        "1.14.1",
        "kube-system",
        "aws/karpenter-provider-aws 1d92708 charts/karpenter/values.yaml",
    ),
    "efs": Chart(
        "aws-efs-csi-driver",
        "https://kubernetes-sigs.github.io/aws-efs-csi-driver",
        "4.4.1",
        "kube-system",
        "kubernetes-sigs/aws-efs-csi-driver a4fc676 charts/aws-efs-csi-driver",
    ),
    "nvidia": Chart(
        "gpu-operator",
        "https://helm.ngc.nvidia.com/nvidia",
        "v26.7.0",
        "gpu-operator",
        "NVIDIA/gpu-operator tag v26.7.0 deployments/gpu-operator/values.yaml",
    ),
    "metricsServer": Chart(
        "metrics-server",
        "https://kubernetes-sigs.github.io/metrics-server",
        "3.13.1",
        "kube-system",
        "kubernetes-sigs/metrics-server 5ed5d3a charts/metrics-server",
    ),
    "certManager": Chart(
        "cert-manager",
        "https://charts.jetstack.io",
        "v1.21.1",
        "cert-manager",
        "cert-manager/cert-manager tag v1.21.1 deploy/charts/cert-manager/values.yaml",
    ),
}

# API group -> the add-on whose release brings its CRDs and controller.
CONTROLLER_OF_GROUP: dict[str, str] = {
    "gateway.networking.k8s.io": "envoyGateway",
    "gateway.envoyproxy.io": "envoyGateway",
    "aigateway.envoyproxy.io": "aiGateway",
    "monitoring.coreos.com": "prometheus",
    "karpenter.sh": "karpenter",
    "karpenter.k8s.aws": "karpenter",
    "keda.sh": "keda",
    "cert-manager.io": "certManager",
}
AI_GATEWAY_EXTENSION_PORT = 1063  # ai-gateway v1.1.0 manifests/envoy-gateway-values.yaml
REDIS_IMAGE = "redis:8.2.4-alpine3.22"  # ai-gateway v1.1.0 examples/token_ratelimit/redis.yaml
REDIS_PORT = 6379
KARPENTER_SERVICE_ACCOUNT = "karpenter"
EFS_CONTROLLER_SERVICE_ACCOUNT = "efs-csi-controller-sa"  # the chart's default name
EFS_PROVISIONER = "efs.csi.aws.com"
ENVOY_GATEWAY_CONTROLLER = "gateway.envoyproxy.io/gatewayclass-controller"


@dataclass(frozen=True)
class AddonRefs:
    """Values known only once AWS resources exist (plain values or pulumi Outputs)."""

    karpenter_queue_name: Any = None
    efs_file_system_id: Any = None


@dataclass
class ReleaseSpec:
    """One Helm release: what `helm.v3.Release` receives."""

    key: str
    addon: str
    name: str
    chart: str
    repo: str
    version: str
    namespace: str
    values: K8s = field(default_factory=dict)
    skip_crds: bool = False


def addon_namespace(cfg: PlatformConfig, key: str) -> str:
    """The release namespace: the add-on's `namespace`, the cluster's for the gateway and
    monitoring, else the chart's usual one."""
    entries = cfg.addons.entries()
    entry = entries.get(key)
    if entry is not None and entry.namespace:
        return entry.namespace
    if key == "envoyGateway":
        return cfg.cluster.gateway_namespace
    if key in ("prometheus", "prometheusAdapter"):
        return cfg.cluster.monitoring_namespace
    if key == "aiGatewayCrds":
        return addon_namespace(cfg, "aiGateway")
    return PINS[key].namespace


def redis_url(cfg: PlatformConfig) -> str:
    eg = cfg.addons.envoy_gateway
    if eg.redis == "existing" and eg.redis_url:
        return eg.redis_url
    return f"redis.{addon_namespace(cfg, 'envoyGateway')}.svc.cluster.local:{REDIS_PORT}"


def envoy_gateway_values(cfg: PlatformConfig) -> K8s:
    """EnvoyGateway config: Backend API on, the AI Gateway extension manager, Redis limits."""
    config: K8s = {
        "gateway": {"controllerName": ENVOY_GATEWAY_CONTROLLER},
        "provider": {"type": "Kubernetes"},
        "logging": {"level": {"default": "info"}},
        "extensionApis": {"enableBackend": True, "enableEnvoyPatchPolicy": True},
        "rateLimit": {"backend": {"type": "Redis", "redis": {"url": redis_url(cfg)}}},
    }
    if cfg.addons.ai_gateway.mode != "off":
        ai_ns = addon_namespace(cfg, "aiGateway")
        include = {"includeAll": True}
        config["extensionManager"] = {
            "hooks": {
                "xdsTranslator": {
                    "translation": {
                        "listener": include,
                        "route": include,
                        "cluster": include,
                        "secret": include,
                    },
                    "post": ["Translation", "Cluster", "Route"],
                }
            },
            "service": {
                "fqdn": {
                    "hostname": f"ai-gateway-controller.{ai_ns}.svc.cluster.local",
                    "port": AI_GATEWAY_EXTENSION_PORT,
                }
            },
        }
    return {"config": {"envoyGateway": config}}


def prometheus_values(cfg: PlatformConfig) -> K8s:
    obs = cfg.observability
    if cfg.addons.prometheus.stack == "operator-only":
        off = {"enabled": False}
        return {
            "alertmanager": off,
            "grafana": off,
            "prometheus": off,
            "nodeExporter": off,
            "kubeStateMetrics": off,
            "defaultRules": {"create": False},
        }
    label, value = next(iter(obs.dashboard.sidecar_label.items()), ("grafana_dashboard", "1"))
    return {
        "grafana": {
            "sidecar": {
                "dashboards": {
                    "enabled": True,
                    "label": label,
                    "labelValue": value,
                    "searchNamespace": "ALL",
                }
            }
        },
    }


def prometheus_endpoint(cfg: PlatformConfig) -> tuple[str, int]:
    """(`scheme://host`, port) of observability.prometheusUrl, as the adapter wants them."""
    url = urlparse(cfg.observability.prometheus_url)
    port = url.port or (443 if url.scheme == "https" else 80)
    return f"{url.scheme}://{url.hostname}", port


def adapter_values(cfg: PlatformConfig) -> K8s:
    """The observability builder's rules in `rules.custom`: the chart only registers the
    custom metrics APIService when `rules.default` or `rules.custom` is set."""
    url, port = prometheus_endpoint(cfg)
    return {
        "prometheus": {"url": url, "port": port},
        "rules": {"default": False, "custom": prometheus_adapter_rules(cfg)},
    }


def karpenter_values(cfg: PlatformConfig, refs: AddonRefs) -> K8s:
    settings: K8s = {"clusterName": cfg.cluster.name}
    if cfg.addons.karpenter.interruption_queue and refs.karpenter_queue_name is not None:
        settings["interruptionQueue"] = refs.karpenter_queue_name
    return {
        "settings": settings,
        "serviceAccount": {"name": KARPENTER_SERVICE_ACCOUNT},
        "replicas": 2,
    }


def gpu_operator_values(cfg: PlatformConfig) -> K8s:
    """EKS's NVIDIA AMIs ship the driver and the container toolkit: the operator adds the
    device plugin, GPU feature discovery and the DCGM exporter, whose ServiceMonitor (on by
    default in the chart) carries the labels the stack's Prometheus selects."""
    taint = gpu_taint()
    return {
        "dcgmExporter": {
            "serviceMonitor": {
                "enabled": True,
                "additionalLabels": dict(cfg.observability.prometheus_selector),
            }
        },
        "driver": {"enabled": False},
        "toolkit": {"enabled": False},
        "daemonsets": {
            "tolerations": [{"key": taint["key"], "operator": "Exists", "effect": taint["effect"]}]
        },
    }


def cert_manager_values() -> K8s:
    return {
        "crds": {"enabled": True},
        "config": {
            "apiVersion": "controller.config.cert-manager.io/v1alpha1",
            "kind": "ControllerConfiguration",
            "enableGatewayAPI": True,
        },
    }


def managed_values(cfg: PlatformConfig, key: str, refs: AddonRefs) -> K8s:
    """The values the platform sets for one release (before the user's)."""
    if key == "envoyGateway":
        return envoy_gateway_values(cfg)
    if key == "aiGateway":
        return {"envoyGateway": {"namespace": addon_namespace(cfg, "envoyGateway")}}
    if key == "prometheus":
        return prometheus_values(cfg)
    if key == "prometheusAdapter":
        return adapter_values(cfg)
    if key == "karpenter":
        return karpenter_values(cfg, refs)
    if key == "efs":
        return {"controller": {"serviceAccount": {"name": EFS_CONTROLLER_SERVICE_ACCOUNT}}}
    if key == "nvidia":
        return gpu_operator_values(cfg)
    if key == "certManager":
        return cert_manager_values()
    return {}


def _copy(value: Any) -> Any:
    """A copy of the dicts and lists; other values (pulumi Outputs too) shared."""
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def merge_values(managed: Mapping[str, Any], user: Mapping[str, Any]) -> tuple[K8s, list[str]]:
    """`user` deep-merged over `managed`; also the dotted keys where the user would
    replace a managed value (refused by the checks)."""
    out = _copy(managed)
    conflicts: list[str] = []

    def walk(dst: K8s, src: Mapping[str, Any], prefix: str, managed_here: bool) -> None:
        for k, v in src.items():
            path = f"{prefix}{k}"
            if isinstance(v, Mapping) and isinstance(dst.get(k), dict):
                walk(dst[k], v, path + ".", managed_here)
            else:
                if k in dst and managed_here and dst[k] != v:
                    conflicts.append(path)
                dst[k] = _copy(v)

    walk(out, user, "", True)
    return out, conflicts


def _entry(cfg: PlatformConfig, addon: str) -> Addon:
    return cfg.addons.entries()[addon]


def _release(cfg: PlatformConfig, key: str, addon: str, refs: AddonRefs, **kw: Any) -> ReleaseSpec:
    pin = PINS[key]
    entry = _entry(cfg, addon)
    user = entry.values if key == addon else {}
    values, _ = merge_values(managed_values(cfg, key, refs), user)
    return ReleaseSpec(
        key=key,
        addon=addon,
        name=pin.name
        if key not in ("envoyGateway", "aiGateway", "aiGatewayCrds")
        else {"envoyGateway": "eg", "aiGateway": "aieg", "aiGatewayCrds": "aieg-crd"}[key],
        chart=pin.name,
        repo=pin.repo,
        version=entry.version or pin.version,
        namespace=addon_namespace(cfg, key),
        values=values,
        **kw,
    )


def installs_gpu_operator(cfg: PlatformConfig) -> bool:
    nvidia = cfg.addons.nvidia
    return nvidia.mode == "install" and nvidia.kind == "gpu-operator"


def addon_releases(cfg: PlatformConfig, refs: AddonRefs | None = None) -> list[ReleaseSpec]:
    """Every Helm release of the stack's `install` add-ons, CRD charts first."""
    refs = refs or AddonRefs()
    out: list[ReleaseSpec] = []
    for addon, entry in cfg.addons.entries().items():
        if entry.mode != "install":
            continue
        if addon == "nvidia":
            if installs_gpu_operator(cfg):
                out.append(_release(cfg, "nvidia", addon, refs))
            continue  # the device plugin is the DaemonSet of manifests/nodepools.py
        if addon == "aiGateway":
            out.append(_release(cfg, "aiGatewayCrds", addon, refs))
            out.append(_release(cfg, "aiGateway", addon, refs, skip_crds=True))
            continue
        out.append(_release(cfg, addon, addon, refs))
    return out


def _meta(name: str, namespace: str | None = None) -> K8s:
    meta: K8s = {"name": name, "labels": naming.labels("addon", instance="tgi-infra")}
    if namespace:
        meta["namespace"] = namespace
    return meta


def redis_objects(cfg: PlatformConfig) -> list[K8s]:
    """A single Redis for Envoy Gateway's global rate limits (the AI Gateway example's)."""
    ns = addon_namespace(cfg, "envoyGateway")
    selector = {"app.kubernetes.io/name": "redis", "app.kubernetes.io/instance": "tgi-infra"}
    pod_labels = {**naming.labels("addon", instance="tgi-infra"), **selector}
    meta = _meta("redis", ns)
    meta["annotations"] = skip_annotations(
        CKV_K8S_43="pinned to the release tag Envoy AI Gateway's rate-limit example uses; "
        "no digest was read from a registry here",
    )
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 10001,
                        "runAsGroup": 10001,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "redis",
                            "image": REDIS_IMAGE,
                            "imagePullPolicy": "Always",
                            "args": ["--save", "", "--appendonly", "no"],
                            "ports": [{"name": "redis", "containerPort": REDIS_PORT}],
                            "resources": {
                                "requests": {"cpu": "100m", "memory": "128Mi"},
                                "limits": {"cpu": "1", "memory": "512Mi"},
                            },
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]},
                            },
                            "readinessProbe": {"tcpSocket": {"port": REDIS_PORT}},
                            "livenessProbe": {"tcpSocket": {"port": REDIS_PORT}},
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                        }
                    ],
                    "volumes": [{"name": "data", "emptyDir": {}}],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta("redis", ns),
        "spec": {
            "selector": selector,
            "ports": [{"name": "redis", "port": REDIS_PORT, "targetPort": REDIS_PORT}],
        },
    }
    # Only Envoy Gateway's rate-limit pods (same namespace) talk to Redis.
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta("redis", ns),
        "spec": {
            "podSelector": {"matchLabels": selector},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {
                    "from": [{"podSelector": {}}],
                    "ports": [{"protocol": "TCP", "port": REDIS_PORT}],
                }
            ],
            "egress": [],
        },
    }
    return [deployment, service, policy]


def gateway_class(cfg: PlatformConfig) -> K8s:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "GatewayClass",
        "metadata": _meta(cfg.gateway.gateway_class_name),
        "spec": {"controllerName": ENVOY_GATEWAY_CONTROLLER},
    }


def efs_storage_class(cfg: PlatformConfig, file_system_id: Any) -> K8s:
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": _meta(cfg.addons.efs.storage_class_name),
        "provisioner": EFS_PROVISIONER,
        "parameters": {
            "provisioningMode": "efs-ap",
            "fileSystemId": file_system_id,
            "directoryPerms": "700",
            "basePath": "/tgi-infra",
        },
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
    }


def cluster_issuer(cfg: PlatformConfig) -> K8s | None:
    issuer = cfg.addons.cert_manager.cluster_issuer
    if issuer is None or cfg.addons.cert_manager.mode != "install":
        return None
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "ClusterIssuer",
        "metadata": _meta(issuer.name),
        "spec": {
            "acme": {
                "email": issuer.email,
                "server": issuer.server,
                "privateKeySecretRef": {"name": f"{issuer.name}-account-key"},
                "solvers": [
                    {
                        "http01": {
                            "gatewayHTTPRoute": {
                                "parentRefs": [
                                    {
                                        "name": naming.gateway_name(),
                                        "namespace": cfg.cluster.namespace,
                                        "kind": "Gateway",
                                    }
                                ]
                            }
                        }
                    }
                ],
            }
        },
    }


def controller_for(api_version: str) -> str | None:
    """The add-on whose release serves `api_version` (`group/version`); None for core."""
    group = api_version.rpartition("/")[0]
    return CONTROLLER_OF_GROUP.get(group)


def needs_of(type_token: str, props: Mapping[str, Any], storage_class: str | None) -> set[str]:
    """What a resource about to be registered must wait for, from its Pulumi type token
    (`kubernetes:<group>/<version>:<Kind>`) and inputs: `cluster` for EKS resources that
    name the cluster by string, `addon:<key>` for the release of a
    custom resource's controller (and prometheus-adapter for an HPA), `gpu` for a tier's
    pods, `storage` for a claim on `storage_class` and for a tier's pods when the caches
    use it."""
    if type_token.startswith("aws:eks/"):
        return {"cluster"}  # node groups, access entries, pod identity: by cluster name
    if not type_token.startswith("kubernetes:") or type_token.startswith("kubernetes:helm"):
        return set()
    api_version = type_token.split(":")[1]
    out: set[str] = set()
    owner = controller_for(api_version)
    if owner:
        out.add(f"addon:{owner}")
    kind = type_token.rsplit(":", 1)[-1]
    meta = props.get("metadata") or {}
    labels = meta.get("labels") or {} if isinstance(meta, Mapping) else {}
    if kind == "Deployment" and isinstance(labels, Mapping) and naming.TIER_LABEL in labels:
        out |= {"gpu", "storage"} if storage_class else {"gpu"}
    if kind == "HorizontalPodAutoscaler":
        out.add("addon:prometheusAdapter")
    if kind == "PersistentVolumeClaim" and storage_class:
        spec = props.get("spec") or {}
        if isinstance(spec, Mapping) and spec.get("storageClassName") == storage_class:
            out.add("storage")
    return out
