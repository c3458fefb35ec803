"""TGI as an engine plug-in: its image, launcher env, probes, rules and memory model.

Every launcher flag also reads an env var in UPPER_SNAKE_CASE (`#[clap(long, env)]` in
`launcher/src/main.rs`), so a TGI container is configured by env alone and runs the image's
entrypoint (`text-generation-launcher`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from tgi_infra.engines import common
from tgi_infra.engines.base import (
    DATA_DIR,
    AdmissionLimit,
    Container,
    Engine,
    Probe,
    ServingContext,
    Setting,
    env_pairs,
    flag_tokens,
)
from tgi_infra.engines.tgi import quantization, rules

if TYPE_CHECKING:
    from tgi_infra.capacity.catalog import Gpu
    from tgi_infra.capacity.facts import ModelFacts
    from tgi_infra.capacity.memory import MemoryPlan
    from tgi_infra.config.models import TierConfig
    from tgi_infra.problems import Problem

class TgiEngine(Engine):
    name = "tgi"
    display_name = "TGI"
    image_repository = "ghcr.io/huggingface/text-generation-inference"
    # /health answers only after download, load and warmup (router `health`).
    probe = Probe(startup="/health", readiness="/health", liveness="/health")
    settings = (
        Setting("maxInputTokens", "MAX_INPUT_TOKENS", "longest prompt; longer ones get 422"),
        Setting("maxTotalTokens", "MAX_TOTAL_TOKENS", "prompt + generated tokens per request"),
        Setting("numShard", "NUM_SHARD", "tensor-parallel shards, one GPU each"),
        Setting("quantize", "QUANTIZE", "launcher enum Quantization"),
        Setting("dtype", "DTYPE", "float16 | bfloat16; not with quantize (but bitsandbytes)"),
        Setting("kvCacheDtype", "KV_CACHE_DTYPE", "fp8_e4m3fn | fp8_e5m2"),
        Setting("maxConcurrentRequests", "MAX_CONCURRENT_REQUESTS", "in flight before a 429"),
        Setting("maxBatchPrefillTokens", "MAX_BATCH_PREFILL_TOKENS", "tokens per prefill"),
        Setting("cudaMemoryFraction", "CUDA_MEMORY_FRACTION", "share of GPU memory, x0.9"),
        Setting("trustRemoteCode", "TRUST_REMOTE_CODE", "load the repo's modeling code"),
    )
    managed_flags: ClassVar[Mapping[str, str]] = {
        "--model-id": "tiers[].modelId",
        "--revision": "tiers[].revision",
        "--num-shard": "tiers[].numShard",
        "--quantize": "tiers[].quantize",
        "--dtype": "tiers[].dtype",
        "--kv-cache-dtype": "tiers[].kvCacheDtype",
        "--max-input-tokens": "tiers[].maxInputTokens",
        "--max-total-tokens": "tiers[].maxTotalTokens",
        "--max-batch-prefill-tokens": "tiers[].maxBatchPrefillTokens",
        "--max-concurrent-requests": "tiers[].maxConcurrentRequests",
        "--cuda-memory-fraction": "tiers[].cudaMemoryFraction",
        "--trust-remote-code": "tiers[].trustRemoteCode",
        "--hostname": "the pod binds all interfaces",
        "--port": "the platform's container port",
        "--json-output": "structured logs",
        "--usage-stats": "usageStats",
        "--otlp-endpoint": "observability.otlpEndpoint",
        "--huggingface-hub-cache": "the weight cache at /data",
        "--env": "the launcher's own debug dump",
    }
    secret_flags = frozenset({"--api-key", "--ngrok-authtoken"})
    policy_settings: ClassVar[Mapping[str, str]] = {
        "max_input_tokens": "MAX_INPUT_TOKENS",
        "max_total_tokens": "MAX_TOTAL_TOKENS",
        "num_shard": "NUM_SHARD",
        "revision": "REVISION",
        "trust_remote_code": "TRUST_REMOTE_CODE",
    }
    server_markers = ("entrypoint:text-generation-launcher", "text-generation-launcher")

    def container(self, tier: TierConfig, ctx: ServingContext) -> Container:
        values: dict[str, str | None] = {
            "MODEL_ID": tier.model_id,
            "REVISION": tier.revision,
            "NUM_SHARD": str(tier.num_shard),
            "QUANTIZE": tier.quantize,
            "DTYPE": tier.dtype,
            "KV_CACHE_DTYPE": tier.kv_cache_dtype,
            "MAX_INPUT_TOKENS": str(tier.max_input_tokens),
            "MAX_TOTAL_TOKENS": str(tier.max_total_tokens),
            "MAX_BATCH_PREFILL_TOKENS": str(tier.effective_max_batch_prefill_tokens),
            "MAX_CONCURRENT_REQUESTS": str(tier.max_concurrent_requests),
            "CUDA_MEMORY_FRACTION": str(tier.cuda_memory_fraction),
            "TRUST_REMOTE_CODE": "true" if tier.trust_remote_code else None,
            # Kubernetes sets HOSTNAME to the pod name, which `--hostname` also reads.
            "HOSTNAME": "0.0.0.0",
            "PORT": str(self.port),
            "HF_HOME": DATA_DIR,
            "HF_HUB_OFFLINE": "1",
            "USAGE_STATS": ctx.usage_stats,
            "JSON_OUTPUT": "true",
            "HOME": "/tmp",
        }
        return Container(
            command=None,
            args=(),
            env=env_pairs(values) + self._engine_arg_env(tier),
        )

    def _engine_arg_env(self, tier: TierConfig) -> tuple[tuple[str, str], ...]:
        """engineArgs as the env vars the launcher reads them from."""
        out: list[tuple[str, str]] = []
        cli = self.cli()
        for key, value in tier.engine_args.items():
            spec = cli.flag(f"--{key}")
            if spec is None or spec.env is None:
                continue
            out.append((spec.env, _env_value(value, flag_tokens(spec, value))))
        return tuple(out)

    def argument_rules(self, tier: TierConfig) -> list[Problem]:
        return rules.check_tier_arguments(tier)

    def check_checkpoint(self, tier: TierConfig, facts: ModelFacts) -> list[Problem]:
        """quantize against the checkpoint, by TGI 3.3.7's loaders (`quantization.py`)."""
        hidden = common.quantization_not_detected(
            tier, facts, "TGI", {}, "tgi-quantize-checkpoint"
        )
        return (
            hidden
            or quantization.check_quantize(tier, facts)
            or quantization.check_scheme(tier, facts)
        )

    def check_checkpoint_on_gpu(
        self, tier: TierConfig, facts: ModelFacts, gpu: Gpu
    ) -> list[Problem]:
        """The quantize kernels that need compute capability 8.0 (`quantization.py`)."""
        return quantization.check_quantize_on_gpu(tier, facts, gpu)

    def admission_limit(self, tier: TierConfig) -> AdmissionLimit:
        """The router's semaphore of MAX_CONCURRENT_REQUESTS permits (router/src/infer/mod.rs):
        queued and running requests hold one each; without a permit, 429 overloaded."""
        return AdmissionLimit(
            tier.max_concurrent_requests, "maxConcurrentRequests",
            "queued and running together", "429 overloaded", includes_running=True,
        )  # fmt: skip

    def notices(self, tier: TierConfig) -> list[Problem]:
        return [rules.maintenance_notice(tier)]

    def check_capacity(
        self, tier: TierConfig, facts: ModelFacts, gpu: Gpu, gpus_per_node: int,
        memory: MemoryPlan, *, min_full_length_requests: int,
    ) -> list[Problem]:  # fmt: skip
        return rules.check_tier_capacity(
            tier, facts, gpu, gpus_per_node, memory,
            min_full_length_requests=min_full_length_requests,
        )  # fmt: skip

    def native_memory_plan(self, tier: TierConfig, facts: ModelFacts, gpu: Gpu) -> MemoryPlan:
        """TGI's warmup model (`capacity.memory`), calibrated on its startup logs."""
        return rules.plan_memory_for(tier, facts, gpu)


def _env_value(value: Any, tokens: list[str]) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(tokens[1:])
    return tokens[-1]


ENGINE = TgiEngine()
