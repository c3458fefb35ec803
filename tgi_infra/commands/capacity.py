"""`tgi-infra capacity`: the KV capacity of one model on one GPU, for TGI, vLLM or SGLang.

    tgi-infra capacity MODEL --gpu G [--engine tgi|vllm|sglang] [--engine-version V]
        [--tensor-parallel N | --num-shard N] [--gpu-memory-mib N] [--quantize Q]
        [--dtype D] [--kv-cache-dtype D] [engine flags] [--isl N --osl N --concurrency C]
        [--json]

Engine flags are spelled as the engine takes them: TGI ``--max-batch-prefill-tokens
--max-input-tokens --max-total-tokens --cuda-memory-fraction``; vLLM
``--gpu-memory-utilization --max-model-len --max-num-seqs --max-num-batched-tokens
--enforce-eager``; SGLang ``--mem-fraction-static --context-length --max-running-requests
--chunked-prefill-size``. A flag of another engine, or a bad value, is a usage error (exit 2)
naming the flag, the value, the rule and the fix. ``--gpu-memory-mib`` is the total nvidia-smi
shows. Exit 0 when the model fits, 1 when it does not (or the input is bad).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from dataclasses import asdict, fields, replace
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from tgi_infra.capacity.kv import (
    KV_CACHE_DTYPES,
    QUANTIZE_AS_TGI,
    KvPlan,
    KvSettings,
    engine_flags,
    error_band_problem,
    plan_kv,
    torch_total_bytes,
)
from tgi_infra.engines import DEFAULT_VERSIONS, ENGINE_NAMES
from tgi_infra.problems import ConfigInvalid, Problem, errors

if TYPE_CHECKING:
    from tgi_infra.capacity.catalog import Gpu
    from tgi_infra.capacity.facts import ModelFacts
    from tgi_infra.capacity.memory import MemoryPlan

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2
PERFORMANCE_UNAVAILABLE = "performance model not available"
MAX_TOKENS = 10**8
MAX_GPU_MIB = 2**22  # 4 TiB: far above any GPU


def positive_int(limit: int = MAX_TOKENS) -> Any:
    """An argparse type: an integer in [1, limit], with the rule and the fix in the error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text[:40]!r} is not an integer; pass a whole number from 1 to {limit}"
            ) from None
        if not 1 <= value <= limit:
            raise argparse.ArgumentTypeError(
                f"{value} is out of range: it must be from 1 to {limit}; omit the flag for "
                "the engine's default"
            )
        return value

    return parse


def fraction(text: str) -> float:
    """An argparse type: a finite number in (0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text[:40]!r} is not a number; pass a fraction above 0 and at most 1, e.g. 0.9"
        ) from None
    if not math.isfinite(value) or not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(
            f"{text[:40]} is out of range: it must be above 0 and at most 1 (a fraction of "
            "the GPU's memory); e.g. 0.9"
        )
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("capacity", help="KV capacity of one model on one GPU, per engine")
    p.add_argument("model", help="Hub id (org/name) or a local model directory")
    p.add_argument("--revision", default="main")
    p.add_argument("--gpu", required=True, help="GPU name, e.g. L40S, H100, A10G, RTX-4090")
    p.add_argument("--engine", choices=ENGINE_NAMES, default="tgi")
    p.add_argument("--engine-version", help="engine release (default: the pinned one)")
    p.add_argument("--tensor-parallel", "--num-shard", dest="tensor_parallel",
                   type=positive_int(64), default=1, help="GPUs per replica")
    p.add_argument("--gpu-memory-mib", type=positive_int(MAX_GPU_MIB),
                   help="the GPU's total as nvidia-smi shows it (default: the catalog's)")
    p.add_argument("--quantize", help="quantization method, as the engine names it")
    p.add_argument("--dtype", help="weights/activation dtype, as the engine names it")
    p.add_argument("--kv-cache-dtype", help="KV cache dtype, as the engine names it")
    tgi = p.add_argument_group("TGI flags")
    tgi.add_argument("--max-batch-prefill-tokens", type=positive_int())
    tgi.add_argument("--max-input-tokens", type=positive_int())
    tgi.add_argument("--max-total-tokens", type=positive_int())
    tgi.add_argument("--cuda-memory-fraction", type=fraction)
    vllm = p.add_argument_group("vLLM flags")
    vllm.add_argument("--gpu-memory-utilization", type=fraction)
    vllm.add_argument("--max-model-len", type=positive_int())
    vllm.add_argument("--max-num-seqs", type=positive_int())
    vllm.add_argument("--max-num-batched-tokens", type=positive_int())
    vllm.add_argument("--enforce-eager", action="store_true", default=None)
    sglang = p.add_argument_group("SGLang flags")
    sglang.add_argument("--mem-fraction-static", type=fraction)
    sglang.add_argument("--context-length", type=positive_int())
    sglang.add_argument("--max-running-requests", type=positive_int())
    sglang.add_argument("--chunked-prefill-size", type=positive_int())
    perf = p.add_argument_group("workload (adds a performance object)")
    perf.add_argument("--isl", type=positive_int(), help="prompt tokens per request")
    perf.add_argument("--osl", type=positive_int(), help="generated tokens per request")
    perf.add_argument("--concurrency", type=positive_int(10**6), help="concurrent requests")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=run)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _usage(message: str) -> int:
    print(f"tgi-infra capacity: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _settings(args: argparse.Namespace) -> tuple[KvSettings | None, str | None]:
    """The flags as `KvSettings`, or a usage error naming the flag that does not belong."""
    engine = args.engine
    for other in ENGINE_NAMES:
        if other == engine:
            continue
        for name in engine_flags(other):
            if getattr(args, name, None) is not None:
                return None, (
                    f"{_flag(name)} is a {other} flag, but --engine is {engine}; drop it, or "
                    f"pass --engine {other}"
                )
    if args.quantize is not None and args.quantize not in QUANTIZE_AS_TGI[engine]:
        return None, (
            f"--quantize {args.quantize[:40]!r} is not a method {engine} accepts; use one of "
            f"{', '.join(QUANTIZE_AS_TGI[engine])}"
        )
    from tgi_infra.engines import get_engine

    dtypes = get_engine(engine).cli().enums["dtype"]
    if args.dtype is not None and args.dtype not in dtypes:
        return None, (
            f"--dtype {args.dtype[:40]!r} is not one {engine} accepts; use one of "
            f"{', '.join(dtypes)}"
        )
    kv_dtypes = KV_CACHE_DTYPES[engine]
    if args.kv_cache_dtype is not None and args.kv_cache_dtype not in kv_dtypes:
        return None, (
            f"--kv-cache-dtype {args.kv_cache_dtype[:40]!r} is not one {engine} accepts; use "
            f"one of {', '.join(kv_dtypes)}"
        )
    workload = [args.isl, args.osl, args.concurrency]
    if any(w is not None for w in workload) and None in workload:
        return None, "--isl, --osl and --concurrency go together; pass all three"
    if args.engine_version is not None and not re.fullmatch(
        r"v?\d+(\.\d+){0,2}([.+-]?[A-Za-z0-9.]+)?", args.engine_version
    ):
        return None, (
            f"--engine-version {args.engine_version[:40]!r} is not a release like "
            f"{DEFAULT_VERSIONS[engine]}; omit it for the pinned one"
        )
    values = {f.name: getattr(args, f.name, None) for f in fields(KvSettings)}
    values["tensor_parallel"] = args.tensor_parallel
    return KvSettings(**values), None


def run(args: argparse.Namespace, console: Console) -> int:
    from tgi_infra.capacity.catalog import UnknownHardwareError, gpu
    from tgi_infra.capacity.model_facts import ModelFactsError, resolve_model_facts
    from tgi_infra.checks import hub_offline
    from tgi_infra.report import print_problems

    settings, usage = _settings(args)
    if settings is None:
        return _usage(usage or "bad flags")
    try:
        card = gpu(args.gpu)
    except UnknownHardwareError as exc:
        raise ConfigInvalid(
            [Problem("--gpu", str(exc), "use a GPU from the catalog.", "gpu-known")]
        ) from None
    if args.gpu_memory_mib is not None and args.gpu_memory_mib <= card.driver_reserved_mib:
        return _usage(
            f"--gpu-memory-mib {args.gpu_memory_mib} is not above the {card.name}'s driver "
            f"reservation ({card.driver_reserved_mib} MiB); pass nvidia-smi's memory.total"
        )
    try:
        facts = resolve_model_facts(
            args.model, revision=args.revision, model_spec=None, offline=hub_offline(),
            token=os.environ.get("HF_TOKEN"),
        )
    except ModelFactsError as exc:
        raise ConfigInvalid(
            [Problem("MODEL", str(exc), "pass a local directory with config.json, or go online.",
                     "model-facts")]
        ) from None
    version = args.engine_version or DEFAULT_VERSIONS[args.engine]
    try:
        plan = plan_kv(args.engine, facts, card, settings, version)
    except ValueError as exc:
        return _usage(str(exc))
    memory = _tgi_memory(args, facts, card, version) if args.engine == "tgi" else None
    problems = _checkpoint_problems(args, facts, card) + _problems(args, facts, card, plan, memory)
    if args.engine_version:  # no image here: only what the version means for the arithmetic
        from tgi_infra.engines import get_engine

        checked = get_engine(args.engine).check_version(args.engine_version, "--engine-version")
        problems += [p for p in checked if p.severity == "warning"]
    performance, perf_note = _performance(args, facts, card, plan)
    fits = plan.fits and not errors(problems)
    if args.json:
        doc: dict[str, Any] = {
            "model_id": facts.model_id,
            "facts_source": facts.source,
            "gpu": card.name,
            **asdict(replace(plan, problems=tuple(str(p) for p in problems))),
            "fits": fits,
        }
        if memory is not None:
            doc.update({k: v for k, v in asdict(memory).items() if k not in doc})
        if performance is not None:
            doc["performance"] = performance
        elif perf_note:
            doc["notes"] = [*doc["notes"], perf_note]
        print(json.dumps(doc, indent=2))
    else:
        console.print(_table(plan, facts))
        for note in plan.notes:
            console.print(f"  [dim]• {note}[/dim]")
        if perf_note:
            console.print(f"  [dim]• {perf_note}[/dim]")
        print_problems(console, problems)
    return EXIT_OK if fits else EXIT_PROBLEMS


def _tgi_memory(
    args: argparse.Namespace, facts: ModelFacts, card: Gpu, version: str
) -> MemoryPlan:
    from tgi_infra.capacity.memory import plan_memory

    max_input = args.max_input_tokens
    prefill = args.max_batch_prefill_tokens or (max_input + 50 if max_input else 4096)
    return plan_memory(
        facts,
        gpu_memory_bytes=torch_total_bytes(card, args.gpu_memory_mib),
        num_shard=args.tensor_parallel,
        quantize=args.quantize,
        dtype=args.dtype,
        kv_cache_dtype=args.kv_cache_dtype,
        max_batch_prefill_tokens=prefill,
        cuda_memory_fraction=args.cuda_memory_fraction or 1.0,
        max_input_tokens=args.max_input_tokens,
        max_total_tokens=args.max_total_tokens,
        tgi_version=version,
        compute_capability=card.compute_capability_tuple,
    )


def _checkpoint_problems(args: argparse.Namespace, facts: ModelFacts, card: Gpu) -> list[Problem]:
    """The engine's own verdict on this checkpoint with --quantize (unset: as stored) on
    --gpu, as `validate` gives it; TGI's GPU rules come with its capacity rules."""
    from tgi_infra.checks.inputs import checkpoint_problems

    on = None if args.engine == "tgi" else card
    return [_as_flag(p) for p in checkpoint_problems(args.engine, facts, args.quantize, on)]


def _problems(
    args: argparse.Namespace, facts: ModelFacts, card: Gpu, plan: KvPlan,
    memory: MemoryPlan | None,
) -> list[Problem]:
    if memory is not None:
        return _tgi_problems(args, facts, card, memory)
    problems: list[Problem] = []
    where = "MODEL on --gpu"
    if plan.kv_cache_tokens <= 0:
        problems.append(Problem(
            where,
            f"the weights ({plan.weights_bytes_per_shard / 2**30:.1f} GiB per GPU) leave no "
            f"memory for the KV cache on a {card.name} x {plan.tensor_parallel} under "
            f"{args.engine} {plan.engine_version}'s startup arithmetic; it would refuse to start.",
            "add GPUs (--tensor-parallel), quantize, or use a larger GPU.",
            "weights-fit",
        ))
    elif not plan.fits:
        flag = "--max-model-len" if args.engine == "vllm" else "--context-length"
        problems.append(Problem(
            flag,
            f"a request of {plan.required_tokens} tokens does not fit the KV cache of "
            f"{plan.kv_cache_tokens} tokens.",
            f"pass {flag} {plan.kv_cache_tokens} or less, or add memory (fp8 KV cache, "
            "quantization, more GPUs).",
            "total-within-kv",
        ))
    else:
        near = error_band_problem(args.engine, plan.kv_cache_tokens, plan.required_tokens, where)
        if near is not None:
            problems.append(near)
    return problems


def _tgi_problems(
    args: argparse.Namespace, facts: ModelFacts, card: Gpu, memory: MemoryPlan
) -> list[Problem]:
    """The launcher rules `validate` applies, on the command line's flags."""
    from pydantic import ValidationError

    from tgi_infra.checks.launcher import TierCapacity, check_tier_arguments, check_tier_capacity
    from tgi_infra.config.models import TierConfig

    context = facts.max_position_embeddings
    max_total = args.max_total_tokens or min(4096, context)  # TGI 2.x defaults
    max_input = args.max_input_tokens or max_total - 1
    prefill = args.max_batch_prefill_tokens or (
        args.max_input_tokens + 50 if args.max_input_tokens else 4096
    )
    try:
        tier = TierConfig(
            name="cli", model_id=facts.model_id, node_pool="cli",
            num_shard=args.tensor_parallel, quantize=args.quantize, dtype=args.dtype,
            kv_cache_dtype=args.kv_cache_dtype, max_input_tokens=max_input,
            max_total_tokens=max_total, max_batch_prefill_tokens=prefill,
            cuda_memory_fraction=args.cuda_memory_fraction or 1.0,
        )
    except ValidationError as exc:
        raise ConfigInvalid(
            [Problem(_flag(str(e["loc"][0])), e["msg"], check="cli-flag") for e in exc.errors()]
        ) from None
    cap = TierCapacity(tier, facts, card, args.tensor_parallel, memory)
    problems = check_tier_arguments(tier) + check_tier_capacity(cap, min_full_length_requests=1)
    return [_as_flag(p) for p in problems]


def _as_flag(problem: Problem) -> Problem:
    """`tiers[cli].maxTotalTokens` -> `--max-total-tokens`: name what the user typed."""
    key = problem.path.removeprefix("tiers[cli]").lstrip(".")
    path = "--" + re.sub(r"(?<!^)(?=[A-Z])", "-", key).lower() if key else "MODEL on --gpu"
    fix = re.sub(
        r"\b(maxInputTokens|maxTotalTokens|maxBatchPrefillTokens)\b",
        lambda m: "--" + re.sub(r"(?<!^)(?=[A-Z])", "-", m.group(1)).lower(),
        problem.fix,
    )
    return replace(problem, path=path, fix=fix)


def _performance(
    args: argparse.Namespace, facts: ModelFacts, card: Gpu, plan: KvPlan
) -> tuple[dict[str, Any] | None, str | None]:
    """The seam to the performance model: one call, once `capacity.performance` exists."""
    if args.isl is None:
        return None, None
    try:
        from tgi_infra.capacity.performance import Replica, Workload, predict
    except ImportError:
        return None, PERFORMANCE_UNAVAILABLE
    replica = Replica(
        engine=plan.engine, tensor_parallel=plan.tensor_parallel,
        weights_bytes_per_shard=plan.weights_bytes_per_shard,
        kv_bytes_per_token_per_shard=plan.kv_bytes_per_token_per_shard,
        kv_cache_tokens=plan.kv_cache_tokens,
        max_running_requests=args.max_running_requests or args.max_num_seqs,
        prefill_chunk_tokens=args.chunked_prefill_size or args.max_num_batched_tokens,
    )
    perf = predict(facts, card, replica, Workload(args.isl, args.osl, args.concurrency))
    return {
        "output_tokens_per_s": perf.output_tokens_per_s,
        "ttft_ms": perf.ttft_ms,
        "tpot_ms": perf.tpot_ms,
        "requests_per_s": perf.requests_per_s,
        "bound": str(perf.bound),
    }, None


def _table(plan: KvPlan, facts: ModelFacts) -> Table:
    gib = 2**30
    table = Table(
        title=f"{facts.model_id} on {plan.gpu} x {plan.tensor_parallel}: {plan.engine} "
        f"{plan.engine_version} (facts: {facts.source})"
    )
    table.add_column("per GPU")
    table.add_column("value", justify="right")
    table.add_row("GPU total (torch)", f"{plan.gpu_torch_total_bytes / gib:.2f} GiB")
    table.add_row("weights", f"{plan.weights_bytes_per_shard / gib:.2f} GiB")
    for name, value in plan.terms.items():
        shown = f"{value / gib:.2f} GiB" if name.endswith("_bytes") else f"{value}"
        table.add_row(name.removesuffix("_bytes").replace("_", " "), shown)
    table.add_row("KV bytes per token", f"{plan.kv_bytes_per_token_per_shard}")
    table.add_row("KV cache tokens", f"{plan.kv_cache_tokens}")
    table.add_row("longest request", f"{plan.required_tokens}")
    table.add_row("error band (held out)", f"±{plan.error_band:.0%}")
    return table
