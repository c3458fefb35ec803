"""Two teams' platforms in one stack, on one EKS cluster, each in its own namespace.

Each `TgiPlatform` names its children and Kubernetes objects from its own name, so the
two never share a URN or an object (the device plugin, the dashboard and the Karpenter
objects included). Config: see Pulumi.example.yaml.
"""

import pulumi

from tgi_infra import ConfigInvalid, TgiPlatform, cluster_providers, parse_platform

config = pulumi.Config()
teams = config.require_object("teams")  # team name -> a platform, as under tgi-infra:platform
try:
    cluster = parse_platform(next(iter(teams.values())))  # both teams share its cluster
    providers = cluster_providers(cluster, name="cluster")
    platforms = {
        team: TgiPlatform(
            team,
            platform,
            pulumi.ResourceOptions(providers=list(providers)),
            hf_token=config.get_secret("hfToken"),
        )
        for team, platform in teams.items()
    }
except ConfigInvalid as exc:
    raise pulumi.RunError(f"nothing was changed:\n{exc}") from None

for team, platform in platforms.items():
    pulumi.export(f"{team}Services", platform.tier_services)
    if platform.gateway is not None:
        pulumi.export(f"{team}Endpoint", platform.gateway.endpoint)
