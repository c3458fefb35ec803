"""tiers[].slo: checked at replicas.max against the performance model, with its error band."""

from __future__ import annotations

import math

import pytest

from benchmarks import perf_accuracy
from tests.support import small_raw
from tgi_infra.capacity.performance import ERROR_BAND
from tgi_infra.checks import validate_platform
from tgi_infra.checks.slo import check_slo, slo_capacity
from tgi_infra.config.loader import parse_platform
from tgi_infra.problems import ConfigInvalid


def stack(slo: dict, replicas: int = 2, **tier):
    raw = small_raw()
    raw["tiers"][0].update({"slo": slo, "replicas": {"min": 1, "max": replicas}, **tier})
    cfg = parse_platform(raw)
    return cfg, validate_platform(cfg)


SLO = {"isl": 1024, "osl": 256, "ttftMs": 2000, "tpotMs": 50}


def per_replica_rps() -> float:
    cfg, report = stack({**SLO, "peakRps": 1})
    best = slo_capacity(report.tiers["chat"], cfg.tiers[0].slo)
    assert best is not None
    return best.requests_per_s


def slo_checks(report) -> list:
    return [p for p in report.problems if p.check.startswith("slo-")]


def test_slo_that_holds_with_margin_is_silent() -> None:
    rps = per_replica_rps()
    _, report = stack({**SLO, "peakRps": round(rps * 2 * 0.5, 2)})
    assert slo_checks(report) == []


def test_slo_beyond_replicas_max_is_an_error_naming_the_replicas_needed() -> None:
    rps = per_replica_rps()
    _, report = stack({**SLO, "peakRps": math.floor(rps * 5 * 100) / 100})  # <= 5 replicas' worth
    (problem,) = slo_checks(report)
    assert problem.check == "slo-holds" and problem.severity == "error"
    assert problem.path == "tiers[chat].slo"
    assert "replicas.max 2" in problem.message and "below peakRps" in problem.message
    assert "replicas.max to at least 5" in problem.fix
    assert not report.ok


def test_slo_inside_the_error_band_is_a_warning_naming_the_band() -> None:
    rps = per_replica_rps()
    _, report = stack({**SLO, "peakRps": round(rps * 2 * 0.97, 3)})
    (problem,) = slo_checks(report)
    assert problem.check == "slo-margin" and problem.severity == "warning"
    assert "inside the model's error band" in problem.message
    assert f"±{ERROR_BAND['tpot_ms']:.0%} TPOT" in problem.message
    assert report.ok


def test_latency_no_replica_can_meet_is_an_error() -> None:
    _, report = stack({**SLO, "tpotMs": 1, "peakRps": 0.1})
    (problem,) = slo_checks(report)
    assert problem.check == "slo-feasible" and "even a single request" in problem.message


def test_slo_longer_than_the_tier_accepts_is_an_error() -> None:
    _, report = stack({**SLO, "isl": 8000, "osl": 1000, "peakRps": 1})
    (problem,) = slo_checks(report)
    assert problem.check == "slo-fits-tier" and "maxTotalTokens 8192" in problem.message


def test_more_replicas_make_an_error_go_away() -> None:
    rps = per_replica_rps()
    peak = round(rps * 3, 2)
    assert slo_checks(stack({**SLO, "peakRps": peak})[1])
    assert not slo_checks(stack({**SLO, "peakRps": peak}, replicas=8)[1])


def test_check_slo_skips_tiers_without_plan_or_slo() -> None:
    cfg, _ = stack({**SLO, "peakRps": 1})
    assert check_slo(cfg, {}) == []


@pytest.mark.parametrize(
    ("slo", "text"),
    [
        ({"isl": 10, "osl": 5}, "peakRps"),
        ({**SLO, "peakRps": 0}, "peakRps"),
        ({**SLO, "peakRps": 1, "tpot": 3}, "tpot"),
    ],
)
def test_bad_slo_is_a_config_problem(slo: dict, text: str) -> None:
    with pytest.raises(ConfigInvalid) as exc:
        stack(slo)
    assert any(text in p.path or text in p.message for p in exc.value.problems)


def test_error_band_covers_every_held_out_error() -> None:
    rows = perf_accuracy.errors(perf_accuracy.load_cases())
    summary = perf_accuracy.summary(rows)
    for metric, band in ERROR_BAND.items():
        assert summary[f"held-out/{metric}"]["max_abs_error"] <= band
