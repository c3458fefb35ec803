"""observability.prometheusUrl and otlpEndpoint must be URLs the charts and engines can use.

Both were accepted as any string (the stack fuzzer's `'ÿÿÿ'` planned): prometheus-adapter
then gets no host (`urlparse` gives hostname None) and the engines a trace exporter that
cannot connect.
"""

from __future__ import annotations

import pytest

from tests.support import small_raw
from tgi_infra.config.loader import parse_platform
from tgi_infra.problems import ConfigInvalid


def _problems(**observability: object) -> list[str]:
    try:
        parse_platform(small_raw(observability=observability))
    except ConfigInvalid as exc:
        return [f"{p.path}: {p.message} fix: {p.fix}" for p in exc.problems]
    return []


@pytest.mark.parametrize(
    "value",
    ["ÿÿÿ", "", "prometheus:9090", "ftp://prom:9090", "http://", "http://prom :9090", "http://-x"],
)
def test_bad_prometheus_url_is_refused(value: str) -> None:
    (problem,) = _problems(prometheusUrl=value)
    assert problem.startswith("observability.prometheusUrl")
    assert repr(value) in problem and "https?://" in problem


@pytest.mark.parametrize("value", ["ÿÿÿ", "", "grpc://otel:4317", "otel:43x7", "a b:4317"])
def test_bad_otlp_endpoint_is_refused(value: str) -> None:
    (problem,) = _problems(otlpEndpoint=value)
    assert problem.startswith("observability.otlpEndpoint")
    assert repr(value) in problem


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("prometheusUrl", "http://kube-prometheus-stack-prometheus.monitoring.svc:9090"),
        ("prometheusUrl", "https://prom.example.com/select/0/prometheus"),
        ("prometheusUrl", "http://10.0.0.7:9090"),
        ("otlpEndpoint", "http://otel-collector.observability.svc:4317"),
        ("otlpEndpoint", "otel-collector:4317"),
        ("otlpEndpoint", "https://otel.example.com"),
    ],
)
def test_usual_endpoints_are_accepted(field: str, value: str) -> None:
    assert _problems(**{field: value}) == []


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("otlpEndpoint", "a" * 66, ["1 to 63 characters"]),  # the fuzzer's seed-6 case
        ("otlpEndpoint", "http://otel.monitoring.svc:99999", ["port 99999", "1-65535"]),
        ("otlpEndpoint", "otel:0", ["port 0"]),
        ("otlpEndpoint", "x..y:4317", ["not a DNS name"]),
        ("prometheusUrl", "http://" + "a." * 130 + "com:9090", ["at most 253"]),
        ("prometheusUrl", "http://prom:65536/api", ["port 65536"]),
    ],
)
def test_hosts_are_dns_names_and_ports_in_range(field: str, value: str, words: list[str]) -> None:
    (problem,) = _problems(**{field: value})
    assert problem.startswith(f"observability.{field}") and "Value error" not in problem
    assert all(word in problem for word in words), problem
