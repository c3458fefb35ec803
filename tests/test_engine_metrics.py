"""One metric contract across engines: every name and label checked against the engines' source.

The fixtures in tests/fixtures/engines/ are the metric names, types and labels read from
each engine's source at its pinned version (`extract_metrics.py` beside them). Recording
rules may name only what their tier's engine exposes; alerts, the dashboard and the
autoscalers may name only the engine-neutral `llm:*` series (and kube-state-metrics/DCGM).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests._engine_metrics import (
    FIXTURES,
    contract_problems,
    engine_problems,
    exposed,
    fixture,
    selectors,
)
from tests._observability_cfg import WEIGHTS, mixed, platform
from tests.support import STACKS, stack_config
from tgi_infra.config.models import PlatformConfig
from tgi_infra.engines import DEFAULT_VERSIONS, ENGINE_NAMES, contract
from tgi_infra.manifests import alerts, autoscaling, dashboard, observability, serving
from tgi_infra.manifests.platform import tier_context

CONFIGS = {**{name: stack_config(name) for name in STACKS}, "mixed-engines": mixed(),
           "mixed-keda": mixed(autoscaler="keda")}
SOURCES = {
    "vllm": Path("/work/engine-src/vllm-0.34.0"),
    "sglang": Path("/work/engine-src/sglang-0.5.23"),
    "tgi": Path("/work/.mirror/huggingface+text-generation-inference/repo"),
}


def consumer_queries(cfg: PlatformConfig) -> list[str]:
    """Every PromQL the alerts, the dashboard and the autoscalers run."""
    out = [r["expr"] for t in cfg.tiers for r in alerts.rule_group(cfg, t, WEIGHTS)["rules"]]
    out += [t["expr"].replace("$tier", ".*") for p in dashboard.panels(cfg)
            for t in p["targets"]]
    for rule in autoscaling.prometheus_adapter_rules(cfg):
        out.append(rule["seriesQuery"])
        out.append(rule["metricsQuery"].replace("<<.Series>>", rule["seriesQuery"].split("{")[0])
                   .replace("{<<.LabelMatchers>>}", '{namespace="x"}')
                   .replace("<<.GroupBy>>", "pod"))
    for tier in cfg.tiers:
        if autoscaling.is_autoscaled(cfg, tier) and cfg.observability.autoscaler == "keda":
            so = autoscaling.scaled_object(cfg, tier, WEIGHTS)
            out += [t["metadata"]["query"] for t in so["spec"]["triggers"]]
    return out


def rendered_promql(cfg: PlatformConfig) -> str:
    """Every rule, panel and autoscaler object of a stack, as text."""
    objs = observability.build_observability_objects(cfg, WEIGHTS)
    objs += autoscaling.build_autoscaling_objects(cfg, WEIGHTS)
    groups = [g for t in cfg.tiers for g in alerts.rule_groups(cfg, t, WEIGHTS)]
    return json.dumps(objs) + yaml.safe_dump(groups)


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_every_engine_maps_every_contract_series(engine: str) -> None:
    metrics = contract.engine_metrics(engine)
    assert metrics.engine == engine and metrics.version == DEFAULT_VERSIONS[engine]
    rules = contract.recording_rules("ns", "t", engine)
    records = {r["record"] for r in rules}
    assert records == {s.name for s in contract.SERIES}
    for rule in rules:
        series = contract.SERIES_BY_NAME[rule["record"]]
        assert rule["labels"]["engine"] == engine
        assert ("quantile" in rule["labels"]) == ("quantile" in series.labels)
    assert set(metrics.differences) <= set(contract.SERIES_BY_NAME)


def test_an_unknown_engine_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown engine 'tensorrt'"):
        contract.engine_metrics("tensorrt")


@pytest.mark.parametrize("name", list(CONFIGS))
def test_recording_rules_name_only_what_the_tiers_engine_exposes(name: str) -> None:
    cfg = CONFIGS[name]
    for tier in cfg.tiers:
        for rule in alerts.series_group(cfg, tier)["rules"]:
            assert engine_problems(rule["expr"], tier.engine) == [], (tier.name, rule)
            for other in set(ENGINE_NAMES) - {tier.engine}:
                # Each engine's names are its own: the check is not vacuous.
                names = {s.name for s in selectors(rule["expr"])}
                assert not names & set(exposed(other)), (tier.engine, other, names)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_alerts_dashboard_and_autoscalers_read_only_the_contract(name: str) -> None:
    queries = consumer_queries(CONFIGS[name])
    assert queries
    for query in queries:
        assert contract_problems(query) == [], query


@pytest.mark.parametrize("name", list(CONFIGS))
def test_no_rate_uses_tgi_request_count(name: str) -> None:
    assert "tgi_request_count" not in rendered_promql(CONFIGS[name])


def test_the_checks_catch_wrong_names_labels_and_values() -> None:
    assert engine_problems('vllm:gpu_cache_usage_perc{namespace="x"}', "vllm")
    assert engine_problems('vllm:num_requests_waiting{finished_reason="stop"}', "vllm")
    assert engine_problems('vllm:request_success_total{finished_reason="failed"}', "vllm")
    assert engine_problems("tgi_request_count_total", "tgi")  # TGI counters lack _total
    assert engine_problems("sum by (err) (sglang:num_queue_reqs)", "sglang")
    assert contract_problems('llm:queue_requests{err="x"}')
    assert contract_problems("tgi_queue_size")


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_fixtures_say_where_they_come_from(engine: str) -> None:
    data = fixture(engine)
    assert data["engine"] == engine and data["version"] == DEFAULT_VERSIONS[engine]
    assert data["source"]["files"]
    assert data["source"].get("commit") or data["source"].get("wheel")
    names = {m["name"] for m in data["metrics"]}
    assert len(names) == len(data["metrics"]) > 20


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_fixture_matches_the_source_when_it_is_here(engine: str, tmp_path: Path) -> None:
    source = SOURCES[engine]
    if not source.exists():
        pytest.skip(f"{source} not on this machine")
    script = FIXTURES / "extract_metrics.py"
    copy = tmp_path / "extract_metrics.py"
    copy.write_text(script.read_text())
    subprocess.run([sys.executable, str(copy), engine, str(source)], check=True,
                   capture_output=True, env={**os.environ})
    assert json.loads((tmp_path / f"{engine}_metrics.json").read_text()) == fixture(engine)


def test_error_reasons_are_the_engines_own() -> None:
    vllm = fixture("vllm")["metrics"]
    admission = next(m for m in vllm if m["name"] == "vllm:admission_rejections")
    assert set(contract.engine_metrics("vllm").error_reasons) == {
        "error", *admission["values"]["reason"]}
    finished = next(m for m in vllm if m["name"] == "vllm:request_success")
    assert "error" in finished["values"]["finished_reason"]


def test_sglang_needs_enable_metrics_and_every_engine_is_scraped_on_its_port() -> None:
    assert contract.engine_metrics("sglang").scrape.requires_args == ("--enable-metrics",)
    cfg = mixed(scrapeMode="podmonitor")
    for tier in cfg.tiers:
        scrape = contract.engine_metrics(tier.engine).scrape
        endpoint = observability.pod_monitor(cfg, tier)["spec"]["podMetricsEndpoints"][0]
        assert (endpoint["port"], endpoint["path"]) == (scrape.port_name, scrape.path)
    annotated = platform(scrapeMode="annotations", tier={"engine": "sglang"})
    assert observability.scrape_annotations(annotated, annotated.tier("chat"))[
        "prometheus.io/path"] == "/metrics"


def test_extractor_is_importable_without_the_sources() -> None:
    spec = importlib.util.spec_from_file_location("extract", FIXTURES / "extract_metrics.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert set(module.VERSIONS) == set(ENGINE_NAMES)


def test_engines_that_need_a_flag_for_metrics_get_it() -> None:
    """SGLang serves /metrics only with --enable-metrics: its rendered container has it."""
    cfg = mixed()
    checked = 0
    for tier in cfg.tiers:
        needed = contract.engine_metrics(tier.engine).scrape.requires_args
        container = serving.deployment(tier_context(cfg, tier, WEIGHTS["chat"]))["spec"][
            "template"]["spec"]["containers"][0]
        words = [*container.get("command", []), *container.get("args", [])]
        if needed and tier.engine not in " ".join(words) + container["image"]:
            continue  # the serving builder does not render this engine yet
        checked += bool(needed)
        assert set(needed) <= set(words), (tier.name, words)
    if not checked:
        pytest.skip("no engine that needs a metrics flag is rendered yet (engines plug-ins)")
