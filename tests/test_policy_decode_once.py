"""The pack decodes a resource's properties once per request (tgi_infra.policy.decode_once)."""

from __future__ import annotations

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
