"""tiers[].benchmark: a Job running `vllm bench serve` at the tier's Service."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import yaml

from tests.support import assert_schema_valid, kubelet_expand, small_platform
from tgi_infra import naming
from tgi_infra.checks import validate_platform
from tgi_infra.manifests import benchmark
from tgi_infra.manifests.platform import tier_context

FLAGS = Path(__file__).parent / "fixtures" / "perf" / "vllm_bench_serve_flags.yaml"
VLLM_SRC = Path("/work/engine-src/vllm-0.34.0")
BENCH = {"isl": 512, "osl": 128, "concurrency": [1, 8, 32], "durationSeconds": 60}


def objects(**tier):
    cfg = small_platform(benchmark=BENCH, **tier)
    report = validate_platform(cfg)
    cap = report.tiers["chat"]
    ctx = tier_context(cfg, cfg.tiers[0], cap.facts.weight_bytes)
    return ctx, cap, benchmark.benchmark_objects(ctx, cap)


def runs(job) -> list[list[str]]:
    script = kubelet_expand(job["spec"]["template"]["spec"]["containers"][0]["command"][2], {})
    lines = [line.removeprefix("if ") for line in script.splitlines()]
    return [shlex.split(line) for line in lines if line.startswith("vllm bench")]


def test_objects_pass_the_kubernetes_schema() -> None:
    _, _, objs = objects()
    assert [o["kind"] for o in objs] == ["NetworkPolicy", "NetworkPolicy", "Job"]
    assert_schema_valid(objs)


def test_no_benchmark_renders_nothing() -> None:
    cfg = small_platform()
    ctx = tier_context(cfg, cfg.tiers[0], 1)
    assert benchmark.benchmark_objects(ctx) == []
    off = small_platform(benchmark={**BENCH, "enabled": False})
    assert benchmark.benchmark_objects(tier_context(off, off.tiers[0], 1)) == []


def test_job_runs_the_pinned_vllm_client_with_its_own_command() -> None:
    _, _, (_, _, job) = objects()
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "vllm/vllm-openai:v0.34.0"
    assert container["command"][:2] == ["/bin/sh", "-c"]  # the entrypoint is `vllm serve`
    assert "args" not in container
    assert job["metadata"]["annotations"]["pulumi.com/skipAwait"] == "true"
    assert job["spec"]["backoffLimit"] == 0
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_one_run_per_concurrency_at_the_tier_service() -> None:
    ctx, _, (_, _, job) = objects()
    commands = runs(job)
    assert [c[c.index("--max-concurrency") + 1] for c in commands] == ["1", "8", "32"]
    url = f"http://{naming.service_name('chat')}.{ctx.namespace}.svc:{naming.SERVICE_PORT}"
    for c in commands:
        assert c[:3] == ["vllm", "bench", "serve"]
        assert c[c.index("--base-url") + 1] == url
        assert c[c.index("--random-input-len") + 1] == "512"
        assert c[c.index("--random-output-len") + 1] == "128"
        assert "--ignore-eos" in c and "--save-result" in c
        assert c[c.index("--tokenizer") + 1] == "meta-llama/Llama-3.1-8B-Instruct"
    script = kubelet_expand(job["spec"]["template"]["spec"]["containers"][0]["command"][2], {})
    assert script.count("TGI-INFRA-RESULT") == 3 and f"{url}/health" in script
    assert script.rstrip().endswith("exit $status")  # every run is tried; a failure fails the Job


def test_every_rendered_flag_is_in_the_fixture() -> None:
    known = set(yaml.safe_load(FLAGS.read_text())["flags"])
    _, _, (_, _, job) = objects(trustRemoteCode=True)
    used = {a for c in runs(job) for a in c if a.startswith("--")}
    assert used <= known, used - known
    assert "--trust-remote-code" in used


@pytest.mark.skipif(not VLLM_SRC.exists(), reason="vLLM 0.34.0 source not extracted here")
def test_fixture_flags_are_declared_where_it_says() -> None:
    for flag, where in yaml.safe_load(FLAGS.read_text())["flags"].items():
        path, line = where.rsplit(":", 1)
        text = (VLLM_SRC / path).read_text().splitlines()
        near = "\n".join(text[int(line) - 2 : int(line) + 1])
        assert f'"{flag}"' in near, (flag, where)


def test_predictions_travel_in_the_metadata_and_size_the_runs() -> None:
    _, cap, (_, _, job) = objects()
    predicted = benchmark.predictions(cap, cap.tier.benchmark)
    for c in runs(job):
        conc = int(c[c.index("--max-concurrency") + 1])
        meta = dict(m.split("=", 1) for m in c[c.index("--metadata") + 1 :])
        assert meta["tgi_infra_tier"] == "chat" and meta["tgi_infra_engine"] == "tgi"
        p = predicted[conc]
        assert float(meta["predicted_output_throughput"]) == pytest.approx(
            p.output_tokens_per_s, abs=0.01
        )
        prompts = int(c[c.index("--num-prompts") + 1])
        assert prompts >= 4 * conc
        assert prompts >= int(p.requests_per_s * 60)
    annotation = json.loads(job["metadata"]["annotations"]["tgi-infra/predicted"])
    assert set(annotation) == {"1", "8", "32"}


def test_network_policies_open_only_the_bench_to_tier_path() -> None:
    _, _, (egress, ingress, _) = objects()
    assert egress["spec"]["ingress"] == []
    to_tier = egress["spec"]["egress"][1]
    assert to_tier["to"][0]["podSelector"]["matchLabels"] == naming.tier_selector("chat")
    assert ingress["spec"]["podSelector"]["matchLabels"] == naming.tier_selector("chat")
    assert ingress["spec"]["policyTypes"] == ["Ingress"]
    bench_pods = ingress["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"]
    assert bench_pods["app.kubernetes.io/component"] == "benchmark"


def test_job_name_changes_with_the_settings() -> None:
    ctx, _, _ = objects()
    other = small_platform(benchmark={**BENCH, "osl": 64})
    assert benchmark.job_name(ctx) != benchmark.job_name(tier_context(other, other.tiers[0], 1))
    assert len(benchmark.job_name(ctx)) <= 63


@pytest.mark.parametrize(
    "bad",
    [{"concurrency": []}, {"concurrency": [0]}, {"concurrency": [4, 4]}, {"durationSeconds": 1}],
)
def test_bad_benchmark_settings_are_refused(bad: dict) -> None:
    from tgi_infra.problems import ConfigInvalid

    with pytest.raises(ConfigInvalid) as exc:
        small_platform(benchmark={**BENCH, **bad})
    assert any("benchmark" in p.path for p in exc.value.problems)


def test_the_platform_registers_the_benchmark_beside_its_tier() -> None:
    from tests.support import offline_plan

    objs = offline_plan("prod").kubernetes_objects()
    names = {f"{o['kind']}/{o['metadata']['name']}" for o in objs}
    assert {"NetworkPolicy/tgi-chat-bench", "NetworkPolicy/tgi-chat-from-bench"} <= names
    (job,) = [o for o in objs if o["kind"] == "Job" and "-bench-" in o["metadata"]["name"]]
    assert job["metadata"]["labels"]["tgi-infra/tier"] == "chat"
    assert not any("-bench-" in n for n in names if "large" in n)  # only tiers that ask
