"""Model facts from a Hugging Face ``config.json`` (already parsed into a dict).

`facts_from_config` understands nested ``text_config`` (Llava, Gemma 3, Mllama,
Qwen2-VL...), grouped-query attention, explicit ``head_dim``, falcon/starcoder
``multi_query``, mixture-of-experts counts, ``quantization_config``, ``auto_map`` and the
GPT-2/Falcon/BLOOM/MPT/ChatGLM spellings. DeepSeek-V2/V3 multi-head latent attention is
reported the way TGI caches it: TGI decompresses the latent KV and stores full K and V for
``num_key_value_heads`` heads of ``max(qk_nope_head_dim + qk_rope_head_dim, v_head_dim)``
(so ``kv_lora_rank`` does not shrink TGI's KV cache, unlike vLLM's MLA cache).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tgi_infra.capacity.compressed_tensors import read_scheme
from tgi_infra.capacity.errors import ModelFactsError
from tgi_infra.capacity.facts import FactsSource, ModelFacts

SIDECAR_MARKER = "_tgi_infra_read_from"
"""Key `weights.with_sidecar_quantization` adds to a quantization_config it folded in from a
file beside config.json: that file's name."""

#: Keys under which multimodal configs nest their language model's config.
TEXT_CONFIG_KEYS = ("text_config", "llm_config", "language_config")

#: transformers' config-class defaults for keys a config.json may leave out (it only
#: stores values that differ from the defaults, e.g. Llava's text_config, Gemma 3's).
_MODEL_TYPE_DEFAULTS: dict[str, dict[str, Any]] = {
    "llama": {
        "vocab_size": 32000,
        "hidden_size": 4096,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "max_position_embeddings": 2048,
    },
    "mistral": {
        "vocab_size": 32000,
        "hidden_size": 4096,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "max_position_embeddings": 131072,
    },
    "qwen2": {
        "vocab_size": 151936,
        "hidden_size": 4096,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 32,
        "max_position_embeddings": 32768,
    },
    "gemma": {
        "vocab_size": 256000,
        "hidden_size": 3072,
        "num_hidden_layers": 28,
        "num_attention_heads": 16,
        "num_key_value_heads": 16,
        "head_dim": 256,
        "max_position_embeddings": 8192,
    },
    "gemma2": {
        "vocab_size": 256000,
        "hidden_size": 2304,
        "num_hidden_layers": 26,
        "num_attention_heads": 8,
        "num_key_value_heads": 4,
        "head_dim": 256,
        "max_position_embeddings": 8192,
    },
    "gemma3_text": {
        "vocab_size": 262208,
        "hidden_size": 2304,
        "num_hidden_layers": 26,
        "num_attention_heads": 8,
        "num_key_value_heads": 4,
        "head_dim": 256,
        "max_position_embeddings": 131072,
    },
    "mllama_text_model": {
        "vocab_size": 128256,
        "hidden_size": 4096,
        "num_hidden_layers": 40,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "max_position_embeddings": 131072,
    },
    "phi3": {
        "vocab_size": 32064,
        "hidden_size": 3072,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "max_position_embeddings": 4096,
    },
    # ALiBi / rotary models whose configs carry no context length: what they were trained on.
    "bloom": {"max_position_embeddings": 2048},
    "falcon": {"max_position_embeddings": 2048},
    "RefinedWeb": {"max_position_embeddings": 2048},
    "RefinedWebModel": {"max_position_embeddings": 2048},
}

#: model_type values that TGI (or transformers itself) implements natively: for these an
#: ``auto_map`` in config.json is not needed to load the model, so no trust_remote_code.
NATIVE_MODEL_TYPES = frozenset(
    {
        "baichuan",
        "bloom",
        "cohere",
        "cohere2",
        "dbrx",
        "deepseek_v2",
        "deepseek_v3",
        "falcon",
        "gemma",
        "gemma2",
        "gemma3",
        "gemma3_text",
        "gpt2",
        "gpt_bigcode",
        "gpt_neox",
        "gptj",
        "granite",
        "granitemoe",
        "idefics",
        "idefics2",
        "idefics3",
        "llama",
        "llama4",
        "llama4_text",
        "llava",
        "llava_next",
        "mamba",
        "mistral",
        "mixtral",
        "mllama",
        "mpt",
        "olmo",
        "olmo2",
        "olmoe",
        "opt",
        "paligemma",
        "phi",
        "phi3",
        "phimoe",
        "qwen2",
        "qwen2_5_vl",
        "qwen2_moe",
        "qwen2_vl",
        "qwen3",
        "qwen3_moe",
        "stablelm",
        "starcoder2",
        "t5",
        "RefinedWeb",
        "RefinedWebModel",
    }
)

_LAYER_KEYS = ("num_hidden_layers", "n_layer", "n_layers", "num_layers")
_HIDDEN_KEYS = ("hidden_size", "n_embd", "n_embed", "d_model")
_HEAD_KEYS = ("num_attention_heads", "n_head", "n_heads", "num_heads")
_KV_HEAD_KEYS = ("num_key_value_heads", "num_kv_heads", "n_head_kv", "num_kv")
_HEAD_DIM_KEYS = ("head_dim", "kv_channels")
_VOCAB_KEYS = ("vocab_size", "padded_vocab_size", "n_vocab")
# max_position_embeddings / max_seq_len / n_positions first: the order TGI's launcher reads.
_MAX_POS_KEYS = (
    "max_position_embeddings",
    "max_seq_len",
    "n_positions",
    "max_sequence_length",
    "seq_length",
    "n_ctx",
    "max_seq_length",
    "model_max_length",
)
_INTERMEDIATE_KEYS = ("intermediate_size", "ffn_hidden_size", "n_inner", "ffn_dim")
_EXPERT_KEYS = ("num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts")

_DTYPE_NAMES = {
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
    "float32": "float32",
    "fp32": "float32",
    "float": "float32",
    "float8_e4m3fn": "float8_e4m3fn",
    "float8_e5m2": "float8_e5m2",
}


MAX_DIMENSION = 2**40
"""The largest layer count, width, head count, vocabulary or context a config.json may give;
beyond it the numbers overflow float arithmetic (1e300 parses as an integral float)."""


def _positive_int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, float) and value.is_integer() and value > 0:
        return int(value)
    return None


# transformers config classes whose `tie_word_embeddings` defaults to True (the key absent
# from config.json); every other family defaults to False (LlamaConfig, Qwen2Config, ...).
_TIED_BY_DEFAULT = frozenset({
    "gemma", "gemma2", "gemma3", "gemma3_text", "starcoder2", "gpt2", "gpt_bigcode", "opt",
    "bloom", "falcon", "cohere", "cohere2",
})


def _first_int(cfg: Mapping[str, Any], keys: tuple[str, ...]) -> int | None:
    for key in keys:
        value = _positive_int(cfg.get(key))
        if value is not None:
            return value
    return None


def _normalize_dtype(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    name = value.strip().lower().removeprefix("torch.")
    if name in ("", "auto"):
        return None
    return _DTYPE_NAMES.get(name, name)


def text_config_of(config: Mapping[str, Any]) -> Mapping[str, Any]:
    """The language model's config: the nested text config of a multimodal model, or {}."""
    for key in TEXT_CONFIG_KEYS:
        sub = config.get(key)
        if isinstance(sub, Mapping) and sub:
            return sub
    return {}


def _merged_config(config: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Top-level keys overlaid by the text config's, None values dropped."""
    text = text_config_of(config)
    model_type = text.get("model_type") or config.get("model_type")
    merged = {k: v for k, v in config.items() if v is not None and k not in TEXT_CONFIG_KEYS}
    merged.update({k: v for k, v in text.items() if v is not None})
    return merged, (str(model_type) if model_type else None)


def facts_from_config(
    config: Mapping[str, Any],
    *,
    model_id: str,
    source: FactsSource,
    weight_bytes: int,
    revision: str | None = None,
    license: str | None = None,
    gated: bool | str | None = None,
) -> ModelFacts:
    """Model facts from a parsed ``config.json`` and the checkpoint's size in bytes."""
    if not isinstance(config, Mapping):
        raise ModelFactsError(
            f"config.json of {model_id} is not a JSON object; add a modelSpec to the tier.",
            model_id=model_id,
            revision=revision,
            fallback_ok=False,
        )
    merged, model_type = _merged_config(config)
    defaults = _MODEL_TYPE_DEFAULTS.get(str(model_type), {})

    def pick(keys: tuple[str, ...]) -> int | None:
        # Any spelling the config uses beats transformers' default for the first spelling.
        return _first_int(merged, keys) or _first_int(defaults, keys)

    def need(keys: tuple[str, ...], what: str, spec_key: str) -> int:
        value = pick(keys)
        if value is None:
            raise ModelFactsError(
                f"config.json of {model_id} has no {what} (looked for {', '.join(keys)}); "
                f"add a modelSpec with {spec_key} to the tier.",
                model_id=model_id,
                revision=revision,
                fallback_ok=False,
            )
        return value

    num_layers = need(_LAYER_KEYS, "layer count", "numLayers")
    hidden_size = need(_HIDDEN_KEYS, "hidden size", "hiddenSize")
    heads = need(_HEAD_KEYS, "attention head count", "numAttentionHeads")
    vocab_size = need(_VOCAB_KEYS, "vocabulary size", "vocabSize")
    max_pos = need(_MAX_POS_KEYS, "context length", "maxPositionEmbeddings")

    kv_heads: int | None
    if _positive_int(merged.get("kv_lora_rank")) is not None:
        # DeepSeek-V2/V3 MLA as TGI caches it: decompressed K and V, padded to one size.
        kv_heads = pick(("num_key_value_heads",)) or heads
        qk = (_positive_int(merged.get("qk_nope_head_dim")) or 0) + (
            _positive_int(merged.get("qk_rope_head_dim")) or 0
        )
        head_dim = max(qk, _positive_int(merged.get("v_head_dim")) or 0) or hidden_size // heads
    else:
        kv_heads = _first_int(merged, _KV_HEAD_KEYS)
        if kv_heads is None and merged.get("multi_query_attention"):  # ChatGLM
            kv_heads = _first_int(merged, ("multi_query_group_num",))
        attn_config = merged.get("attn_config")
        if kv_heads is None and isinstance(attn_config, Mapping):  # MPT
            kv_heads = _first_int(attn_config, ("kv_n_heads",))
        if kv_heads is None and merged.get("multi_query"):  # falcon-7b, starcoder
            kv_heads = 1
        if kv_heads is None:
            kv_heads = _first_int(defaults, _KV_HEAD_KEYS) or heads
        head_dim = pick(_HEAD_DIM_KEYS) or hidden_size // heads
    assert kv_heads is not None
    if head_dim < 1:  # no explicit head_dim, and more heads than hidden units
        raise ModelFactsError(
            f"config.json of {model_id}: hidden size {hidden_size} over {heads} attention "
            "heads leaves no head dimension; fix num_attention_heads, or add a modelSpec "
            "with headDim to the tier.",
            model_id=model_id,
            revision=revision,
            fallback_ok=False,
        )

    experts = _first_int(merged, _EXPERT_KEYS)
    ffn_config = merged.get("ffn_config")
    if experts is None and isinstance(ffn_config, Mapping):  # DBRX
        experts = _first_int(ffn_config, ("moe_num_experts",))
    if experts is not None and experts < 2:
        experts = None
    # MLP width, per expert for MoE (Qwen-MoE/DeepSeek keep the dense width apart).
    intermediate = None
    if experts is not None:
        intermediate = _first_int(merged, ("moe_intermediate_size",))
    if intermediate is None:
        intermediate = _first_int(merged, _INTERMEDIATE_KEYS)
    if intermediate is None and isinstance(ffn_config, Mapping):  # DBRX
        intermediate = _first_int(ffn_config, ("ffn_hidden_size",))

    quant = merged.get("quantization_config")
    if not isinstance(quant, Mapping) and isinstance(merged.get("compression_config"), Mapping):
        # Older compressed-tensors exports: all three engines read this key when
        # quantization_config is absent (vLLM/SGLang `_parse_quant_hf_config`, TGI get_model).
        quant = {"quant_method": "compressed-tensors", **merged["compression_config"]}
    quant_method = checkpoint_format = quantization_file = scheme = None
    details: dict[str, Any] = {}
    if isinstance(quant, Mapping):
        quantization_file = str(quant.get(SIDECAR_MARKER) or "config.json")
        details = _quant_details(quant)
        method = quant.get("quant_method") or quant.get("quant_type")
        if isinstance(method, str) and method:
            quant_method = method.strip().lower()
        elif quant.get("load_in_4bit") or quant.get("load_in_8bit"):
            quant_method = "bitsandbytes"
        fmt = quant.get("checkpoint_format")
        if isinstance(fmt, str) and fmt:
            checkpoint_format = fmt.strip().lower()
        if quant_method in ("compressed-tensors", "compressed_tensors"):
            scheme = read_scheme(quant)

    rope = merged.get("rope_scaling") or merged.get("rope_parameters")
    rope_type = rope_factor = None
    rope_original = False
    if isinstance(rope, Mapping):
        rope_original = "original_max_position_embeddings" in rope
        kind = rope.get("rope_type") or rope.get("type")
        rope_type = str(kind) if kind else None
        factor = rope.get("factor")
        rope_factor = float(factor) if isinstance(factor, int | float) else None

    tied = merged.get("tie_word_embeddings")
    tie_word_embeddings = tied if isinstance(tied, bool) else model_type in _TIED_BY_DEFAULT

    dtype = _normalize_dtype(merged.get("torch_dtype")) or _normalize_dtype(merged.get("dtype"))

    architectures = config.get("architectures") or text_config_of(config).get("architectures")
    if isinstance(architectures, list) and architectures and isinstance(architectures[0], str):
        architecture = architectures[0]
    else:
        architecture = model_type or "unknown"

    auto_map = config.get("auto_map") or text_config_of(config).get("auto_map")
    trust_remote_code = bool(auto_map) and (model_type not in NATIVE_MODEL_TYPES)

    if isinstance(weight_bytes, bool) or not isinstance(weight_bytes, int) or weight_bytes <= 0:
        raise ModelFactsError(
            f"weight size of {model_id} is unknown ({weight_bytes!r}); add a modelSpec with "
            "weightBytes to the tier.",
            model_id=model_id,
            revision=revision,
        )

    sizes = {"num_hidden_layers": num_layers, "hidden_size": hidden_size,
             "num_attention_heads": heads, "num_key_value_heads": kv_heads, "head_dim": head_dim,
             "vocab_size": vocab_size, "max_position_embeddings": max_pos,
             "num_experts": experts, "intermediate_size": intermediate}  # fmt: skip
    for key, size in sizes.items():
        if size is not None and size > MAX_DIMENSION:
            raise ModelFactsError(
                f"config.json of {model_id}: {key} is {size}, above {MAX_DIMENSION} (no "
                "model is that large; the config is corrupt); fix it, or add a modelSpec to "
                "the tier.",
                model_id=model_id,
                revision=revision,
                fallback_ok=False,
            )

    return ModelFacts(
        model_id=model_id,
        source=source,
        architecture=architecture,
        num_layers=num_layers,
        hidden_size=hidden_size,
        num_attention_heads=heads,
        num_kv_heads=kv_heads,
        head_dim=head_dim,
        vocab_size=vocab_size,
        max_position_embeddings=max_pos,
        weight_bytes=weight_bytes,
        torch_dtype=dtype or "bfloat16",
        checkpoint_quantization=quant_method,
        checkpoint_format=checkpoint_format,
        quantization_file=quantization_file if quant_method else None,
        **details,
        num_experts=experts,
        intermediate_size=intermediate,
        tie_word_embeddings=tie_word_embeddings,
        trust_remote_code=trust_remote_code,
        rope_scaling_type=rope_type,
        rope_scaling_factor=rope_factor,
        rope_scaling_has_original_max=rope_original,
        license=license,
        gated=gated,
        revision=revision,
        model_type=str(config.get("model_type") or model_type or "") or None,
        compressed_tensors=scheme,
    )


def _quant_details(quant: Mapping[str, Any]) -> dict[str, Any]:
    """GPTQ/AWQ settings of a quantization config, under their AutoGPTQ/AutoAWQ names."""

    def whole(*keys: str) -> int | None:
        for key in keys:
            value = quant.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        return None

    def flag(key: str) -> bool | None:
        value = quant.get(key)
        return value if isinstance(value, bool) else None

    return {
        "quant_bits": whole("bits", "w_bit"),
        "quant_group_size": whole("group_size", "q_group_size"),
        "quant_sym": flag("sym"),
        "quant_desc_act": flag("desc_act"),
        "quant_zero_point": flag("zero_point"),
    }
