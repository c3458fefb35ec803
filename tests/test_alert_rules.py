"""The rendered alert rules under `promtool check rules` and `promtool test rules`.

Every alert gets synthetic series for which it must fire once its `for:` has elapsed, stay
silent just before, and stay silent when its condition does not hold (other tiers' series
included, to prove the selectors). The serving alerts read the engine-neutral series, so
each runs once per engine, fed with that engine's own metric names and labels through its
recording rules.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests._engine_metrics import engine_problems, exposed
from tests._observability_cfg import WEIGHTS, mixed, platform, prod
from tests.support import STACKS, require_tool, stack_config
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
ENGINES = ("tgi", "vllm", "sglang")


def rule_groups(cfg: PlatformConfig) -> list[dict[str, Any]]:
    """The PrometheusRules' specs, as one Prometheus rule file's groups."""
    objs = build_observability_objects(cfg, WEIGHTS)
    return [g for o in objs if o["kind"] == "PrometheusRule" for g in o["spec"]["groups"]]


def chat_groups(cfg: PlatformConfig) -> list[dict[str, Any]]:
    """The chat tier's recording rules and alerts."""
    return [g for g in rule_groups(cfg) if g["name"] in ("tgi-infra.chat.series",
                                                         "tgi-infra.chat")]


def chat_rules(cfg: PlatformConfig) -> dict[str, dict[str, Any]]:
    group = next(g for g in rule_groups(cfg) if g["name"] == "tgi-infra.chat")
    return {r["alert"]: r for r in group["rules"]}


def minutes(duration: str) -> int:
    assert duration.endswith("m"), duration
    return int(duration[:-1])


GO_STRING_ACTION = re.compile(r'\{\{ "((?:[^"\\]|\\.)*)" \}\}')
"""A Go template action printing a string constant (how stack text with `{` is emitted)."""


def expand(text: str, value: str, labels: dict[str, str]) -> str:
    """What Prometheus' template engine makes of our annotations, for known inputs."""
    # Stack text first: its constants may hold what looks like the other actions.
    parts = GO_STRING_ACTION.split(text)
    out = []
    for i, part in enumerate(parts):
        if i % 2:  # a Go string constant's body: JSON unquotes the escapes we emit
            out.append(json.loads(f'"{part}"'))
            continue
        part = part.replace(VALUE, value).replace('{{ $value | printf "%.0f" }}', value)
        out.append(re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], part))
    return "".join(out)


def hpa_series(hpa: str, current: int, maximum: int) -> list[dict[str, str]]:
    sel = f'namespace="{NS}",horizontalpodautoscaler="{hpa}"'
    return [
        {"series": f"kube_horizontalpodautoscaler_status_current_replicas{{{sel}}}",
         "values": f"{current}x60"},
        {"series": f"kube_horizontalpodautoscaler_spec_max_replicas{{{sel}}}",
         "values": f"{maximum}x60"},
    ]


def series(name: str, values: str, sel: str = TGI, /, **labels: str) -> dict[str, str]:
    extra = "".join(f',{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{sel}{extra}}}", "values": values}


# Values for the labels engines put on their series (each series gets those its fixture lists).
ENGINE_LABELS = {
    "tgi": {},
    "vllm": {"model_name": "org/chat-model", "engine": "0"},
    "sglang": {"model_name": "org/chat-model", "engine_type": "unified", "tp_rank": "0",
               "pp_rank": "0", "moe_ep_rank": "0"},
}


def engine_series(engine: str, name: str, values: str, sel: str = TGI, /,
                  **labels: str) -> dict[str, str]:
    carried = exposed(engine)[name].metric["labels"]
    common = {k: v for k, v in ENGINE_LABELS[engine].items() if k in carried}
    return series(name, values, sel, **{**common, **labels})


def queue_case(engine: str) -> dict[str, Any]:
    name = {"tgi": "tgi_queue_size", "vllm": "vllm:num_requests_waiting",
            "sglang": "sglang:num_queue_reqs"}[engine]
    q = lambda v, sel=TGI, pod="p1": engine_series(engine, name, f"{v}x60", sel, pod=pod)  # noqa: E731
    fire = [q(20), q(20, pod="p2")]
    if engine == "sglang":
        # Priority scheduling: the total is priority="", the rest a breakdown of it.
        fire = [engine_series(engine, name, "20x60", pod="p1", priority=""),
                engine_series(engine, name, "20x60", pod="p1", priority="0"), q(20, pod="p2")]
    return {"fire": fire, "quiet": [q(10), q(100, sel=OTHER)], "value": "20.00"}


def ttft_case(engine: str) -> dict[str, Any]:
    hist = lambda name, le, sel=TGI, **kw: engine_series(  # noqa: E731
        engine, f"{name}_bucket", "0+60x60", sel, le=le, **kw)
    if engine == "tgi":
        prefill = {"method": "prefill"}
        return {
            # p95 over (0, 20] is 19s of queue, over (0, 2] 1.9s of prefill: 20.9s.
            "fire": [hist("tgi_request_queue_duration", "20"),
                     hist("tgi_request_queue_duration", "+Inf"),
                     hist("tgi_batch_inference_duration", "2", **prefill),
                     hist("tgi_batch_inference_duration", "+Inf", **prefill),
                     hist("tgi_batch_inference_duration", "+Inf", method="decode")],
            "quiet": [hist("tgi_request_queue_duration", "1"),
                      hist("tgi_request_queue_duration", "+Inf"),
                      hist("tgi_batch_inference_duration", "1", **prefill),
                      hist("tgi_batch_inference_duration", "+Inf", **prefill),
                      hist("tgi_request_queue_duration", "+Inf", sel=OTHER)],
            "value": "20.90",
            "delay": 1,  # rate() needs two samples
        }
    name = f"{engine}:time_to_first_token_seconds"
    kw = {"is_streaming": "true"} if engine == "sglang" else {}
    return {
        # p95 over (0, 20]: 19s.
        "fire": [hist(name, "20", **kw), hist(name, "+Inf", **kw)],
        "quiet": [hist(name, "1", **kw), hist(name, "+Inf", **kw),
                  hist(name, "+Inf", sel=OTHER, **kw)],
        "value": "19.00",
        "delay": 1,
    }


def error_case(engine: str) -> dict[str, Any]:
    """60 failures a minute out of 240 requests (client disconnects among them): 0.25."""
    c = lambda name, per_min, **kw: engine_series(engine, name, f"0+{per_min}x60", **kw)  # noqa: E731
    if engine == "tgi":
        base = [c("tgi_request_success", 60), c("tgi_request_failure", 120, err="dropped"),
                # Counted twice per OpenAI request: the rules must not read it.
                c("tgi_request_count", 10000)]
        return {"fire": [*base, c("tgi_request_failure", 60, err="overloaded")],
                "quiet": [*base, c("tgi_request_failure", 1, err="overloaded")],
                "value": "0.25", "labels": {"reason": "overloaded"}, "delay": 1}
    if engine == "vllm":
        ok = "vllm:request_success_total"
        base = [c(ok, 60, finished_reason="stop"), c(ok, 120, finished_reason="abort")]
        return {"fire": [*base, c(ok, 60, finished_reason="error")],
                "quiet": [*base, c(ok, 1, finished_reason="error")],
                "value": "0.25", "labels": {"reason": "error"}, "delay": 1}
    http = "sglang:http_responses_total"
    route = {"endpoint": "/v1/chat/completions", "method": "POST"}
    base = [c(http, 180, status_code="200", **route),
            # Not a generation endpoint: not counted.
            c(http, 10000, endpoint="/health", method="GET", status_code="503")]
    return {"fire": [*base, c(http, 60, status_code="500", **route)],
            "quiet": [*base, c(http, 1, status_code="500", **route)],
            "value": "0.25", "labels": {"reason": "500"}, "delay": 1}


def kv_case(engine: str) -> dict[str, Any]:
    if engine == "tgi":
        kv = lambda used: [  # noqa: E731
            series("tgi_batch_current_max_tokens", f"{used}x60", pod="p1"),
            series("tgi_batch_max_total_tokens", "10000x60", pod="p1"),
        ]
        return {"fire": kv(9800), "quiet": kv(9000), "value": "0.98"}
    name = {"vllm": "vllm:kv_cache_usage_perc", "sglang": "sglang:token_usage"}[engine]
    g = lambda v, pod="p1": engine_series(engine, name, f"{v}x60", pod=pod)  # noqa: E731
    return {"fire": [g(0.98), g(0.5, pod="p2")], "quiet": [g(0.9), g(0.5, pod="p2")],
            "value": "0.98"}


def cases(hpa: str, engine: str = "tgi") -> dict[str, dict[str, Any]]:
    """Per alert: series that make it fire, series that must not, its value, extra labels."""
    deploy = lambda name, spec, avail: [  # noqa: E731
        {"series": f'kube_deployment_spec_replicas{{namespace="{NS}",deployment="{name}"}}',
         "values": f"{spec}x60"},
        {"series": f'kube_deployment_status_replicas_available{{namespace="{NS}",'
                   f'deployment="{name}"}}', "values": f"{avail}x60"},
    ]
    job = f'namespace="{NS}",job_name="{JOB}"'
    return {
        "TgiQueueHigh": queue_case(engine),
        "TgiTimeToFirstTokenHigh": ttft_case(engine),
        "TgiErrorRateHigh": error_case(engine),
        "TgiKvCacheNearFull": kv_case(engine),
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


def alert_tests(cfg: PlatformConfig, hpa: str, engine: str = "tgi") -> list[dict[str, Any]]:
    rules = chat_rules(cfg)
    table = cases(hpa, engine)
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
            "name": f"{engine}: {name} fires after {rule['for']}",
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
                    "name": f"{engine}: {name} stays silent ({key})",
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


STACK_CONFIGS = {**{name: stack_config(name) for name in STACKS},
                 "generated": platform(), "mixed-engines": mixed()}


@pytest.mark.parametrize("name", list(STACK_CONFIGS))
def test_rules_pass_promtool_check(promtool: str, tmp_path: Path, name: str) -> None:
    """Every shipped stack's rules (and every engine's, in the mixed config) are valid."""
    path = write_rules(tmp_path, rule_groups(STACK_CONFIGS[name]))
    result = run_promtool(promtool, "check", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr


def run_alert_tests(promtool: str, tmp_path: Path, cfg: PlatformConfig, hpa: str,
                    engine: str) -> list[dict[str, Any]]:
    # Only chat's groups: the other tier's series in the quiet cases must not trip them.
    write_rules(tmp_path, chat_groups(cfg))
    tests = alert_tests(cfg, hpa, engine)
    spec = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests}
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    result = run_promtool(promtool, "test", "rules", tmp_path / "tests.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    return tests


@pytest.mark.parametrize("engine", ENGINES)
def test_every_alert_fires_and_stays_silent_per_engine(
    promtool: str, tmp_path: Path, engine: str
) -> None:
    """The chat tier on each engine, fed with that engine's own metric names and labels."""
    cfg = platform(tier={"engine": engine})
    assert cfg.tier("chat").engine == engine
    tests = run_alert_tests(promtool, tmp_path, cfg, "tgi-chat", engine)
    assert len(tests) >= 2 * len(chat_rules(cfg))
    for name in ("TgiQueueHigh", "TgiErrorRateHigh", "TgiKvCacheNearFull"):
        assert chat_rules(cfg)[name]["labels"]["engine"] == engine


def test_every_alert_fires_under_keda(promtool: str, tmp_path: Path) -> None:
    cfg = platform(autoscaler="keda")
    run_alert_tests(promtool, tmp_path, cfg, "keda-hpa-tgi-chat", "tgi")


@pytest.mark.parametrize("engine", ENGINES)
def test_promtool_inputs_are_the_engines_own_series(engine: str) -> None:
    """The synthetic series exist in the engine's fixture (names, labels, values)."""
    table = cases("tgi-chat", engine)
    serving = ("TgiQueueHigh", "TgiTimeToFirstTokenHigh", "TgiErrorRateHigh",
               "TgiKvCacheNearFull")
    for alert in serving:
        for key in ("fire", "quiet"):
            for s in table[alert][key]:
                assert engine_problems(s["series"], engine) == [], (alert, s["series"])


def test_tgi_request_rate_is_success_plus_failure_not_request_count(
    promtool: str, tmp_path: Path
) -> None:
    """tgi_request_count (twice per OpenAI request) at 100/min changes nothing: 1 failure a
    minute and no success is 100% failed (the old `failure / count` said 1%)."""
    cfg = platform()
    write_rules(tmp_path, chat_groups(cfg))
    rule = chat_rules(cfg)["TgiErrorRateHigh"]
    labels = {**rule["labels"], "reason": "overloaded"}
    spec = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": [{
        "interval": "1m",
        "input_series": [series("tgi_request_count", "0+100x60"),
                         series("tgi_request_failure", "0+1x60", err="overloaded")],
        "alert_rule_test": [{"eval_time": "30m", "alertname": "TgiErrorRateHigh",
                             "exp_alerts": [{"exp_labels": labels, "exp_annotations": {
                                 k: expand(v, "1.00", labels)
                                 for k, v in rule["annotations"].items()}}]}],
        "promql_expr_test": [{"expr": f"llm:requests_per_second{{{TGI}}}", "eval_time": "30m",
                              "exp_samples": [{"labels": "llm:requests_per_second{"
                                               f'engine="tgi",{TGI}}}',
                                               "value": 1 / 60}]}],
    }]}
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(spec))
    result = run_promtool(promtool, "test", "rules", tmp_path / "tests.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


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


def expr_test(tmp_path: Path, promtool: str, cfg: PlatformConfig,
              input_series: list[dict[str, str]],
              expected: list[tuple[str, dict[str, str], float]]) -> None:
    """Evaluate recorded series at 30m and compare with `expected` (series, labels, value)."""
    write_rules(tmp_path, chat_groups(cfg))
    checks = []
    for record, labels, value in expected:
        selector = ",".join(f'{k}="{v}"' for k, v in labels.items())
        checks.append({"expr": f"{record}{{{selector}}}", "eval_time": "30m",
                       "exp_samples": [{"labels": f"{record}{{{selector}}}", "value": value}]})
    spec = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": [
        {"interval": "1m", "input_series": input_series, "promql_expr_test": checks}]}
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(spec))
    result = run_promtool(promtool, "test", "rules", tmp_path / "tests.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_vllm_requests_and_errors_count_admission_rejections(
    promtool: str, tmp_path: Path
) -> None:
    """Finished requests of every reason plus rejections; errors by reason (no aborts)."""
    e = "vllm"
    c = lambda name, per_min, **kw: engine_series(e, name, f"0+{per_min}x60", **kw)  # noqa: E731
    ok, rejected = "vllm:request_success_total", "vllm:admission_rejections_total"
    tier = {"engine": e, "namespace": NS, "tier": "chat"}
    expr_test(tmp_path, promtool, platform(tier={"engine": e}), [
        c(ok, 120, finished_reason="stop"), c(ok, 60, finished_reason="abort"),
        c(ok, 30, finished_reason="error"), c(rejected, 30, reason="max_num_queued_reqs"),
        # A second engine core (data parallel) in the same pod adds up.
        c(ok, 60, finished_reason="stop", engine="1"),
    ], [
        ("llm:requests_per_second", tier, 5.0),
        ("llm:errors_per_second", {**tier, "reason": "error"}, 0.5),
        ("llm:errors_per_second", {**tier, "reason": "max_num_queued_reqs"}, 0.5),
    ])


def test_requests_are_counted_before_the_first_failure(promtool: str, tmp_path: Path) -> None:
    """TGI creates tgi_request_failure on its first failure: success alone still counts."""
    tier = {"engine": "tgi", "namespace": NS, "tier": "chat"}
    expr_test(tmp_path, promtool, platform(), [
        series("tgi_request_success", "0+120x60"),
        series("tgi_queue_size", "3x60", pod="p1"),
        series("tgi_batch_current_max_tokens", "2500x60", pod="p1"),
        series("tgi_batch_max_total_tokens", "10000x60", pod="p1"),
    ], [
        ("llm:requests_per_second", tier, 2.0),
        ("llm:queue_requests", {**tier, "pod": "p1"}, 3.0),
        ("llm:kv_cache_usage_ratio", {**tier, "pod": "p1"}, 0.25),
    ])


def test_sglang_counts_generation_endpoints_only(promtool: str, tmp_path: Path) -> None:
    e = "sglang"
    c = lambda per_min, endpoint, code: engine_series(  # noqa: E731
        e, "sglang:http_responses_total", f"0+{per_min}x60", endpoint=endpoint,
        method="POST", status_code=code)
    tier = {"engine": e, "namespace": NS, "tier": "chat"}
    expr_test(tmp_path, promtool, platform(tier={"engine": e}), [
        c(60, "/v1/chat/completions", "200"), c(60, "/generate", "200"),
        c(60, "/v1/completions", "400"), c(600, "/health", "503"),
        engine_series(e, "sglang:num_running_reqs", "7x60", pod="p1"),
    ], [
        ("llm:requests_per_second", tier, 3.0),
        ("llm:errors_per_second", {**tier, "reason": "400"}, 1.0),
        ("llm:running_requests", {**tier, "pod": "p1"}, 7.0),
    ])
