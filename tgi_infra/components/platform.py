"""`TgiPlatform`: the whole stack from one validated PlatformConfig."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import replace

import pulumi
import pulumi_kubernetes as k8s

from tgi_infra import naming
from tgi_infra.checks.launcher import TierCapacity
from tgi_infra.components.gateway import TenantGateway
from tgi_infra.components.kube import register_object, register_objects
from tgi_infra.components.nodepools import GpuNodePool, node_pools
from tgi_infra.components.observability import Observability
from tgi_infra.components.serving import ModelCache, TgiTier
from tgi_infra.config.models import PlatformConfig
from tgi_infra.manifests import cache as cache_builders
from tgi_infra.manifests.benchmark import benchmark_objects
from tgi_infra.manifests.platform import tier_context
from tgi_infra.manifests.serving import namespace


def token_fingerprint(token: str) -> str:
    """A short hash of the HF token: a pod annotation, so a rotation rolls the pods."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


class TgiPlatform(pulumi.ComponentResource):
    """Node pools, namespace, HF token Secret, caches, tiers, gateway and observability.

    Pass the kubernetes (and AWS) providers through `opts.providers`; children inherit
    them. `capacity` comes from `tgi_infra.checks.validate_platform` and carries each
    tier's weight size (cache volume, probe budgets). `tenant_keys` are supplied tenant API
    keys (secret); tenants without one get a generated key.
    """

    namespace: pulumi.Output[str]
    tier_services: pulumi.Output[dict[str, str]]
    pools: dict[str, GpuNodePool]
    tiers: dict[str, TgiTier]
    gateway: TenantGateway | None

    def __init__(
        self,
        name: str,
        cfg: PlatformConfig,
        capacity: Mapping[str, TierCapacity],
        *,
        hf_token: pulumi.Input[str] | None = None,
        tenant_keys: Mapping[str, pulumi.Input[str]] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("tgi-infra:platform:TgiPlatform", name, None, opts)
        self.pools, device_plugin = node_pools(cfg, parent=self)
        ns = register_object(namespace(cfg), pulumi.ResourceOptions(parent=self))
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[ns])
        token_secret: list[pulumi.Resource] = []
        annotations: dict[str, pulumi.Input[str]] = {}
        if hf_token is not None:
            secret_token = pulumi.Output.secret(hf_token)
            token_secret.append(
                k8s.core.v1.Secret(
                    f"{name}-hf-token",
                    metadata={
                        "name": naming.hf_token_secret_name(),
                        "namespace": cfg.cluster.namespace,
                        "labels": naming.labels("credentials", instance=name),
                    },
                    type="Opaque",
                    string_data={"token": secret_token},
                    opts=in_ns,
                )
            )
            # A 64-bit prefix of the token's SHA-256 reveals nothing usable; kept secret it
            # would mark the whole Deployment spec secret and hide it from every preview.
            annotations["tgi-infra/hf-token-sha256"] = pulumi.Output.unsecret(
                secret_token.apply(token_fingerprint)
            )
        shared: list[pulumi.Resource] = []
        if cfg.cache.mode == "shared":
            weights = [capacity[t.name].facts.weight_bytes for t in cfg.tiers]
            claim = cache_builders.shared_volume_claim(weights, cfg.cluster.namespace, cfg.cache)
            keep = pulumi.ResourceOptions.merge(
                in_ns, pulumi.ResourceOptions(retain_on_delete=cfg.cache.retain_on_delete)
            )
            shared.append(register_object(claim, keep))

        services: dict[str, pulumi.Output[str]] = {}
        self.tiers = {}
        for tier in cfg.tiers:
            weight_bytes = capacity[tier.name].facts.weight_bytes
            model_cache = ModelCache(
                f"{name}-{tier.name}-cache",
                tier,
                namespace=cfg.cluster.namespace,
                weight_bytes=weight_bytes,
                cache=cfg.cache,
                hf_token_secret=naming.hf_token_secret_name() if token_secret else None,
                after=[ns, *token_secret, *shared],
                opts=pulumi.ResourceOptions(parent=self),
            )
            ctx = tier_context(
                cfg,
                tier,
                weight_bytes,
                pod_annotations=annotations,
            )
            # Pods need the filled cache, the pool's nodes and the device plugin.
            needs = [model_cache.job, self.pools[tier.node_pool]]
            needs += [device_plugin] if device_plugin else []
            tgi_tier = TgiTier(
                f"{name}-{tier.name}", ctx, after=needs, opts=pulumi.ResourceOptions(parent=self)
            )
            self.tiers[tier.name] = tgi_tier
            # Serving pods run offline without the token; the benchmark Job reads the
            # (possibly gated) tokenizer from the Hub, so it gets it.
            bench_ctx = replace(ctx, hf_token_secret=naming.hf_token_secret_name())
            bench = benchmark_objects(
                bench_ctx if token_secret else ctx, capacity[tier.name]
            )
            register_objects(bench, parent=self, depends_on=[tgi_tier])
            services[tier.name] = tgi_tier.service_name

        weights = {n: cap.facts.weight_bytes for n, cap in capacity.items()}
        Observability(
            f"{name}-observability",
            cfg,
            weights,
            pulumi.ResourceOptions(parent=self),
            tiers=self.tiers,
        )

        self.gateway = None
        if cfg.gateway.enabled:
            self.gateway = TenantGateway(
                f"{name}-gateway",
                cfg,
                pulumi.ResourceOptions(parent=self, depends_on=list(self.tiers.values())),
                supplied_keys=tenant_keys or {},
            )

        self.namespace = pulumi.Output.from_input(cfg.cluster.namespace)
        self.tier_services = pulumi.Output.all(**services)  # type: ignore[arg-type]
        self.register_outputs(
            {
                "namespace": self.namespace,
                "tierServices": self.tier_services,
            }
        )
