"""The pack decodes a resource's properties once per request (tgi_infra.policy.decode_once)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from google.protobuf import json_format, struct_pb2

from tgi_infra.policy import decode_once


def _struct(value: dict) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(value)
    return s


def test_one_decode_per_message_within_a_request() -> None:
    a, b = _struct({"kind": "Deployment", "n": 1}), _struct({"kind": "Service"})
    calls: list[int] = []

    def handler(message: struct_pb2.Struct) -> list[dict]:
        first = decode_once.message_to_dict(message)
        again = decode_once.message_to_dict(message)
        other = decode_once.message_to_dict(b)
        calls.append(1)
        return [first, again, other]

    first, again, other = decode_once.scoped(handler)(a)
    assert first is again and first == json_format.MessageToDict(a)
    assert other == {"kind": "Service"} and other is not first
    # A new request decodes afresh (a memo never outlives its request).
    assert decode_once.scoped(handler)(a)[0] is not first
    assert calls == [1, 1]


def test_outside_a_request_and_with_options_it_is_the_library() -> None:
    a = _struct({"x": 1.0})
    assert decode_once.message_to_dict(a) is not decode_once.message_to_dict(a)
    got = decode_once.scoped(
        lambda: decode_once.message_to_dict(a, preserving_proto_field_name=True)
    )()
    assert got == json_format.MessageToDict(a, preserving_proto_field_name=True)


def test_install_wraps_the_analyzer_once() -> None:
    import pulumi_policy.policy as sdk

    decode_once.install()
    wrapped = sdk._PolicyAnalyzerServicer.Analyze
    decode_once.install()
    assert sdk._PolicyAnalyzerServicer.Analyze is wrapped
    assert sdk.json_format.MessageToDict is decode_once.message_to_dict
    assert sdk.json_format.Parse is json_format.Parse


def _as_plain(value: Any) -> Any:
    """A proxy tree (the SDK's read-only Mapping/Sequence views) as plain dicts and lists."""
    if isinstance(value, Mapping):
        return {k: _as_plain(value[k]) for k in value}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_as_plain(v) for v in value]
    return value


def test_deserialize_and_proxy_once_per_message_within_a_request() -> None:
    import pulumi_policy.policy as sdk

    decode_once.install()
    message = _struct({"kind": "Deployment", "spec": {"replicas": 2, "x": [1, {"y": "z"}]}})

    def pack_view() -> Any:  # what Analyze / AnalyzeStack do for each policy
        return sdk.unknown_checking_proxy(
            sdk.deserialize_properties(sdk.json_format.MessageToDict(message))
        )

    def twice() -> tuple[Any, Any, Any]:
        remediate = sdk.unknown_checking_proxy(
            sdk.deserialize_properties(sdk.json_format.MessageToDict(message), True)
        )
        return pack_view(), pack_view(), remediate

    first, again, remediate = decode_once.scoped(twice)()
    assert first is again
    assert _as_plain(first) == json_format.MessageToDict(message)
    assert remediate is not first  # Remediate's secret-preserving view is its own
    assert decode_once.scoped(twice)()[0] is not first  # a new request: a new view
    assert pack_view() is not pack_view()  # outside a request: the library's own


def test_the_pack_rules_leave_the_shared_views_unchanged() -> None:
    """Every policy reads one shared view per resource: no rule may write to it."""
    import pulumi_policy.policy as sdk

    from tests.test_policy import objects
    from tgi_infra.policy.catalog import POLICIES, rule_for
    from tgi_infra.policy.k8s import PlanObject, type_token

    decode_once.install()
    objs = objects()
    messages = [_struct(o) for o in objs]

    def run_every_policy() -> list[Any]:
        views = [
            sdk.unknown_checking_proxy(sdk.deserialize_properties(sdk.json_format.MessageToDict(m)))
            for m in messages
        ]
        for spec in POLICIES:
            rule = rule_for(spec)
            if spec.scope == "resource":
                for obj, view in zip(objs, views, strict=True):
                    list(rule(type_token(obj), view, spec.defaults()))
            else:
                plan = [
                    PlanObject(f"urn:{i}", type_token(o), "n", v)
                    for i, (o, v) in enumerate(zip(objs, views, strict=True))
                ]
                list(rule(plan, spec.defaults()))
        return [_as_plain(v) for v in views]

    after = decode_once.scoped(run_every_policy)()
    assert after == [json_format.MessageToDict(m) for m in messages]
