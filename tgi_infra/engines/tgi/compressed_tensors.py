"""Whether TGI 3.3.7 loads a compressed-tensors checkpoint, and on which kernels.

Read from server/text_generation_server/layers/compressed_tensors/loader.py at v3.3.7
(dfb3fbe7). TGI's image pins compressed-tensors 0.9.1 (server/uv.lock; the Dockerfile runs
`uv sync --frozen`), whose pydantic models parse `quantization_config` first, so a scheme
written by a newer llm-compressor (NVFP4's `strategy: tensor_group`, `dynamic: "local"`)
fails there: "Cannot parse compressed-tensors configuration". Then the status must be
compressed or frozen, and each config group gets one of four loaders, chosen by the
config's top-level `format` and the weights' type and bits:

- float-quantized or naive-quantized, float 8-bit weights: W8ANFpLoader, the FP8 kernels
  (Marlin FP8 on 8.x, torch._scaled_mm elsewhere);
- pack-quantized, int 4/8-bit: WNA16IntLoader, GPTQ-Marlin (group size -1, 32, 64, 128);
- marlin-24, int 4/8-bit: WNA16Int24Loader, Marlin 2:4 (group size -1, 128);
- int-quantized or naive-quantized, int 8-bit: W8A8IntLoader, cutlass int8 (symmetric
  weights only).

Anything else: "Group 'G' has unsupported compressed-tensors configurtion" (TGI's spelling).
tests/fixtures/engines/tgi_compressed_tensors.yaml quotes the lines this mirrors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tgi_infra.capacity.compressed_tensors import as_bool, as_int

if TYPE_CHECKING:
    from tgi_infra.capacity.compressed_tensors import (
        CompressedTensorsScheme,
        QuantArgs,
        SchemeGroup,
    )

CT_VERSION = "0.9.1"
LOADER_FILE = "layers/compressed_tensors/loader.py"
TYPES = ("int", "float")
STRATEGIES = ("tensor", "channel", "group", "block", "token")
ACTORDERS = ("group", "weight", "dynamic", "static")  # dynamic/static alias group/weight
STATUSES = ("initialized", "calibration", "frozen", "compressed")
LOADED_STATUSES = ("compressed", "frozen")
DEFAULT_FORMAT = "fakequant"  # QuantizationConfig.format when config.json has none
MARLIN_GROUP_SIZES = (-1, 32, 64, 128)  # layers/marlin/gptq.py GPTQ_MARLIN_GROUP_SIZES
MARLIN_24_GROUP_SIZES = (-1, 128)  # layers/marlin/marlin.py GPTQ_MARLIN_24_SUPPORTED_GROUP_SIZES
# compressed-tensors 0.9.1 quant_scheme.py PRESET_SCHEMES: (weights, input activations) as
# (type, bits, group size, symmetric); None where the preset quantizes nothing there.
PRESETS: dict[str, tuple[tuple[str, int, int | None, bool] | None, bool]] = {
    "UNQUANTIZED": (None, False),
    "W8A16": (("int", 8, None, True), False),
    "W4A16": (("int", 4, 128, True), False),
    "W8A8": (("int", 8, None, True), True),
    "INT8": (("int", 8, None, True), True),
    "W4A8": (("int", 4, 128, True), True),
    "FP8": (("float", 8, None, True), True),
    "FP8_DYNAMIC": (("float", 8, None, True), True),
}



@dataclass(frozen=True)
class Weights:
    """A group's weight arguments after compressed-tensors 0.9.1 parsed them."""

    type: str
    num_bits: int
    group_size: int | None
    symmetric: bool


@dataclass(frozen=True)
class Verdict:
    """TGI's reading of a scheme: the error it stops with, or the kernels it runs."""

    error: str | None
    kernels: frozenset[str] = frozenset()  # "marlin", "fp8", "int8"


def _parse_args(args: QuantArgs, where: str) -> tuple[Weights | None, str | None]:
    """QuantizationArgs as compressed-tensors 0.9.1 validates them: (parsed, why not)."""
    if "<not a mapping>" in args.stated:
        return None, f"{where} is {args.type}, not a mapping of quantization arguments"
    bits = as_int(args.num_bits)
    if bits is None:
        return None, f"{where}.num_bits {args.num_bits!r} is not an integer"
    kind = str(args.type).lower() if isinstance(args.type, str) else None
    if kind not in TYPES:
        return None, f"{where}.type {args.type!r} is not one of {', '.join(TYPES)}"
    symmetric = as_bool(args.symmetric)
    dynamic = as_bool(args.dynamic)
    for key, parsed, raw in (("symmetric", symmetric, args.symmetric),
                             ("dynamic", dynamic, args.dynamic)):  # fmt: skip
        if parsed is None:
            return None, f"{where}.{key} {raw!r} is not a boolean"
    group = None if args.group_size is None else as_int(args.group_size)
    if args.group_size is not None and group is None:
        return None, f"{where}.group_size {args.group_size!r} is not an integer"
    if group is not None and group < -1:
        return None, f"{where}.group_size {group} is below -1"
    strategy = args.inferred_strategy
    if args.strategy is not None and strategy not in STRATEGIES:
        return None, (
            f"{where}.strategy {args.strategy!r} is not one of compressed-tensors "
            f"{CT_VERSION}'s strategies ({', '.join(STRATEGIES)})"
        )
    if strategy is None:
        return None, f"{where}.group_size {group} names no strategy"
    if "block_structure" in args.nonscalar:
        return None, (
            f"{where}.block_structure {args.block_structure} is a list; compressed-tensors "
            f"{CT_VERSION} types it as a string"
        )
    actorder = args.actorder
    if isinstance(actorder, str) and actorder.lower() not in ACTORDERS:
        return None, f"{where}.actorder {actorder!r} is not one of {', '.join(ACTORDERS)}"
    if actorder is not None and not isinstance(actorder, bool | str):
        return None, f"{where}.actorder {actorder!r} is not a string or boolean"
    has_actorder = actorder not in (None, False)
    if strategy == "group" and (group is None or group <= 0):
        return None, f"{where}: strategy group requires a positive group_size"
    if group is not None and group > 0 and strategy != "group":
        return None, f"{where}: group_size {group} requires strategy group, not {strategy}"
    if has_actorder and strategy != "group":
        return None, f"{where}: actorder needs strategy group"
    if dynamic and strategy not in ("token", "tensor"):
        return None, f"{where}: dynamic quantization needs strategy token or tensor"
    return Weights(kind, bits, group, bool(symmetric)), None


def _group_args(group: SchemeGroup) -> tuple[Weights | None, str | None, str | None]:
    """(weights, parse error, preset error) of one group, as compressed-tensors 0.9.1 reads
    it (a list of targets takes its arguments from the preset named by the group)."""
    where = f"config_groups.{group.name}"
    if group.preset:
        preset = PRESETS.get(group.name.upper())
        if preset is None:
            return None, None, (
                f"Unknown preset scheme name {group.name.upper()}, available names: "
                f"{list(PRESETS)}"
            )
        spec = preset[0]
        return (Weights(*spec) if spec else None), None, None
    if not group.valid_mapping:
        return None, f"{where} is neither a scheme nor a list of targets", None
    if group.targets is None:
        return None, f"{where}.targets is missing or not a list of names", None
    weights = None
    if group.weights is not None:
        weights, why = _parse_args(group.weights, f"{where}.weights")
        if why:
            return None, why, None
    for name, extra in (("input_activations", group.input_activations),
                        ("output_activations", group.output_activations)):  # fmt: skip
        if extra is not None:
            _, why = _parse_args(extra, f"{where}.{name}")
            if why:
                return None, why, None
            if extra.actorder not in (None, False):
                return None, f"Cannot apply actorder to {name.replace('_', ' ')}", None
    return weights, None, None


def _loader(fmt: str, weights: Weights | None) -> tuple[str, str] | None:
    """`_create_loader_for_group`: (loader, kernel) for the format and weights, or None."""
    if weights is None:
        return None
    if fmt in ("float-quantized", "naive-quantized") and weights.type == "float" and (
        weights.num_bits == 8
    ):
        return "W8ANFpLoader", "fp8"
    if fmt == "pack-quantized" and weights.type == "int" and weights.num_bits in (4, 8):
        return "WNA16IntLoader", "marlin"
    if fmt == "marlin-24" and weights.type == "int" and weights.num_bits in (4, 8):
        return "WNA16Int24Loader", "marlin"
    if fmt in ("int-quantized", "naive-quantized") and weights.type == "int" and (
        weights.num_bits == 8
    ):
        return "W8A8IntLoader", "int8"
    return None


def judge(scheme: CompressedTensorsScheme) -> Verdict:
    """What TGI 3.3.7 does with this scheme: the error it fails with at load, or the kernels
    its layers run (for the GPU check)."""
    if not scheme.groups_stated:
        return Verdict(
            "Cannot parse compressed-tensors configuration (config_groups is missing or not a "
            f"mapping; compressed-tensors {CT_VERSION} requires it)"
        )
    status = scheme.status
    if status is not None and status not in STATUSES:
        return Verdict(
            f"Cannot parse compressed-tensors configuration (quantization_status {status!r} "
            f"is not one of {', '.join(STATUSES)})"
        )
    fmt = str(scheme.format) if scheme.format is not None else DEFAULT_FORMAT
    parsed: list[tuple[SchemeGroup, Weights | None]] = []
    for group in scheme.groups:
        weights, parse_error, preset_error = _group_args(group)
        if preset_error:
            return Verdict(f"{preset_error} (compressed-tensors {CT_VERSION})")
        if parse_error:
            return Verdict(
                f"Cannot parse compressed-tensors configuration ({parse_error}; TGI 3.3.7 "
                f"validates it with compressed-tensors {CT_VERSION})"
            )
        parsed.append((group, weights))
    if (status or "initialized") not in LOADED_STATUSES:
        return Verdict(
            "Model quantization was not finished, status was: "
            f"{status or 'initialized (not stated)'}"
        )
    if scheme.sparse_weights_compressed:
        return Verdict(
            f"weight <prefix>.weight does not exist (sparsity_config stores the "
            f"{scheme.sparsity_structure} sparse layers {scheme.sparsity_format}-compressed as "
            "<prefix>.compressed, .bitmask and .shape; TGI's loaders read no sparsity_config)"
        )
    kernels: set[str] = set()
    seen: set[str] = set()
    for group, weights in parsed:
        picked = _loader(fmt, weights)
        if picked is None:
            return Verdict(
                f"Group '{group.name}' has unsupported compressed-tensors configurtion "
                f"(format {fmt}, {group.describe()}: TGI loads float8 weights from "
                "float-/naive-quantized, int4/int8 from pack-quantized or marlin-24, int8 "
                "from int-/naive-quantized)"
            )
        for target in group.targets or ():
            if target in seen:
                return Verdict(f"Target '{target} has multiple configured loaders'")
            seen.add(target)
        name, kernel = picked
        assert weights is not None
        group_size = -1 if weights.group_size is None else weights.group_size
        if name == "WNA16IntLoader" and group_size not in MARLIN_GROUP_SIZES:
            return Verdict(
                f"Repacking GPTQ weights with group size {group_size} as Marlin is not "
                f"supported, must be one of: {', '.join(map(str, MARLIN_GROUP_SIZES))}"
            )
        if name == "WNA16Int24Loader" and group_size not in MARLIN_24_GROUP_SIZES:
            return Verdict(
                f"Group size {group_size} is not supported, must be one of: "
                f"{', '.join(map(str, MARLIN_24_GROUP_SIZES))}"
            )
        if name == "W8A8IntLoader" and not weights.symmetric:
            return Verdict("Checkpoints with asymmetric weights are not supported")
        kernels.add(kernel)
    if not parsed:
        return Verdict(
            "Cannot find compressed-tensors target for prefix: ... (config_groups is empty, "
            "so no linear layer has a loader)"
        )
    return Verdict(None, frozenset(kernels))


def fp8_loader_reads(scheme: CompressedTensorsScheme) -> str | None:
    """What `--quantize fp8` (layers/fp8.py HybridFP8UnquantLoader, which never reads the
    compressed-tensors config) finds under each linear's `.weight`, by the top-level format:
    "float8" (float-/naive-quantized float 8-bit groups: it loads them with weight_scale and
    input_scale), "packed" (pack-quantized, marlin-24, nvfp4-pack-quantized: no `.weight`),
    "int8" (int-/naive-quantized int groups: int8 `.weight` read as unquantized weights, its
    scales ignored), or None when that cannot be told (mixed or unknown formats)."""
    fmt = str(scheme.format) if scheme.format is not None else DEFAULT_FORMAT
    if "pack" in fmt or fmt == "marlin-24":
        return "packed"
    kinds = {_weight_type(group) for group in scheme.groups}
    if fmt in ("float-quantized", "naive-quantized") and kinds == {"float"}:
        return "float8"
    if fmt in ("int-quantized", "naive-quantized") and kinds == {"int"}:
        return "int8"
    return None


def _weight_type(group: SchemeGroup) -> str | None:
    """"int" or "float" for a group's weights (a preset's, for a list of targets); None when
    it quantizes no weights."""
    if group.preset:
        spec = PRESETS.get(group.name.upper(), (None, False))[0]
        return spec[0] if spec else None
    return str(group.weights.type).lower() if group.weights else None
