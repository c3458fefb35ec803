"""The Pulumi program: read the stack config, then build `TgiPlatform`.

`__main__.py` calls `main()` under the Pulumi engine; `tgi-infra plan` calls it under
mocks. This is the one place that reads Pulumi config: the components receive values.
A stack with problems stops before any resource is registered: each problem is logged,
then one `RunError` (which Pulumi prints without a traceback).
"""

from __future__ import annotations

from typing import NoReturn

import pulumi

from tgi_infra.components.cluster import KUBECONFIG_KEY, cluster_setup
from tgi_infra.components.platform import TgiPlatform
from tgi_infra.config.loader import CONFIG_NAMESPACE, parse_platform
from tgi_infra.problems import ConfigInvalid, Problem

TENANT_KEYS_CONFIG = "tenantKeys"
PLATFORM_NAME = "tgi"
"""The platform's name: every child and Kubernetes object name starts with it."""


def fail(problems: list[Problem]) -> NoReturn:
    for problem in problems:
        pulumi.log.error(str(problem))
    raise pulumi.RunError(
        f"{len(problems)} problem(s) in the tgi-infra config: nothing was changed"
    )


def supplied_tenant_keys(config: pulumi.Config | None = None) -> dict[str, pulumi.Output[str]]:
    """Keys set with `pulumi config set --secret --path 'tenantKeys.<tenant>' <key>`."""
    raw = (config or pulumi.Config(CONFIG_NAMESPACE)).get_object(TENANT_KEYS_CONFIG) or {}
    if not isinstance(raw, dict):
        raise ConfigInvalid(
            [
                Problem(
                    f"tgi-infra:{TENANT_KEYS_CONFIG}",
                    "must map tenant names to keys.",
                    f"pulumi config set --secret --path '{TENANT_KEYS_CONFIG}.<tenant>' <key>",
                    "tenant-key-unknown",
                )
            ]
        )
    return {str(name): pulumi.Output.secret(str(key)) for name, key in raw.items()}


def main() -> None:
    config = pulumi.Config(CONFIG_NAMESPACE)
    try:
        tenant_keys = supplied_tenant_keys(config)
        cfg = parse_platform(config.require_object("platform"))
        kubeconfig = (
            config.require_secret(KUBECONFIG_KEY) if cfg.cluster.kubeconfig_from_secret else None
        )
        setup = cluster_setup(cfg, kubeconfig=kubeconfig)
        platform = TgiPlatform(
            PLATFORM_NAME,
            cfg,
            pulumi.ResourceOptions(providers=[setup.aws_provider, setup.k8s_provider]),
            hf_token=config.get_secret("hfToken"),
            tenant_keys=tenant_keys,
            network=setup.network,
        )
    except ConfigInvalid as exc:
        fail(exc.problems)
    pulumi.export("namespace", platform.namespace)
    pulumi.export("tierServices", platform.tier_services)
    if setup.cluster is not None:
        pulumi.export("clusterEndpoint", setup.cluster.cluster.endpoint)
    if platform.gateway is not None:
        pulumi.export("gatewayEndpoint", platform.gateway.endpoint)
        pulumi.export("tenantKeys", platform.gateway.tenant_keys)
