"""The hardware catalog: GPUs and AWS GPU instance types, read from the shipped YAML.

The data lives in ``tgi_infra/capacity/data/{gpus,instances}.yaml`` (package data) so it
can be reviewed and refreshed without touching code. Lookups are forgiving about spelling
(``gpu("h100")``, ``gpu("NVIDIA H100 80GB HBM3")``, ``instance_type("G5.12XLARGE")``) and
strict about meaning: an unknown or ambiguous name raises `UnknownHardwareError`, whose
message lists the closest known names.

``PRICES_READ`` is the date the instance prices were read; prices are list On-Demand,
Linux, us-east-1, USD per instance-hour (see ``instances.yaml``).
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from typing import Any, Literal

import yaml

from tgi_infra.problems import shorten

MIB = 2**20
GIB = 2**30

Architecture = Literal["turing", "ampere", "ada", "hopper", "blackwell"]


class UnknownHardwareError(KeyError):
    """A GPU or instance type the catalog does not know (or a name that fits several)."""

    def __init__(self, message: str, *, name: str, suggestions: tuple[str, ...] = ()):
        super().__init__(message)
        self.message = message
        self.name = name
        self.suggestions = suggestions

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


@dataclass(frozen=True)
class Gpu:
    """One GPU model.

    ``memory_mib`` is the device total as PyTorch/CUDA report it (``torch_total_mib``, what
    the engines see at startup); ``nvidia_smi_mib`` is the larger figure nvidia-smi shows
    (``nvidia_smi_total_mib``); ``memory_gb`` the nominal size. ``memory_bandwidth_gbs`` is
    the data sheet's peak in GB/s (``memory_bandwidth_bytes_per_s``); ``bf16_dense_tflops``
    and ``fp8_dense_tflops`` the dense (no sparsity) tensor-core peaks (``*_flops`` in
    FLOP/s; fp8 ``None`` without FP8 tensor cores); ``datasheet_url`` where they were read.
    """

    name: str
    product_name: str
    architecture: Architecture
    compute_capability: str
    memory_gb: int
    memory_mib: int
    nvidia_smi_mib: int
    memory_bandwidth_gbs: int
    fp8: bool
    bf16_dense_tflops: float = 0.0
    fp8_dense_tflops: float | None = None
    datasheet_url: str = ""
    karpenter_gpu_name: str | None = None
    aliases: tuple[str, ...] = ()
    memory_source: str = field(default="", repr=False, compare=False)
    datasheet_note: str = field(default="", repr=False, compare=False)

    @property
    def torch_total_mib(self) -> int:
        """``torch.cuda.mem_get_info()[1]`` in MiB (the same as ``memory_mib``)."""
        return self.memory_mib

    @property
    def nvidia_smi_total_mib(self) -> int:
        """``nvidia-smi --query-gpu=memory.total`` in MiB (the same as ``nvidia_smi_mib``)."""
        return self.nvidia_smi_mib

    @property
    def driver_reserved_mib(self) -> int:
        """How much less torch reports than nvidia-smi: the driver's own reservation."""
        return self.nvidia_smi_mib - self.memory_mib

    def torch_total_bytes_for(self, nvidia_smi_mib: int) -> int:
        """The torch total of a card whose nvidia-smi total is ``nvidia_smi_mib``."""
        return (int(nvidia_smi_mib) - self.driver_reserved_mib) * MIB

    @property
    def memory_bandwidth_bytes_per_s(self) -> float:
        return self.memory_bandwidth_gbs * 1e9

    @property
    def bf16_dense_flops(self) -> float:
        """Dense 16-bit tensor FLOP/s (bf16; fp16 on a T4, which has no bf16)."""
        return self.bf16_dense_tflops * 1e12

    @property
    def fp8_dense_flops(self) -> float | None:
        return None if self.fp8_dense_tflops is None else self.fp8_dense_tflops * 1e12

    @property
    def memory_bytes(self) -> int:
        """Device memory in bytes as CUDA reports it (``torch.cuda.mem_get_info()[1]``)."""
        return self.memory_mib * MIB

    @property
    def memory_gib(self) -> float:
        return self.memory_mib / 1024

    @property
    def compute_capability_tuple(self) -> tuple[int, int]:
        major, _, minor = self.compute_capability.partition(".")
        return int(major), int(minor or 0)

    @property
    def compute_capability_int(self) -> int:
        """The capability as the engines compare it (8.9 -> 89, `major * 10 + minor`)."""
        major, minor = self.compute_capability_tuple
        return major * 10 + minor

    @property
    def bf16(self) -> bool:
        """bfloat16 needs compute capability 8.0+ (Ampere); a T4 runs TGI in float16."""
        return self.compute_capability_tuple >= (8, 0)

    @property
    def flash_attention(self) -> bool:
        """FlashAttention-2 / flashinfer kernels need 8.0+; TGI falls back to paged attention."""
        return self.compute_capability_tuple >= (8, 0)


@dataclass(frozen=True)
class InstanceType:
    """One EC2 instance type with its GPUs and list On-Demand price (see `PRICES_READ`)."""

    name: str
    gpu: Gpu
    gpu_count: int
    vcpus: int
    memory_gib: int
    hourly_usd: float
    local_nvme_gb: int | None = None
    price_estimated: bool = False

    @property
    def family(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def size(self) -> str:
        return self.name.split(".", 1)[1]

    @property
    def gpu_memory_bytes(self) -> int:
        """All GPUs of the node together, as CUDA reports them."""
        return self.gpu_count * self.gpu.memory_bytes

    @property
    def hourly_usd_per_gpu(self) -> float:
        return self.hourly_usd / self.gpu_count

    @property
    def monthly_usd(self) -> float:
        """730 hours, the month AWS's pricing pages use."""
        return self.hourly_usd * 730


# --------------------------------------------------------------------------- loading


def _read_yaml(name: str) -> Mapping[str, Any]:
    text = files("tgi_infra.capacity").joinpath("data", name).read_text(encoding="utf-8")
    doc = yaml.safe_load(text)
    if not isinstance(doc, Mapping):
        raise ValueError(f"tgi_infra/capacity/data/{name} is not a YAML mapping")
    return doc


def _key(name: str) -> str:
    """Normalise a hardware name: lower case, no separators, no vendor prefix."""
    key = re.sub(r"[^a-z0-9]+", "", name.lower())
    for prefix in ("nvidia", "tesla"):
        if key.startswith(prefix) and len(key) > len(prefix):
            key = key[len(prefix) :]
    return key


@cache
def gpus() -> tuple[Gpu, ...]:
    """Every GPU in the catalog, in file order."""
    out: list[Gpu] = []
    for row in _read_yaml("gpus.yaml")["gpus"]:
        out.append(
            Gpu(
                name=str(row["name"]),
                product_name=str(row["product_name"]),
                architecture=row["architecture"],
                compute_capability=str(row["compute_capability"]),
                memory_gb=int(row["memory_gb"]),
                memory_mib=int(row["memory_mib"]),
                nvidia_smi_mib=int(row["nvidia_smi_mib"]),
                memory_bandwidth_gbs=int(row["memory_bandwidth_gbs"]),
                fp8=bool(row["fp8"]),
                bf16_dense_tflops=float(row["bf16_dense_tflops"]),
                fp8_dense_tflops=(
                    None if row.get("fp8_dense_tflops") is None
                    else float(row["fp8_dense_tflops"])
                ),
                datasheet_url=str(row["datasheet_url"]),
                karpenter_gpu_name=row.get("karpenter_gpu_name"),
                aliases=tuple(str(a) for a in row.get("aliases") or ()),
                memory_source=str(row.get("memory_source") or ""),
                datasheet_note=str(row.get("datasheet_note") or ""),
            )
        )
    return tuple(out)


@cache
def _gpu_index() -> tuple[dict[str, Gpu], dict[str, tuple[Gpu, ...]]]:
    """(unambiguous key -> Gpu, ambiguous key -> candidates)."""
    claims: dict[str, list[Gpu]] = {}
    for g in gpus():
        names = {g.name, g.product_name, *g.aliases}
        if g.karpenter_gpu_name:
            names.add(g.karpenter_gpu_name)
        for n in names:
            bucket = claims.setdefault(_key(n), [])
            if g not in bucket:
                bucket.append(g)
    exact = {k: v[0] for k, v in claims.items() if len(v) == 1}
    ambiguous = {k: tuple(v) for k, v in claims.items() if len(v) > 1}
    # A canonical name always wins over an alias that happens to collide with it.
    for g in gpus():
        exact[_key(g.name)] = g
        ambiguous.pop(_key(g.name), None)
    return exact, ambiguous


def _known_gpu_names() -> list[str]:
    names: list[str] = []
    for g in gpus():
        names += [g.name, *g.aliases]
    return names


def gpu(name: str) -> Gpu:
    """The GPU called ``name`` (case-insensitive; aliases such as ``h100``, ``a100-80gb``)."""
    exact, ambiguous = _gpu_index()
    key = _key(name)
    if key in exact:
        return exact[key]
    if key in ambiguous:
        options = tuple(g.name for g in ambiguous[key])
        raise UnknownHardwareError(
            f"GPU {_shown(name)} is ambiguous: it could be {' or '.join(options)}; name one of "
            "them.",
            name=name,
            suggestions=options,
        )
    raise _unknown("GPU", name, [g.name for g in gpus()], _known_gpu_names())


@cache
def _instances_doc() -> Mapping[str, Any]:
    return _read_yaml("instances.yaml")


@cache
def instance_types() -> tuple[InstanceType, ...]:
    """Every instance type in the catalog, in file order."""
    out: list[InstanceType] = []
    for row in _instances_doc()["instance_types"]:
        nvme = row.get("local_nvme_gb")
        out.append(
            InstanceType(
                name=str(row["name"]),
                gpu=gpu(str(row["gpu"])),
                gpu_count=int(row["gpu_count"]),
                vcpus=int(row["vcpus"]),
                memory_gib=int(row["memory_gib"]),
                hourly_usd=float(row["hourly_usd"]),
                local_nvme_gb=int(nvme) if nvme is not None else None,
                price_estimated=bool(row.get("price_estimated", False)),
            )
        )
    return tuple(out)


@cache
def _instance_index() -> dict[str, InstanceType]:
    return {t.name.lower(): t for t in instance_types()}


def instance_type(name: str) -> InstanceType:
    """The EC2 instance type called ``name`` (case-insensitive, e.g. ``g6e.12xlarge``)."""
    found = _instance_index().get(name.strip().lower())
    if found is not None:
        return found
    names = [t.name for t in instance_types()]
    families = sorted({t.family for t in instance_types()})
    family = name.strip().lower().split(".", 1)[0]
    if family not in families and not difflib.get_close_matches(family, families, n=1):
        message = (
            f"unknown instance type {_shown(name)}: not a GPU instance type in the catalog "
            f"(families {', '.join(families)})."
        )
        raise UnknownHardwareError(message, name=name)
    raise _unknown("instance type", name, names, names)


def instance_types_with(gpu_name: str) -> tuple[InstanceType, ...]:
    """Instance types that carry the GPU ``gpu_name`` (any spelling `gpu` accepts)."""
    wanted = gpu(gpu_name)
    return tuple(t for t in instance_types() if t.gpu == wanted)


def _unknown(
    kind: str, name: str, canonical: list[str], candidates: list[str]
) -> UnknownHardwareError:
    lowered = {c.lower(): c for c in candidates}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=4, cutoff=0.5)
    # Report canonical names: an alias match points at the GPU it stands for.
    suggestions: list[str] = []
    for c in close:
        original = lowered[c]
        if original not in canonical and kind == "GPU":
            try:
                original = gpu(original).name
            except UnknownHardwareError:
                continue
        if original not in suggestions:
            suggestions.append(original)
    if suggestions:
        hint = f"did you mean {', '.join(repr(s) for s in suggestions)}?"
    else:
        hint = f"known: {', '.join(canonical)}."
    return UnknownHardwareError(
        f"unknown {kind} {_shown(name)}; {hint}", name=name, suggestions=tuple(suggestions)
    )


def _shown(name: str) -> str:
    """A name as an error quotes it: at most 80 characters."""
    return repr(shorten(name))


def _prices_read() -> dt.date:
    value = _instances_doc()["prices_read"]
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


PRICES_READ: dt.date = _prices_read()
PRICES_SOURCE: str = str(_instances_doc().get("prices_source", "")).strip()
PRICES_REGION: str = str(_instances_doc().get("region", "us-east-1"))
