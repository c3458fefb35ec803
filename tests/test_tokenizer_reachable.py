"""engineArgs naming a tokenizer the offline pods cannot read (engines/common.py
`tokenizer_reachable`): the pods run with HF_HUB_OFFLINE=1 and the cache Job downloads the
tier's modelId only. Found by benchmarks/fuzz_cli.py seed 7 (`tokenizer: ../../x` accepted)."""

from __future__ import annotations

import pytest

from tgi_infra.config.models import TierConfig
from tgi_infra.engines import get_engine


def rules(engine: str, flag: str, value: object) -> dict[str, tuple[str, str]]:
    tier = TierConfig(name="t", model_id="org/model", node_pool="gpu", engine=engine,
                      max_input_tokens=4095, max_total_tokens=4096,
                      engine_args={flag: value})  # fmt: skip
    return {
        p.check: (p.severity, p.message)
        for p in get_engine(engine).argument_rules(tier)
        if p.check == "tokenizer-reachable"
    }


@pytest.mark.parametrize(("engine", "flag"), [("vllm", "tokenizer"), ("sglang", "tokenizer-path")])
def test_tokenizers_the_offline_pod_cannot_read(engine: str, flag: str) -> None:
    (severity, message), = rules(engine, flag, "../../x").values()
    assert severity == "error" and "neither an absolute path nor a Hub repo id" in message
    (severity, message), = rules(engine, flag, "meta-llama/Llama-3.1-8B-Instruct").values()
    assert severity == "error" and "HF_HUB_OFFLINE=1" in message and "org/model" in message
    (severity, message), = rules(engine, flag, "/opt/tokenizer").values()
    assert severity == "warning" and "/opt/tokenizer" in message
    assert rules(engine, flag, "org/model") == {}  # the model's own repo: in the cache


def test_tgi_has_no_such_flag_and_other_engines_flags_are_not_read() -> None:
    assert rules("vllm", "tokenizer-mode", "auto") == {}
    assert rules("sglang", "tokenizer-mode", "auto") == {}
