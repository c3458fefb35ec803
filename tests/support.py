"""Test support: the real stacks, small generated platforms, and schema assertions."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest

from tgi_infra.config.loader import load_stack, parse_platform, read_stack_file
from tgi_infra.config.models import PlatformConfig
from tgi_infra.offline.plan import OfflinePlan, run_offline
from tgi_infra.program import main
from tgi_infra.validation import (
    crd_directory,
    is_custom_resource,
    validate_core_object,
    validate_custom_resource,
)

ROOT = Path(__file__).resolve().parents[1]
STACKS = ("dev", "staging", "prod")

SMALL_PLATFORM: dict[str, Any] = {
    "environment": "dev",
    "cluster": {"name": "test", "region": "us-east-1"},
    "nodePools": [{"name": "l40s", "instanceTypes": ["g6e.xlarge"], "minSize": 1, "maxSize": 4}],
    "tiers": [
        {
            "name": "chat",
            "modelId": "meta-llama/Llama-3.1-8B-Instruct",
            "revision": "0e9e39f249a16976918f6564b8830bc894c89659",
            "nodePool": "l40s",
            "maxInputTokens": 4096,
            "maxTotalTokens": 8192,
            "replicas": {"min": 1, "max": 2},
        }
    ],
    "tenants": [
        {"name": "team-a", "tiers": ["chat"], "requestsPerMinute": 60, "tokensPerMinute": 50000}
    ],
}


def stack_path(name: str) -> Path:
    return ROOT / "stacks" / f"Pulumi.{name}.yaml"


def stack_config(name: str) -> PlatformConfig:
    return load_stack(stack_path(name))


def raw_stack(name: str) -> dict[str, Any]:
    return read_stack_file(stack_path(name))


def small_raw(**changes: Any) -> dict[str, Any]:
    """A deep copy of SMALL_PLATFORM with top-level keys replaced."""
    raw = copy.deepcopy(SMALL_PLATFORM)
    raw.update(copy.deepcopy(changes))
    return raw


def small_platform(**tier_changes: Any) -> PlatformConfig:
    raw = small_raw()
    raw["tiers"][0].update(tier_changes)
    return parse_platform(raw)


def assert_schema_valid(objs: list[dict[str, Any]]) -> None:
    """Core kinds pass kubernetes-validate --strict; custom resources pass their CRD."""
    failures: list[str] = []
    for obj in objs:
        if is_custom_resource(obj):
            if crd_directory() is None:
                pytest.skip("no ../shared/crds beside the checkout: CRD schemas unavailable")
            failures += validate_custom_resource(obj)
        else:
            failures += validate_core_object(obj)
    assert not failures, "\n".join(failures)


def offline_plan(stack: str, **platform_changes: Any) -> OfflinePlan:
    """The real program of `stack` under mocks; `platform_changes` replace top-level keys."""
    config = raw_stack(stack)
    if platform_changes:
        config = {
            **config,
            "tgi-infra:platform": {**config["tgi-infra:platform"], **platform_changes},
        }
    return run_offline(main, config, stack=stack)


def require_tool(name: str) -> str:
    """The path of an external tool; skip without it, except under CI where it must exist."""
    import shutil

    found = shutil.which(name) or next(
        (str(p) for p in (ROOT / ".tools").glob(f"*/bin/{name}") if p.exists()), None
    )
    if found:
        return found
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{name} is required under CI (.ci/run installs it)")
    how = {"promtool": "apt-get install prometheus", "checkov": "make tools"}.get(name, ".ci/run")
    pytest.skip(f"{name} not installed ({how})")


def kubelet_expand(text: str, env: dict[str, str]) -> str:
    """What a container receives for `text` in its command, args or env: kubelet's `$(VAR)`
    expansion (kubernetes third_party/forked/golang/expansion/expand.go, `Expand` and
    `tryReadVariableName`): `$$` -> `$`, `$(NAME)` -> env[NAME] (left as written when NAME is
    not defined), an unterminated `$(` and any other `$x` pass through."""
    out: list[str] = []
    checkpoint = cursor = 0
    while cursor < len(text):
        if text[cursor] == "$" and cursor + 1 < len(text):
            out.append(text[checkpoint:cursor])
            rest = text[cursor + 1 :]
            if rest[0] == "$":
                read, advance = "$", 1
            elif rest[0] == "(":
                close = rest.find(")", 1)
                if close == -1:
                    read, advance = "$(", 1
                else:
                    name = rest[1:close]
                    read, advance = env.get(name, f"$({name})"), close + 1
            else:
                read, advance = "$" + rest[0], 1
            out.append(read)
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    return "".join(out) + text[checkpoint:]
