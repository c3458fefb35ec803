"""SGLang 0.5.23's metrics mapped onto the engine-neutral contract (`engines/contract.py`).

Read from the sglang==0.5.23 wheel: sglang/srt/observability/metrics_collector.py
(`SchedulerMetricsCollector`, `TokenizerMetricsCollector`) and
sglang/srt/observability/http_request_metrics.py; the full list is
`tests/fixtures/engines/sglang_metrics.json`. SGLang serves `/metrics` only when started
with `--enable-metrics` (`Scrape.requires_args`). Scheduler series carry `model_name`,
`engine_type`, `tp_rank`, `pp_rank`, `moe_ep_rank` (and `dp_rank` with data parallelism):
only the first attention-TP rank reports by default, and the rules aggregate ranks away.

What differs from the plain meaning:

- Requests and errors come from `sglang:http_responses_total` on the generation endpoints
  (`INFERENCE_ENDPOINTS`): its `status_code` is the one signal of refused or failed
  requests (SGLang counts `num_requests_total` only for requests that finish). An error is
  a response whose status is not 2xx, by status code; a stream that fails after its 200
  headers counts as a success.
- The KV ratio is `sglang:token_usage`: used KV tokens over `max_total_num_tokens`
  (the fuller pool for hybrid SWA models), rounded to 2 decimals.
"""

from __future__ import annotations

from tgi_infra.engines import contract as c

INFERENCE_ENDPOINTS = ("/v1/chat/completions", "/v1/completions", "/generate")
"""Routes of sglang/srt/entrypoints/http_server.py that generate tokens."""

ERROR_REASONS = {
    "400": "the request was refused (prompt above --context-length, bad parameters)",
    "500": "the server failed the request: read the pod logs (CUDA out of memory)",
    "503": "the waiting queue is full (--max-queued-requests), a request waited past "
    "SGLANG_REQ_WAITING_TIMEOUT, or the server is not ready: scale out",
}
"""The status codes seen most (sglang/srt/managers/scheduler.py answers overload with 503);
`reason` carries whatever non-2xx status SGLang answered."""


def expressions(sel: str) -> dict[str, str | c.Quantile]:
    endpoints = "|".join(INFERENCE_ENDPOINTS)
    responses = f'sglang:http_responses_total{{{sel},endpoint=~"{endpoints}"}}'
    failed = f'sglang:http_responses_total{{{sel},endpoint=~"{endpoints}",status_code!~"2.."}}'
    return {
        # With priority scheduling the total is the priority="" series (the others break
        # it down); without it the label is absent, which ="" also matches.
        c.QUEUE: c.per_pod(f'sglang:num_queue_reqs{{{sel},priority=""}}'),
        c.RUNNING: c.per_pod(f'sglang:num_running_reqs{{{sel},priority=""}}'),
        c.KV_CACHE: c.per_pod(f"sglang:token_usage{{{sel}}}", "max"),
        **c.latencies(
            ttft="sglang:time_to_first_token_seconds",
            tpot="sglang:request_time_per_output_token_seconds",
            request="sglang:e2e_request_latency_seconds",
            queue="sglang:queue_time_seconds",
        ),
        c.REQUESTS: c.tier_rate(responses),
        c.ERRORS: c.reason_rate(failed, "status_code"),
        c.PROMPT_TOKENS: c.tier_rate(f"sglang:prompt_tokens_total{{{sel}}}"),
        c.GENERATION_TOKENS: c.tier_rate(f"sglang:generation_tokens_total{{{sel}}}"),
    }


METRICS = c.EngineMetrics(
    engine="sglang",
    version="0.5.23",
    source="sglang==0.5.23 wheel: sglang/srt/observability/metrics_collector.py, "
    "sglang/srt/observability/http_request_metrics.py",
    expressions=expressions,
    error_reasons=ERROR_REASONS,
    differences={
        c.KV_CACHE: "sglang:token_usage: used KV tokens over max_total_num_tokens",
        c.REQUESTS: "sglang:http_responses_total on /v1/chat/completions, /v1/completions "
        "and /generate",
        c.ERRORS: "non-2xx responses on those endpoints, by status code",
    },
    scrape=c.Scrape(requires_args=("--enable-metrics",)),
)
