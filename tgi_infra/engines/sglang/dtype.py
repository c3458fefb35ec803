"""SGLang 0.5.23's served dtype, read from the wheel.

``srt/model_executor/model_runner_components/load_model_utils.py``
``maybe_downgrade_dtype_for_legacy_gpu``: below compute capability 8.0 the model runs in
float16 whatever ``--dtype`` says; elsewhere ``--dtype float32`` runs float32 weights and,
with ``--kv-cache-dtype auto``, a float32 KV cache.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tgi_infra.capacity.catalog import Gpu
    from tgi_infra.capacity.facts import ModelFacts


def serves_float32(facts: ModelFacts, dtype: str | None, gpu: Gpu) -> bool:
    """Whether SGLang runs the weights (and an ``auto`` KV cache) in float32."""
    del facts  # SGLang's choice depends on the flag and the GPU only
    value = (dtype or "auto").lower()
    return value in ("float32", "float") and gpu.compute_capability_tuple >= (8, 0)
