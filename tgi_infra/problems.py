"""Problems found in a stack: what the user sees instead of a traceback."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a stack: where, what, and how to fix it.

    ``check`` is a stable name (e.g. ``input-below-total``) that tests, docs and CI
    annotations refer to.
    """

    path: str
    message: str
    fix: str = ""
    check: str = "config"
    severity: Severity = "error"

    def __str__(self) -> str:
        text = f"{self.path}: {self.message}"
        if self.fix:
            text += f" Fix: {self.fix}"
        return text


def bounded_join(items: Iterable[str], sep: str = ", ", limit: int = 10) -> str:
    """`items` joined, the first `limit` of them and a count of the rest: a message about a
    200-tier pool stays a line."""
    items = list(items)
    shown = sep.join(items[:limit])
    return shown if len(items) <= limit else f"{shown}{sep}... {len(items) - limit} more"


def shorten(text: str, limit: int = 80) -> str:
    """`text` cut to `limit` characters (with "..."): a name an error quotes stays a line."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def errors(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]


def warnings(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "warning"]


class ConfigInvalid(Exception):
    """Raised with every problem of a stack that cannot be built.

    ``partial`` (a `PlatformConfig` or None) is what parsed once the failing entries were
    dropped, and ``dropped`` their paths: the semantic checks still run on it.
    """

    def __init__(
        self, problems: list[Problem], *, partial: Any = None, dropped: Iterable[str] = ()
    ):
        self.problems = problems
        self.partial = partial
        self.dropped = set(dropped)
        super().__init__("\n".join(str(p) for p in problems[:50]))
