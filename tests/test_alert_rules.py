"""The rendered alert rules under `promtool check rules` and `promtool test rules`.

Every alert gets synthetic series for which it must fire once its `for:` has elapsed, stay
silent just before, and stay silent when its condition does not hold (other tiers' series
included, to prove the selectors).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests._observability_cfg import WEIGHTS, platform, prod
from tests.support import require_tool
from tgi_infra.config.models import PlatformConfig
from tgi_infra.manifests.alerts import VALUE
from tgi_infra.manifests.dashboard import panels
from tgi_infra.manifests.observability import build_observability_objects


@pytest.fixture
def promtool() -> str:
    return require_tool("promtool")


NS = "tgi"
TGI = f'namespace="{NS}",tier="chat"'
OTHER = f'namespace="{NS}",tier="large"'
DEPLOY = "tgi-chat-0123abcd"
JOB = f"{DEPLOY}-download"


def rule_groups(cfg: PlatformConfig) -> list[dict[str, Any]]:
    """The PrometheusRules' specs, as one Prometheus rule file's groups."""
    objs = build_observability_objects(cfg, WEIGHTS)
    return [g for o in objs if o["kind"] == "PrometheusRule" for g in o["spec"]["groups"]]


def chat_rules(cfg: PlatformConfig) -> dict[str, dict[str, Any]]:
    group = next(g for g in rule_groups(cfg) if g["name"] == "tgi-infra.chat")
    return {r["alert"]: r for r in group["rules"]}


def minutes(duration: str) -> int:
    assert duration.endswith("m"), duration
    return int(duration[:-1])


def expand(text: str, value: str, labels: dict[str, str]) -> str:
    """What Prometheus' template engine makes of our annotations, for known inputs."""
    text = text.replace(VALUE, value).replace('{{ $value | printf "%.0f" }}', value)
    return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], text)


def hpa_series(hpa: str, current: int, maximum: int) -> list[dict[str, str]]:
    sel = f'namespace="{NS}",horizontalpodautoscaler="{hpa}"'
    return [
        {"series": f"kube_horizontalpodautoscaler_status_current_replicas{{{sel}}}",
         "values": f"{current}x60"},
        {"series": f"kube_horizontalpodautoscaler_spec_max_replicas{{{sel}}}",
         "values": f"{maximum}x60"},
    ]


def cases(hpa: str) -> dict[str, dict[str, Any]]:
    """Per alert: series that make it fire, series that must not, its value, extra labels."""
    queue = lambda v, sel=TGI, pod="p1": {  # noqa: E731
        "series": f'tgi_queue_size{{{sel},pod="{pod}"}}', "values": f"{v}x60"}
    hist = lambda name, le, sel=TGI, extra="": {  # noqa: E731
        "series": f'{name}_bucket{{{sel}{extra},le="{le}"}}', "values": "0+60x60"}
    counter = lambda name, per_min, extra="": {  # noqa: E731
        "series": f"{name}{{{TGI}{extra}}}", "values": f"0+{per_min}x60"}
    kv = lambda used: [  # noqa: E731
        {"series": f'tgi_batch_current_max_tokens{{{TGI},pod="p1"}}', "values": f"{used}x60"},
        {"series": f'tgi_batch_max_total_tokens{{{TGI},pod="p1"}}', "values": "10000x60"},
    ]
    deploy = lambda name, spec, avail: [  # noqa: E731
        {"series": f'kube_deployment_spec_replicas{{namespace="{NS}",deployment="{name}"}}',
         "values": f"{spec}x60"},
        {"series": f'kube_deployment_status_replicas_available{{namespace="{NS}",'
                   f'deployment="{name}"}}', "values": f"{avail}x60"},
    ]
    job = f'namespace="{NS}",job_name="{JOB}"'
    prefill = ',method="prefill"'
    return {
        "TgiQueueHigh": {
            "fire": [queue(20), queue(20, pod="p2")],
            "quiet": [queue(10), queue(100, sel=OTHER)],
            "value": "20.00",
        },
        "TgiTimeToFirstTokenHigh": {
            # p95 over (0, 20] is 19s of queue, over (0, 2] 1.9s of prefill: 20.9s.
            "fire": [hist("tgi_request_queue_duration", "20"),
                     hist("tgi_request_queue_duration", "+Inf"),
                     hist("tgi_batch_inference_duration", "2", extra=prefill),
                     hist("tgi_batch_inference_duration", "+Inf", extra=prefill),
                     hist("tgi_batch_inference_duration", "+Inf", extra=',method="decode"')],
            "quiet": [hist("tgi_request_queue_duration", "1"),
                      hist("tgi_request_queue_duration", "+Inf"),
                      hist("tgi_batch_inference_duration", "1", extra=prefill),
                      hist("tgi_batch_inference_duration", "+Inf", extra=prefill),
                      hist("tgi_request_queue_duration", "+Inf", sel=OTHER)],
            "value": "20.90",
            "delay": 1,  # rate() needs two samples
        },
        "TgiErrorRateHigh": {
            "fire": [counter("tgi_request_count", 60),
                     counter("tgi_request_failure", 30, ',err="overloaded"'),
                     counter("tgi_request_failure", 60, ',err="dropped"')],
            "quiet": [counter("tgi_request_count", 60),
                      counter("tgi_request_failure", 1, ',err="overloaded"'),
                      counter("tgi_request_failure", 60, ',err="dropped"')],
            "value": "0.50",
            "labels": {"err": "overloaded"},
            "delay": 1,
        },
        "TgiKvCacheNearFull": {"fire": kv(9800), "quiet": kv(9000), "value": "0.98"},
        "TgiNoReadyReplicas": {
            "fire": deploy(DEPLOY, 2, 0),
            "quiet": deploy(DEPLOY, 2, 1) + deploy("tgi-chatty-0123abcd", 2, 0),
            "also_quiet": deploy(DEPLOY, 0, 0),  # scaled to zero on purpose
        },
        "TgiModelDownloadFailed": {
            "fire": [{"series": f'kube_job_failed{{{job},condition="true"}}',
                      "values": "1x60"},
                     {"series": f'kube_job_failed{{{job},condition="false"}}',
                      "values": "0x60"}],
            "quiet": [{"series": f'kube_job_failed{{{job},condition="true"}}',
                       "values": "0x60"},
                      {"series": f'kube_job_failed{{{job},condition="false"}}',
                       "values": "1x60"}],
            "labels": {"job_name": JOB},
        },
        "TgiModelDownloadSlow": {
            # Started at t=0: the condition holds once time() passes the threshold.
            "fire": [{"series": f"kube_job_status_start_time{{{job}}}", "values": "0x60"},
                     {"series": f"kube_job_status_active{{{job}}}", "values": "1x60"}],
            "quiet": [{"series": f"kube_job_status_start_time{{{job}}}", "values": "0x60"},
                      {"series": f"kube_job_status_active{{{job}}}", "values": "0x60"}],
            "labels": {"job_name": JOB},
            "time_based": True,
        },
        "TgiReplicasAtMax": {
            "fire": hpa_series(hpa, 4, 4),
            "quiet": hpa_series(hpa, 3, 4) + hpa_series("tgi-large", 2, 2),
        },
    }


def alert_tests(cfg: PlatformConfig, hpa: str) -> list[dict[str, Any]]:
    rules = chat_rules(cfg)
    table = cases(hpa)
    assert set(table) == set(rules), "every alert needs a promtool case"
    tests: list[dict[str, Any]] = []
    for name, case in table.items():
        rule = rules[name]
        hold = minutes(rule["for"])
        start = case.get("delay", 0)
        if case.get("time_based"):
            slow_after = int(re.search(r"> (\d+) and", rule["expr"]).group(1))
            start = slow_after // 60 + 1
        fire_at = start + hold + 1
        value = case.get("value", str(fire_at * 60) if case.get("time_based") else "")
        labels = {**rule["labels"], **case.get("labels", {})}
        annotations = {k: expand(v, value, labels) for k, v in rule["annotations"].items()}
        silent = [{"eval_time": f"{start + hold - 1}m", "alertname": name, "exp_alerts": []}]
        tests.append({
            "name": f"{name} fires after {rule['for']}",
            "interval": "1m",
            "input_series": case["fire"],
            "alert_rule_test": [*silent, {
                "eval_time": f"{fire_at}m", "alertname": name,
                "exp_alerts": [{"exp_labels": labels, "exp_annotations": annotations}],
            }],
        })
        for key in ("quiet", "also_quiet"):
            if key in case:
                tests.append({
                    "name": f"{name} stays silent ({key})",
                    "interval": "1m",
                    "input_series": case[key],
                    "alert_rule_test": [{"eval_time": f"{fire_at + 10}m", "alertname": name,
                                         "exp_alerts": []}],
                })
    return tests


def run_promtool(promtool: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *map(str, args)], capture_output=True, text=True,
                          timeout=120, check=False)


def write_rules(tmp_path: Path, groups: list[dict[str, Any]]) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return path


@pytest.mark.parametrize("cfg", [prod(), platform()], ids=["prod", "generated"])
def test_rules_pass_promtool_check(
    promtool: str, tmp_path: Path, cfg: PlatformConfig
) -> None:
    path = write_rules(tmp_path, rule_groups(cfg))
    result = run_promtool(promtool, "check", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("autoscaler", "hpa"), [("hpa", "tgi-chat"), ("keda", "keda-hpa-tgi-chat")])
def test_every_alert_fires_and_stays_silent(
    promtool: str, tmp_path: Path, autoscaler: str, hpa: str
) -> None:
    cfg = platform(autoscaler=autoscaler)
    # Only chat's group: the other tier's series in the quiet cases must not trip it.
    write_rules(tmp_path, [{"name": "tgi-infra.chat", "rules": list(chat_rules(cfg).values())}])
    tests = alert_tests(cfg, hpa)
    spec = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests}
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    result = run_promtool(promtool, "test", "rules", tmp_path / "tests.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(tests) >= 2 * len(chat_rules(cfg))


def test_promtool_catches_a_wrong_expectation(promtool: str, tmp_path: Path) -> None:
    """The harness itself: a case expecting an alert that cannot fire must fail."""
    cfg = platform()
    write_rules(tmp_path, rule_groups(cfg))
    case = cases("tgi-chat")["TgiQueueHigh"]
    spec = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": [{
        "interval": "1m", "input_series": case["quiet"],
        "alert_rule_test": [{"eval_time": "30m", "alertname": "TgiQueueHigh",
                             "exp_alerts": [{"exp_labels": chat_rules(cfg)["TgiQueueHigh"]
                                             ["labels"]}]}]}]}
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(spec))
    assert run_promtool(promtool, "test", "rules", tmp_path / "tests.yaml").returncode != 0


def test_annotations_mode_rule_file_passes_promtool(promtool: str, tmp_path: Path) -> None:
    cfg = platform(scrapeMode="annotations")
    cm = next(o for o in build_observability_objects(cfg, WEIGHTS) if o["kind"] == "ConfigMap"
              and "tgi-infra.rules.yaml" in o["data"])
    path = tmp_path / "tgi-infra.rules.yaml"
    path.write_text(cm["data"]["tgi-infra.rules.yaml"])
    result = run_promtool(promtool, "check", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_queries_parse(promtool: str, tmp_path: Path) -> None:
    """Every panel's PromQL, with Grafana's variables filled in, as recording rules."""
    rules = [
        {"record": f"dashboard:panel{p['id']}:{t['refId']}",
         "expr": t["expr"].replace("$__rate_interval", "5m").replace("$tier", ".*")}
        for p in panels(prod()) for t in p["targets"]
    ]
    path = write_rules(tmp_path, [{"name": "dashboard", "rules": rules}])
    result = run_promtool(promtool, "check", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr
