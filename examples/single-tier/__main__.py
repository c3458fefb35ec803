"""One TGI tier in an existing cluster, with tgi-infra's `TgiTier` alone.

No `TgiPlatform`: no node pools, gateway, monitors or autoscaler. The GPU nodes exist and
carry what tgi-infra gives its pools (label `tgi-infra/pool=<name>`, taint
`nvidia.com/gpu:NoSchedule`); the namespace exists. Config: see Pulumi.example.yaml.
"""

import pulumi

from tgi_infra import ConfigInvalid, TgiTier, TgiTierArgs

config = pulumi.Config()
try:
    # Checked here, as the platform checks its tiers: TGI's launcher rules and the memory
    # plan of the model on the pool's GPU. A problem stops the program before any resource.
    args = TgiTierArgs(
        tier=config.require_object("tier"),
        node_pool=config.require_object("nodePool"),
        cache=config.get_object("cache") or {},
        namespace=config.get("namespace") or "tgi",
        gateway_namespace=config.get("clientNamespace") or "envoy-gateway-system",
        hf_token=config.get_secret("hfToken"),
    )
except ConfigInvalid as exc:
    raise pulumi.RunError(f"nothing was changed:\n{exc}") from None

# The HF token Secret, the weight cache (volume, download Job, its egress to the Hub), the
# Deployment, router Service, NetworkPolicy and PDB; pods start once the cache is filled.
tier = TgiTier("chat", args)
pulumi.export("serviceName", tier.service_name)
