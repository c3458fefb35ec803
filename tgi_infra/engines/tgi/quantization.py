"""What TGI 3.3.7 does with a tier's `quantize` on a given checkpoint, read from its source.

The launcher passes `--quantize` = the tier's value, or else config.json's
`quantization_config.quant_method` when that is one of its enum values
(launcher/src/main.rs 360, 2168); the server picks a weights loader from it
(server/text_generation_server/utils/quantization.py `get_loader`), and each loader reads
the tensors of one format. tests/fixtures/engines/tgi_quantization.yaml holds the same
table cell by cell, with the file and line each cell was read from; the matrix test
compares the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from tgi_infra.engines.tgi.compressed_tensors import LOADER_FILE, fp8_loader_reads, judge
from tgi_infra.problems import Problem, Severity

if TYPE_CHECKING:
    from tgi_infra.capacity.catalog import Gpu
    from tgi_infra.capacity.compressed_tensors import CompressedTensorsScheme
    from tgi_infra.capacity.facts import ModelFacts
    from tgi_infra.config.models import TierConfig

Verdict = Literal["accepted", "reinterpreted", "refused", "unsupported", "unknown"]

# launcher/src/main.rs 405-447 `enum Quantization` (serde kebab-case).
LAUNCHER_VALUES: tuple[str, ...] = (
    "awq", "compressed-tensors", "eetq", "exl2", "gptq", "marlin", "bitsandbytes",
    "bitsandbytes-nf4", "bitsandbytes-fp4", "fp8",
)  # fmt: skip
UNSET = "unset"
NONE = "none"  # no quantization_config
OTHER = "other"  # a quant_method TGI has no loader for
GPTQ_MARLIN = "gptq+marlin"  # quant_method gptq, checkpoint_format marlin
CHECKPOINTS: tuple[str, ...] = (
    NONE, "awq", "gptq", GPTQ_MARLIN, "marlin", "exl2", "fp8", "fbgemm_fp8",
    "compressed-tensors", "bitsandbytes", OTHER,
)  # fmt: skip

BITSANDBYTES = frozenset({"bitsandbytes", "bitsandbytes-nf4", "bitsandbytes-fp4"})
ON_THE_FLY = BITSANDBYTES | {"eetq", "fp8"}
"""Loaders that quantize 16-bit `.weight` tensors at load (DefaultWeightsLoader, fp8)."""
GPTQ_LOADERS = frozenset({"awq", "gptq"})  # GPTQWeightsLoader / GPTQMarlinWeightsLoader
# Formats whose linear layers store no `<prefix>.weight` (packed tensors under other names).
PACKED = frozenset({"awq", "gptq", GPTQ_MARLIN, "marlin", "exl2"})
# The tensors each special loader reads first, by format: who has them.
HAS_QWEIGHT = frozenset({"awq", "gptq"})
HAS_MARLIN_B = frozenset({"marlin", GPTQ_MARLIN})
FP8_CONFIG = frozenset({"fbgemm_fp8"})  # _get_quantizer_config -> _FP8QuantizerConfig
# quant_method values the launcher's enum parses (else its whole config.json parse fails).
LAUNCHER_PARSES = frozenset(LAUNCHER_VALUES)
SERVER_AUTO = {"fbgemm_fp8": "fp8"}  # models/__init__.py 447-459, when the launcher passed none

CAUSES: dict[str, str] = {
    "native": "the checkpoint's own format.",
    "launcher-auto": "the launcher reads quant_method from config.json and passes it as "
    "--quantize.",
    "server-auto": "the launcher cannot parse fbgemm_fp8 (not in its enum), so it passes no "
    "--quantize; the server auto-selects fp8 and reads activation_scale_ub.",
    "on-the-fly": "quantized from the 16-bit weights at load.",
    "awq-as-gptq": "TGI repacks the AWQ weights for GPTQ-Marlin, or converts AWQ -> GPTQ "
    "packing (fast_awq_to_gptq).",
    "gptq-as-awq": "Marlin GPUs (sm80+, symmetric 4/8-bit) repack it as GPTQ; elsewhere TGI "
    "runs the GPTQ-packed weights through the AWQ GEMM kernel, without g_idx.",
    "ct-fp8-only": "the fp8 loader reads float8 `.weight` with weight_scale: FP8 schemes "
    "load; packed int schemes (weight_packed) have no `.weight`; int8 ones are cast to fp8 "
    "as values.",
    "no-qweight": "Cannot load `{quantize}` weight, make sure the model is already quantized.",
    "fp8-config": "Quantize is set to `{quantize}` but received a `_FP8QuantizerConfig` config.",
    "no-marlin": "Cannot load `marlin` weight, make sure the model is already quantized.",
    "no-exl2": "Cannot load `exl2`-quantized weight, make sure the model is already quantized.",
    "ct-parse": "Cannot parse compressed-tensors configuration",
    "no-dense": "weight <prefix>.weight does not exist",
    "ct-int8-as-fp8": "the fp8 loader takes the int8 `.weight` tensors for unquantized weights "
    "and quantizes them to fp8 without their weight_scale: the load fails or the model "
    "serves wrong outputs.",
    "requantize-stored": "TGI's {quantize} loader quantizes the stored tensors as if they "
    "were 16-bit weights; nothing reads this checkpoint's own quantization.",
    "unknown": "TGI 3.3.7 has no loader for this quant_method (the server logs 'Unknown "
    "quantization method').",
}


@dataclass(frozen=True)
class Cell:
    """TGI's behaviour for one (checkpoint, quantize) pair."""

    verdict: Verdict
    cause: str  # a key of CAUSES
    quantize: str  # what the shard runs with: the tier's value or the auto-selected one

    @property
    def severity(self) -> Literal["error", "warning"] | None:
        return {"accepted": None, "reinterpreted": "warning", "unknown": "warning"}.get(
            self.verdict, "error"
        )

    def behaviour(self) -> str:
        return CAUSES[self.cause].format(quantize=self.quantize)


def checkpoint_kind(facts: ModelFacts) -> str:
    """The table row of a checkpoint: its quant_method, told apart as TGI's loaders do."""
    method = (facts.checkpoint_quantization or "").strip().lower()
    if not method:
        return NONE
    fmt = (getattr(facts, "checkpoint_format", None) or "").strip().lower()
    if method == "gptq" and fmt == "marlin":
        return GPTQ_MARLIN
    return method if method in CHECKPOINTS else OTHER


def effective_quantize(checkpoint: str, quantize: str | None) -> str | None:
    """The --quantize the shard gets: the tier's, else what the launcher or server picks."""
    if quantize is not None:
        return quantize
    if checkpoint == GPTQ_MARLIN:
        return "gptq"  # the launcher passes quant_method, not checkpoint_format
    if checkpoint in LAUNCHER_PARSES:
        return checkpoint
    return SERVER_AUTO.get(checkpoint)


def cell(checkpoint: str, quantize: str | None) -> Cell:
    """TGI's verdict on a checkpoint kind (`CHECKPOINTS`) with a quantize (None: unset)."""
    if checkpoint == OTHER:
        return Cell("unknown", "unknown", quantize or UNSET)
    q = effective_quantize(checkpoint, quantize)
    if q is None:  # a 16-bit checkpoint, nothing asked
        return Cell("accepted", "native", UNSET)
    auto = (
        "native"
        if quantize is not None
        else ("server-auto" if checkpoint in SERVER_AUTO else "launcher-auto")
    )
    if checkpoint == NONE:
        if q in ON_THE_FLY:
            return Cell("accepted", "on-the-fly", q)
        return Cell("refused", _missing_tensor_cause(q), q)
    if q == "compressed-tensors":
        if checkpoint == q:
            return Cell("accepted", auto, q)
        return Cell("refused", "ct-parse", q)
    if q in GPTQ_LOADERS or q == "marlin":
        if checkpoint in FP8_CONFIG:
            return Cell("refused", "fp8-config", q)
        if q == "marlin":
            if checkpoint in HAS_MARLIN_B:
                return Cell("accepted", auto, q)
            return Cell("refused", "no-marlin", q)
        if checkpoint not in HAS_QWEIGHT:
            return Cell("refused", "no-qweight", q)
        if checkpoint == q:
            return Cell("accepted", auto, q)
        if q == "gptq":
            return Cell("accepted", "awq-as-gptq", q)
        return Cell("reinterpreted", "gptq-as-awq", q)
    if q == "exl2":
        if checkpoint == q:
            return Cell("accepted", auto, q)
        return Cell("refused", "no-exl2", q)
    # On-the-fly loaders (eetq, bitsandbytes*, fp8) on an already quantized checkpoint.
    if checkpoint in PACKED:
        return Cell("refused", "no-dense", q)
    if q == "fp8" and checkpoint in ("fp8", "fbgemm_fp8"):
        return Cell("accepted", auto, q)
    if q == "fp8" and checkpoint == "compressed-tensors":
        return Cell("reinterpreted", "ct-fp8-only", q)
    return Cell("unsupported", "requantize-stored", q)


def _missing_tensor_cause(quantize: str) -> str:
    """A 16-bit checkpoint under a loader that needs a quantized format."""
    return {"marlin": "no-marlin", "exl2": "no-exl2", "compressed-tensors": "ct-parse"}.get(
        quantize, "no-qweight"
    )


PREQUANTIZED_ONLY: frozenset[str] = frozenset(
    q for q in LAUNCHER_VALUES if cell(NONE, q).verdict != "accepted"
)
"""quantize values TGI refuses on a 16-bit checkpoint (it cannot quantize to them at load)."""


def check_quantize(tier: TierConfig, facts: ModelFacts) -> list[Problem]:
    """`quantize` against the checkpoint's quantization_config, as TGI 3.3.7 would load it."""
    kind = checkpoint_kind(facts)
    found = cell(kind, tier.quantize)
    if found.cause == "ct-fp8-only" and facts.compressed_tensors is not None:
        found = _fp8_on_compressed_tensors(found, facts.compressed_tensors)
    if found.severity is None:
        return []
    method = facts.checkpoint_quantization or "none (16-bit)"
    if kind == GPTQ_MARLIN:
        method = "gptq with checkpoint_format marlin"
    value = tier.quantize or "unset"
    passed = ""
    if tier.quantize is None and found.quantize != UNSET:
        passed = f" (TGI then runs --quantize {found.quantize})"
    what = {
        "refused": "TGI fails at load: ",
        "unsupported": "TGI has no loader for that pair: ",
        "reinterpreted": "TGI loads it, but not as asked: ",
        "unknown": "",
    }[found.verdict]
    return [
        Problem(
            f"tiers[{tier.name}].quantize",
            f"{value} on {facts.model_id}, a checkpoint quantized with {method}{passed}: "
            f"{what}{found.behaviour()}",
            _fix(kind, tier.quantize),
            "tgi-quantize-checkpoint",
            found.severity,
        )
    ]


def _fp8_on_compressed_tensors(found: Cell, scheme: CompressedTensorsScheme) -> Cell:
    """The `ct-fp8-only` cell made exact where the scheme was read (`fp8_loader_reads`)."""
    reads = fp8_loader_reads(scheme)
    if reads == "float8":
        return Cell("accepted", "native", found.quantize)
    if reads == "packed":
        return Cell("refused", "no-dense", found.quantize)
    if reads == "int8":
        return Cell("refused", "ct-int8-as-fp8", found.quantize)
    return found


SCHEME_CHECK = "tgi-compressed-tensors-scheme"


def check_scheme(tier: TierConfig, facts: ModelFacts) -> list[Problem]:
    """A compressed-tensors checkpoint TGI reads as one (`check_quantize` accepted it): its
    config_groups against TGI 3.3.7's four loaders (`compressed_tensors.judge`)."""
    scheme = facts.compressed_tensors
    found = cell(checkpoint_kind(facts), tier.quantize)
    if scheme is None or found.verdict != "accepted" or found.quantize != "compressed-tensors":
        return []
    verdict = judge(scheme)
    if verdict.error is None:
        return []
    fix = (
        "serve the dense variant of the model (vLLM 0.34 refuses any sparsity_config too)."
        if scheme.sparse_weights_compressed
        else "serve it on vLLM or SGLang (engine: vllm|sglang), or use a W4A16/W8A16 "
        "(pack-quantized), FP8 (float-quantized) or W8A8 int8 (int-quantized) export of the "
        "model."
    )
    return [
        Problem(
            f"tiers[{tier.name}].quantize",
            f"{facts.model_id} is a compressed-tensors checkpoint ({scheme.describe()}) that "
            f"TGI 3.3.7 fails to load: {verdict.error} ({LOADER_FILE}).",
            fix,
            SCHEME_CHECK,
        )
    ]


def _fix(kind: str, quantize: str | None) -> str:
    if kind == NONE:
        return (
            f"use a checkpoint quantized with {quantize} (e.g. an -AWQ or -GPTQ repo), or a "
            "method TGI applies at load: eetq, fp8 or bitsandbytes-nf4."
        )
    if kind == OTHER:
        return (
            "serve an awq, gptq, fp8 or compressed-tensors variant of the model on TGI, or this "
            "checkpoint on vLLM or SGLang."
        )
    accepted = [q for q in LAUNCHER_VALUES if cell(kind, q).verdict == "accepted"]
    if cell(kind, None).verdict == "accepted":
        native = effective_quantize(kind, None)
        return f"leave quantize unset (TGI reads it from the checkpoint) or set {native}."
    if accepted:
        return f"set quantize {accepted[0]}."
    return (
        "TGI reads no weights of this format: use the 16-bit model with quantize eetq or "
        "bitsandbytes-nf4 (quantized at load), or an AWQ/GPTQ checkpoint."
    )


# --------------------------------------------------------------------------- on a GPU

GPU_CHECK = "tgi-quantize-gpu"
# The TGI 3.3.7 CUDA image (Dockerfile, kernel-builder stage) builds its own kernels, the
# llm-awq GEMM (awq_inference_engine) among them, with TORCH_CUDA_ARCH_LIST="8.0;8.6;9.0+PTX".
IMAGE_ARCHS = "8.0;8.6;9.0+PTX"
CT_BELOW_80 = (
    "TGI runs compressed-tensors int4/int8 weight-only schemes through Marlin (compute 8.0+) "
    "and FP8 schemes through torch._scaled_mm (8.9+, Marlin on 8.x); on this GPU only W8A8 "
    "int8 checkpoints load."
)


def gpu_refusal(
    kind: str, quantize: str, gpu: Gpu, scheme: CompressedTensorsScheme | None = None
) -> tuple[str, str, Severity] | None:
    """Why TGI 3.3.7 cannot run this checkpoint kind with `quantize` (the one the shard gets)
    on `gpu`: (message, fix, severity), or None. Below compute 8.0 the Marlin, FP8, AWQ and
    exllama kernels do not run (Triton GPTQ and bitsandbytes do; eetq, a Hub kernel whose
    builds are not read here, is not judged); from 8.0 every quantize has a kernel. A
    compressed-tensors `scheme`, when read, names the kernels its groups load on."""
    if gpu.compute_capability_tuple >= (8, 0):
        return None
    below = f"the {gpu.name} is compute capability {gpu.compute_capability}"
    if quantize == "compressed-tensors" and kind == "compressed-tensors" and scheme:
        kernels = judge(scheme).kernels
        if "marlin" in kernels:
            return (
                "its int4/int8 weight-only groups (pack-quantized, marlin-24) load through "
                "GPTQ-Marlin: 'Using quantized Marlin models requires a GPU with CUDA "
                f"capability 8.0 or later' (layers/marlin/util.py; {below}).",
                "serve it on a GPU of compute capability 8.0+, or on vLLM (its WNA16 "
                "scheme runs from 7.5).",
                "error",
            )
        if "fp8" in kernels:
            return (
                "its float8 groups load as Fp8Linear below compute 8.0, i.e. "
                "torch._scaled_mm, which fails at warmup: 'torch._scaled_mm is only "
                "supported on CUDA devices with compute capability >= 9.0 or 8.9, or ROCm "
                f"MI300+' ({below}).",
                "serve it on a GPU of compute capability 8.0+, or on vLLM (its W8A16 FP8 "
                "scheme runs from 7.5).",
                "error",
            )
        return None  # W8A8 int8 only: cutlass int8 runs from 7.5
    if quantize == "marlin":
        return (
            "Using quantized Marlin models requires a GPU with CUDA capability 8.0 or later "
            f"(layers/marlin/util.py; {below}).",
            "serve it on a GPU of compute capability 8.0+ (A10G, L4, L40S, A100, H100...), "
            "or a GPTQ export with quantize gptq.",
            "error",
        )
    if quantize == "fp8":
        return (
            "TGI's FP8 linear below compute 8.0 is torch._scaled_mm, which fails at warmup: "
            "'torch._scaled_mm is only supported on CUDA devices with compute capability >= "
            f"9.0 or 8.9, or ROCm MI300+' ({below}; on 8.x TGI uses its Marlin FP8 kernel).",
            "use quantize bitsandbytes-nf4 on the 16-bit model, an AWQ/GPTQ export with "
            "quantize gptq, or a GPU of compute capability 8.0+.",
            "error",
        )
    if quantize == "awq":
        return (
            "quantize awq runs the llm-awq GEMM kernel (awq_inference_engine), which the TGI "
            f"image builds for {IMAGE_ARCHS} only: 'CUDA error: no kernel image is available "
            f"for execution on the device' at warmup ({below}).",
            "set quantize gptq: TGI converts the AWQ packing to GPTQ (fast_awq_to_gptq) and "
            "runs it on its Triton GPTQ kernel, which runs here; or use a GPU of compute "
            "capability 8.0+.",
            "error",
        )
    if quantize == "exl2":
        return (
            "exl2 runs on the exllama kernels, which TGI imports only on compute 8.0+ "
            "(layers/gptq/__init__.py CAN_EXLLAMA = major >= 8): loading fails with 'cannot "
            f"import name ExllamaQuantLinear' ({below}).",
            "use a GPTQ export with quantize gptq, or a GPU of compute capability 8.0+.",
            "error",
        )
    if quantize == "compressed-tensors" and kind == "compressed-tensors":
        return (
            f"{CT_BELOW_80} ({below}).",
            "check the checkpoint's scheme, or use a GPU of compute capability 8.0+.",
            "warning",
        )
    return None


def check_quantize_on_gpu(tier: TierConfig, facts: ModelFacts, gpu: Gpu) -> list[Problem]:
    """`gpu_refusal` for the quantize TGI would run, unless the checkpoint itself is refused
    or of a quant_method TGI has no loader for."""
    kind = checkpoint_kind(facts)
    found = cell(kind, tier.quantize)
    if found.verdict in ("refused", "unsupported", "unknown") or found.quantize == UNSET:
        return []
    if check_scheme(tier, facts):
        return []
    refusal = gpu_refusal(kind, found.quantize, gpu, facts.compressed_tensors)
    if refusal is None:
        return []
    message, fix, severity = refusal
    value = tier.quantize or f"unset (TGI runs --quantize {found.quantize})"
    return [
        Problem(
            f"tiers[{tier.name}].quantize",
            f"{value} on {facts.model_id} on a {gpu.name}: {message}",
            fix,
            GPU_CHECK,
            severity,
        )
    ]
