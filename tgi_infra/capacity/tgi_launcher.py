"""TGI's launcher default for ``--max-batch-prefill-tokens`` when the user gives none (pure).

The prefill budget sizes TGI's warmup batch, so it moves the KV capacity TGI logs. Since 3.0
the launcher no longer uses ``max_input_tokens + 50``; it derives the budget from the GPU's
compute and memory. This mirrors ``launcher/src/main.rs`` of
``huggingface/text-generation-inference`` (read at tags v3.0.0 to v3.3.7):

- ``compute_type``: the card is nvidia-smi's ``gpu_name`` with spaces as ``-``, lower-cased,
  matched exactly against ``impl From<&str> for Gpu`` (`LAUNCHER_CARDS`); any other name is
  ``Gpu::Unknown`` (no compute figure, e.g. ``tesla-t4``, ``nvidia-geforce-rtx-4090``).
- ``compute_optimal``: ``f16_flop x num_shard // config.flop()`` when above 100; ``flop()`` is
  ``None`` for a model with a ``vision_config``.
- ``default_optimal`` when there is no compute figure: 4096; since 3.1.1 ``qwen2_vl`` /
  ``qwen2_5_vl`` 10_000 and since 3.2.0 ``gemma3`` 8000.
- capped by ``max_position_embeddings`` and by ``vram_maximum`` (any card): nvidia-smi's
  total x shards x ``cuda_memory_fraction`` x 0.95 (the launcher's own ``TGI_WIGGLE_ROOM``
  default) minus
  ``model_vram()``, divided by ``token_vram()``; skipped for a quantized model.
"""

from __future__ import annotations

from tgi_infra.capacity.facts import ModelFacts

# launcher/src/main.rs `impl From<&str> for Gpu` -> `ComputeType::f16_flop`, dense f16 FLOP/s.
_FLOP_TABLE = {
    "nvidia-4090": 82, "nvidia-t4": 65, "nvidia-l4": 121, "nvidia-l40": 181,
    "nvidia-l40s": 363, "nvidia-a10g": 125, "nvidia-a40": 149,
    "nvidia-h100-80gb-hbm3": 900, "nvidia-h100-nvl": 900, "nvidia-h100": 900,
    "nvidia-a100-sxm4-80gb": 312, "nvidia-a100-sxm4-40gb": 312, "nvidia-a100-80gb-pcie": 312,
    "nvidia-a100": 312, "nvidia-h200": 989,
}
LAUNCHER_CARDS: dict[str, float] = {k: v * 1e12 for k, v in _FLOP_TABLE.items()}
# Cards the table gained after 3.0.0: A40 in 3.0.2, H200 in 3.1.1.
_CARD_SINCE = {"nvidia-a40": (3, 0, 2), "nvidia-h200": (3, 1, 1)}
LAUNCHER_VRAM_WIGGLE_ROOM = 0.95  # ComputeType::vram: TGI_WIGGLE_ROOM unwrap_or(0.95)
_VLM_DEFAULTS = {"qwen2_vl": (10_000, (3, 1, 1)), "qwen2_5_vl": (10_000, (3, 1, 1)),
                 "gemma3": (8000, (3, 2, 0))}


def launcher_card(product_name: str) -> str:
    """nvidia-smi's name as the launcher keys it: ``NVIDIA A10G`` -> ``nvidia-a10g``."""
    return product_name.replace(" ", "-").lower()


def _vlm_model_type(facts: ModelFacts) -> str | None:
    arch = facts.architecture.lower()
    if "qwen2_5_vl" in arch:
        return "qwen2_5_vl"
    if "qwen2vl" in arch or "qwen2_vl" in arch:
        return "qwen2_vl"
    if arch.startswith("gemma3forconditional"):
        return "gemma3"
    return None


def is_vision_model(facts: ModelFacts) -> bool:
    """A ``*ForConditionalGeneration`` architecture: config.json has a ``vision_config``."""
    return facts.architecture.endswith("ForConditionalGeneration")


def _head_dim(facts: ModelFacts) -> int:
    return facts.head_dim or facts.hidden_size // facts.num_attention_heads


def model_flop(facts: ModelFacts) -> int | None:
    """``Config::flop``: matmul FLOPs per token (None for a vision model or no MLP width)."""
    intermediate = getattr(facts, "intermediate_size", None)
    if is_vision_model(facts) or not intermediate:
        return None
    h, hd = facts.hidden_size, _head_dim(facts)
    heads, kv = facts.num_attention_heads, facts.num_kv_heads
    active = 2 if facts.num_experts else 1  # num_experts_per_tok (memory.MOE_ACTIVE_EXPERTS)
    attn = 2 * heads * hd * h + 2 * (2 * kv * hd * h) + 2 * (2 * heads * hd * h)
    mlp = 2 * 3 * h * intermediate * active
    return (attn + mlp) * facts.num_layers


def vram_maximum(
    facts: ModelFacts, nvidia_smi_mib: int, num_shard: int, cuda_memory_fraction: float
) -> int | None:
    """``vram_maximum``: tokens the launcher thinks fit beside the weights (None: no cap)."""
    intermediate = getattr(facts, "intermediate_size", None)
    if facts.checkpoint_quantization or not intermediate:
        return None
    hd, h, experts = _head_dim(facts), facts.hidden_size, facts.num_experts or 1
    available = int(nvidia_smi_mib * 2**20 * num_shard * cuda_memory_fraction
                    * LAUNCHER_VRAM_WIGGLE_ROOM)
    # Config::model_vram, term for term (its attention term omits hidden_size, as upstream).
    layer = (3 * intermediate * experts * h
             + (facts.num_attention_heads + 2 * facts.num_kv_heads) * hd
             + facts.num_attention_heads * hd * h)
    model = (layer * facts.num_layers + 2 * h * facts.vocab_size) * 2
    token = (facts.num_kv_heads * 2 * hd * 2 * facts.num_layers
             + (intermediate + intermediate // 2) * experts * 2 * 3)
    if available <= model:
        return None
    return (available - model) // token


def default_max_batch_prefill_tokens(
    facts: ModelFacts,
    *,
    product_name: str,
    nvidia_smi_mib: int,
    num_shard: int = 1,
    cuda_memory_fraction: float = 1.0,
    version: tuple[int, int, int] = (3, 3, 0),
    max_input_tokens: int | None = None,
) -> int:
    """The prefill budget TGI's launcher picks when ``--max-batch-prefill-tokens`` is unset."""
    if version < (3, 0, 0):
        # TGI 2.x: "Default to `max_input_tokens + 50`" (launcher Args doc); 1.x: 4096.
        return max_input_tokens + 50 if max_input_tokens else 4096
    card = launcher_card(product_name)
    flop = LAUNCHER_CARDS.get(card)
    if flop is not None and version < _CARD_SINCE.get(card, (0, 0, 0)):
        flop = None
    default = 4096
    vlm = _vlm_model_type(facts)
    if vlm and version >= _VLM_DEFAULTS[vlm][1]:
        default = _VLM_DEFAULTS[vlm][0]
    per_token = model_flop(facts)
    if flop is not None and per_token:
        optimal = int(flop * num_shard) // per_token
        if optimal > 100:
            default = optimal
    value = min(default, facts.max_position_embeddings or default)
    # `vram_maximum` needs only nvidia-smi's memory total, so it caps unknown cards too.
    cap = vram_maximum(facts, nvidia_smi_mib, num_shard, cuda_memory_fraction)
    if cap is not None:
        value = min(value, cap)
    return int(value)
