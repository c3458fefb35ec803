"""`ModelFactsError`, the one exception every model-facts source raises."""

from __future__ import annotations


class ModelFactsError(Exception):
    """Model facts could not be read. ``str(exc)`` is one line: what failed and what to do.

    ``fallback_ok`` is False for errors a fallback must not hide (a revision that does not
    exist, a malformed config): TGI would fail on them too.
    """

    def __init__(
        self,
        message: str,
        *,
        model_id: str | None = None,
        revision: str | None = None,
        fallback_ok: bool = True,
    ):
        self.message = _one_line(message)
        self.model_id = model_id
        self.revision = revision
        self.fallback_ok = fallback_ok
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


def _one_line(text: str, limit: int = 600) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
