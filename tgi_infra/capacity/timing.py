"""How long a TGI replica takes to come up, from the weight size.

Rates are deliberately conservative defaults for EKS: a new GPU node in about 3 minutes,
the ~10 GB TGI image pulled in about 4, weights read from a network volume (EFS/FSx) at
250 MiB/s, fetched from the Hub at 100 MiB/s, and CUDA graph capture plus warmup in 2.
"""

from __future__ import annotations

import math

MIB = 2**20
NODE_PROVISION_SECONDS = 180
IMAGE_PULL_SECONDS = 240
WARMUP_SECONDS = 120
CACHE_READ_BYTES_PER_SECOND = 250 * MIB
HUB_DOWNLOAD_BYTES_PER_SECOND = 100 * MIB
SAFETY_FACTOR = 1.5


def load_seconds(weight_bytes: int) -> int:
    """Read weights from the cache volume, load them, and warm up."""
    return math.ceil(weight_bytes / CACHE_READ_BYTES_PER_SECOND + WARMUP_SECONDS)


def pod_startup_seconds(weight_bytes: int) -> int:
    """Budget for the startupProbe: container started to /health answering."""
    return math.ceil(load_seconds(weight_bytes) * SAFETY_FACTOR)


def download_seconds(weight_bytes: int) -> int:
    """Budget for the download Job (activeDeadlineSeconds): the Hub to the cache."""
    return math.ceil((weight_bytes / HUB_DOWNLOAD_BYTES_PER_SECOND + 60) * 2 * SAFETY_FACTOR)


def cold_start_seconds(weight_bytes: int) -> int:
    """A scale-out onto a new node: node, image pull, load and warmup."""
    return NODE_PROVISION_SECONDS + IMAGE_PULL_SECONDS + load_seconds(weight_bytes)
