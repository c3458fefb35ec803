"""The Pulumi program: read and validate the stack config, then build `TgiPlatform`.

`__main__.py` calls `main()` under the Pulumi engine; `tgi-infra plan` calls it under
mocks. A stack with problems stops before any resource is registered: each problem is
logged, then one `RunError` (which Pulumi prints without a traceback).
"""

from __future__ import annotations

import pulumi

from tgi_infra.checks import StackReport, validate_platform
from tgi_infra.components.cluster import cluster_providers
from tgi_infra.components.platform import TgiPlatform
from tgi_infra.config.loader import CONFIG_NAMESPACE, parse_platform
from tgi_infra.problems import ConfigInvalid, errors, warnings


def load_validated() -> StackReport:
    """`tgi-infra:platform` from Pulumi config, validated; RunError on problems."""
    config = pulumi.Config(CONFIG_NAMESPACE)
    try:
        report = validate_platform(parse_platform(config.require_object("platform")))
    except ConfigInvalid as exc:
        for problem in exc.problems:
            pulumi.log.error(str(problem))
        raise pulumi.RunError(f"{len(exc.problems)} problem(s) in tgi-infra:platform") from None
    for problem in warnings(report.problems):
        pulumi.log.warn(str(problem))
    if not report.ok:
        for problem in errors(report.problems):
            pulumi.log.error(str(problem))
        n = len(errors(report.problems))
        raise pulumi.RunError(f"{n} problem(s) in tgi-infra:platform: nothing was changed")
    return report


def main() -> None:
    report = load_validated()
    cfg = report.config
    config = pulumi.Config(CONFIG_NAMESPACE)
    aws_provider, k8s_provider = cluster_providers(cfg)
    platform = TgiPlatform(
        "tgi",
        cfg,
        report.tiers,
        hf_token=config.get_secret("hfToken"),
        opts=pulumi.ResourceOptions(providers=[aws_provider, k8s_provider]),
    )
    pulumi.export("namespace", platform.namespace)
    pulumi.export("tierServices", platform.tier_services)
