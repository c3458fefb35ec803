"""One tier as Kubernetes objects: ServiceAccount, Deployment, router Service, PDB.

The container (image, command, args, env, port, probes) comes from the tier's engine
plug-in (`tgi_infra.engines`); nothing here names an engine's flag.

Blue/green model swaps: the Deployment is named and labelled by `naming.model_hash`
(model, revision, quantization, engine). A swap renders a Deployment with a new name; the
component creates it and waits for it to be ready before the Service's selector moves to
the new hash, and the old Deployment is deleted last.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from tgi_infra import naming
from tgi_infra.capacity.node_fit import (
    DEFAULT_CPU_MILLIS_PER_SHARD,
    DEFAULT_MEMORY_PER_SHARD,
    GIB,
)
from tgi_infra.capacity.timing import pod_startup_seconds
from tgi_infra.config.models import NodePoolConfig, PlatformConfig, TierConfig
from tgi_infra.engines import engine_of
from tgi_infra.engines.base import DATA_DIR, GRACEFUL_SHUTDOWN_SECONDS, ServingContext
from tgi_infra.escape import kube_literal_container
from tgi_infra.manifests.checkov import run_as_root_skips, skip_annotations

TGI_GRACEFUL_SHUTDOWN_SECONDS = GRACEFUL_SHUTDOWN_SECONDS
PROBE_PERIOD_SECONDS = 10
SHM_SIZE = "1Gi"
LOGICAL_NAME = "pulumi.tgi-infra/logical-name"
PULUMI_TIMEOUT = "pulumi.com/timeoutSeconds"
K8s = dict[str, Any]


@dataclass(frozen=True)
class TierContext:
    """Everything a tier's objects depend on besides the tier itself.

    Built from a PlatformConfig by `tier_context`, or by hand when a stack imports
    `TgiTier` alone.
    """

    tier: TierConfig
    namespace: str
    pool: NodePoolConfig
    weight_bytes: int
    cache_claim: str
    gateway_namespace: str = "envoy-gateway-system"
    monitoring_namespace: str = "monitoring"
    usage_stats: str = "off"
    hf_token_secret: str | None = naming.hf_token_secret_name()
    autoscaled: bool = False
    extra_env: tuple[K8s, ...] = ()
    pod_annotations: dict[str, str] = field(default_factory=dict)
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[K8s, ...] = ()
    otlp_endpoint: str | None = None  # engines that take it as a flag (not TGI's env)


def image(tier: TierConfig) -> str:
    """The engine's image by tag, or by digest when imageVersion is `sha256:<digest>`."""
    return engine_of(tier).image(tier)


def image_skips(tier: TierConfig) -> tuple[str, ...]:
    return () if tier.engine_version.startswith("sha256:") else ("CKV_K8S_43",)


def server_container(ctx: TierContext) -> K8s:
    """name, image, command, args and env of the tier's engine container."""
    engine = engine_of(ctx.tier)
    spec = engine.container(
        ctx.tier,
        ServingContext(
            usage_stats=ctx.usage_stats,
            otlp_endpoint=ctx.otlp_endpoint,
            service_name=naming.service_name(ctx.tier.name),
        ),
    )
    env: list[K8s] = [{"name": k, "value": v} for k, v in spec.env]
    if ctx.hf_token_secret:
        env.append(secret_env("HF_TOKEN", ctx.hf_token_secret))
    out: K8s = {"name": engine.name, "image": image(ctx.tier), "imagePullPolicy": "IfNotPresent"}
    if spec.command is not None:
        out["command"] = list(spec.command)
    if spec.args:
        out["args"] = list(spec.args)
    out["env"] = env + list(ctx.extra_env)
    return kube_literal_container(out)


def secret_env(name: str, secret: str, key: str = "token") -> K8s:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def restricted_container_security(run_as_user: int | None, *, read_only_root: bool = False) -> K8s:
    """No privilege escalation, every capability dropped, seccomp; non-root when a UID is
    set (the official TGI image runs as root: `TierConfig.run_as_user`)."""
    out: K8s = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": read_only_root,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if run_as_user is not None:
        out["runAsNonRoot"] = True
    return out


def pod_security(run_as_user: int | None) -> K8s:
    if run_as_user is None:
        return {"seccompProfile": {"type": "RuntimeDefault"}}
    return {
        "runAsNonRoot": True,
        "runAsUser": run_as_user,
        "runAsGroup": run_as_user,
        "fsGroup": run_as_user,
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def probes(ctx: TierContext) -> K8s:
    """startup on /health with a budget from the weight size; readiness; a lenient liveness.

    Liveness only starts once startup succeeded, so a pod is never killed mid-load.
    """
    paths = engine_of(ctx.tier).probe

    def get(path: str) -> K8s:
        return {"httpGet": {"path": path, "port": naming.TGI_PORT_NAME}}

    budget = pod_startup_seconds(ctx.weight_bytes // ctx.tier.num_shard)
    return {
        "startupProbe": {
            **get(paths.startup),
            "periodSeconds": PROBE_PERIOD_SECONDS,
            "timeoutSeconds": 5,
            "failureThreshold": math.ceil(budget / PROBE_PERIOD_SECONDS),
        },
        "readinessProbe": {
            **get(paths.readiness),
            "periodSeconds": PROBE_PERIOD_SECONDS,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        },
        "livenessProbe": {
            **get(paths.liveness),
            "periodSeconds": 30,
            "timeoutSeconds": 10,
            "failureThreshold": 6,
        },
    }


def volumes(ctx: TierContext) -> tuple[list[K8s], list[K8s]]:
    """(volumes, mounts): the weight cache read-only, /tmp, and /dev/shm when sharded."""
    vols: list[K8s] = [
        {
            "name": "model-cache",
            "persistentVolumeClaim": {"claimName": ctx.cache_claim, "readOnly": True},
        },
        {"name": "tmp", "emptyDir": {"sizeLimit": "10Gi"}},
    ]
    mounts: list[K8s] = [
        {"name": "model-cache", "mountPath": DATA_DIR, "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    if ctx.tier.num_shard > 1:
        vols.append({"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": SHM_SIZE}})
        mounts.append({"name": "shm", "mountPath": "/dev/shm"})
    return vols, mounts


def deployment(ctx: TierContext) -> K8s:
    tier = ctx.tier
    # Unset requests are filled from the pool's instance type by `tier_context`; a
    # hand-built context without them gets the per-shard defaults.
    cpu = tier.cpu_request or f"{DEFAULT_CPU_MILLIS_PER_SHARD * tier.num_shard}m"
    memory = tier.memory_request or f"{DEFAULT_MEMORY_PER_SHARD * tier.num_shard // GIB}Gi"
    # Image pull on a fresh node plus load and warmup: a rollout may take this long.
    progress_deadline = pod_startup_seconds(ctx.weight_bytes) + 600
    gpus = str(tier.num_shard)
    vols, mounts = volumes(ctx)
    pod_labels = {
        **naming.labels("server", instance=tier.name, tier=tier.name, engine=tier.engine),
        **naming.version_selector(tier),
    }
    port = engine_of(tier).port
    container = {
        **server_container(ctx),
        "ports": [{"name": naming.TGI_PORT_NAME, "containerPort": port, "protocol": "TCP"}],
        "resources": {
            "requests": {
                "cpu": cpu,
                "memory": memory,
                naming.GPU_RESOURCE: gpus,
            },
            "limits": {"memory": memory, naming.GPU_RESOURCE: gpus},
        },
        **probes(ctx),
        "securityContext": restricted_container_security(tier.run_as_user),
        "volumeMounts": mounts,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": naming.deployment_name(tier),
            "namespace": ctx.namespace,
            "labels": pod_labels,
            "annotations": {
                LOGICAL_NAME: f"{naming.tier_base(tier.name)}-server",
                # How long `pulumi up` waits for the rollout (pulumi-kubernetes' default: 10m).
                PULUMI_TIMEOUT: str(progress_deadline + 300),
                **skip_annotations(
                    *image_skips(tier),
                    "CKV_K8S_11",
                    "CKV_K8S_15",
                    "CKV_K8S_22",
                    "CKV_K8S_35",
                    **run_as_root_skips(tier.run_as_user),
                ),
            },
        },
        "spec": {
            "replicas": tier.replicas.min,
            "revisionHistoryLimit": 3,
            "progressDeadlineSeconds": progress_deadline,
            "selector": {"matchLabels": naming.version_selector(tier)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {"labels": pod_labels, "annotations": dict(ctx.pod_annotations)},
                "spec": {
                    "serviceAccountName": naming.service_account_name(tier.name),
                    "automountServiceAccountToken": False,
                    # No `<SERVICE>_PORT` env from the namespace's Services: a Service named
                    # vllm or sglang would inject VLLM_PORT / SGLANG_PORT (tcp://...), which
                    # those engines read as their own settings.
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": engine_of(tier).graceful_shutdown_seconds
                    + 30,
                    "securityContext": pod_security(tier.run_as_user),
                    "nodeSelector": dict(ctx.node_selector),
                    "tolerations": list(ctx.tolerations),
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "kubernetes.io/hostname",
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": naming.version_selector(tier)},
                        }
                    ],
                    "containers": [container],
                    "volumes": vols,
                },
            },
        },
    }


def service(ctx: TierContext) -> K8s:
    """The tier's router Service; its selector names the live model version."""
    tier = ctx.tier
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": naming.service_name(tier.name),
            "namespace": ctx.namespace,
            "labels": naming.labels(
                "router", instance=tier.name, tier=tier.name, engine=tier.engine
            ),
        },
        "spec": {
            "type": "ClusterIP",
            "selector": naming.version_selector(tier),
            "ports": [
                {
                    "name": naming.TGI_PORT_NAME,
                    "port": naming.SERVICE_PORT,
                    "targetPort": naming.TGI_PORT_NAME,
                    "protocol": "TCP",
                    "appProtocol": "http",
                }
            ],
        },
    }


def service_account(ctx: TierContext) -> K8s:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": naming.service_account_name(ctx.tier.name),
            "namespace": ctx.namespace,
            "labels": naming.labels("server", instance=ctx.tier.name, tier=ctx.tier.name),
        },
        "automountServiceAccountToken": False,
    }


def disruption_budget(ctx: TierContext) -> K8s | None:
    """At most one pod of a multi-replica tier down for voluntary disruptions."""
    tier = ctx.tier
    if tier.replicas.max < 2:
        return None
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {
            "name": naming.tier_base(tier.name),
            "namespace": ctx.namespace,
            "labels": naming.labels("server", instance=tier.name, tier=tier.name),
        },
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": naming.tier_selector(tier.name)},
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }


def network_policy(ctx: TierContext) -> K8s:
    """Ingress only from the gateway and Prometheus; egress only DNS (and OTLP if set)."""
    tier = ctx.tier
    ns_from = [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}
        for ns in sorted({ctx.gateway_namespace, ctx.monitoring_namespace})
    ]
    egress: list[K8s] = [dns_egress()]
    otlp_port = _otlp_port(ctx.extra_env, ctx.otlp_endpoint)
    if otlp_port:
        egress.append({"ports": [{"protocol": "TCP", "port": otlp_port}]})
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": naming.tier_base(tier.name),
            "namespace": ctx.namespace,
            "labels": naming.labels("server", instance=tier.name, tier=tier.name),
        },
        "spec": {
            "podSelector": {"matchLabels": naming.tier_selector(tier.name)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {"from": ns_from, "ports": [{"protocol": "TCP", "port": engine_of(tier).port}]}
            ],
            "egress": egress,
        },
    }


def dns_egress() -> K8s:
    return {
        "to": [
            {
                "namespaceSelector": {
                    "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                },
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
            }
        ],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }


def _otlp_port(env: tuple[K8s, ...], endpoint: str | None = None) -> int | None:
    endpoint = endpoint or next(
        (e.get("value") for e in env if e.get("name") == "OTLP_ENDPOINT"), None
    )
    if not endpoint:
        return None
    tail = str(endpoint).rstrip("/").rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else 4317


def tier_objects(ctx: TierContext) -> list[K8s]:
    """The tier's objects in creation order (the Service after the Deployment)."""
    objs = [service_account(ctx), deployment(ctx), service(ctx), network_policy(ctx)]
    pdb = disruption_budget(ctx)
    return objs + ([pdb] if pdb else [])


def namespace(cfg: PlatformConfig) -> K8s:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": cfg.cluster.namespace,
            "labels": {
                "app.kubernetes.io/part-of": naming.PART_OF,
                "app.kubernetes.io/managed-by": naming.MANAGED_BY,
                # Pods as root (the official image) pass "baseline", not "restricted".
                "pod-security.kubernetes.io/enforce": (
                    "restricted"
                    if all(t.run_as_user is not None for t in cfg.tiers)
                    else "baseline"
                ),
                "pod-security.kubernetes.io/warn": "restricted",
            },
        },
    }
