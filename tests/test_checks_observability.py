"""Preview-time checks of autoscaling targets and alert thresholds."""

from __future__ import annotations

from tests._observability_cfg import platform
from tests.support import STACKS, stack_config
from tgi_infra.checks.observability import check_observability
from tgi_infra.problems import Problem


def by_check(problems: list[Problem]) -> dict[str, Problem]:
    return {p.check: p for p in problems}


def test_real_stacks_are_clean() -> None:
    for name in STACKS:
        assert check_observability(stack_config(name)) == [], name


def test_generated_stack_is_clean() -> None:
    assert check_observability(platform()) == []


def test_queue_target_at_max_concurrent_requests_is_an_error() -> None:
    cfg = platform(tier={"maxConcurrentRequests": 16, "autoscaling": {"queueSizeTarget": 16},
                         "alerts": {"queueSize": 12}})
    problem = by_check(check_observability(cfg))["queue-target-below-concurrency"]
    assert problem.severity == "error"
    assert problem.path == "tiers[chat].autoscaling.queueSizeTarget"
    assert "16" in problem.message and "429" in problem.message
    assert "below 16" in problem.fix


def test_queue_target_above_half_the_limit_is_a_warning() -> None:
    cfg = platform(tier={"maxConcurrentRequests": 16, "autoscaling": {"queueSizeTarget": 12},
                         "alerts": {"queueSize": 14}})
    problem = by_check(check_observability(cfg))["queue-target-below-concurrency"]
    assert problem.severity == "warning"
    assert "at most 8" in problem.fix


def test_queue_target_is_not_checked_without_an_autoscaler() -> None:
    cfg = platform(autoscaler="none", tier={
        "maxConcurrentRequests": 16, "autoscaling": {"queueSizeTarget": 16},
        "replicas": {"min": 2, "max": 2}})
    assert "queue-target-below-concurrency" not in by_check(check_observability(cfg))


def test_replicas_max_without_autoscaler_is_a_warning() -> None:
    unused = [p for p in check_observability(platform(autoscaler="none"))
              if p.check == "autoscaler-unused"]
    assert [p.path for p in unused] == ["tiers[chat].replicas.max", "tiers[large].replicas.max"]
    assert {p.severity for p in unused} == {"warning"}


def test_min_zero_warns_for_both_autoscalers() -> None:
    zero = {"replicas": {"min": 0, "max": 2}}
    hpa = by_check(check_observability(platform(tier=zero)))
    keda = by_check(check_observability(platform(autoscaler="keda", tier=zero)))
    assert hpa["hpa-min-replicas"].severity == "warning"
    assert keda["scale-to-zero-wakeup"].path == "tiers[chat].replicas.min"


def test_alert_thresholds_against_limits_and_the_autoscaler() -> None:
    unreachable = platform(tier={"maxConcurrentRequests": 16, "autoscaling": {
        "queueSizeTarget": 4}, "alerts": {"queueSize": 20}})
    assert by_check(check_observability(unreachable))["alert-queue-reachable"].path == (
        "tiers[chat].alerts.queueSize")
    early = platform(tier={"alerts": {"queueSize": 8}})
    problem = by_check(check_observability(early))["alert-queue-above-target"]
    assert "e.g. 16" in problem.fix


def test_empty_sidecar_label_is_an_error() -> None:
    cfg = platform(dashboard={"sidecarLabel": {}})
    problem = by_check(check_observability(cfg))["dashboard-sidecar-label"]
    assert problem.path == "observability.dashboard.sidecarLabel"
    assert check_observability(platform(dashboard={"enabled": False, "sidecarLabel": {}})) == []
