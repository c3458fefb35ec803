"""TGI 3.3.7's metrics mapped onto the engine-neutral contract (`engines/contract.py`).

Read from huggingface/text-generation-inference at tag v3.3.7 (router/src/server.rs,
router/src/infer/mod.rs, router/src/validation.rs, backends/v3/src/{backend,queue,lib}.rs);
the full list is `tests/fixtures/engines/tgi_metrics.json`. The router exports through
metrics-exporter-prometheus 0.15: counters carry no `_total`, and series carry no labels but
`err` (tgi_request_failure) and `method` (batch timings).

What differs from the plain meaning:

- Requests are `tgi_request_success + tgi_request_failure`, never `tgi_request_count`: the
  OpenAI handlers (`chat_completions`, `completions`) increment it and then call
  `generate_internal` / `generate_stream_internal`, which increment it again.
- TGI has no time-to-first-token metric: TTFT is p95 queue time plus p95 prefill batch time
  (an upper bound: the sum of two quantiles).
- The KV ratio is the tokens the running batch reserves (`tgi_batch_current_max_tokens`)
  over the capacity warmup found (`tgi_batch_max_total_tokens`): reserved, not used.
"""

from __future__ import annotations

from tgi_infra.engines import contract as c

ERROR_REASONS = {
    "overloaded": "more than maxConcurrentRequests in flight (429): scale out or raise it",
    "validation": "clients send prompts above maxInputTokens or bad parameters (422)",
    "template": "the chat template failed on the request's messages (422): fix the client's "
    "messages or the model's chat template",
    "generation": "the model server failed (read the pod logs for CUDA out of memory)",
    "incomplete": "the generation stopped without a final token (a shard died mid-request; "
    "read the pod logs)",
}
"""Every `err` of tgi_request_failure but `dropped` (client disconnects, not errors)."""


def expressions(sel: str) -> dict[str, str | c.Quantile]:
    failure = f'tgi_request_failure{{{sel},err!="dropped"}}'
    return {
        c.QUEUE: c.per_pod(f"tgi_queue_size{{{sel}}}"),
        c.RUNNING: c.per_pod(f"tgi_batch_current_size{{{sel}}}"),
        c.KV_CACHE: c.per_pod(
            f"tgi_batch_current_max_tokens{{{sel}}} / tgi_batch_max_total_tokens{{{sel}}}", "max"
        ),
        **c.latencies(
            ttft=c.Quantile((
                ("tgi_request_queue_duration", ""),
                ("tgi_batch_inference_duration", 'method="prefill"'),
            )),
            tpot="tgi_request_mean_time_per_token_duration",
            request="tgi_request_duration",
            queue="tgi_request_queue_duration",
        ),
        c.REQUESTS: c.tier_rate(
            f"tgi_request_success{{{sel}}}", f"tgi_request_failure{{{sel}}}"
        ),
        c.ERRORS: c.reason_rate(failure, "err"),
        c.PROMPT_TOKENS: c.tier_rate(f"tgi_request_input_length_sum{{{sel}}}"),
        c.GENERATION_TOKENS: c.tier_rate(f"tgi_request_generated_tokens_sum{{{sel}}}"),
    }


METRICS = c.EngineMetrics(
    engine="tgi",
    version="3.3.7",
    source="huggingface/text-generation-inference v3.3.7 (dfb3fbe7): router/src, "
    "backends/v3/src",
    expressions=expressions,
    error_reasons=ERROR_REASONS,
    differences={
        c.TTFT: "no TTFT metric: p95 queue duration (tgi_request_queue_duration) plus p95 "
        'prefill batch duration (tgi_batch_inference_duration{method="prefill"}), an upper '
        "bound",
        c.KV_CACHE: "tokens reserved by the running batch (tgi_batch_current_max_tokens) over "
        "tgi_batch_max_total_tokens",
        c.REQUESTS: "tgi_request_success + tgi_request_failure (tgi_request_count counts "
        "OpenAI-route requests twice)",
        c.PROMPT_TOKENS: "counted at validation, so refused requests' prompts count too",
        c.GENERATION_TOKENS: "counted when a request succeeds",
    },
)
