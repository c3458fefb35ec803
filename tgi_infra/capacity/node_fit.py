"""CPU and memory of a GPU node that TGI pods can request, and default requests per tier.

EKS reserves CPU and memory for the kubelet (the EKS AMI's formula: 6% of the first core,
1% of the second, 0.5% of the next two, 0.25% of the rest; 255 MiB + 11 MiB per pod and
100 MiB for eviction), and the node's DaemonSets (VPC CNI, kube-proxy, the NVIDIA device
plugin, a log or metrics agent) take a little more. What is left is shared by the TGI
replicas the node's GPUs admit.
"""

from __future__ import annotations

import math
import re

from tgi_infra.capacity.catalog import InstanceType

MIB = 2**20
GIB = 2**30
MAX_PODS = 110
DAEMONSET_CPU_MILLIS = 500
DAEMONSET_MEMORY = 1 * GIB
# Default requests are capped per shard: TGI's host side (router, tokenizers, one Python
# process per shard that streams weights to its GPU) needs a few cores and GiB each.
DEFAULT_CPU_MILLIS_PER_SHARD = 4000
DEFAULT_MEMORY_PER_SHARD = 16 * GIB

_MEMORY = re.compile(r"^(\d+)(Ki|Mi|Gi|Ti)$")
_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def kubelet_cpu_reserved_millis(vcpus: int) -> int:
    cores = [60, 10, 5, 5] + [2.5] * max(0, vcpus - 4)
    return math.ceil(sum(cores[:vcpus]))


def allocatable(instance: InstanceType) -> tuple[int, int]:
    """(CPU millicores, memory bytes) left for workload pods on one node."""
    cpu = instance.vcpus * 1000 - kubelet_cpu_reserved_millis(instance.vcpus)
    memory = instance.memory_gib * GIB - (255 + 11 * MAX_PODS + 100) * MIB
    return cpu - DAEMONSET_CPU_MILLIS, memory - DAEMONSET_MEMORY


def cpu_millis(quantity: str) -> int:
    """`4`, `2.5` or `500m` in millicores."""
    if quantity.endswith("m"):
        return int(quantity[:-1])
    return round(float(quantity) * 1000)


def memory_bytes(quantity: str) -> int:
    """`32Gi`, `512Mi` in bytes (the binary suffixes the config accepts)."""
    match = _MEMORY.match(quantity)
    if not match:
        raise ValueError(f"not a memory quantity: {quantity!r}")
    return int(match.group(1)) * _UNITS[match.group(2)]


def replicas_per_node(instance: InstanceType, num_shard: int) -> int:
    return max(1, instance.gpu_count // num_shard)


def default_requests(instance: InstanceType, num_shard: int) -> tuple[str, str]:
    """(cpu, memory) for one replica: its share of the node, capped per shard."""
    cpu, memory = allocatable(instance)
    share = replicas_per_node(instance, num_shard)
    cpu_each = min(cpu // share, DEFAULT_CPU_MILLIS_PER_SHARD * num_shard)
    memory_each = min(memory // share, DEFAULT_MEMORY_PER_SHARD * num_shard)
    return f"{cpu_each // 100 * 100}m", f"{memory_each // GIB}Gi"
