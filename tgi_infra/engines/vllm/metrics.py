"""vLLM 0.34.0's metrics mapped onto the engine-neutral contract (`engines/contract.py`).

Read from the vllm==0.34.0 wheel: vllm/v1/metrics/loggers.py (`PrometheusStatLogger`), the
finish reasons in vllm/v1/engine/__init__.py (`FINISH_REASON_STRINGS`) and the admission
reasons in loggers.py (`ADMISSION_REASONS`); the full list is
`tests/fixtures/engines/vllm_metrics.json`. prometheus_client appends `_total` to counters.
Every series carries `model_name` and `engine` (the engine-core index, "0" unless data
parallel): the rules aggregate `engine` away before they set their own `engine="vllm"`.

What differs from the plain meaning:

- Requests are `vllm:request_success_total` (every finished request, whatever its
  `finished_reason`: stop, length, abort, error, repetition) plus
  `vllm:admission_rejections_total` (refused by --max-num-queued-reqs/-tokens, HTTP 503).
- Errors are `finished_reason="error"` and admission rejections. Requests the OpenAI server
  refuses before the engine (400: prompt above --max-model-len, bad parameters) reach no
  vllm:* counter, so they are in neither.
"""

from __future__ import annotations

from tgi_infra.engines import contract as c

ERROR_REASONS = {
    "error": "a request-level internal error in the engine (500, e.g. a KV load failure): "
    "read the pod logs",
    "max_num_queued_reqs": "the request queue is full (--max-num-queued-reqs, 503): scale "
    "out or raise the limit",
    "max_num_queued_tokens": "the queued prompt tokens hit --max-num-queued-tokens (503): "
    "scale out or raise the limit",
}


def expressions(sel: str) -> dict[str, str | c.Quantile]:
    finished = f"vllm:request_success_total{{{sel}}}"
    rejected = f"vllm:admission_rejections_total{{{sel}}}"
    failed = f'vllm:request_success_total{{{sel},finished_reason="error"}}'
    return {
        c.QUEUE: c.per_pod(f"vllm:num_requests_waiting{{{sel}}}"),
        c.RUNNING: c.per_pod(f"vllm:num_requests_running{{{sel}}}"),
        c.KV_CACHE: c.per_pod(f"vllm:kv_cache_usage_perc{{{sel}}}", "max"),
        **c.latencies(
            ttft="vllm:time_to_first_token_seconds",
            tpot="vllm:request_time_per_output_token_seconds",
            request="vllm:e2e_request_latency_seconds",
            queue="vllm:request_queue_time_seconds",
        ),
        c.REQUESTS: c.tier_rate(finished, rejected),
        c.ERRORS: f"{c.reason_rate(failed, 'finished_reason')} or "
        f"{c.reason_rate(rejected, 'reason')}",
        c.PROMPT_TOKENS: c.tier_rate(f"vllm:prompt_tokens_total{{{sel}}}"),
        c.GENERATION_TOKENS: c.tier_rate(f"vllm:generation_tokens_total{{{sel}}}"),
    }


METRICS = c.EngineMetrics(
    engine="vllm",
    version="0.34.0",
    source="vllm==0.34.0 wheel: vllm/v1/metrics/loggers.py, vllm/v1/engine/__init__.py",
    expressions=expressions,
    error_reasons=ERROR_REASONS,
    differences={
        c.KV_CACHE: "vllm:kv_cache_usage_perc (a 0-1 ratio despite its name): blocks in use",
        c.REQUESTS: "vllm:request_success_total (every finish reason) + "
        "vllm:admission_rejections_total; 400s from the OpenAI server are not counted",
        c.ERRORS: 'finished_reason="error" and admission rejections; aborts (client '
        "disconnects) excluded",
    },
)
