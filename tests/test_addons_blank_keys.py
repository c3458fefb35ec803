"""addons.<x>.values with an empty or blank key is refused (the stack fuzzer's `{'': ''}`
was accepted and planned)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.support import raw_stack
from tgi_infra.checks.addons import check_addons
from tgi_infra.config.loader import parse_platform


def _problems(values: dict[str, Any]) -> list[str]:
    raw = copy.deepcopy(raw_stack("prod")["tgi-infra:platform"])
    raw["addons"]["envoyGateway"] = {"mode": "install", "values": values}
    return [
        f"{p.path}: {p.message} {p.fix}"
        for p in check_addons(parse_platform(raw))
        if ".values" in p.path and p.severity == "error"
    ]


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({"": ""}, "addons.envoyGateway.values:"),
        ({"deployment": {" ": 1}}, "addons.envoyGateway.values.deployment:"),
        ({"extraArgs": [{"ok": 1}, {"": 2}]}, "addons.envoyGateway.values.extraArgs[1]:"),
    ],
)
def test_blank_keys_are_refused_with_their_path(values: dict[str, Any], where: str) -> None:
    (problem,) = _problems(values)
    assert problem.startswith(where) and "remove the key" in problem


def test_ordinary_values_pass() -> None:
    assert _problems({"deployment": {"replicas": 2, "pod": {"labels": {"a": "b"}}}}) == []
