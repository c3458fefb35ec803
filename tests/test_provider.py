"""The component provider: its schema (generated from the args types, as the provider host
does) is the checked-in schema.json, the YAML example uses only what the schema declares,
and the provider's components build under the mocks like the library's."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from tests.support import ROOT, SMALL_PLATFORM
from tgi_infra import __version__
from tgi_infra.offline.plan import run_offline
from tgi_infra.problems import ConfigInvalid
from tgi_infra.provider import SCHEMA_FILE, generate_schema
from tgi_infra.provider.components import Platform, PlatformArgs, Tier, TierArgs

YAML_EXAMPLE = ROOT / "examples" / "yaml-platform" / "Pulumi.yaml"


def test_checked_in_schema_is_the_generated_one() -> None:
    generated = generate_schema(__version__)
    checked_in = json.loads(SCHEMA_FILE.read_text())
    assert generated == checked_in, "regenerate: python -m tgi_infra.provider --schema"


def test_schema_declares_the_components_and_their_inputs() -> None:
    resources = json.loads(SCHEMA_FILE.read_text())["resources"]
    tier = resources["tgi-infra:index:Tier"]
    assert tier["isComponent"] is True
    assert set(tier["requiredInputs"]) == {"tier", "nodePool"}
    assert "plain" not in tier["inputProperties"]["namespace"]  # accepts an output
    assert tier["inputProperties"]["tier"]["plain"] is True  # checked at construction
    for component in resources.values():
        for prop in component["inputProperties"].values():
            assert prop.get("description"), prop


def test_yaml_example_uses_declared_properties() -> None:
    program = yaml.safe_load(YAML_EXAMPLE.read_text())
    resources = json.loads(SCHEMA_FILE.read_text())["resources"]
    used = [r for r in program["resources"].values() if r["type"].startswith("tgi-infra:")]
    assert used
    for resource in used:
        declared = resources[resource["type"]]
        assert set(resource["properties"]) <= set(declared["inputProperties"])
        assert set(declared["requiredInputs"]) <= set(resource["properties"])


def _tier_args() -> TierArgs:
    program = yaml.safe_load(YAML_EXAMPLE.read_text())
    props: dict[str, Any] = dict(program["resources"]["chat"]["properties"])
    props["namespace"] = "llm"
    props["hfToken"] = "hf_yaml_placeholder"
    keys = {"nodePool": "node_pool", "hfToken": "hf_token", "gatewayNamespace": "gateway_namespace"}
    return {keys.get(k, k): v for k, v in props.items()}  # type: ignore[return-value]


def test_provider_components_build_under_mocks() -> None:
    def program() -> None:
        Tier("chat", _tier_args())
        Platform("team", PlatformArgs(platform=SMALL_PLATFORM))

    plan = run_offline(program, {}, stack="t")
    services = {
        (o["metadata"]["namespace"], o["metadata"]["name"])
        for o in plan.kubernetes_objects()
        if o["kind"] == "Service"
    }
    assert services == {("llm", "chat"), ("tgi", "team-chat")}
    assert "hf_yaml_placeholder" not in json.dumps(plan.to_json())


def test_provider_tier_refuses_a_bad_tier() -> None:
    args = _tier_args()
    args["tier"] = {**args["tier"], "maxInputTokens": 10**6}

    with pytest.raises(ConfigInvalid, match="maxInputTokens"):
        run_offline(lambda: Tier("chat", args), {}, stack="t")
