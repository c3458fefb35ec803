"""vLLM as an engine plug-in: `vllm serve` flags, env, probes, rules, memory seam.

The `vllm/vllm-openai` image's entrypoint is already `vllm serve`, so the container's args
start with the model. The OpenAI server serves `/health` and `/metrics` on its one port and
starts listening only once the engine is up (weights loaded, KV cache allocated, CUDA
graphs captured).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

from tgi_infra.engines.base import (
    DATA_DIR,
    AdmissionLimit,
    Container,
    Engine,
    Probe,
    ServingContext,
    Setting,
    engine_arg_limit,
    env_pairs,
)
from tgi_infra.engines.vllm import dtype as dtype_rules
from tgi_infra.engines.vllm import rules

if TYPE_CHECKING:
    from tgi_infra.capacity.catalog import Gpu
    from tgi_infra.capacity.facts import ModelFacts
    from tgi_infra.capacity.memory import MemoryPlan
    from tgi_infra.config.models import TierConfig
    from tgi_infra.problems import Problem


class VllmEngine(Engine):
    name = "vllm"
    display_name = "vLLM"
    image_repository = "vllm/vllm-openai"
    tag_prefix = "v"
    # vllm/entrypoints/serve/instrumentator/health.py: 200 while the engine lives, 503 once
    # it is dead; the HTTP server only listens after startup.
    probe = Probe(startup="/health", readiness="/health", liveness="/health")
    settings = (
        Setting("maxInputTokens", None, "no prompt limit below --max-model-len"),
        Setting("maxTotalTokens", "--max-model-len", "prompt + generated tokens per request"),
        Setting("numShard", "--tensor-parallel-size", "tensor-parallel GPUs"),
        Setting("quantize", "--quantization", "QuantizationMethods"),
        Setting("dtype", "--dtype", "ModelDType"),
        Setting("kvCacheDtype", "--kv-cache-dtype", "CacheDType"),
        Setting("maxConcurrentRequests", "--max-num-seqs", "sequences in the running batch"),
        Setting("maxBatchPrefillTokens", "--max-num-batched-tokens", "tokens per step"),
        Setting("cudaMemoryFraction", "--gpu-memory-utilization", "only when set"),
        Setting("trustRemoteCode", "--trust-remote-code", "load the repo's modeling code"),
    )
    managed_flags: ClassVar[Mapping[str, str]] = {
        "--model": "tiers[].modelId",
        "--revision": "tiers[].revision",
        "--served-model-name": "tiers[].servedModelName",
        "--tensor-parallel-size": "tiers[].numShard",
        "--quantization": "tiers[].quantize",
        "--dtype": "tiers[].dtype",
        "--kv-cache-dtype": "tiers[].kvCacheDtype",
        "--max-model-len": "tiers[].maxTotalTokens",
        "--max-num-seqs": "tiers[].maxConcurrentRequests",
        "--max-num-batched-tokens": "tiers[].maxBatchPrefillTokens",
        "--gpu-memory-utilization": "tiers[].cudaMemoryFraction",
        "--trust-remote-code": "tiers[].trustRemoteCode",
        "--host": "the pod binds all interfaces",
        "--port": "the platform's container port",
        "--shutdown-timeout": "the pod's graceful shutdown",
        "--download-dir": "the weight cache at /data",
        "--headless": "one server per pod",
        "--config": "the stack is the config",
    }
    secret_flags = frozenset({"--api-key", "--hf-token"})
    policy_settings: ClassVar[Mapping[str, str]] = {
        "max_total_tokens": "--max-model-len",
        "num_shard": "--tensor-parallel-size",
        "revision": "--revision",
        "trust_remote_code": "--trust-remote-code",
    }
    server_markers = ("entrypoint:vllm serve", "vllm")

    def container(self, tier: TierConfig, ctx: ServingContext) -> Container:
        args: list[str] = [
            tier.model_id,
            "--revision", tier.revision,
            "--served-model-name", tier.model_name,
            "--host", "0.0.0.0",
            "--port", str(self.port),
            "--tensor-parallel-size", str(tier.num_shard),
            "--max-model-len", str(tier.max_total_tokens),
            "--max-num-seqs", str(tier.max_concurrent_requests),
            "--max-num-batched-tokens", str(tier.effective_max_batch_prefill_tokens),
            "--shutdown-timeout", str(self.graceful_shutdown_seconds),
        ]  # fmt: skip
        for flag, value in (
            ("--quantization", tier.quantize),
            ("--dtype", tier.dtype),
            ("--kv-cache-dtype", tier.kv_cache_dtype),
            ("--gpu-memory-utilization",
             str(tier.cuda_memory_fraction) if tier.memory_fraction_set else None),
        ):  # fmt: skip
            if value is not None:
                args += [flag, value]
        if tier.trust_remote_code:
            args.append("--trust-remote-code")
        env: dict[str, str | None] = {
            "HF_HOME": DATA_DIR,
            "HF_HUB_OFFLINE": "1",
            "HOME": "/tmp",
            # vllm/usage/usage_lib.py: no usage reports unless usageStats is on.
            "VLLM_NO_USAGE_STATS": None if ctx.usage_stats == "on" else "1",
            "VLLM_DO_NOT_TRACK": None if ctx.usage_stats == "on" else "1",
        }
        trace_args, trace_env = self.tracing(ctx)
        env.update(trace_env)
        return Container(
            command=None,
            args=(*args, *trace_args, *self.engine_arg_tokens(tier)),
            env=env_pairs(env),
        )

    def tracing(self, ctx: ServingContext) -> tuple[list[str], dict[str, str]]:
        """vllm/config/observability.py `otlp_traces_endpoint`; the OpenTelemetry SDK reads
        OTEL_SERVICE_NAME for the spans' service.name."""
        if not ctx.otlp_endpoint:
            return [], {}
        return ["--otlp-traces-endpoint", ctx.otlp_endpoint], {
            "OTEL_SERVICE_NAME": ctx.service_name
        }

    def admission_limit(self, tier: TierConfig) -> AdmissionLimit | None:
        """Only engineArgs `max-num-queued-reqs` bounds in-flight requests; without it,
        requests beyond the running batch (--max-num-seqs) wait. vllm/v1/engine/async_llm.py
        `check_admission` (0.34.0): waiting + running above it get 503 (QueueOverflowError)."""
        return engine_arg_limit(
            tier, "max-num-queued-reqs", "queued and running together", includes_running=True
        )

    def argument_rules(self, tier: TierConfig) -> list[Problem]:
        return rules.check_arguments(tier)

    def check_checkpoint(self, tier: TierConfig, facts: ModelFacts) -> list[Problem]:
        """quantize against the checkpoint's quantization_config, and dtype against the model
        type (no GPU needed)."""
        return rules.check_quantization(tier, facts) + dtype_rules.check_dtype(tier, facts)

    def check_checkpoint_on_gpu(
        self, tier: TierConfig, facts: ModelFacts, gpu: Gpu
    ) -> list[Problem]:
        """The quantization method's minimum compute capability; bfloat16 below 8.0."""
        return rules.check_quantization_on_gpu(tier, facts, gpu) + dtype_rules.check_dtype_on_gpu(
            tier, facts, gpu
        )

    def check_capacity(
        self, tier: TierConfig, facts: ModelFacts, gpu: Gpu, gpus_per_node: int,
        memory: MemoryPlan, *, min_full_length_requests: int,
    ) -> list[Problem]:  # fmt: skip
        return rules.check_capacity(
            tier, facts, gpu, gpus_per_node, memory,
            min_full_length_requests=min_full_length_requests,
        )  # fmt: skip



ENGINE = VllmEngine()
