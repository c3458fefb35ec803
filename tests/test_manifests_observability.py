"""Monitors, tracing env, alert rules and the dashboard: plain asserts and schemas."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from tests._engine_metrics import contract_problems, fixture, selectors
from tests._observability_cfg import GIB, WEIGHTS, mixed, platform, prod
from tests.support import ROOT, assert_schema_valid
from tgi_infra import naming
from tgi_infra.config.models import PlatformConfig
from tgi_infra.manifests import alerts, dashboard, observability, serving
from tgi_infra.manifests.platform import tier_context

K8s = dict[str, Any]
RUNBOOK = ROOT / "docs" / "runbook.md"
def kinds(objs: list[K8s]) -> list[tuple[str, str]]:
    return [(o["kind"], o["metadata"]["name"]) for o in objs]


def of_kind(objs: list[K8s], kind: str) -> list[K8s]:
    return [o for o in objs if o["kind"] == kind]


def test_prod_renders_a_monitor_and_rules_per_tier_and_one_dashboard() -> None:
    objs = observability.build_observability_objects(prod(), WEIGHTS)
    assert kinds(objs) == [
        ("ServiceMonitor", "tgi-chat"), ("PrometheusRule", "tgi-chat"),
        ("ServiceMonitor", "tgi-large"), ("PrometheusRule", "tgi-large"),
        ("ServiceMonitor", "tgi-quantized"), ("PrometheusRule", "tgi-quantized"),
        ("ServiceMonitor", "tgi-chat-vllm"), ("PrometheusRule", "tgi-chat-vllm"),
        ("ServiceMonitor", "tgi-quantized-sglang"), ("PrometheusRule", "tgi-quantized-sglang"),
        ("ConfigMap", naming.dashboard_name()),
    ]
    assert_schema_valid(objs)


@pytest.mark.parametrize("mode", ["servicemonitor", "podmonitor", "annotations"])
def test_every_scrape_mode_validates(mode: str) -> None:
    objs = observability.build_observability_objects(platform(scrapeMode=mode), WEIGHTS)
    assert objs
    assert_schema_valid(objs)


def test_service_monitor_selects_the_router_service_and_its_port() -> None:
    cfg = prod()
    tier = cfg.tier("chat")
    svc = serving.service(tier_context(cfg, tier, 16 * GIB))
    mon = observability.service_monitor(cfg, tier)
    selector = mon["spec"]["selector"]["matchLabels"]
    assert selector.items() <= svc["metadata"]["labels"].items()
    assert mon["spec"]["namespaceSelector"] == {"matchNames": [svc["metadata"]["namespace"]]}
    endpoint = mon["spec"]["endpoints"][0]
    assert endpoint["port"] in {p["name"] for p in svc["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    assert endpoint["interval"] == cfg.observability.scrape_interval
    # Another tier's Service is not selected.
    other = serving.service(tier_context(cfg, cfg.tier("large"), 16 * GIB))
    assert not selector.items() <= other["metadata"]["labels"].items()


def test_pod_monitor_selects_every_model_version_and_the_container_port() -> None:
    cfg = platform(scrapeMode="podmonitor")
    tier = cfg.tier("chat")
    deploy = serving.deployment(tier_context(cfg, tier, 16 * GIB))
    pod = deploy["spec"]["template"]
    mon = observability.pod_monitor(cfg, tier)
    selector = mon["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod["metadata"]["labels"].items()
    assert naming.MODEL_HASH_LABEL not in selector  # blue and green alike
    ports = {p["name"] for p in pod["spec"]["containers"][0]["ports"]}
    assert mon["spec"]["podMetricsEndpoints"][0]["port"] in ports


def test_monitors_label_series_with_tier_and_model_hash() -> None:
    cfg = platform()
    relabel = observability.relabelings(cfg.tier("chat"))
    assert {"action": "replace", "targetLabel": "tier", "replacement": "chat"} in relabel
    hash_rule = next(r for r in relabel if r["targetLabel"] == "model_hash")
    assert hash_rule["sourceLabels"] == ["__meta_kubernetes_pod_label_tgi_infra_model_hash"]


def test_monitors_and_rules_carry_the_prometheus_selector() -> None:
    cfg = platform(prometheusSelector={"prometheus": "llm"})
    for obj in observability.build_observability_objects(cfg, WEIGHTS):
        if obj["kind"] in ("ServiceMonitor", "PrometheusRule"):
            assert obj["metadata"]["labels"]["prometheus"] == "llm"
            assert obj["metadata"]["namespace"] == "tgi"


def test_annotations_mode_annotates_pods_and_ships_a_rule_file() -> None:
    cfg = platform(scrapeMode="annotations")
    assert observability.scrape_annotations(cfg) == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(naming.TGI_PORT),
        "prometheus.io/path": "/metrics",
    }
    assert observability.scrape_annotations(platform()) == {}
    objs = observability.build_observability_objects(cfg, WEIGHTS)
    assert not [o for o in objs if o["kind"] in ("ServiceMonitor", "PodMonitor",
                                                 "PrometheusRule")]
    cm = next(o for o in objs if o["metadata"]["name"] == naming.alert_rules_configmap_name())
    assert cm["metadata"]["namespace"] == cfg.cluster.monitoring_namespace
    groups = yaml.safe_load(cm["data"]["tgi-infra.rules.yaml"])["groups"]
    assert [g["name"] for g in groups] == [
        "tgi-infra.chat.series", "tgi-infra.chat", "tgi-infra.large.series", "tgi-infra.large"]
    assert groups[0] == alerts.series_group(cfg, cfg.tier("chat"))
    assert groups[1] == alerts.rule_group(cfg, cfg.tier("chat"), WEIGHTS)


def test_tracing_env_names_the_tier_and_model() -> None:
    cfg = prod()
    env = {e["name"]: e["value"] for e in observability.tracing_env(cfg, cfg.tier("large"))}
    assert env == {
        "OTLP_ENDPOINT": "http://otel-collector.observability.svc:4317",
        "OTLP_SERVICE_NAME": "tgi-large",
        "OTEL_RESOURCE_ATTRIBUTES":
            "inference.backend=tgi,model_id=meta-llama/Llama-3.3-70B-Instruct,tier=large",
    }
    assert observability.tracing_env(platform(), platform().tier("chat")) == []


def test_tracing_env_encodes_odd_model_ids() -> None:
    cfg = platform(tier={"modelId": "/models/my model,v2"}, otlpEndpoint="http://c:4317")
    env = {e["name"]: e["value"] for e in observability.tracing_env(cfg, cfg.tier("chat"))}
    attrs = dict(kv.split("=", 1) for kv in env["OTEL_RESOURCE_ATTRIBUTES"].split(","))
    assert attrs["model_id"] == "/models/my%20model%2Cv2"


# --- alerts ---------------------------------------------------------------------------

EXPECTED_ALERTS = {
    "TgiQueueHigh", "TgiTimeToFirstTokenHigh", "TgiErrorRateHigh", "TgiKvCacheNearFull",
    "TgiNoReadyReplicas", "TgiReplicasAtMax", "TgiModelDownloadFailed",
    "TgiModelDownloadSlow",
}


def rules_of(cfg: PlatformConfig, tier: str) -> dict[str, K8s]:
    group = alerts.rule_group(cfg, cfg.tier(tier), WEIGHTS)
    return {r["alert"]: r for r in group["rules"]}


def runbook_anchors() -> set[str]:
    headings = re.findall(r"^#{2,3} (.+)$", RUNBOOK.read_text(), flags=re.M)
    return {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in headings}


def test_every_alert_has_severity_summary_description_and_a_runbook_anchor() -> None:
    anchors = runbook_anchors()
    rules = rules_of(prod(), "chat")
    assert set(rules) == EXPECTED_ALERTS
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in ("warning", "critical"), name
        assert rule["labels"]["tier"] == "chat"
        notes = rule["annotations"]
        assert notes["summary"] and notes["description"], name
        assert notes["runbook_url"].startswith("docs/runbook.md#")
        assert notes["runbook_url"].split("#", 1)[1] in anchors, name
        assert notes["runbook_url"] in notes["description"]
        assert re.fullmatch(r"\d+m", rule["for"]), name


def test_thresholds_come_from_the_tier() -> None:
    cfg = platform(tier={"alerts": {
        "queueSize": 33, "timeToFirstTokenP95Seconds": 7.5, "errorRatio": 0.02,
        "kvCacheUsageRatio": 0.9, "replicasAtMaxMinutes": 45}})
    rules = rules_of(cfg, "chat")
    assert rules["TgiQueueHigh"]["expr"].endswith("> 33")
    assert rules["TgiTimeToFirstTokenHigh"]["expr"].endswith("> 7.5")
    assert rules["TgiErrorRateHigh"]["expr"].endswith("> 0.02")
    assert rules["TgiKvCacheNearFull"]["expr"].endswith("> 0.9")
    assert rules["TgiReplicasAtMax"]["for"] == "45m"
    assert "tiers[chat].alerts.queueSize" in rules["TgiQueueHigh"]["annotations"]["description"]


def series_rules(cfg: PlatformConfig, tier: str) -> dict[tuple[str, str], K8s]:
    group = alerts.series_group(cfg, cfg.tier(tier))
    return {(r["record"], r["labels"].get("quantile", "")): r for r in group["rules"]}


def test_time_to_first_token_reads_the_contract_and_says_how_tgi_estimates_it() -> None:
    rule = rules_of(prod(), "chat")["TgiTimeToFirstTokenHigh"]
    assert rule["expr"].startswith('max(llm:ttft_seconds{namespace="tgi",tier="chat",'
                                   'quantile="0.95"})')
    text = rule["annotations"]["description"]
    assert "no TTFT metric" in text and "prefill" in text
    record = series_rules(prod(), "chat")[("llm:ttft_seconds", "0.95")]["expr"]
    assert "tgi_request_queue_duration_bucket" in record and 'method="prefill"' in record
    assert rules_of(prod(), "large")["TgiTimeToFirstTokenHigh"]["expr"].endswith("> 8")
    vllm = platform(tier={"engine": "vllm"})
    assert "no TTFT metric" not in rules_of(vllm, "chat")["TgiTimeToFirstTokenHigh"][
        "annotations"]["description"]
    assert "vllm:time_to_first_token_seconds_bucket" in series_rules(vllm, "chat")[
        ("llm:ttft_seconds", "0.95")]["expr"]


def test_error_rate_is_by_reason_without_client_disconnects() -> None:
    expr = rules_of(prod(), "chat")["TgiErrorRateHigh"]["expr"]
    assert expr.startswith("sum by (reason) (llm:errors_per_second{")
    assert "group_left sum(llm:requests_per_second{" in expr
    errors = series_rules(prod(), "chat")[("llm:errors_per_second", "")]["expr"]
    assert 'err!="dropped"' in errors and '"reason", "$1", "err"' in errors
    requests = series_rules(prod(), "chat")[("llm:requests_per_second", "")]["expr"]
    assert "tgi_request_success" in requests and "tgi_request_failure" in requests
    assert "tgi_request_count" not in requests


def test_tgi_error_text_lists_every_err_the_router_counts() -> None:
    """The err values read from TGI's router (fixture), client disconnects aside."""
    errs = next(m for m in fixture("tgi")["metrics"] if m["name"] == "tgi_request_failure")[
        "values"]["err"]
    assert {"template", "incomplete"} <= set(errs)
    text = rules_of(prod(), "chat")["TgiErrorRateHigh"]["annotations"]["description"]
    for err in errs:
        assert (f"{err}:" in text) == (err != "dropped"), err


def test_alerts_carry_the_tier_engine() -> None:
    cfg = mixed()
    for tier in cfg.tiers:
        for rule in rules_of(cfg, tier.name).values():
            assert rule["labels"]["engine"] == tier.engine
        assert {r["labels"]["engine"] for r in alerts.series_group(cfg, tier)["rules"]} == {
            tier.engine}


def test_selectors_pin_namespace_tier_and_hashed_names() -> None:
    rules = rules_of(prod(), "chat")
    assert 'namespace="tgi",tier="chat"' in rules["TgiQueueHigh"]["expr"]
    assert 'deployment=~"tgi-chat-[0-9a-f]{8}"' in rules["TgiNoReadyReplicas"]["expr"]
    assert 'job_name=~"tgi-chat-[0-9a-f]{8}-download"' in rules["TgiModelDownloadFailed"]["expr"]
    assert re.fullmatch(naming.download_job_name_pattern("chat"),
                        naming.download_job_name(prod().tier("chat")))
    assert re.fullmatch(naming.deployment_name_pattern("chat"),
                        naming.deployment_name(prod().tier("chat")))


def test_time_based_alerts_grow_with_the_weights() -> None:
    cfg = platform()
    small = alerts.platform_alerts(cfg, cfg.tier("chat"), {"chat": 5 * GIB})
    big = alerts.platform_alerts(cfg, cfg.tier("chat"), {"chat": 400 * GIB})

    def by_name(rules: list[K8s]) -> dict[str, K8s]:
        return {r["alert"]: r for r in rules}

    def slow_after(rules: list[K8s]) -> int:
        return int(re.search(r"> (\d+) and", by_name(rules)["TgiModelDownloadSlow"]["expr"])[1])

    assert by_name(small)["TgiNoReadyReplicas"]["for"] == "10m"
    assert int(by_name(big)["TgiNoReadyReplicas"]["for"][:-1]) > 10
    assert slow_after(big) > slow_after(small)


def test_replicas_at_max_only_for_autoscaled_tiers() -> None:
    assert "TgiReplicasAtMax" not in rules_of(platform(autoscaler="none"), "chat")
    fixed = platform(tier={"replicas": {"min": 2, "max": 2}})
    assert "TgiReplicasAtMax" not in rules_of(fixed, "chat")
    keda = rules_of(platform(autoscaler="keda"), "chat")["TgiReplicasAtMax"]["expr"]
    assert 'horizontalpodautoscaler="keda-hpa-tgi-chat"' in keda


def test_runbook_url_base_is_configurable() -> None:
    cfg = platform(runbookUrl="https://git.example.com/ml/tgi-infra/-/blob/main/docs/runbook.md")
    rule = rules_of(cfg, "chat")["TgiQueueHigh"]
    assert rule["annotations"]["runbook_url"].endswith("runbook.md#queue-high")
    assert rule["annotations"]["runbook_url"].startswith("https://git.example.com/")


# --- dashboard ------------------------------------------------------------------------


def test_dashboard_config_map_carries_the_sidecar_label_and_valid_json() -> None:
    cfg = platform(dashboard={"sidecarLabel": {"grafana_dashboard": "tgi"}})
    cm = dashboard.dashboard_config_map(cfg)
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "tgi"
    assert cm["metadata"]["namespace"] == "monitoring"
    board = json.loads(cm["data"]["tgi-infra.json"])
    assert board["uid"] == "tgi-infra-staging" and len(board["uid"]) <= 40
    tier_var = next(v for v in board["templating"]["list"] if v["name"] == "tier")
    assert tier_var["query"] == "chat,large"
    assert_schema_valid([cm])


def test_dashboard_panels_cover_the_serving_signals() -> None:
    board = dashboard.dashboard(prod())
    titles = {p["title"] for p in board["panels"]}
    assert {
        "Queue size", "Requests and errors", "Request duration", "Queue duration",
        "Time per output token", "Running requests", "KV cache usage", "Replicas",
        "Token throughput", "Time to first token",
    } <= titles
    exprs = [t["expr"].replace("$tier", "x") for p in board["panels"] for t in p["targets"]]
    assert [p for e in exprs for p in contract_problems(e)] == []
    used = {s.name for e in exprs for s in selectors(e)}
    assert {"llm:kv_cache_usage_ratio", "llm:ttft_seconds", "llm:errors_per_second"} <= used
    for panel in board["panels"]:
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}"
        for target in panel["targets"]:
            assert 'tier=~"$tier"' in target["expr"] or "horizontalpodautoscaler" in target["expr"]
    quantiles = next(p for p in board["panels"] if p["title"] == "Request duration")
    assert [t["legendFormat"] for t in quantiles["targets"]] == ["{{tier}} p50", "{{tier}} p95"]
    # No two panels overlap on the grid.
    cells = [(p["gridPos"]["x"], p["gridPos"]["y"]) for p in board["panels"]]
    assert len(cells) == len(set(cells))


def test_dashboard_can_be_disabled() -> None:
    objs = observability.build_observability_objects(
        platform(dashboard={"enabled": False}), WEIGHTS)
    assert naming.dashboard_name() not in {o["metadata"]["name"] for o in objs}


def test_no_secret_material_in_rendered_objects() -> None:
    text = json.dumps(observability.build_observability_objects(prod(), WEIGHTS))
    assert "hf_" not in text.lower().replace("hf_hub", "")
    assert "secretKeyRef" not in text and "password" not in text.lower()
