"""A benchmark per tier (pure): a Job running `vllm bench serve` at the tier's Service.

`tiers[].benchmark` renders three objects: the Job, a NetworkPolicy for its pods (DNS, the
tier's pods, HTTPS to the Hub for the tokenizer) and one that lets them reach the tier's pods
(NetworkPolicies add up, so the tier's own policy stays as it is). The load generator is
`vllm bench serve` from the pinned vLLM image (`vllm/vllm-openai:v0.34.0`, whose entrypoint
is `vllm serve`, so the Job sets its command); every flag rendered is listed, with where
vLLM 0.34.0 declares it, in ``tests/fixtures/perf/vllm_bench_serve_flags.yaml``.

The Job waits for the Service's ``/health``, then runs the random dataset once per
concurrency of the sweep with fixed lengths (``--ignore-eos``), and prints each result JSON
(`--save-result`) on a line ``TGI-INFRA-RESULT {...}``: ``kubectl logs job/<name>`` is the
input of ``tgi-infra bench-report``. The plan's predictions for each run travel in the
result itself (``--metadata predicted_...=``), so the report needs no stack to compare.
"""

from __future__ import annotations

import hashlib
import json
import math
import shlex
from typing import TYPE_CHECKING, Any

from tgi_infra import naming
from tgi_infra.capacity.performance import Performance, Workload, predict
from tgi_infra.capacity.planning import tier_replica
from tgi_infra.config.performance import BenchmarkConfig
from tgi_infra.escape import kube_literal, kube_literal_env
from tgi_infra.manifests.checkov import skip_annotations
from tgi_infra.manifests.serving import (
    LOGICAL_NAME,
    TierContext,
    dns_egress,
    pod_security,
    restricted_container_security,
    secret_env,
)

if TYPE_CHECKING:  # a type only: builders never import the checks at run time
    from tgi_infra.checks.launcher import TierCapacity

K8s = dict[str, Any]
BENCH_IMAGE = "vllm/vllm-openai:v0.34.0"
BENCH_UID = 10001  # a high UID (checkov CKV_K8S_40); the client writes only under /tmp, /results
RESULT_MARKER = "TGI-INFRA-RESULT"
RESULT_DIR = "/results"
HEALTH_WAIT_SECONDS = 3600
MAX_PROMPTS = 100_000
COMPONENT = "benchmark"
SKIP_AWAIT = "pulumi.com/skipAwait"  # `pulumi up` does not wait for the load test to end
SKIP_REASONS = {
    "CKV_K8S_11": "no CPU limit: a throttled load generator would measure itself, not the tier",
    "CKV_K8S_43": "pinned to the vLLM release tag whose flags the Job was checked against",
    "CKV_K8S_15": "IfNotPresent on purpose: the image is pinned to a release and is ~10 GB",
    "CKV_K8S_35": "huggingface_hub reads HF_TOKEN from the environment (gated tokenizers)",
}


def job_name(ctx: TierContext) -> str:
    """Named from the model and the benchmark settings: a change of either runs it again."""
    bench = ctx.tier.benchmark
    key = f"{naming.model_hash(ctx.tier)}:{bench.model_dump_json() if bench else ''}"
    return f"{naming.tier_base(ctx.tier.name)}-bench-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def predictions(cap: TierCapacity, bench: BenchmarkConfig) -> dict[int, Performance]:
    """The performance model's figure for each run of the sweep (one replica of the tier)."""
    rep = tier_replica(cap)
    return {
        c: predict(cap.facts, cap.gpu, rep, Workload(bench.isl, bench.osl, c))
        for c in bench.concurrency
    }


def prompt_count(bench: BenchmarkConfig, concurrency: int, predicted: Performance | None) -> int:
    """Prompts for one run: the predicted rate times the duration, at least 4 per client."""
    rate = predicted.requests_per_s if predicted and predicted.requests_per_s > 0 else 0.0
    return int(min(MAX_PROMPTS, max(4 * concurrency, math.ceil(rate * bench.duration_seconds))))


def bench_command(
    ctx: TierContext, concurrency: int, prompts: int, predicted: Performance | None
) -> list[str]:
    """One `vllm bench serve` run against the tier's Service (flags: see the module doc)."""
    tier, bench = ctx.tier, ctx.tier.benchmark
    assert bench is not None
    url = f"http://{naming.service_name(tier.name)}.{ctx.namespace}.svc:{naming.SERVICE_PORT}"
    meta = {
        "tgi_infra_tier": tier.name,
        "tgi_infra_engine": tier.engine,
        "tgi_infra_tensor_parallel": str(tier.num_shard),
        "tgi_infra_isl": str(bench.isl),
        "tgi_infra_osl": str(bench.osl),
    }
    if predicted is not None:
        meta |= {
            "predicted_output_throughput": f"{predicted.output_tokens_per_s:.2f}",
            "predicted_request_throughput": f"{predicted.requests_per_s:.4f}",
            "predicted_mean_ttft_ms": f"{predicted.ttft_ms:.1f}",
            "predicted_mean_tpot_ms": f"{predicted.tpot_ms:.2f}",
            "predicted_bound": predicted.bound,
        }
    args = [
        "vllm", "bench", "serve",
        "--backend", "openai",
        "--base-url", url,
        "--endpoint", "/v1/completions",
        "--model", tier.model_name,
        "--tokenizer", tier.model_id,
        "--dataset-name", "random",
        "--random-input-len", str(bench.isl),
        "--random-output-len", str(bench.osl),
        "--ignore-eos",
        "--max-concurrency", str(concurrency),
        "--num-prompts", str(prompts),
        "--request-rate", "inf",
        "--num-warmups", str(min(concurrency, 8)),
        "--percentile-metrics", "ttft,tpot,itl,e2el",
        "--metric-percentiles", "50,90,99",
        "--disable-tqdm",
        "--save-result",
        "--result-dir", RESULT_DIR,
        "--result-filename", f"c{concurrency}.json",
        "--label", tier.name,
    ]  # fmt: skip
    if tier.trust_remote_code:
        args.append("--trust-remote-code")
    args += ["--metadata", *(f"{k}={v}" for k, v in meta.items())]
    return args


def script(ctx: TierContext, runs: list[tuple[int, int, Performance | None]]) -> str:
    """Wait for /health, then one run per concurrency, each result printed on a marked line."""
    url = f"http://{naming.service_name(ctx.tier.name)}.{ctx.namespace}.svc:{naming.SERVICE_PORT}"
    wait = (
        'python3 -c "import sys,time,urllib.request as u\n'
        f"end=time.time()+{HEALTH_WAIT_SECONDS}\n"
        "while time.time()<end:\n"
        "  try:\n"
        f"    u.urlopen('{url}/health',timeout=5); sys.exit(0)\n"
        "  except Exception: time.sleep(10)\n"
        "sys.exit('tgi-infra: the tier never answered /health')\""
    )
    lines = [
        "set -u",
        "status=0",
        f"echo 'tgi-infra: waiting for {url}/health'",
        wait + " || exit 1",
    ]
    for concurrency, prompts, predicted in runs:
        cmd = shlex.join(bench_command(ctx, concurrency, prompts, predicted))
        result = f"{RESULT_DIR}/c{concurrency}.json"
        lines += [
            f"if {cmd}",
            f'then printf "%s %s\\n" {RESULT_MARKER} "$(cat {result})"',
            f"else status=1; echo 'tgi-infra: the run at concurrency {concurrency} failed' >&2",
            "fi",
        ]
    lines.append("exit $status")
    return "\n".join(lines) + "\n"


def benchmark_job(ctx: TierContext, cap: TierCapacity | None = None) -> K8s:
    """The Job; ``cap`` (the tier's planned capacity) adds the predictions and sizes runs."""
    tier, bench = ctx.tier, ctx.tier.benchmark
    assert bench is not None
    predicted = predictions(cap, bench) if cap is not None and cap.memory.fits else {}
    runs = [
        (c, prompt_count(bench, c, predicted.get(c)), predicted.get(c)) for c in bench.concurrency
    ]
    deadline = HEALTH_WAIT_SECONDS + sum(3 * bench.duration_seconds + 300 for _ in runs)
    labels = naming.labels(COMPONENT, instance=tier.name, tier=tier.name)
    env: list[K8s] = [
        {"name": "HOME", "value": "/tmp"},
        {"name": "HF_HOME", "value": "/tmp/hf"},
        {"name": "VLLM_CACHE_ROOT", "value": "/tmp/vllm"},
        {"name": "VLLM_NO_USAGE_STATS", "value": "1"},
        {"name": "DO_NOT_TRACK", "value": "1"},
        {"name": "HF_HUB_DISABLE_TELEMETRY", "value": "1"},
    ]
    skips = dict(SKIP_REASONS)
    if ctx.hf_token_secret:
        env.append(secret_env("HF_TOKEN", ctx.hf_token_secret))
    else:
        skips.pop("CKV_K8S_35")
    expected = {
        str(c): {
            "output_tokens_per_s": round(p.output_tokens_per_s, 2),
            "ttft_ms": round(p.ttft_ms, 1),
            "tpot_ms": round(p.tpot_ms, 2),
        }
        for c, p in predicted.items()
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(ctx),
            "namespace": ctx.namespace,
            "labels": labels,
            "annotations": {
                LOGICAL_NAME: f"{naming.tier_base(tier.name)}-bench",
                SKIP_AWAIT: "true",
                "tgi-infra/predicted": json.dumps(expected, sort_keys=True),
                **skip_annotations(**skips),
            },
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": deadline,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": pod_security(BENCH_UID),
                    "containers": [
                        {
                            "name": "bench",
                            "image": BENCH_IMAGE,
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["/bin/sh", "-c", kube_literal(script(ctx, runs))],
                            "env": kube_literal_env(env),
                            "resources": {
                                "requests": {"cpu": "2", "memory": "4Gi"},
                                "limits": {"memory": "8Gi"},
                            },
                            "securityContext": restricted_container_security(
                                BENCH_UID, read_only_root=True
                            ),
                            "volumeMounts": [
                                {"name": "tmp", "mountPath": "/tmp"},
                                {"name": "results", "mountPath": RESULT_DIR},
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "tmp", "emptyDir": {"sizeLimit": "10Gi"}},
                        {"name": "results", "emptyDir": {"sizeLimit": "1Gi"}},
                    ],
                },
            },
        },
    }


def _bench_selector(tier: str) -> dict[str, str]:
    return {"app.kubernetes.io/component": COMPONENT, naming.TIER_LABEL: tier}


def bench_network_policy(ctx: TierContext) -> K8s:
    """The Job's pods: no ingress; egress to DNS, the tier's pods and HTTPS (tokenizer)."""
    tier = ctx.tier.name
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": f"{naming.tier_base(tier)}-bench",
            "namespace": ctx.namespace,
            "labels": naming.labels(COMPONENT, instance=tier, tier=tier),
        },
        "spec": {
            "podSelector": {"matchLabels": _bench_selector(tier)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [],
            "egress": [
                dns_egress(),
                {
                    "to": [{"podSelector": {"matchLabels": naming.tier_selector(tier)}}],
                    "ports": [{"protocol": "TCP", "port": naming.TGI_PORT_NAME}],
                },
                {"ports": [{"protocol": "TCP", "port": 443}]},
            ],
        },
    }


def tier_ingress_from_bench(ctx: TierContext) -> K8s:
    """Lets the Job's pods reach the tier's pods (added to the tier's own policy)."""
    tier = ctx.tier.name
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": f"{naming.tier_base(tier)}-from-bench",
            "namespace": ctx.namespace,
            "labels": naming.labels(COMPONENT, instance=tier, tier=tier),
        },
        "spec": {
            "podSelector": {"matchLabels": naming.tier_selector(tier)},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [{"podSelector": {"matchLabels": _bench_selector(tier)}}],
                    "ports": [{"protocol": "TCP", "port": naming.TGI_PORT_NAME}],
                }
            ],
        },
    }


def benchmark_objects(ctx: TierContext, cap: TierCapacity | None = None) -> list[K8s]:
    """The tier's benchmark objects in creation order (none without `tiers[].benchmark`)."""
    bench = ctx.tier.benchmark
    if bench is None or not bench.enabled:
        return []
    return [bench_network_policy(ctx), tier_ingress_from_bench(ctx), benchmark_job(ctx, cap)]
