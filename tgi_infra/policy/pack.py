"""The CrossGuard pack: `build_policies(settings)` wraps the catalog's pure rules.

Per-environment enforcement, in the engine's order of precedence (last wins):

1. each policy's default level for the stack's environment (`catalog.PolicySpec.levels`),
   the environment read from the stack config the engine hands the pack (`PULUMI_CONFIG`,
   key `tgi-infra:platform` → `environment`), else `TGI_INFRA_ENVIRONMENT`, else the stack
   name, else prod's (strictest) levels;
2. the pack config file (`pulumi preview --policy-pack-config policy/config/<stack>.json`),
   which the engine sends through `Configure`: `"all"` or a policy name, with an
   `enforcementLevel` and the policy's properties (caps, allow lists).

Only `serve()` builds a `PolicyPack`: that starts the gRPC server and never returns.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from tgi_infra.policy.catalog import ENVIRONMENTS, POLICIES, PolicySpec, rule_for
from tgi_infra.policy.k8s import PlanObject

PACK_NAME = "tgi-infra-llm-serving"
PLATFORM_CONFIG_KEY = "tgi-infra:platform"
CONFIG_FILE_ENV = "TGI_INFRA_PULUMI_CONFIG_FILE"
"""The harness hands stack config in this file (PULUMI_CONFIG's JSON), not in the env."""
DOCS_URL = "policy/README.md"


@dataclass(frozen=True)
class PackSettings:
    """What the pack knows before any resource arrives: the stack's environment."""

    environment: str = "prod"
    source: str = "default"


def environment_from_config(config: Mapping[str, Any]) -> str | None:
    """`environment` of `tgi-infra:platform` (a JSON string or a mapping) in stack config."""
    raw = config.get(PLATFORM_CONFIG_KEY)
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return None
    env = raw.get("environment") if isinstance(raw, Mapping) else None
    return env if env in ENVIRONMENTS else None


def settings_from_env(environ: Mapping[str, str] | None = None) -> PackSettings:
    """Settings from the variables the engine sets for a policy pack process."""
    environ = os.environ if environ is None else environ
    try:
        text = environ.get("PULUMI_CONFIG") or ""
        if not text and environ.get(CONFIG_FILE_ENV):
            text = Path(environ[CONFIG_FILE_ENV]).read_text(encoding="utf-8")
        config = json.loads(text or "{}")
    except (OSError, ValueError):
        config = {}
    env = environment_from_config(config if isinstance(config, Mapping) else {})
    if env:
        return PackSettings(env, "stack config")
    explicit = environ.get("TGI_INFRA_ENVIRONMENT", "")
    if explicit in ENVIRONMENTS:
        return PackSettings(explicit, "TGI_INFRA_ENVIRONMENT")
    stack = environ.get("PULUMI_STACK", "").rsplit("/", 1)[-1]
    if stack in ENVIRONMENTS:
        return PackSettings(stack, "stack name")
    return PackSettings()


def _schema(spec: PolicySpec) -> PolicyConfigSchema | None:
    return PolicyConfigSchema(dict(spec.config_schema)) if spec.config_schema else None


def _config(spec: PolicySpec, given: Mapping[str, Any] | None) -> dict[str, Any]:
    return {**spec.defaults(), **(given or {})}


def _policy_fields(spec: PolicySpec, level: EnforcementLevel) -> dict[str, Any]:
    """What every policy of the pack declares besides its validate function."""
    return {
        "name": spec.name,
        "description": spec.description,
        "enforcement_level": level,
        "config_schema": _schema(spec),
        "severity": Severity(spec.severity),
        "remediation_steps": spec.rationale,
        "url": f"{DOCS_URL}#{spec.name}",
    }


def _resource_policy(spec: PolicySpec, level: EnforcementLevel) -> Policy:
    rule = rule_for(spec)

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in rule(args.resource_type, args.props, _config(spec, args.get_config())):
            report_violation(message, None)

    return ResourceValidationPolicy(validate=validate, **_policy_fields(spec, level))


def _stack_policy(spec: PolicySpec, level: EnforcementLevel) -> Policy:
    rule = rule_for(spec)

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        objs = [PlanObject(r.urn, r.resource_type, r.name, r.props) for r in args.resources]
        for message, urn in rule(objs, _config(spec, args.get_config())):
            report_violation(message, urn)

    return StackValidationPolicy(validate=validate, **_policy_fields(spec, level))


def build_policies(settings: PackSettings) -> list[Policy]:
    """Every policy of the pack with its default enforcement for `settings.environment`."""
    out: list[Policy] = []
    for spec in POLICIES:
        level = EnforcementLevel(spec.level(settings.environment))
        build = _resource_policy if spec.scope == "resource" else _stack_policy
        out.append(build(spec, level))
    return out


def serve(environ: Mapping[str, str] | None = None) -> None:
    """Start the analyzer (prints its port on stdout, then blocks): `policy/__main__.py`."""
    from tgi_infra.policy import decode_once

    decode_once.install()  # one decode of a resource per request, not one per policy
    settings = settings_from_env(environ)
    PolicyPack(
        name=PACK_NAME,
        policies=build_policies(settings),
        enforcement_level=EnforcementLevel.MANDATORY,
        description=f"LLM serving on Kubernetes with TGI ({settings.environment} defaults, "
        f"from {settings.source}).",
        display_name="tgi-infra: LLM serving",
        provider="kubernetes",
        tags=["kubernetes", "llm", "tgi", "gateway"],
    )
