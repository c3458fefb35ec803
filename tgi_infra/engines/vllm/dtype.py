"""vLLM 0.34.0's dtype rules, read from the wheel.

- ``config/model.py`` ``_FLOAT16_NOT_SUPPORTED_MODELS`` and ``_check_valid_dtype``: a float16
  dtype on these model types is refused; ``_resolve_auto_dtype``: ``auto`` keeps the
  checkpoint's dtype when the GPU supports it, else the first supported one (for these
  model types float16 is filtered out, so below compute 8.0 that is float32).
- ``platforms/cuda.py`` ``supported_dtypes`` (bfloat16 from compute 8.0) and
  ``check_if_supports_dtype``, called by the GPU worker: bfloat16 below 8.0 is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tgi_infra.problems import Problem

if TYPE_CHECKING:
    from tgi_infra.capacity.catalog import Gpu
    from tgi_infra.capacity.facts import ModelFacts
    from tgi_infra.config.models import TierConfig

CHECK = "vllm-dtype"
GPU_CHECK = "vllm-dtype-gpu"
INSTABILITY = "Numerical instability. Please use bfloat16 or float32 instead."
FLOAT16_NOT_SUPPORTED: dict[str, str] = {
    "gemma2": INSTABILITY,
    "gemma3": INSTABILITY,
    "gemma3_text": INSTABILITY,
    "glm4": INSTABILITY,
}
# Their model_type by architecture, for facts not read from a config.json (catalog, modelSpec).
MODEL_TYPE_OF_ARCHITECTURE = {
    "Gemma2ForCausalLM": "gemma2",
    "Gemma3ForConditionalGeneration": "gemma3",
    "Gemma3ForCausalLM": "gemma3_text",
    "Glm4ForCausalLM": "glm4",
}
FLOAT16_NAMES = frozenset({"half", "float16"})
BFLOAT16_NAMES = frozenset({"bfloat16"})
CHECKPOINT_BFLOAT16 = frozenset({"bfloat16", "bf16"})


def model_type(facts: ModelFacts) -> str | None:
    return facts.model_type or MODEL_TYPE_OF_ARCHITECTURE.get(facts.architecture)


def check_dtype(tier: TierConfig, facts: ModelFacts) -> list[Problem]:
    """``--dtype half`` on a model type vLLM keeps out of float16 (no GPU involved)."""
    kind = model_type(facts)
    dtype = (tier.dtype or "auto").lower()
    if dtype not in FLOAT16_NAMES or kind not in FLOAT16_NOT_SUPPORTED:
        return []
    return [
        Problem(
            f"tiers[{tier.name}].dtype",
            f"vLLM: The model type {kind!r} does not support float16. Reason: "
            f"{FLOAT16_NOT_SUPPORTED[kind]} ({facts.model_id}, dtype {tier.dtype}).",
            "set dtype bfloat16 (compute capability 8.0+) or float32, or leave it unset.",
            CHECK,
        )
    ]


def check_dtype_on_gpu(tier: TierConfig, facts: ModelFacts, gpu: Gpu) -> list[Problem]:
    """bfloat16 below compute 8.0 (refused), and ``auto`` falling back to float32 there."""
    if gpu.compute_capability_tuple >= (8, 0) or check_dtype(tier, facts):
        return []
    dtype = (tier.dtype or "auto").lower()
    path = f"tiers[{tier.name}].dtype"
    if dtype in BFLOAT16_NAMES:
        return [
            Problem(
                path,
                "vLLM: Bfloat16 is only supported on GPUs with compute capability of at least "
                f"8.0. Your {gpu.product_name} GPU has compute capability "
                f"{gpu.compute_capability}. You can use float16 instead by explicitly setting "
                "the `dtype` flag in CLI, for example: --dtype=half.",
                "set dtype half (or leave it unset: vLLM then picks float16 here), or use a "
                "GPU of compute capability 8.0+.",
                GPU_CHECK,
            )
        ]
    if dtype == "auto" and serves_float32(facts, dtype, gpu):
        return [
            Problem(
                path,
                f"vLLM: the {gpu.name} has no bfloat16 and {model_type(facts)} may not run in "
                "float16, so vLLM falls back to float32 ('Your device ... doesn't support "
                "torch.bfloat16. "
                "Falling back to torch.float32 for compatibility.'): the weights and the KV "
                "cache take twice their 16-bit size (the memory plan counts it).",
                "serve it on a GPU of compute capability 8.0+, or plan it with dtype float32.",
                GPU_CHECK,
                "warning",
            )
        ]
    return []


def serves_float32(facts: ModelFacts, dtype: str | None, gpu: Gpu) -> bool:
    """Whether vLLM runs the weights (and an ``auto`` KV cache) in float32: ``--dtype
    float32``, or ``auto`` for a bfloat16 checkpoint of a float16-refusing model type on a
    GPU below compute 8.0 (`_resolve_auto_dtype`)."""
    value = (dtype or "auto").lower()
    if value in ("float32", "float"):
        return True
    stored = (facts.torch_dtype or "").lower()
    return (
        value == "auto"
        and gpu.compute_capability_tuple < (8, 0)
        and model_type(facts) in FLOAT16_NOT_SUPPORTED
        and stored in CHECKPOINT_BFLOAT16
    )
