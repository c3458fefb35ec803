"""The TGI plug-in: Hugging Face text-generation-inference, the platform's default engine.

TGI is in maintenance mode since 2025-12-11; its last release is 3.3.7 (2025-12-18).
"""

from __future__ import annotations

DEFAULT_VERSION = "3.3.7"

from tgi_infra.engines.tgi.engine import ENGINE  # noqa: E402

__all__ = ["DEFAULT_VERSION", "ENGINE"]
