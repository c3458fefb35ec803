"""The cached core-object validator answers as `kubernetes_validate.validate` does."""

from __future__ import annotations

import copy
from typing import Any

import kubernetes_validate
import pytest

from tests.support import offline_plan
from tgi_infra.validation.schemas import (
    KUBERNETES_VERSION,
    is_custom_resource,
    validate_core_object,
    validate_custom_resource,
)


def _library(obj: dict[str, Any]) -> list[str]:
    """What the library itself says (one schema load and validator per call)."""
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as err:
        where = ".".join(str(p) for p in err.path) or "<root>"
        return [f"{obj['kind']}/{obj['metadata'].get('name')}: {where}: {err.message}"]
    return []


def _broken(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each kind once with an unknown top-level field, a wrong type and a bad nested field."""
    out, seen = [], set()
    for obj in objects:
        if obj["kind"] in seen or is_custom_resource(obj):
            continue
        seen.add(obj["kind"])
        unknown = {**copy.deepcopy(obj), "bogus": 1}
        wrong = copy.deepcopy(obj)
        wrong["metadata"]["labels"] = "not-a-map"
        nested = copy.deepcopy(obj)
        nested["metadata"]["annotations"] = {"a": 5}
        out += [unknown, wrong, nested]
    return out


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    return offline_plan("prod").kubernetes_objects()


def test_core_validator_matches_the_library(objects: list[dict[str, Any]]) -> None:
    core = [o for o in objects if not is_custom_resource(o)]
    broken = _broken(core)
    assert len(broken) >= 15
    for obj in core + broken:
        assert validate_core_object(obj) == _library(obj), obj["kind"]
    assert all(validate_core_object(o) for o in broken)


def test_unknown_core_kind_is_reported() -> None:
    obj = {"apiVersion": "v1", "kind": "NoSuchKind", "metadata": {"name": "x"}}
    assert validate_core_object(obj)[0].startswith("NoSuchKind: no schema")


def test_cached_crd_validator_still_rejects_unknown_fields(objects: list[dict[str, Any]]) -> None:
    custom = [o for o in objects if is_custom_resource(o)]
    assert custom
    for obj in custom:
        assert validate_custom_resource(obj) == []
        bad = copy.deepcopy(obj)
        bad["spec"] = {**(bad.get("spec") or {}), "bogusField": 1}
        assert any("bogusField" in e for e in validate_custom_resource(bad)), obj["kind"]
