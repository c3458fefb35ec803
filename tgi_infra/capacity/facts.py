"""Model facts: the few numbers about a model that capacity planning needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tgi_infra.capacity.compressed_tensors import CompressedTensorsScheme

FactsSource = Literal["hub", "local", "catalog", "modelSpec"]


@dataclass(frozen=True)
class ModelFacts:
    """Architecture and size of one model, wherever they were read from.

    ``weight_bytes`` is the size of the checkpoint as stored (safetensors total size),
    in the checkpoint's own dtype or quantization.
    """

    model_id: str
    source: FactsSource
    architecture: str
    num_layers: int
    hidden_size: int
    num_attention_heads: int
    num_kv_heads: int
    head_dim: int
    vocab_size: int
    max_position_embeddings: int
    weight_bytes: int
    torch_dtype: str = "bfloat16"
    # quant_method of the checkpoint's quantization_config (awq, gptq, fp8, compressed-tensors...)
    checkpoint_quantization: str | None = None
    num_experts: int | None = None
    # MLP width (config.json ``intermediate_size``; per expert for MoE). The memory model
    # sizes the warmup prefill's activations from it; None falls back to 3.5 x hidden_size.
    intermediate_size: int | None = None
    # config.json ``tie_word_embeddings``: lm_head shares embed_tokens' matrix in the
    # checkpoint (stored once). TGI still loads it twice (memory.py); vLLM and SGLang share it.
    tie_word_embeddings: bool = False
    trust_remote_code: bool = False
    # config.json rope_scaling (or rope_parameters): type and factor, which vLLM multiplies
    # into the derived max_model_len for some rope types (engines/vllm/rules.py).
    rope_scaling_type: str | None = None
    rope_scaling_factor: float | None = None
    rope_scaling_has_original_max: bool = False  # rope_scaling.original_max_position_embeddings
    license: str | None = None
    gated: bool | str | None = None
    revision: str | None = None
    # Set when the facts are a fallback (e.g. the shipped catalog because the Hub could not
    # be asked): why the preferred source failed, one line.
    fallback_reason: str | None = None
    # quantization_config.checkpoint_format (gptq: "gptq", "marlin", "marlin_24"): which
    # tensors a GPTQ checkpoint stores, which TGI's loaders tell apart.
    checkpoint_format: str | None = None
    # Where the quantization was read: "config.json", or the file beside it that holds it
    # (quantize_config.json, quant_config.json, hf_quant_config.json); None when the facts
    # were not read from the checkpoint (catalog, modelSpec) or it is not quantized. vLLM,
    # SGLang and TGI auto-detect only config.json's (vLLM/SGLang also hf_quant_config.json).
    quantization_file: str | None = None
    # GPTQ/AWQ settings as the quantization config states them (None: not stated, or not
    # read): whether Marlin kernels can run the checkpoint depends on them.
    quant_bits: int | None = None
    quant_group_size: int | None = None
    quant_sym: bool | None = None
    quant_desc_act: bool | None = None
    quant_zero_point: bool | None = None
    # config.json's top-level `model_type` (None when not read from a config.json): what
    # the engines key per-model rules on, e.g. vLLM's float16 refusals.
    model_type: str | None = None
    # A compressed-tensors checkpoint's format, status and config_groups as written (None:
    # not compressed-tensors, or not read from a config.json); the engines judge the scheme.
    compressed_tensors: CompressedTensorsScheme | None = None

    @property
    def weight_gib(self) -> float:
        return self.weight_bytes / 2**30
