"""The weight cache: volume size, the download Job, its network policy."""

from __future__ import annotations

import fnmatch
import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.support import assert_schema_valid, small_platform, small_raw
from tgi_infra import naming
from tgi_infra.config.loader import parse_platform
from tgi_infra.engines import get_engine
from tgi_infra.manifests import cache

GIB = 2**30


def test_volume_is_sized_from_weights_with_headroom() -> None:
    cfg = small_platform()
    claim = cache.tier_volume_claim(cfg.tiers[0], "tgi", 16 * GIB, cfg.cache)
    assert claim["spec"]["resources"]["requests"]["storage"] == "21Gi"  # 16 × 1.3 rounded up
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert claim["metadata"]["name"] == naming.cache_name(cfg.tiers[0])
    tiny = cache.tier_volume_claim(cfg.tiers[0], "tgi", GIB, cfg.cache)
    assert tiny["spec"]["resources"]["requests"]["storage"] == f"{cache.MIN_CACHE_GIB}Gi"
    fixed = small_platform(cacheSizeGib=500)
    claim = cache.tier_volume_claim(fixed.tiers[0], "tgi", 16 * GIB, fixed.cache)
    assert claim["spec"]["resources"]["requests"]["storage"] == "500Gi"


def test_shared_mode_uses_one_claim_for_all_tiers() -> None:
    cfg = parse_platform(small_raw(cache={"mode": "shared", "storageClassName": "efs-sc"}))
    assert cache.claim_name(cfg.tiers[0], cfg.cache) == naming.shared_cache_name(cfg.cache)
    assert cache.claim_name(cfg.tiers[0], cfg.cache).startswith("tgi-model-cache-")
    claim = cache.shared_volume_claim([16 * GIB, 40 * GIB], "tgi", cfg.cache)
    assert claim["spec"]["storageClassName"] == "efs-sc"
    assert claim["spec"]["resources"]["requests"]["storage"] == "73Gi"


def test_download_job_pins_revision_and_uses_the_token_secret() -> None:
    cfg = small_platform()
    job = cache.download_job(cfg.tiers[0], "tgi", 16 * GIB, cfg.cache, "tgi-hf-token")
    pod = job["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in pod["containers"][0]["env"]}
    assert env["MODEL_ID"] == cfg.tiers[0].model_id
    assert env["REVISION"] == cfg.tiers[0].revision
    assert env["HF_TOKEN"] == {"secretKeyRef": {"name": "tgi-hf-token", "key": "token"}}
    assert pod["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] >= 1
    assert job["spec"]["activeDeadlineSeconds"] > 16 * GIB / (100 * 2**20)
    assert job["metadata"]["name"] == naming.download_job_name(cfg.tiers[0])
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == naming.cache_name(
        cfg.tiers[0]
    )


SHA = "0123456789abcdef0123456789abcdef01234567"


def run_script(
    tmp_path: Path, *, model: str = "org/model", offline: bool = True, endpoint: str = ""
) -> subprocess.CompletedProcess[str]:
    """Run the Job's real script with the real huggingface_hub, never the network: offline
    from a pre-filled cache, or against a local stand-in for the Hub."""
    env = {
        "PATH": os.environ["PATH"],
        "HF_HOME": str(tmp_path / "data"),
        "MODEL_ID": model,
        "REVISION": SHA,
        "MODEL_HASH": "1234abcd",
        "ALLOW_PATTERNS": ",".join(get_engine("vllm").download_patterns()),
        "WEIGHT_PATTERNS": ",".join(get_engine("vllm").weight_patterns),
        "HF_TOKEN_SECRET": "tgi-hf-token",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        # Nothing answers here: a script that reached for the Hub would fail.
        "HF_ENDPOINT": endpoint or "http://127.0.0.1:9",
    }
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    return subprocess.run(
        [sys.executable, "-c", cache.DOWNLOAD_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def fill_cache(tmp_path: Path, files: dict[str, str], model: str = "org/model") -> Path:
    """The hub cache layout huggingface_hub writes: models--org--name/snapshots/<sha>/."""
    repo = tmp_path / "data" / "hub" / f"models--{model.replace('/', '--')}"
    snapshot = repo / "snapshots" / SHA
    snapshot.mkdir(parents=True)
    for name, text in files.items():
        (snapshot / name).write_text(text)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(SHA)
    return snapshot


COMPLETE = {
    "config.json": "{}",
    "tokenizer.json": "{}",
    "tokenizer_config.json": "{}",
    "generation_config.json": "{}",
    "model.safetensors": "weights",
}


def test_download_script_is_idempotent_and_brings_the_tokenizer(tmp_path: Path) -> None:
    fill_cache(tmp_path, COMPLETE)
    first = run_script(tmp_path)
    assert first.returncode == 0, first.stderr
    assert f"cached org/model@{SHA}" in first.stdout
    marker = tmp_path / "data" / ".tgi-infra" / "1234abcd.complete"
    assert marker.exists()
    # The second run neither reads the cache nor asks the Hub (online, and no Hub answers).
    second = run_script(tmp_path, offline=False)
    assert second.returncode == 0, second.stderr
    assert "cache hit" in second.stdout


@pytest.mark.parametrize(
    ("missing", "needle"),
    [("tokenizer.json", "no tokenizer files"), ("model.safetensors", "no weights")],
)
def test_download_script_refuses_an_incomplete_snapshot(
    tmp_path: Path, missing: str, needle: str
) -> None:
    files = {k: v for k, v in COMPLETE.items() if k != missing}
    if missing == "tokenizer.json":
        files.pop("tokenizer_config.json")
    if missing == "model.safetensors":
        files["model.safetensors.index.json"] = "{}"  # an index alone is not weights
    fill_cache(tmp_path, files)
    result = run_script(tmp_path)
    assert result.returncode == 1
    assert needle in result.stderr and f"org/model@{SHA}" in result.stderr
    assert not (tmp_path / "data" / ".tgi-infra" / "1234abcd.complete").exists()


class _RefusingHub(http.server.BaseHTTPRequestHandler):
    """Answers every request as the Hub answers a gated or a missing repo."""

    error_code = "GatedRepo"
    status = 403

    def _refuse(self) -> None:
        self.send_response(self.status)
        self.send_header("X-Error-Code", self.error_code)
        self.send_header("X-Error-Message", "Access to model org/gated is restricted.")
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(b'{"error": "refused"}')

    do_GET = do_HEAD = _refuse

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize(
    ("code", "status", "needle"),
    [
        ("GatedRepo", 403, "org/gated is gated and the HF token (secret tgi-hf-token) has no"),
        ("RepoNotFound", 401, "org/gated was not found, or the HF token"),
    ],
)
def test_download_script_refuses_gated_or_revoked_access_naming_the_model(
    tmp_path: Path, code: str, status: int, needle: str
) -> None:
    handler = type("Handler", (_RefusingHub,), {"error_code": code, "status": status})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        result = run_script(tmp_path, model="org/gated", offline=False, endpoint=endpoint)
    finally:
        server.shutdown()
    assert result.returncode == 1, result.stdout
    assert needle in result.stderr
    assert not (tmp_path / "data" / ".tgi-infra" / "1234abcd.complete").exists()


@pytest.mark.parametrize("engine", ["tgi", "vllm", "sglang"])
def test_download_job_fetches_config_tokenizer_and_weights(engine: str) -> None:
    cfg = small_platform(engine=engine)
    job = cache.download_job(cfg.tiers[0], "tgi", 16 * GIB, cfg.cache, None)
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][:2] == ["python3", "-c"]
    assert container["image"] == get_engine(engine).image(cfg.tiers[0])
    env = {e["name"]: e.get("value") for e in container["env"]}
    patterns = env["ALLOW_PATTERNS"].split(",")
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json",
                 "generation_config.json", "tokenizer.model", "model-00001-of-00004.safetensors",
                 "model.safetensors.index.json"):  # fmt: skip
        assert any(fnmatch.fnmatch(name, p) for p in patterns), name
    assert not any(fnmatch.fnmatch("pytorch_model.bin", p) for p in patterns)


def test_download_image_can_be_a_small_one() -> None:
    small = "registry.example.com/hf-downloader:2.4.0@sha256:" + "b" * 64
    cfg = parse_platform(small_raw(cache={"downloadImage": small}))
    job = cache.download_job(cfg.tiers[0], "tgi", 16 * GIB, cfg.cache, None)
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == small


@pytest.mark.parametrize("mode", ["per-tier", "shared"])
def test_cache_objects_validate_strict(mode: str) -> None:
    cfg = parse_platform(small_raw(cache={"mode": mode}))
    objs = [
        cache.tier_volume_claim(cfg.tiers[0], "tgi", 16 * GIB, cfg.cache),
        cache.download_job(cfg.tiers[0], "tgi", 16 * GIB, cfg.cache, None),
        cache.download_network_policy(cfg.tiers[0], "tgi"),
    ]
    assert_schema_valid(objs)
    netpol = objs[2]["spec"]
    assert netpol["ingress"] == []
    assert {"protocol": "TCP", "port": 443} in netpol["egress"][1]["ports"]
