"""One TGI tier in an existing cluster, with tgi-infra's `TgiTier` and `ModelCache` alone.

No `TgiPlatform`: no node pools, gateway, monitors or autoscaler. The GPU nodes exist and
carry what tgi-infra gives its pools (label `tgi-infra/pool=<name>`, taint
`nvidia.com/gpu:NoSchedule`); the namespace exists. Config: see Pulumi.example.yaml.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
from pydantic import ValidationError

from tgi_infra import naming
from tgi_infra.capacity.catalog import UnknownHardwareError, instance_type
from tgi_infra.capacity.model_facts import ModelFactsError, resolve_model_facts
from tgi_infra.checks import hub_offline
from tgi_infra.checks.launcher import check_tier_arguments, check_tier_capacity, plan_tier
from tgi_infra.components.platform import token_fingerprint
from tgi_infra.components.serving import ModelCache, TgiTier
from tgi_infra.config.models import CacheConfig, NodePoolConfig, TierConfig
from tgi_infra.manifests.nodepools import tier_scheduling
from tgi_infra.manifests.serving import TierContext
from tgi_infra.problems import Problem, errors, warnings

config = pulumi.Config()
namespace = config.get("namespace") or "tgi"

# 1. The tier, its nodes and its cache, in tgi-infra's own schema (camelCase keys).
try:
    tier = TierConfig.model_validate(config.require_object("tier"))
    pool = NodePoolConfig.model_validate(config.require_object("nodePool"))
    cache = CacheConfig.model_validate(config.get_object("cache") or {})
except ValidationError as exc:
    raise pulumi.RunError(f"invalid tier, nodePool or cache config:\n{exc}") from None

# 2. The checks TgiPlatform runs at preview: TGI's launcher rules, then the memory plan on
#    the pool's GPU. Model facts come from the Hub, or the shipped catalog when offline.
problems: list[Problem] = check_tier_arguments(tier)
if tier.node_pool != pool.name:
    problems.append(Problem("tier.nodePool", f"{tier.node_pool!r} is not {pool.name!r}."))
try:
    spec = tier.model_spec.model_dump() if tier.model_spec else None
    facts = resolve_model_facts(
        tier.model_id, revision=tier.revision, model_spec=spec, offline=hub_offline()
    )
    node = instance_type(pool.instance_types[0])
except (ModelFactsError, UnknownHardwareError) as exc:
    raise pulumi.RunError(str(exc)) from None
capacity = plan_tier(tier, facts, node.gpu, node.gpu_count)
problems += check_tier_capacity(capacity, min_full_length_requests=4)  # the platform default
for problem in warnings(problems):
    pulumi.log.warn(str(problem))
if errors(problems):
    listed = "\n".join(f"  {p}" for p in errors(problems))
    raise pulumi.RunError(f"{len(errors(problems))} problem(s), nothing was changed:\n{listed}")

# 3. The HF token Secret. Its fingerprint on the pods makes a token rotation roll them.
token = config.get_secret("hfToken")
token_secret: list[pulumi.Resource] = []
annotations = {}
if token is not None:
    token_secret.append(
        k8s.core.v1.Secret(
            "hf-token",
            metadata={"name": naming.hf_token_secret_name(), "namespace": namespace},
            type="Opaque",
            string_data={"token": token},
        )
    )
    annotations["tgi-infra/hf-token-sha256"] = pulumi.Output.unsecret(
        token.apply(token_fingerprint)
    )
secret_name = naming.hf_token_secret_name() if token is not None else None

# 4. The weight cache: its volume, the download Job, and the Job's egress to the Hub.
model_cache = ModelCache(
    f"{tier.name}-cache",
    tier,
    namespace=namespace,
    weight_bytes=facts.weight_bytes,
    cache=cache,
    hf_token_secret=secret_name,
    after=token_secret,
)

# 5. The tier itself, scheduled onto the pool's nodes, started once the cache is filled.
node_selector, tolerations = tier_scheduling(pool)
ctx = TierContext(
    tier=tier,
    namespace=namespace,
    pool=pool,
    weight_bytes=facts.weight_bytes,
    cache_claim=model_cache.claim_name,
    gateway_namespace=config.get("clientNamespace") or "envoy-gateway-system",
    hf_token_secret=secret_name,
    pod_annotations=annotations,
    node_selector=node_selector,
    tolerations=tuple(tolerations),
)
server = TgiTier(tier.name, ctx, after=[model_cache.job])

pulumi.export("serviceName", server.service_name)
