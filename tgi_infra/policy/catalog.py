"""The pack's policies as data: name, description, rule, config schema, default enforcement
per environment, rationale. `pack.build_policies` turns these into CrossGuard policies;
`policy/README.md` documents the same table (a test keeps the two in step).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from tgi_infra.policy import rules, stack_rules

Level = Literal["advisory", "mandatory", "remediate", "disabled"]
ENVIRONMENTS = ("dev", "staging", "prod")
STRICT = {"dev": "mandatory", "staging": "mandatory", "prod": "mandatory"}
RELAXED_DEV = {"dev": "advisory", "staging": "mandatory", "prod": "mandatory"}
PROD_ONLY = {"dev": "advisory", "staging": "advisory", "prod": "mandatory"}


@dataclass(frozen=True)
class PolicySpec:
    name: str
    description: str
    rationale: str
    scope: Literal["resource", "stack"]
    levels: Mapping[str, Level] = field(default_factory=lambda: dict(STRICT))
    severity: Literal["low", "medium", "high", "critical"] = "high"
    config_schema: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def level(self, environment: str) -> Level:
        """The default enforcement in `environment`; unknown environments get prod's."""
        return self.levels.get(environment, self.levels["prod"])

    def defaults(self) -> dict[str, Any]:
        return {k: v["default"] for k, v in self.config_schema.items() if "default" in v}


POLICIES: tuple[PolicySpec, ...] = (
    PolicySpec(
        "tgi-token-limits",
        "Every engine server sets its request length at or under the environment's caps: "
        "TGI MAX_INPUT_TOKENS and MAX_TOTAL_TOKENS (input below total), vLLM "
        "--max-model-len, SGLang --context-length.",
        "Unset, TGI sizes requests and its KV cache for the model's full context (often 128k "
        "tokens): fewer concurrent requests, OOMs at warmup, and one tenant's huge prompt "
        "stalls everyone. The caps bound prompt cost and time to first token per environment.",
        "resource",
        config_schema={
            "maxInputTokens": {
                "type": "integer",
                "minimum": 1,
                "default": rules.DEFAULT_MAX_INPUT_TOKENS,
            },
            "maxTotalTokens": {
                "type": "integer",
                "minimum": 2,
                "default": rules.DEFAULT_MAX_TOTAL_TOKENS,
            },
        },
    ),
    PolicySpec(
        "tgi-image-pinned",
        "Every container image is pinned: a version tag other than `latest`, or a digest.",
        "`latest` (or no tag) lets each node pull a different build; a pod restart silently "
        "upgrades the server, and a rollback has nothing to roll back to.",
        "resource",
        levels=RELAXED_DEV,
    ),
    PolicySpec(
        "tgi-revision-pinned",
        "The model revision (TGI REVISION, vLLM/SGLang --revision) is a 40-hex commit sha "
        "(mandatory in prod).",
        "A branch such as `main` moves: the next pod start loads whatever was pushed, with no "
        "review and no blue/green swap (the Deployment name hashes the revision).",
        "resource",
        levels=PROD_ONLY,
    ),
    PolicySpec(
        "hf-token-secret-ref",
        "The Hugging Face token reaches pods only via valueFrom.secretKeyRef; no hf_ token "
        "literal in env, args or ConfigMaps.",
        "A literal lands in the Pulumi state, the plan output and `kubectl get -o yaml`, "
        "readable by anyone with namespace read access.",
        "resource",
        severity="critical",
    ),
    PolicySpec(
        "tgi-gpu-limit-matches-shards",
        "Every engine server has an nvidia.com/gpu limit equal to its shards (TGI NUM_SHARD, "
        "vLLM --tensor-parallel-size, SGLang --tp-size).",
        "Fewer GPUs than shards and TGI fails at startup; more and the extra GPUs sit idle "
        "while no other pod can claim them; none and the pod may land on a CPU node.",
        "resource",
    ),
    PolicySpec(
        "tgi-shm-for-shards",
        "A sharded server (any engine, more than one GPU) mounts an emptyDir with medium "
        "Memory at /dev/shm.",
        "Tensor parallelism exchanges activations through NCCL over shared memory; the "
        "runtime's default 64 MiB /dev/shm makes it crash or fall back to slow paths.",
        "resource",
    ),
    PolicySpec(
        "tgi-startup-probe",
        "Every engine server (TGI, vLLM, SGLang) has a startupProbe.",
        "TGI refuses connections while it downloads, loads and warms up the model (minutes): "
        "without a startup probe, liveness kills it mid-load in a restart loop.",
        "resource",
        severity="medium",
    ),
    PolicySpec(
        "gpu-taint-toleration",
        "Pods that request nvidia.com/gpu tolerate the GPU taint nvidia.com/gpu:NoSchedule.",
        "GPU nodes are tainted so only GPU work lands there; a GPU pod without the toleration "
        "stays Pending forever.",
        "resource",
        severity="medium",
    ),
    PolicySpec(
        "tgi-trust-remote-code-pinned",
        "Remote code (TGI TRUST_REMOTE_CODE, vLLM/SGLang --trust-remote-code) only together "
        "with a pinned (40-hex) model revision.",
        "Remote code is arbitrary Python from the model repo running next to the GPU and the "
        "HF token; at a moving revision it is unreviewed code anyone with push access controls.",
        "resource",
        severity="critical",
    ),
    PolicySpec(
        "tgi-messages-api",
        "The TGI image version serves the OpenAI Messages API (/v1/chat/completions, TGI ≥ 1.4.0).",
        "The gateway exposes one OpenAI-compatible base URL; older TGI answers 404 on "
        "/v1/chat/completions. A non-version tag cannot be checked.",
        "resource",
        config_schema={
            "minimumVersion": {
                "type": "string",
                "pattern": r"^\d+\.\d+(\.\d+)?$",
                "default": rules.MESSAGES_API_VERSION,
            },
        },
    ),
    PolicySpec(
        "no-loadbalancer-services",
        "No Service of type LoadBalancer besides the gateway's (labelled "
        "gateway.envoyproxy.io/owning-gateway-name, or listed in allowedServices).",
        "A LoadBalancer in front of a tier bypasses the gateway: no API keys, no rate limits, "
        "no usage accounting, and a public address on GPU pods.",
        "resource",
        severity="critical",
        config_schema={
            "allowedServices": {"type": "array", "items": {"type": "string"}, "default": []},
        },
    ),
    PolicySpec(
        "tier-disruption-budget",
        "A PodDisruptionBudget selects the pods of every TGI workload that can run two or "
        "more replicas (spec.replicas or its autoscaler's maximum).",
        "Without one, a node drain or Karpenter consolidation may evict all replicas at once, "
        "and each takes minutes to reload weights.",
        "stack",
        levels=RELAXED_DEV,
        severity="medium",
    ),
    PolicySpec(
        "tgi-network-policy",
        "A NetworkPolicy with Ingress selects every TGI pod.",
        "Without one, any pod in the cluster can call TGI directly, past the gateway's keys and "
        "limits, and reach its unauthenticated /metrics and /info.",
        "stack",
        levels=RELAXED_DEV,
    ),
    PolicySpec(
        "gateway-route-auth",
        "Every gateway route (HTTPRoute, GRPCRoute, AIGatewayRoute) is covered by a "
        "SecurityPolicy with authentication. Passes vacuously when the stack has no routes.",
        "Tenants are identified by their API keys; an unauthenticated route serves anyone who "
        "can reach the gateway and attributes the usage to no one.",
        "stack",
        severity="critical",
    ),
    PolicySpec(
        "gateway-route-rate-limit",
        "Every gateway route is covered by a BackendTrafficPolicy with rate-limit rules, and "
        "every tenant its apiKeyAuth admits (key Secrets labelled tgi-infra/tenant) has a "
        "rule of its own. Passes vacuously when the stack has no routes.",
        "Continuous batching shares every replica: one tenant without a limit fills the queue "
        "and the others time out.",
        "stack",
        levels=RELAXED_DEV,
    ),
    PolicySpec(
        "tier-service-routed",
        "Every tier's Service (a Service selecting TGI pods) is reached by a gateway route, "
        "directly or via AIServiceBackend → Backend. Passes vacuously when the stack has no "
        "routes.",
        "A tier nobody can reach through the gateway burns GPUs for nothing, or is being "
        "reached some other way that bypasses the gateway.",
        "stack",
        levels=RELAXED_DEV,
        severity="medium",
    ),
    PolicySpec(
        "tgi-deployment-monitored",
        "Every TGI workload is scraped: a PodMonitor, or a ServiceMonitor through a Service, "
        "reaches its pods (or they carry prometheus.io/scrape). Passes vacuously when the "
        "stack has no monitors and no scrape annotations.",
        "Unscraped tiers have no queue, latency or error metrics: no alerts, and the queue-"
        "based autoscaler has nothing to act on.",
        "stack",
        levels=PROD_ONLY,
        severity="medium",
    ),
)

BY_NAME: dict[str, PolicySpec] = {p.name: p for p in POLICIES}


def rule_for(spec: PolicySpec) -> Any:
    """The pure function behind a policy."""
    if spec.scope == "resource":
        return rules.RESOURCE_RULES[spec.name]
    return stack_rules.STACK_RULES[spec.name]
