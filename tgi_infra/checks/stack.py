"""Validate a whole stack file's config: the platform value, its secrets, all at once.

When the schema refuses part of the platform, the semantic checks still run on what
parsed (`ConfigInvalid.partial`), so one bad field does not hide the problems of others.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

from tgi_infra.checks import FactsResolver, StackReport, default_facts_resolver, validate_platform
from tgi_infra.checks.secrets import SECRET_KEYS, check_stack_secrets
from tgi_infra.config.loader import CONFIG_NAMESPACE, PLATFORM_KEY, platform_from_stack_config
from tgi_infra.config.models import REGION_PATTERN, PlatformConfig
from tgi_infra.problems import ConfigInvalid, Problem

_QUOTED = re.compile(r"'([^']*)'")
KNOWN_KEYS = (PLATFORM_KEY, *SECRET_KEYS)
"""The `tgi-infra:` config keys the program reads."""


def check_config_keys(config: Mapping[str, Any]) -> list[Problem]:
    """Keys in tgi-infra's namespace (or bare keys, which Pulumi puts there) that nothing
    reads: a typo such as `tgi-infra:hfTokn` leaves the value unused, and in Git."""
    problems = []
    for key in list(config)[:1000]:
        text = str(key)
        namespace = text.split(":", 1)[0] if ":" in text else CONFIG_NAMESPACE
        full = text if ":" in text else f"{CONFIG_NAMESPACE}:{text}"
        if namespace != CONFIG_NAMESPACE or full in KNOWN_KEYS:
            continue
        bare = [k.split(":", 1)[1] for k in KNOWN_KEYS]
        close = difflib.get_close_matches(full.split(":", 1)[1], bare, n=1, cutoff=0.6)
        problems.append(
            Problem(
                repr(text[:60]) if not text.isprintable() or len(text) > 60 else text,
                "unknown config key: tgi-infra reads only "
                f"{', '.join(f'`{k}`' for k in KNOWN_KEYS)}.",
                f"did you mean `{CONFIG_NAMESPACE}:{close[0]}`?" if close else "remove it.",
                "unknown-config-key",
            )
        )
    return problems


def check_provider_region(config: Mapping[str, Any], cfg: PlatformConfig | None) -> list[Problem]:
    """`aws:region` beside cluster.region: the platform makes its AWS resources through its
    own provider in cluster.region (components/cluster.py), so aws:region only configures
    Pulumi's default provider; a value that is no region name, or another region, misleads
    whoever reads the stack."""
    if "aws:region" not in config:
        return []
    value = config["aws:region"]
    if not isinstance(value, str) or not re.fullmatch(REGION_PATTERN, value):
        return [
            Problem(
                "aws:region",
                f"{ascii(value)[:60]} is not an AWS region name.",
                "set it to cluster.region (e.g. us-east-1), or remove it.",
                "provider-region",
            )
        ]
    if cfg is not None and value != cfg.cluster.region:
        return [
            Problem(
                "aws:region",
                f"{value} differs from cluster.region {cfg.cluster.region}: every AWS resource "
                f"is made in {cfg.cluster.region} through the platform's own provider; "
                "aws:region only configures Pulumi's default provider.",
                f"set aws:region to {cfg.cluster.region}, or remove it.",
                "provider-region",
                "warning",
            )
        ]
    return []


def validate_stack_config(
    config: Mapping[str, Any],
    source: str,
    facts_resolver: FactsResolver = default_facts_resolver,
) -> StackReport:
    """The report of a stack file's `config:`; ConfigInvalid (every problem) when the
    platform value does not parse."""
    try:
        cfg = platform_from_stack_config(dict(config), source)
    except ConfigInvalid as exc:
        problems = list(exc.problems)
        problems += check_config_keys(config) + check_stack_secrets(config, exc.partial)
        problems += check_provider_region(config, exc.partial)
        if exc.partial is not None:
            report = validate_platform(exc.partial, facts_resolver)
            problems += [p for p in report.problems if not _about_dropped(p, exc.dropped)]
        raise ConfigInvalid(problems) from None
    report = validate_platform(cfg, facts_resolver)
    report.problems += check_config_keys(config) + check_stack_secrets(config, cfg)
    report.problems += check_provider_region(config, cfg)
    return report


def _about_dropped(problem: Problem, dropped: set[str]) -> bool:
    """A problem caused by dropping an entry the schema refused (a tier that 'is not a
    tier' any more, an empty list)."""
    names = {d.rsplit("[", 1)[-1].rstrip("]") for d in dropped if d.endswith("]")}
    quoted = set(_QUOTED.findall(problem.message))
    return bool(names & quoted) or any(problem.path.startswith(d) for d in dropped)
