"""Decode each resource's properties once per request in the pack, not once per policy.

pulumi_policy's analyzer (`pulumi_policy/policy.py`, `Analyze` and `AnalyzeStack`) calls
`json_format.MessageToDict` on the same properties message for every policy: 17 decodes
of each resource per `Analyze`, and of the whole plan per stack policy in `AnalyzeStack`.
That decode was most of the pack's time (py-spy, 50 tiers: 738 of 2347 samples). Within
one request the messages do not change, so the first decode of a message is reused for
the rest of that request; `deserialize_properties` builds new containers from it, so no
policy sees another's objects. Outside a request (and for calls with options) the decode
is the library's own.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from google.protobuf import json_format

_local = threading.local()
_decode = json_format.MessageToDict
SCOPED = ("Analyze", "AnalyzeStack", "Remediate")
"""The analyzer's RPCs that decode resource properties."""


def message_to_dict(message: Any, *args: Any, **kwargs: Any) -> Any:
    """`json_format.MessageToDict`, answered from the current request's memo when it has one."""
    memo: dict[int, tuple[Any, Any]] | None = getattr(_local, "memo", None)
    if memo is None or args or kwargs:
        return _decode(message, *args, **kwargs)
    hit = memo.get(id(message))
    if hit is None or hit[0] is not message:  # the memo holds the message: ids stay unique
        hit = memo[id(message)] = (message, _decode(message))
    return hit[1]


class _JsonFormat:
    """`google.protobuf.json_format` with the memoizing MessageToDict."""

    MessageToDict = staticmethod(message_to_dict)

    def __getattr__(self, name: str) -> Any:
        return getattr(json_format, name)


def scoped(method: Callable[..., Any]) -> Callable[..., Any]:
    """Run an RPC handler with a fresh memo, dropped when it returns."""

    @functools.wraps(method)
    def run(*args: Any, **kwargs: Any) -> Any:
        outer = getattr(_local, "memo", None)
        _local.memo = {}
        try:
            return method(*args, **kwargs)
        finally:
            _local.memo = outer

    return run


def install() -> None:
    """Make the pack's analyzer decode once per request (idempotent)."""
    import pulumi_policy.policy as sdk

    servicer = sdk._PolicyAnalyzerServicer  # the analyzer the pack serves
    if getattr(servicer, "_tgi_decode_once", False):
        return
    sdk.json_format = _JsonFormat()  # type: ignore[assignment]
    for name in SCOPED:
        setattr(servicer, name, scoped(getattr(servicer, name)))
    servicer._tgi_decode_once = True
