"""The Pulumi program: read and validate the stack config, then build `TgiPlatform`.

`__main__.py` calls `main()` under the Pulumi engine; `tgi-infra plan` calls it under
mocks. A stack with problems stops before any resource is registered: each problem is
logged, then one `RunError` (which Pulumi prints without a traceback).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NoReturn

import pulumi

from tgi_infra.checks import StackReport, validate_platform
from tgi_infra.checks.gateway import check_tenant_key_names
from tgi_infra.components.cluster import cluster_setup
from tgi_infra.components.gateway import supplied_tenant_keys
from tgi_infra.components.platform import TgiPlatform
from tgi_infra.config.loader import CONFIG_NAMESPACE, parse_platform
from tgi_infra.problems import ConfigInvalid, Problem, errors, warnings


def fail(problems: list[Problem]) -> NoReturn:
    for problem in problems:
        pulumi.log.error(str(problem))
    raise pulumi.RunError(
        f"{len(problems)} problem(s) in the tgi-infra config: nothing was changed"
    )


def load_validated(supplied_keys: Iterable[str] = ()) -> StackReport:
    """`tgi-infra:platform` from Pulumi config, validated; RunError on problems."""
    config = pulumi.Config(CONFIG_NAMESPACE)
    try:
        report = validate_platform(parse_platform(config.require_object("platform")))
    except ConfigInvalid as exc:
        fail(exc.problems)
    report.problems += check_tenant_key_names(report.config, supplied_keys)
    for problem in warnings(report.problems):
        pulumi.log.warn(str(problem))
    if not report.ok:
        fail(errors(report.problems))
    return report


def main() -> None:
    try:
        tenant_keys = supplied_tenant_keys()
    except ConfigInvalid as exc:
        fail(exc.problems)
    report = load_validated(tenant_keys)
    cfg = report.config
    setup = cluster_setup(cfg)
    platform = TgiPlatform(
        "tgi",
        cfg,
        report.tiers,
        hf_token=pulumi.Config(CONFIG_NAMESPACE).get_secret("hfToken"),
        tenant_keys=tenant_keys,
        network=setup.network,
        opts=pulumi.ResourceOptions(providers=[setup.aws_provider, setup.k8s_provider]),
    )
    pulumi.export("namespace", platform.namespace)
    pulumi.export("tierServices", platform.tier_services)
    if setup.cluster is not None:
        pulumi.export("clusterEndpoint", setup.cluster.cluster.endpoint)
    if platform.gateway is not None:
        pulumi.export("gatewayEndpoint", platform.gateway.endpoint)
        pulumi.export("tenantKeys", platform.gateway.tenant_keys)
