"""The real pack, started as the Pulumi engine starts it and called over gRPC with Pulumi's
own protobufs, on offline plans of the real stacks, of bad fixtures and of mutated plans.

One prod pack process serves the module (a few more start for other environments, bad
fixtures and failure cases); each plan is analyzed as one preview: ConfigureStack,
GetAnalyzerInfo, Configure, Remediate/Analyze per resource, AnalyzeStack.
"""

from __future__ import annotations

import copy
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.support import ROOT, raw_stack, stack_path
from tgi_infra import naming
from tgi_infra.checkrun.harness import (
    POLICY_DIR,
    HarnessError,
    PolicyPackProcess,
    analyze_plan,
    load_pack_config,
)
from tgi_infra.checks import validate_platform
from tgi_infra.config.loader import platform_from_stack_config, read_stack_file
from tgi_infra.offline.plan import OfflinePlan, PlannedResource, run_offline
from tgi_infra.policy.catalog import ENVIRONMENTS, POLICIES
from tgi_infra.problems import errors
from tgi_infra.program import main as program

FIXTURES = ROOT / "tests" / "fixtures"
EXPECT = re.compile(r"^# expect: ([a-z0-9-]+) \((policy|check)\)$", re.M)
Resources = list[PlannedResource]


def plan_of(stack: str) -> OfflinePlan:
    return run_offline(program, raw_stack(stack), stack=stack)


@pytest.fixture(scope="module")
def prod_plan() -> OfflinePlan:
    return plan_of("prod")


@pytest.fixture(scope="module")
def prod_pack() -> Iterator[PolicyPackProcess]:
    with PolicyPackProcess(stack="prod", stack_config=raw_stack("prod")) as pack:
        yield pack
    assert not pack.running


def names(result: Any, *, mandatory: bool = True) -> set[str]:
    return {d.policy for d in result.diagnostics if d.mandatory or not mandatory}


# ------------------------------------------------------------------ mutations of a plan


def k8s(resources: Resources, kind: str, name_part: str = "") -> list[PlannedResource]:
    return [
        r
        for r in resources
        if r.inputs.get("kind") == kind
        and name_part in r.inputs.get("metadata", {}).get("name", "")
    ]


def tgi(resources: Resources, tier: str = "chat") -> dict[str, Any]:
    """The TGI container of a tier's Deployment."""
    [deployment] = [
        d
        for d in k8s(resources, "Deployment")
        if re.fullmatch(naming.deployment_name_pattern(tier), d.inputs["metadata"]["name"])
    ]
    return deployment.inputs["spec"]["template"]["spec"]["containers"][0]


def set_env(container: dict[str, Any], name: str, value: str | None) -> None:
    container["env"] = [e for e in container["env"] if e["name"] != name]
    if value is not None:
        container["env"].append({"name": name, "value": value})


def drop(resources: Resources, kind: str, name_part: str = "") -> None:
    for r in k8s(resources, kind, name_part):
        resources.remove(r)


LEAKED_TOKEN = "hf_" + "Zq9" * 12


def _unrouted(resources: Resources) -> None:
    for route in k8s(resources, "AIGatewayRoute"):
        rules = route.inputs["spec"]["rules"]
        route.inputs["spec"]["rules"] = [r for r in rules if r["name"] != "chat"]
    drop(resources, "HTTPRoute", "tgi-chat-fallback")


def _gpu_limit(resources: Resources) -> None:
    tgi(resources, "large")["resources"]["limits"]["nvidia.com/gpu"] = "2"


def _no_shm(resources: Resources) -> None:
    [deployment] = k8s(resources, "Deployment", "tgi-large-")
    spec = deployment.inputs["spec"]["template"]["spec"]
    spec["volumes"] = [v for v in spec["volumes"] if v["name"] != "shm"]
    spec["containers"][0]["volumeMounts"] = [
        m for m in spec["containers"][0]["volumeMounts"] if m["mountPath"] != "/dev/shm"
    ]


def _no_toleration(resources: Resources) -> None:
    k8s(resources, "Deployment", "tgi-chat-")[0].inputs["spec"]["template"]["spec"][
        "tolerations"
    ] = []


def _remote_code(resources: Resources) -> None:
    set_env(tgi(resources), "TRUST_REMOTE_CODE", "true")
    set_env(tgi(resources), "REVISION", "main")


def _load_balancer(resources: Resources) -> None:
    k8s(resources, "Service", "tgi-chat")[0].inputs["spec"]["type"] = "LoadBalancer"


def _tenant_unlimited(resources: Resources) -> None:
    from tgi_infra.policy.stack_rules import selects_tenant

    [policy] = k8s(resources, "BackendTrafficPolicy")
    limits = policy.inputs["spec"]["rateLimit"]["global"]
    limits["rules"] = [
        r for r in limits["rules"] if not selects_tenant(r, "x-tenant-id", "analytics")
    ]


MUTATIONS: dict[str, tuple[Callable[[Resources], None], set[str]]] = {
    "latest image on the download job": (
        lambda rs: (
            k8s(rs, "Job", "tgi-chat-")[0]
            .inputs["spec"]["template"]["spec"]["containers"][0]
            .update(image="ghcr.io/huggingface/text-generation-inference")
        ),
        {"tgi-image-pinned"},
    ),
    "latest image on the server": (
        lambda rs: tgi(rs).update(image="ghcr.io/huggingface/text-generation-inference:latest"),
        {"tgi-image-pinned", "tgi-messages-api"},
    ),
    "old TGI": (
        lambda rs: tgi(rs).update(image="ghcr.io/huggingface/text-generation-inference:1.3.4"),
        {"tgi-messages-api"},
    ),
    "literal HF token": (
        lambda rs: set_env(tgi(rs), "HF_TOKEN", LEAKED_TOKEN),
        {"hf-token-secret-ref"},
    ),
    "no total-token limit": (
        lambda rs: set_env(tgi(rs), "MAX_TOTAL_TOKENS", None),
        {"tgi-token-limits"},
    ),
    "moving revision": (lambda rs: set_env(tgi(rs), "REVISION", "main"), {"tgi-revision-pinned"}),
    "remote code at a moving revision": (
        _remote_code,
        {"tgi-trust-remote-code-pinned", "tgi-revision-pinned"},
    ),
    "gpu limit below shards": (_gpu_limit, {"tgi-gpu-limit-matches-shards"}),
    "sharded without /dev/shm": (_no_shm, {"tgi-shm-for-shards"}),
    "no startup probe": (lambda rs: tgi(rs).pop("startupProbe"), {"tgi-startup-probe"}),
    "no GPU toleration": (_no_toleration, {"gpu-taint-toleration"}),
    "LoadBalancer Service": (_load_balancer, {"no-loadbalancer-services"}),
    "no PDBs": (lambda rs: drop(rs, "PodDisruptionBudget"), {"tier-disruption-budget"}),
    "no tier NetworkPolicy": (
        lambda rs: drop(rs, "NetworkPolicy", "tgi-chat"),
        {"tgi-network-policy"},
    ),
    "no SecurityPolicies": (lambda rs: drop(rs, "SecurityPolicy"), {"gateway-route-auth"}),
    "no rate limits": (lambda rs: drop(rs, "BackendTrafficPolicy"), {"gateway-route-rate-limit"}),
    "a tenant without its own limit": (_tenant_unlimited, {"gateway-route-rate-limit"}),
    "tier not routed": (_unrouted, {"tier-service-routed"}),
    "tier not monitored": (
        lambda rs: drop(rs, "ServiceMonitor", "tgi-chat"),
        {"tgi-deployment-monitored"},
    ),
}


def mutate(plan: OfflinePlan, change: Callable[[Resources], None]) -> Resources:
    resources = [replace(r, inputs=copy.deepcopy(r.inputs)) for r in plan.resources]
    change(resources)
    return resources


# ------------------------------------------------------------------ the engine's calls


def test_analyzer_info_lists_every_policy_with_prod_levels(prod_pack: PolicyPackProcess) -> None:
    info, policies = prod_pack.info()
    assert info.name == "tgi-infra-llm-serving"
    assert info.supportsConfig
    assert list(policies) == [p.name for p in POLICIES]
    for spec in POLICIES:
        assert policies[spec.name]["enforcementLevel"] == spec.level("prod")
        assert policies[spec.name]["type"] == spec.scope
        assert policies[spec.name]["description"] == spec.description
    limits = policies["tgi-token-limits"]["schema"]["properties"]
    assert limits["maxTotalTokens"]["default"] == 32768


def test_prod_plan_is_clean_and_every_call_is_answered(
    prod_pack: PolicyPackProcess, prod_plan: OfflinePlan
) -> None:
    kinds = {r.inputs.get("kind") for r in prod_plan.resources}
    assert {"Deployment", "AIGatewayRoute", "SecurityPolicy", "ServiceMonitor"} <= kinds
    result = prod_pack.analyze(prod_plan.resources)
    assert result.diagnostics == []
    assert result.version == "0.1.0"  # PulumiPolicy.yaml's, as the engine reports it
    assert set(result.config) == {p.name for p in POLICIES}


@pytest.mark.parametrize("case", list(MUTATIONS))
def test_mutated_plan_is_caught_by_its_policy(
    case: str, prod_pack: PolicyPackProcess, prod_plan: OfflinePlan
) -> None:
    change, expected = MUTATIONS[case]
    result = prod_pack.analyze(mutate(prod_plan, change))
    assert names(result) == expected, [d.message for d in result.diagnostics]
    for d in result.diagnostics:
        assert d.urn.startswith("urn:pulumi:prod::tgi-infra::"), d
        assert LEAKED_TOKEN not in d.message  # a violation never echoes the secret


def test_every_policy_has_a_failing_case() -> None:
    caught = set().union(*(expected for _, expected in MUTATIONS.values()))
    assert caught == {p.name for p in POLICIES}


# ------------------------------------------------------------------ bad stacks (fixtures)


def fixture_cases() -> list[tuple[str, str, str]]:
    cases = []
    for path in sorted(FIXTURES.glob("*.yaml")):
        match = EXPECT.search(path.read_text())
        assert match, f"{path.name}: first lines must say `# expect: NAME (policy|check)`"
        cases.append((path.name, match.group(1), match.group(2)))
    return cases


@pytest.mark.parametrize(("fixture", "expected", "via"), fixture_cases())
def test_bad_fixture_is_caught_by_what_it_targets(fixture: str, expected: str, via: str) -> None:
    path = FIXTURES / fixture
    config = read_stack_file(path)
    report = validate_platform(platform_from_stack_config(config, str(path)))
    if via == "check":
        assert expected in {p.check for p in errors(report.problems)}
        return
    assert report.ok, [str(p) for p in errors(report.problems)]
    plan = run_offline(program, config, stack=path.stem)
    result = analyze_plan(plan.resources, stack=path.stem, stack_config=config)
    assert names(result) == {expected}, [d.message for d in result.diagnostics]


def test_fixtures_cover_policies_and_checks() -> None:
    vias = {via for _, _, via in fixture_cases()}
    assert vias == {"policy", "check"}


# ------------------------------------------------------------------ configuration


def test_environment_defaults_reach_the_engine_path() -> None:
    """The dev stack's pack: a moving revision is advisory there, mandatory in prod."""
    plan = plan_of("dev")
    moving = mutate(plan, lambda rs: set_env(tgi(rs, "small"), "REVISION", "main"))
    with PolicyPackProcess(stack="dev", stack_config=raw_stack("dev")) as pack:
        _, policies = pack.info()
        assert policies["tgi-revision-pinned"]["enforcementLevel"] == "advisory"
        result = pack.analyze(moving)
    assert names(result) == set()
    assert names(result, mandatory=False) == {"tgi-revision-pinned"}
    assert result.diagnostics[0].enforcement == "advisory"


def test_pack_config_overrides_levels_and_properties(
    prod_pack: PolicyPackProcess, prod_plan: OfflinePlan
) -> None:
    tight = prod_pack.analyze(prod_plan.resources, {"tgi-token-limits": {"maxTotalTokens": 8192}})
    assert names(tight) == {"tgi-token-limits"}
    assert all("cap of 8192" in d.message for d in tight.diagnostics)
    moving = mutate(prod_plan, lambda rs: set_env(tgi(rs), "REVISION", "main"))
    relaxed = prod_pack.analyze(moving, {"all": {"enforcementLevel": "advisory"}})
    assert names(relaxed) == set() and names(relaxed, mandatory=False) == {"tgi-revision-pinned"}
    off = prod_pack.analyze(moving, {"tgi-revision-pinned": {"enforcementLevel": "disabled"}})
    assert off.diagnostics == []
    # The pack keeps no state between previews: the next one is back to the defaults.
    assert names(prod_pack.analyze(moving)) == {"tgi-revision-pinned"}


def test_invalid_pack_config_is_refused(
    prod_pack: PolicyPackProcess, prod_plan: OfflinePlan
) -> None:
    with pytest.raises(HarnessError, match="tgi-token-limits: 'many' is not of type 'integer'"):
        prod_pack.analyze(prod_plan.resources, {"tgi-token-limits": {"maxTotalTokens": "many"}})
    with pytest.raises(HarnessError, match="names 'no-such-policy'"):
        prod_pack.analyze(prod_plan.resources, {"no-such-policy": {"enforcementLevel": "advisory"}})


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_shipped_config_files_reconcile(
    env: str, prod_pack: PolicyPackProcess, prod_plan: OfflinePlan
) -> None:
    config = load_pack_config(POLICY_DIR / "config" / f"{env}.json")
    prod_pack.analyze(prod_plan.resources[:1], config)


# ------------------------------------------------------------------ robustness


def broken_pack(tmp_path: Path, main: str) -> Path:
    (tmp_path / "PulumiPolicy.yaml").write_text("runtime: python\nversion: 0.0.1\n")
    (tmp_path / "__main__.py").write_text(main)
    return tmp_path


def test_a_crashing_pack_reports_its_stderr(tmp_path: Path) -> None:
    pack = PolicyPackProcess(broken_pack(tmp_path, "raise SystemExit('policy import broke')"))
    with pytest.raises(HarnessError, match=r"(?s)instead of its port.*policy import broke"):
        pack.start()
    assert not pack.running


def test_a_policy_that_raises_fails_the_analysis_with_its_traceback(
    tmp_path: Path, prod_plan: OfflinePlan
) -> None:
    main = (
        "from pulumi_policy import PolicyPack, ResourceValidationPolicy\n"
        "def boom(args, report):\n"
        "    raise ValueError('rule crashed on ' + args.resource_type)\n"
        "PolicyPack('broken', [ResourceValidationPolicy('boom', 'Always fails.', boom)])\n"
    )
    with PolicyPackProcess(broken_pack(tmp_path, main)) as pack:
        with pytest.raises(HarnessError, match=r"(?s)Analyze failed.*rule crashed on"):
            pack.analyze(prod_plan.resources[:3])
        assert pack.running  # the server survives a failing call, as under the engine


def test_a_silent_pack_times_out_and_is_killed(tmp_path: Path) -> None:
    pack = PolicyPackProcess(
        broken_pack(tmp_path, "import time\ntime.sleep(60)\n"), start_timeout=1.0
    )
    started = time.monotonic()
    with pytest.raises(HarnessError, match="no port within 1s"):
        pack.start()
    assert time.monotonic() - started < 10
    assert not pack.running


def test_the_pack_process_is_gone_after_use(prod_plan: OfflinePlan) -> None:
    with PolicyPackProcess(stack="prod", stack_config=raw_stack("prod")) as pack:
        proc = pack._proc
        assert proc is not None and pack.running and pack.port
    assert proc.poll() is not None
    with pytest.raises(ProcessLookupError):
        os.kill(proc.pid, 0)


def test_stack_files_exist_for_the_pack_tests() -> None:
    for env in ENVIRONMENTS:
        assert stack_path(env).is_file()
