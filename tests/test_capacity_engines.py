"""The per-engine KV models against public startup logs, with falsifiable tolerances.

Each case has its own tolerance (``TOLERANCE``), tight enough that zeroing any fitted or
source term (CUDA context, non-torch/NCCL memory, wiggle room, activation peak) moves at
least one case outside it (the ablation tests). Held-out cases the model misses are kept
as strict xfails with their error and likely cause; they still count in the accuracy table
(``benchmarks/memory_accuracy.py``).
"""

from __future__ import annotations

import statistics

import pytest

from tests import engine_logs
from tests.engine_logs import SGLANG_CASES, VLLM_CASES, VLLM_NOT_FITS, LogCase, error, predict
from tests.test_capacity_memory import REPORTS, _predict
from tgi_infra.capacity import memory, sglang_memory, vllm_memory
from tgi_infra.capacity.catalog import gpu
from tgi_infra.capacity.kv import (
    ERROR_BAND,
    KvSettings,
    engine_flags,
    error_band_problem,
    plan_kv,
    torch_total_bytes,
)
from tgi_infra.capacity.sglang_memory import default_mem_fraction_static
from tgi_infra.capacity.vllm_memory import (
    default_max_num_batched_tokens,
    default_max_num_seqs,
    plan_vllm,
)

# Per-case tolerances (|predicted - logged| / logged), set from the source's rounding and
# the case's own uncertainty, not from the fit.
TOLERANCE: dict[str, float] = {
    VLLM_CASES[0].case: 0.04,  # its printed terms set NON_TORCH_BYTES and ACTIVATION_FACTOR
    VLLM_CASES[1].case: 0.05,
    VLLM_CASES[2].case: 0.05,
    VLLM_CASES[3].case: 0.08,  # model taken from the file size; V0 on Turing in 0.9
    # LMCache connector in the command (buffers the model does not see)
    VLLM_CASES[4].case: 0.15,
    VLLM_CASES[6].case: 0.05,  # GPU inferred from the logged memory lines
    VLLM_CASES[7].case: 0.06,  # its log prints weights 8.8 GiB and activation 1.4 GiB
    VLLM_CASES[8].case: 0.05,  # its printed non-torch memory sets NCCL_BYTES_PER_SHARD
    VLLM_CASES[9].case: 0.08,  # version and GPU assumed
    VLLM_CASES[10].case: 0.03,
    VLLM_CASES[11].case: 0.06,  # a desktop GPU: Xorg and the shell hold memory
    VLLM_CASES[12].case: 0.06,
    VLLM_CASES[13].case: 0.05,  # sampler-bound: 512 batched tokens, 256 x 128256 logits
    VLLM_CASES[14].case: 0.07,  # the log prints non-torch 0.26 GiB against 0.35 modelled
    SGLANG_CASES[0].case: 0.02,
    SGLANG_CASES[1].case: 0.005,
    SGLANG_CASES[2].case: 0.006,
    SGLANG_CASES[3].case: 0.02,
    SGLANG_CASES[4].case: 0.10,  # Docker on WSL2: the Windows desktop holds ~0.3 GiB
    SGLANG_CASES[5].case: 0.02,
    SGLANG_CASES[6].case: 0.03,  # exercises the 0.4.8-0.5.2 default (0.818 on 16303 MiB)
    SGLANG_CASES[7].case: 0.02,
}
XFAIL: dict[str, str] = {
    VLLM_CASES[5].case: (
        "V1 0.7.1 with w8a8: about 1.6 GiB more than the model's activation peak (int8 "
        "activation-quant buffers, V1's profile run); the case's GPU is also assumed"
    ),
}
# Each TGI case not marked xfail: its |error| at the shipped constants plus 3 points, so a
# change of more than 3 points on any case (or removing a term) fails a test.
TGI_TOLERANCE: dict[str, float] = {
    REPORTS[0].case: 0.034,  # Llama-2-7b, A10G, TGI 0.9.x (tuned, -0.4 %)
    REPORTS[1].case: 0.062,  # Llama-7B, A10, TGI 0.9.x (held out, -3.2 %)
    REPORTS[2].case: 0.035,  # gemma-2b, L4, TGI 1.4.0 + Gemma (tuned, -0.5 %)
    REPORTS[3].case: 0.042,  # Swallow-7b, A10, TGI 2.0.3 (held out, -1.2 %)
    REPORTS[5].case: 0.046,  # Llama-3.1-70B, 2x A100, TGI 2.4 (held out, +1.6 %)
    REPORTS[6].case: 0.165,  # gemma-3-27b VLM, 2x A6000, TGI 3.3 (held out, +13.5 %)
    REPORTS[7].case: 0.083,  # Mistral-7B, A100, TGI 2.0, prefill 32768 (held out, +5.3 %)
    REPORTS[8].case: 0.061,  # Llama-3.3-70B AWQ, 2x RTX 3090, TGI 3.0.1 (held out, +3.1 %)
    REPORTS[9].case: 0.111,  # prometheus-7b fp8, L40S, TGI 3.0.0 (held out, +8.1 %)
    REPORTS[10].case: 0.072,  # Qwen2.5-VL-3B, A6000, TGI 3.2.3 (held out, -4.2 %)
    REPORTS[11].case: 0.094,  # Mistral-7B v0.3, A10G, TGI 2.0.3 (held out, +6.3 %)
}

ENGINE_CASES = VLLM_CASES + SGLANG_CASES


def _param(c: LogCase):
    marks = [pytest.mark.xfail(strict=True, reason=XFAIL[c.case])] if c.case in XFAIL else []
    return pytest.param(c, id=c.case, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in ENGINE_CASES])
def test_public_log_within_its_tolerance(case: LogCase) -> None:
    assert case.source and case.role in ("tuned", "held_out")
    tolerance = TOLERANCE.get(case.case, 0.10)
    assert error(case) <= tolerance, (
        f"{case.case}: predicted {predict(case)}, logged {case.reported} ({case.source})"
    )


@pytest.mark.parametrize("name", list(TGI_TOLERANCE))
def test_tgi_case_within_its_tolerance(name: str) -> None:
    report = next(r for r in REPORTS if r.case == name)
    assert abs(_predict(report) - report.reported) / report.reported <= TGI_TOLERANCE[name]


def test_every_engine_has_tuned_and_held_out_cases() -> None:
    for cases in (VLLM_CASES, SGLANG_CASES):
        roles = {c.role for c in cases}
        assert roles == {"tuned", "held_out"}
        assert len({c.case for c in cases}) == len(cases)


def test_held_out_medians() -> None:
    # What the table in docs/capacity.md reports (held out, median |error|).
    sglang = [error(c) for c in SGLANG_CASES if c.role == "held_out"]
    assert statistics.median(sglang) <= 0.10
    vllm = [error(c) for c in VLLM_CASES if c.role == "held_out"]
    assert statistics.median(vllm) <= 0.10
    assert max(vllm) <= 0.25


def test_error_band_covers_the_held_out_errors() -> None:
    held = {
        # Strict-xfail cases are logs whose inputs cannot be recovered (an unidentified local
        # checkpoint, TGI#2842); they stay in the medians but do not widen the warning band.
        "tgi": [abs(_predict(r) - r.reported) / r.reported for r in REPORTS
                if r.role == "held_out" and not r.xfail],
        "vllm": [error(c) for c in VLLM_CASES if c.role == "held_out"],
        "sglang": [error(c) for c in SGLANG_CASES if c.role == "held_out"],
    }
    for engine, errs in held.items():
        assert max(errs) <= ERROR_BAND[engine] < max(errs) + 0.05, engine


def test_not_fits_case_predicts_no_kv_cache() -> None:
    # vllm#13882: 5.2 GiB of AWQ weights on an 8 GB card at utilization 0.7: 0 blocks.
    assert predict(VLLM_NOT_FITS) == 0
    plan = plan_kv("vllm", VLLM_NOT_FITS.facts, gpu(VLLM_NOT_FITS.gpu),
                   engine_logs.settings_for(VLLM_NOT_FITS), VLLM_NOT_FITS.version)
    assert not plan.fits and plan.terms["available_bytes"] < 0


# --------------------------------------------------------------------------- ablations


def _outside(cases, tol) -> list[str]:
    return [c.case for c in cases if error(c) > tol(c)]


ENGINE_ABLATIONS = [
    ("vllm non-torch memory", vllm_memory, "NON_TORCH_BYTES", 0),
    ("vllm activation peak", vllm_memory, "ACTIVATION_FACTOR", 0.0),
    ("vllm sampler sort", vllm_memory, "SAMPLER_BYTES_PER_VOCAB_ENTRY", 8),
    ("sglang CUDA context", sglang_memory, "CUDA_CONTEXT_BYTES", 0),
    ("sglang NCCL", sglang_memory, "NCCL_BYTES_PER_SHARD", 0),
]


@pytest.mark.parametrize(("label", "module", "name", "value"), ENGINE_ABLATIONS,
                         ids=[a[0] for a in ENGINE_ABLATIONS])
def test_removing_a_term_fails_a_case(monkeypatch, label, module, name, value) -> None:
    checked = [c for c in ENGINE_CASES if c.case not in XFAIL]
    assert not _outside(checked, lambda c: TOLERANCE.get(c.case, 0.10))
    monkeypatch.setattr(module, name, value)
    assert _outside(checked, lambda c: TOLERANCE.get(c.case, 0.10)), f"{label} is unconstrained"


TGI_ABLATIONS = [
    ("tgi CUDA context", "CUDA_CONTEXT_BYTES", 0),
    ("tgi NCCL", "NCCL_BYTES_PER_SHARD", 0),
    ("tgi wiggle room", "TGI_WIGGLE_ROOMS", tuple((v, 1.0) for v, _ in memory.TGI_WIGGLE_ROOMS)),
    ("tgi legacy wiggle room", "LEGACY_WIGGLE_ROOM", 1.0),
    ("tgi prefill logits", "LOGITS_ELEMENT_BYTES", 0),
]


def _tgi_outside() -> list[str]:
    out = []
    for r in REPORTS:
        tol = TGI_TOLERANCE.get(r.case)
        if tol is not None and abs(_predict(r) - r.reported) / r.reported > tol:
            out.append(r.case)
    return out


@pytest.mark.parametrize(("label", "name", "value"), TGI_ABLATIONS,
                         ids=[a[0] for a in TGI_ABLATIONS])
def test_removing_a_tgi_term_fails_a_case(monkeypatch, label, name, value) -> None:
    assert not _tgi_outside()
    monkeypatch.setattr(memory, name, value)
    assert _tgi_outside(), f"{label} is unconstrained"


def test_removing_the_tgi_activation_peak_fails_a_case(monkeypatch) -> None:
    assert not _tgi_outside()
    monkeypatch.setattr(memory, "activation_bytes_per_token", lambda *a, **k: 0.0)
    assert _tgi_outside()


# --------------------------------------------------------------------------- source arithmetic


def test_vllm_cuda_graph_estimate_charged_since_0_21_unless_eager() -> None:
    f = engine_logs.LLAMA_31_8B
    common = dict(total_bytes=80 * 2**30, weights_bytes=f.weight_bytes, kv_bytes_per_token=131072)
    old = plan_vllm(f, version=(0, 20, 0), **common)
    new = plan_vllm(f, version=(0, 21, 0), **common)
    eager = plan_vllm(f, version=(0, 21, 0), enforce_eager=True, **common)
    assert old.cuda_graph_bytes == 0 and eager.cuda_graph_bytes == 0
    assert new.available_bytes == eager.available_bytes - vllm_memory.CUDA_GRAPH_BYTES


def test_vllm_034_extensible_sizing() -> None:
    f = engine_logs.LLAMA_31_8B
    m = plan_vllm(f, total_bytes=80 * 2**30, weights_bytes=f.weight_bytes,
                  kv_bytes_per_token=131072, version=(0, 34, 0), gpu_name="H100-80GB")
    assert m.utilization == 1.0 and m.block_size == 64
    assert m.margin_bytes == max(2**30, int(0.75 * m.activation_bytes))
    expected = (80 * 2**30 - m.context_bytes - m.weights_bytes - m.non_torch_bytes
                - m.cuda_graph_bytes - m.margin_bytes - m.activation_bytes)
    assert m.available_bytes == expected
    assert m.kv_cache_tokens % 64 == 0


def test_vllm_default_batched_tokens() -> None:
    gib = 2**30
    assert default_max_num_batched_tokens((0, 6, 4), 24 * gib, "RTX-3090", 20000) == 20000
    assert default_max_num_batched_tokens((0, 6, 4), 24 * gib, "RTX-3090", 1024) == 2048
    # chunked prefill above 32K: 512 in 0.6.4 (its logs), 2048 in 0.6.6 (config.py)
    assert default_max_num_batched_tokens((0, 6, 4), 80 * gib, "H100", 131072) == 512
    assert default_max_num_batched_tokens((0, 6, 6), 80 * gib, "H100", 131072) == 2048
    assert default_max_num_batched_tokens((0, 34, 0), 79 * gib, "H100-80GB", 8192) == 8192
    assert default_max_num_batched_tokens((0, 34, 0), 79 * gib, "A100-80GB", 8192) == 2048
    assert default_max_num_batched_tokens((0, 34, 0), 178 * gib, "B200", 8192) == 16384


def test_sglang_default_mem_fraction() -> None:
    # < 0.5: the table by tensor parallelism (QwQ-32B log: tp 4 -> 0.85).
    assert default_mem_fraction_static((0, 4, 3), 23034, 4) == 0.85
    assert default_mem_fraction_static((0, 4, 1), 81559, 1) == 0.88
    # 0.5.23 on an H100: 512 + 8192 x 1.5 + 128 + 256 x 2 + 58 prefill graph sizes x 8 MiB.
    reserved = 512 + 8192 * 1.5 + 1 / 8 * 1024 + 256 * 2 + 58 * 8
    assert default_mem_fraction_static((0, 5, 23), 81559, 1) == round(
        (81559 - reserved) / 81559, 3)
    # An L4: 4096 chunk, max_bs 48, below the 10 GiB floor that applies above 60 GiB.
    reserved = 512 + 4096 * 1.5 + 128 + 48 * 2 + 50 * 8
    assert default_mem_fraction_static((0, 5, 23), 23034, 1) == round(
        (23034 - reserved) / 23034, 3)


def test_sglang_default_mem_fraction_by_release() -> None:
    # server_args.py of each wheel (/work/engine-src/sglang-<v>).
    # 0.4.6-0.4.7: an H200 (143771 MiB) at tp 8 gets 0.88 raised by 48 GiB x 0.12 / gpu_mem.
    h200 = 143771
    assert default_mem_fraction_static((0, 4, 6), h200, 8) == min(
        0.88 + 48 * 1024 * 0.12 / h200, (h200 - 18 * 1024) / h200)
    assert default_mem_fraction_static((0, 4, 5), h200, 8) == 0.81  # the plain table
    assert default_mem_fraction_static((0, 4, 7), 183359, 8) == 0.79  # B200
    # 0.4.8-0.5.2: reserved (2.8 + tp/10) GiB below 35 GiB, (9.5 + tp/2) GiB below 90 GiB.
    assert default_mem_fraction_static((0, 4, 9), 16303, 1) == round(
        (16303 - 2.9 * 1024) / 16303, 3)  # RTX 5080 log: 0.818
    assert default_mem_fraction_static((0, 5, 2), 81559, 1) == round(
        (81559 - 10 * 1024) / 81559, 3)
    # 0.5.3-0.5.5: below 35 GiB a 2048 chunk and max_bs 16, no prefill-graph term.
    reserved = 512 + 2048 * 1.5 + 128 + 16 * 2
    assert default_mem_fraction_static((0, 5, 3), 24564, 1) == round(
        (24564 - reserved) / 24564, 3)
    # 0.5.6-0.5.9: max_bs 24 below 35 GiB; the prefill-graph term from 0.5.10.
    reserved = 512 + 2048 * 1.5 + 128 + 24 * 2
    assert default_mem_fraction_static((0, 5, 6), 24564, 1) == round(
        (24564 - reserved) / 24564, 3)
    assert default_mem_fraction_static((0, 5, 10), 24564, 1) < round(
        (24564 - reserved) / 24564, 3)


# --------------------------------------------------------------------------- the dispatcher


def test_gpu_memory_mib_is_the_nvidia_smi_total() -> None:
    a10g = gpu("A10G")
    assert torch_total_bytes(a10g, None) == 22587 * 2**20
    assert torch_total_bytes(a10g, 23028) == 22587 * 2**20  # 441 MiB driver reservation
    plan = plan_kv("tgi", engine_logs.LLAMA_31_8B, a10g, KvSettings(gpu_memory_mib=23028),
                   "2.2.0")
    assert plan.gpu_torch_total_bytes == 22587 * 2**20


def test_plan_kv_answers_for_every_engine_at_the_pinned_versions() -> None:
    f = engine_logs.LLAMA_31_8B
    for engine in ("tgi", "vllm", "sglang"):
        plan = plan_kv(engine, f, gpu("H100"), KvSettings())
        assert plan.kv_cache_tokens > 100_000, engine
        assert plan.kv_bytes_per_token_per_shard == 131072
        assert plan.weights_bytes_per_shard == f.weight_bytes
        assert plan.error_band == ERROR_BAND[engine]
    with pytest.raises(ValueError, match="engine"):
        plan_kv("trt", f, gpu("H100"))
    with pytest.raises(ValueError, match="quantize"):
        plan_kv("vllm", f, gpu("H100"), KvSettings(quantize="bogus"))


def test_engine_flags_are_disjoint() -> None:
    flags = {e: set(engine_flags(e)) for e in ("tgi", "vllm", "sglang")}
    assert flags["tgi"] >= {"max_batch_prefill_tokens", "cuda_memory_fraction"}
    assert flags["vllm"] >= {"gpu_memory_utilization", "enforce_eager"}
    assert flags["sglang"] >= {"mem_fraction_static", "chunked_prefill_size"}
    assert not (flags["tgi"] & flags["vllm"]) and not (flags["vllm"] & flags["sglang"])


def test_error_band_warning() -> None:
    band = ERROR_BAND["vllm"]
    assert error_band_problem("vllm", 10_000, 11_000, "x") is None  # does not fit: not ours
    assert error_band_problem("vllm", 100_000, 10_000, "x") is None  # far inside
    near = error_band_problem("vllm", 10_000, int(10_000 * (1 - band / 2)), "tiers[a]")
    assert near is not None and near.severity == "warning"
    assert f"±{band:.0%}" in near.message and near.check == "kv-within-error-band"


def test_launcher_warns_inside_the_error_band() -> None:
    from tgi_infra.checks.launcher import check_tier_capacity, plan_tier
    from tgi_infra.config.models import TierConfig

    f = engine_logs.LLAMA_31_8B
    tokens = plan_tier(
        TierConfig(name="t", model_id=f.model_id, node_pool="p", max_input_tokens=1000,
                   max_total_tokens=2048, max_batch_prefill_tokens=4096),
        f, gpu("A10G"), 1,
    ).memory.max_batch_total_tokens
    band = ERROR_BAND["tgi"]

    def problems(total: int) -> list:
        tier = TierConfig(name="t", model_id=f.model_id, node_pool="p",
                          max_input_tokens=1000, max_total_tokens=total,
                          max_batch_prefill_tokens=4096)
        return check_tier_capacity(plan_tier(tier, f, gpu("A10G"), 1),
                                   min_full_length_requests=1)

    near = [p for p in problems(int(tokens * (1 - band / 2)))
            if p.check == "kv-within-error-band"]
    assert near and near[0].severity == "warning" and f"±{band:.0%}" in near[0].message
    assert tokens * (1 - band) >= 2048
    assert not [p for p in problems(2048) if p.check == "kv-within-error-band"]


def test_vllm_default_max_num_seqs() -> None:
    # engine/arg_utils.py (0.10.1.1, 0.34.0): 1024 on >= 70 GiB GPUs other than A100 in V1
    gib = 2**30
    assert default_max_num_seqs((0, 10, 1), 79 * gib, "H100-80GB") == 1024
    assert default_max_num_seqs((0, 10, 1), 79 * gib, "A100-80GB") == 256
    assert default_max_num_seqs((0, 10, 1), 178 * gib, "B200") == 1024
    assert default_max_num_seqs((0, 6, 4), 79 * gib, "H100-80GB") == 256


def test_vllm_profile_peak_is_the_larger_of_forward_and_sampler() -> None:
    # The sampler pass runs after the forward pass frees its activations: a max, not a sum.
    f = engine_logs.LLAMA_31_8B
    common = dict(total_bytes=24 * 2**30, weights_bytes=f.weight_bytes,
                  kv_bytes_per_token=131072, version=(0, 6, 4), gpu_name="RTX-3090")
    long = plan_vllm(f, max_num_batched_tokens=20000, **common)
    short = plan_vllm(f, max_num_batched_tokens=512, **common)
    sampler = 256 * f.vocab_size * vllm_memory.SAMPLER_BYTES_PER_VOCAB_ENTRY
    assert short.activation_bytes == sampler
    assert long.activation_bytes > sampler


def test_vllm_034_logs_capacity_by_concurrency() -> None:
    # 0.34 prints int(num_blocks / cdiv(max_model_len, block) x max_model_len).
    assert vllm_memory._logged_tokens((0, 34, 0), 1000, 64, 20000) == int(1000 / 313 * 20000)
    assert vllm_memory._logged_tokens((0, 34, 0), 1000, 64, 131072) == 64000
    assert vllm_memory._logged_tokens((0, 10, 1), 1000, 16, 20000) == 16000
