"""Typed args of the components, and the guards that check them (pure: no resource here).

Each component takes one flat args object of what it needs, in the style of pulumi-awsx
and pulumi-eks. Fields that a user would fill from another resource's output accept a
`pulumi.Input` (the namespace, the HF token or its Secret's name, subnets, the cluster
name of the node group). Config-shaped fields accept the model or the same mapping a
stack file holds (camelCase keys).

The guards run when the args are built (`__post_init__`), with the same named checks
`tgi-infra validate` runs, so a component only ever receives valid args and imports no
check: a bad field raises `ConfigInvalid`, whose problems name the field, the value, the
limit and the fix. `TgiTierArgs.from_platform` builds a platform tier's args from the
validated config, the way `TgiPlatform` does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pulumi
from pydantic import BaseModel, ValidationError

from tgi_infra.capacity.facts import ModelFacts
from tgi_infra.capacity.model_facts import ModelFactsError
from tgi_infra.checks import default_facts_resolver
from tgi_infra.checks.cost import PoolCost, pool_cost
from tgi_infra.checks.launcher import TierCapacity, check_tier_arguments, check_tier_capacity
from tgi_infra.checks.launcher import plan_tier as _plan_tier
from tgi_infra.checks.pools import check_tier_requests, pool_hardware
from tgi_infra.config.models import (
    CacheConfig,
    ClusterConfig,
    NodePoolConfig,
    PlatformConfig,
    TierConfig,
)
from tgi_infra.manifests.platform import tier_context, with_default_requests
from tgi_infra.manifests.serving import TierContext
from tgi_infra.problems import ConfigInvalid, Problem, errors

M = TypeVar("M", bound=BaseModel)


def as_model(model: type[M], value: M | Mapping[str, Any], path: str) -> M:
    """`value` as `model`, from the model itself or its camelCase mapping; problems are
    named `<path>.<key>`."""
    if isinstance(value, model):
        return value
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join([path, *(str(p) for p in err["loc"])])
            problems.append(
                Problem(
                    where,
                    f"{err['msg']} (got {err.get('input')!r}).",
                    "see docs/config.md.",
                    f"schema-{err['type']}",
                )
            )
        raise ConfigInvalid(problems) from None


def _raise_errors(problems: list[Problem]) -> None:
    if errors(problems):
        raise ConfigInvalid(errors(problems))


def platform_config(value: PlatformConfig | Mapping[str, Any]) -> PlatformConfig:
    """A PlatformConfig from itself or the `tgi-infra:platform` mapping of a stack file."""
    if isinstance(value, PlatformConfig):
        return value
    from tgi_infra.config.loader import parse_platform

    return parse_platform(dict(value))


@dataclass
class ModelCacheArgs:
    """A tier's weight cache: its volume (per-tier mode), the download Job and its egress."""

    tier: TierConfig | Mapping[str, Any]
    """The tier whose weights are cached (its modelId, revision, quantize)."""
    weight_bytes: int
    """Checkpoint size in bytes (sizes the volume and the Job's deadline)."""
    namespace: pulumi.Input[str] = "tgi"
    """Namespace of the Job and the volume; may be a Namespace resource's output."""
    cache: CacheConfig | Mapping[str, Any] = field(default_factory=CacheConfig)
    """Cache mode, access mode, storage class and headroom (see docs/config.md, cache)."""
    hf_token_secret: pulumi.Input[str] | None = None
    """Name of a Secret (key `token`) holding the HF token; None for public models."""
    depends_on: Sequence[pulumi.Resource] = ()
    """What the Job waits for (the namespace, the token Secret, a shared volume)."""
    hf_token_fingerprint: pulumi.Input[str] | None = None
    """`credentials.token_fingerprint` of the token (not secret): the Job's pod annotation
    `tgi-infra/hf-token-sha256`, so a rotation replaces the Job (a no-op once the weights'
    marker exists). None: no annotation (a public model, or a Secret managed elsewhere)."""

    def __post_init__(self) -> None:
        self.tier = as_model(TierConfig, self.tier, "tier")
        self.cache = as_model(CacheConfig, self.cache, "cache")
        if self.weight_bytes < 1:
            raise ConfigInvalid([Problem("weight_bytes", f"{self.weight_bytes} is not > 0.")])


@dataclass
class TgiTierArgs:
    """One model tier: its cache, Deployment, router Service, NetworkPolicy and PDB.

    Checked when built: TGI's launcher rules on `tier`, and the memory plan of the model
    on `node_pool`'s GPU (facts from the Hub, a modelSpec, or the shipped catalog).
    """

    tier: TierConfig | Mapping[str, Any]
    """The tier, in the stack file's schema (docs/config.md, tiers[])."""
    node_pool: NodePoolConfig | Mapping[str, Any]
    """The pool whose nodes run the tier (its GPU sizes the memory plan; its label and
    taint schedule the pods). The nodes must exist, labelled `tgi-infra/pool=<name>`."""
    namespace: pulumi.Input[str] = "tgi"
    """Namespace of the tier's objects; may be a Namespace resource's output."""
    hf_token: pulumi.Input[str] | None = None
    """The HF token (kept secret): the tier creates a Secret with it, which the download Job
    reads (its pod template carries the token's fingerprint); serving pods run offline
    without it. Excludes hf_token_secret."""
    hf_token_secret: pulumi.Input[str] | None = None
    """Name of an existing Secret (key `token`) with the HF token. Excludes hf_token."""
    cache: CacheConfig | Mapping[str, Any] = field(default_factory=CacheConfig)
    """The weight cache (docs/config.md, cache)."""
    create_cache: bool = True
    """False when the caller registers the tier's ModelCache (TgiPlatform does)."""
    gateway_namespace: str = "envoy-gateway-system"
    """Namespace whose pods may call the tier (the NetworkPolicy admits it)."""
    monitoring_namespace: str = "monitoring"
    """Namespace whose pods may scrape the tier."""
    usage_stats: str = "off"
    """TGI's usage statistics (USAGE_STATS)."""
    min_full_length_requests: int = 4
    """Warn when the KV cache holds fewer full-length requests (the platform's default)."""
    depends_on: Sequence[pulumi.Resource] = ()
    """What the pods wait for besides the cache (the pool, the device plugin)."""
    facts: ModelFacts | None = None
    """Model facts; by default resolved from the tier (Hub, modelSpec or catalog)."""
    autoscaled: bool = False
    """An autoscaler you add owns `spec.replicas` (the Deployment then ignores it)."""
    pod_annotations: Mapping[str, Any] = field(default_factory=dict)
    """Extra pod annotations."""
    context: TierContext | None = None
    """The builders' context as the platform derives it (`from_platform`:
    `manifests.platform.tier_context`); when set, it is what the tier renders."""
    checked: bool = False
    """The caller already ran these checks on a whole platform (`from_platform`)."""
    capacity: TierCapacity | None = field(default=None, init=False)
    """The memory plan the guard computed."""

    def __post_init__(self) -> None:
        self.tier = as_model(TierConfig, self.tier, "tier")
        self.node_pool = as_model(NodePoolConfig, self.node_pool, "node_pool")
        self.cache = as_model(CacheConfig, self.cache, "cache")
        requested = self.tier
        self.tier = with_default_requests(self.tier, self.node_pool)
        if not self.checked:
            _raise_errors(check_tier_args(self, requested))

    @property
    def weight_bytes(self) -> int:
        assert self.facts is not None  # resolved by the guard or given by the platform
        return self.facts.weight_bytes

    @classmethod
    def from_platform(
        cls,
        cfg: PlatformConfig,
        cap: TierCapacity,
        *,
        hf_token_secret: str | None,
        pod_annotations: Mapping[str, Any] | None = None,
        depends_on: Sequence[pulumi.Resource] = (),
    ) -> TgiTierArgs:
        """A platform tier's args from the validated config and its planned capacity: the
        builders' context is `tier_context`'s, the one the checks render too."""
        tier = cap.tier
        ctx = tier_context(
            cfg,
            tier,
            cap.facts.weight_bytes,
            has_hf_token=hf_token_secret is not None,
            pod_annotations=dict(pod_annotations or {}),
        )
        return cls(
            tier=ctx.tier,
            node_pool=ctx.pool,
            namespace=ctx.namespace,
            hf_token_secret=hf_token_secret,
            cache=cfg.cache,
            create_cache=False,
            gateway_namespace=ctx.gateway_namespace,
            monitoring_namespace=ctx.monitoring_namespace,
            usage_stats=ctx.usage_stats,
            min_full_length_requests=cfg.capacity.min_full_length_requests,
            depends_on=depends_on,
            facts=cap.facts,
            autoscaled=ctx.autoscaled,
            context=ctx,
            checked=True,
        )


def check_tier_args(args: TgiTierArgs, requested: TierConfig | None = None) -> list[Problem]:
    """The platform's named checks on one tier: launcher rules, pool, requests, memory fit.

    `requested`: the tier as given, before CPU/memory requests were defaulted from the
    pool's node (explicit requests must fit the node)."""
    tier, pool = args.tier, args.node_pool
    assert isinstance(tier, TierConfig) and isinstance(pool, NodePoolConfig)
    problems = check_tier_arguments(tier)
    if args.hf_token is not None and args.hf_token_secret is not None:
        problems.append(
            Problem(
                "hf_token_secret",
                "is set together with hf_token.",
                "pass the token (the tier makes the Secret) or a Secret's name, not both.",
                "hf-token-exclusive",
            )
        )
    if tier.node_pool != pool.name:
        problems.append(
            Problem(
                "tier.nodePool",
                f"{tier.node_pool!r} is not node_pool {pool.name!r}.",
                f"set tier.nodePool to {pool.name!r}.",
                "tier-pool",
            )
        )
    hw = pool_hardware(pool)
    if hw is None:
        problems.append(
            Problem(
                "node_pool.instanceTypes",
                f"{pool.instance_types} has a type the catalog does not know.",
                "use instance types from the catalog.",
                "instance-type-known",
            )
        )
        return problems
    one_tier = PlatformConfig.model_construct(tiers=[requested or tier])
    problems += check_tier_requests(one_tier, {pool.name: hw})
    if args.facts is None:
        try:
            args.facts = default_facts_resolver(tier)
        except ModelFactsError as exc:
            problems.append(
                Problem(
                    "tier.modelId",
                    str(exc),
                    "add a modelSpec to the tier, or run with Hub access (HF_TOKEN).",
                    "model-facts",
                )
            )
            return problems
    args.capacity = _plan_tier(tier, args.facts, hw.gpu, hw.gpus_per_node)
    problems += check_tier_capacity(
        args.capacity, min_full_length_requests=args.min_full_length_requests
    )
    return [_tier_path(p, tier.name) for p in problems]


def _tier_path(problem: Problem, tier: str) -> Problem:
    """`tiers[chat].maxInputTokens` -> `tier.maxInputTokens`: the args field's name."""
    from dataclasses import replace

    prefix = f"tiers[{tier}]"
    if problem.path.startswith(prefix):
        return replace(problem, path="tier" + problem.path.removeprefix(prefix))
    return problem


@dataclass
class GpuNodePoolArgs:
    """A GPU node pool on an existing EKS cluster: what it needs of the cluster, no more."""

    pool: NodePoolConfig | Mapping[str, Any]
    """The pool (docs/config.md, nodePools[])."""
    cluster_name: pulumi.Input[str]
    """The EKS cluster's name, or another resource's output (a cluster created in the same
    program): the node group's and access entry's cluster, the subnet lookup, Karpenter's
    subnet discovery."""
    region: str
    """The cluster's AWS region (the partition of the node policies' ARNs)."""
    subnet_ids: pulumi.Input[Sequence[str]] | None = None
    """Managed pools: the node group's subnets (e.g. a VPC's output); default: the pool's
    subnetIds, else the cluster's own subnets (looked up)."""
    node_role_name: pulumi.Input[str] | None = None
    """An existing role for the nodes (default: the pool's nodeRoleName, else one is
    created with EKS's node policies)."""
    environment: str = "dev"
    """Tag `tgi-infra/environment`."""
    cost: PoolCost | None = None
    """The pool's cost range (an output); `gpu_node_pool_args` fills it from the tiers."""
    platform: str | None = None
    """The platform whose pool this is (Karpenter and IAM names); default: the
    component's name."""
    cluster_label: str | None = None
    """The cluster's name inside strings: the node role's name, descriptions, tags. Default:
    `cluster_name` when it is a plain str, else the platform's (or component's) name."""

    def __post_init__(self) -> None:
        self.pool = as_model(NodePoolConfig, self.pool, "pool")
        for name in (self.cluster_name, self.cluster_label):
            if isinstance(name, str):  # same rules as the stack
                ClusterConfig(name=name, region=self.region)

    def label(self, component: str) -> str:
        """The plain cluster name the builders put in names, descriptions and tags."""
        if self.cluster_label:
            return self.cluster_label
        if isinstance(self.cluster_name, str):
            return self.cluster_name
        return self.platform or component

    def platform_view(self, component: str) -> PlatformConfig:
        """The part of a PlatformConfig the pool builders read (cluster, environment)."""
        return PlatformConfig.model_construct(
            environment=self.environment,
            cluster=ClusterConfig(name=self.label(component), region=self.region),
            node_pools=[self.pool],
            tiers=[],
        )


def gpu_node_pool_args(
    cfg: PlatformConfig,
    pool: NodePoolConfig,
    platform: str | None = None,
    subnet_ids: pulumi.Input[Sequence[str]] | None = None,
) -> GpuNodePoolArgs:
    """A platform pool's args, with its cost from the tiers it runs (and `subnet_ids`,
    a created cluster's, for managed pools)."""
    hw = pool_hardware(pool)
    tiers = [t for t in cfg.tiers if t.node_pool == pool.name]
    return GpuNodePoolArgs(
        pool=pool,
        cluster_name=cfg.cluster.name,
        region=cfg.cluster.region,
        environment=cfg.environment,
        cost=pool_cost(hw, tiers) if hw else None,
        platform=platform,
        subnet_ids=subnet_ids,
    )


@dataclass
class TenantGatewayArgs:
    """The gateway of one platform: its config's tenants, tiers and gateway settings."""

    config: PlatformConfig | Mapping[str, Any]
    """The platform config (tenants, gateway, tiers, cluster namespaces)."""
    tenant_keys: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Supplied API keys (secret) by tenant; tenants without one get a generated key."""
    platform: str | None = None
    """The platform whose objects these are (names); default: the component's name."""

    def __post_init__(self) -> None:
        from tgi_infra.checks.gateway import check_tenant_key_names

        self.config = platform_config(self.config)
        _raise_errors(check_tenant_key_names(self.config, self.tenant_keys))


@dataclass
class ObservabilityArgs:
    """Monitors, rules, autoscalers, the dashboard and the adapter rules of one platform."""

    config: PlatformConfig | Mapping[str, Any]
    """The platform config (tiers, observability, cluster namespaces)."""
    weight_bytes: Mapping[str, int] = field(default_factory=dict)
    """Checkpoint size by tier (autoscaler windows, time-based alerts)."""
    tiers: Mapping[str, pulumi.Resource] = field(default_factory=dict)
    """Each tier's component: its monitor, rules and autoscaler wait for it."""
    platform: str | None = None
    """The platform whose objects these are (names); default: the component's name."""

    def __post_init__(self) -> None:
        from tgi_infra.checks.observability import check_observability

        self.config = platform_config(self.config)
        _raise_errors(check_observability(self.config))


@dataclass
class ValidatedPlatform:
    """A platform config that passed every check, with each tier's memory plan."""

    config: PlatformConfig
    capacity: dict[str, TierCapacity]
    warnings: list[Problem]


def validated_platform(
    config: PlatformConfig | Mapping[str, Any],
    tenant_keys: Mapping[str, Any] | None = None,
) -> ValidatedPlatform:
    """`validate_platform` plus the supplied tenant keys' names; ConfigInvalid on errors."""
    from tgi_infra.checks import validate_platform
    from tgi_infra.checks.gateway import check_tenant_key_names
    from tgi_infra.problems import warnings

    report = validate_platform(platform_config(config))
    report.problems += check_tenant_key_names(report.config, tenant_keys or {})
    _raise_errors(report.problems)
    return ValidatedPlatform(report.config, report.tiers, warnings(report.problems))
