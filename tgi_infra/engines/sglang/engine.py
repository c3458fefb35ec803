"""SGLang as an engine plug-in: `launch_server` flags, env, probes, rules, memory seam.

The `lmsysorg/sglang` image has no server entrypoint: the container runs
`python3 -m sglang.launch_server`. SGLang binds 127.0.0.1 unless told `--host 0.0.0.0`,
and serves `/metrics` only with `--enable-metrics`. Flags are spelled with dashes only
(`--mem-fraction-static`; argparse does not fold `_`).
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
from tgi_infra.engines.sglang import quantization, rules

if TYPE_CHECKING:
    from tgi_infra.capacity.catalog import Gpu
    from tgi_infra.capacity.facts import ModelFacts
    from tgi_infra.capacity.memory import MemoryPlan
    from tgi_infra.config.models import TierConfig
    from tgi_infra.problems import Problem


class SglangEngine(Engine):
    name = "sglang"
    display_name = "SGLang"
    image_repository = "lmsysorg/sglang"
    tag_prefix = "v"  # lmsysorg/sglang:v0.5.23 (CUDA variants: v0.5.23-cu130)
    # entrypoints/http_server.py: /health and /health_generate answer 503 while the server
    # is Starting. /health_generate runs a one-token generation (skipped when the server is
    # busy); /health does too unless SGLANG_ENABLE_HEALTH_ENDPOINT_GENERATION is off, which
    # the container sets, so liveness stays cheap and readiness checks the scheduler.
    probe = Probe(startup="/health", readiness="/health_generate", liveness="/health")
    settings = (
        Setting("maxInputTokens", None, "no prompt limit below --context-length"),
        Setting("maxTotalTokens", "--context-length", "prompt + generated tokens per request"),
        Setting("numShard", "--tp-size", "tensor-parallel GPUs"),
        Setting("quantize", "--quantization", "QUANTIZATION_CHOICES"),
        Setting("dtype", "--dtype", "auto | half | float16 | bfloat16 | float | float32"),
        Setting("kvCacheDtype", "--kv-cache-dtype", "auto | fp8_e4m3 | fp8_e5m2 ..."),
        Setting("maxConcurrentRequests", "--max-running-requests", "requests running at once"),
        Setting("maxBatchPrefillTokens", "--max-prefill-tokens", "tokens per prefill batch"),
        Setting("cudaMemoryFraction", "--mem-fraction-static", "only when set"),
        Setting("trustRemoteCode", "--trust-remote-code", "load the repo's modeling code"),
    )
    managed_flags: ClassVar[Mapping[str, str]] = {
        "--model-path": "tiers[].modelId",
        "--revision": "tiers[].revision",
        "--served-model-name": "tiers[].servedModelName",
        "--tp-size": "tiers[].numShard",
        "--quantization": "tiers[].quantize",
        "--dtype": "tiers[].dtype",
        "--kv-cache-dtype": "tiers[].kvCacheDtype",
        "--context-length": "tiers[].maxTotalTokens",
        "--max-running-requests": "tiers[].maxConcurrentRequests",
        "--max-prefill-tokens": "tiers[].maxBatchPrefillTokens",
        "--mem-fraction-static": "tiers[].cudaMemoryFraction",
        "--trust-remote-code": "tiers[].trustRemoteCode",
        "--host": "the pod binds all interfaces",
        "--port": "the platform's container port",
        "--enable-metrics": "always on: the monitors scrape /metrics",
        "--download-dir": "the weight cache at /data",
    }
    secret_flags = frozenset({"--api-key", "--admin-api-key", "--ssl-keyfile-password"})
    policy_settings: ClassVar[Mapping[str, str]] = {
        "max_total_tokens": "--context-length",
        "num_shard": "--tp-size",
        "revision": "--revision",
        "trust_remote_code": "--trust-remote-code",
    }
    server_markers = ("sglang.launch_server",)

    def container(self, tier: TierConfig, ctx: ServingContext) -> Container:
        args: list[str] = [
            "--model-path", tier.model_id,
            "--revision", tier.revision,
            "--served-model-name", tier.model_name,
            "--host", "0.0.0.0",
            "--port", str(self.port),
            "--tp-size", str(tier.num_shard),
            "--context-length", str(tier.max_total_tokens),
            "--max-running-requests", str(tier.max_concurrent_requests),
            "--max-prefill-tokens", str(tier.effective_max_batch_prefill_tokens),
            "--enable-metrics",
        ]  # fmt: skip
        for flag, value in (
            ("--quantization", tier.quantize),
            ("--dtype", tier.dtype),
            ("--kv-cache-dtype", tier.kv_cache_dtype),
            ("--mem-fraction-static",
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
            "SGLANG_ENABLE_HEALTH_ENDPOINT_GENERATION": "false",
        }
        trace_args, trace_env = self.tracing(ctx)
        env.update(trace_env)
        return Container(
            command=("python3", "-m", "sglang.launch_server"),
            args=(*args, *trace_args, *self.engine_arg_tokens(tier)),
            env=env_pairs(env),
        )

    def tracing(self, ctx: ServingContext) -> tuple[list[str], dict[str, str]]:
        """`--enable-trace`, `--otlp-traces-endpoint <host>:<port>` (no scheme) and
        `--otlp-service-name` (arg_groups/fields/observability.py)."""
        if not ctx.otlp_endpoint:
            return [], {}
        host_port = ctx.otlp_endpoint.split("://", 1)[-1].rstrip("/")
        return [
            "--enable-trace",
            "--otlp-traces-endpoint", host_port,
            "--otlp-service-name", ctx.service_name,
        ], {}  # fmt: skip

    def admission_limit(self, tier: TierConfig) -> AdmissionLimit | None:
        """Only engineArgs `max-queued-requests` bounds the waiting queue; without it,
        requests beyond the running batch wait. sglang/srt/managers/scheduler.py
        `_abort_on_queued_limit` (0.5.23): a full queue aborts the request with 503."""
        return engine_arg_limit(tier, "max-queued-requests", "queued", includes_running=False)

    def argument_rules(self, tier: TierConfig) -> list[Problem]:
        return rules.check_arguments(tier)

    def check_checkpoint(self, tier: TierConfig, facts: ModelFacts) -> list[Problem]:
        """quantize against the checkpoint, as SGLang 0.5.23 verifies it (`quantization.py`)."""
        return quantization.check_quantize(tier, facts)

    def check_checkpoint_on_gpu(
        self, tier: TierConfig, facts: ModelFacts, gpu: Gpu
    ) -> list[Problem]:
        """Marlin conversion and each method's minimum compute capability."""
        return quantization.check_quantize_on_gpu(tier, facts, gpu)

    def check_capacity(
        self, tier: TierConfig, facts: ModelFacts, gpu: Gpu, gpus_per_node: int,
        memory: MemoryPlan, *, min_full_length_requests: int,
    ) -> list[Problem]:  # fmt: skip
        return rules.check_capacity(
            tier, facts, gpu, gpus_per_node, memory,
            min_full_length_requests=min_full_length_requests,
        )  # fmt: skip



ENGINE = SglangEngine()
