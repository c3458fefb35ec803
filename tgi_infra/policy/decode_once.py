"""Decode each resource's properties once per request in the pack, not once per policy.

pulumi_policy's analyzer (`pulumi_policy/policy.py`, `Analyze` and `AnalyzeStack`) runs
`unknown_checking_proxy(deserialize_properties(json_format.MessageToDict(properties)))`
on the same properties message for every policy: 17 times per resource in `Analyze`, and
over the whole plan once per stack policy in `AnalyzeStack`. That was most of the pack's
time (py-spy, 100 tiers: MessageToDict, deserialize and proxy 1,840 of 2,826 samples).
Within one request the messages do not change, so each of the three steps is done once
per message and reused for the rest of that request. The policies then share one
read-only proxy tree per resource: the pack's rules only read (a test runs every rule
through the shared proxies and checks nothing changed). `Remediate`, whose policies may
rewrite the properties, deserializes with `proxy_secrets` and is not shared. Outside a
request, and for calls with options, each step is the library's own.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from google.protobuf import json_format

_local = threading.local()
_decode = json_format.MessageToDict
_library: dict[str, Callable[..., Any]] = {}
"""pulumi_policy.policy's own deserialize_properties and unknown_checking_proxy."""
SCOPED = ("Analyze", "AnalyzeStack", "Remediate")
"""The analyzer's RPCs that decode resource properties."""


def message_to_dict(message: Any, *args: Any, **kwargs: Any) -> Any:
    """`json_format.MessageToDict`, answered from the current request's memo when it has one."""
    memo: dict[tuple[str, int], tuple[Any, Any]] | None = getattr(_local, "memo", None)
    if memo is None or args or kwargs:
        return _decode(message, *args, **kwargs)
    return _once(memo, "decoded", message, _decode)


def _once(
    memo: dict[tuple[str, int], tuple[Any, Any]], step: str, value: Any, run: Callable[[Any], Any]
) -> Any:
    """`run(value)`, once per request. The memo holds `value` and the result, so their ids
    stay unique; the result is also recorded as `step`'s output, for the next step."""
    hit = memo.get((step, id(value)))
    if hit is None or hit[0] is not value:
        result = run(value)
        hit = memo[(step, id(value))] = (value, result)
        memo[(f"{step} output", id(result))] = (result, result)
    return hit[1]


def _shared(step: str, source: str) -> Callable[..., Any]:
    """The library's `step`, memoized for values that `source` produced in this request."""

    def call(value: Any, *args: Any, **kwargs: Any) -> Any:
        run = _library[step]
        memo = getattr(_local, "memo", None)
        made = memo.get((f"{source} output", id(value))) if memo is not None else None
        if memo is None or args or kwargs or made is None or made[0] is not value:
            return run(value, *args, **kwargs)
        return _once(memo, step, value, run)

    return call


deserialize_properties = _shared("deserialize_properties", "decoded")
unknown_checking_proxy = _shared("unknown_checking_proxy", "deserialize_properties")


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
    _library["deserialize_properties"] = sdk.deserialize_properties
    _library["unknown_checking_proxy"] = sdk.unknown_checking_proxy
    sdk.json_format = _JsonFormat()  # type: ignore[assignment]
    sdk.deserialize_properties = deserialize_properties  # type: ignore[assignment]
    sdk.unknown_checking_proxy = unknown_checking_proxy  # type: ignore[assignment]
    for name in SCOPED:
        setattr(servicer, name, scoped(getattr(servicer, name)))
    servicer._tgi_decode_once = True
