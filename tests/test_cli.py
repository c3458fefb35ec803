"""The `tgi-infra` command line: exit codes, messages, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import ROOT, small_raw
from tgi_infra.cli import main


def write_stack(tmp_path: Path, platform: Any, name: str = "t") -> Path:
    path = tmp_path / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump({"config": {"tgi-infra:platform": platform}}))
    return path


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out + err


def test_validate_sound_stack(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(["validate", "--stack", "dev"], capsys)
    assert code == 0, out
    assert "stack dev is sound" in out
    assert "Llama-3.2-3B-Instruct" in out


def test_validate_oversized_input_names_path_and_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = small_raw()
    raw["tiers"][0]["maxInputTokens"] = 10_000
    code, out = run(["validate", "--config", str(write_stack(tmp_path, raw))], capsys)
    assert code == 1
    assert "tiers[chat].maxInputTokens" in out
    assert "lower maxInputTokens to at most 8191" in out


def test_validate_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(["validate", "--stack", "prod", "--json"], capsys)
    assert code == 0
    data = json.loads(out)
    assert data["ok"] is True
    assert data["tiers"]["large"]["max_batch_total_tokens"] > 32768


MALFORMED: dict[str, str] = {
    "yaml-syntax": "config:\n  tgi-infra:platform: {tiers: [\n",
    "not-a-mapping": "[1, 2]\n",
    "platform-is-a-string": "config:\n  tgi-infra:platform: hello\n",
    "no-platform": "config:\n  aws:region: us-east-1\n",
    "empty-file": "",
    "wrong-types": yaml.safe_dump(
        {
            "config": {
                "tgi-infra:platform": {
                    "cluster": {"name": 3, "region": ["x"]},
                    "nodePools": "l40s",
                    "tiers": {},
                }
            }
        }
    ),
    "bad-tier-values": yaml.safe_dump(
        {
            "config": {
                "tgi-infra:platform": small_raw(
                    tiers=[
                        {
                            "name": "Chat!",
                            "modelId": "",
                            "nodePool": "l40s",
                            "maxInputTokens": -1,
                            "maxTotalTokens": "many",
                        }
                    ]
                )
            }
        }
    ),
    "null-lists": yaml.safe_dump(
        {"config": {"tgi-infra:platform": small_raw(tiers=None, nodePools=None)}}
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_stacks_exit_1_without_traceback(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "Pulumi.bad.yaml"
    path.write_text(MALFORMED[case])
    code, out = run(["validate", "--config", str(path)], capsys)
    assert code == 1, out
    assert "Traceback" not in out
    assert "error(s):" in out


def test_missing_stack_is_a_problem(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(["validate", "--stack", "nope"], capsys)
    assert code == 1
    assert "stack file not found" in out


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["validate"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["capacity", "m", "--gpu", "l4", "--num-shard", "two"])
    assert info.value.code == 2


def test_capacity_json_has_the_documented_keys(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(
        [
            "capacity",
            "meta-llama/Llama-3.1-8B-Instruct",
            "--gpu",
            "L40S",
            "--max-input-tokens",
            "8000",
            "--max-total-tokens",
            "16000",
            "--json",
        ],
        capsys,
    )
    assert code == 0, out
    data = json.loads(out)
    for key in (
        "weights_bytes_per_shard",
        "kv_bytes_per_token_per_shard",
        "max_batch_total_tokens",
        "fits",
        "problems",
    ):
        assert key in data
    assert data["kv_bytes_per_token_per_shard"] == 131072
    assert data["fits"] is True and data["problems"] == []


def test_capacity_on_a_local_model_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "tiny"
    model.mkdir()
    (model / "config.json").write_text(
        json.dumps(
            {
                "architectures": ["LlamaForCausalLM"],
                "model_type": "llama",
                "num_hidden_layers": 4,
                "hidden_size": 512,
                "num_attention_heads": 8,
                "num_key_value_heads": 2,
                "vocab_size": 32000,
                "max_position_embeddings": 4096,
                "torch_dtype": "bfloat16",
                "intermediate_size": 1024,
            }
        )
    )
    (model / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": 100_000_000}, "weight_map": {}})
    )
    code, out = run(["capacity", str(model), "--gpu", "t4", "--json"], capsys)
    assert code == 0, out
    data = json.loads(out)
    assert data["facts_source"] == "local"
    assert data["kv_bytes_per_token_per_shard"] == 2 * 4 * 2 * 64 * 2


def test_capacity_model_too_big_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(["capacity", "meta-llama/Llama-3.1-70B-Instruct", "--gpu", "a10g"], capsys)
    assert code == 1
    assert "weights-fit" in out


def test_capacity_unknown_gpu(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(["capacity", "meta-llama/Llama-3.1-8B-Instruct", "--gpu", "h1000"], capsys)
    assert code == 1
    assert "H100" in out


def test_config_reference_is_current() -> None:
    from tgi_infra.config.reference import render_reference

    assert (ROOT / "docs" / "config.md").read_text() == render_reference(), (
        "docs/config.md is stale: run `tgi-infra config-reference --out docs/config.md`"
    )


def test_console_script_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tgi_infra.cli", "validate", "--stack", "dev"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert "sound" in result.stdout


def test_capacity_problems_name_the_flags(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(
        [
            "capacity",
            "meta-llama/Llama-3.1-8B-Instruct",
            "--gpu",
            "l40s",
            "--max-input-tokens",
            "9000",
            "--max-total-tokens",
            "8000",
        ],
        capsys,
    )
    assert code == 1
    assert "--max-input-tokens (input-below-total)" in out
    assert "lower --max-input-tokens to at most 7999" in out


def test_many_problems_of_one_check_are_counted_not_all_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = {f"t{i}": {"secure": "v1:x"} for i in range(500)}
    stack = {"config": {"tgi-infra:platform": small_raw(), "tgi-infra:tenantKeys": keys}}
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(yaml.safe_dump(stack))
    code, out = run(["validate", "--config", str(path)], capsys)
    assert code == 1
    assert out.count("(tenant-key-unknown):") == 20
    assert "... and 480 more (tenant-key-unknown)" in out
    assert len(out) < 20_000
    code, out = run(["validate", "--json", "--config", str(path)], capsys)
    assert (
        len([p for p in json.loads(out)["problems"] if p["check"] == "tenant-key-unknown"]) == 500
    )
