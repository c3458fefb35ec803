"""The typed stack config: parsing, camelCase keys, unknown keys, errors with paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import raw_stack, small_raw, stack_config
from tgi_infra.config.loader import (
    PLATFORM_KEY,
    format_path,
    load_stack,
    parse_platform,
    platform_from_stack_config,
)
from tgi_infra.problems import ConfigInvalid


def problems_of(raw: object) -> list[str]:
    with pytest.raises(ConfigInvalid) as info:
        parse_platform(raw)
    return [str(p) for p in info.value.problems]


def test_every_stack_parses(stack_name: str) -> None:
    cfg = stack_config(stack_name)
    assert cfg.environment == stack_name
    assert cfg.tiers and cfg.node_pools


def test_camel_case_keys_become_snake_case_fields() -> None:
    cfg = parse_platform(small_raw())
    tier = cfg.tiers[0]
    assert tier.max_input_tokens == 4096
    assert tier.effective_max_batch_prefill_tokens == 4096 + 50
    assert tier.model_name == "meta-llama/Llama-3.1-8B-Instruct"
    assert tier.revision_is_pinned
    assert cfg.cluster.namespace == "tgi"


def test_unknown_key_suggests_the_closest_known_key() -> None:
    raw = small_raw()
    raw["tiers"][0]["maxInputToken"] = 100
    (problem,) = problems_of(raw)
    assert "tiers[chat].maxInputToken" in problem
    assert "did you mean `maxInputTokens`?" in problem


def test_unknown_top_level_key_suggests() -> None:
    (problem,) = problems_of(small_raw(nodepools=[]))
    assert problem.startswith("nodepools: unknown key.")
    assert "`nodePools`" in problem


def test_all_schema_problems_are_reported_at_once() -> None:
    raw = small_raw()
    raw["tiers"][0]["numShard"] = 0
    raw["tiers"][0]["quantize"] = "int 3"  # not a token; legal values are per engine
    raw["nodePools"][0]["capacityType"] = "spot"
    del raw["cluster"]["region"]
    problems = problems_of(raw)
    assert len(problems) == 4
    joined = "\n".join(problems)
    assert "tiers[chat].numShard: 0 is not accepted" in joined
    assert "use a value at least 1" in joined
    assert "tiers[chat].quantize: 'int 3'" in joined
    assert "nodePools[l40s].capacityType: 'spot'" in joined
    assert "cluster.region: required key is missing." in joined


def test_path_uses_names_and_falls_back_to_indexes() -> None:
    raw = {"tiers": [{"name": "chat"}, {"noname": 1}]}
    assert format_path(("tiers", 0, "maxInputTokens"), raw) == "tiers[chat].maxInputTokens"
    assert format_path(("tiers", 1, "name"), raw) == "tiers[1].name"
    assert format_path((), raw) == "platform"


def test_non_mapping_platform_is_a_problem_not_a_crash() -> None:
    (problem,) = problems_of(["a", "list"])
    assert "expected a mapping, got list" in problem


def test_missing_platform_key_names_the_key() -> None:
    with pytest.raises(ConfigInvalid) as info:
        platform_from_stack_config({"aws:region": "us-east-1"}, "Pulumi.x.yaml")
    assert PLATFORM_KEY in str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("config: [unclosed", "not valid YAML"),
        ("- just\n- a list\n", "a stack file is a mapping"),
        ("config:\n  aws:region: us-east-1\n", "no `tgi-infra:platform` key"),
    ],
)
def test_malformed_stack_files(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "Pulumi.bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigInvalid) as info:
        load_stack(path)
    assert expected in str(info.value)


def test_missing_stack_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigInvalid, match="stack file not found"):
        load_stack(tmp_path / "nope.yaml")


def test_secrets_are_not_part_of_the_structured_config() -> None:
    raw = small_raw()
    raw["hfToken"] = "hf_abc"
    (problem,) = problems_of(raw)
    assert "hfToken: unknown key." in problem
    assert "hf_abc" not in problem


def test_stack_files_hold_no_plaintext_token(stack_name: str) -> None:
    assert "hf_" not in str(raw_stack(stack_name))
