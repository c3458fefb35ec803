"""The SGLang plug-in: `python3 -m sglang.launch_server` in the `lmsysorg/sglang` image."""

from __future__ import annotations

DEFAULT_VERSION = "0.5.23"

from tgi_infra.engines.sglang.engine import ENGINE  # noqa: E402

__all__ = ["DEFAULT_VERSION", "ENGINE"]
