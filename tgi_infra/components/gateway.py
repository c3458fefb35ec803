"""`TenantGateway`: the OpenAI-compatible endpoint, tenant keys, auth and limits.

The objects come from `tgi_infra.manifests.gateway`; this component adds what a pure
builder must not hold: each tenant's API key (generated with pulumi-random, or supplied in
secret config `tgi-infra:tenantKeys.<tenant>`) in a Kubernetes Secret, and the keys as
secret outputs.
"""

from __future__ import annotations

import pulumi
import pulumi_random as random

from tgi_infra import naming
from tgi_infra.component_args import TenantGatewayArgs
from tgi_infra.components.kube import register_object, register_objects
from tgi_infra.config.models import PlatformConfig, TenantConfig
from tgi_infra.manifests import gateway as builders

KEY_LENGTH = 48


class TenantGateway(pulumi.ComponentResource):
    """Gateway, OpenAI routes per tier, fallback routes, tenant keys, auth and limits.

    `args.tenant_keys` (tenant name to key) overrides generation for those tenants (the
    program reads them from secret config `tgi-infra:tenantKeys`). A generated key changes
    when the tenant's `keyVersion` is bumped (rotation).
    """

    endpoint: pulumi.Output[str]
    tenant_keys: pulumi.Output[dict[str, str]]
    objects: dict[str, pulumi.CustomResource]
    """Every registered object by `Kind/name` (key Secrets included), for `depends_on`."""

    def __init__(
        self, name: str, args: TenantGatewayArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("tgi-infra:gateway:TenantGateway", name, None, opts)
        cfg = args.config
        assert isinstance(cfg, PlatformConfig)
        with naming.platform(args.platform or name):
            self._build(name, cfg, dict(args.tenant_keys))

    def _build(
        self, name: str, cfg: PlatformConfig, supplied: dict[str, pulumi.Input[str]]
    ) -> None:
        keys: dict[str, pulumi.Output[str]] = {}
        self.objects = {}
        if cfg.gateway.enabled:
            for tenant in cfg.tenants:
                key = self._key(name, tenant, supplied.get(tenant.name))
                keys[tenant.name] = key
                secret = self._key_secret(cfg, tenant, key)
                self.objects[f"Secret/{naming.tenant_key_secret_name(tenant.name)}"] = secret
        objs = builders.build_gateway_objects(cfg)
        # Only the SecurityPolicies read the key Secrets (credentialRefs).
        auth = [o for o in objs if o["kind"] == "SecurityPolicy"]
        rest = [o for o in objs if o["kind"] != "SecurityPolicy"]
        self.objects.update(register_objects(rest, parent=self))
        self._register_policies(auth)

        url = builders.endpoint_url(cfg)
        gateway = self.objects.get(f"Gateway/{naming.gateway_name()}")
        # Resolves once the Gateway exists, so what uses the URL waits for it.
        self.endpoint = (
            gateway.id.apply(lambda _: url) if gateway else pulumi.Output.from_input(url)
        )
        self.tenant_keys = pulumi.Output.secret(pulumi.Output.all(**keys) if keys else {})
        self.register_outputs({"endpoint": self.endpoint, "tenantKeys": self.tenant_keys})

    def _register_policies(self, policies: list[builders.K8s]) -> None:
        """Each policy waits for the key Secrets it references, and only those: directly, or
        through an earlier policy that already waits for all of them (every policy reads
        every tenant's key, so direct edges would grow as tiers x tenants)."""
        waited: list[tuple[frozenset[str], pulumi.Resource]] = []
        for policy in policies:
            names = builders.referenced_secrets(policy)
            refs = frozenset(names)
            via = next((p for covered, p in waited if refs <= covered), None) if refs else None
            secrets = [self.objects.get(f"Secret/{n}") for n in names]
            deps = [via] if via else [s for s in secrets if s is not None]
            registered = register_objects([policy], parent=self, depends_on=deps)
            self.objects.update(registered)
            if not via and refs:
                waited.append((refs, next(iter(registered.values()))))

    def _key(
        self, name: str, tenant: TenantConfig, supplied: pulumi.Input[str] | None
    ) -> pulumi.Output[str]:
        if supplied is not None:
            return pulumi.Output.secret(supplied)
        password = random.RandomPassword(
            f"{name}-{tenant.name}-key",
            length=KEY_LENGTH,
            special=False,
            keepers={"keyVersion": str(tenant.key_version)},
            opts=pulumi.ResourceOptions(parent=self),
        )
        return pulumi.Output.secret(password.result)

    def _key_secret(
        self, cfg: PlatformConfig, tenant: TenantConfig, key: pulumi.Output[str]
    ) -> pulumi.Resource:
        secret = builders.tenant_key_secret(cfg, tenant)
        secret["stringData"] = {tenant.name: key}
        return register_object(secret, pulumi.ResourceOptions(parent=self))
