"""Serving engines as plug-ins: TGI (the default), vLLM and SGLang.

One subpackage per engine owns everything that names that engine: its pinned image, how a
tier's settings become its flags and env, its port and probes, its metrics and how they map
onto the engine-neutral series (`<engine>/metrics.py`), its startup rules and its memory
model. Nothing outside this package names an engine's flag, metric or image.
"""

from __future__ import annotations

from typing import Literal

EngineName = Literal["tgi", "vllm", "sglang"]
ENGINE_NAMES: tuple[EngineName, ...] = ("tgi", "vllm", "sglang")

# The pinned release of each engine: TGI's last (maintenance mode since 2025-12-11), and
# the newest vLLM and SGLang on PyPI as of 2026-12-02.
DEFAULT_VERSIONS: dict[str, str] = {"tgi": "3.3.7", "vllm": "0.34.0", "sglang": "0.5.23"}
