"""`ModelCache` and `TgiTier`: thin components over the pure serving and cache builders."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi

from tgi_infra import naming
from tgi_infra.components.kube import register_object, register_objects
from tgi_infra.config.models import CacheConfig, TierConfig
from tgi_infra.manifests import cache as cache_builders
from tgi_infra.manifests import serving as serving_builders
from tgi_infra.manifests.serving import TierContext


class ModelCache(pulumi.ComponentResource):
    """A tier's weight cache: the volume (per-tier mode), the Job that fills it, and the
    NetworkPolicy that lets the Job (only) reach the Hub.

    Pods of the tier wait for `job`, so they start from the cache and a scale-out never
    reaches the Hub.
    """

    job: pulumi.CustomResource
    claim_name: str

    def __init__(
        self,
        name: str,
        tier: TierConfig,
        *,
        namespace: str,
        weight_bytes: int,
        cache: CacheConfig,
        hf_token_secret: str | None,
        after: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`after`: what the Job must wait for (the namespace, the token Secret, a shared
        volume); a component's own depends_on does not reach its children."""
        super().__init__("tgi-infra:serving:ModelCache", name, None, opts)
        self.claim_name = cache_builders.claim_name(tier, cache)
        after = list(after)
        if cache.mode == "per-tier":
            claim = cache_builders.tier_volume_claim(tier, namespace, weight_bytes, cache)
            keep = pulumi.ResourceOptions(
                parent=self, depends_on=after, retain_on_delete=cache.retain_on_delete
            )
            after.append(register_object(claim, keep))
        egress = cache_builders.download_network_policy(tier, namespace)
        after.append(register_object(egress, pulumi.ResourceOptions(parent=self, depends_on=after)))
        job = cache_builders.download_job(tier, namespace, weight_bytes, cache, hf_token_secret)
        self.job = register_object(job, pulumi.ResourceOptions(parent=self, depends_on=after))
        self.register_outputs({"claimName": self.claim_name})


class TgiTier(pulumi.ComponentResource):
    """One model tier: ServiceAccount, Deployment, router Service, NetworkPolicy, PDB.

    Pass the cache's Job (and the pool) in `after` so pods start from a filled cache. The
    Service is registered after the Deployment and depends on it: on a model swap the new
    Deployment (new name) becomes ready before the Service's selector moves to it, and
    Pulumi deletes the old Deployment last (create-before-delete).
    """

    service_name: pulumi.Output[str]
    deployment_name: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        ctx: TierContext,
        after: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("tgi-infra:serving:TgiTier", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=list(after))
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
        self.service_name = service.id.apply(lambda _: naming.service_name(ctx.tier.name))
        self.deployment_name = deployment.id.apply(lambda _: naming.deployment_name(ctx.tier))
        self.register_outputs(
            {
                "serviceName": self.service_name,
                "deploymentName": self.deployment_name,
            }
        )
