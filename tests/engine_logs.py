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
# Qwen/Qwen3-8B-FP8 config.json: 36 layers, hidden 4096, 32 heads, 8 KV heads, head_dim 128,
# vocab 151936, intermediate 12288, max_position_embeddings 40960; fp8 block-128 weights with
# bf16 embeddings and (untied) lm_head: 6.95e9 fp8 bytes + 2 x 151936 x 4096 x 2 bf16 bytes
# = 9.44e9 (vLLM logs "8.8 GiB for weight" for this checkpoint, 9.45e9 bytes).
QWEN3_8B_FP8 = _facts(
    "Qwen/Qwen3-8B-FP8", architecture="Qwen3ForCausalLM", num_layers=36, hidden_size=4096,
    num_attention_heads=32, num_kv_heads=8, head_dim=128, vocab_size=151936,
    max_position_embeddings=40960, weight_bytes=9_440_000_000, intermediate_size=12288,
    checkpoint_quantization="fp8",
)
# deepseek-ai/DeepSeek-R1-Distill-Qwen-14B config.json (a Qwen2.5-14B): 48 layers, hidden
# 5120, 40 heads, 8 KV heads, head_dim 128, vocab 152064, intermediate 13824,
# max_position_embeddings 131072; 14.77e9 bf16 parameters (vLLM logs 13.9476 GB per GPU at
# tp 2, i.e. 29.95e9 bytes with lm_head loaded whole on both GPUs).
R1_DISTILL_QWEN_14B = _facts(
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-14B", architecture="Qwen2ForCausalLM",
    num_layers=48, hidden_size=5120, num_attention_heads=40, num_kv_heads=8, head_dim=128,
    vocab_size=152064, max_position_embeddings=131072, weight_bytes=29_540_000_000,
    intermediate_size=13824,
)
# The four below: config.json numbers as published on the Hub; weight_bytes = parameters x 2
# (16-bit checkpoints), matching the "Loading model weights took" line of each log. Each
# log's "# GPU blocks" x 16 x the per-token KV bytes these shapes give equals its logged
# kv_cache_size, which confirms the shapes.
# realtreetune/rho-1b-sft-GSM8K: microsoft/rho-1b, a TinyLlama-1.1B (22 layers, 4 KV heads).
RHO_1B = _facts(
    "realtreetune/rho-1b-sft-GSM8K", num_layers=22, hidden_size=2048, num_attention_heads=32,
    num_kv_heads=4, head_dim=64, vocab_size=32000, max_position_embeddings=2048,
    weight_bytes=2_200_000_000, intermediate_size=5632,
)
OPT_125M = _facts(
    "facebook/opt-125m", architecture="OPTForCausalLM", num_layers=12, hidden_size=768,
    num_attention_heads=12, num_kv_heads=12, head_dim=64, vocab_size=50272,
    max_position_embeddings=2048, weight_bytes=250_500_000, intermediate_size=3072,
    torch_dtype="float16",
)
PHI_15 = _facts(
    "microsoft/phi-1_5", architecture="PhiForCausalLM", num_layers=24, hidden_size=2048,
    num_attention_heads=32, num_kv_heads=32, head_dim=64, vocab_size=51200,
    max_position_embeddings=2048, weight_bytes=2_836_730_000, intermediate_size=8192,
    torch_dtype="float16",
)
LLAMA_32_1B = _facts(
    "meta-llama/Llama-3.2-1B", num_layers=16, hidden_size=2048, num_attention_heads=32,
    num_kv_heads=8, head_dim=64, vocab_size=128256, max_position_embeddings=131072,
    weight_bytes=2_471_000_000, intermediate_size=8192,
)
# deepseek-ai/DeepSeek-R1-Distill-Qwen-7B config.json (a Qwen2.5-Math-7B): 28 layers, hidden
# 3584, 28 heads, 4 KV heads, head_dim 128, vocab 152064, intermediate 18944,
# max_position_embeddings 131072; 7.62e9 bf16 parameters (untied lm_head).
R1_DISTILL_QWEN_7B = _facts(
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", architecture="Qwen2ForCausalLM",
    num_layers=28, hidden_size=3584, num_attention_heads=28, num_kv_heads=4, head_dim=128,
    vocab_size=152064, max_position_embeddings=131072, weight_bytes=15_230_000_000,
    intermediate_size=18944,
)
# Qwen/Qwen3-4B config.json: 36 layers, hidden 2560, 32 heads, 8 KV heads, head_dim 128,
# vocab 151936 (tied embeddings), intermediate 9728, max_position_embeddings 40960; 4.02e9
# bf16 parameters.
QWEN3_4B = _facts(
    "Qwen/Qwen3-4B", architecture="Qwen3ForCausalLM", num_layers=36, hidden_size=2560,
    num_attention_heads=32, num_kv_heads=8, head_dim=128, vocab_size=151936,
    max_position_embeddings=40960, weight_bytes=8_045_000_000, intermediate_size=9728,
)
# Qwen/Qwen3-0.6B config.json: 28 layers, hidden 1024, 16 heads, 8 KV heads, head_dim 128,
# vocab 151936 (tied embeddings), intermediate 3072, max_position_embeddings 40960; 0.596e9
# bf16 parameters.
QWEN3_06B = _facts(
    "Qwen/Qwen3-0.6B", architecture="Qwen3ForCausalLM", num_layers=28, hidden_size=1024,
    num_attention_heads=16, num_kv_heads=8, head_dim=128, vocab_size=151936,
    max_position_embeddings=40960, weight_bytes=1_192_000_000, intermediate_size=3072,
)
# kaitchup/Phi-4-AutoRound-GPTQ-4bit: microsoft/phi-4 config.json (40 layers, hidden 5120, 40
# heads, 10 KV heads, head_dim 128, vocab 100352, intermediate 17920, untied lm_head,
# max_position_embeddings 16384) in GPTQ 4 bit, group 128: 13.63e9 linear parameters x
# (0.5 + 2.5 / 128) bytes + 2 x 100352 x 5120 x 2 bytes of 16-bit embeddings = 9.15e9 (the log
# prints "Loading model weights took 8.5107 GB", 9.14e9 bytes).
PHI4_GPTQ = _facts(
    "kaitchup/Phi-4-AutoRound-GPTQ-4bit", architecture="Phi3ForCausalLM", num_layers=40,
    hidden_size=5120, num_attention_heads=40, num_kv_heads=10, head_dim=128,
    vocab_size=100352, max_position_embeddings=16384, weight_bytes=9_150_000_000,
    intermediate_size=17920, checkpoint_quantization="gptq",
)
# Qwen/Qwen3-14B config.json: 40 layers, hidden 5120, 40 heads, 8 KV heads, head_dim 128,
# vocab 151936 (untied lm_head), intermediate 17408, max_position_embeddings 40960; 14.77e9
# bf16 parameters.
QWEN3_14B = _facts(
    "Qwen/Qwen3-14B", architecture="Qwen3ForCausalLM", num_layers=40, hidden_size=5120,
    num_attention_heads=40, num_kv_heads=8, head_dim=128, vocab_size=151936,
    max_position_embeddings=40960, weight_bytes=29_540_000_000, intermediate_size=17408,
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
    # ---- added in the second pass; every one held out (role fixed before comparing) ----
    LogCase(
        "Llama-3.1-8B fp16, A100 40GB, vLLM 0.10.1.1 V1, defaults",
        "vllm", "public notebook, 'install vLLM / sample log' (find_string id 46454478915), "
        "2025-08-27",
        "held_out", LLAMA_31_8B, "A100-40GB", "0.10.1.1", 157_648,
        assumptions=(
            "version and flags from the log ('vLLM API server version 0.10.1.1', non-default "
            "args only --dtype float16; max model len 131072, max_num_batched_tokens=2048); GPU "
            "not named: 14.99 GiB of weights + 19.25 GiB of KV at utilization 0.9 only add up "
            "on a ~39.4 GiB card, the A100 40GB"
        ),
    ),
    LogCase(
        "Qwen3-8B-FP8 (--dtype float16), 24 GB GPU, vLLM 0.10.2 V1, util 0.8, max-model-len 1024",
        "vllm", "public notes 'vllm serve Qwen3-8B-FP8' (find_string id 34681159919), "
        "2025-09-28",
        "held_out", QWEN3_8B_FP8, "RTX-4090", "0.10.2", 62_608, torch_total_gib=23.53,
        flags=(("gpu_memory_utilization", 0.8), ("max_model_len", 1024)),
        assumptions=(
            "the log prints 'Free memory on device (23.08/23.53 GiB)': a 24 GB card (RTX 4090 "
            "row for its driver reservation); version from the date and the log format"
        ),
    ),
    LogCase(
        "DeepSeek-R1-Distill-Qwen-14B, 2x RTX 4090, vLLM 0.7.2 V0, util 0.98",
        "vllm", "https://github.com/vllm-project/vllm/issues/13061",
        "tuned", R1_DISTILL_QWEN_14B, "RTX-4090", "0.7.2", 81_536, tensor_parallel=2,
        flags=(("gpu_memory_utilization", 0.98),),
        assumptions=(
            "version from the issue date (2025-02-11, V0 log lines 'model_runner.py:1115'); "
            "default max_model_len 131072 (the log's error message). Added as held out; made "
            "tuned once its printed non-torch memory (0.25 GiB at tp 2) set "
            "vllm_memory.NCCL_BYTES_PER_SHARD, so it no longer counts as held out"
        ),
    ),
    LogCase(
        "Hermes-3-Llama-3.1-8B, 24 GB GPU, vLLM ~0.13 V1, util 0.85, max-model-len 16384",
        "vllm", "public project notes 'Hermes-3-Llama-3.1-8B' (find_string id 1568249311), "
        "2026-01-02",
        "held_out", LLAMA_31_8B, "RTX-4090", "0.13.0", 30_960,
        flags=(("gpu_memory_utilization", 0.85), ("max_model_len", 16384)),
        assumptions=(
            "the notes say '85% of GPU memory (20GB / 24GB)': a 24 GB card (RTX 4090 row); "
            "version taken as 0.13 from the date (a Llama 3.1 8B fine-tune, same shapes)"
        ),
    ),
    LogCase(
        "rho-1b (TinyLlama 1.1B), H200, vLLM 0.6.4.post1 V0, util 0.90 (LLM class)",
        "vllm", "public research notes, run_oracle.sh log on h200 (find_string id "
        "54021851790), 2026-04-28",
        "held_out", RHO_1B, "H200", "0.6.4", 365_549 * 16, torch_total_gib=139.80,
        assumptions="engine config printed in full (v0.6.4.post1, max_seq_len 2048, bf16)",
    ),
    LogCase(
        "opt-125m, GTX 1080 8 GB (desktop), vLLM 0.6.4.post1 V0, defaults (LLM class)",
        "vllm", "public notes 'vllm quickstart' (find_string id 19719842090), 2024-12-06",
        "held_out", OPT_125M, "RTX-3090", "0.6.4", 11_422 * 16, torch_total_gib=7.92,
        assumptions=(
            "GTX 1080 (the same notes name it); its 7.92 GiB total is given, the RTX 3090 row "
            "only lends its driver reservation; the desktop (Xorg) holds ~0.2 GiB the model "
            "does not see"
        ),
    ),
    LogCase(
        "phi-1_5, GTX 1080 8 GB (desktop), vLLM 0.6.4.post1 V0, defaults (LLM class)",
        "vllm", "public notes 'test vllm' (find_string id 19400629813), 2024-12-06",
        "held_out", PHI_15, "RTX-3090", "0.6.4", 1_207 * 16, torch_total_gib=7.92,
        assumptions="as the opt-125m case (same machine and day)",
    ),
    LogCase(
        "Llama-3.2-1B fp16, GTX 1080 8 GB, vLLM 0.6.4.post1 V0, util 0.95, max-model-len 105088",
        "vllm", "public notes 'test vllm' (find_string id 19400629813), 2024-12-06",
        "held_out", LLAMA_32_1B, "RTX-3090", "0.6.4", 7_366 * 16, torch_total_gib=7.92,
        flags=(("gpu_memory_utilization", 0.95), ("max_model_len", 105088)),
        assumptions=(
            "as the opt-125m case; chunked prefill on by default above 32K, the log prints "
            "'max_num_batched_tokens=512'"
        ),
    ),
    LogCase(
        "Phi-4 GPTQ 4-bit, H100 80GB (79.25 GiB), vLLM 0.6.5 V0, util 0.15, max-model-len 2048",
        "vllm", "public notes 'Phi-4 quantization and inference speedup' (find_string id "
        "5773335890), 2024-12-22",
        "held_out", PHI4_GPTQ, "H100-80GB", "0.6.5", 715 * 16, torch_total_gib=79.25,
        flags=(("gpu_memory_utilization", 0.15), ("max_model_len", 2048)),
        assumptions=(
            "LLM class, flags from the script; version from the date and the log format "
            "('worker.py:241 ... the current vLLM instance can use'); the log prints "
            "non-torch 0.26 GiB and activation 0.94 GiB"
        ),
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
    # ---- added in the second pass; held out (role fixed before comparing) ----
    LogCase(
        "DeepSeek-R1-Distill-Qwen-7B, RTX 3090 (WSL2), SGLang ~0.4.2, defaults (0.88)",
        "sglang", "public README 'Local deployment of Deepseek-R1 with RTX3090/RTX4090' "
        "(find_string id 8893364747), 2025-02-04",
        "held_out", R1_DISTILL_QWEN_7B, "RTX-3090", "0.4.2", 105_531,
        assumptions=(
            "server_args printed in full (mem_fraction_static=0.88, tp 1); version from the "
            "date; Docker on WSL2 on a Windows desktop, whose display holds memory the model "
            "does not see (the log's 'avail mem=22.76 GB' before the weights)"
        ),
    ),
    LogCase(
        "Qwen3-4B, H100 80GB, SGLang 0.5.18, --mem-fraction-static 0.85, context 32768",
        "sglang", "public experiment report (Korean), 'SGLang 0.5.18 ... Qwen3-4B' "
        "(find_string id 63400963934)",
        "held_out", QWEN3_4B, "H100-80GB", "0.5.18", 430_067,
        flags=(("mem_fraction_static", 0.85), ("context_length", 32768)),
        assumptions="the report's table gives GPU, version, flags and the pool (K+V 29.53 GB)",
    ),
    LogCase(
        "Qwen3-0.6B, RTX 5080 16 GB, SGLang ~0.4.10 (Aug 2025), defaults",
        "sglang", "public README 'MinerU images for Blackwell' (find_string id 47444754202), "
        "2025-08-08",
        "held_out", QWEN3_06B, "RTX-4090", "0.4.10", 104_273, torch_total_gib=15.58,
        assumptions=(
            "nvidia-smi prints 16303 MiB (torch total taken as that less the RTX 4090 row's "
            "driver reservation); version from the date (0.4.8-0.5.2 share the default); "
            "no flags beyond the model"
        ),
    ),
    LogCase(
        "Qwen3-14B, 4x RTX 4090, SGLang (main, June 2026), tp 4, --mem-fraction-static 0.80",
        "sglang", "public project notes '项目A-v2-服务基线' (find_string id 55529353766), "
        "2026-06-14",
        "held_out", QWEN3_14B, "RTX-4090", "0.5.18", 298_447, tensor_parallel=4,
        flags=(("mem_fraction_static", 0.80),),
        assumptions=(
            "GPU, nvidia-smi total (24564 MiB), tp and flags from the notes; SGLang built "
            "from a June 2026 commit (taken as 0.5.18; the fraction is explicit)"
        ),
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
