"""Stack text with quotes, backslashes and template syntax: carried exactly, proven by promtool.

Alert annotations are expanded by Prometheus' Go templates, so `promtool test rules` renders
them and compares with the original text; PromQL label values and regexes are evaluated by
promtool against series written by hand; the dashboard is searched for Grafana variables.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests._observability_cfg import platform
from tests.support import require_tool, small_raw
from tests.test_alert_rules import (
    chat_rules,
    expand,
    rule_groups,
    run_alert_tests,
    run_promtool,
    write_rules,
)
from tgi_infra.checks.stack import validate_stack_config
from tgi_infra.checks.text import check_texts
from tgi_infra.config import parse_platform
from tgi_infra.escape import go_template_text, promql_string, re2_literal
from tgi_infra.manifests.dashboard import dashboard_config_map
from tgi_infra.manifests.gateway import build_gateway_objects

MODEL_ID = 'org/a"b\\c{{ .x ${x} [[x]] `t` {'
"""A local-path-like modelId: every template and query character, ending on `{`."""
SERVED = 'my "model" \\d+ {{ .x }} ${x} [[x]] $x `t`'
RUNBOOK = 'https://wiki.example/runbook?q="a b"&re=\\d{2}&t={{ .x ${x} [[x]] `t` }}'
HOSTILE = (MODEL_ID, SERVED, RUNBOOK)


@pytest.fixture
def promtool() -> str:
    return require_tool("promtool")


def hostile_cfg() -> Any:
    return platform(tier={"modelId": MODEL_ID, "servedModelName": SERVED}, runbookUrl=RUNBOOK)


# --------------------------------------------------------------------------- escapes


@pytest.mark.parametrize("text", ["plain", *HOSTILE, "a{", "}}", "\u00e9\u4e2d", "x\ty\n"])
def test_go_template_text_keeps_plain_text_and_quotes_the_rest(text: str) -> None:
    out = go_template_text(text)
    if "{" not in text:
        assert out == text
    else:
        assert out.startswith('{{ "') and out.endswith('" }}')
        assert json.loads(out[3:-3]) == text


@pytest.mark.parametrize("text", [*HOSTILE, "a.b", "^(x|y)$", "[]{}()*+?|\\"])
def test_re2_literal_matches_exactly_the_text(text: str) -> None:
    # Python's re agrees with RE2 on escaped punctuation; promtool checks RE2 below.
    assert re.fullmatch(re2_literal(text), text)
    assert not re.fullmatch(re2_literal(text), text + "x")
    assert not re.fullmatch(re2_literal(text), "x" + text)


def test_promql_string_escapes_quote_backslash_and_controls() -> None:
    assert promql_string('a"b\\c') == '"a\\"b\\\\c"'
    assert promql_string("a\nb\x01") == '"a\\nb\\u0001"'


# --------------------------------------------------------------------------- alerts


def test_hostile_text_rules_pass_promtool_check(promtool: str, tmp_path: Path) -> None:
    path = write_rules(tmp_path, rule_groups(hostile_cfg()))
    result = run_promtool(promtool, "check", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr
    # Without the (pre-existing) duplicate-record lint across tiers, promtool says SUCCESS.
    quiet = run_promtool(promtool, "check", "rules", "--lint=none", path)
    assert "SUCCESS" in quiet.stdout, quiet.stdout + quiet.stderr


def test_hostile_text_renders_back_in_every_alert(promtool: str, tmp_path: Path) -> None:
    """promtool fires every alert and compares its rendered annotations with the stack's
    text: the runbook link and the modelId come back exactly as written."""
    cfg = hostile_cfg()
    tests = run_alert_tests(promtool, tmp_path, cfg, "tgi-chat", "tgi")
    fired = [a for t in tests for case in t["alert_rule_test"] for a in case["exp_alerts"]]
    assert len(fired) == len(chat_rules(cfg))
    for alert in fired:
        notes = alert["exp_annotations"]
        assert notes["runbook_url"].startswith(f"{RUNBOOK}#")
        assert f"Runbook: {notes['runbook_url']}" in notes["description"]
    downloads = [a for a in fired if "downloading" in a["exp_annotations"]["description"]]
    assert len(downloads) == 2
    assert all(f"downloading {MODEL_ID} " in a["exp_annotations"]["description"] for a in downloads)


def test_unescaped_text_fails_promtool(promtool: str, tmp_path: Path) -> None:
    """The control: the same annotation without the escape is refused by promtool."""
    rule = chat_rules(hostile_cfg())["TgiModelDownloadFailed"]
    rule["annotations"]["runbook_url"] = RUNBOOK
    path = write_rules(tmp_path, [{"name": "raw", "rules": [rule]}])
    assert run_promtool(promtool, "check", "rules", path).returncode != 0


def test_expand_undoes_only_the_escape() -> None:
    assert expand(go_template_text(MODEL_ID) + " {{ $labels.x }}", "1", {"x": "y"}) == (
        f"{MODEL_ID} y"
    )


# --------------------------------------------------------------------------- PromQL

LABEL = 'a"b\\c{{ .x ${x} [[x]] (y|z) .*'
# Written by hand (PromQL string escapes), not by promql_string:
LABEL_LITERAL = '"a\\"b\\\\c{{ .x ${x} [[x]] (y|z) .*"'
SIBLING_LITERAL = '"a\\"b\\\\c{{ .x ${x} [[x]] (y|z) .*X"'


def test_label_values_and_regexes_match_exactly_that_label(promtool: str, tmp_path: Path) -> None:
    exact = f"m{{l={promql_string(LABEL)}}}"
    regex = f"m{{l=~{promql_string(re2_literal(LABEL))}}}"
    loose = 'm{l=~"a.*"}'  # the control: a regex that is not a literal matches both
    rules = [
        {"record": f"text:{n}", "expr": e}
        for n, e in (("exact", exact), ("regex", regex), ("loose", loose))
    ]
    write_rules(tmp_path, [{"name": "text", "rules": rules}])
    assert run_promtool(promtool, "check", "rules", tmp_path / "rules.yaml").returncode == 0
    sample = lambda name, lit: {"labels": f"{name}{{l={lit}}}", "value": 1}  # noqa: E731
    spec = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": f"m{{l={LABEL_LITERAL}}}", "values": "1x10"},
                    {"series": f"m{{l={SIBLING_LITERAL}}}", "values": "1x10"},
                ],
                "promql_expr_test": [
                    {
                        "expr": "text:exact",
                        "eval_time": "5m",
                        "exp_samples": [sample("text:exact", LABEL_LITERAL)],
                    },
                    {
                        "expr": "text:regex",
                        "eval_time": "5m",
                        "exp_samples": [sample("text:regex", LABEL_LITERAL)],
                    },
                    {
                        "expr": "text:loose",
                        "eval_time": "5m",
                        "exp_samples": [
                            sample("text:loose", LABEL_LITERAL),
                            sample("text:loose", SIBLING_LITERAL),
                        ],
                    },
                ],
            }
        ],
    }
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    result = run_promtool(promtool, "test", "rules", tmp_path / "tests.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


# --------------------------------------------------------------------------- dashboard

GRAFANA_VARIABLE = re.compile(r"\$\{[^}]*\}|\[\[[^\]]*\]\]|\$\w+")
BOARD_VARIABLES = {"${datasource}", "$tier", "$__all"}


def test_dashboard_gets_no_stack_free_text_and_no_new_variables() -> None:
    """The dashboard carries names only (DNS labels), so the stack's free text brings no
    Grafana variable: the board references only its own."""
    board = dashboard_config_map(hostile_cfg())["data"]["tgi-infra.json"]
    for text in HOSTILE:
        assert json.dumps(text)[1:-1] not in board
    assert set(GRAFANA_VARIABLE.findall(board)) == BOARD_VARIABLES


# --------------------------------------------------------------------------- gateway


def test_gateway_matches_the_served_name_exactly() -> None:
    objs = build_gateway_objects(hostile_cfg())
    dumped = yaml.safe_load(yaml.safe_dump(objs))
    values = [
        h["value"]
        for o in dumped
        if o["kind"] == "AIGatewayRoute"
        for r in o["spec"]["rules"]
        for m in r["matches"]
        for h in m["headers"]
    ]
    assert SERVED in values


# --------------------------------------------------------------------------- refusals


def text_problems(raw: dict[str, Any]) -> list[Any]:
    report = validate_stack_config({"tgi-infra:platform": raw}, "test")
    return [p for p in report.problems if p.check.startswith("text-")]


def test_quotes_backslashes_and_template_syntax_are_accepted() -> None:
    """Refused before (text-template-syntax); every sink now escapes them."""
    raw = small_raw(observability={"runbookUrl": RUNBOOK})
    raw["tiers"][0]["servedModelName"] = SERVED
    assert text_problems(raw) == []
    assert check_texts(hostile_cfg()) == []


@pytest.mark.parametrize(
    ("field", "value", "rule", "what"),
    [
        ("servedModelName", "a\x00b", "text-control-character", "NUL"),
        ("servedModelName", "a\r\nX-Injected: 1", "text-control-character", "U+000D"),
        ("modelId", "org/model\t", "text-control-character", "U+0009"),
        ("revision", "main\x85", "text-control-character", "U+0085"),
    ],
)
def test_what_no_sink_carries_is_refused_clearly(
    field: str, value: str, rule: str, what: str
) -> None:
    raw = small_raw()
    raw["tiers"][0][field] = value
    tier = raw["tiers"][0]["name"]
    found = check_texts(parse_platform(raw))
    assert [(p.path, p.check) for p in found] == [(f"tiers[{tier}].{field}", rule)]
    assert what in found[0].message and "this field reaches" in found[0].message
    assert "remove the character" in found[0].fix


def test_refusal_shows_a_bounded_value() -> None:
    raw = small_raw(observability={"runbookUrl": "https://x/" + "y" * 500 + "\n"})
    (problem,) = check_texts(parse_platform(raw))
    assert problem.path == "observability.runbookUrl"
    assert len(problem.message) < 300 and "alert annotations" in problem.message


def test_default_stack_values_are_unchanged() -> None:
    """No `{` in the text: the annotation is the text itself (readable in the rule)."""
    rule = chat_rules(platform())["TgiModelDownloadFailed"]
    assert rule["annotations"]["runbook_url"] == "docs/runbook.md#model-download-failed"
    assert "downloading org/chat-model into" in rule["annotations"]["description"]
