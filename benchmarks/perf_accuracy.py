"""Accuracy of the throughput/latency model on public benchmarks, and the fit of its constants.

    PYTHONPATH=$PWD HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/perf_accuracy.py          # report
    PYTHONPATH=$PWD HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/perf_accuracy.py --fit    # refit

The cases live in ``tests/fixtures/perf/benchmarks.yaml`` with their sources and a split fixed
before fitting. ``--fit`` searches `GRID` for the constants minimising the sum of squared log
errors of output tokens/s and TPOT over the **tuned** cases only, and prints them; the report
gives the median |error| of each metric on tuned and held-out cases (JSON).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import statistics
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tgi_infra.capacity.catalog import gpu
from tgi_infra.capacity.model_facts import catalog_facts
from tgi_infra.capacity.performance import FITTED, Calibration, Performance, Workload, predict
from tgi_infra.capacity.planning import kv_plan, replica

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "perf" / "benchmarks.yaml"
METRICS = ("output_tokens_per_s", "tpot_ms")
GRID: dict[str, tuple[float, ...]] = {
    "bandwidth_efficiency": tuple(round(0.50 + 0.025 * i, 3) for i in range(21)),  # 0.50-1.00
    "compute_efficiency": tuple(round(0.20 + 0.05 * i, 2) for i in range(15)),  # 0.20-0.90
    "step_overhead_s": tuple(round(0.0005 * i, 4) for i in range(21)),  # 0-10 ms
}
CONTENTION_GRID = tuple(round(0.01 * i, 2) for i in range(61))  # 0-0.60


@dataclass(frozen=True)
class Case:
    id: str
    split: str
    raw: dict[str, Any]

    def measured(self, metric: str) -> float | None:
        value = self.raw.get(metric)
        return float(value) if value is not None else None


def load_cases(path: Path = FIXTURE) -> list[Case]:
    doc = yaml.safe_load(path.read_text())
    return [Case(c["id"], c["split"], c) for c in doc["cases"]]


def predict_case(case: Case, calibration: Calibration = FITTED) -> Performance:
    raw = case.raw
    facts = catalog_facts(raw["model"])
    if facts is None:
        raise SystemExit(f"{case.id}: model {raw['model']} is not in the shipped catalog")
    card = gpu(raw["gpu"])
    tp = int(raw.get("tensor_parallel", 1))
    kv = kv_plan(raw["engine"], facts, card, tensor_parallel=tp, engine_flags=raw.get("flags"))
    rep = replica(
        raw["engine"], kv, tensor_parallel=tp, max_running_requests=raw.get("max_running_requests")
    )
    work = Workload(int(raw["isl"]), int(raw["osl"]), int(raw["concurrency"]))
    return predict(facts, card, rep, work, calibration)


def errors(cases: Iterable[Case], calibration: Calibration = FITTED) -> list[dict]:
    rows = []
    for case in cases:
        p = predict_case(case, calibration)
        row: dict[str, Any] = {"id": case.id, "split": case.split, "bound": p.bound}
        for metric in (*METRICS, "ttft_ms"):
            measured = case.measured(metric)
            if measured is None:
                continue
            predicted = getattr(p, metric)
            row[metric] = {
                "measured": measured,
                "predicted": round(predicted, 2),
                "error": round(predicted / measured - 1, 4),
            }
        rows.append(row)
    return rows


def loss(cases: list[Case], calibration: Calibration, metrics: tuple[str, ...] = METRICS) -> float:
    total = 0.0
    for case in cases:
        p = predict_case(case, calibration)
        for metric in metrics:
            measured = case.measured(metric)
            if measured is not None:
                total += math.log(getattr(p, metric) / measured) ** 2
    return total


def fit(cases: list[Case]) -> tuple[Calibration, float]:
    """The grid point with the least loss on the tuned ``cases`` (ties: the first in grid
    order), then the prefill contention with the least TTFT loss given it."""
    tuned = [c for c in cases if c.split == "tuned"]
    best: tuple[float, Calibration] | None = None
    for bw, comp, over in itertools.product(*GRID.values()):
        cal = Calibration(bw, comp, over)
        value = loss(tuned, cal)
        if best is None or value < best[0] - 1e-12:
            best = (value, cal)
    assert best is not None
    value, cal = best
    contention = min(
        CONTENTION_GRID,
        key=lambda k: loss(tuned, dataclasses.replace(cal, prefill_contention=k), ("ttft_ms",)),
    )
    return dataclasses.replace(cal, prefill_contention=contention), value


def summary(rows: list[dict]) -> dict[str, dict[str, float | int]]:
    out: dict[str, dict[str, float | int]] = {}
    for split in ("tuned", "held-out"):
        for metric in (*METRICS, "ttft_ms"):
            errs = [abs(r[metric]["error"]) for r in rows if r["split"] == split and metric in r]
            if errs:
                out[f"{split}/{metric}"] = {
                    "cases": len(errs),
                    "median_abs_error": round(statistics.median(errs), 4),
                    "max_abs_error": round(max(errs), 4),
                }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", action="store_true", help="refit the constants on tuned cases")
    args = parser.parse_args(argv)
    cases = load_cases()
    calibration = FITTED
    report: dict[str, Any] = {}
    if args.fit:
        calibration, value = fit(cases)
        report["fit"] = {**calibration.__dict__, "tuned_loss": round(value, 5)}
    rows = errors(cases, calibration)
    report["constants"] = calibration.__dict__
    report["summary"] = summary(rows)
    report["cases"] = rows
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
