"""`TenantGateway` under Pulumi's mocks: what it registers, and that keys stay secret."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

from tests.support import stack_config
from tgi_infra import naming
from tgi_infra.component_args import TenantGatewayArgs
from tgi_infra.components.gateway import TenantGateway
from tgi_infra.manifests.gateway import build_gateway_objects
from tgi_infra.offline.mocks import PlanMocks, RecordedResource
from tgi_infra.offline.plan import SECRET_SIG, RecordingMonitor, normalize
from tgi_infra.problems import ConfigInvalid
from tgi_infra.program import supplied_tenant_keys

SECRET_VALUE_SIG = "1b47061264138c4ac30d75fd1eb44270"
PASSWORD = "random:index/randomPassword:RandomPassword"
SECRET = "kubernetes:core/v1:Secret"


@pytest.fixture
def mocks() -> PlanMocks:
    mocks = PlanMocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, preview=False, monitor=monitor)
    mocks.monitor = monitor  # type: ignore[attr-defined]
    return mocks


def done(gateway: TenantGateway, *first: pulumi.Output[Any]) -> pulumi.Output[list[Any]]:
    """`first`, resolved once every object of the component is registered."""
    return pulumi.Output.all(*first, *[o.urn for o in gateway.objects.values()])


def of_type(mocks: PlanMocks, typ: str) -> list[RecordedResource]:
    return [r for r in mocks.resources if r.type == typ]


def is_secret_value(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_SIG) == SECRET_VALUE_SIG


def strip_secrets(value: Any) -> Any:
    """The inputs with every secret-wrapped value removed: what a plan may show."""
    if is_secret_value(value):
        return "[secret]"
    if isinstance(value, dict):
        return {k: strip_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [strip_secrets(v) for v in value]
    return value


@pulumi.runtime.test
def test_registers_every_builder_object_under_the_component(mocks: PlanMocks) -> None:
    cfg = stack_config("prod")
    gateway = TenantGateway("gateway", TenantGatewayArgs(cfg, {}, platform="tgi"))

    def check(args: list[Any]) -> None:
        assert args[0] == "https://llm.example.com/v1"
        (component,) = [
            r
            for r in mocks.monitor.registrations  # type: ignore[attr-defined]
            if r[1] == "tgi-infra:gateway:TenantGateway"
        ]
        parents = {r[2]: r[3] for r in mocks.monitor.registrations}  # type: ignore[attr-defined]
        expected = build_gateway_objects(cfg)
        custom = [
            r for r in mocks.resources if r.type.startswith("kubernetes:") and r.type != SECRET
        ]
        assert sorted((r.inputs["kind"], r.inputs["metadata"]["name"]) for r in custom) == sorted(
            (o["kind"], o["metadata"]["name"]) for o in expected
        )
        for recorded in custom:
            obj = next(
                o
                for o in expected
                if o["kind"] == recorded.inputs["kind"]
                and o["metadata"]["name"] == recorded.inputs["metadata"]["name"]
            )
            assert normalize(recorded.inputs["spec"]) == obj["spec"]
            assert parents[recorded.name] == component[0]
        for password in of_type(mocks, PASSWORD):
            assert parents[password.name] == component[0]

    return done(gateway, gateway.endpoint).apply(check)


@pulumi.runtime.test
def test_one_generated_key_and_secret_per_tenant(mocks: PlanMocks) -> None:
    cfg = stack_config("prod")
    gateway = TenantGateway("gateway", TenantGatewayArgs(cfg, {}, platform="tgi"))

    def check(args: list[Any]) -> None:
        keys = args[0]
        tenants = [t.name for t in cfg.tenants]
        assert sorted(keys) == sorted(tenants)
        passwords = {r.name: r.inputs for r in of_type(mocks, PASSWORD)}
        assert sorted(passwords) == sorted(f"gateway-{t}-key" for t in tenants)
        for inputs in passwords.values():
            assert inputs["length"] == 48 and inputs["special"] is False
            assert inputs["keepers"] == {"keyVersion": "1"}
        secrets = {r.inputs["metadata"]["name"]: r.inputs for r in of_type(mocks, SECRET)}
        assert sorted(secrets) == sorted(naming.tenant_key_secret_name(t) for t in tenants)
        for name in tenants:
            data = secrets[naming.tenant_key_secret_name(name)]["stringData"]
            assert is_secret_value(data), "stringData must be a Pulumi secret"
            assert data["value"] == {name: keys[name]}
            assert len(keys[name]) == 48
        assert len(set(keys.values())) == len(keys)

    return done(gateway, gateway.tenant_keys).apply(check)


@pulumi.runtime.test
def test_keys_never_appear_in_plaintext(mocks: PlanMocks) -> None:
    cfg = stack_config("prod")
    gateway = TenantGateway(
        "gateway", TenantGatewayArgs(cfg, {"analytics": "supplied-key-123456"}, platform="tgi")
    )

    def check(args: list[Any]) -> None:
        keys, is_secret = args[:2]
        assert is_secret, "the tenantKeys output must be a secret"
        assert keys["analytics"] == "supplied-key-123456"
        for recorded in mocks.resources:
            shown = json.dumps(strip_secrets(recorded.inputs))
            for key in keys.values():
                assert key not in shown, f"{recorded.type} {recorded.name} shows a key"

    is_secret = pulumi.Output.from_input(gateway.tenant_keys.is_secret())
    return done(gateway, gateway.tenant_keys, is_secret).apply(check)


@pulumi.runtime.test
def test_supplied_key_replaces_generation(mocks: PlanMocks) -> None:
    cfg = stack_config("prod")
    gateway = TenantGateway("gateway", TenantGatewayArgs(cfg, {"search": "k" * 40}, platform="tgi"))

    def check(args: list[Any]) -> None:
        keys = args[0]
        names = {r.name for r in of_type(mocks, PASSWORD)}
        assert "gateway-search-key" not in names
        assert "gateway-analytics-key" in names
        assert keys["search"] == "k" * 40

    return done(gateway, gateway.tenant_keys).apply(check)


@pulumi.runtime.test
def test_key_version_rotates_through_keepers(mocks: PlanMocks) -> None:
    cfg = stack_config("prod")
    tenants = [
        t.model_copy(update={"key_version": 3}) if t.name == "search" else t for t in cfg.tenants
    ]
    gateway = TenantGateway(
        "gateway", TenantGatewayArgs(cfg.model_copy(update={"tenants": tenants}), platform="tgi")
    )

    def check(_: Any) -> None:
        keepers = {r.name: r.inputs["keepers"] for r in of_type(mocks, PASSWORD)}
        assert keepers["gateway-search-key"] == {"keyVersion": "3"}
        assert keepers["gateway-analytics-key"] == {"keyVersion": "1"}

    return done(gateway, gateway.tenant_keys).apply(check)


def test_unknown_supplied_key_is_refused(mocks: PlanMocks) -> None:
    with pytest.raises(ConfigInvalid) as exc:
        TenantGatewayArgs(stack_config("prod"), {"serach": "x"})
    assert exc.value.problems[0].path == "tenantKeys.serach"


@pulumi.runtime.test
def test_disabled_gateway_registers_nothing(mocks: PlanMocks) -> None:
    cfg = stack_config("prod")
    off = cfg.model_copy(update={"gateway": cfg.gateway.model_copy(update={"enabled": False})})
    gateway = TenantGateway("gateway", TenantGatewayArgs(off, {}, platform="tgi"))

    def check(args: list[Any]) -> None:
        assert args[0] == {}
        assert gateway.objects == {}
        assert [r.type for r in mocks.resources if not r.type.startswith("tgi-infra:")] == []

    return done(gateway, gateway.tenant_keys, gateway.urn).apply(check)


def test_supplied_keys_are_read_from_secret_config() -> None:
    pulumi.runtime.set_all_config(
        {"tgi-infra:tenantKeys": json.dumps({"search": "from-config"})}, ["tgi-infra:tenantKeys"]
    )
    try:
        keys = supplied_tenant_keys()
    finally:
        pulumi.runtime.set_all_config({}, [])
    assert list(keys) == ["search"]
    assert isinstance(keys["search"], pulumi.Output)


@pulumi.runtime.test
def test_policies_wait_for_the_key_secrets_they_reference_and_only_those(
    mocks: PlanMocks,
) -> None:
    """Every SecurityPolicy waits (directly or through another policy) for each key Secret
    its credentialRefs name, and has no edge to any other: edges grow with tenants plus
    tiers, not tiers x tenants."""
    cfg = stack_config("prod")
    gateway = TenantGateway("gateway", TenantGatewayArgs(cfg, {}, platform="tgi"))

    def check(_: Any) -> None:
        regs = mocks.monitor.registrations  # type: ignore[attr-defined]
        deps = {urn: set(d) for urn, *_, d, _aliases, _retain in regs}
        by_urn = {r.urn: r for r in mocks.resources}
        secret_urns = {r.inputs["metadata"]["name"]: r.urn for r in of_type(mocks, SECRET)}

        def closure(urn: str) -> set[str]:
            seen, todo = set(), [urn]
            while todo:
                for d in deps.get(todo.pop(), ()):
                    if d not in seen:
                        seen.add(d)
                        todo.append(d)
            return seen

        policies = [r for r in mocks.resources if r.type.endswith(":SecurityPolicy")]
        assert len(policies) == len(cfg.tiers) + 1
        direct = 0
        for policy in policies:
            refs = {r["name"] for r in policy.inputs["spec"]["apiKeyAuth"]["credentialRefs"]}
            assert refs, policy.name
            waited = {
                by_urn[u].inputs["metadata"]["name"]
                for u in closure(policy.urn)
                if by_urn.get(u) is not None and by_urn[u].type == SECRET
            }
            assert waited == refs, policy.name
            assert {secret_urns[n] for n in refs} <= closure(policy.urn)
            direct += len(deps[policy.urn])
        assert direct == len(cfg.tenants) + len(cfg.tiers)

    return done(gateway, gateway.urn).apply(check)
