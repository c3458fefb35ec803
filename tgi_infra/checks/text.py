"""Stack text: refused only where no sink can carry it; everything else is escaped.

Where the free-text fields go, and how each sink carries them (`tgi_infra.escape` holds the
escapes; YAML, JSON and shell have their serializers):

| field                     | sinks                                        | carried by         |
|---------------------------|----------------------------------------------|--------------------|
| observability.runbookUrl  | alert annotations (Go text/template)         | `go_template_text` |
| tiers[].modelId           | alert annotations; env MODEL_ID; engine and  | `go_template_text`;|
|                           | bench arguments; OTEL_RESOURCE_ATTRIBUTES;   | argv / env as is;  |
|                           | the gateway's model header (no servedName)   | percent-encoding   |
| tiers[].servedModelName   | gateway header matches (HTTP header values); | as is (Exact)      |
|                           | engine and bench arguments                   |                    |
| tiers[].revision          | env REVISION; engine arguments               | as is              |
| cluster.namespace,        | PromQL label values and RE2 regexes, alert   | `promql_string`,   |
| tiers[].name, tenants[]   | labels, dashboards, gateway regexes          | `re2_literal`      |

Names (the last row) are DNS labels, checked by their own syntax, so no stack text can bring
Grafana's `${var}`, `[[var]]` or `$var` into a dashboard: the dashboard carries no free text
(tests/test_stack_text.py renders one from a stack whose free text is all template syntax).

What no escape carries is refused, in every string of the config (a field added later is
covered too): NUL, which HTTP headers, environment variables and C strings cannot hold; the
other control characters, because every field is single-line (a header value, an
environment variable, an argument, a label, one line of a problem or an alert). Text that
is not UTF-8 (lone surrogates) never gets here: the schema refuses it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from tgi_infra.config.models import PlatformConfig
from tgi_infra.problems import Problem

FIELD_SINKS: dict[str, str] = {
    "observability.runbookUrl": "alert annotations (one line per link)",
    "tiers[].modelId": "the MODEL_ID environment variable, engine arguments, the "
    "OTEL_RESOURCE_ATTRIBUTES variable, the gateway's model header and alert annotations",
    "tiers[].servedModelName": "the gateway's x-ai-eg-model header matches (HTTP header "
    "values end at CR/LF and cannot hold NUL) and engine arguments",
    "tiers[].revision": "the REVISION environment variable and engine arguments",
    "tiers[].engineArgs": "the engine's command line or environment",
}
"""Where a field's text goes, for the refusal's message (other fields: their labels,
names, arguments or environment variables)."""

MAX_SHOWN = 60


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


def sinks_of(path: str) -> str:
    """What the field at a stack path reaches, in words."""
    generic = re.sub(r"\[[^\]]*\]", "[]", path)
    for field, sinks in FIELD_SINKS.items():
        if generic == field or generic.startswith(f"{field}."):
            return sinks
    return "labels, names, arguments or environment variables, each a single line"


def _is_control(char: str) -> bool:
    code = ord(char)
    return code < 0x20 or 0x7F <= code < 0xA0 or char in "\u2028\u2029"


def uncarried(text: str) -> str | None:
    """Why no sink can carry `text`; None when every sink can."""
    if "\0" in text:
        return "holds a NUL character, which no sink carries"
    control = next((c for c in text if _is_control(c)), None)
    if control is None:
        return None
    return (
        f"holds the control character U+{ord(control):04X} (newline, tab...), which splits "
        "single-line values"
    )


def check_texts(cfg: PlatformConfig) -> list[Problem]:
    """Characters that no sink of the stack's text can carry, per string."""
    problems: list[Problem] = []
    seen: set[str] = set()
    for path, text in walk_strings(cfg.model_dump(by_alias=True, mode="json")):
        what = uncarried(text)
        if what is None or path in seen:
            continue
        seen.add(path)
        problems.append(
            Problem(
                path[:200],
                f"{text[:MAX_SHOWN]!r} {what}; this field reaches {sinks_of(path)}.",
                "remove the character (quotes, backslashes and template syntax are fine: "
                "they are escaped where they land).",
                "text-control-character",
            )
        )
    return problems
