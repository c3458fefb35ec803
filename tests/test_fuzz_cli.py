"""benchmarks/fuzz_cli.py end to end on a few stacks: generator, CLI runs and classifier."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import fuzz_cli

from tests.support import ROOT


def test_generator_is_seeded_and_mutates() -> None:
    a, b = fuzz_cli.generate(12, seed=3), fuzz_cli.generate(12, seed=3)
    assert [(c.mutations, c.data) for c in a] == [(c.mutations, c.data) for c in b]
    assert all(c.mutations for c in a)
    assert len({c.data for c in a}) == 12


def test_classifier() -> None:
    assert fuzz_cli.classify(None, "") == "hang"
    assert fuzz_cli.classify(3, "internal error: KeyError") == "exit3"
    assert fuzz_cli.classify(1, "Traceback (most recent call last)") == "crash"
    assert fuzz_cli.classify(1, "1 error(s):\n  ✗ tiers (missing-key): required key") == "refused"
    assert fuzz_cli.classify(1, "") == "silent"
    assert fuzz_cli.classify(0, "✓ stack prod is sound") == "accepted"
    assert fuzz_cli.classify(-9, "") == "other"


def test_a_few_hostile_stacks_are_refused_cleanly(tmp_path: Path) -> None:
    assert sum(bool(c.secrets) for c in fuzz_cli.generate(8, seed=7)) >= 2  # leak check bites
    results, _ = fuzz_cli.fuzz(8, seed=7, workdir=tmp_path, jobs=2)
    assert not tmp_path.is_relative_to(ROOT)
    bad = [(r.name, r.outcome, r.mutations, r.tail) for r in results if r.outcome in fuzz_cli.BAD]
    assert not bad
    assert not [r.name for r in results if r.leak]
    assert sum(r.outcome == "refused" for r in results) >= 5
