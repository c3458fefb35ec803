"""benchmarks/gpu_anchor.py: its arithmetic, without torch or a GPU."""

from __future__ import annotations

import builtins
import sys

import pytest

from benchmarks import gpu_anchor as ga
from tgi_infra.capacity.model_facts import catalog_facts


def test_import_needs_no_torch() -> None:
    assert "torch" not in ga.__dict__
    assert ga.LlamaShape().layers == 32


def test_llama_shape_matches_llama_3_1_8b() -> None:
    facts = catalog_facts("meta-llama/Llama-3.1-8B-Instruct")
    shape = ga.LlamaShape()
    # Stored checkpoint = what a step reads + the input embedding table it only looks up.
    stored = shape.weight_bytes_read + facts.vocab_size * facts.hidden_size * 2
    assert stored == pytest.approx(facts.weight_bytes, rel=0.001)
    assert shape.kv_bytes(1, 1) == 2 * 32 * 8 * 128 * 2  # 128 KiB per token


def test_step_bytes_grow_with_batch_and_context() -> None:
    shape = ga.LlamaShape()
    assert shape.step_bytes(8, 1024) - shape.step_bytes(1, 1024) == shape.kv_bytes(7, 1024)
    assert shape.step_bytes(1, 2048) > shape.step_bytes(1, 1024)


def test_shape_for_small_gpus_drops_layers() -> None:
    gib = 2**30
    assert ga.shape_for(130 * gib, [1, 8, 32, 128], 1024).layers == 32
    small = ga.shape_for(14 * gib, [1, 8, 32, 128], 1024)
    assert 1 <= small.layers < 32
    with pytest.raises(ValueError, match="not even one layer"):
        ga.shape_for(512 * 2**20, [128], 1024)


def test_achieved_bandwidth() -> None:
    assert ga.achieved_bandwidth_gbs(3_000_000_000, 0.001) == pytest.approx(3000)
    with pytest.raises(ValueError):
        ga.achieved_bandwidth_gbs(1, 0)


def test_nvidia_smi_parsing() -> None:
    gpus = ga.parse_smi_gpus(
        "0, NVIDIA H200, 143771, 1, 570.133.20\n1, NVIDIA H200, 143771, 0, 570.133.20\n"
    )
    assert gpus[0] == {
        "index": 0,
        "name": "NVIDIA H200",
        "memory_total_mib": 143771,
        "memory_used_mib": 1,
        "driver_version": "570.133.20",
    }
    assert len(gpus) == 2
    apps = "1234, 520\n999, 80000\n"
    assert ga.parse_smi_process_mib(apps, 1234) == 520
    assert ga.parse_smi_process_mib(apps, 42) is None
    assert ga.parse_smi_process_mib("", 1) is None


def test_median_ms() -> None:
    assert ga.median_ms([0.003, 0.001, 0.002]) == pytest.approx(2.0)


def test_main_without_torch_exits_2(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    real_import = builtins.__import__

    def no_torch(name, *args, **kwargs):
        if name == "torch" or name.startswith("torch."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    assert ga.main([]) == 2
    assert "needs torch" in capsys.readouterr().err


def test_bad_arguments_are_usage_errors() -> None:
    with pytest.raises(SystemExit) as exc:
        ga.main(["--batches", "0"])
    assert exc.value.code == 2
