"""The weight cache: volume size, the download Job, its network policy."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support import assert_schema_valid, small_platform, small_raw
from tgi_infra import naming
from tgi_infra.config.loader import parse_platform
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


def run_script(tmp_path: Path, downloader: str) -> subprocess.CompletedProcess[str]:
    """Run the Job's real script with a stand-in `text-generation-server`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "text-generation-server"
    fake.write_text(f'#!/bin/sh\necho "args: $*" >> {tmp_path}/calls\n{downloader}\n')
    fake.chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HF_HOME": str(tmp_path / "data"),
        "MODEL_ID": "org/gated",
        "REVISION": "abc",
        "MODEL_HASH": "1234abcd",
        "HF_TOKEN_SECRET": "tgi-hf-token",
    }
    return subprocess.run(
        ["/bin/sh", "-c", cache.DOWNLOAD_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_download_script_is_idempotent(tmp_path: Path) -> None:
    first = run_script(tmp_path, "exit 0")
    assert first.returncode == 0, first.stderr
    assert "cached org/gated@abc" in first.stdout
    second = run_script(tmp_path, "exit 0")
    assert second.returncode == 0
    assert "cache hit" in second.stdout
    assert (tmp_path / "calls").read_text().count("download-weights org/gated --revision abc") == 1


def test_download_script_fails_loudly_naming_the_model(tmp_path: Path) -> None:
    result = run_script(tmp_path, "echo '401 Client Error: Cannot access gated repo' >&2; exit 1")
    assert result.returncode == 1
    assert "org/gated@abc refused or failed" in result.stderr
    assert "gated model" in result.stderr
    assert not (tmp_path / "data" / ".tgi-infra" / "1234abcd.complete").exists()


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
