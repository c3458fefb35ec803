"""Stack text that reaches templates and queries: refused when it would be interpreted.

Stack strings end up in alert annotations (Prometheus parses them as Go templates, so
`{{ .x` breaks `promtool check rules`), in Grafana dashboards (`${var}` and `[[var]]` are
interpolated), in PromQL label values and regexes (a quote or backslash ends or escapes
the value), in YAML, JSON and environment variables (control characters). Every string
field of the config is checked, so a field added later is covered too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tgi_infra.config.models import PlatformConfig
from tgi_infra.problems import Problem

FORBIDDEN: tuple[tuple[str, str], ...] = (
    ("{{", "Prometheus parses alert annotations as Go templates"),
    ("}}", "Prometheus parses alert annotations as Go templates"),
    ("${", "Grafana interpolates ${...} in dashboards"),
    ("[[", "Grafana interpolates [[...]] in dashboards"),
    ('"', "it ends a PromQL label value or a JSON string"),
    ("\\", "it escapes the next character in PromQL, regexes and JSON"),
    ("`", "it delimits raw strings in Go templates and PromQL"),
)


def walk_strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string in a dumped config (keys and values), with its stack path."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            sub = f"{path}.{key}" if path else str(key)
            yield sub, str(key)
            yield from walk_strings(item, sub)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            label = item.get("name") if isinstance(item, dict) else None
            yield from walk_strings(item, f"{path}[{label if isinstance(label, str) else i}]")


def _has_control(text: str) -> bool:
    return any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 or c in "\u2028\u2029" for c in text)


def check_texts(cfg: PlatformConfig) -> list[Problem]:
    """Control characters and template or query syntax in any string of the stack."""
    problems: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for path, text in walk_strings(cfg.model_dump(by_alias=True, mode="json")):
        if _has_control(text) and (path, "control") not in seen:
            seen.add((path, "control"))
            problems.append(
                Problem(
                    path[:200],
                    f"{text[:60]!r} holds a control character (newline, tab, NUL...); it would "
                    "split log lines, headers and generated YAML.",
                    "remove it.",
                    "text-control-character",
                )
            )
        for token, why in FORBIDDEN:
            if token in text and (path, token) not in seen:
                seen.add((path, token))
                problems.append(
                    Problem(
                        path[:200],
                        f"{text[:60]!r} contains {token!r}: {why}, and this text reaches them.",
                        f"remove {token!r} from the value.",
                        "text-template-syntax",
                    )
                )
                break
    return problems
