"""Weights on disk: safetensors headers and local model directories.

Only the JSON headers of ``.safetensors`` files are read (never the tensors), plus
``config.json``, the safetensors index and older GPTQ/AWQ side files of a model directory.
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tgi_infra.capacity.errors import ModelFactsError
from tgi_infra.capacity.facts import ModelFacts
from tgi_infra.capacity.hf_config import (
    SIDECAR_MARKER,
    _merged_config,
    _normalize_dtype,
    _positive_int,
    facts_from_config,
)
from tgi_infra.fileio import open_regular, read_regular_text

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
        with open_regular(p) as fh:
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
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSON errors too
        raise ModelFactsError(f"{p} has a corrupt safetensors header: {str(exc)[:120]}.") from exc
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
        return json.loads(read_regular_text(path))
    except FileNotFoundError as exc:
        raise ModelFactsError(f"{path} is missing: {what}.", fallback_ok=False) from exc
    except OSError as exc:
        why = exc.strerror or str(exc)
        raise ModelFactsError(f"cannot read {path}: {why}.", fallback_ok=False) from exc
    except UnicodeDecodeError as exc:
        raise ModelFactsError(f"cannot read {path}: {exc}.", fallback_ok=False) from exc
    except (ValueError, RecursionError) as exc:  # bad JSON, a 5000-digit number, deep nesting
        shown = str(exc)[:120]
        raise ModelFactsError(f"{path} is not valid JSON ({shown}).", fallback_ok=False) from exc


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
        weight_map = index.get("weight_map") if isinstance(index, Mapping) else None
        shards = (
            sorted({str(v) for v in weight_map.values() if "/" not in str(v)})
            if isinstance(weight_map, Mapping)
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


# Files beside config.json that carry a checkpoint's quantization when config.json does not,
# in the order the engines look (vLLM/SGLang get_quant_config, TGI _get_quantizer_config).
SIDECAR_QUANTIZATION_FILES = ("quantize_config.json", "quant_config.json", "hf_quant_config.json")


def sidecar_quantization(name: str, data: object) -> dict[str, Any]:
    """A sidecar file's settings as a config.json quantization_config.

    quantize_config.json is AutoGPTQ's (AWQ's when it has `zero_point`, as TGI reads it),
    quant_config.json AutoAWQ's, hf_quant_config.json NVIDIA ModelOpt's
    (`{"producer": {"name": "modelopt"}, "quantization": {"quant_algo": ...}}`).
    """
    settings = dict(data) if isinstance(data, Mapping) else {}
    if name == "hf_quant_config.json":
        section = settings.get("quantization")
        qc = dict(section) if isinstance(section, Mapping) else {}
        algo = str(qc.get("quant_algo") or "").upper()  # as vLLM names them (model_arch)
        method = {"NVFP4": "modelopt_fp4", "MIXED_PRECISION": "modelopt_mixed"}.get(algo)
        qc.setdefault("quant_method", method or "modelopt")
        qc[SIDECAR_MARKER] = name
        return qc
    default = "awq" if name == "quant_config.json" or "zero_point" in settings else "gptq"
    settings.setdefault("quant_method", default)
    settings[SIDECAR_MARKER] = name
    return settings


def with_sidecar_quantization(
    config: Mapping[str, Any], read: Callable[[str], object | None]
) -> Mapping[str, Any]:
    """config.json with the first sidecar file's quantization folded in, when it has none.

    `read(name)` returns the file's parsed JSON, or None when the repo has no such file."""
    if isinstance(config.get("quantization_config"), Mapping) or isinstance(
        config.get("compression_config"), Mapping
    ):
        return config
    for name in SIDECAR_QUANTIZATION_FILES:
        data = read(name)
        if data is not None:
            return {**config, "quantization_config": sidecar_quantization(name, data)}
    return config


def _legacy_quantization(directory: Path, config: Mapping[str, Any]) -> Mapping[str, Any]:
    """Older GPTQ/AWQ exports and ModelOpt keep their settings beside config.json."""

    def read(name: str) -> object | None:
        path = directory / name
        return _read_json(path, "the quantization settings") if path.is_file() else None

    return with_sidecar_quantization(config, read)


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
