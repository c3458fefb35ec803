"""`tgi-infra bench-report FILE...`: measured `vllm bench serve` results beside the plan.

A FILE is a result JSON as ``vllm bench serve --save-result`` writes it (one object, or one
per line with ``--append-result``), or the log of a `tiers[].benchmark` Job
(``kubectl logs job/<name>``), whose results sit on ``TGI-INFRA-RESULT {...}`` lines. The
predictions come from the result itself (the Job's ``--metadata predicted_...``) or, with
``--stack``/``--config``, from the performance model for the tier the result names
(``tgi_infra_tier``, or ``--tier``).

Exit codes: 0 report printed, 2 bad input (a file that is missing or holds no result).
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from tgi_infra.fileio import read_regular

MAX_RESULT_BYTES = 256 * 2**20
"""A Job's log with its result lines; a sweep's JSON results are a few MiB at most."""

EXIT_OK, EXIT_USAGE = 0, 2
MARKER = "TGI-INFRA-RESULT"
REQUIRED = ("completed", "output_throughput")
METRICS = (
    ("output_tokens_per_s", "output_throughput", "predicted_output_throughput"),
    ("ttft_ms", "mean_ttft_ms", "predicted_mean_ttft_ms"),
    ("tpot_ms", "mean_tpot_ms", "predicted_mean_tpot_ms"),
)


class BadResult(ValueError):
    """A file that is not a benchmark result; the message names the file and the fix."""


@dataclass(frozen=True)
class Row:
    source: str
    tier: str
    engine: str
    concurrency: int | None
    isl: int
    osl: int
    completed: int
    measured: dict[str, float | None]
    predicted: dict[str, float | None]
    prediction_source: str

    def error(self, metric: str) -> float | None:
        m, p = self.measured.get(metric), self.predicted.get(metric)
        return None if not m or p is None else p / m - 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench-report", help="measured vllm bench serve results beside the plan's predictions"
    )
    p.add_argument("files", nargs="+", type=Path, help="result JSON files or benchmark Job logs")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--stack", help="predict with stacks/Pulumi.<NAME>.yaml")
    where.add_argument("--config", type=Path, help="predict with this Pulumi stack file")
    p.add_argument("--tier", help="the tier results without tgi_infra_tier metadata belong to")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.set_defaults(handler=run)


def parse_results(text: str, source: str) -> list[dict[str, Any]]:
    """Every result in a file: marked log lines, one JSON object, or JSON lines."""
    marked = [
        line.split(MARKER, 1)[1].strip() for line in text.splitlines() if MARKER + " " in line
    ]
    candidates: list[Any] = []
    if marked:
        candidates = [_loads(m, source) for m in marked]
    else:
        try:
            doc = json.loads(text)
            candidates = doc if isinstance(doc, list) else [doc]
        except json.JSONDecodeError:
            lines = [line for line in text.splitlines() if line.strip().startswith("{")]
            candidates = [_loads(line, source) for line in lines]
        except (ValueError, RecursionError) as exc:  # a 5000-digit number, deep nesting
            raise BadResult(f"{source}: not a result JSON ({str(exc)[:100]}).") from None
    results = [c for c in candidates if isinstance(c, dict)]
    if not results:
        raise BadResult(
            f"{source}: no benchmark result in it (expected the JSON `vllm bench serve "
            f"--save-result` writes, or a benchmark Job's log with {MARKER} lines)."
        )
    for r in results:
        missing = [k for k in REQUIRED if k not in r]
        if missing:
            raise BadResult(
                f"{source}: a result lacks {', '.join(missing)}; is it a `vllm bench serve` "
                "result JSON?"
            )
    return results


def _loads(text: str, source: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadResult(f"{source}: a result line is not JSON ({exc.msg} at {exc.pos}).") from None
    except (ValueError, RecursionError) as exc:  # a 5000-digit number, deep nesting
        raise BadResult(f"{source}: a result line is not JSON ({str(exc)[:100]}).") from None


def _num(value: Any) -> float | None:
    """A finite number of at least 0, else None (missing, text, NaN, infinite or negative:
    no throughput or latency is below 0, so not a measurement)."""
    if isinstance(value, bool):
        return None
    try:
        number = None if value is None else float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if number is not None and math.isfinite(number) and number >= 0 else None


def _count(result: dict[str, Any], key: str, source: str) -> int:
    """A non-negative whole number field (0 when absent), else BadResult naming it."""
    value = result.get(key)
    if value is None:
        return 0
    number = _num(value)
    if number is None or number < 0 or number != int(number) or number > 2**53:
        shown = repr(value)[:40]
        raise BadResult(f"{source}: {key} is {shown}, not a whole number of at least 0.")
    return int(number)


def to_row(result: dict[str, Any], source: str, tier: str | None = None) -> Row:
    completed = _count(result, "completed", source)
    inputs = _count(result, "total_input_tokens", source)
    outputs = _count(result, "total_output_tokens", source)
    isl = round(inputs / completed) if completed else 0
    osl = round(outputs / completed) if completed else 0
    measured = {name: _num(result.get(key)) for name, key, _ in METRICS}
    predicted = {name: _num(result.get(key)) for name, _, key in METRICS}
    has_prediction = any(v is not None for v in predicted.values())
    concurrency = _count(result, "max_concurrency", source)
    return Row(
        source=source,
        tier=str(result.get("tgi_infra_tier") or tier or result.get("label") or "?"),
        engine=str(result.get("tgi_infra_engine") or "?"),
        concurrency=int(concurrency) if concurrency else None,
        isl=isl,
        osl=osl,
        completed=completed,
        measured=measured,
        predicted=predicted,
        prediction_source="result metadata" if has_prediction else "none",
    )


def predict_rows(rows: list[Row], tiers: dict[str, Any]) -> list[Row]:
    """Rows with predictions from the planned tiers (by name) where the run says enough."""
    from dataclasses import replace

    from tgi_infra.capacity.performance import Workload, predict
    from tgi_infra.capacity.planning import tier_replica

    out = []
    for row in rows:
        cap = tiers.get(row.tier)
        if cap is None or not row.concurrency or not row.isl or not row.osl:
            out.append(row)
            continue
        p = predict(
            cap.facts, cap.gpu, tier_replica(cap), Workload(row.isl, row.osl, row.concurrency)
        )
        predicted = {
            "output_tokens_per_s": p.output_tokens_per_s,
            "ttft_ms": p.ttft_ms,
            "tpot_ms": p.tpot_ms,
        }
        engine = row.engine if row.engine != "?" else cap.tier.engine
        out.append(
            replace(row, predicted=predicted, prediction_source="stack model", engine=engine)
        )
    return out


def run(args: argparse.Namespace, console: Console) -> int:
    rows: list[Row] = []
    try:
        for path in args.files:
            if not path.is_file():
                raise BadResult(f"{path}: no such file.")
            try:
                text = read_regular(path, MAX_RESULT_BYTES).decode("utf-8", errors="replace")
            except OSError as exc:
                raise BadResult(f"{path}: cannot be read ({exc.strerror or exc}).") from None
            rows += [to_row(r, str(path), args.tier) for r in parse_results(text, str(path))]
    except BadResult as exc:
        console.print(f"[red]tgi-infra bench-report: error:[/red] {exc}", highlight=False)
        return EXIT_USAGE
    if args.stack or args.config:
        from tgi_infra.checks import validate_platform
        from tgi_infra.config.loader import load_stack, stack_file

        report = validate_platform(load_stack(args.config or stack_file(args.stack)))
        rows = predict_rows(rows, report.tiers)
    if args.json:
        print(json.dumps([_row_json(r) for r in rows], indent=2))
    else:
        console.print(table(rows))
    return EXIT_OK


def _row_json(row: Row) -> dict[str, Any]:
    out = asdict(row)
    out["error"] = {name: row.error(name) for name, _, _ in METRICS}
    return out


def _fmt(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _err(value: float | None) -> str:
    return "" if value is None else f" ({value:+.0%})"


def table(rows: list[Row]) -> Table:
    t = Table(title="benchmark results beside the plan (predicted: error vs measured)")
    for col in ("tier", "engine", "conc", "in/out", "tok/s measured", "tok/s predicted",
                "TTFT ms measured", "TTFT predicted", "TPOT ms measured", "TPOT predicted",
                "prediction"):  # fmt: skip
        t.add_column(col, justify="left" if col in ("tier", "engine", "prediction") else "right")
    for r in sorted(rows, key=lambda r: (r.tier, r.engine, r.concurrency or 0)):
        t.add_row(
            r.tier,
            r.engine,
            str(r.concurrency) if r.concurrency else "rate",
            f"{r.isl}/{r.osl}",
            _fmt(r.measured["output_tokens_per_s"], 1),
            _fmt(r.predicted["output_tokens_per_s"], 1) + _err(r.error("output_tokens_per_s")),
            _fmt(r.measured["ttft_ms"], 1),
            _fmt(r.predicted["ttft_ms"], 1) + _err(r.error("ttft_ms")),
            _fmt(r.measured["tpot_ms"], 2),
            _fmt(r.predicted["tpot_ms"], 2) + _err(r.error("tpot_ms")),
            r.prediction_source,
        )
    return t
