"""`ModelCache` and `TgiTier`: thin components over the pure serving and cache builders.

Both take validated args (`tgi_infra.component_args`): a bad tier never reaches them.
Their Kubernetes objects are named from the component's name (`naming.platform`).
"""

from __future__ import annotations

from dataclasses import replace

import pulumi

from tgi_infra import naming
from tgi_infra.component_args import ModelCacheArgs, TgiTierArgs
from tgi_infra.components.kube import register_object, register_objects
from tgi_infra.config.models import CacheConfig, NodePoolConfig, TierConfig
from tgi_infra.manifests import cache as cache_builders
from tgi_infra.manifests import credentials
from tgi_infra.manifests import serving as serving_builders
from tgi_infra.manifests.nodepools import tier_scheduling
from tgi_infra.manifests.serving import TierContext


def _platform_of(name: str, tier: str) -> str:
    """The platform part of a tier component's name (`team-a-chat` -> `team-a`)."""
    return name.removesuffix(f"-{tier}") or name


class ModelCache(pulumi.ComponentResource):
    """A tier's weight cache: the volume (per-tier mode), the Job that fills it, and the
    NetworkPolicy that lets the Job (only) reach the Hub.

    Pods of the tier wait for `job`, so they start from the cache and a scale-out never
    reaches the Hub.
    """

    job: pulumi.CustomResource
    claim_name: str

    def __init__(
        self, name: str, args: ModelCacheArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("tgi-infra:serving:ModelCache", name, None, opts)
        tier = args.tier
        assert isinstance(tier, TierConfig)
        if naming.in_scope():  # under a TgiPlatform or TgiTier: their names
            self._build(args)
            return
        base = name.removesuffix("-cache")  # alone: names from its own name
        with naming.platform(_platform_of(base, tier.name), tiers={tier.name: base}):
            self._build(args)

    def _build(self, args: ModelCacheArgs) -> None:
        tier, cache = args.tier, args.cache
        assert isinstance(tier, TierConfig) and isinstance(cache, CacheConfig)
        self.claim_name = cache_builders.claim_name(tier, cache)
        after = list(args.depends_on)
        if cache.mode == "per-tier":
            claim = cache_builders.tier_volume_claim(tier, args.namespace, args.weight_bytes, cache)
            keep = pulumi.ResourceOptions(
                parent=self, depends_on=after, retain_on_delete=cache.retain_on_delete
            )
            after.append(register_object(claim, keep))
        egress = cache_builders.download_network_policy(tier, args.namespace)
        after.append(register_object(egress, pulumi.ResourceOptions(parent=self, depends_on=after)))
        job = cache_builders.download_job(
            tier,
            args.namespace,
            args.weight_bytes,
            cache,
            args.hf_token_secret,
            args.hf_token_fingerprint,
        )
        self.job = register_object(job, pulumi.ResourceOptions(parent=self, depends_on=after))
        self.register_outputs({"claimName": self.claim_name})


class TgiTier(pulumi.ComponentResource):
    """One model tier: its weight cache, ServiceAccount, Deployment, router Service,
    NetworkPolicy and PDB; and the HF token Secret when given the token.

    Kubernetes names start with the component's name (`TgiTier("team-a-chat", ...)`: the
    Service `team-a-chat`, the Deployment `team-a-chat-<model hash>`). The Service is
    registered after the Deployment and depends on it: on a model swap the new Deployment
    (new name) becomes ready before the Service's selector moves to it, and Pulumi deletes
    the old Deployment last (create-before-delete).
    """

    service_name: pulumi.Output[str]
    deployment_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: TgiTierArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("tgi-infra:serving:TgiTier", name, None, opts)
        tier, pool = args.tier, args.node_pool
        assert isinstance(tier, TierConfig) and isinstance(pool, NodePoolConfig)
        with naming.platform(_platform_of(name, tier.name), tiers={tier.name: name}):
            self._build(name, args, tier, pool)

    def _build(self, name: str, args: TgiTierArgs, tier: TierConfig, pool: NodePoolConfig) -> None:
        after = list(args.depends_on)
        secret_name = args.hf_token_secret
        annotations: dict[str, pulumi.Input[str]] = dict(args.pod_annotations)
        fingerprint: pulumi.Output[str] | None = None
        if args.hf_token is not None:
            token = pulumi.Output.secret(args.hf_token)
            obj = credentials.hf_token_secret(args.namespace, token, instance=tier.name)
            after.append(register_object(obj, pulumi.ResourceOptions(parent=self)))
            secret_name = naming.hf_token_secret_name()
            fingerprint = pulumi.Output.unsecret(token.apply(credentials.token_fingerprint))
        assert isinstance(args.cache, CacheConfig)
        if args.create_cache:
            cache = ModelCache(
                f"{name}-cache",
                ModelCacheArgs(
                    tier,
                    args.weight_bytes,
                    args.namespace,
                    args.cache,
                    secret_name,
                    depends_on=after,
                    hf_token_fingerprint=fingerprint,
                ),
                pulumi.ResourceOptions(parent=self),
            )
            after.append(cache.job)
        ctx = args.context or self._context(args, tier, pool)
        ctx = replace(
            ctx,
            # Serving pods read the cache offline: no token, and no restart on a rotation.
            hf_token_secret=None,
            pod_annotations={**ctx.pod_annotations, **annotations},
        )
        child = pulumi.ResourceOptions(parent=self, depends_on=after)
        sa = register_object(serving_builders.service_account(ctx), child)
        deployment_opts = pulumi.ResourceOptions(
            parent=self,
            depends_on=[sa, *after],
            # The autoscaler owns replicas once the Deployment exists.
            ignore_changes=["spec.replicas"] if ctx.autoscaled else None,
        )
        deployment = register_object(serving_builders.deployment(ctx), deployment_opts)
        service = register_object(
            serving_builders.service(ctx),
            pulumi.ResourceOptions(parent=self, depends_on=[deployment]),
        )
        rest = [serving_builders.network_policy(ctx)]
        pdb = serving_builders.disruption_budget(ctx)
        rest += [pdb] if pdb else []
        register_objects(rest, parent=self)
        # Resolve the names once the objects exist, so users' resources wait for them.
        svc, dep = naming.service_name(tier.name), naming.deployment_name(tier)
        self.service_name = service.id.apply(lambda _: svc)
        self.deployment_name = deployment.id.apply(lambda _: dep)
        self.register_outputs(
            {"serviceName": self.service_name, "deploymentName": self.deployment_name}
        )

    @staticmethod
    def _context(args: TgiTierArgs, tier: TierConfig, pool: NodePoolConfig) -> TierContext:
        """The builders' context of a standalone tier, from its args."""
        assert isinstance(args.cache, CacheConfig)
        node_selector, tolerations = tier_scheduling(pool)
        return TierContext(
            tier=tier,
            namespace=args.namespace,  # type: ignore[arg-type]  # an Input passes through
            pool=pool,
            weight_bytes=args.weight_bytes,
            cache_claim=cache_builders.claim_name(tier, args.cache),
            gateway_namespace=args.gateway_namespace,
            monitoring_namespace=args.monitoring_namespace,
            usage_stats=args.usage_stats,
            autoscaled=args.autoscaled,
            node_selector=node_selector,
            tolerations=tuple(tolerations),
        )
