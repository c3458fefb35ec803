"""`Platform` and `Tier`: the provider's components, flat args other languages can fill.

Their args are TypedDicts whose annotations the component provider host turns into the
package schema (docstrings become descriptions). Config-shaped values (a platform, a tier,
a node pool, a cache) are plain objects in the stack file's schema (docs/config.md),
checked by the library components with the same named checks as `tgi-infra validate`.
"""


from typing import Any, NotRequired, TypedDict

import pulumi

from tgi_infra.component_args import TgiTierArgs
from tgi_infra.components.platform import TgiPlatform
from tgi_infra.components.serving import TgiTier


class PlatformArgs(TypedDict):
    platform: dict[str, Any]
    """The platform, as a stack file holds it under `tgi-infra:platform` (docs/config.md)."""
    hf_token: NotRequired[pulumi.Input[str]]
    """The Hugging Face token (a secret): the platform's HF token Secret."""
    tenant_keys: NotRequired[dict[str, pulumi.Input[str]]]
    """API keys (secrets) by tenant; tenants without one get a generated key."""


class Platform(pulumi.ComponentResource):
    """Node pools, namespace, HF token Secret, caches, tiers, gateway and observability of
    one platform (tgi-infra's TgiPlatform); every name starts with the resource's name."""

    namespace: pulumi.Output[str]
    """The platform's namespace."""
    tier_services: pulumi.Output[dict[str, str]]
    """Each tier's router Service name (port 80 in the namespace)."""
    gateway_endpoint: pulumi.Output[str | None]
    """The OpenAI-compatible base URL, when the gateway is enabled."""

    def __init__(
        self, name: str, args: PlatformArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("tgi-infra:index:Platform", name, {}, opts)
        platform = TgiPlatform(
            name,
            args["platform"],
            pulumi.ResourceOptions(parent=self),
            hf_token=args.get("hf_token"),
            tenant_keys=args.get("tenant_keys"),
        )
        self.namespace = platform.namespace
        self.tier_services = platform.tier_services
        gateway = platform.gateway
        self.gateway_endpoint = (
            gateway.endpoint if gateway is not None else pulumi.Output.from_input(None)
        )
        self.register_outputs(
            {
                "namespace": self.namespace,
                "tierServices": self.tier_services,
                "gatewayEndpoint": self.gateway_endpoint,
            }
        )


class TierArgs(TypedDict):
    tier: dict[str, Any]
    """The tier, in the stack file's schema (docs/config.md, tiers[])."""
    node_pool: dict[str, Any]
    """The pool whose nodes run the tier (docs/config.md, nodePools[])."""
    namespace: NotRequired[pulumi.Input[str]]
    """Namespace of the tier's objects (default tgi); may be another resource's output."""
    hf_token: NotRequired[pulumi.Input[str]]
    """The HF token (a secret): the tier creates its Secret. Excludes hfTokenSecret."""
    hf_token_secret: NotRequired[pulumi.Input[str]]
    """Name of an existing Secret (key `token`) with the HF token. Excludes hfToken."""
    cache: NotRequired[dict[str, Any]]
    """The weight cache (docs/config.md, cache)."""
    gateway_namespace: NotRequired[str]
    """Namespace whose pods may call the tier (default envoy-gateway-system)."""


class Tier(pulumi.ComponentResource):
    """One model tier (tgi-infra's TgiTier): its weight cache, Deployment, router Service,
    NetworkPolicy and PDB, checked against TGI's rules and the pool's GPU memory."""

    service_name: pulumi.Output[str]
    """The tier's router Service (port 80)."""
    deployment_name: pulumi.Output[str]
    """The Deployment of the current model version."""

    def __init__(self, name: str, args: TierArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("tgi-infra:index:Tier", name, {}, opts)
        tier = TgiTier(
            name,
            TgiTierArgs(
                tier=args["tier"],
                node_pool=args["node_pool"],
                namespace=args.get("namespace", "tgi"),
                hf_token=args.get("hf_token"),
                hf_token_secret=args.get("hf_token_secret"),
                cache=args.get("cache") or {},
                gateway_namespace=args.get("gateway_namespace", "envoy-gateway-system"),
            ),
            pulumi.ResourceOptions(parent=self),
        )
        self.service_name = tier.service_name
        self.deployment_name = tier.deployment_name
        self.register_outputs(
            {"serviceName": self.service_name, "deploymentName": self.deployment_name}
        )
