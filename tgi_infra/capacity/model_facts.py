"""Model facts: read the numbers capacity planning needs from wherever they can be had.

Sources, in the order `resolve_model_facts` tries them:

1. an explicit ``modelSpec`` (a dict with camelCase or snake_case keys);
2. a local directory, when ``model_id`` is one (``config.json`` plus safetensors headers);
3. the Hugging Face Hub through ``huggingface_hub``, at the pinned revision: ``config.json``,
   the safetensors index (or headers) for the weight size, ``model_info`` for license and
   gating. Offline (``HF_HUB_OFFLINE=1`` or ``offline=True``) only the local HF cache is
   read, never the network;
4. the catalog shipped in ``data/models.yaml``, when the Hub could not answer (offline,
   unreachable, gated without access); ``ModelFacts.fallback_reason`` says why.

Every failure is a `ModelFactsError` with a one-line message that names the model, the
revision and what to do; no Hub call can hang (short per-request timeouts and an overall
deadline).

Config parsing (`facts_from_config`) understands nested ``text_config`` (Llava, Gemma 3,
Mllama, Qwen2-VL...), grouped-query attention, explicit ``head_dim``, falcon/starcoder
``multi_query``, mixture-of-experts counts, ``quantization_config``, ``auto_map`` and the
GPT-2/Falcon/BLOOM/MPT/ChatGLM spellings. DeepSeek-V2/V3 multi-head latent attention is
reported the way TGI caches it: TGI decompresses the latent KV and stores full K and V for
``num_key_value_heads`` heads of ``max(qk_nope_head_dim + qk_rope_head_dim, v_head_dim)``
(so ``kv_lora_rank`` does not shrink TGI's KV cache, unlike vLLM's MLA cache).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import struct
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any, TypeVar

import yaml

from tgi_infra.capacity.facts import FactsSource, ModelFacts

log = logging.getLogger(__name__)

#: Seconds each Hub request may take before it is abandoned.
HUB_REQUEST_TIMEOUT_S = 10.0
#: Seconds all Hub requests for one model may take together.
HUB_TOTAL_TIMEOUT_S = 30.0

T = TypeVar("T")


class ModelFactsError(Exception):
    """Model facts could not be read. ``str(exc)`` is one line: what failed and what to do.

    ``fallback_ok`` is False for errors a fallback must not hide (a revision that does not
    exist, a malformed config): TGI would fail on them too.
    """

    def __init__(
        self,
        message: str,
        *,
        model_id: str | None = None,
        revision: str | None = None,
        fallback_ok: bool = True,
    ):
        self.message = _one_line(message)
        self.model_id = model_id
        self.revision = revision
        self.fallback_ok = fallback_ok
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


def _one_line(text: str, limit: int = 600) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


# ============================================================================ config.json

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


def _positive_int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, float) and value.is_integer() and value > 0:
        return int(value)
    return None


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
    quant_method = None
    if isinstance(quant, Mapping):
        method = quant.get("quant_method") or quant.get("quant_type")
        if isinstance(method, str) and method:
            quant_method = method.strip().lower()
        elif quant.get("load_in_4bit") or quant.get("load_in_8bit"):
            quant_method = "bitsandbytes"

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
        num_experts=experts,
        intermediate_size=intermediate,
        trust_remote_code=trust_remote_code,
        license=license,
        gated=gated,
        revision=revision,
    )


# ============================================================================ safetensors

#: Bytes per element of each safetensors dtype (sub-byte dtypes are packed in U8 tensors).
SAFETENSORS_DTYPE_BYTES: dict[str, int] = {
    "F64": 8,
    "F32": 4,
    "F16": 2,
    "BF16": 2,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "F8_E8M0": 1,
    "I64": 8,
    "I32": 4,
    "I16": 2,
    "I8": 1,
    "U64": 8,
    "U32": 4,
    "U16": 2,
    "U8": 1,
    "BOOL": 1,
    "C64": 8,
}
_SAFETENSORS_DTYPE_TORCH = {
    "F64": "float64",
    "F32": "float32",
    "F16": "float16",
    "BF16": "bfloat16",
    "F8_E4M3": "float8_e4m3fn",
    "F8_E5M2": "float8_e5m2",
}
#: The safetensors format caps the JSON header at 100 MB.
MAX_SAFETENSORS_HEADER = 100_000_000


@dataclass(frozen=True)
class SafetensorsSummary:
    """What a safetensors header says about its tensors, without reading them."""

    path: str
    tensor_count: int
    tensor_bytes: int
    bytes_by_dtype: Mapping[str, int]
    metadata: Mapping[str, str]


def read_safetensors_header(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON header of a ``.safetensors`` file (8-byte little-endian length, then JSON)."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise ModelFactsError(f"{p} is not a safetensors file (shorter than 8 bytes).")
            if head.startswith(b"version "):
                raise ModelFactsError(
                    f"{p} is a Git LFS pointer, not the weights; run `git lfs pull` or "
                    "download the file with `hf download`."
                )
            (length,) = struct.unpack("<Q", head)
            if length == 0 or length > MAX_SAFETENSORS_HEADER:
                raise ModelFactsError(
                    f"{p} is not a safetensors file (header length {length} is out of range)."
                )
            raw = fh.read(length)
    except OSError as exc:
        raise ModelFactsError(f"cannot read {p}: {exc.strerror or exc}.") from exc
    if len(raw) < length:
        raise ModelFactsError(f"{p} is truncated (header of {length} bytes, {len(raw)} read).")
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFactsError(f"{p} has a corrupt safetensors header: {exc}.") from exc
    if not isinstance(header, dict):
        raise ModelFactsError(f"{p} has a corrupt safetensors header (not a JSON object).")
    return header


def summarize_safetensors(path: str | os.PathLike[str]) -> SafetensorsSummary:
    """Count a safetensors file's tensors and their bytes from its header alone."""
    header = read_safetensors_header(path)
    total = 0
    count = 0
    by_dtype: dict[str, int] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, Mapping):
            raise ModelFactsError(f"{path}: tensor {name!r} has no dtype/shape entry.")
        dtype = str(info.get("dtype", ""))
        offsets = info.get("data_offsets")
        if isinstance(offsets, list | tuple) and len(offsets) == 2:
            size = int(offsets[1]) - int(offsets[0])
        elif dtype in SAFETENSORS_DTYPE_BYTES and isinstance(info.get("shape"), list):
            size = math.prod(int(d) for d in info["shape"]) * SAFETENSORS_DTYPE_BYTES[dtype]
        else:
            raise ModelFactsError(
                f"{path}: tensor {name!r} has neither data_offsets nor a known dtype ({dtype!r})."
            )
        if size < 0:
            raise ModelFactsError(f"{path}: tensor {name!r} has negative data_offsets.")
        total += size
        count += 1
        by_dtype[dtype] = by_dtype.get(dtype, 0) + size
    metadata = header.get("__metadata__")
    return SafetensorsSummary(
        path=str(path),
        tensor_count=count,
        tensor_bytes=total,
        bytes_by_dtype=by_dtype,
        metadata=dict(metadata) if isinstance(metadata, Mapping) else {},
    )


def _dominant_float_dtype(by_dtype: Mapping[str, int]) -> str | None:
    floats = {k: v for k, v in by_dtype.items() if k in _SAFETENSORS_DTYPE_TORCH}
    if not floats:
        return None
    return _SAFETENSORS_DTYPE_TORCH[max(floats, key=lambda k: floats[k])]


# ============================================================================ local directory


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelFactsError(f"{path} is missing: {what}.", fallback_ok=False) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelFactsError(f"cannot read {path}: {exc}.", fallback_ok=False) from exc
    except json.JSONDecodeError as exc:
        raise ModelFactsError(f"{path} is not valid JSON ({exc}).", fallback_ok=False) from exc


def _index_total_size(index: Any) -> int | None:
    if not isinstance(index, Mapping):
        return None
    metadata = index.get("metadata")
    if isinstance(metadata, Mapping):
        return _positive_int(metadata.get("total_size"))
    return None


def _local_weights(directory: Path) -> tuple[int, dict[str, int]]:
    """(weight bytes, bytes per safetensors dtype of the headers read) for a model dir."""
    by_dtype: dict[str, int] = {}

    def add(summary: SafetensorsSummary) -> int:
        for k, v in summary.bytes_by_dtype.items():
            by_dtype[k] = by_dtype.get(k, 0) + v
        return summary.tensor_bytes

    single = directory / "model.safetensors"
    index_path = directory / "model.safetensors.index.json"
    if single.is_file():
        return add(summarize_safetensors(single)), by_dtype
    if index_path.is_file():
        index = _read_json(index_path, "the safetensors index")
        shards = (
            sorted({str(v) for v in (index.get("weight_map") or {}).values()})
            if isinstance(index, Mapping)
            else []
        )
        total = _index_total_size(index)
        present = [directory / s for s in shards if (directory / s).is_file()]
        if total is not None:
            if present:  # the first header is enough to learn the dtype
                add(summarize_safetensors(present[0]))
            return total, by_dtype
        missing = [s for s in shards if not (directory / s).is_file()]
        if not shards or missing:
            raise ModelFactsError(
                f"{index_path} has no metadata.total_size and shards are missing "
                f"({', '.join(missing[:3]) or 'empty weight_map'}); add modelSpec.weightBytes."
            )
        return sum(add(summarize_safetensors(p)) for p in present), by_dtype
    candidates = sorted(directory.glob("*.safetensors"))
    others = [p for p in candidates if not p.name.startswith("consolidated")]
    chosen = others or candidates  # Mistral repos ship consolidated.* beside the HF shards
    if not chosen:
        raise ModelFactsError(
            f"{directory} has no safetensors weights (model.safetensors, an index, or "
            "*.safetensors); convert the checkpoint to safetensors or add "
            "modelSpec.weightBytes."
        )
    return sum(add(summarize_safetensors(p)) for p in chosen), by_dtype


def _legacy_quantization(directory: Path, config: Mapping[str, Any]) -> Mapping[str, Any]:
    """Older GPTQ/AWQ exports keep their settings beside config.json, not inside it."""
    if isinstance(config.get("quantization_config"), Mapping):
        return config
    for name, method in (("quantize_config.json", "gptq"), ("quant_config.json", "awq")):
        path = directory / name
        if path.is_file():
            extra = _read_json(path, "the quantization settings")
            qc = dict(extra) if isinstance(extra, Mapping) else {}
            qc.setdefault("quant_method", method)
            return {**config, "quantization_config": qc}
    return config


def facts_from_local_dir(path: str | os.PathLike[str]) -> ModelFacts:
    """Facts of a model saved on disk: ``config.json`` plus the safetensors headers."""
    directory = Path(path).expanduser()
    if not directory.is_dir():
        raise ModelFactsError(f"{directory} is not a model directory.", fallback_ok=False)
    model_id = str(path)
    config = _read_json(directory / "config.json", "a model directory needs its config.json")
    if not isinstance(config, Mapping):
        raise ModelFactsError(
            f"{directory / 'config.json'} is not a JSON object.", fallback_ok=False
        )
    config = _legacy_quantization(directory, config)
    weight_bytes, by_dtype = _local_weights(directory)
    facts = facts_from_config(config, model_id=model_id, source="local", weight_bytes=weight_bytes)
    merged, _ = _merged_config(config)
    declared = _normalize_dtype(merged.get("torch_dtype")) or _normalize_dtype(merged.get("dtype"))
    if declared is None:
        stored = _dominant_float_dtype(by_dtype)
        if stored:
            facts = replace(facts, torch_dtype=stored)
    return facts


# ============================================================================ Hub


def _env_offline() -> bool:
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    if value.strip().lower() in ("1", "on", "yes", "true"):
        return True
    try:
        from huggingface_hub import constants
    except ImportError:  # pragma: no cover - huggingface_hub is a dependency
        return False
    return bool(constants.HF_HUB_OFFLINE)


def _call_with_deadline(fn: Callable[[], T], seconds: float) -> T:
    """Run ``fn`` in a daemon thread; give up (TimeoutError) after ``seconds``."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc

    worker = threading.Thread(target=run, name="tgi-infra-hub", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise TimeoutError(f"no answer from the Hub within {seconds:g} s")
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value


def _hf_cache_dir(cache_dir: str | os.PathLike[str] | None) -> str:
    if cache_dir is not None:
        return str(cache_dir)
    try:
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)
    except ImportError:  # pragma: no cover
        return "~/.cache/huggingface/hub"


def _card_license(info: Any) -> str | None:
    card = getattr(info, "card_data", None)
    lic: Any = None
    name: Any = None
    if card is not None:
        data = card.to_dict() if hasattr(card, "to_dict") else dict(card)
        lic = data.get("license")
        name = data.get("license_name")
    if isinstance(lic, list):
        lic = ", ".join(str(x) for x in lic)
    if lic == "other" and name:
        return str(name)
    if lic:
        return str(lic)
    for tag in getattr(info, "tags", None) or ():
        if isinstance(tag, str) and tag.startswith("license:"):
            return tag.split(":", 1)[1]
    return None


def _hub_weight_bytes(
    model_id: str, revision: str, token: str | None, cache_dir: str | None, offline: bool
) -> int:
    from huggingface_hub import HfApi, hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, NotASafetensorsRepoError

    def download(filename: str) -> str:
        return hf_hub_download(
            model_id,
            filename,
            revision=revision,
            cache_dir=cache_dir,
            token=token,
            local_files_only=offline,
            etag_timeout=HUB_REQUEST_TIMEOUT_S,
        )

    try:
        index = _read_json(Path(download("model.safetensors.index.json")), "the index")
        total = _index_total_size(index)
        if total is not None:
            return total
    except EntryNotFoundError:  # not sharded, or (offline) not cached
        pass
    if offline:
        try:
            return summarize_safetensors(download("model.safetensors")).tensor_bytes
        except EntryNotFoundError as exc:
            raise ModelFactsError(
                f"model {model_id!r} at revision {revision!r}: config.json is in the HF cache "
                "but neither model.safetensors.index.json nor model.safetensors is, so the "
                f"weight size is unknown offline; run `hf download {model_id} "
                f"model.safetensors.index.json --revision {revision}` or add "
                "modelSpec.weightBytes.",
                model_id=model_id,
                revision=revision,
            ) from exc
    try:
        meta = HfApi().get_safetensors_metadata(
            model_id, revision=revision, token=token, timeout=HUB_REQUEST_TIMEOUT_S
        )
    except NotASafetensorsRepoError as exc:
        raise ModelFactsError(
            f"model {model_id!r} at revision {revision!r} has no safetensors weights (only "
            "pickled .bin files?), so its size is unknown; use a safetensors revision or add "
            "modelSpec.weightBytes.",
            model_id=model_id,
            revision=revision,
            fallback_ok=False,
        ) from exc
    return sum(
        int(t.data_offsets[1]) - int(t.data_offsets[0])
        for fm in meta.files_metadata.values()
        for t in fm.tensors.values()
    )


def _facts_from_hub_now(
    model_id: str, revision: str, token: str | None, cache_dir: str | None, offline: bool
) -> ModelFacts:
    from huggingface_hub import HfApi, hf_hub_download

    lic: str | None = None
    gated: bool | str | None = None
    if offline:
        known = catalog_facts(model_id)
        if known is not None:
            lic, gated = known.license, known.gated
    else:
        # One plain request first: it fails fast (no retry loop) when the Hub is out of
        # reach, names a missing repo or revision precisely, and carries license/gating.
        info = HfApi().model_info(
            model_id, revision=revision, token=token, timeout=HUB_REQUEST_TIMEOUT_S
        )
        lic, gated = _card_license(info), getattr(info, "gated", None)
    config_path = hf_hub_download(
        model_id,
        "config.json",
        revision=revision,
        cache_dir=cache_dir,
        token=token,
        local_files_only=offline,
        etag_timeout=HUB_REQUEST_TIMEOUT_S,
    )
    config = json.loads(Path(config_path).read_text(encoding="utf-8"))
    weight_bytes = _hub_weight_bytes(model_id, revision, token, cache_dir, offline)
    return facts_from_config(
        config,
        model_id=model_id,
        source="hub",
        weight_bytes=weight_bytes,
        revision=revision,
        license=lic,
        gated=gated,
    )


_NETWORK_LIBRARIES = frozenset(
    {"httpx", "httpx2", "httpcore", "requests", "urllib3", "ssl", "socket", "h11", "h2", "anyio"}
)


def _is_network_library_error(exc: BaseException) -> bool:
    return type(exc).__module__.split(".", 1)[0] in _NETWORK_LIBRARIES


def _hub_error(
    exc: BaseException, model_id: str, revision: str, offline: bool, cache_dir: str | None
) -> ModelFactsError:
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        HFValidationError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = f"model {model_id!r} at revision {revision!r}"
    spec = "or add a modelSpec to the tier"

    def err(text: str, fallback_ok: bool = True) -> ModelFactsError:
        return ModelFactsError(
            f"{where}: {text}", model_id=model_id, revision=revision, fallback_ok=fallback_ok
        )

    cause = _one_line(f"{type(exc).__name__}: {exc}", 200)
    if isinstance(exc, GatedRepoError):
        return err(
            f"the repo is gated and the token has no access; request access on "
            f"https://huggingface.co/{model_id} with the token's account and set "
            f"HF_TOKEN, {spec}."
        )
    if isinstance(exc, RepositoryNotFoundError):
        return err(
            f"not found on the Hub (or private and HF_TOKEN has no access); check "
            f"modelId, set HF_TOKEN, {spec}."
        )
    if isinstance(exc, RevisionNotFoundError):
        return err(
            "the revision does not exist; use a branch, tag or 40-hex commit sha of the repo.",
            fallback_ok=False,
        )
    if isinstance(exc, LocalEntryNotFoundError | OfflineModeIsEnabled) and offline:
        return err(
            f"offline (HF_HUB_OFFLINE) and config.json is not in the HF cache "
            f"({_hf_cache_dir(cache_dir)}); pre-fetch it with `hf download {model_id} "
            f"config.json model.safetensors.index.json --revision {revision}`, unset "
            f"HF_HUB_OFFLINE, {spec}."
        )
    if isinstance(exc, LocalEntryNotFoundError):
        root = exc.__cause__ or exc.__context__
        detail = f" ({_one_line(f'{type(root).__name__}: {root}', 160)})" if root else ""
        return err(
            f"the Hub could not be reached and nothing is cached{detail}; check access "
            f"to huggingface.co (proxy, firewall), {spec}."
        )
    if isinstance(exc, EntryNotFoundError):
        return err(
            f"the repo has no config.json at this revision (not a transformers model?); {spec}.",
            fallback_ok=False,
        )
    if isinstance(exc, HfHubHTTPError):
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status == 401:
            return err(f"the Hub rejected the token (401); set a valid HF_TOKEN, {spec}.")
        if status == 403:
            return err(
                f"access denied (403); request access on https://huggingface.co/"
                f"{model_id} and use a token with read access, {spec}."
            )
        if status == 429:
            return err(f"rate limited by the Hub (429); set HF_TOKEN and retry later, {spec}.")
        return err(f"the Hub answered HTTP {status}; retry later, {spec}.")
    if isinstance(exc, TimeoutError) or "Timeout" in type(exc).__name__:
        return err(
            f"no answer from the Hub in time ({cause}); check access to huggingface.co, {spec}."
        )
    if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError):
        return err(f"config.json is not valid JSON ({cause}); {spec}.", fallback_ok=False)
    if isinstance(exc, HFValidationError):
        return err(
            f"not a valid Hub repo id (org/name) nor a local directory ({cause}); fix modelId.",
            fallback_ok=False,
        )
    if isinstance(exc, OSError | ConnectionError) or _is_network_library_error(exc):
        return err(
            f"the Hub could not be reached ({cause}); check access to huggingface.co, {spec}."
        )
    return err(f"unexpected failure ({cause}); {spec}.")


def facts_from_hub(
    model_id: str,
    *,
    revision: str | None,
    token: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    offline: bool | None = None,
    timeout_s: float = HUB_TOTAL_TIMEOUT_S,
) -> ModelFacts:
    """Facts of a Hub model at ``revision`` (default ``main``) through ``huggingface_hub``.

    ``token`` defaults to ``HF_TOKEN``. ``offline`` defaults to ``HF_HUB_OFFLINE``; offline
    only the HF cache (``cache_dir`` or huggingface_hub's default) is read. Any failure is a
    one-line `ModelFactsError`; online calls give up after ``timeout_s`` seconds in total.
    """
    rev = revision or "main"
    off = _env_offline() if offline is None else offline
    tok = token or os.environ.get("HF_TOKEN") or None
    cache = str(Path(cache_dir).expanduser()) if cache_dir is not None else None

    def work() -> ModelFacts:
        return _facts_from_hub_now(model_id, rev, tok, cache, off)

    try:
        return work() if off else _call_with_deadline(work, timeout_s)
    except ModelFactsError:
        raise
    except Exception as exc:
        raise _hub_error(exc, model_id, rev, off, cache) from exc


# ============================================================================ catalog


def _catalog_doc() -> Mapping[str, Any]:
    text = files("tgi_infra.capacity").joinpath("data", "models.yaml").read_text(encoding="utf-8")
    doc = yaml.safe_load(text)
    return doc.get("models", {}) if isinstance(doc, Mapping) else {}


@cache
def _catalog() -> dict[str, ModelFacts]:
    out: dict[str, ModelFacts] = {}
    for model_id, row in _catalog_doc().items():
        facts = ModelFacts(
            model_id=str(model_id),
            source="catalog",
            architecture=str(row["architecture"]),
            num_layers=int(row["num_layers"]),
            hidden_size=int(row["hidden_size"]),
            num_attention_heads=int(row["num_attention_heads"]),
            num_kv_heads=int(row["num_kv_heads"]),
            head_dim=int(row["head_dim"]),
            vocab_size=int(row["vocab_size"]),
            max_position_embeddings=int(row["max_position_embeddings"]),
            weight_bytes=int(row["weight_bytes"]),
            torch_dtype=str(row.get("torch_dtype", "bfloat16")),
            checkpoint_quantization=row.get("checkpoint_quantization"),
            num_experts=row.get("num_experts"),
            intermediate_size=row.get("intermediate_size"),
            trust_remote_code=bool(row.get("trust_remote_code", False)),
            license=row.get("license"),
            gated=row.get("gated"),
        )
        for name in (model_id, *(row.get("aliases") or ())):
            out[str(name).lower()] = facts
    return out


def catalog_model_ids() -> tuple[str, ...]:
    """Model ids of the shipped catalog (canonical spelling, no aliases)."""
    return tuple(sorted({f.model_id for f in _catalog().values()}))


def catalog_facts(model_id: str) -> ModelFacts | None:
    """Facts from the shipped catalog (``data/models.yaml``), or None. Case-insensitive."""
    return _catalog().get(model_id.strip().lower())


# ============================================================================ modelSpec

_SPEC_FIELDS = {f.name for f in fields(ModelFacts)} - {
    "model_id",
    "source",
    "revision",
    "fallback_reason",
}
_SPEC_ALIASES = {
    "num_hidden_layers": "num_layers",
    "num_key_value_heads": "num_kv_heads",
    "dtype": "torch_dtype",
    "quantization": "checkpoint_quantization",
    "num_local_experts": "num_experts",
}
_SPEC_REQUIRED = (
    "num_layers",
    "hidden_size",
    "num_attention_heads",
    "vocab_size",
    "max_position_embeddings",
    "weight_bytes",
)


def _snake(key: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key).lower()


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(w.capitalize() for w in rest)


def facts_from_model_spec(
    model_id: str, spec: Mapping[str, Any], *, revision: str | None = None
) -> ModelFacts:
    """Facts given explicitly (a tier's ``modelSpec``; camelCase or snake_case keys)."""
    import difflib

    values: dict[str, Any] = {}
    for raw_key, value in spec.items():
        key = _snake(str(raw_key))
        key = _SPEC_ALIASES.get(key, key)
        if key not in _SPEC_FIELDS:
            close = difflib.get_close_matches(key, sorted(_SPEC_FIELDS), n=1)
            hint = f"; did you mean {_camel(close[0])}?" if close else ""
            raise ModelFactsError(
                f"modelSpec of {model_id} has an unknown key {raw_key!r}{hint}",
                model_id=model_id,
                revision=revision,
                fallback_ok=False,
            )
        if value is not None:
            values[key] = value
    missing = [k for k in _SPEC_REQUIRED if k not in values]
    if missing:
        raise ModelFactsError(
            f"modelSpec of {model_id} lacks {', '.join(_camel(k) for k in missing)}.",
            model_id=model_id,
            revision=revision,
            fallback_ok=False,
        )
    ints = (
        "num_layers",
        "hidden_size",
        "num_attention_heads",
        "num_kv_heads",
        "head_dim",
        "vocab_size",
        "max_position_embeddings",
        "weight_bytes",
        "num_experts",
        "intermediate_size",
    )
    for key in ints:
        if key in values and _positive_int(values[key]) is None:
            raise ModelFactsError(
                f"modelSpec of {model_id}: {_camel(key)} must be a positive integer, got "
                f"{values[key]!r}.",
                model_id=model_id,
                revision=revision,
                fallback_ok=False,
            )
        if key in values:
            values[key] = _positive_int(values[key])
    heads = values["num_attention_heads"]
    values.setdefault("num_kv_heads", heads)
    values.setdefault("head_dim", values["hidden_size"] // heads)
    values.setdefault("architecture", "custom")
    if "torch_dtype" in values:
        values["torch_dtype"] = _normalize_dtype(values["torch_dtype"]) or "bfloat16"
    return ModelFacts(model_id=model_id, source="modelSpec", revision=revision, **values)


# ============================================================================ resolver

_RESOLVED: dict[tuple[str, str | None, bool, str | None], ModelFacts | ModelFactsError] = {}
_RESOLVED_LOCK = threading.Lock()


def clear_model_facts_cache() -> None:
    """Forget what `resolve_model_facts` resolved (tests; a long-lived process)."""
    with _RESOLVED_LOCK:
        _RESOLVED.clear()


def resolve_model_facts(
    model_id: str,
    *,
    revision: str | None,
    model_spec: Mapping[str, Any] | None = None,
    offline: bool = False,
    token: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> ModelFacts:
    """The facts of one model: modelSpec → local directory → Hub → shipped catalog.

    Offline, the Hub step reads only the HF cache. When the Hub fails for a reason a
    fallback may cover (offline, unreachable, gated/unauthorized), the catalog's facts are
    returned with ``fallback_reason``; otherwise, or when the model is not in the catalog,
    `ModelFactsError` is raised. Results (and errors) are cached per model and revision.
    """
    if model_spec:
        return facts_from_model_spec(model_id, model_spec, revision=revision)
    key = (model_id, revision, offline, str(cache_dir) if cache_dir is not None else None)
    with _RESOLVED_LOCK:
        hit = _RESOLVED.get(key)
    if hit is None:
        try:
            hit = _resolve_uncached(model_id, revision, offline, token, cache_dir)
        except ModelFactsError as exc:
            hit = exc
        with _RESOLVED_LOCK:
            _RESOLVED[key] = hit
    if isinstance(hit, ModelFactsError):
        raise hit
    return hit


def _resolve_uncached(
    model_id: str,
    revision: str | None,
    offline: bool,
    token: str | None,
    cache_dir: str | os.PathLike[str] | None,
) -> ModelFacts:
    local = Path(model_id).expanduser()
    if local.is_dir():
        return facts_from_local_dir(local)
    if model_id.startswith(("/", "./", "../", "~")):
        raise ModelFactsError(
            f"{model_id} looks like a local path but is not a directory; fix modelId or "
            "mount the model there.",
            model_id=model_id,
            revision=revision,
            fallback_ok=False,
        )
    try:
        return facts_from_hub(
            model_id,
            revision=revision,
            token=token,
            cache_dir=cache_dir,
            offline=offline or _env_offline(),
        )
    except ModelFactsError as exc:
        hub_error = exc
    fallback = catalog_facts(model_id) if hub_error.fallback_ok else None
    if fallback is None:
        if hub_error.fallback_ok:
            raise ModelFactsError(
                f"{hub_error} ({model_id} is not in the shipped model catalog either.)",
                model_id=model_id,
                revision=revision,
            ) from hub_error
        raise hub_error
    log.info("model facts for %s come from the catalog: %s", model_id, hub_error)
    return replace(fallback, model_id=model_id, revision=revision, fallback_reason=str(hub_error))
