"""`TgiPlatform`: the whole stack from one PlatformConfig, validated by the platform itself."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pulumi

from tgi_infra import naming
from tgi_infra.component_args import (
    ModelCacheArgs,
    ObservabilityArgs,
    TenantGatewayArgs,
    TgiTierArgs,
    validated_platform,
)
from tgi_infra.components.addons import AddonNetwork, AddonWiring, PlatformAddons
from tgi_infra.components.gateway import TenantGateway
from tgi_infra.components.kube import register_object, register_objects
from tgi_infra.components.nodepools import GpuNodePool, node_pools
from tgi_infra.components.observability import Observability
from tgi_infra.components.serving import ModelCache, TgiTier
from tgi_infra.config.models import PlatformConfig
from tgi_infra.manifests import cache as cache_builders
from tgi_infra.manifests import credentials
from tgi_infra.manifests.benchmark import benchmark_objects
from tgi_infra.manifests.serving import namespace


class TgiPlatform(pulumi.ComponentResource):
    """Node pools, namespace, HF token Secret, caches, tiers, gateway and observability.

    `config` is a PlatformConfig or the mapping a stack file holds under
    `tgi-infra:platform`; the platform runs every preview-time check on it and raises
    `ConfigInvalid` (each problem naming its field) before registering anything. Every
    child and Kubernetes object is named from `name`, so two platforms fit in one stack
    and on one cluster. Pass the kubernetes (and AWS) providers through `opts.providers`.
    `hf_token` and `tenant_keys` (tenant name to API key) are Pulumi secrets. `network`
    places the add-ons' AWS parts (default: looked up from the existing cluster).
    """

    namespace: pulumi.Output[str]
    tier_services: pulumi.Output[dict[str, str]]
    pools: dict[str, GpuNodePool]
    tiers: dict[str, TgiTier]
    gateway: TenantGateway | None

    def __init__(
        self,
        name: str,
        config: PlatformConfig | Mapping[str, Any],
        opts: pulumi.ResourceOptions | None = None,
        *,
        hf_token: pulumi.Input[str] | None = None,
        tenant_keys: Mapping[str, pulumi.Input[str]] | None = None,
        network: AddonNetwork | None = None,
    ) -> None:
        report = validated_platform(config, tenant_keys or {})
        for problem in report.warnings:
            pulumi.log.warn(str(problem))
        # Every descendant waits for the release of its controller (components/addons.py).
        self._wiring = AddonWiring()
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(transformations=[self._wiring])
        )
        super().__init__("tgi-infra:platform:TgiPlatform", name, None, opts)
        with naming.platform(name):
            self._build(name, report.config, report.capacity, hf_token, tenant_keys or {}, network)

    def _build(
        self,
        name: str,
        cfg: PlatformConfig,
        capacity: Mapping[str, Any],
        hf_token: pulumi.Input[str] | None,
        tenant_keys: Mapping[str, pulumi.Input[str]],
        network: AddonNetwork | None = None,
    ) -> None:
        self.addons = PlatformAddons(
            f"{name}-addons",
            cfg,
            {n: cap.facts.weight_bytes for n, cap in capacity.items()},
            network=network,
            wiring=self._wiring,
            opts=pulumi.ResourceOptions(parent=self),
        )
        subnets = list(network.subnet_ids) if network and network.cluster else None
        self.pools, device_plugin = node_pools(cfg, parent=self, platform=name, subnet_ids=subnets)
        ns = register_object(namespace(cfg), pulumi.ResourceOptions(parent=self))
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[ns])
        token_secret: list[pulumi.Resource] = []
        fingerprint: pulumi.Output[str] | None = None
        if hf_token is not None:
            secret_token = pulumi.Output.secret(hf_token)
            obj = credentials.hf_token_secret(cfg.cluster.namespace, secret_token, instance=name)
            token_secret.append(register_object(obj, in_ns, name=f"{name}-hf-token"))
            fingerprint = pulumi.Output.unsecret(secret_token.apply(credentials.token_fingerprint))
        secret_name = naming.hf_token_secret_name() if token_secret else None
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
            cap = capacity[tier.name]
            model_cache = ModelCache(
                f"{name}-{tier.name}-cache",
                ModelCacheArgs(
                    tier,
                    cap.facts.weight_bytes,
                    cfg.cluster.namespace,
                    cfg.cache,
                    secret_name,
                    depends_on=[ns, *token_secret, *shared],
                    hf_token_fingerprint=fingerprint,
                ),
                pulumi.ResourceOptions(parent=self),
            )
            # Pods need the filled cache, the pool's nodes and the device plugin.
            needs = [model_cache.job, self.pools[tier.node_pool]]
            needs += [device_plugin] if device_plugin else []
            args = TgiTierArgs.from_platform(
                cfg,
                cap,
                hf_token_secret=None,  # serving pods read the cache offline: no token
                depends_on=needs,
            )
            tgi_tier = TgiTier(f"{name}-{tier.name}", args, pulumi.ResourceOptions(parent=self))
            self.tiers[tier.name] = tgi_tier
            assert args.context is not None  # from_platform derives it
            # Serving pods run offline without the token; the benchmark Job reads the
            # (possibly gated) tokenizer from the Hub, so it gets it.
            bench = benchmark_objects(replace(args.context, hf_token_secret=secret_name), cap)
            register_objects(bench, parent=self, depends_on=[tgi_tier])
            services[tier.name] = tgi_tier.service_name

        weights = {n: cap.facts.weight_bytes for n, cap in capacity.items()}
        Observability(
            f"{name}-observability",
            ObservabilityArgs(cfg, weights, self.tiers, platform=name),
            pulumi.ResourceOptions(parent=self),
        )

        self.gateway = None
        if cfg.gateway.enabled:
            self.gateway = TenantGateway(
                f"{name}-gateway",
                TenantGatewayArgs(cfg, tenant_keys, platform=name),
                pulumi.ResourceOptions(parent=self, depends_on=list(self.tiers.values())),
            )

        self.namespace = pulumi.Output.from_input(cfg.cluster.namespace)
        self.tier_services = pulumi.Output.all(**services)  # type: ignore[arg-type]
        self.register_outputs({"namespace": self.namespace, "tierServices": self.tier_services})
