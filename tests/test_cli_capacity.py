"""`tgi-infra capacity` per engine: the interface of issue 13 and clean usage errors."""

from __future__ import annotations

import json

import pytest

from tgi_infra.cli import main

MODEL = "meta-llama/Llama-3.1-8B-Instruct"
JSON_KEYS = ("engine", "engine_version", "kv_cache_tokens", "weights_bytes_per_shard",
             "kv_bytes_per_token_per_shard", "fits", "problems")


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out + err


@pytest.mark.parametrize(
    ("engine", "version", "flags"),
    [
        ("tgi", "3.3.7", ["--max-total-tokens", "8192"]),
        ("vllm", "0.34.0", ["--gpu-memory-utilization", "0.9", "--max-model-len", "32768"]),
        ("sglang", "0.5.23", ["--mem-fraction-static", "0.85", "--context-length", "32768"]),
    ],
)
def test_json_per_engine(capsys, engine, version, flags) -> None:
    code, out = run(["capacity", MODEL, "--gpu", "H100", "--engine", engine, *flags,
                     "--json"], capsys)
    assert code == 0, out
    doc = json.loads(out)
    for key in JSON_KEYS:
        assert key in doc
    assert doc["engine"] == engine and doc["engine_version"] == version
    assert doc["kv_bytes_per_token_per_shard"] == 131072
    assert doc["kv_cache_tokens"] > 100_000 and doc["fits"] is True
    assert "performance" not in doc


def test_engine_version_and_tensor_parallel_alias(capsys) -> None:
    code, out = run(["capacity", MODEL, "--gpu", "A10G", "--engine", "vllm",
                     "--engine-version", "0.6.4", "--num-shard", "2", "--max-model-len",
                     "8192", "--json"], capsys)
    assert code == 0, out
    doc = json.loads(out)
    assert doc["engine_version"] == "0.6.4" and doc["tensor_parallel"] == 2
    assert doc["kv_bytes_per_token_per_shard"] == 65536
    assert doc["terms"]["block_size"] == 16


def test_gpu_memory_mib_is_nvidia_smi(capsys) -> None:
    code, out = run(["capacity", MODEL, "--gpu", "A10G", "--gpu-memory-mib", "23028",
                     "--json"], capsys)
    assert code == 0, out
    assert json.loads(out)["gpu_torch_total_bytes"] == 22587 * 2**20


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--num-shard", "0"], ["--num-shard", "0", "from 1"]),
        (["--tensor-parallel", "-2"], ["--tensor-parallel", "-2"]),
        (["--cuda-memory-fraction", "0"], ["--cuda-memory-fraction", "above 0"]),
        (["--cuda-memory-fraction", "nan"], ["--cuda-memory-fraction", "nan"]),
        (["--cuda-memory-fraction", "5"], ["--cuda-memory-fraction", "at most 1"]),
        (["--quantize", "bogus"], ["--quantize", "bogus", "awq"]),
        (["--gpu-memory-mib", "0"], ["--gpu-memory-mib", "0"]),
        (["--gpu-memory-mib", "300"], ["--gpu-memory-mib", "nvidia-smi"]),
        (["--max-input-tokens", "0"], ["--max-input-tokens", "0"]),
        (["--engine", "vllm", "--cuda-memory-fraction", "0.5"],
         ["--cuda-memory-fraction", "tgi flag", "--engine tgi"]),
        (["--mem-fraction-static", "0.8"], ["--mem-fraction-static", "sglang flag"]),
        (["--engine", "sglang", "--enforce-eager"], ["--enforce-eager", "vllm flag"]),
        (["--engine", "vllm", "--quantize", "eetq"], ["eetq", "vllm accepts"]),
        (["--engine", "vllm", "--kv-cache-dtype", "fp8_e4m3fn"], ["--kv-cache-dtype"]),
        (["--dtype", "float32"], ["--dtype", "'float32'", "tgi accepts", "bfloat16"]),
        (["--engine", "sglang", "--dtype", "fp8"], ["--dtype", "sglang accepts", "float32"]),
        (["--isl", "100"], ["--isl", "--concurrency"]),
        (["--engine-version", "latest!"], ["--engine-version"]),
    ],
)
def test_bad_flags_are_usage_errors(capsys, flags, words) -> None:
    code, out = run(["capacity", MODEL, "--gpu", "L4", *flags], capsys)
    assert code == 2, out
    assert "Traceback" not in out and "internal error" not in out
    for word in words:
        assert word in out


def test_workload_flags_parse_and_performance_seam(capsys) -> None:
    code, out = run(["capacity", MODEL, "--gpu", "H100", "--engine", "sglang", "--isl",
                     "1000", "--osl", "200", "--concurrency", "16", "--json"], capsys)
    assert code == 0, out
    doc = json.loads(out)
    try:
        import tgi_infra.capacity.performance  # noqa: F401
    except ImportError:
        assert "performance" not in doc
        assert "performance model not available" in doc["notes"]
    else:
        perf = doc["performance"]
        for key in ("output_tokens_per_s", "ttft_ms", "tpot_ms", "requests_per_s", "bound"):
            assert key in perf


def test_vllm_context_too_long_for_the_cache(capsys) -> None:
    code, out = run(["capacity", "meta-llama/Llama-3.1-70B-Instruct", "--gpu", "L40S",
                     "--engine", "vllm", "--tensor-parallel", "4", "--max-model-len",
                     "131072", "--json"], capsys)
    doc = json.loads(out)
    if doc["kv_cache_tokens"] < 131072:
        assert code == 1 and doc["fits"] is False
        assert any("--max-model-len" in p for p in doc["problems"])
    else:
        assert code == 0


def test_weights_do_not_fit_any_engine(capsys) -> None:
    for engine in ("vllm", "sglang"):
        code, out = run(["capacity", "meta-llama/Llama-3.1-70B-Instruct", "--gpu", "A10G",
                         "--engine", engine], capsys)
        assert code == 1, out
        assert "weights-fit" in out


@pytest.mark.parametrize(
    ("engine", "quantize", "check"),
    [
        ("tgi", "awq", "tgi-quantize-checkpoint"),
        ("vllm", "awq", "vllm-checkpoint-quantization"),
        ("sglang", "gptq", "sglang-checkpoint-quantization"),
        ("sglang", "awq_marlin", "sglang-checkpoint-quantization"),
    ],
)
def test_quantize_the_checkpoint_lacks_is_each_engines_refusal(
    capsys, engine: str, quantize: str, check: str
) -> None:
    code, out = run(["capacity", MODEL, "--gpu", "H100", "--engine", engine, "--quantize",
                     quantize, "--json"], capsys)  # fmt: skip
    doc = json.loads(out)
    assert code == 1 and doc["fits"] is False
    assert any(p.startswith("--quantize: ") for p in doc["problems"])
    code, out = run(["capacity", MODEL, "--gpu", "H100", "--engine", engine, "--quantize",
                     quantize], capsys)  # fmt: skip
    assert code == 1 and f"--quantize ({check})" in out


def test_online_quantization_is_not_refused(capsys) -> None:
    for engine in ("vllm", "sglang"):
        code, out = run(["capacity", MODEL, "--gpu", "H100", "--engine", engine,
                         "--quantize", "fp8", "--json"], capsys)  # fmt: skip
        assert code == 0, out
        assert not any(p.startswith("--quantize") for p in json.loads(out)["problems"])
