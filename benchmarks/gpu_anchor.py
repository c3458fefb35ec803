"""Measure on a real GPU what anchors the memory and performance models; print JSON.

    python benchmarks/gpu_anchor.py [--batches 1,8,32,128] [--context 1024] [--out anchor.json]

Needs only torch (with CUDA) and nvidia-smi on PATH; runs in a few minutes. It measures:

- the device total as torch reports it (``mem_get_info``, ``get_device_properties``) and as
  nvidia-smi shows it (``memory.total``): the two figures the GPU catalog keeps;
- this process's CUDA context and non-torch memory: what nvidia-smi charges the process
  minus what torch's caching allocator has reserved, right after CUDA initialises and again
  after cuBLAS has run (its workspace);
- the decode step time of a Llama-shaped model with random bf16 weights (Llama-3.1-8B's
  shape, fewer layers when the GPU is small) at a few batch sizes over a KV cache of
  ``--context`` tokens per sequence, replayed as a CUDA graph, and the achieved memory
  bandwidth: (weights + KV bytes read per step) / step time.

The arithmetic (shapes, bytes per step, parsing nvidia-smi) is plain Python and unit-tested
without torch (tests/test_gpu_anchor.py); torch is imported only when measuring.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from typing import Any

MIB = 2**20
BF16_BYTES = 2


@dataclass(frozen=True)
class LlamaShape:
    """The tensor shapes of a Llama-style decoder (defaults: Llama-3.1-8B)."""

    layers: int = 32
    hidden: int = 4096
    intermediate: int = 14336
    heads: int = 32
    kv_heads: int = 8
    head_dim: int = 128
    vocab: int = 128256

    @property
    def layer_weight_elements(self) -> int:
        qkv = self.hidden * (self.heads + 2 * self.kv_heads) * self.head_dim
        out = self.heads * self.head_dim * self.hidden
        mlp = 3 * self.hidden * self.intermediate
        return qkv + out + mlp + 2 * self.hidden  # + the two RMSNorm weights

    @property
    def weight_bytes_read(self) -> int:
        """Bytes of weights one decode step reads: every layer, the final norm, lm_head."""
        per_layer = self.layer_weight_elements * BF16_BYTES
        return self.layers * per_layer + (self.hidden + self.vocab * self.hidden) * BF16_BYTES

    def kv_bytes(self, batch: int, context: int) -> int:
        """K and V of every layer for ``batch`` sequences of ``context`` tokens (bf16)."""
        return 2 * self.layers * batch * context * self.kv_heads * self.head_dim * BF16_BYTES

    def step_bytes(self, batch: int, context: int) -> int:
        """What one decode step reads from memory: weights once plus the whole KV cache."""
        return self.weight_bytes_read + self.kv_bytes(batch, context)


def shape_for(
    free_bytes: int, batches: list[int], context: int, headroom: float = 0.8
) -> LlamaShape:
    """Llama-3.1-8B's shape with as many layers (up to 32) as fit ``headroom`` x free memory
    together with the largest batch's KV cache and activations."""
    full = LlamaShape()
    budget = int(free_bytes * headroom)
    biggest = max(batches)
    for layers in range(full.layers, 0, -1):
        shape = replace(full, layers=layers)
        act = biggest * (full.hidden + 2 * full.intermediate + full.vocab) * 4 * BF16_BYTES
        if shape.weight_bytes_read + shape.kv_bytes(biggest, context) + act <= budget:
            return shape
    raise ValueError(
        f"{free_bytes / MIB:.0f} MiB free holds not even one layer with batch {biggest}"
    )


def achieved_bandwidth_gbs(bytes_read: int, seconds: float) -> float:
    if seconds <= 0:
        raise ValueError(f"seconds={seconds} must be positive")
    return bytes_read / seconds / 1e9


def parse_smi_gpus(text: str) -> list[dict[str, Any]]:
    """``nvidia-smi --query-gpu=index,name,memory.total,memory.used,driver_version
    --format=csv,noheader,nounits`` -> one dict per GPU (MiB)."""
    out = []
    for line in text.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 5:
            continue
        out.append(
            {
                "index": int(parts[0]),
                "name": parts[1],
                "memory_total_mib": int(float(parts[2])),
                "memory_used_mib": int(float(parts[3])),
                "driver_version": parts[4],
            }
        )
    return out


def parse_smi_process_mib(text: str, pid: int) -> int | None:
    """``nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits`` ->
    the MiB charged to ``pid`` (None when it is not listed, e.g. inside some containers)."""
    for line in text.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 2 and parts[0].isdigit() and int(parts[0]) == pid:
            return int(float(parts[1]))
    return None


def median_ms(samples_s: list[float]) -> float:
    return statistics.median(samples_s) * 1e3


def _smi(*args: str) -> str:
    return subprocess.run(
        ["nvidia-smi", *args], capture_output=True, text=True, check=True, timeout=30
    ).stdout


def _process_mib() -> int | None:
    text = _smi("--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits")
    return parse_smi_process_mib(text, os.getpid())


def measure_memory(torch: Any, device: int) -> dict[str, Any]:
    """Totals as torch and nvidia-smi report them, and the process's non-torch memory."""
    gpus = parse_smi_gpus(
        _smi(
            "--query-gpu=index,name,memory.total,memory.used,driver_version",
            "--format=csv,noheader,nounits",
        )
    )
    smi = next(g for g in gpus if g["index"] == device)
    torch.cuda.init()
    torch.cuda.set_device(device)
    torch.zeros(1, device="cuda")  # creates the context
    torch.cuda.synchronize()
    free, total = torch.cuda.mem_get_info()
    props = torch.cuda.get_device_properties(device)
    after_init = _process_mib()
    reserved_init = torch.cuda.memory_reserved() / MIB
    a = torch.randn(4096, 4096, device="cuda", dtype=torch.bfloat16)
    (a @ a).sum().item()  # cuBLAS handle and workspace
    torch.cuda.synchronize()
    after_blas = _process_mib()
    reserved_blas = torch.cuda.memory_reserved() / MIB
    del a
    torch.cuda.empty_cache()
    return {
        "gpu": smi["name"],
        "driver_version": smi["driver_version"],
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda,
        "compute_capability": f"{props.major}.{props.minor}",
        "nvidia_smi_total_mib": smi["memory_total_mib"],
        "torch_total_mib": total // MIB,
        "torch_props_total_mib": props.total_memory // MIB,
        "driver_reserved_mib": smi["memory_total_mib"] - total // MIB,
        "free_at_start_mib": free // MIB,
        "process_mib_after_init": after_init,
        "cuda_context_mib": None if after_init is None else round(after_init - reserved_init),
        "process_mib_after_cublas": after_blas,
        "non_torch_mib_after_cublas": None
        if after_blas is None
        else round(after_blas - reserved_blas),
    }


def _decode_step(torch: Any, shape: LlamaShape, layers, kv, x0, head, norm) -> Any:
    """One decode step of every layer for the batch in ``x0`` over the KV cache ``kv``."""
    import torch.nn.functional as F

    batch, group = x0.shape[0], shape.heads // shape.kv_heads
    x = x0
    for layer, (k, v) in zip(layers, kv, strict=True):
        h = F.rms_norm(x, (shape.hidden,), layer["n1"])
        q = (h @ layer["qkv"])[:, : shape.heads * shape.head_dim]
        # GQA decode: each KV head serves `group` query heads.
        q = q.view(batch, shape.kv_heads, group, shape.head_dim)
        att = torch.softmax(q @ k.transpose(-1, -2) / shape.head_dim**0.5, dim=-1)
        o = (att @ v).reshape(batch, shape.heads * shape.head_dim)
        x = x + o @ layer["o"]
        h = F.rms_norm(x, (shape.hidden,), layer["n2"])
        gate, up = (h @ layer["gate_up"]).chunk(2, dim=-1)
        x = x + (F.silu(gate) * up) @ layer["down"]
    return F.rms_norm(x, (shape.hidden,), norm) @ head


def measure_decode(
    torch: Any, shape: LlamaShape, batches: list[int], context: int, iters: int = 20
) -> list[dict[str, Any]]:
    """Time one decode step per batch size (CUDA graph replay; eager when capture fails)."""
    dev, dt = "cuda", torch.bfloat16
    gen = torch.Generator(device=dev).manual_seed(0)

    def w(*size: int) -> Any:
        return torch.randn(*size, device=dev, dtype=dt, generator=gen) * 0.02

    qkv_out = (shape.heads + 2 * shape.kv_heads) * shape.head_dim
    layers = [
        {
            "qkv": w(shape.hidden, qkv_out),
            "o": w(shape.heads * shape.head_dim, shape.hidden),
            "gate_up": w(shape.hidden, 2 * shape.intermediate),
            "down": w(shape.intermediate, shape.hidden),
            "n1": torch.ones(shape.hidden, device=dev, dtype=dt),
            "n2": torch.ones(shape.hidden, device=dev, dtype=dt),
        }
        for _ in range(shape.layers)
    ]
    head = w(shape.hidden, shape.vocab)
    norm = torch.ones(shape.hidden, device=dev, dtype=dt)
    rows = []
    for batch in batches:
        kv = [
            (
                w(batch, shape.kv_heads, context, shape.head_dim),
                w(batch, shape.kv_heads, context, shape.head_dim),
            )
            for _ in range(shape.layers)
        ]
        x0 = w(batch, shape.hidden)
        step = functools.partial(_decode_step, torch, shape, layers, kv, x0, head, norm)
        mode, graph = "cuda-graph", None
        for _ in range(3):
            step()
        torch.cuda.synchronize()
        try:
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                step()
            run = graph.replay
        except RuntimeError:
            mode, run = "eager", step
        for _ in range(3):
            run()
        torch.cuda.synchronize()
        samples = []
        for _ in range(iters):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            run()
            end.record()
            end.synchronize()
            samples.append(start.elapsed_time(end) / 1e3)
        seconds = statistics.median(samples)
        read = shape.step_bytes(batch, context)
        rows.append(
            {
                "batch": batch,
                "context": context,
                "mode": mode,
                "step_ms": round(seconds * 1e3, 4),
                "step_ms_min": round(min(samples) * 1e3, 4),
                "bytes_read": read,
                "achieved_bandwidth_gbs": round(achieved_bandwidth_gbs(read, seconds), 1),
            }
        )
        del kv, step, run
        graph = None  # frees the graph's private memory pool before the next batch
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", type=int, default=0)
    parser.add_argument("--batches", default="1,8,32,128")
    parser.add_argument("--context", type=int, default=1024)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--out", help="also write the JSON to this file")
    args = parser.parse_args(argv)
    batches = [int(b) for b in args.batches.split(",") if b.strip()]
    if not batches or min(batches) < 1 or args.context < 1:
        parser.error("--batches and --context need positive whole numbers")
    try:
        import torch
    except ImportError:
        print("gpu_anchor: needs torch (pip install torch)", file=sys.stderr)
        return 2
    if not torch.cuda.is_available():
        print("gpu_anchor: no CUDA device visible to torch", file=sys.stderr)
        return 2
    began = time.time()
    report: dict[str, Any] = {"memory": measure_memory(torch, args.device)}
    free, _ = torch.cuda.mem_get_info()
    shape = shape_for(free, batches, args.context)
    report["model_shape"] = {**asdict(shape), "weight_bytes_read": shape.weight_bytes_read}
    report["decode"] = measure_decode(torch, shape, batches, args.context, args.iters)
    report["seconds"] = round(time.time() - began, 1)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
