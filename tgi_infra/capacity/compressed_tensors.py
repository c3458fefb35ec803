"""A compressed-tensors checkpoint's quantization scheme, as its config.json states it.

llm-compressor writes `quantization_config` with `quant_method: compressed-tensors`, a
`format` (how the tensors are stored: pack-quantized, float-quantized, int-quantized,
naive-quantized, marlin-24, nvfp4-pack-quantized, mixed-precision...), a
`quantization_status` and `config_groups`: per group, the `weights` and
`input_activations` quantization arguments (num_bits, type, strategy, group_size,
symmetric, dynamic, actorder) and, in exports from compressed-tensors 0.10 on, the group's
own `format`. A group may instead be a list of targets under a preset name ("W4A16").

This module only records what is written, values as they are (a list or mapping becomes
its repr, so the facts stay hashable); each engine judges them by the compressed-tensors
version it pins (engines/*/compressed_tensors.py, engines/*/quantization.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Scalar = str | int | float | bool | None


def _scalar(value: Any) -> Scalar:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)


_TRUE = ("1", "true", "t", "yes", "y", "on")
_FALSE = ("0", "false", "f", "no", "n", "off")


def as_int(value: Scalar) -> int | None:
    """pydantic's lax int: ints, bools, integral floats and numeric strings."""
    if isinstance(value, bool | int):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def as_bool(value: Scalar) -> bool | None:
    """pydantic's lax bool: bools, 0/1 and the usual strings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    return None


@dataclass(frozen=True)
class QuantArgs:
    """One `QuantizationArgs` mapping as written; `stated` lists the keys it had (the
    library's defaults fill the rest: 8-bit, int, symmetric, not dynamic)."""

    num_bits: Scalar = 8
    type: Scalar = "int"
    symmetric: Scalar = True
    group_size: Scalar = None
    strategy: Scalar = None
    dynamic: Scalar = False
    actorder: Scalar = None
    block_structure: Scalar = None
    stated: tuple[str, ...] = ()
    # keys whose value was a list or mapping (kept as its repr), e.g. block_structure
    # [128, 128], which compressed-tensors 0.9.1 types as a string
    nonscalar: tuple[str, ...] = ()

    @classmethod
    def read(cls, raw: Any) -> QuantArgs | None:
        if raw is None:
            return None
        if not isinstance(raw, Mapping):
            return cls(type=_scalar(raw), stated=("<not a mapping>",))
        keys = ("num_bits", "type", "symmetric", "group_size", "strategy", "dynamic",
                "actorder", "block_structure")  # fmt: skip
        values = {key: _scalar(raw[key]) for key in keys if key in raw}
        nonscalar = tuple(sorted(str(k) for k, v in raw.items() if isinstance(v, list | Mapping)))
        return cls(
            **values,  # type: ignore[arg-type]
            stated=tuple(sorted(str(k) for k in raw)),
            nonscalar=nonscalar,
        )

    @property
    def inferred_strategy(self) -> str | None:
        """The strategy as compressed-tensors reads it: the stated one (lower case), else
        from group_size (none: tensor, > 0: group, -1: channel); None when neither tells."""
        if isinstance(self.strategy, str):
            return self.strategy.lower()
        if self.strategy is not None:
            return None
        group = None if self.group_size is None else as_int(self.group_size)
        if self.group_size is None:
            return "tensor"
        if group is not None and group > 0:
            return "group"
        return "channel" if group == -1 else None

    def describe(self) -> str:
        kind = "fp" if str(self.type).lower() == "float" else "int"
        parts = [f"{kind}{self.num_bits}"]
        if self.strategy is not None:
            parts.append(str(self.strategy))
        if self.group_size not in (None, -1):
            parts.append(f"group {self.group_size}")
        if self.block_structure is not None:
            parts.append(str(self.block_structure))
        if self.symmetric is False:
            parts.append("asymmetric")
        if self.dynamic not in (False, None):
            parts.append("dynamic" if self.dynamic is True else f"dynamic {self.dynamic}")
        return " ".join(parts)


@dataclass(frozen=True)
class SchemeGroup:
    """One entry of `config_groups`."""

    name: str
    # True when the group was written as a list of targets under a preset name
    # ("W4A16": ["Linear"]); the preset then supplies the arguments.
    preset: bool = False
    # `targets` (None: absent, or not a list of strings)
    targets: tuple[str, ...] | None = None
    weights: QuantArgs | None = None
    input_activations: QuantArgs | None = None
    output_activations: QuantArgs | None = None
    format: Scalar = None  # the group's own format (compressed-tensors >= 0.10 exports)
    valid_mapping: bool = True  # False: neither a mapping nor a list of targets

    def describe(self) -> str:
        if self.preset:
            return f"preset {self.name}"
        weights = self.weights.describe() if self.weights else "unquantized"
        act = self.input_activations
        acts = f", activations {act.describe()}" if act else ""
        return f"weights {weights}{acts}"


@dataclass(frozen=True)
class CompressedTensorsScheme:
    """The quantization_config of a compressed-tensors checkpoint; `format` and `status`
    are None when not written (the library's defaults: "fakequant", "initialized")."""

    format: Scalar = None
    status: Scalar = None
    groups: tuple[SchemeGroup, ...] = ()
    groups_stated: bool = True  # config_groups present and a mapping
    # sparsity_config: how sparse weights are stored ("dense", "sparse-24-bitmask",
    # "sparse-bitmask"), the structure ("2:4", "unstructured") and the layers it covers
    # (empty: no sparsity_config, or one without targets)
    sparsity_format: Scalar = None
    sparsity_structure: Scalar = None
    sparsity_targets: tuple[str, ...] = ()

    def describe(self) -> str:
        groups = "; ".join(f"{g.name}: {g.describe()}" for g in self.groups) or "no groups"
        sparse = ""
        if self.sparsity_targets:
            sparse = f", sparsity {self.sparsity_structure} stored {self.sparsity_format}"
        return f"format {self.format or 'unset'}, {groups}{sparse}"

    @property
    def sparse_weights_compressed(self) -> bool:
        """Whether sparse layers are stored compressed (`<prefix>.compressed`, `.bitmask`,
        `.shape`; compressed-tensors' bitmask compressors), not as a dense `.weight`."""
        return bool(self.sparsity_targets) and str(self.sparsity_format) in (
            "sparse-bitmask", "sparse-24-bitmask",
        )  # fmt: skip


def read_scheme(quant: Mapping[str, Any]) -> CompressedTensorsScheme:
    """The scheme of a compressed-tensors quantization_config (or compression_config)."""
    raw_groups = quant.get("config_groups")
    groups: list[SchemeGroup] = []
    if isinstance(raw_groups, Mapping):
        for name, group in raw_groups.items():
            if isinstance(group, list) and all(isinstance(t, str) for t in group):
                groups.append(SchemeGroup(str(name), preset=True, targets=tuple(group)))
            elif isinstance(group, Mapping):
                targets = group.get("targets")
                if not (isinstance(targets, list) and all(isinstance(t, str) for t in targets)):
                    targets = None
                groups.append(
                    SchemeGroup(
                        str(name),
                        targets=tuple(targets) if targets is not None else None,
                        weights=QuantArgs.read(group.get("weights")),
                        input_activations=QuantArgs.read(group.get("input_activations")),
                        output_activations=QuantArgs.read(group.get("output_activations")),
                        format=_scalar(group.get("format")),
                    )
                )
            else:
                groups.append(SchemeGroup(str(name), valid_mapping=False))
    sparsity = quant.get("sparsity_config")
    sparsity = sparsity if isinstance(sparsity, Mapping) else {}
    targets = sparsity.get("targets")
    sparse_targets = (
        tuple(t for t in targets if isinstance(t, str)) if isinstance(targets, list) else ()
    )
    return CompressedTensorsScheme(
        format=_scalar(quant.get("format")),
        status=_scalar(quant.get("quantization_status")),
        groups=tuple(groups),
        groups_stated=isinstance(raw_groups, Mapping),
        sparsity_format=_scalar(sparsity.get("format")),
        sparsity_structure=_scalar(sparsity.get("sparsity_structure")),
        sparsity_targets=sparse_targets,
    )
