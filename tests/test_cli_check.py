"""`tgi-infra check`: validate + offline plan + schemas + the policy pack over gRPC."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import ROOT
from tgi_infra.checkrun.sarif import locate
from tgi_infra.cli import EXIT_OK, EXIT_PROBLEMS, main
from tgi_infra.policy.catalog import POLICIES

FIXTURES = ROOT / "tests" / "fixtures"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["check", *argv])
    return code, capsys.readouterr().out


def test_prod_passes_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "--stack", "prod", "--format", "json")
    report = json.loads(out)
    assert code == EXIT_OK, [f for f in report["findings"] if f["level"] == "error"]
    assert report["ok"] and report["planned"] and report["environment"] == "prod"
    assert report["pack"]["name"] == "tgi-infra-llm-serving"
    assert report["pack"]["config"].endswith("policy_pack/config/prod.json")
    assert set(report["policies"]) == {p.name for p in POLICIES}
    assert all(
        p == {"enforcement": "mandatory", "violations": 0} for p in report["policies"].values()
    )
    assert report["objects"] > 20 and report["resources"] > report["objects"]
    assert "hf_offline_plan_placeholder" not in out


def test_bad_stack_fails_with_sarif_on_the_offending_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    fixture = FIXTURES / "policy-token-cap.yaml"
    code, out = run(capsys, "--config", str(fixture), "--format", "sarif")
    assert code == EXIT_PROBLEMS
    sarif = json.loads(out)
    assert sarif["version"] == "2.1.0"
    run_ = sarif["runs"][0]
    [result] = [r for r in run_["results"] if r["level"] == "error"]
    assert result["ruleId"] == "tgi-token-limits"
    rule = run_["tool"]["driver"]["rules"][result["ruleIndex"]]
    assert rule["id"] == "tgi-token-limits" and rule["helpUri"].endswith("#tgi-token-limits")
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"].endswith("tests/fixtures/policy-token-cap.yaml")
    line = fixture.read_text().splitlines()[location["region"]["startLine"] - 1]
    assert line.strip() == "maxTotalTokens: 65536"
    assert "MAX_TOTAL_TOKENS=65536" in result["message"]["text"]


def test_config_errors_stop_before_the_plan(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "--config", str(FIXTURES / "check-input-above-total.yaml"))
    assert code == EXIT_PROBLEMS
    assert "input-below-total (error, 1)" in out
    assert "policies: skipped (no plan while config checks fail)" in out


def test_policy_config_file_and_text_grouped_by_policy(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "tight.json"
    config.write_text(json.dumps({"tgi-token-limits": {"maxTotalTokens": 4096}}))
    code, out = run(capsys, "--stack", "dev", "--policy-config", str(config))
    assert code == EXIT_PROBLEMS
    assert "tgi-token-limits (mandatory, 1)" in out
    assert "MAX_TOTAL_TOKENS=8192 is above this environment's cap of 4096" in out
    assert "dev defaults, config" in out and "1 blocking finding(s)" in out


def test_missing_stack_file_is_a_problem_not_a_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out = run(capsys, "--config", str(tmp_path / "Pulumi.nope.yaml"))
    assert code == EXIT_PROBLEMS
    assert "stack file not found" in out


def test_locate_finds_settings_in_a_stack_file() -> None:
    text = (ROOT / "stacks" / "Pulumi.prod.yaml").read_text()
    lines = text.splitlines()
    assert lines[locate(text, "tiers[large].numShard") - 1].strip() == "numShard: 4"
    assert lines[locate(text, "tenants[search]") - 1].strip() == "- name: search"
    # An unknown key falls back to the deepest part that exists (the tier).
    assert lines[locate(text, "tiers[chat].nope") - 1].strip() == "- name: chat"
