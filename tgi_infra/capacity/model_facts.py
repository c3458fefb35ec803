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

The pieces live in sibling modules, all re-exported here: `hf_config` (config.json),
`weights` (safetensors headers, local directories), `hub` (huggingface_hub) and
`errors` (`ModelFactsError`). This module keeps the shipped catalog, ``modelSpec`` and
the resolver.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import fields, replace
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from tgi_infra.capacity.errors import ModelFactsError
from tgi_infra.capacity.facts import ModelFacts
from tgi_infra.capacity.hf_config import (
    MAX_DIMENSION,
    NATIVE_MODEL_TYPES,
    TEXT_CONFIG_KEYS,
    _normalize_dtype,
    _positive_int,
    facts_from_config,
    text_config_of,
)
from tgi_infra.capacity.hub import (
    HUB_REQUEST_TIMEOUT_S,
    HUB_TOTAL_TIMEOUT_S,
    _env_offline,
    facts_from_hub,
)
from tgi_infra.capacity.weights import (
    MAX_SAFETENSORS_HEADER,
    SAFETENSORS_DTYPE_BYTES,
    SafetensorsSummary,
    facts_from_local_dir,
    read_safetensors_header,
    summarize_safetensors,
)
from tgi_infra.problems import shorten

__all__ = [
    "HUB_REQUEST_TIMEOUT_S",
    "HUB_TOTAL_TIMEOUT_S",
    "MAX_SAFETENSORS_HEADER",
    "NATIVE_MODEL_TYPES",
    "SAFETENSORS_DTYPE_BYTES",
    "TEXT_CONFIG_KEYS",
    "ModelFactsError",
    "SafetensorsSummary",
    "catalog_facts",
    "catalog_model_ids",
    "clear_model_facts_cache",
    "facts_from_config",
    "facts_from_hub",
    "facts_from_local_dir",
    "facts_from_model_spec",
    "read_safetensors_header",
    "resolve_model_facts",
    "summarize_safetensors",
    "text_config_of",
]

log = logging.getLogger(__name__)


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
            tie_word_embeddings=bool(row.get("tie_word_embeddings", False)),
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
    "compressed_tensors",  # read from a config.json's quantization_config only
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
            if key != "weight_bytes" and values[key] > MAX_DIMENSION:
                raise ModelFactsError(
                    f"modelSpec of {model_id}: {_camel(key)} is {values[key]}, above "
                    f"{MAX_DIMENSION} (no model is that large).",
                    model_id=model_id,
                    revision=revision,
                    fallback_ok=False,
                )
    quant = values.get("checkpoint_quantization")
    if isinstance(quant, str):  # as config.json's quant_method is read: trimmed, lower case
        values["checkpoint_quantization"] = quant.strip().lower() or None
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
    if not model_id.strip():
        raise ModelFactsError(
            "the model is empty; name a Hub repo (org/name) or a local model folder.",
            model_id=model_id, revision=revision, fallback_ok=False,
        )  # fmt: skip
    local = Path(model_id).expanduser()
    try:
        is_dir = local.is_dir()
    except OSError as exc:  # a name too long for the file system, and the like
        raise ModelFactsError(
            f"{shorten(model_id)!r} is neither a local folder "
            f"({exc.strerror}) nor a Hub repo id (org/name, at most 96 characters).",
            model_id=model_id, revision=revision, fallback_ok=False,
        ) from None  # fmt: skip
    if is_dir:
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
