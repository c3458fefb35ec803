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

from tgi_infra.problems import Problem

if TYPE_CHECKING:
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
CHECK = "sglang-checkpoint-quantization"


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
    flag: str | None, carried: str | None, checkpoint_format: str | None = None
) -> tuple[str, str] | None:
    """SGLang's own refusal of `--quantization flag` on a checkpoint quantized with
    `carried` (None: 16-bit), as (message, fix); None where SGLang starts."""
    flag = flag.lower() if flag else None
    if flag == "unquant":
        return None
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
    # A gptq checkpoint with no flag becomes gptq_marlin where Marlin runs its bits and
    # group size, which the facts do not carry: nothing is said then.
    gptq_auto = flag is None and carried == "gptq" and not marlin_gptq
    if resolved is not None and resolved not in CUDA_METHODS and not gptq_auto:
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
    if carried is None and flag in NEEDS_CHECKPOINT_CONFIG:
        return (
            f"Cannot find the config file for {flag}: the checkpoint has no "
            "quantization_config (nor quantize_config.json / quant_config.json), so it is "
            "not quantized.",
            "use a checkpoint quantized with that method (an -AWQ / -GPTQ repo), a method "
            "SGLang applies at load (fp8), or drop quantize.",
        )
    return None


def check_quantize(tier: TierConfig, facts: ModelFacts) -> list[Problem]:
    """`quantize` against the checkpoint's quantization method, as SGLang 0.5.23 loads it."""
    refusal = quantization_refusal(
        tier.quantize, facts.checkpoint_quantization, facts.checkpoint_format
    )
    if refusal is None:
        return []
    message, fix = refusal
    return [Problem(f"tiers[{tier.name}].quantize", f"SGLang: {message} ({facts.model_id})",
                    fix, CHECK)]  # fmt: skip
