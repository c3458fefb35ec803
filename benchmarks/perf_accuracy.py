"""Accuracy of the throughput/latency model on public benchmarks, and the fit of its constants.

    PYTHONPATH=$PWD HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/perf_accuracy.py          # report
    PYTHONPATH=$PWD HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/perf_accuracy.py --fit    # refit

The cases live in ``tests/fixtures/perf/benchmarks.yaml`` with their sources and a split fixed
before fitting. ``--fit`` searches `GRID` for the constants minimising the sum of squared log
errors of output tokens/s and TPOT over the **tuned** cases only, and prints them; the report
gives the median and max |error| of each metric on tuned and held-out closed-loop cases, per
engine on held-out cases, and apart on held-out ``workload: burst`` cases (JSON).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
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
from tgi_infra.capacity.performance import (
    FITTED,
    Calibration,
    Performance,
    Replica,
    Workload,
    predict,
    saturated,
)
from tgi_infra.capacity.planning import kv_plan, replica

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "perf" / "benchmarks.yaml"
METRICS = ("output_tokens_per_s", "tpot_ms")
GRID: dict[str, tuple[float, ...]] = {
    "bandwidth_efficiency": tuple(round(0.50 + 0.05 * i, 2) for i in range(11)),  # 0.50-1.00
    "compute_efficiency": tuple(round(0.20 + 0.10 * i, 1) for i in range(8)),  # 0.20-0.90
    "step_overhead_s": tuple(round(0.001 * i, 3) for i in range(11)),  # 0-10 ms
    "allreduce_latency_s": (5e-6, 10e-6, 15e-6, 20e-6, 30e-6, 40e-6, 60e-6),
}
CONTENTION_GRID = tuple(round(0.01 * i, 2) for i in range(61))  # 0-0.60


@dataclass(frozen=True)
class Case:
    id: str
    split: str
    raw: dict[str, Any]

    @property
    def burst(self) -> bool:
        """All requests sent at once, ShareGPT lengths: not the steady state the model predicts."""
        return self.raw.get("workload") == "burst"

    def measured(self, metric: str) -> float | None:
        value = self.raw.get(metric)
        return float(value) if value is not None else None


def load_cases(path: Path = FIXTURE) -> list[Case]:
    doc = yaml.safe_load(path.read_text())
    return [Case(c["id"], c["split"], c) for c in doc["cases"]]


def predict_case(case: Case, calibration: Calibration = FITTED) -> Performance:
    raw = case.raw
    facts, card, rep = _setup(_setup_key(raw))
    isl, osl = int(raw["isl"]), int(raw["osl"])
    if raw.get("request_rate"):
        return open_loop(facts, card, rep, isl, osl, float(raw["request_rate"]), calibration)
    p = predict(facts, card, rep, Workload(isl, osl, int(raw["concurrency"])), calibration)
    if case.burst and raw.get("max_output_tokens") and p.running_requests >= raw["concurrency"]:
        return one_wave(p, int(raw["concurrency"]), int(raw["max_output_tokens"]))
    return p


def one_wave(p: Performance, n: int, osl_max: int) -> Performance:
    """A burst of ``n`` requests that all fit the batch at once (one wave): every prompt
    prefills, then the run lasts until the longest answer (``osl_max`` tokens, the client's
    cap) is done, at the full batch's step (an upper bound: the batch shrinks). Output
    tokens/s = generated tokens / that time; TPOT = one step (no prefill interleaves)."""
    seconds = (n * p.prefill_ms + osl_max * p.step_ms) / 1e3
    return dataclasses.replace(
        p, output_tokens_per_s=n * p.osl / seconds, requests_per_s=n / seconds, tpot_ms=p.step_ms
    )


SETUP_FIELDS = ("model", "gpu", "engine", "tensor_parallel", "flags", "max_running_requests")


def _setup_key(raw: dict[str, Any]) -> str:
    return json.dumps({k: raw.get(k) for k in SETUP_FIELDS}, sort_keys=True)


@functools.cache
def _setup(key: str) -> tuple[Any, Any, Replica]:
    """Model facts, GPU and replica of a case: the memory model's answer, which no fitted
    constant moves (cached: the fit asks for it once per grid point)."""
    raw = json.loads(key)
    facts = catalog_facts(raw["model"])
    if facts is None:
        raise SystemExit(f"model {raw['model']} is not in the shipped catalog")
    card = gpu(raw["gpu"])
    tp = int(raw.get("tensor_parallel") or 1)
    kv = kv_plan(raw["engine"], facts, card, tensor_parallel=tp, engine_flags=raw.get("flags"))
    rep = replica(
        raw["engine"], kv, tensor_parallel=tp, max_running_requests=raw.get("max_running_requests")
    )
    return facts, card, rep


def open_loop(facts, card, rep, isl: int, osl: int, rate: float, calibration: Calibration):
    """An open loop at ``rate`` requests/s, as the closed loop that serves that rate: the least
    concurrency whose predicted requests/s reaches it (Little's law: running = rate x latency).
    Past saturation, the saturated closed loop."""
    top = saturated(facts, card, rep, isl, osl, calibration)
    lo, hi = 1, max(1, top.running_requests)
    while lo < hi:
        mid = (lo + hi) // 2
        if predict(facts, card, rep, Workload(isl, osl, mid), calibration).requests_per_s < rate:
            lo = mid + 1
        else:
            hi = mid
    return predict(facts, card, rep, Workload(isl, osl, lo), calibration)


def errors(cases: Iterable[Case], calibration: Calibration = FITTED) -> list[dict]:
    rows = []
    for case in cases:
        p = predict_case(case, calibration)
        row: dict[str, Any] = {
            "id": case.id,
            "split": case.split,
            "engine": case.raw["engine"],
            "workload": "burst" if case.burst else "closed-loop",
            "bound": p.bound,
        }
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
    tuned = [c for c in cases if c.split == "tuned" and not c.burst]
    best: tuple[float, Calibration] | None = None
    for point in itertools.product(*GRID.values()):
        cal = Calibration(**dict(zip(GRID, point, strict=True)))
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


def _stats(errs: list[float]) -> dict[str, float | int]:
    return {
        "cases": len(errs),
        "median_abs_error": round(statistics.median(errs), 4),
        "max_abs_error": round(max(errs), 4),
    }


def summary(rows: list[dict]) -> dict[str, dict[str, float | int]]:
    """``tuned/<metric>`` and ``held-out/<metric>`` over closed-loop cases (the accuracy and
    the error band), ``held-out/<engine>/<metric>`` per engine, ``held-out-burst/<metric>``
    over burst cases."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        if row.get("workload") == "burst":
            groups.setdefault(f"{row['split']}-burst", []).append(row)
            continue
        groups.setdefault(row["split"], []).append(row)
        if row["split"] == "held-out":
            groups.setdefault(f"held-out/{row.get('engine', '?')}", []).append(row)
    out: dict[str, dict[str, float | int]] = {}
    for name in sorted(groups, key=lambda g: (g.count("/"), g)):
        for metric in (*METRICS, "ttft_ms"):
            errs = [abs(r[metric]["error"]) for r in groups[name] if metric in r]
            if errs:
                out[f"{name}/{metric}"] = _stats(errs)
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
