"""Public vLLM and SGLang startup logs, as fixtures for the KV-capacity models.

Each case is one published startup: the model, the GPU (torch's total when the log prints
it), the engine version and flags, and the KV-cache token count the engine logged. ``role``
was set before any constant was fitted: ``tuned`` cases are the only ones
``benchmarks/memory_accuracy.py --fit`` minimises over; ``held_out`` ones were never used.
``assumptions`` says what the source did not state.
"""

from __future__ import annotations

from dataclasses import dataclass

from tgi_infra.capacity.catalog import gpu
from tgi_infra.capacity.facts import ModelFacts
from tgi_infra.capacity.kv import KvSettings, plan_kv

GIB = 2**30


def _facts(model_id: str, **kw: object) -> ModelFacts:
    base: dict[str, object] = {"source": "catalog", "architecture": "LlamaForCausalLM",
                               "torch_dtype": "bfloat16"}
    base.update(kw)
    return ModelFacts(model_id=model_id, **base)  # type: ignore[arg-type]


# config.json numbers; weight_bytes = the checkpoint's size on disk.
LLAMA_31_8B = _facts(
    "meta-llama/Llama-3.1-8B-Instruct", num_layers=32, hidden_size=4096,
    num_attention_heads=32, num_kv_heads=8, head_dim=128, vocab_size=128256,
    max_position_embeddings=131072, weight_bytes=16_060_522_496, intermediate_size=14336,
)
LLAMA_3_8B = _facts(
    "meta-llama/Meta-Llama-3-8B", num_layers=32, hidden_size=4096, num_attention_heads=32,
    num_kv_heads=8, head_dim=128, vocab_size=128256, max_position_embeddings=8192,
    weight_bytes=16_060_522_496, intermediate_size=14336,
)
QWEN25_15B = _facts(
    "Qwen/Qwen2.5-1.5B-Instruct", architecture="Qwen2ForCausalLM", num_layers=28,
    hidden_size=1536, num_attention_heads=12, num_kv_heads=2, head_dim=128,
    vocab_size=151936, max_position_embeddings=32768, weight_bytes=3_087_467_520,
    intermediate_size=8960,
)
QWQ_32B = _facts(
    "Qwen/QwQ-32B", architecture="Qwen2ForCausalLM", num_layers=64, hidden_size=5120,
    num_attention_heads=40, num_kv_heads=8, head_dim=128, vocab_size=152064,
    max_position_embeddings=131072, weight_bytes=65_527_752_704, intermediate_size=27648,
)
# 235 B parameters in fp8 with block scales and 16-bit embeddings, attention and router:
# SGLang's log shows 56.6 GiB per GPU at tp 4 (mem usage), so 4 x 56.6 GiB.
QWEN3_235B_FP8 = _facts(
    "Qwen/Qwen3-235B-A22B-FP8", architecture="Qwen3MoeForCausalLM", num_layers=94,
    hidden_size=4096, num_attention_heads=64, num_kv_heads=4, head_dim=128,
    vocab_size=151936, max_position_embeddings=40960, weight_bytes=243_100_000_000,
    intermediate_size=1536, num_experts=128, checkpoint_quantization="fp8",
)
# int8 weights + 16-bit embeddings/lm_head: vLLM logs "Loading model weights took 67.7229 GB".
LLAMA_31_70B_W8A8 = _facts(
    "neuralmagic/Meta-Llama-3.1-70B-Instruct-quantized.w8a8", num_layers=80,
    hidden_size=8192, num_attention_heads=64, num_kv_heads=8, head_dim=128,
    vocab_size=128256, max_position_embeddings=131072, weight_bytes=72_716_000_000,
    intermediate_size=28672, checkpoint_quantization="compressed-tensors",
)
QWEN25_7B_AWQ = _facts(
    "Qwen/Qwen2.5-7B-Instruct-AWQ", architecture="Qwen2ForCausalLM", num_layers=28,
    hidden_size=3584, num_attention_heads=28, num_kv_heads=4, head_dim=128,
    vocab_size=152064, max_position_embeddings=32768, weight_bytes=5_580_000_000,
    intermediate_size=18944, checkpoint_quantization="awq", torch_dtype="float16",
)


@dataclass(frozen=True)
class LogCase:
    case: str
    engine: str
    source: str
    role: str  # "tuned" or "held_out", fixed before fitting
    facts: ModelFacts
    gpu: str  # catalog name
    version: str
    reported: int  # kv_cache_tokens the engine logged
    torch_total_gib: float | None = None  # when the log prints the device total
    tensor_parallel: int = 1
    flags: tuple[tuple[str, object], ...] = ()  # KvSettings fields as passed
    assumptions: str = ""


VLLM_CASES = (
    LogCase(
        "Llama-3.1-8B, RTX 3090, vLLM 0.6.4, util 0.90, max-model-len 20000",
        "vllm", "https://github.com/vllm-project/vllm/issues/10517 (comment 2024-12-02)",
        "tuned", LLAMA_31_8B, "RTX-3090", "0.6.4", 1952 * 16, torch_total_gib=23.58,
        flags=(("gpu_memory_utilization", 0.90), ("max_model_len", 20000)),
        assumptions="version from the log format ('Memory profiling results: ...', Nov 2024)",
    ),
    LogCase(
        "Llama-3.1-8B, RTX 3090, vLLM 0.6.4, util 0.90, max-model-len 29000",
        "vllm", "https://github.com/vllm-project/vllm/issues/10517 (comment 2024-12-02)",
        "held_out", LLAMA_31_8B, "RTX-3090", "0.6.4", 23648, torch_total_gib=23.58,
        flags=(("gpu_memory_utilization", 0.90), ("max_model_len", 29000)),
        assumptions="same run as the 20000 case with a longer max-model-len",
    ),
    LogCase(
        "Meta-Llama-3-8B, H100 80GB, vLLM 0.6.5 (dev), defaults",
        "vllm", "https://github.com/vllm-project/vllm/pull/10511 (comment 2024-12-14)",
        "tuned", LLAMA_3_8B, "H100-80GB", "0.6.5", 436_544, torch_total_gib=79.22,
        flags=(("gpu_memory_utilization", 0.90),),
        assumptions=(
            "the log gives available_kv_cache_memory 53.29GiB, not the block count: tokens = "
            "53.29 GiB // (16 x 128 KiB) x 16 (±0.005 GiB rounding is ±40 tokens)"
        ),
    ),
    LogCase(
        "Qwen2.5-1.5B-Instruct, T4, vLLM 0.9 (V0 on Turing), util 0.5, max-model-len 32768",
        "vllm", "public notebook log (find_string id 55875904831), 2025-05-30",
        "tuned", QWEN25_15B, "T4", "0.7.3", 5517 * 16, torch_total_gib=14.56,
        flags=(("gpu_memory_utilization", 0.5),),
        assumptions=(
            "model taken as Qwen2.5-1.5B-Instruct from the 3.09G single safetensors file and "
            "2.89 GiB of weights; V0 engine (T4 has no V1), so the V0 rules (version 0.7.3)"
        ),
    ),
    LogCase(
        "Qwen3-235B-A22B-FP8, 4x H100, vLLM 0.9/0.10 (July 2025), defaults",
        "vllm", "https://github.com/vllm-project/vllm/issues/21348",
        "held_out", QWEN3_235B_FP8, "H100-80GB", "0.9.2", 178_880, tensor_parallel=4,
        assumptions=(
            "version from the issue date (2025-07-22); weights per GPU from the SGLang log of "
            "the same issue; default max_model_len 40960"
        ),
    ),
    LogCase(
        "Llama-3.1-70B w8a8, 1x 80 GB GPU, vLLM 0.7.1 V1, util 0.98, max-model-len 2048",
        "vllm", "https://github.com/vllm-project/vllm/pull/12569",
        "held_out", LLAMA_31_70B_W8A8, "H100-80GB", "0.7.1", 1381 * 16,
        flags=(("gpu_memory_utilization", 0.98), ("max_model_len", 2048)),
        assumptions="GPU not named: 67.7 GiB of weights at util 0.98 leave room only on 80 GB",
    ),
)

# A startup vLLM refused (0 blocks): a not-fits case, kept out of the error statistics.
VLLM_NOT_FITS = LogCase(
    "Qwen2.5-7B AWQ, RTX 4060 8 GB, vLLM 0.7 V0, util 0.70, max-model-len 4096",
    "vllm", "https://github.com/vllm-project/vllm/issues/13882",
    "held_out", QWEN25_7B_AWQ, "RTX-4090", "0.7.2", 0, torch_total_gib=8.00,
    flags=(("gpu_memory_utilization", 0.70), ("max_model_len", 4096)),
    assumptions="an 8 GB card; the RTX 4090 row only lends its driver reservation",
)

SGLANG_CASES = (
    LogCase(
        "QwQ-32B, 4x L4 (g6.12xlarge), SGLang 0.4.3, defaults (mem_fraction_static 0.85)",
        "sglang", "public README, 'SGLang start sequence with Qwen QwQ-32B' on g6.12xlarge "
        "(find_string id 47376055009), 2025-03-08",
        "tuned", QWQ_32B, "L4", "0.4.3", 46611, tensor_parallel=4,
        assumptions="version from the log date; server_args show mem_fraction_static=0.85",
    ),
    LogCase(
        "Llama-3-8B class, 1x 80 GB, SGLang 0.4.1, defaults",
        "sglang", "public SGLang server log of 2025-01-23 (find_string id 18084549501)",
        "tuned", LLAMA_31_8B, "H100-80GB", "0.4.1", 444_500,
        assumptions=(
            "K size 27.13 GB matches 128 KiB/token (a Llama-3 8B); GPU taken as H100 80GB "
            "(63.72 GB free after 15 GB of weights); default mem_fraction_static"
        ),
    ),
    LogCase(
        "Llama-3.1-8B-Instruct, 1x H100, SGLang 0.4.4 (FA3 tests), defaults",
        "sglang", "sgl-project/sglang PR 'FA3 unit and integration tests' (roadmap #4709), "
        "2025-03-25 (find_string id 70879465447)",
        "held_out", LLAMA_31_8B, "H100-80GB", "0.4.4", 442_750,
        assumptions="GPU taken as H100 (FA3 needs Hopper); default mem_fraction_static",
    ),
    LogCase(
        "Qwen3-235B-A22B-FP8, 4x H100, SGLang 0.4.9, --mem-fraction-static 0.93",
        "sglang", "https://github.com/vllm-project/vllm/issues/21348",
        "held_out", QWEN3_235B_FP8, "H100-80GB", "0.4.9", 367_404, tensor_parallel=4,
        flags=(("mem_fraction_static", 0.93),),
        assumptions="version from the issue date (2025-07-22)",
    ),
)


def settings_for(case: LogCase) -> KvSettings:
    """The case's flags, with the GPU total the log printed given as nvidia-smi would."""
    smi = None
    if case.torch_total_gib is not None:
        smi = round(case.torch_total_gib * 1024) + gpu(case.gpu).driver_reserved_mib
    return KvSettings(tensor_parallel=case.tensor_parallel, gpu_memory_mib=smi,
                      **dict(case.flags))  # type: ignore[arg-type]


def predict(case: LogCase) -> int:
    return plan_kv(case.engine, case.facts, gpu(case.gpu), settings_for(case),
                   case.version).kv_cache_tokens


def error(case: LogCase) -> float:
    return abs(predict(case) - case.reported) / case.reported
