"""tgi-infra as a library: the public API, component args and their guards, names from
the component's name, URN identity of the existing stacks, and `plan --program`."""

from __future__ import annotations

import copy
import functools
import json
from collections import Counter
from pathlib import Path

import pulumi
import pytest

import tgi_infra
from tests.support import ROOT, SMALL_PLATFORM, STACKS, offline_plan
from tgi_infra import naming
from tgi_infra.cli import main as cli
from tgi_infra.component_args import TgiTierArgs
from tgi_infra.config.loader import read_stack_file
from tgi_infra.offline.plan import UNKNOWN_SHOWN, DuplicateUrn, OfflinePlan, run_offline
from tgi_infra.offline.program import plan_program
from tgi_infra.problems import ConfigInvalid

TWO_TEAMS = ROOT / "examples" / "two-teams"
LEGACY_URNS = json.loads((Path(__file__).parent / "data" / "legacy_urns.json").read_text())
TIER = SMALL_PLATFORM["tiers"][0]
POOL = SMALL_PLATFORM["nodePools"][0]


def test_public_api() -> None:
    for name in tgi_infra.__all__:
        assert getattr(tgi_infra, name) is not None, name
    for name in (
        "TgiPlatform",
        "TgiTier",
        "ModelCache",
        "GpuNodePool",
        "TenantGateway",
        "Observability",
        "PlatformConfig",
        "TierConfig",
        "TgiTierArgs",
    ):
        assert name in tgi_infra.__all__
    with pytest.raises(AttributeError):
        _ = tgi_infra.NoSuchThing  # type: ignore[attr-defined]


def test_components_import_no_schema_library() -> None:
    """A plain install has no jsonschema: the component path must not need it."""
    source = "\n".join(p.read_text() for p in (ROOT / "tgi_infra" / "components").glob("*.py"))
    assert "jsonschema" not in source and "tgi_infra.validation" not in source
    assert "tgi_infra.checks" not in source  # components import no check
    assert "pulumi.Config(" not in source  # components read no config of their own


def test_policy_rules_import_no_runner() -> None:
    """The pure rules package points at nothing above it: no runner, program or harness."""
    import ast

    imported = set()
    for path in (ROOT / "tgi_infra" / "policy").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
    upward = ("tgi_infra.offline", "tgi_infra.program", "tgi_infra.checkrun", "grpc")
    assert [m for m in imported if m.startswith(upward)] == []


# ------------------------------------------------------------------ args guards


def test_tier_args_name_the_field() -> None:
    bad = {**TIER, "maxInputTokens": TIER["maxTotalTokens"]}
    with pytest.raises(ConfigInvalid) as exc:
        TgiTierArgs(tier=bad, node_pool=POOL)
    assert [p.path for p in exc.value.problems] == ["tier.maxInputTokens"]


def test_tier_args_run_the_memory_fit() -> None:
    """The same named memory check as the platform: 70B weights do not fit one L40S."""
    big = {**TIER, "modelId": "meta-llama/Llama-3.1-70B-Instruct", "revision": "a" * 40}
    with pytest.raises(ConfigInvalid) as exc:
        TgiTierArgs(tier=big, node_pool=POOL)
    assert [(p.path, p.check) for p in exc.value.problems] == [("tier", "weights-fit")]


def test_tier_args_check_requests_against_the_node() -> None:
    """A g6e.xlarge has 4 vCPU: 8 cores per replica stay Pending (requests-fit-node)."""
    with pytest.raises(ConfigInvalid) as exc:
        TgiTierArgs(tier={**TIER, "cpuRequest": "8"}, node_pool=POOL)
    assert [(p.path, p.check) for p in exc.value.problems] == [
        ("tier.cpuRequest", "requests-fit-node")
    ]


def test_tier_args_schema_errors_and_exclusions() -> None:
    with pytest.raises(ConfigInvalid) as exc:
        TgiTierArgs(tier={**TIER, "maxTotalTokenz": 1}, node_pool=POOL)
    assert exc.value.problems[0].path == "tier.maxTotalTokenz"
    with pytest.raises(ConfigInvalid) as exc:
        TgiTierArgs(tier=TIER, node_pool=POOL, hf_token="a", hf_token_secret="b")
    assert [p.path for p in exc.value.problems] == ["hf_token_secret"]
    with pytest.raises(ConfigInvalid) as exc:
        TgiTierArgs(tier=TIER, node_pool={**POOL, "name": "other"})
    assert [p.path for p in exc.value.problems] == ["tier.nodePool"]
    args = TgiTierArgs(tier=TIER, node_pool=POOL)
    assert args.capacity is not None and args.weight_bytes > 10**9


def test_platform_takes_a_mapping_and_validates_it() -> None:
    def program() -> None:
        bad = copy.deepcopy(SMALL_PLATFORM)
        bad["tiers"][0]["maxInputTokens"] = 10**6
        tgi_infra.TgiPlatform("p", bad)

    with pytest.raises(ConfigInvalid) as exc:
        run_offline(program, {}, stack="t")
    assert any(p.path.startswith("tiers[chat].maxInputTokens") for p in exc.value.problems)


def test_tier_takes_outputs_for_namespace_and_token() -> None:
    """A Namespace resource's output and a secret token are accepted as inputs."""

    def program() -> None:
        ns = pulumi.Output.from_input("team-ns")
        args = TgiTierArgs(
            tier=TIER,
            node_pool=POOL,
            namespace=ns,
            hf_token=pulumi.Output.secret("hf_output_token"),
        )
        tier = tgi_infra.TgiTier("team-chat", args)
        pulumi.export("service", tier.service_name)

    plan = run_offline(program, {}, stack="t")
    objects = plan.kubernetes_objects()
    assert {o["metadata"]["namespace"] for o in objects} == {"team-ns"}
    assert plan.outputs["service"] == UNKNOWN_SHOWN  # from the Service id: unknown in a preview
    assert "hf_output_token" not in json.dumps(plan.to_json())


# ------------------------------------------------------------------ names and URNs


@functools.cache
def two_teams() -> OfflinePlan:
    return plan_program(TWO_TEAMS, TWO_TEAMS / "Pulumi.example.yaml")


def test_two_teams_share_no_urn_and_no_object() -> None:
    plan = two_teams()
    urns = Counter(r.urn for r in plan.resources)
    assert [u for u, n in urns.items() if n > 1] == []
    objects = Counter(
        (o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"])
        for o in plan.kubernetes_objects()
    )
    assert [k for k, n in objects.items() if n > 1] == []
    names = {(k, ns, n) for k, ns, n in objects}
    # The README's table.
    assert ("Service", "search", "search-chat") in names
    assert ("Service", "support", "support-chat") in names
    assert ("DaemonSet", "kube-system", "search-nvidia-device-plugin") in names
    assert ("DaemonSet", "kube-system", "support-nvidia-device-plugin") in names
    assert ("ConfigMap", "monitoring", "search-dashboard") in names
    assert ("NodePool", None, "support-support-l40s") in names
    assert ("EC2NodeClass", None, "support-support-l40s") in names
    roles = {r.inputs.get("name") for r in plan.of_type("aws:iam/role:Role")}
    assert roles == {"search-ml-dev-search-l4-node", "support-ml-dev-support-l40s-node"}
    # Each team's children are named from its platform.
    for r in plan.resources:
        if r.type.startswith("tgi-infra:") or r.type.startswith("aws:"):
            assert r.name.startswith(("search", "support")), r.name


def test_a_duplicate_urn_is_refused() -> None:
    def program() -> None:
        tgi_infra.TgiPlatform("same", SMALL_PLATFORM)
        tgi_infra.TgiPlatform("same", SMALL_PLATFORM)

    with pytest.raises(DuplicateUrn, match="same"):
        run_offline(program, {}, stack="t")


@pytest.mark.parametrize("stack", STACKS)
def test_existing_stacks_keep_their_urns(stack: str) -> None:
    """Every URN the stack had before names carried the platform is still a URN of the
    plan, or an alias of one (so `pulumi up` keeps the resource's state)."""
    plan = offline_plan(stack)
    known = {r.urn for r in plan.resources} | {a for r in plan.resources for a in r.aliases}
    # No stack sets tgi-infra:hfToken, so the plan (truthfully) has no HF token Secret.
    legacy = {u for u in LEGACY_URNS[stack] if not u.endswith("::tgi-hf-token")}
    assert sorted(legacy - known) == []
    aliased = [a for r in plan.resources for a in r.aliases]
    assert len(aliased) == len(set(aliased))  # no two resources claim one old URN


def test_names_outside_a_scope_are_the_default_platform() -> None:
    assert naming.service_name("chat") == "tgi-chat"
    with naming.platform("team-a"):
        assert naming.service_name("chat") == "team-a-chat"
        assert naming.dashboard_name() == "team-a-dashboard"
        assert naming.legacy_names() == {}
    assert naming.legacy_names()[naming.dashboard_name()] == naming.LEGACY_DASHBOARD


# ------------------------------------------------------------------ plan --program / json


def test_plan_program_json(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli(
        [
            "plan",
            "--program",
            str(TWO_TEAMS),
            "--config",
            str(TWO_TEAMS / "Pulumi.example.yaml"),
            "--format",
            "json",
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["ok"]
    resource = next(r for r in out["resources"] if r["type"] == "kubernetes:apps/v1:Deployment")
    assert set(resource) >= {"urn", "type", "name", "parent", "dependencies", "inputs"}
    assert resource["parent"].endswith("::search-chat") or resource["parent"].endswith(
        "::support-chat"
    )
    # Resolved from the Services' ids, which a preview does not know yet.
    assert out["outputs"]["searchServices"] == UNKNOWN_SHOWN
    secrets = [r for r in out["resources"] if r["inputs"].get("kind") == "Secret"]
    assert secrets and all(
        s["inputs"]["stringData"] == "[secret]"  # a generated key: unknown and secret
        or set(s["inputs"]["stringData"].values()) == {"[secret]"}
        for s in secrets
    )


def test_plan_stack_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["plan", "--stack", "dev", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["outputs"]["tierServices"] == UNKNOWN_SHOWN  # from the Services' ids
    assert any("no Pulumi state was read" in n for n in out["notes"])
    assert {p["check"] for p in out["problems"]} >= {"gated-model"}
    assert "hf_offline_plan_placeholder" not in json.dumps(out)


def test_plan_program_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["plan", "--program", str(tmp_path / "missing.py")]) == 2
    bad = tmp_path / "__main__.py"
    bad.write_text("from tgi_infra import TgiTierArgs\nTgiTierArgs(tier={}, node_pool={})\n")
    assert cli(["plan", "--program", str(tmp_path)]) == 1
    assert "tier.name" in capsys.readouterr().out
    assert cli(["plan"]) == 2


def test_program_reads_its_project_config() -> None:
    config = read_stack_file(TWO_TEAMS / "Pulumi.example.yaml")
    assert "tgi-two-teams:teams" in config


# ------------------------------------------------------------------ documented where declared


def _config_models() -> list[type]:
    from tgi_infra.config.models import PlatformConfig
    from tgi_infra.config.reference import _models

    return _models(PlatformConfig)


def test_every_config_field_has_a_description() -> None:
    models = _config_models()
    assert len(models) >= 10
    missing = [
        f"{model.__name__}.{name}"
        for model in models
        for name, field in model.model_fields.items()
        if not (field.description or "").strip()
    ]
    assert missing == []
    undocumented = [m.__name__ for m in models if not (m.__doc__ or "").strip()]
    assert undocumented == []


def test_exclusions_are_stated_where_declared() -> None:
    from tgi_infra.config.models import TierConfig

    fields = TierConfig.model_fields
    assert "quantize" in (fields["dtype"].description or "")
    assert "dtype" in (fields["quantize"].description or "")
    assert "exl2" in (fields["num_shard"].description or "")


def test_config_reference_has_no_empty_cell() -> None:
    from tgi_infra.config.reference import render_reference

    rows = [line for line in render_reference().splitlines() if line.startswith("| `")]
    assert rows
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split(" | ")]
        assert all(cells), row


def test_every_data_file_ships_in_the_wheel() -> None:
    """What a plain install needs at run time (the policy pack, its configs, the provider
    schema, the catalogs) is declared as package data, so `check` works from a wheel."""
    import fnmatch
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = project["tool"]["setuptools"]["package-data"]["tgi_infra"]
    package = ROOT / "tgi_infra"
    data = [
        p.relative_to(package).as_posix()
        for p in package.rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    ]
    for needed in (
        "policy_pack/PulumiPolicy.yaml",
        "policy_pack/config/prod.json",
        "provider/schema.json",
        "provider/PulumiPlugin.yaml",
    ):
        assert needed in data
    undeclared = [f for f in data if not any(fnmatch.fnmatch(f, p) for p in patterns)]
    assert undeclared == []
    runtime = " ".join(project["project"]["dependencies"])
    for dependency in ("pulumi-policy", "jsonschema", "kubernetes-validate"):
        assert dependency in runtime  # `tgi-infra check` is a user command


def test_a_cache_alone_is_named_from_its_name() -> None:
    from tgi_infra.component_args import ModelCacheArgs

    def program() -> None:
        tgi_infra.ModelCache("team-chat-cache", ModelCacheArgs(TIER, 16 * 2**30, "ns"))

    names = {
        o["metadata"]["name"] for o in run_offline(program, {}, stack="t").kubernetes_objects()
    }
    assert names and all(n.startswith("team-chat-") for n in names), names
