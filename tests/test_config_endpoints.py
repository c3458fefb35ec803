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
