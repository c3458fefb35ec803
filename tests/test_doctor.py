"""`tgi-infra doctor` against recorded API responses served from 127.0.0.1."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import stack_config
from tgi_infra.cli import main
from tgi_infra.doctor import crd_name, image_version, plural, requirements

FIXTURE = Path(__file__).parent / "fixtures" / "doctor" / "incomplete-cluster.json"
NOT_FOUND = {
    "kind": "Status",
    "apiVersion": "v1",
    "status": "Failure",
    "reason": "NotFound",
    "code": 404,
}


def recorded() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text())["responses"]


class FakeApiServer:
    """Answers GETs from a dict of path -> body; records every request's method."""

    def __init__(self, responses: dict[str, Any], refuse: int | None = None) -> None:
        """`refuse`: answer every GET with this status (401, 403) instead."""
        self.responses = responses
        self.methods: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.methods.append("GET")
                path = self.path.split("?")[0].rstrip("/")
                body = outer.responses.get(path)
                if refuse is not None:
                    body = None
                    self.send_response(refuse)
                else:
                    self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(json.dumps(body if body is not None else NOT_FOUND).encode())

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def kubeconfig(self, path: Path) -> Path:
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "rec", "cluster": {"server": self.url}}],
                    "users": [{"name": "rec", "user": {"token": "recorded"}}],
                    "contexts": [{"name": "rec", "context": {"cluster": "rec", "user": "rec"}}],
                    "current-context": "rec",
                }
            )
        )
        return path


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[FakeApiServer] = []

    def start(responses: dict[str, Any]) -> FakeApiServer:
        server = FakeApiServer(responses)
        server.thread.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.server.shutdown()
        server.server.server_close()


def doctor(capsys: pytest.CaptureFixture[str], kubeconfig: Path, *extra: str) -> tuple[int, str]:
    code = main(["doctor", "--kubeconfig", str(kubeconfig), *extra])
    return code, capsys.readouterr().out


def rows(out: str) -> dict[str, str]:
    """name -> present (yes/MISSING) from the printed table."""
    found = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) >= 6 and cells[4] in ("yes", "MISSING", "OLD"):
            found[cells[3]] = cells[4]
    return found


def test_names() -> None:
    assert plural("SecurityPolicy") == "securitypolicies"
    assert plural("GatewayClass") == "gatewayclasses"
    assert plural("Gateway") == "gateways"
    assert crd_name("karpenter.k8s.aws/v1", "EC2NodeClass") == "ec2nodeclasses.karpenter.k8s.aws"
    assert image_version("docker.io/envoyproxy/gateway:v1.8.3", "envoyproxy/gateway") == "v1.8.3"
    assert image_version("docker.io/envoyproxy/gateway-dev:v1", "envoyproxy/gateway") is None
    assert image_version("reg:5000/karpenter/controller", "karpenter/controller") == "untagged"
    assert (
        image_version(
            "public.ecr.aws/karpenter/controller:1.14.1@sha256:ab", "karpenter/controller"
        )
        == "1.14.1"
    )


def test_recorded_incomplete_cluster_against_prod(
    serve: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = serve(recorded())
    code, out = doctor(capsys, server.kubeconfig(tmp_path / "kc"), "--stack", "prod")
    assert code == 1
    found = rows(out)
    missing = {name for name, state in found.items() if state == "MISSING"}
    assert len(missing) == 7
    assert missing == {
        "aigatewayroutes.aigateway.envoyproxy.io",  # only v1alpha1 served; v1beta1 needed
        "aiservicebackends.aigateway.envoyproxy.io",
        "envoy-gateway-system/envoy-gateway-config",  # no rate-limit backend, no extension
        "envoyproxy/ai-gateway-controller",
        "v1beta1.custom.metrics.k8s.io",
        "prometheus-adapter/prometheus-adapter",
        "efs-sc",
    }
    # Envoy Gateway runs, but 1.8.3 lacks the SecurityPolicy field the gateway uses.
    assert found["envoyproxy/gateway"] == "OLD"
    assert "v1.8.3 (needs ≥ 1.9.0)" in out
    for present in (
        "gateways.gateway.networking.k8s.io",
        "nodepools.karpenter.sh",
        "servicemonitors.monitoring.coreos.com",
        "karpenter/controller",
        "nvidia/k8s-device-plugin",
        "envoy-gateway",
    ):
        assert found[present] == "yes", present
    assert "v0.93.1" in out and "1.14.1" in out
    assert "lacks rateLimit.backend, extensionManager" in out
    assert set(server.methods) == {"GET"}  # read-only


def test_complete_cluster_exits_zero(
    serve: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    responses = copy.deepcopy(recorded())
    crds = responses["/apis/apiextensions.k8s.io/v1/customresourcedefinitions"]["items"]
    for crd in crds:
        if crd["spec"]["group"] == "aigateway.envoyproxy.io":
            crd["spec"]["versions"].append({"name": "v1beta1", "served": True, "storage": False})
    backend = copy.deepcopy(crds[-1])
    backend["metadata"]["name"] = "aiservicebackends.aigateway.envoyproxy.io"
    crds.append(backend)
    for group in responses["/apis"]["groups"]:
        if group["name"] == "aigateway.envoyproxy.io":
            group["versions"].append(
                {"groupVersion": "aigateway.envoyproxy.io/v1beta1", "version": "v1beta1"}
            )
    cfg = stack_config("prod")
    from tgi_infra.manifests.addons import envoy_gateway_values

    eg = envoy_gateway_values(cfg)["config"]["envoyGateway"]
    cm = "/api/v1/namespaces/envoy-gateway-system/configmaps/envoy-gateway-config"
    responses[cm]["data"]["envoy-gateway.yaml"] = yaml.safe_dump(eg)
    deployments = responses["/apis/apps/v1/deployments"]["items"]
    eg_image = deployments[0]["spec"]["template"]["spec"]["containers"][0]
    eg_image["image"] = "docker.io/envoyproxy/gateway:v1.9.0"
    for ns, name, image in (
        (
            "envoy-ai-gateway-system",
            "ai-gateway-controller",
            "docker.io/envoyproxy/ai-gateway-controller:v1.1.0",
        ),
        (
            "monitoring",
            "prometheus-adapter",
            "registry.k8s.io/prometheus-adapter/prometheus-adapter:v0.12.0",
        ),
        ("gpu-operator", "gpu-operator", "nvcr.io/nvidia/gpu-operator:v26.7.0"),
    ):
        dep = copy.deepcopy(deployments[0])
        dep["metadata"] = {"name": name, "namespace": ns}
        dep["spec"]["template"]["spec"]["containers"][0]["image"] = image
        deployments.append(dep)
    responses["/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.custom.metrics.k8s.io"] = {
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": {"name": "v1beta1.custom.metrics.k8s.io"},
        "spec": {
            "group": "custom.metrics.k8s.io",
            "version": "v1beta1",
            "groupPriorityMinimum": 100,
            "versionPriority": 100,
            "service": {"name": "prometheus-adapter", "namespace": "monitoring"},
        },
        "status": {"conditions": [{"type": "Available", "status": "True"}]},
    }
    responses["/apis/storage.k8s.io/v1/storageclasses/efs-sc"] = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": "efs-sc"},
        "provisioner": "efs.csi.aws.com",
    }
    server = serve(responses)
    code, out = doctor(capsys, server.kubeconfig(tmp_path / "kc"), "--stack", "prod")
    assert code == 0, out
    assert "MISSING" not in out


def test_without_a_stack_every_addon_is_listed(
    serve: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = serve(recorded())
    code, out = doctor(capsys, server.kubeconfig(tmp_path / "kc"))
    assert code == 1
    assert rows(out)["scaledobjects.keda.sh"] == "MISSING"
    assert len(requirements(None)) == len(rows(out))


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = doctor(capsys, tmp_path / "absent")
    assert code == 2 and "no kubeconfig" in out
    with pytest.raises(SystemExit) as exc:
        main(["doctor"])
    assert exc.value.code == 2


def test_an_unreachable_cluster_exits_1_not_as_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    unreachable = FakeApiServer({})
    unreachable.server.server_close()  # the port is closed: nothing answers
    code, out = doctor(capsys, unreachable.kubeconfig(tmp_path / "kc"), "--stack", "dev")
    assert code == 1
    assert "cluster unreachable at http" in out and "Nothing was checked" in out
    assert "Traceback" not in out


def test_a_cluster_refusing_the_reads_exits_1_with_the_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    refusing = FakeApiServer({}, refuse=403)
    refusing.thread.start()
    try:
        code, out = doctor(capsys, refusing.kubeconfig(tmp_path / "kc"), "--stack", "dev")
    finally:
        refusing.server.shutdown()
    assert code == 1
    assert "refused the read: 403" in out and "credentials" in out


@pytest.mark.parametrize(
    "text",
    [
        "{{{\n",  # not YAML
        "a: &a [x, x, x]\nb: [*a, *a, *a]\n",  # aliases (an alias bomb's building block)
        "root:x:0:0:root:/root:/bin/bash\n",  # /etc/passwd: a string, not a mapping
        "clusters: 5\ncontexts: x\nusers: [1]\ncurrent-context: a\n",  # wrong shapes
    ],
)
def test_malformed_kubeconfigs_are_usage_errors(tmp_path: Path, text: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "kc"
    path.write_text(text)
    code, out = doctor(capsys, path)
    assert code == 2 and "kubeconfig" in out and "internal error" not in out, out
