"""Per-tier performance settings: the SLO a tier promises and the benchmark that measures it.

`tiers[].slo` is checked at preview time against the performance model at `replicas.max`
(`tgi_infra.checks.slo`); `tiers[].benchmark` renders a Job running `vllm bench serve` at
the tier's Service (`tgi_infra.manifests.benchmark`).
"""

from __future__ import annotations

from pydantic import Field, model_validator

from tgi_infra.config.models import MAX_TOKENS, Model

MAX_CONCURRENCY = 4096
MAX_DURATION_SECONDS = 6 * 3600
MAX_PEAK_RPS = 100_000  # requests per second one tier is sized for; beyond, split the traffic
MAX_TARGET_MS = 3_600_000  # an hour: a latency target past it is no target


class SloConfig(Model):
    """What the tier must sustain at its peak: latency targets at a request rate and shape."""

    peak_rps: float = Field(
        gt=0,
        le=MAX_PEAK_RPS,
        description="Requests per second the tier must serve at replicas.max (all replicas).",
    )
    isl: int = Field(ge=1, le=MAX_TOKENS, description="Prompt tokens per request (mean).")
    osl: int = Field(ge=1, le=MAX_TOKENS, description="Generated tokens per request (mean).")
    ttft_ms: float | None = Field(
        None,
        gt=0,
        le=MAX_TARGET_MS,
        description="Time to first token target, milliseconds (mean). Unset: none.",
    )
    tpot_ms: float | None = Field(
        None,
        gt=0,
        le=MAX_TARGET_MS,
        description="Time per output token target, milliseconds (mean, first token excluded). "
        "Unset: none.",
    )


class BenchmarkConfig(Model):
    """A load test of the tier: a Job running `vllm bench serve` (vllm/vllm-openai:v0.34.0)
    at the tier's Service, one run per concurrency, results as JSON in the pod's log."""

    isl: int = Field(1024, ge=1, le=MAX_TOKENS, description="Prompt tokens per request.")
    osl: int = Field(256, ge=1, le=MAX_TOKENS, description="Generated tokens per request.")
    concurrency: list[int] = Field(
        default_factory=lambda: [1, 4, 16, 64],
        min_length=1,
        max_length=16,
        description="Concurrency sweep: one run per value (`--max-concurrency`).",
    )
    duration_seconds: int = Field(
        120,
        ge=10,
        le=MAX_DURATION_SECONDS,
        description="Target length of each run; the prompt count is derived from the "
        "predicted request rate (at least 4 x concurrency prompts).",
    )
    enabled: bool = Field(
        True, description="Render the Job; false keeps the settings but renders nothing."
    )

    @model_validator(mode="after")
    def _concurrency_values(self) -> BenchmarkConfig:
        bad = [c for c in self.concurrency if not 1 <= c <= MAX_CONCURRENCY]
        if bad:
            raise ValueError(f"concurrency values must be 1-{MAX_CONCURRENCY}; got {bad}")
        if len(set(self.concurrency)) != len(self.concurrency):
            raise ValueError(f"concurrency values repeat: {self.concurrency}")
        return self
