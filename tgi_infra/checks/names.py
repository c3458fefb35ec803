"""Names the stack gives Kubernetes and AWS: their syntax, and collisions between the
objects the platform derives from them.

Derived names come from `tgi_infra.naming`, the functions the builders call; a test
renders the offline plan and asserts every object's (kind, namespace, name) is in
`derived_names`, so this table cannot drift from what is created.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from tgi_infra import naming
from tgi_infra.config.models import PlatformConfig, TierConfig
from tgi_infra.problems import Problem

DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$")
SUBNET_ID = re.compile(r"^subnet-[0-9a-f]{8,17}$")
IAM_ROLE = re.compile(r"^[\w+=,.@-]{1,64}$")
EKS_CLUSTER = re.compile(r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$")
MAX_SERVED_NAME = 256

# Per tier, in cluster.namespace: (kind, name of the tier's object).
TIER_OBJECTS: tuple[tuple[str, Callable[[TierConfig, PlatformConfig], str]], ...] = (
    ("Deployment", lambda t, c: naming.deployment_name(t)),
    ("Service", lambda t, c: naming.service_name(t.name)),
    ("ServiceAccount", lambda t, c: naming.service_account_name(t.name)),
    ("NetworkPolicy", lambda t, c: naming.tier_base(t.name)),
    ("NetworkPolicy", lambda t, c: naming.download_policy_name(t.name)),
    ("NetworkPolicy", lambda t, c: f"{naming.tier_base(t.name)}-bench"),
    ("NetworkPolicy", lambda t, c: f"{naming.tier_base(t.name)}-from-bench"),
    ("Job", lambda t, c: _bench_job_name(t, c)),
    ("PodDisruptionBudget", lambda t, c: naming.tier_base(t.name)),
    ("PersistentVolumeClaim", lambda t, c: naming.cache_name(t, c.cache)),
    ("Job", lambda t, c: naming.download_job_name(t)),
    ("HorizontalPodAutoscaler", lambda t, c: naming.autoscaler_name(t.name)),
    ("HorizontalPodAutoscaler", lambda t, c: naming.keda_hpa_name(t.name)),
    ("ScaledObject", lambda t, c: naming.autoscaler_name(t.name)),
    ("ServiceMonitor", lambda t, c: naming.tier_base(t.name)),
    ("PodMonitor", lambda t, c: naming.tier_base(t.name)),
    ("PrometheusRule", lambda t, c: naming.tier_base(t.name)),
    ("AIServiceBackend", lambda t, c: naming.ai_backend_name(t.name)),
    ("Backend", lambda t, c: naming.ai_backend_name(t.name)),
    ("HTTPRoute", lambda t, c: naming.fallback_route_name(t.name)),
    ("SecurityPolicy", lambda t, c: naming.fallback_route_name(t.name)),
)

Key = tuple[str, str, str]


def _bench_job_name(tier: TierConfig, cfg: PlatformConfig) -> str:
    """The benchmark Job's name, as its builder derives it (from the tier's context)."""
    from tgi_infra.manifests.benchmark import job_name
    from tgi_infra.manifests.platform import tier_context

    if not any(p.name == tier.node_pool for p in cfg.node_pools):
        return f"{naming.tier_base(tier.name)}-bench"
    return job_name(tier_context(cfg, tier, 0))


def derived_names(cfg: PlatformConfig) -> dict[Key, list[str]]:
    """(kind, namespace, name) -> the config entries that derive it."""
    ns = cfg.cluster.namespace
    out: dict[Key, list[str]] = {}

    def add(kind: str, namespace: str, name: str, owner: str) -> None:
        out.setdefault((kind, namespace, name), []).append(owner)

    for tier in cfg.tiers:
        for kind, fn in TIER_OBJECTS:
            add(kind, ns, fn(tier, cfg), f"tiers[{tier.name}]")
    for tenant in cfg.tenants:
        add("Secret", ns, naming.tenant_key_secret_name(tenant.name), f"tenants[{tenant.name}]")
    for pool in cfg.node_pools:
        for kind in ("NodePool", "EC2NodeClass"):
            add(kind, "", naming.karpenter_pool_name(pool.name), f"nodePools[{pool.name}]")
    platform = "platform"
    add("Namespace", "", ns, platform)
    add("Secret", ns, naming.hf_token_secret_name(), platform)
    add("PersistentVolumeClaim", ns, naming.shared_cache_name(cfg.cache), platform)
    add("Gateway", ns, naming.gateway_name(), platform)
    for kind in ("AIGatewayRoute", "HTTPRoute", "SecurityPolicy"):
        for index in range(max(1, len(cfg.tiers))):
            add(kind, ns, naming.openai_route_name(index), platform)
    add("BackendTrafficPolicy", ns, naming.gateway_limits_policy_name(), platform)
    add("ClientTrafficPolicy", ns, naming.gateway_client_policy_name(), platform)
    mon = cfg.cluster.monitoring_namespace
    for name in (
        naming.dashboard_name(),
        naming.adapter_rules_name(),
        naming.alert_rules_configmap_name(),
    ):
        add("ConfigMap", mon, name, platform)
    for kind in ("DaemonSet", "NetworkPolicy"):
        add(kind, "kube-system", naming.device_plugin_name(), platform)
    return out


def check_name_collisions(cfg: PlatformConfig) -> list[Problem]:
    """Two entries that would render the same object: one would overwrite the other."""
    problems = []
    for (kind, ns, name), owners in derived_names(cfg).items():
        distinct = sorted(set(owners))
        if len(distinct) < 2:
            continue
        where = f"{ns}/{name}" if ns else name
        problems.append(
            Problem(
                distinct[-1],
                f"derives {kind} {where}, which {', '.join(distinct[:-1])} derives too: one "
                "would overwrite the other on the cluster.",
                "rename one of them (a tier name should not end in another tier's name plus "
                "-download, -fallback or a model hash).",
                "derived-name-collision",
            )
        )
    return problems


def _label_problems(path: str, labels: dict[str, str]) -> Iterator[Problem]:
    for key, value in labels.items():
        prefix, _, name = key.rpartition("/")
        if (prefix and (len(prefix) > 253 or not DNS_SUBDOMAIN.match(prefix))) or not (
            len(name) <= 63 and LABEL_NAME.match(name)
        ):
            yield Problem(
                f"{path}.{key[:80]}",
                f"{key[:80]!r} is not a Kubernetes label key.",
                "use [prefix/]name: name ≤ 63 of letters, digits, - _ . (alphanumeric at "
                "both ends); prefix a DNS subdomain.",
                "label-syntax",
            )
        if value and not (len(value) <= 63 and LABEL_NAME.match(value)):
            yield Problem(
                f"{path}.{key[:80]}",
                f"{value[:80]!r} is not a Kubernetes label value.",
                "use at most 63 letters, digits, - _ . (alphanumeric at both ends), or ''.",
                "label-syntax",
            )


def _subdomain(path: str, value: str | None, what: str) -> list[Problem]:
    if value is None or (len(value) <= 253 and DNS_SUBDOMAIN.match(value)):
        return []
    return [
        Problem(
            path,
            f"{value[:80]!r} is not a valid {what} name.",
            "use lowercase letters, digits, '-' and '.', at most 253, alphanumeric at both ends.",
            "name-syntax",
        )
    ]


def check_name_syntax(cfg: PlatformConfig) -> list[Problem]:
    """Names Kubernetes, EKS and IAM would refuse at `pulumi up`."""
    problems: list[Problem] = []
    if not EKS_CLUSTER.match(cfg.cluster.name):
        problems.append(
            Problem(
                "cluster.name",
                f"{cfg.cluster.name[:80]!r} is not an EKS cluster name.",
                "use letters, digits, - and _, at most 100, starting alphanumeric.",
                "name-syntax",
            )
        )
    problems += _subdomain("cache.storageClassName", cfg.cache.storage_class_name, "StorageClass")
    problems += _subdomain(
        "gateway.gatewayClassName", cfg.gateway.gateway_class_name, "GatewayClass"
    )
    problems += _subdomain("gateway.clusterIssuer", cfg.gateway.cluster_issuer, "ClusterIssuer")
    obs = cfg.observability
    problems += _label_problems("observability.prometheusSelector", obs.prometheus_selector)
    problems += _label_problems("observability.dashboard.sidecarLabel", obs.dashboard.sidecar_label)
    for pool in cfg.node_pools:
        path = f"nodePools[{pool.name}]"
        problems += _label_problems(f"{path}.labels", pool.labels)
        for subnet in pool.subnet_ids:
            if not SUBNET_ID.match(subnet):
                problems.append(
                    Problem(
                        f"{path}.subnetIds",
                        f"{subnet[:80]!r} is not a subnet id.",
                        "use ids like subnet-0123456789abcdef0.",
                        "name-syntax",
                    )
                )
        if pool.node_role_name is not None and not IAM_ROLE.match(pool.node_role_name):
            problems.append(
                Problem(
                    f"{path}.nodeRoleName",
                    f"{pool.node_role_name[:80]!r} is not an IAM role name.",
                    "use letters, digits and +=,.@_-, at most 64.",
                    "name-syntax",
                )
            )
    for tier in cfg.tiers:
        problems += _served_name(tier)
    return problems


def _served_name(tier: TierConfig) -> list[Problem]:
    """The `model` clients send: routed by the gateway, shown in metrics and dashboards."""
    name = tier.served_model_name if tier.served_model_name is not None else tier.model_id
    key = "servedModelName" if tier.served_model_name is not None else "modelId"
    path = f"tiers[{tier.name}].{key}"
    if (
        not name.strip()
        or name != name.strip()
        or name.startswith("-")
        or len(name) > MAX_SERVED_NAME
    ):
        return [
            Problem(
                path,
                f"{name[:80]!r} is not a usable model name (empty, padded with spaces, "
                f"longer than {MAX_SERVED_NAME}, or starting with `-`, which vllm, sglang "
                "and the benchmark Job read as a flag).",
                "use the name clients send, e.g. llama-3.1-8b.",
                "served-model-name",
            )
        ]
    return []
