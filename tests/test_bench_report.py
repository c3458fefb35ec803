"""`tgi-infra bench-report`: vllm bench serve results beside the plan's predictions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import SMALL_PLATFORM
from tgi_infra.cli import main
from tgi_infra.commands.bench_report import BadResult, parse_results, to_row

RESULTS = Path(__file__).parent / "fixtures" / "perf" / "bench_results"
PUBLIC = sorted(RESULTS.glob("public-*.json"))
JOB_LOG = RESULTS / "constructed-job-log-chat.txt"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out + err


def test_recorded_public_results_parse() -> None:
    assert len(PUBLIC) == 2
    for path in PUBLIC:
        (result,) = parse_results(path.read_text(), str(path))
        row = to_row(result, str(path))
        assert row.measured["output_tokens_per_s"] == pytest.approx(result["output_throughput"])
        assert row.measured["tpot_ms"] == pytest.approx(result["mean_tpot_ms"])
        assert row.isl == 200 and row.osl == 128
        assert row.concurrency is None and row.prediction_source == "none"


def test_job_log_rows_carry_their_predictions(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(["bench-report", str(JOB_LOG), "--json"], capsys)
    assert code == 0, out
    rows = json.loads(out)
    assert [r["concurrency"] for r in rows] == [1, 8, 32]
    for r in rows:
        assert (r["tier"], r["engine"], r["prediction_source"]) == (
            "chat",
            "tgi",
            "result metadata",
        )
        assert (r["isl"], r["osl"]) == (512, 128)
        e = r["error"]["output_tokens_per_s"]
        assert e == pytest.approx(
            r["predicted"]["output_tokens_per_s"] / r["measured"]["output_tokens_per_s"] - 1
        )


def test_stack_predictions_replace_missing_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    stack = tmp_path / "Pulumi.t.yaml"
    stack.write_text(yaml.safe_dump({"config": {"tgi-infra:platform": SMALL_PLATFORM}}))
    result = json.loads(PUBLIC[0].read_text()) | {"max_concurrency": 8}
    one = tmp_path / "c8.json"
    one.write_text(json.dumps(result))
    code, out = run(
        ["bench-report", str(one), "--config", str(stack), "--tier", "chat", "--json"], capsys
    )
    assert code == 0, out
    (row,) = json.loads(out)
    assert row["prediction_source"] == "stack model" and row["engine"] == "tgi"
    assert row["predicted"]["tpot_ms"] > 0


def test_table_shows_measured_beside_predicted(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(["bench-report", str(JOB_LOG), *map(str, PUBLIC)], capsys)
    assert code == 0
    assert "tok/s measured" in out and "TPOT predicted" in out
    assert "760.4" in out and "result metadata" in out


def test_append_result_json_lines_parse() -> None:
    text = "\n".join(p.read_text().strip() for p in PUBLIC)
    assert len(parse_results(text, "x.jsonl")) == 2


@pytest.mark.parametrize(
    ("content", "text"),
    [
        ("hello", "no benchmark result"),
        ('{"date": "x"}', "lacks completed, output_throughput"),
        ("TGI-INFRA-RESULT {broken", "not JSON"),
    ],
)
def test_bad_files_exit_2(
    content: str, text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "r.json"
    path.write_text(content)
    code, out = run(["bench-report", str(path)], capsys)
    assert code == 2 and text in out and "Traceback" not in out
    with pytest.raises(BadResult):
        parse_results(content, "r.json")


def test_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(["bench-report", str(tmp_path / "nope.json")], capsys)
    assert code == 2 and "no such file" in out


MALFORMED = {
    "deep nesting": "[" * 100_000 + "]" * 100_000,
    "5000-digit number": '{"completed": ' + "9" * 5000 + ', "output_throughput": 1}',
    "text count": '{"completed": "x", "output_throughput": [1]}',
    "negative count": '{"completed": -3, "output_throughput": 10}',
    "infinite count": 'TGI-INFRA-RESULT {"completed": 1e999, "output_throughput": 1}',
    "fractional concurrency": '{"completed": 4, "output_throughput": 1, "max_concurrency": 1.5}',
    "binary": "\udcff\udcfe",
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_results_are_usage_errors(tmp_path: Path, case: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "result.json"
    path.write_bytes(MALFORMED[case].encode("utf-8", "surrogateescape"))
    code, out = run(["bench-report", str(path)], capsys)
    assert code == 2 and str(path) in out and "internal error" not in out, out


def test_non_finite_measurements_are_not_numbers() -> None:
    row = to_row({"completed": 2, "output_throughput": float("nan"),
                  "mean_ttft_ms": float("inf")}, "x")  # fmt: skip
    assert row.measured["output_tokens_per_s"] is None and row.measured["ttft_ms"] is None


def test_negative_measurements_and_predictions_are_not_numbers() -> None:
    row = to_row({"completed": 2, "mean_ttft_ms": -1.0, "mean_tpot_ms": 12.5,
                  "predicted_mean_tpot_ms": -3}, "x")  # fmt: skip
    assert row.measured["ttft_ms"] is None and row.measured["tpot_ms"] == 12.5
    assert row.predicted["tpot_ms"] is None and row.prediction_source == "none"
