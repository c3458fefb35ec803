"""The gateway builders: CRD validity, route → backend → Service per tier, keys, limits.

Besides the schemas, the tests replay what Envoy does with the rendered policies: which
authorization rule a request meets first (401/403), and which rate-limit rules select it
(429), for every tenant and tier of the real stacks and of generated ones.
"""

from __future__ import annotations

import random
import re
from typing import Any

import pytest

from tests.support import ROOT, assert_schema_valid, small_raw, stack_config
from tgi_infra import naming
from tgi_infra.config.loader import parse_platform
from tgi_infra.config.models import PlatformConfig, TenantConfig, TierConfig
from tgi_infra.manifests import gateway as gw
from tgi_infra.validation import SchemaUnavailable, crd_directory, validate_custom_resource

K8s = dict[str, Any]


# --------------------------------------------------------------------------- fixtures


def generated_platform(
    n_tiers: int, n_tenants: int, seed: int, tier_rpm: int | None
) -> PlatformConfig:
    """A platform with many tiers and tenants, each tenant on a random subset of tiers."""
    rng = random.Random(seed)
    tiers = [
        {
            "name": f"t{i}",
            "modelId": f"org/model-{i}",
            "servedModelName": f"model-{i}",
            "nodePool": "l40s",
            "maxInputTokens": 2048,
            "maxTotalTokens": 4096,
        }
        for i in range(n_tiers)
    ]
    tenants = [
        {
            "name": f"team-{j}",
            "tiers": sorted(rng.sample([t["name"] for t in tiers], rng.randint(1, n_tiers))),
            "requestsPerMinute": rng.randint(1, 5000),
            "tokensPerMinute": rng.randint(10_000, 5_000_000),
        }
        for j in range(n_tenants)
    ]
    gateway = {"hostname": f"llm{seed}.corp.internal"}
    if tier_rpm:
        gateway["tierRequestsPerMinute"] = tier_rpm
    return parse_platform(small_raw(tiers=tiers, tenants=tenants, gateway=gateway))


GENERATED = [
    pytest.param((1, 1, 1, None), id="1-tier-1-tenant"),
    pytest.param((3, 5, 2, 600), id="3-tiers-5-tenants-tier-limit"),
    pytest.param((17, 9, 3, 1000), id="17-tiers-two-openai-routes"),
    pytest.param((6, 40, 4, None), id="6-tiers-40-tenants"),
]


@pytest.fixture(params=["dev", "staging", "prod", *GENERATED])
def platform(request: pytest.FixtureRequest) -> PlatformConfig:
    if isinstance(request.param, str):
        return stack_config(request.param)
    return generated_platform(*request.param)


def by_kind(objs: list[K8s], kind: str) -> dict[str, K8s]:
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == kind}


# --------------------------------------------------------------------------- schemas


def schema_failures(objs: list[K8s]) -> tuple[list[str], list[str]]:
    """(errors, kinds without a CRD in the folder)."""
    errors: list[str] = []
    missing: list[str] = []
    for obj in objs:
        try:
            errors += validate_custom_resource(obj)
        except SchemaUnavailable:
            missing.append(obj["kind"])
    return errors, sorted(set(missing))


def assert_backend_shape(obj: K8s) -> None:
    """Envoy Gateway's Backend schema (gateway.envoyproxy.io_backends.yaml), by hand."""
    assert set(obj["spec"]) == {"endpoints"}
    (endpoint,) = obj["spec"]["endpoints"]
    assert set(endpoint) == {"fqdn"}
    assert set(endpoint["fqdn"]) == {"hostname", "port"}
    assert 0 < endpoint["fqdn"]["port"] <= 65535
    assert len(endpoint["fqdn"]["hostname"]) <= 253


def test_every_gateway_object_validates_against_its_crd(platform: PlatformConfig) -> None:
    if crd_directory() is None:
        pytest.skip("no ../shared/crds beside the checkout: CRD schemas unavailable")
    objs = gw.build_gateway_objects(platform)
    errors, missing = schema_failures(objs)
    assert not errors, "\n".join(errors)
    # The Envoy Gateway Backend CRD is the one gateway kind not vendored in shared/crds.
    assert set(missing) <= {"Backend"}
    for backend in by_kind(objs, "Backend").values():
        assert_backend_shape(backend)


def test_backend_validates_when_its_crd_is_vendored() -> None:
    directory = crd_directory()
    if directory is None or not (directory / "gateway.envoyproxy.io_backends.yaml").exists():
        pytest.skip("gateway.envoyproxy.io_backends.yaml is not in ../shared/crds")
    cfg = stack_config("prod")
    for tier in cfg.tiers:
        assert validate_custom_resource(gw.backend(cfg, tier)) == []


def test_validation_would_catch_a_misspelt_field() -> None:
    if crd_directory() is None:
        pytest.skip("no ../shared/crds beside the checkout: CRD schemas unavailable")
    policy = gw.openai_security_policy(stack_config("prod"))
    policy["spec"]["apiKeyAuth"]["forwardClientIdHeader"] = "x-tenant-id"
    assert any("forwardClientIdHeader" in e for e in validate_custom_resource(policy))
    route = gw.openai_routes(stack_config("prod"))[0]
    route["spec"]["rules"][0]["matches"][0]["headers"][0]["type"] = "Prefix"
    assert validate_custom_resource(route)


def test_crd_cel_rules_hold(platform: PlatformConfig) -> None:
    """The x-kubernetes-validations (CEL) the JSON schema check cannot run, by hand."""
    objs = gw.build_gateway_objects(platform)
    policy_kinds = {"Gateway", "ListenerSet", "HTTPRoute", "GRPCRoute", "TCPRoute"}
    for obj in objs:
        spec = obj["spec"]
        for ref in spec.get("targetRefs", []):
            assert ref["group"] == gw.GATEWAY_API and ref["kind"] in policy_kinds
        if obj["kind"] == "AIServiceBackend":
            ref = spec["backendRef"]
            assert ref["kind"] == "Backend" and ref["group"] == gw.ENVOY_GATEWAY
        if obj["kind"] == "AIGatewayRoute":
            assert all(p["kind"] == "Gateway" for p in spec["parentRefs"])
            names = [r["name"] for r in spec["rules"]]
            assert len(names) == len(set(names))
        if obj["kind"] == "HTTPRoute":
            assert sum(len(r["matches"]) for r in spec["rules"]) < 128
            for rule in spec["rules"]:
                types = [f["type"] for f in rule["filters"]]
                assert not {"RequestRedirect", "URLRewrite"} <= set(types)
                assert len(types) == len(set(types))
                path = rule["filters"][0]["urlRewrite"]["path"]
                assert path["type"] == "ReplacePrefixMatch" and "replacePrefixMatch" in path
        if obj["kind"] == "Gateway":
            for listener in spec["listeners"]:
                assert listener["protocol"] == "HTTPS"
                assert listener["tls"]["mode"] == "Terminate"
                assert listener["tls"]["certificateRefs"]
        if obj["kind"] == "SecurityPolicy":
            for rule in spec["authorization"].get("rules", []):
                if "principal" in rule:
                    assert rule["principal"].get("headers")
                if "operation" in rule:
                    assert {"methods", "path"} & set(rule["operation"])
        if obj["kind"] == "BackendTrafficPolicy":
            for rule in spec["rateLimit"]["global"]["rules"]:
                for selector in rule["clientSelectors"]:
                    assert {"headers", "path"} & set(selector)
                for side in rule.get("cost", {}).values():
                    assert not ("number" in side and "metadata" in side)


# --------------------------------------------------------------------------- routing


def openai_rule_for(objs: list[K8s], model: str) -> tuple[str, K8s]:
    found = [
        (route["metadata"]["name"], rule)
        for route in by_kind(objs, "AIGatewayRoute").values()
        for rule in route["spec"]["rules"]
        for match in rule["matches"]
        for header in match["headers"]
        if header["name"] == gw.MODEL_HEADER and header["value"] == model
    ]
    assert len(found) == 1, f"{model}: {len(found)} AIGatewayRoute rules"
    return found[0]


def test_route_backend_service_chain_per_tier(platform: PlatformConfig) -> None:
    objs = gw.build_gateway_objects(platform)
    namespace = platform.cluster.namespace
    ai_backends = by_kind(objs, "AIServiceBackend")
    backends = by_kind(objs, "Backend")
    fallbacks = by_kind(objs, "HTTPRoute")
    for tier in platform.tiers:
        service = naming.service_name(tier.name)
        _, rule = openai_rule_for(objs, tier.model_name)
        (ref,) = rule["backendRefs"]
        ai_backend = ai_backends[ref["name"]]
        assert ai_backend["spec"]["schema"] == {"name": "OpenAI", "prefix": "/v1"}
        backend = backends[ai_backend["spec"]["backendRef"]["name"]]
        (endpoint,) = backend["spec"]["endpoints"]
        assert endpoint["fqdn"] == {
            "hostname": f"{service}.{namespace}.svc.cluster.local",
            "port": naming.SERVICE_PORT,
        }
        fallback = fallbacks[naming.fallback_route_name(tier.name)]
        for fb_rule in fallback["spec"]["rules"]:
            assert fb_rule["backendRefs"] == [
                {"group": "", "kind": "Service", "name": service, "port": naming.SERVICE_PORT}
            ]


def test_routes_attach_to_the_gateway_listener(platform: PlatformConfig) -> None:
    objs = gw.build_gateway_objects(platform)
    (gateway,) = by_kind(objs, "Gateway").values()
    (listener,) = gateway["spec"]["listeners"]
    assert listener["hostname"] == platform.gateway.hostname
    assert listener["port"] == 443
    assert listener["tls"]["certificateRefs"][0]["name"] == platform.gateway.tls_secret_name
    assert gateway["spec"]["gatewayClassName"] == platform.gateway.gateway_class_name
    routes = [*by_kind(objs, "AIGatewayRoute").values(), *by_kind(objs, "HTTPRoute").values()]
    for route in routes:
        assert route["spec"]["parentRefs"] == [
            {
                "group": gw.GATEWAY_API,
                "kind": "Gateway",
                "name": gateway["metadata"]["name"],
                "sectionName": listener["name"],
            }
        ]
        assert route["spec"]["hostnames"] == [platform.gateway.hostname]
        assert route["metadata"]["namespace"] == gateway["metadata"]["namespace"]


def test_openai_routes_split_at_fifteen_rules() -> None:
    cfg = generated_platform(17, 2, 3, None)
    routes = gw.openai_routes(cfg)
    assert [r["metadata"]["name"] for r in routes] == ["tgi-openai", "tgi-openai-1"]
    assert [len(r["spec"]["rules"]) for r in routes] == [15, 2]
    for route in routes:
        assert route["spec"]["llmRequestCosts"] == [
            {"metadataKey": gw.TOTAL_TOKENS_KEY, "type": "TotalToken"}
        ]


def test_fallback_exposes_tgi_api_but_not_metrics() -> None:
    cfg = stack_config("prod")
    route = gw.fallback_route(cfg, cfg.tier("chat"))
    rewrites = {
        r["matches"][0]["path"]["value"]: r["filters"][0]["urlRewrite"]["path"][
            "replacePrefixMatch"
        ]
        for r in route["spec"]["rules"]
    }
    assert rewrites["/tiers/chat/generate"] == "/generate"
    assert rewrites["/tiers/chat/v1/chat/completions"] == "/v1/chat/completions"
    assert not any("metrics" in p for p in rewrites)
    assert all(r["timeouts"] == {"request": gw.REQUEST_TIMEOUT} for r in route["spec"]["rules"])


def test_cert_manager_issuer_annotates_the_gateway() -> None:
    raw = small_raw(gateway={"hostname": "llm.corp.internal", "clusterIssuer": "letsencrypt"})
    meta = gw.gateway(parse_platform(raw))["metadata"]
    assert meta["annotations"] == {"cert-manager.io/cluster-issuer": "letsencrypt"}
    assert "annotations" not in gw.gateway(stack_config("prod"))["metadata"]


def test_disabled_gateway_renders_nothing() -> None:
    cfg = parse_platform(small_raw(gateway={"enabled": False}))
    assert gw.build_gateway_objects(cfg) == []


# --------------------------------------------------------------------------- auth


def authorize(policy: K8s, headers: dict[str, str], method: str, path: str) -> str:
    """Envoy Gateway's authorization: the first matching rule's action, else the default."""
    auth = policy["spec"]["authorization"]
    for rule in auth.get("rules", []):
        principal = rule.get("principal", {})
        if not all(headers.get(h["name"]) in h["values"] for h in principal.get("headers", [])):
            continue
        operation = rule.get("operation", {})
        if "methods" in operation and method not in operation["methods"]:
            continue
        match = operation.get("path")
        if match and not (
            path == match["value"] if match["type"] == "Exact" else path.startswith(match["value"])
        ):
            continue
        return str(rule["action"])
    return str(auth.get("defaultAction", "Deny"))


def test_each_tenant_key_maps_to_its_tenant(platform: PlatformConfig) -> None:
    objs = gw.build_gateway_objects(platform)
    secrets = [naming.tenant_key_secret_name(t.name) for t in platform.tenants]
    for policy in by_kind(objs, "SecurityPolicy").values():
        auth = policy["spec"]["apiKeyAuth"]
        assert [r["name"] for r in auth["credentialRefs"]] == secrets
        assert auth["forwardClientIDHeader"] == gw.TENANT_HEADER
        assert auth["extractFrom"] == [{"headers": ["authorization", "x-api-key"]}]
        assert auth["sanitize"] is True
    for tenant in platform.tenants:
        secret = gw.tenant_key_secret(platform, tenant)
        assert secret["metadata"]["name"] == naming.tenant_key_secret_name(tenant.name)
        assert secret["metadata"]["labels"][naming.TENANT_LABEL] == tenant.name
        assert "data" not in secret and "stringData" not in secret


def assert_reaches_only_its_tiers(
    cfg: PlatformConfig, policies: dict[str, K8s], tenant: TenantConfig
) -> None:
    """The tenant lists the models, and is allowed exactly its tiers: by model on /v1, by
    path on the fallback."""
    openai = policies[naming.openai_route_name()]
    for tier in cfg.tiers:
        expected = "Allow" if tier.name in tenant.tiers else "Deny"
        headers = {gw.TENANT_HEADER: tenant.name, gw.MODEL_HEADER: tier.model_name}
        assert authorize(openai, headers, "POST", "/v1/chat/completions") == expected
        fallback = policies[naming.fallback_route_name(tier.name)]
        path = f"{naming.fallback_path_prefix(tier.name)}/generate"
        assert authorize(fallback, {gw.TENANT_HEADER: tenant.name}, "POST", path) == expected
    assert authorize(openai, {gw.TENANT_HEADER: tenant.name}, "GET", "/v1/models") == "Allow"


def test_tenants_reach_only_their_tiers(platform: PlatformConfig) -> None:
    """403 unless the tier is the tenant's: by model on /v1, by path on the fallback."""
    objs = gw.build_gateway_objects(platform)
    policies = by_kind(objs, "SecurityPolicy")
    openai = policies[naming.openai_route_name()]
    for tenant in platform.tenants:
        assert_reaches_only_its_tiers(platform, policies, tenant)
    assert (
        authorize(
            openai, {gw.MODEL_HEADER: platform.tiers[0].model_name}, "POST", "/v1/chat/completions"
        )
        == "Deny"
    )


def test_policies_target_the_routes_that_exist(platform: PlatformConfig) -> None:
    objs = gw.build_gateway_objects(platform)
    http_routes = set(by_kind(objs, "AIGatewayRoute")) | set(by_kind(objs, "HTTPRoute"))
    targeted: list[str] = []
    for policy in by_kind(objs, "SecurityPolicy").values():
        targeted += [r["name"] for r in policy["spec"]["targetRefs"]]
    assert sorted(targeted) == sorted(http_routes)  # each route by exactly one
    for limits in by_kind(objs, "BackendTrafficPolicy").values():
        assert sorted(r["name"] for r in limits["spec"]["targetRefs"]) == sorted(http_routes)


def test_no_tenants_means_every_request_is_refused() -> None:
    cfg = parse_platform(small_raw(tenants=[]))
    objs = gw.build_gateway_objects(cfg)
    for policy in by_kind(objs, "SecurityPolicy").values():
        assert policy["spec"]["apiKeyAuth"]["credentialRefs"] == []
        assert policy["spec"]["authorization"] == {"defaultAction": "Deny"}
    assert by_kind(objs, "BackendTrafficPolicy") == {}


# --------------------------------------------------------------------------- limits


def selected_rules(policy: K8s, headers: dict[str, str], path: str) -> list[K8s]:
    """The global rate-limit rules whose every client selector holds for the request."""

    def header_holds(h: K8s) -> bool:
        value = headers.get(h["name"])
        if h["type"] == "Distinct":
            return value is not None
        if h["type"] == "RegularExpression":
            return value is not None and re.fullmatch(h["value"], value) is not None
        return value == h["value"]

    def holds(selector: K8s) -> bool:
        if not all(header_holds(h) for h in selector.get("headers", [])):
            return False
        match = selector.get("path")
        return not match or path.startswith(match["value"])

    return [
        r
        for r in policy["spec"]["rateLimit"]["global"]["rules"]
        if all(holds(s) for s in r["clientSelectors"])
    ]


def test_limit_rules_per_tenant(platform: PlatformConfig) -> None:
    (limits,) = by_kind(gw.build_gateway_objects(platform), "BackendTrafficPolicy").values()
    tier_rpm = platform.gateway.tier_requests_per_minute
    for tenant in platform.tenants:
        for tier in (platform.tier(n) for n in tenant.tiers):
            headers = {gw.TENANT_HEADER: tenant.name, gw.MODEL_HEADER: tier.model_name}
            rules = selected_rules(limits, headers, "/v1/chat/completions")
            assert all(r["shared"] for r in rules)
            assert all(r["limit"]["unit"] == "Minute" for r in rules)
            counted = [r for r in rules if "cost" not in r]
            tokens = [r for r in rules if "cost" in r]
            expected = [tenant.requests_per_minute] + ([tier_rpm] if tier_rpm else [])
            assert sorted(r["limit"]["requests"] for r in counted) == sorted(expected)
            (token_rule,) = tokens
            assert token_rule["limit"]["requests"] == tenant.tokens_per_minute
            assert token_rule["cost"] == gw.TOKEN_COST == {
                "request": {"from": "Number", "number": 0},
                "response": {
                    "from": "Metadata",
                    "metadata": {"namespace": "io.envoy.ai_gateway", "key": gw.TOTAL_TOKENS_KEY},
                },
            }
            fallback = selected_rules(
                limits,
                {gw.TENANT_HEADER: tenant.name},
                f"{naming.fallback_path_prefix(tier.name)}/generate",
            )
            assert sorted(r["limit"]["requests"] for r in fallback) == sorted(
                [tenant.requests_per_minute, tenant.tokens_per_minute]
                + ([tier_rpm] if tier_rpm else [])
            )


def test_tenants_with_equal_limits_share_a_rule_with_their_own_buckets() -> None:
    raw = small_raw()
    raw["tenants"] = [
        {"name": f"team-{i:03d}", "tiers": ["chat"], "requestsPerMinute": 60 * (1 + i % 2),
         "tokensPerMinute": 20_000}
        for i in range(500)
    ]
    cfg = parse_platform(raw)
    rules = gw.tenant_limit_rules(list(cfg.tenants))
    counted = [r for r in rules if "cost" not in r]
    assert [r["limit"]["requests"] for r in counted] == [60, 60, 60, 120, 120, 120]
    tokens = [r for r in rules if "cost" in r]
    assert len(tokens) == 5  # 500 names split so each expression fits 1024 characters
    for rule in rules:
        distinct, expression = rule["clientSelectors"][0]["headers"]
        assert distinct == {"name": gw.TENANT_HEADER, "type": "Distinct"}
        assert len(expression["value"]) <= gw.HEADER_VALUE_MAX
    policy = {"spec": {"rateLimit": {"global": {"rules": rules}}}}
    for name, rpm in (("team-000", 60), ("team-001", 120), ("team-499", 120)):
        chosen = selected_rules(policy, {gw.TENANT_HEADER: name}, "/v1/chat/completions")
        assert sorted(r["limit"]["requests"] for r in chosen) == [rpm, 20_000]
    assert selected_rules(policy, {gw.TENANT_HEADER: "team-0001"}, "/v1/models") == []
    (limits,) = by_kind(gw.build_gateway_objects(cfg), "BackendTrafficPolicy").values()
    assert_schema_valid([limits])


def test_tier_limit_selects_one_tier_only() -> None:
    cfg = stack_config("prod")
    chat, large = cfg.tier("chat"), cfg.tier("large")
    rules = gw.tier_limit_rules(chat, 6000)
    policy = {"spec": {"rateLimit": {"global": {"rules": rules}}}}
    assert len(selected_rules(policy, {gw.MODEL_HEADER: chat.model_name}, "/v1/completions")) == 1
    assert selected_rules(policy, {gw.MODEL_HEADER: large.model_name}, "/v1/completions") == []
    assert len(selected_rules(policy, {}, "/tiers/chat/generate")) == 1
    assert selected_rules(policy, {}, "/tiers/large/generate") == []


def test_token_cost_key_is_the_one_the_route_records(platform: PlatformConfig) -> None:
    objs = gw.build_gateway_objects(platform)
    recorded = {
        c["metadataKey"]
        for r in by_kind(objs, "AIGatewayRoute").values()
        for c in r["spec"]["llmRequestCosts"]
    }
    for limits in by_kind(objs, "BackendTrafficPolicy").values():
        for rule in limits["spec"]["rateLimit"]["global"]["rules"]:
            if "cost" in rule:
                assert rule["cost"]["response"]["metadata"]["key"] in recorded


def test_model_names_are_routed_exactly_once(platform: PlatformConfig) -> None:
    objs = gw.build_gateway_objects(platform)
    for tier in platform.tiers:
        route, rule = openai_rule_for(objs, tier.model_name)
        assert rule["name"] == tier.name
        assert route in gw.openai_route_names(platform)


def tier_of(cfg: PlatformConfig, name: str) -> TierConfig:
    return next(t for t in cfg.tiers if t.name == name)


def test_unknown_tier_in_a_tenant_is_skipped_not_routed() -> None:
    raw = small_raw()
    raw["tenants"][0]["tiers"] = ["chat", "nope"]
    cfg = parse_platform(raw)
    openai = gw.openai_security_policy(cfg)
    tenant_rule = next(
        r for r in openai["spec"]["authorization"]["rules"] if r["name"] == "tenant-team-a"
    )
    models = tenant_rule["principal"]["headers"][1]["values"]
    assert models == [tier_of(cfg, "chat").model_name]


def test_docs_python_examples_compile() -> None:
    text = (ROOT / "docs" / "gateway.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks
    for block in blocks:
        compile(block, "docs/gateway.md", "exec")
    for check in ("tenant-tier-exists", "tier-overcommit", "tenant-key-unknown"):
        assert check in text


# --------------------------------------------------------------------------- scale


def many_tenants_platform(n_tiers: int, n_tenants: int, wide: int) -> PlatformConfig:
    """`n_tenants` tenants on two tiers each (round robin), then `wide` tenants on every
    tier: more tenants per list, and more models per tenant, than one header match holds."""
    names = [f"t{i}" for i in range(n_tiers)]
    tiers = [
        {
            "name": n,
            "modelId": f"org/model-{i}",
            "servedModelName": f"model-{i}",
            "nodePool": "l40s",
            "maxInputTokens": 2048,
            "maxTotalTokens": 4096,
        }
        for i, n in enumerate(names)
    ]
    tenants = [
        {
            "name": f"team-{j}",
            "tiers": sorted({names[j % n_tiers], names[(j + 1) % n_tiers]}),
            "requestsPerMinute": 60,
            "tokensPerMinute": 20_000,
        }
        for j in range(n_tenants)
    ] + [
        {"name": f"wide-{j}", "tiers": names, "requestsPerMinute": 60, "tokensPerMinute": 20_000}
        for j in range(wide)
    ]
    return parse_platform(small_raw(tiers=tiers, tenants=tenants))


@pytest.mark.parametrize(
    ("n_tiers", "n_tenants", "wide"),
    [
        pytest.param(2, 3 * gw.MAX_HEADER_VALUES + 1, 0, id="tenants-beyond-one-match"),
        pytest.param(gw.MAX_HEADER_VALUES + 4, 3, 2, id="models-beyond-one-match"),
    ],
)
def test_more_tenants_or_models_than_a_header_match_holds(
    n_tiers: int, n_tenants: int, wide: int
) -> None:
    """Every list stays within the SecurityPolicy CRD's maxItems (split across rules), the
    objects validate, and the replayed decisions are the same per tenant and tier."""
    cfg = many_tenants_platform(n_tiers, n_tenants, wide)
    objs = gw.build_gateway_objects(cfg)
    policies = by_kind(objs, "SecurityPolicy")
    longest = max(
        len(h["values"])
        for p in policies.values()
        for r in p["spec"]["authorization"].get("rules", [])
        for h in r["principal"]["headers"]
    )
    assert longest == gw.MAX_HEADER_VALUES  # some list was split at the limit exactly
    for policy in policies.values():
        rules = [r["name"] for r in policy["spec"]["authorization"]["rules"]]
        assert len(rules) == len(set(rules)), policy["metadata"]["name"]
    if crd_directory() is not None:
        errors, _ = schema_failures(list(policies.values()))
        assert not errors, "\n".join(errors[:5])
    openai = policies[naming.openai_route_name()]
    # Both sides of every chunk boundary, and the last tenant, replayed against every tier.
    edges = {0, len(cfg.tenants) - 1}
    for k in range(gw.MAX_HEADER_VALUES, len(cfg.tenants), gw.MAX_HEADER_VALUES):
        edges |= {k - 1, k}
    for i in sorted(edges):
        assert_reaches_only_its_tiers(cfg, policies, cfg.tenants[i])
    stranger = {gw.TENANT_HEADER: "nobody", gw.MODEL_HEADER: cfg.tiers[-1].model_name}
    assert authorize(openai, stranger, "POST", "/v1/chat/completions") == "Deny"
