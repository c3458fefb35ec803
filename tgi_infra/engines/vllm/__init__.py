"""The vLLM plug-in: the OpenAI-compatible server of the `vllm/vllm-openai` image."""

from __future__ import annotations

DEFAULT_VERSION = "0.34.0"

from tgi_infra.engines.vllm.engine import ENGINE  # noqa: E402

__all__ = ["DEFAULT_VERSION", "ENGINE"]
