"""What SGLang 0.5.23 does with a tier's `quantize` on a given checkpoint, on an NVIDIA GPU.

Read from the sglang 0.5.23 wheel (PyPI, cp311 manylinux_2_34, sha256 00b3cd5b…d859937):
- `srt/configs/model_config.py` `_verify_quantization` (lines 2000-2172): the checkpoint's
  quant_method (config.json `quantization_config`, else `compression_config`, else
  `hf_quant_config.json`) is matched against `--quantization`. Each registered method may
  first override the flag (`override_quantization_method`); then a flag that differs from
  the checkpoint must be in `compatible_quantization_methods` or a requantization method,
  else "Quantization method specified in the model config (M) does not match the
  quantization method specified in the `quantization` argument (T)." Finally the method
  must be registered: "Unknown quantization method: T. Must be one of [...]".
- `srt/layers/quantization/__init__.py` `BASE_QUANTIZATION_METHODS` (+ mxfp4 on CUDA): the
  registry on an NVIDIA GPU. `gptq` is registered only on NPU, CPU and XPU ("Plain GPTQ is
  CUDA-only in name: the kernel is gone"); mlx_q4/mlx_q8 only on MPS.
- Overrides: `awq/awq.py` 333 (awq -> awq_marlin for flag None/awq_marlin), `gptq/gptq.py`
  414 (gptq -> gptq_marlin for flag None/gptq_marlin, not for checkpoint_format marlin),
  `moe_wna16.py` 164 (flag moe_wna16 on gptq/awq), `base_config.py` 223 (ModelOpt
  checkpoints resolve to their own modelopt_* method), `humming.py` 503.
- `srt/model_loader/weight_utils.py` `get_quant_config` 269-389: with no quantization
  config in config.json, a method that has config files (`get_config_filenames`) needs one
  of them in the repo, else "Cannot find the config file for T".

Only what SGLang refuses whatever the GPU is refused here. Where the outcome hangs on
details the facts do not carry (bits, group size, desc_act for Marlin), nothing is said.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tgi_infra.capacity.compressed_tensors import as_bool, as_int
from tgi_infra.engines.common import UNDETECTED_QUANTIZATION_FILES, quantization_not_detected
from tgi_infra.problems import Problem

if TYPE_CHECKING:
    from tgi_infra.capacity.catalog import Gpu
    from tgi_infra.capacity.compressed_tensors import CompressedTensorsScheme
    from tgi_infra.capacity.facts import ModelFacts
    from tgi_infra.config.models import TierConfig

# layers/quantization/__init__.py BASE_QUANTIZATION_METHODS, plus mxfp4 (is_cuda()).
CUDA_METHODS: frozenset[str] = frozenset(
    {
        "fp8", "mxfp8", "minimax_m3_nvfp4", "blockwise_int8", "modelopt", "modelopt_fp8",
        "modelopt_fp4", "nvfp4_online", "modelopt_mixed", "w8a8_int8", "w8a8_fp8", "awq",
        "awq_marlin", "bitsandbytes", "gguf", "gptq_marlin", "moe_wna16",
        "compressed-tensors", "w4afp8", "petit_nvfp4", "quark", "quark_mxfp4", "auto-round",
        "auto-round-int8", "modelslim", "quark_int4fp8_moe", "humming", "mxfp_w4a8", "mxfp4",
    }
)  # fmt: skip
# model_config.py 545: flags honoured on any checkpoint (requantized online).
REQUANTIZATION_METHODS = frozenset({"quark_mxfp4"})
# model_config.py `compatible_quantization_methods`: flag -> checkpoint methods it accepts.
COMPATIBLE: dict[str, frozenset[str]] = {
    "modelopt_fp8": frozenset({"modelopt"}),
    "modelopt_fp4": frozenset({"modelopt", "fp8"}),
    "modelopt_mixed": frozenset({"modelopt"}),
    "nvfp4_online": frozenset({"fp8", "modelopt_fp8"}),
    "minimax_m3_nvfp4": frozenset({"mxfp8"}),
    "petit_nvfp4": frozenset({"modelopt"}),
    "w8a8_int8": frozenset({"compressed-tensors", "compressed_tensors"}),
    "w8a8_fp8": frozenset({"compressed-tensors", "compressed_tensors"}),
    "auto-round-int8": frozenset({"compressed-tensors", "compressed_tensors"}),
}
# Overrides that turn a flag into the checkpoint's own method (so no mismatch), when the
# checkpoint's bits/group size allow it: flag -> checkpoint methods.
OVERRIDDEN: dict[str, frozenset[str]] = {
    "awq_marlin": frozenset({"awq"}),
    "gptq_marlin": frozenset({"gptq"}),
    "moe_wna16": frozenset({"gptq", "awq"}),
}
# Flags whose config class reads a file beside config.json when config.json has none
# (get_config_filenames): awq quant_config.json/quantize_config.json, the Marlin and
# moe_wna16 configs quantize_config.json. The facts fold those files in, so a checkpoint
# without a quantization method has none of them.
NEEDS_CHECKPOINT_CONFIG = frozenset({"awq", "awq_marlin", "gptq_marlin", "moe_wna16"})
# The files each of those reads when config.json has no quantization_config.
CONFIG_FILES: dict[str, frozenset[str]] = {
    "awq": frozenset({"quant_config.json", "quantize_config.json"}),
    "awq_marlin": frozenset({"quantize_config.json"}),
    "gptq_marlin": frozenset({"quantize_config.json"}),
    "moe_wna16": frozenset({"quantize_config.json"}),
}
# get_min_capability of each config class (loader.py 259: "The quantization method T is not
# supported for the current GPU. Minimum capability: N. Current capability: C.").
MIN_CAPABILITY: dict[str, int] = {
    "awq": 75, "awq_marlin": 80, "gptq_marlin": 80, "fp8": 80, "compressed-tensors": 70,
    "bitsandbytes": 70, "w8a8_int8": 75, "modelopt_fp8": 89, "modelopt_fp4": 80,
    "modelopt_mixed": 80,
}  # fmt: skip
MARLIN_GROUP_SIZES = (-1, 32, 64, 128)  # marlin_utils.MARLIN_SUPPORTED_GROUP_SIZES
# The lowest get_min_capability of compressed_tensors/schemes/*.py (WNA16, W8A8 int8, W8A16
# FP8, W4A16 NVFP4: 80), which `get_scheme` enforces per layer (compressed_tensors.py 1091).
CT_SCHEME_MIN_CAPABILITY = 80
CHECK = "sglang-checkpoint-quantization"
GPU_CHECK = "sglang-quantization-gpu"


def _same_format(flag: str, carried: str, checkpoint_format: str | None) -> bool:
    if flag == carried or flag in REQUANTIZATION_METHODS:
        return True
    if carried.startswith("modelopt"):
        return True  # ModelOpt overrides resolve the flag to the checkpoint's own method
    if flag == "humming":
        return carried != "mxfp4"
    if flag == "gptq_marlin" and checkpoint_format == "marlin":
        return False  # check_marlin_format: no override, so gptq_marlin != gptq
    return carried in COMPATIBLE.get(flag, ()) or carried in OVERRIDDEN.get(flag, ())


MARLIN_GPTQ_FIX = (
    "SGLang reads no GPTQ checkpoint stored in Marlin format (checkpoint_format marlin): "
    "use the model's plain GPTQ export, or serve this one on vLLM or TGI."
)


def quantization_refusal(
    flag: str | None,
    carried: str | None,
    checkpoint_format: str | None = None,
    quantization_file: str | None = None,
) -> tuple[str, str] | None:
    """SGLang's own refusal of `--quantization flag` on a checkpoint quantized with
    `carried` (None: 16-bit), as (message, fix); None where SGLang starts.
    `quantization_file` is where the checkpoint's settings are (ModelFacts)."""
    flag = flag.lower() if flag else None
    if flag == "unquant":
        return None
    if quantization_file in UNDETECTED_QUANTIZATION_FILES and flag is not None:
        # _verify_quantization sees no quant config: only the loader reads the file.
        if flag in CONFIG_FILES and quantization_file not in CONFIG_FILES[flag]:
            return (
                f"Cannot find the config file for {flag}: it reads "
                f"{' or '.join(sorted(CONFIG_FILES[flag]))}, and the checkpoint keeps its "
                f"settings in {quantization_file}.",
                f"set quantize {'awq' if quantization_file == 'quant_config.json' else flag}.",
            )
        if flag in CONFIG_FILES:
            return None  # the loader reads the file; nothing compares it with the flag
    marlin_gptq = carried == "gptq" and checkpoint_format == "marlin"
    if (
        carried is not None
        and flag is not None
        and not _same_format(flag, carried, checkpoint_format)
    ):
        native = "gptq_marlin" if carried == "gptq" else carried
        return (
            "Quantization method specified in the model config "
            f"({carried}) does not match the quantization method specified in the "
            f"`quantization` argument ({flag}).",
            MARLIN_GPTQ_FIX
            if marlin_gptq
            else f"drop quantize (SGLang reads {carried} from the checkpoint) or set it to "
            f"{native}.",
        )
    resolved = flag or carried
    # A gptq checkpoint with no flag becomes gptq_marlin where Marlin runs it: that depends
    # on the GPU and the checkpoint's bits (`gpu_refusal`), not said here.
    gptq_auto = flag is None and carried == "gptq" and not marlin_gptq
    if resolved is not None and resolved not in CUDA_METHODS and not gptq_auto:
        return _unknown(resolved, carried, flag, marlin_gptq)
    if carried is None and flag in NEEDS_CHECKPOINT_CONFIG:
        return (
            f"Cannot find the config file for {flag}: the checkpoint has no "
            "quantization_config (nor quantize_config.json / quant_config.json), so it is "
            "not quantized.",
            "use a checkpoint quantized with that method (an -AWQ / -GPTQ repo), a method "
            "SGLang applies at load (fp8), or drop quantize.",
        )
    return None


def _unknown(
    resolved: str, carried: str | None, flag: str | None, marlin_gptq: bool
) -> tuple[str, str]:
    if marlin_gptq:
        fix = MARLIN_GPTQ_FIX
    elif resolved == "gptq":
        on = " on a GPTQ checkpoint" if carried is None else ""
        fix = f"set quantize gptq_marlin (SGLang's GPTQ kernel on NVIDIA GPUs){on}, or "
        fix += "leave it unset."
    elif flag is None:
        fix = (
            f"serve this checkpoint on an engine that reads {carried}, or pick a variant "
            "SGLang reads (awq, gptq, fp8, compressed-tensors, modelopt)."
        )
    else:
        fix = "leave quantize unset or set one of SGLang's CUDA methods."
    return (
        f"Unknown quantization method: {resolved}. Must be one of SGLang's CUDA "
        f"methods ({', '.join(sorted(CUDA_METHODS))}).",
        fix,
    )


def compressed_tensors_refusal(scheme: CompressedTensorsScheme) -> tuple[str, str] | None:
    """What SGLang 0.5.23's compressed_tensors.py raises for a scheme, layer by layer: a 2:4
    sparsity_config over unquantized or W8A8 8-bit layers (`supports_cutlass_24`, line 1062),
    or an int weight-only group stored other than pack-quantized 4/8-bit (line 750)."""
    sparse24 = (
        bool(scheme.sparsity_targets)
        and scheme.sparsity_structure == "2:4"
        and scheme.sparsity_format in ("dense", "sparse-24-bitmask")
    )
    for group in scheme.groups:
        w, a = group.weights, group.input_activations
        if w is None or group.preset:
            continue
        strategy = w.inferred_strategy
        bits = as_int(w.num_bits)
        weight_only_int = (
            a is None and str(w.type).lower() == "int" and as_bool(w.dynamic) is False
            and strategy in ("channel", "group")
        )  # fmt: skip
        fmt = group.format if group.format is not None else scheme.format
        if weight_only_int and (fmt != "pack-quantized" or bits not in (4, 8)):
            return (
                "Other method (CompressedTensorsW4A16Sparse24) is not supported now: group "
                f"{group.name} is int{w.num_bits} weight-only stored {fmt}, and SGLang runs "
                "those only pack-quantized, 4- or 8-bit.",
                "serve a pack-quantized (W4A16/W8A16) export, or this checkpoint on vLLM.",
            )
        w8a8 = (
            a is not None and strategy in ("tensor", "channel")
            and a.inferred_strategy in ("tensor", "token")
            and bits == as_int(a.num_bits) == 8
        )  # fmt: skip
        if sparse24 and w8a8:
            return (
                "CompressedTensors24 is not supported now: a 2:4 sparsity_config over W8A8 "
                f"8-bit layers (group {group.name}).",
                "serve the dense variant of the model.",
            )
    if sparse24 and not any(g.weights or g.preset for g in scheme.groups):
        return (
            "CompressedTensors24 is not supported now: a 2:4 sparsity_config over unquantized "
            "layers.",
            "serve the dense variant of the model.",
        )
    return None


def check_quantize(tier: TierConfig, facts: ModelFacts) -> list[Problem]:
    """`quantize` against the checkpoint's quantization method, as SGLang 0.5.23 loads it."""
    hidden = quantization_not_detected(tier, facts, "SGLang", {"gptq": "gptq_marlin"}, CHECK)
    if hidden:
        return hidden
    refusal = quantization_refusal(
        tier.quantize, facts.checkpoint_quantization, facts.checkpoint_format,
        facts.quantization_file,
    )  # fmt: skip
    scheme = facts.compressed_tensors
    if refusal is None and scheme is not None and tier.quantize in (None, "compressed-tensors"):
        refusal = compressed_tensors_refusal(scheme)
    if refusal is None:
        return []
    message, fix = refusal
    return [Problem(f"tiers[{tier.name}].quantize", f"SGLang: {message} ({facts.model_id})",
                    fix, CHECK)]  # fmt: skip


def _marlin_blocker(facts: ModelFacts, gpu: Gpu, method: str) -> str | None:
    """Why Marlin cannot run this GPTQ/AWQ checkpoint on `gpu` (None: it can, or the
    checkpoint's settings were not read), as `is_gptq_marlin_compatible` /
    `is_awq_marlin_compatible` and `check_marlin_supported` decide."""
    if gpu.compute_capability_int < 80:
        return f"Marlin needs compute capability 8.0 (the {gpu.name} is {gpu.compute_capability})"
    if facts.quantization_file is None:
        return None  # catalog or modelSpec facts: the bits were not read
    bits, group = facts.quant_bits, facts.quant_group_size
    if method == "gptq":
        needed = {"bits": bits, "group_size": group, "sym": facts.quant_sym,
                  "desc_act": facts.quant_desc_act}  # fmt: skip
        fits = bits in (4, 8) and facts.quant_sym is True
        what = f"bits {bits} with sym {facts.quant_sym} (Marlin runs 4- or 8-bit symmetric)"
    else:
        needed = {"bits": bits, "group_size": group, "zero_point": facts.quant_zero_point}
        fits = bits in (4, 8)
        what = f"bits {bits} (Marlin runs 4 or 8)"
    missing = [key for key, value in needed.items() if value is None]
    if missing:
        return f"its quantization_config does not state {', '.join(missing)}"
    if not fits:
        return what
    if group not in MARLIN_GROUP_SIZES:
        return f"group_size {group} (Marlin runs -1, 32, 64 or 128)"
    return None


def gpu_refusal(
    flag: str | None, facts: ModelFacts, gpu: Gpu
) -> tuple[str, str] | None:
    """What SGLang refuses for this checkpoint on this GPU, once `quantization_refusal` and
    `quantization_not_detected` found nothing: Marlin conversion, then the method's minimum
    compute capability."""
    flag = flag.lower() if flag else None
    carried = facts.checkpoint_quantization
    resolved = flag or carried
    sidecar = facts.quantization_file in UNDETECTED_QUANTIZATION_FILES
    if flag == "unquant" or resolved is None:
        return None
    if carried in ("gptq", "awq") and not sidecar and flag in (None, f"{carried}_marlin"):
        blocker = _marlin_blocker(facts, gpu, carried)
        on_gpu = blocker is not None and blocker.startswith("Marlin needs")
        if blocker is None:
            resolved = f"{carried}_marlin"
        elif carried == "awq" and flag is not None:  # no override: awq_marlin != awq
            return (
                "Quantization method specified in the model config (awq) does not match the "
                "quantization method specified in the `quantization` argument (awq_marlin): "
                f"Marlin cannot run this checkpoint here ({blocker}).",
                "set quantize awq (SGLang's AWQ kernel, compute capability 7.5+) or leave it "
                "unset.",
            )
        elif carried == "gptq":
            message = (
                "Quantization method specified in the model config (gptq) does not match the "
                "quantization method specified in the `quantization` argument (gptq_marlin)"
                if flag is not None
                else "Unknown quantization method: gptq"
            )
            fix = (
                "serve it on a GPU of compute capability 8.0+ (A10G, L4, L40S, A100, H100...), "
                if on_gpu
                else "use a 4- or 8-bit symmetric GPTQ export (group size 128), "
            )
            return (
                f"{message}: the GPTQ checkpoint is not converted to gptq_marlin ({blocker}), "
                "and plain gptq has no CUDA kernel in SGLang 0.5.23.",
                fix + "or an AWQ export, or serve this one on TGI or vLLM.",
            )
    need = MIN_CAPABILITY.get(resolved)
    have = gpu.compute_capability_int
    if need is not None and have < need:
        return (
            f"The quantization method {resolved} is not supported for the current GPU. "
            f"Minimum capability: {need}. Current capability: {have} ({gpu.name}).",
            f"use a GPU of compute capability {need // 10}.{need % 10}+ or another "
            "quantization (awq runs from 7.5).",
        )
    scheme = facts.compressed_tensors
    quantized = scheme is None or any(g.weights or g.preset for g in scheme.groups)
    if resolved == "compressed-tensors" and have < CT_SCHEME_MIN_CAPABILITY and quantized:
        return (
            "Quantization scheme is not supported for the current GPU. Min capability: "
            f"{CT_SCHEME_MIN_CAPABILITY}. Current capability: {have} ({gpu.name}; every "
            "compressed-tensors linear scheme of SGLang 0.5.23 needs 8.0, the NVFP4 and "
            "FP8 W8A8 ones falling back to their 8.0 weight-only forms).",
            "serve it on a GPU of compute capability 8.0+, or on vLLM (its compressed-"
            "tensors schemes run from 7.5).",
        )
    return None


def check_quantize_on_gpu(tier: TierConfig, facts: ModelFacts, gpu: Gpu) -> list[Problem]:
    """`gpu_refusal` for a tier whose checkpoint checks passed (`check_quantize` empty)."""
    if check_quantize(tier, facts):
        return []
    refusal = gpu_refusal(tier.quantize, facts, gpu)
    if refusal is None:
        return []
    message, fix = refusal
    return [Problem(f"tiers[{tier.name}].quantize", f"SGLang: {message} ({facts.model_id})",
                    fix, GPU_CHECK)]  # fmt: skip
