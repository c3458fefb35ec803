"""Malformed stacks of every kind: validation reports problems, it never crashes."""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import STACKS, raw_stack
from tgi_infra.checks import validate_platform
from tgi_infra.config.loader import parse_platform
from tgi_infra.problems import ConfigInvalid

ODD_VALUES: list[Any] = [
    None,
    0,
    -1,
    1,
    10**12,
    0.5,
    float("nan"),
    "",
    "x",
    "ÿ",
    [],
    {},
    [1],
    {"a": 1},
    True,
    "1Gi",
    "g6e.xlarge",
    "awq",
    "chat",
    "sha256:abc",
]
# Values of the right type: they pass the schema and reach the capacity and pool checks.
PLAUSIBLE_VALUES: list[Any] = [
    1,
    2,
    3,
    8,
    64,
    4096,
    8192,
    131072,
    200000,
    0.9,
    "l40s",
    "h100",
    "chat",
    "large",
    "g6.xlarge",
    "p5.48xlarge",
    "bitsandbytes",
    "fp8",
    "float16",
    "fp8_e5m2",
    "karpenter",
    "SPOT",
    "main",
]


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if prefix:
        yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from paths(value, (*prefix, index))


def mutate(raw: dict[str, Any], rng: random.Random, where: list[tuple[Any, ...]]) -> None:
    """Replace 1-3 values: either by odd ones, or by plausible ones of the same type."""
    odd = rng.random() < 0.5
    for _ in range(rng.randint(1, 3)):
        path = rng.choice(where)
        node: Any = raw
        try:
            for key in path[:-1]:
                node = node[key]
            current = node[path[-1]]
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation replaced a parent
        same_type = [v for v in PLAUSIBLE_VALUES if type(v) is type(current)]
        node[path[-1]] = rng.choice(ODD_VALUES if odd or not same_type else same_type)


@pytest.mark.parametrize("stack", STACKS)
def test_mutated_stacks_give_problems_not_exceptions(stack: str) -> None:
    base = raw_stack(stack)["tgi-infra:platform"]
    where = list(paths(base))
    rng = random.Random(stack)
    outcomes = {"invalid": 0, "problems": 0, "sound": 0}
    for _ in range(150):
        raw = copy.deepcopy(base)
        mutate(raw, rng, where)
        try:
            report = validate_platform(parse_platform(raw))
        except ConfigInvalid as exc:
            assert exc.problems and all(p.path and p.message for p in exc.problems)
            outcomes["invalid"] += 1
            continue
        outcomes["sound" if report.ok else "problems"] += 1
    assert outcomes["invalid"] > 30, outcomes
    # Enough mutations pass the schema to exercise the capacity, pool and gateway checks.
    assert outcomes["problems"] + outcomes["sound"] > 10, outcomes
