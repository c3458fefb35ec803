"""The autoscaler builders: HPA on queue depth, KEDA ScaledObject, adapter rules, windows."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
import yaml

from tests._observability_cfg import GIB, WEIGHTS, platform, prod
from tests.support import assert_schema_valid
from tgi_infra import naming
from tgi_infra.capacity import timing
from tgi_infra.manifests import autoscaling
from tgi_infra.manifests.autoscaling import AutoscalingWindows
from tgi_infra.validation import crd_directory, validate_custom_resource

K8s = dict[str, Any]


def of_kind(objs: list[K8s], kind: str) -> list[K8s]:
    return [o for o in objs if o["kind"] == kind]


def test_prod_renders_an_hpa_per_tier_and_the_adapter_rules() -> None:
    cfg = prod()
    objs = autoscaling.build_autoscaling_objects(cfg, WEIGHTS)
    hpas = of_kind(objs, "HorizontalPodAutoscaler")
    assert [h["metadata"]["name"] for h in hpas] == [
        "tgi-chat", "tgi-large", "tgi-quantized", "tgi-chat-vllm", "tgi-quantized-sglang"]
    assert [o["metadata"]["name"] for o in of_kind(objs, "ConfigMap")] == [
        naming.adapter_rules_name()]
    assert_schema_valid(objs)
    for hpa, tier in zip(hpas, cfg.tiers, strict=True):
        spec = hpa["spec"]
        assert spec["scaleTargetRef"] == {
            "apiVersion": "apps/v1", "kind": "Deployment", "name": naming.deployment_name(tier)}
        assert (spec["minReplicas"], spec["maxReplicas"]) == (tier.replicas.min,
                                                              tier.replicas.max)
        queue = spec["metrics"][0]
        assert queue == {"type": "Pods", "pods": {
            "metric": {"name": "llm_queue_requests"},
            "target": {"type": "AverageValue",
                       "averageValue": str(tier.autoscaling.queue_size_target)}}}


def test_gpu_utilization_is_an_optional_second_signal() -> None:
    cfg = prod()
    chat = autoscaling.horizontal_pod_autoscaler(cfg, cfg.tier("chat"), WEIGHTS)
    large = autoscaling.horizontal_pod_autoscaler(cfg, cfg.tier("large"), WEIGHTS)
    assert [m["pods"]["metric"]["name"] for m in chat["spec"]["metrics"]] == [
        "llm_queue_requests", "DCGM_FI_DEV_GPU_UTIL"]
    assert chat["spec"]["metrics"][1]["pods"]["target"]["averageValue"] == "90"
    assert len(large["spec"]["metrics"]) == 1


def test_windows_are_sized_from_the_cold_start() -> None:
    cfg = platform()
    small = autoscaling.windows_for(cfg.tier("chat"), {"chat": 2 * GIB})
    big = autoscaling.windows_for(cfg.tier("chat"), {"chat": 140 * GIB})
    assert small.cold_start == timing.cold_start_seconds(2 * GIB)
    assert big.cold_start > small.cold_start > 6 * 60  # node + image + load: minutes
    assert big.scale_down > small.scale_down >= 600
    assert big.scale_down == 2 * big.cold_start
    assert 60 <= small.scale_up <= big.scale_up <= 300
    for w in (small, big):
        assert w.scale_up < w.cold_start < w.scale_down <= 3600
        assert w.scale_up_period <= 1800 and w.scale_down_period <= 1800


def test_windows_are_clamped_to_what_the_hpa_accepts() -> None:
    huge = AutoscalingWindows.from_cold_start(10 * 3600)
    assert (huge.scale_up, huge.scale_down) == (300, 3600)
    assert (huge.scale_up_period, huge.scale_down_period) == (1800, 1800)
    tiny = AutoscalingWindows.from_cold_start(10)
    assert (tiny.scale_up, tiny.scale_down) == (60, 600)


def test_explicit_windows_win() -> None:
    cfg = platform(tier={"autoscaling": {
        "queueSizeTarget": 8, "scaleUpStabilizationSeconds": 0,
        "scaleDownStabilizationSeconds": 120}})
    behavior = autoscaling.horizontal_pod_autoscaler(cfg, cfg.tier("chat"), WEIGHTS)["spec"][
        "behavior"]
    assert behavior["scaleUp"]["stabilizationWindowSeconds"] == 0
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] == 120


def test_behavior_adds_at_most_double_per_cold_start_and_drops_one_at_a_time() -> None:
    cfg = platform()
    behavior = autoscaling.horizontal_pod_autoscaler(cfg, cfg.tier("chat"), WEIGHTS)["spec"][
        "behavior"]
    cold = timing.cold_start_seconds(WEIGHTS["chat"])
    up, down = behavior["scaleUp"], behavior["scaleDown"]
    assert {(p["type"], p["value"]) for p in up["policies"]} == {("Percent", 100), ("Pods", 1)}
    assert all(p["periodSeconds"] == cold for p in up["policies"])
    assert down["policies"] == [{"type": "Pods", "value": 1, "periodSeconds": -(-cold // 2)}]
    assert down["stabilizationWindowSeconds"] == 2 * cold


def test_unknown_weights_fall_back_to_model_spec_then_a_long_default() -> None:
    spec = {"numLayers": 32, "hiddenSize": 4096, "numAttentionHeads": 32, "numKvHeads": 8,
            "vocabSize": 128256, "maxPositionEmbeddings": 131072, "weightBytes": 3 * GIB}
    cfg = platform(tier={"modelSpec": spec})
    assert autoscaling.tier_weight_bytes(cfg.tier("chat")) == 3 * GIB
    assert autoscaling.tier_weight_bytes(cfg.tier("large")) == autoscaling.UNKNOWN_WEIGHT_BYTES
    assert autoscaling.tier_weight_bytes(cfg.tier("large"), {"large": 7}) == 7


def test_hpa_never_goes_below_one_replica() -> None:
    cfg = platform(tier={"replicas": {"min": 0, "max": 3}})
    hpa = autoscaling.horizontal_pod_autoscaler(cfg, cfg.tier("chat"), WEIGHTS)
    assert hpa["spec"]["minReplicas"] == 1
    assert_schema_valid([hpa])


def test_fixed_tiers_and_autoscaler_none_render_nothing() -> None:
    fixed = platform(tier={"replicas": {"min": 2, "max": 2}})
    assert not autoscaling.is_autoscaled(fixed, fixed.tier("chat"))
    names = {o["metadata"]["name"] for o in autoscaling.build_autoscaling_objects(fixed)}
    assert "tgi-chat" not in names and "tgi-large" in names
    assert autoscaling.build_autoscaling_objects(platform(autoscaler="none")) == []


def test_keda_scaled_object_queries_the_tier_queue() -> None:
    cfg = platform(autoscaler="keda", tier={"autoscaling": {
        "queueSizeTarget": 8, "gpuUtilizationTarget": 85}})
    objs = autoscaling.build_autoscaling_objects(cfg, WEIGHTS)
    assert [o["kind"] for o in objs] == ["ScaledObject", "ScaledObject"]  # no adapter
    assert_schema_valid(objs)
    so = objs[0]["spec"]
    assert so["scaleTargetRef"]["name"] == naming.deployment_name(cfg.tier("chat"))
    assert (so["minReplicaCount"], so["maxReplicaCount"]) == (1, 4)
    assert "cooldownPeriod" not in so
    queue, gpu = so["triggers"]
    assert queue["type"] == "prometheus" and queue["metricType"] == "AverageValue"
    assert queue["metadata"]["serverAddress"] == cfg.observability.prometheus_url
    assert queue["metadata"]["query"] == 'sum(llm:queue_requests{namespace="tgi",tier="chat"})'
    assert queue["metadata"]["threshold"] == "8"
    assert gpu["metricType"] == "Value" and gpu["metadata"]["threshold"] == "85"
    assert "exported_pod=~" in gpu["metadata"]["query"]
    hpa_cfg = so["advanced"]["horizontalPodAutoscalerConfig"]
    assert hpa_cfg["name"] == naming.keda_hpa_name("chat")
    assert hpa_cfg["behavior"] == autoscaling.windows_for(cfg.tier("chat"), WEIGHTS).behavior()


def test_keda_scale_to_zero_uses_the_scale_down_window_as_cooldown() -> None:
    cfg = platform(autoscaler="keda", tier={"replicas": {"min": 0, "max": 2}})
    so = autoscaling.scaled_object(cfg, cfg.tier("chat"), WEIGHTS)
    assert so["spec"]["minReplicaCount"] == 0
    assert so["spec"]["cooldownPeriod"] == autoscaling.windows_for(
        cfg.tier("chat"), WEIGHTS).scale_down
    assert_schema_valid([so])


def test_gpu_query_matches_the_tiers_pods_only() -> None:
    cfg = platform()
    query = autoscaling.gpu_utilization_query(cfg, cfg.tier("chat"))
    pattern = re.search(r'exported_pod=~"([^"]+)"', query)[1]
    assert re.fullmatch(pattern, f"{naming.deployment_name(cfg.tier('chat'))}-7d9f8c6b5-x2k4q")
    assert not re.fullmatch(pattern, f"{naming.deployment_name(cfg.tier('large'))}-7d9f8-x2k4q")
    honored = platform(dcgmExportedLabels=False)
    assert 'namespace="tgi",pod=~' in autoscaling.gpu_utilization_query(
        honored, honored.tier("chat"))


def test_adapter_rules_expose_queue_and_gpu_as_pods_metrics() -> None:
    cfg = prod()
    cm = autoscaling.prometheus_adapter_config_map(cfg)
    assert cm["metadata"]["namespace"] == cfg.cluster.monitoring_namespace
    rules = yaml.safe_load(cm["data"]["config.yaml"])["rules"]
    assert rules == autoscaling.prometheus_adapter_rules(cfg)
    queue, gpu = rules
    assert queue["name"] == {"matches": "^llm:queue_requests$", "as": "llm_queue_requests"}
    assert queue["seriesQuery"] == 'llm:queue_requests{namespace!="",pod!=""}'
    assert queue["resources"]["overrides"] == {
        "namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}
    assert "<<.LabelMatchers>>" in queue["metricsQuery"] and "<<.GroupBy>>" in queue[
        "metricsQuery"]
    assert gpu["name"]["as"] == "DCGM_FI_DEV_GPU_UTIL"
    assert set(gpu["resources"]["overrides"]) == {"exported_namespace", "exported_pod"}
    # Without a GPU target anywhere, only the queue rule.
    assert len(autoscaling.prometheus_adapter_rules(platform())) == 1


def test_cold_start_is_reexported_from_the_timing_model() -> None:
    assert autoscaling.cold_start_seconds is timing.cold_start_seconds
    sizes = [1 * GIB, 16 * GIB, 140 * GIB]
    starts = [autoscaling.cold_start_seconds(s) for s in sizes]
    assert starts == sorted(starts) and starts[0] >= 60


@pytest.mark.skipif(crd_directory() is None, reason="no ../shared/crds: CRD schemas unavailable")
def test_the_crd_check_rejects_unknown_fields() -> None:
    """The schema check is strict: a misspelt ScaledObject field is an error."""
    so = autoscaling.scaled_object(platform(autoscaler="keda"), platform().tier("chat"))
    bad = copy.deepcopy(so)
    bad["spec"]["maxReplicas"] = 3
    assert validate_custom_resource(so) == []
    assert any("maxReplicas" in e for e in validate_custom_resource(bad))
