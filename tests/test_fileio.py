"""Files a user names are read without ever blocking: FIFOs, devices and huge files are
problems with the path, not hangs (tgi_infra/fileio.py)."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from tgi_infra.cli import main
from tgi_infra.fileio import open_regular, read_regular


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def test_a_fifo_or_a_device_is_refused_without_blocking(tmp_path: Path) -> None:
    for path in (_fifo(tmp_path / "pipe"), Path("/dev/zero"), tmp_path):
        with pytest.raises(OSError) as info:
            open_regular(path)
        assert info.value.errno == errno.EINVAL and "not a regular file" in str(info.value)


def test_reads_are_bounded(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_bytes(b" " * 1025)
    assert read_regular(big, limit=2048) == b" " * 1025
    with pytest.raises(OSError) as info:
        read_regular(big, limit=1024)
    assert info.value.errno == errno.EFBIG


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_model_folder_config_that_never_ends(
    tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    if kind == "fifo":
        _fifo(folder / "config.json")
    else:
        (folder / "config.json").symlink_to("/dev/zero")
    code = main(["capacity", str(folder), "--gpu", "L4"])
    out = capsys.readouterr().out
    assert code == 1 and "not a regular file" in out and "Traceback" not in out


def test_policy_config_fifo_is_a_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["check", "--stack", "dev", "--policy-config", str(_fifo(tmp_path / "p.json"))])
    out = capsys.readouterr().out
    assert code == 1 and "policy-config" in out and "not a regular file" in out


def test_model_folder_safetensors_fifo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    config = {"architectures": ["LlamaForCausalLM"], "num_hidden_layers": 2, "hidden_size": 64,
              "num_attention_heads": 4, "vocab_size": 100, "max_position_embeddings": 128}
    (folder / "config.json").write_text(json.dumps(config))
    index = {"weight_map": {"w": "a.safetensors"}}  # no total_size: the shard is read
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    _fifo(folder / "a.safetensors")
    code = main(["capacity", str(folder), "--gpu", "L4"])
    out = capsys.readouterr().out
    assert code == 1 and "Traceback" not in out, out


def test_config_reference_out_refuses_a_fifo(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["config-reference", "--out", str(_fifo(tmp_path / "ref.md"))])
    out = capsys.readouterr().out
    assert code == 1 and "--out" in out
    target = tmp_path / "ref2.md"
    target.write_text("old, longer than nothing" * 1000)
    assert main(["config-reference", "--out", str(target)]) == 0
    assert target.read_text().startswith("#") and "old, longer" not in target.read_text()


def test_hf_cache_entry_that_is_a_fifo(tmp_path: Path) -> None:
    from tests.test_model_facts import populate_hub_cache
    from tgi_infra.capacity.model_facts import ModelFactsError, facts_from_hub

    snapshot = populate_hub_cache(tmp_path, "acme/odd", {"config.json": b"{}"})
    (snapshot / "config.json").unlink()
    _fifo(snapshot / "config.json")
    with pytest.raises(ModelFactsError, match=r"not a regular file.*hf download acme/odd"):
        facts_from_hub("acme/odd", revision="main", cache_dir=tmp_path, offline=True)


@pytest.mark.parametrize("model", ["", "   ", "x" * 5000])
def test_model_names_no_file_system_can_hold(model: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["capacity", model, "--gpu", "L4"]) == 1
    out = capsys.readouterr().out
    assert "internal error" not in out and len(out) < 2000
    assert main(["size", model, "--isl", "10", "--osl", "10", "--rps", "1"]) == 2
    out = capsys.readouterr().out
    assert "internal error" not in out and len(out) < 2000
