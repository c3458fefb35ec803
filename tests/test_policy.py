"""The pack's policies as pure functions, on the builders' real output and on mutations of it."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from google.protobuf import json_format, struct_pb2
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from tests.support import assert_schema_valid, small_raw
from tgi_infra import naming
from tgi_infra.config.loader import parse_platform
from tgi_infra.config.models import PlatformConfig
from tgi_infra.engines import get_engine
from tgi_infra.manifests import cache, serving
from tgi_infra.manifests.autoscaling import build_autoscaling_objects
from tgi_infra.manifests.gateway import build_gateway_objects, tenant_key_secret
from tgi_infra.manifests.observability import build_observability_objects
from tgi_infra.manifests.platform import tier_context
from tgi_infra.policy import rules, stack_rules
from tgi_infra.policy.catalog import BY_NAME, ENVIRONMENTS, POLICIES, rule_for
from tgi_infra.policy.k8s import PlanObject, parse_image, plan_objects, type_token
from tgi_infra.policy.pack import PackSettings, build_policies, settings_from_env
from tgi_infra.policy_pack import PACK_DIR

GIB = 2**30
K8s = dict[str, Any]
SHA = "0e9e39f249a16976918f6564b8830bc894c89659"

TGI_REPO = get_engine("tgi").image_repository


def platform(**tier_changes: Any) -> PlatformConfig:
    """A prod platform: a sharded chat tier (2 replicas max) and one tenant."""
    raw = small_raw(environment="prod")
    raw["nodePools"][0]["instanceTypes"] = ["g6e.12xlarge"]
    raw["tiers"][0].update({"numShard": 2, **tier_changes})
    return parse_platform(raw)


def objects(cfg: PlatformConfig | None = None) -> list[K8s]:
    """What the platform renders: tiers, download Jobs, gateway, monitors, autoscalers."""
    cfg = cfg or platform()
    out: list[K8s] = [serving.namespace(cfg)]
    for tier in cfg.tiers:
        out += serving.tier_objects(tier_context(cfg, tier, 16 * GIB))
        out.append(
            cache.download_job(
                tier, cfg.cluster.namespace, 16 * GIB, cfg.cache, naming.hf_token_secret_name()
            )
        )
    out += build_gateway_objects(cfg)
    out += [tenant_key_secret(cfg, t) for t in cfg.tenants]
    out += build_observability_objects(cfg)
    out += build_autoscaling_objects(cfg)
    return out


def first(objs: list[K8s], kind: str) -> K8s:
    return next(o for o in objs if o["kind"] == kind)


def server(objs: list[K8s]) -> K8s:
    return first(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]


def set_env(container: K8s, name: str, value: str | None) -> None:
    env = [e for e in container["env"] if e["name"] != name]
    if value is not None:
        env.append({"name": name, "value": value})
    container["env"] = env


def run(name: str, objs: list[K8s], config: dict[str, Any] | None = None) -> list[str]:
    """Messages of one policy over every object (resource) or the whole set (stack)."""
    spec = BY_NAME[name]
    cfg = {**spec.defaults(), **(config or {})}
    rule = rule_for(spec)
    if spec.scope == "resource":
        return [m for o in objs for m in rule(type_token(o), o, cfg)]
    return [m for m, _ in rule(plan_objects(objs), cfg)]


def mutated(change: Callable[[list[K8s]], None]) -> list[K8s]:
    objs = copy.deepcopy(objects())
    change(objs)
    return objs


@pytest.fixture(scope="module")
def good() -> list[K8s]:
    return objects()


def test_rendered_platform_passes_every_policy(good: list[K8s]) -> None:
    assert {o["kind"] for o in good} >= {
        "Deployment",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "AIGatewayRoute",
        "HTTPRoute",
        "SecurityPolicy",
        "BackendTrafficPolicy",
        "ServiceMonitor",
        "HorizontalPodAutoscaler",
        "Job",
    }
    for spec in POLICIES:
        assert run(spec.name, good) == [], spec.name


def test_the_objects_policies_are_tested_on_are_schema_valid(good: list[K8s]) -> None:
    # Envoy Gateway's `Backend` CRD is not vendored in ../shared/crds.
    assert_schema_valid([o for o in good if o["kind"] != "Backend"])


# ------------------------------------------------------------------ resource policies


def test_token_limits() -> None:
    [message] = run("tgi-token-limits", objects(platform(maxTotalTokens=65536)))
    # The message names the object, the value, the cap, the stack path and the fix.
    assert message.startswith("Deployment tgi/tgi-chat-")
    assert "(tiers[chat]) container tgi: MAX_TOTAL_TOKENS=65536 is above" in message
    assert "cap of 32768. Fix: lower tiers[chat].maxTotalTokens to 32768 or less" in message
    unset = mutated(lambda o: set_env(server(o), "MAX_TOTAL_TOKENS", None))
    assert "MAX_TOTAL_TOKENS is not set" in run("tgi-token-limits", unset)[0]
    inverted = mutated(lambda o: set_env(server(o), "MAX_INPUT_TOKENS", "8192"))
    assert "must be below MAX_TOTAL_TOKENS=8192" in run("tgi-token-limits", inverted)[0]
    # Launcher args win over env, as clap reads them.
    by_args = mutated(lambda o: server(o).update(args=["--max-total-tokens=100000"]))
    assert "MAX_TOTAL_TOKENS=100000" in run("tgi-token-limits", by_args)[0]
    # The caps come from the pack config.
    assert run("tgi-token-limits", objects(), {"maxTotalTokens": 4096})
    assert (
        run("tgi-token-limits", objects(platform(maxTotalTokens=65536)), {"maxTotalTokens": 65536})
        == []
    )


def test_token_limits_ignore_the_download_job(good: list[K8s]) -> None:
    job = first(good, "Job")
    assert job["spec"]["template"]["spec"]["containers"][0]["image"].startswith(TGI_REPO)
    assert run("tgi-token-limits", [job]) == []


@pytest.mark.parametrize(
    ("image", "ok"),
    [
        ("ghcr.io/huggingface/text-generation-inference:3.3.6", True),
        ("ghcr.io/huggingface/text-generation-inference:latest", False),
        ("ghcr.io/huggingface/text-generation-inference", False),
        ("ghcr.io/huggingface/text-generation-inference@sha256:" + "a" * 64, True),
        ("localhost:5000/text-generation-inference", False),
        ("localhost:5000/text-generation-inference:3.3.6", True),
    ],
)
def test_image_pinned(image: str, ok: bool) -> None:
    objs = mutated(lambda o: server(o).update(image=image))
    assert (run("tgi-image-pinned", objs) == []) is ok


def test_parse_image() -> None:
    ref = parse_image("registry:5000/org/tgi:3.3.6@sha256:abc")
    assert (ref.repository, ref.tag, ref.digest) == ("registry:5000/org/tgi", "3.3.6", "sha256:abc")


def test_revision_pinned() -> None:
    assert run("tgi-revision-pinned", objects()) == []
    moving = mutated(lambda o: set_env(server(o), "REVISION", "main"))
    [message] = run("tgi-revision-pinned", moving)
    assert "REVISION='main'" in message and "tiers[chat].revision" in message
    missing = mutated(lambda o: set_env(server(o), "REVISION", None))
    assert "REVISION='main'" in run("tgi-revision-pinned", missing)[0]


def test_hf_token_only_from_secret_key_ref() -> None:
    token = "hf_" + "A1b2C3d4" * 5
    literal = mutated(lambda o: set_env(server(o), "HF_TOKEN", token))
    [message] = run("hf-token-secret-ref", literal)
    assert "env HF_TOKEN is a literal" in message
    assert token not in message  # never echo the secret
    configmap_ref = mutated(
        lambda o: server(o)["env"].append(
            {
                "name": "HUGGING_FACE_HUB_TOKEN",
                "valueFrom": {"configMapKeyRef": {"name": "x", "key": "t"}},
            }
        )
    )
    assert "not read from a Secret" in run("hf-token-secret-ref", configmap_ref)[0]
    in_other_env = mutated(lambda o: set_env(server(o), "EXTRA", f"token={token}"))
    assert "env EXTRA holds what looks like" in run("hf-token-secret-ref", in_other_env)[0]
    in_args = mutated(lambda o: server(o).update(args=["--hf-token", token]))
    assert "command line" in run("hf-token-secret-ref", in_args)[0]
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "tgi"},
        "data": {"t": token},
    }
    assert token not in run("hf-token-secret-ref", [config_map])[0]


def test_gpu_limit_matches_shards() -> None:
    def limit(value: str | None) -> Callable[[list[K8s]], None]:
        def change(objs: list[K8s]) -> None:
            res = server(objs)["resources"]
            for part in ("limits", "requests"):
                res[part].pop(naming.GPU_RESOURCE)
                if value is not None:
                    res[part][naming.GPU_RESOURCE] = value

        return change

    assert "limit 1 ≠ NUM_SHARD=2" in run("tgi-gpu-limit-matches-shards", mutated(limit("1")))[0]
    assert "fails to start" in run("tgi-gpu-limit-matches-shards", mutated(limit("1")))[0]
    assert "idle" in run("tgi-gpu-limit-matches-shards", mutated(limit("4")))[0]
    assert "no nvidia.com/gpu limit" in run("tgi-gpu-limit-matches-shards", mutated(limit(None)))[0]
    # Without NUM_SHARD, TGI shards over every visible GPU: consistent by construction.
    unset = mutated(lambda o: set_env(server(o), "NUM_SHARD", None))
    assert run("tgi-gpu-limit-matches-shards", unset) == []


def test_shm_for_shards() -> None:
    def drop_shm(objs: list[K8s]) -> None:
        spec = first(objs, "Deployment")["spec"]["template"]["spec"]
        spec["volumes"] = [v for v in spec["volumes"] if v["name"] != "shm"]

    def on_disk(objs: list[K8s]) -> None:
        spec = first(objs, "Deployment")["spec"]["template"]["spec"]
        next(v for v in spec["volumes"] if v["name"] == "shm")["emptyDir"].pop("medium")

    assert "2 shards but no in-memory /dev/shm" in run("tgi-shm-for-shards", mutated(drop_shm))[0]
    assert run("tgi-shm-for-shards", mutated(on_disk))
    assert run("tgi-shm-for-shards", objects(platform(numShard=1))) == []


def test_startup_probe() -> None:
    objs = mutated(lambda o: server(o).pop("startupProbe"))
    assert "no startupProbe" in run("tgi-startup-probe", objs)[0]


def test_gpu_taint_toleration() -> None:
    def tolerations(value: list[K8s]) -> list[K8s]:
        return mutated(
            lambda o: first(o, "Deployment")["spec"]["template"]["spec"].update(tolerations=value)
        )

    assert "does not tolerate" in run("gpu-taint-toleration", tolerations([]))[0]
    assert run("gpu-taint-toleration", tolerations([{"operator": "Exists"}])) == []
    other = [{"key": "other", "operator": "Exists", "effect": "NoSchedule"}]
    assert run("gpu-taint-toleration", tolerations(other))
    equal = [{"key": naming.GPU_TAINT_KEY, "operator": "Equal", "value": "true"}]
    assert run("gpu-taint-toleration", tolerations(equal)) == []


def test_trust_remote_code_needs_a_pinned_revision() -> None:
    def remote(revision: str, *, as_arg: bool = False) -> list[K8s]:
        def change(objs: list[K8s]) -> None:
            set_env(server(objs), "REVISION", revision)
            if as_arg:
                server(objs)["args"] = ["--trust-remote-code"]
            else:
                set_env(server(objs), "TRUST_REMOTE_CODE", "true")

        return mutated(change)

    assert run("tgi-trust-remote-code-pinned", remote(SHA)) == []
    assert "REVISION='main'" in run("tgi-trust-remote-code-pinned", remote("main"))[0]
    assert run("tgi-trust-remote-code-pinned", remote("main", as_arg=True))
    assert run("tgi-trust-remote-code-pinned", objects()) == []


@pytest.mark.parametrize(
    ("tag", "ok"),
    [
        ("3.3.6", True),
        ("1.4.0", True),
        ("v2.4.1-rocm", True),
        ("1.3.4", False),
        ("sha-abc1234", False),
        ("latest", False),
    ],
)
def test_messages_api_version(tag: str, ok: bool) -> None:
    objs = mutated(lambda o: server(o).update(image=f"{TGI_REPO}:{tag}"))
    assert (run("tgi-messages-api", objs) == []) is ok


def test_messages_api_minimum_is_configurable() -> None:
    old = mutated(lambda o: server(o).update(image=f"{TGI_REPO}:2.4.1"))
    assert run("tgi-messages-api", old) == []
    assert "TGI 2.4.1 predates" in run("tgi-messages-api", old, {"minimumVersion": "3.0"})[0]


def test_no_load_balancer_besides_the_gateway(good: list[K8s]) -> None:
    svc = copy.deepcopy(first(good, "Service"))
    svc["spec"]["type"] = "LoadBalancer"
    [message] = run("no-loadbalancer-services", [svc])
    assert "Service tgi/tgi-chat (tiers[chat]): type LoadBalancer" in message
    assert run("no-loadbalancer-services", [svc], {"allowedServices": ["tgi/tgi-chat"]}) == []
    svc["metadata"]["labels"]["gateway.envoyproxy.io/owning-gateway-name"] = "tgi-gateway"
    assert run("no-loadbalancer-services", [svc]) == []


def test_rules_read_the_policy_sdk_proxies_and_stop_on_unknowns(good: list[K8s]) -> None:
    """Inside the pack, inputs arrive as a gRPC Struct (numbers become floats) wrapped in
    pulumi_policy's read-only proxies; an unknown value raises the SDK's error."""

    def as_pack_sees(obj: K8s) -> Any:
        struct = struct_pb2.Struct()
        struct.update(obj)
        return unknown_checking_proxy(deserialize_properties(json_format.MessageToDict(struct)))

    deployment = copy.deepcopy(first(good, "Deployment"))
    for spec in POLICIES:
        if spec.scope == "resource":
            assert (
                rule_for(spec)(type_token(deployment), as_pack_sees(deployment), spec.defaults())
                == []
            )
    set_env(deployment["spec"]["template"]["spec"]["containers"][0], "REVISION", "main")
    proxied = as_pack_sees(deployment)
    assert rules.check_revision_pinned(type_token(deployment), proxied, {})
    unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # the SDK's unknown-string sentinel
    set_env(deployment["spec"]["template"]["spec"]["containers"][0], "REVISION", unknown)
    with pytest.raises(UnknownValueError):
        rules.check_revision_pinned(type_token(deployment), as_pack_sees(deployment), {})
    objs = [PlanObject("urn", type_token(o), "n", as_pack_sees(o)) for o in good]
    for spec in POLICIES:
        if spec.scope == "stack":
            assert rule_for(spec)(objs, spec.defaults()) == [], spec.name


# ------------------------------------------------------------------ stack policies


def without(*kinds: str) -> list[K8s]:
    return [o for o in objects() if o["kind"] not in kinds]


def test_disruption_budget() -> None:
    [message] = run("tier-disruption-budget", without("PodDisruptionBudget"))
    assert message.startswith("Deployment/tgi/tgi-chat-")
    assert "(tiers[chat]) runs up to 2 replicas" in message
    single = objects(platform(replicas={"min": 1, "max": 1}))
    no_pdb = [o for o in single if o["kind"] != "PodDisruptionBudget"]
    assert run("tier-disruption-budget", no_pdb) == []


def test_disruption_budget_counts_the_autoscaler_maximum() -> None:
    def one_replica_scaled_to_five(objs: list[K8s]) -> None:
        first(objs, "Deployment")["spec"]["replicas"] = 1
        first(objs, "HorizontalPodAutoscaler")["spec"]["maxReplicas"] = 5
        objs.remove(first(objs, "PodDisruptionBudget"))

    assert (
        "runs up to 5 replicas"
        in run("tier-disruption-budget", mutated(one_replica_scaled_to_five))[0]
    )


def test_network_policy() -> None:
    assert "no NetworkPolicy with Ingress" in run("tgi-network-policy", without("NetworkPolicy"))[0]

    def egress_only(objs: list[K8s]) -> None:
        first(objs, "NetworkPolicy")["spec"]["policyTypes"] = ["Egress"]

    assert run("tgi-network-policy", mutated(egress_only))

    def other_tier(objs: list[K8s]) -> None:
        first(objs, "NetworkPolicy")["spec"]["podSelector"] = {
            "matchLabels": naming.tier_selector("other")
        }

    assert run("tgi-network-policy", mutated(other_tier))


def test_route_auth() -> None:
    messages = run("gateway-route-auth", without("SecurityPolicy"))
    assert len(messages) == 2  # the OpenAI route and the tier's fallback route
    assert any(m.startswith("AIGatewayRoute/tgi/tgi-openai:") for m in messages)

    def cors_only(objs: list[K8s]) -> None:
        for o in objs:
            if o["kind"] == "SecurityPolicy":
                o["spec"].pop("apiKeyAuth")
                o["spec"]["cors"] = {"allowOrigins": ["*"]}

    assert len(run("gateway-route-auth", mutated(cors_only))) == 2

    def on_the_gateway(objs: list[K8s]) -> None:
        for o in objs:
            if o["kind"] == "SecurityPolicy":
                o["spec"]["targetRefs"] = [
                    {
                        "group": "gateway.networking.k8s.io",
                        "kind": "Gateway",
                        "name": naming.gateway_name(),
                    }
                ]

    assert run("gateway-route-auth", mutated(on_the_gateway)) == []

    def by_selector(objs: list[K8s]) -> None:
        for o in objs:
            if o["kind"] == "SecurityPolicy":
                o["spec"].pop("targetRefs")
                o["spec"]["targetSelectors"] = [
                    {"kind": "HTTPRoute", "matchLabels": {"app.kubernetes.io/component": "gateway"}}
                ]

    assert run("gateway-route-auth", mutated(by_selector)) == []

    def elsewhere(objs: list[K8s]) -> None:
        for o in objs:
            if o["kind"] == "SecurityPolicy":
                o["metadata"]["namespace"] = "other"

    assert len(run("gateway-route-auth", mutated(elsewhere))) == 2


def test_route_rate_limit() -> None:
    assert len(run("gateway-route-rate-limit", without("BackendTrafficPolicy"))) == 2

    def no_rules(objs: list[K8s]) -> None:
        first(objs, "BackendTrafficPolicy")["spec"]["rateLimit"] = {"global": {"rules": []}}

    assert len(run("gateway-route-rate-limit", mutated(no_rules))) == 2
    no_tenants = parse_platform({**small_raw(environment="prod"), "tenants": []})
    assert not any(o["kind"] == "BackendTrafficPolicy" for o in objects(no_tenants))
    assert run("gateway-route-rate-limit", objects(no_tenants))


def test_every_tenant_has_its_own_rate_limit() -> None:
    def forget_tenant(objs: list[K8s]) -> None:
        limits = first(objs, "BackendTrafficPolicy")["spec"]["rateLimit"]["global"]
        limits["rules"] = [
            r for r in limits["rules"] if not stack_rules.selects_tenant(r, "x-tenant-id", "team-a")
        ] + [
            {
                "clientSelectors": [{"headers": [{"name": "x-ai-eg-model", "value": "m"}]}],
                "limit": {"requests": 600, "unit": "Minute"},
            }
        ]  # a tier's limit stays

    [message] = run("gateway-route-rate-limit", mutated(forget_tenant))
    assert message.startswith("tenants[team-a]: no rate-limit rule selects this tenant")
    assert "AIGatewayRoute/tgi/tgi-openai" in message


@pytest.mark.parametrize(
    ("headers", "selected"),
    [
        ([{"name": "x-tenant-id", "type": "Exact", "value": "a"}], True),
        ([{"name": "x-tenant-id", "value": "b"}], False),
        ([{"name": "x-tenant-id", "type": "Distinct"}], True),
        (
            [
                {"name": "x-tenant-id", "type": "Distinct"},
                {"name": "x-tenant-id", "type": "RegularExpression", "value": "^(a|c)$"},
            ],
            True,
        ),
        (
            [
                {"name": "x-tenant-id", "type": "Distinct"},
                {"name": "x-tenant-id", "type": "RegularExpression", "value": "^(b|c)$"},
            ],
            False,
        ),
        ([{"name": "x-other", "type": "Distinct"}], False),
    ],
)
def test_selects_tenant(headers: list[K8s], selected: bool) -> None:
    rule = {"clientSelectors": [{"headers": headers}], "limit": {"requests": 1, "unit": "Minute"}}
    assert stack_rules.selects_tenant(rule, "x-tenant-id", "a") is selected


def test_gateway_policies_pass_vacuously_without_routes() -> None:
    bare = without("AIGatewayRoute", "HTTPRoute", "SecurityPolicy", "BackendTrafficPolicy")
    for name in ("gateway-route-auth", "gateway-route-rate-limit", "tier-service-routed"):
        assert run(name, bare) == [], name


def test_service_routed() -> None:
    def unrouted(objs: list[K8s]) -> None:
        for o in list(objs):
            if o["kind"] == "HTTPRoute":
                objs.remove(o)
            if o["kind"] == "AIGatewayRoute":
                o["spec"]["rules"][0]["backendRefs"] = [{"name": "elsewhere"}]

    [message] = run("tier-service-routed", mutated(unrouted))
    assert message.startswith("Service/tgi/tgi-chat (tiers[chat]): no gateway route")

    def fallback_only(objs: list[K8s]) -> None:
        for o in list(objs):
            if o["kind"] == "AIGatewayRoute":
                objs.remove(o)

    assert run("tier-service-routed", mutated(fallback_only)) == []

    def backend_elsewhere(objs: list[K8s]) -> None:
        for o in list(objs):
            if o["kind"] == "HTTPRoute":
                objs.remove(o)
            if o["kind"] == "Backend":
                o["spec"]["endpoints"][0]["fqdn"]["hostname"] = "tgi-chat.other.svc.cluster.local"

    assert run("tier-service-routed", mutated(backend_elsewhere))


def test_deployment_monitored() -> None:
    def second_tier_unmonitored(objs: list[K8s]) -> None:
        extra = copy.deepcopy(first(objs, "Deployment"))
        extra["metadata"]["name"] = "tgi-other-00000000"
        labels = extra["spec"]["template"]["metadata"]["labels"]
        labels[naming.TIER_LABEL] = extra["metadata"]["labels"][naming.TIER_LABEL] = "other"
        objs.append(extra)

    [message] = run("tgi-deployment-monitored", mutated(second_tier_unmonitored))
    assert message.startswith("Deployment/tgi/tgi-other-00000000 (tiers[other]): no ")
    # No monitors and no scrape annotations at all: the stack has no Prometheus Operator.
    assert run("tgi-deployment-monitored", without("ServiceMonitor", "PodMonitor")) == []
    pod_mode = parse_platform(
        {**small_raw(environment="prod"), "observability": {"scrapeMode": "podmonitor"}}
    )
    assert any(o["kind"] == "PodMonitor" for o in objects(pod_mode))
    assert run("tgi-deployment-monitored", objects(pod_mode)) == []
    annotations = parse_platform(
        {**small_raw(environment="prod"), "observability": {"scrapeMode": "annotations"}}
    )
    assert run("tgi-deployment-monitored", objects(annotations)) == []

    def service_elsewhere(objs: list[K8s]) -> None:
        first(objs, "ServiceMonitor")["spec"]["namespaceSelector"] = {"matchNames": ["other"]}

    assert run("tgi-deployment-monitored", mutated(service_elsewhere))


# ------------------------------------------------------------------ catalog and pack


def test_catalog_is_complete_and_consistent() -> None:
    names = [p.name for p in POLICIES]
    assert len(names) == len(set(names)) == len(rules.RESOURCE_RULES) + len(stack_rules.STACK_RULES)
    for spec in POLICIES:
        assert set(spec.levels) == set(ENVIRONMENTS)
        assert re.fullmatch(r"[a-z0-9-]+", spec.name)
        assert spec.description.endswith(".") and spec.rationale
        for key, schema in spec.config_schema.items():
            assert "default" in schema, key
    for name in (
        "gateway-route-auth",
        "gateway-route-rate-limit",
        "tier-service-routed",
        "tgi-deployment-monitored",
    ):
        assert "vacuously" in BY_NAME[name].description


def test_readme_documents_every_policy() -> None:
    readme = (PACK_DIR / "README.md").read_text()
    headings = re.findall(r"^### `([a-z0-9-]+)`", readme, flags=re.M)
    assert headings == [p.name for p in POLICIES]
    for spec in POLICIES:
        section = readme.split(f"### `{spec.name}`", 1)[1].split("\n### ", 1)[0]
        assert spec.description in section and spec.rationale in section
        levels = "/".join(spec.level(e) for e in ENVIRONMENTS)
        assert levels in section, f"{spec.name}: README should say {levels}"
        for key in spec.config_schema:
            assert f"`{key}`" in section


def test_pack_config_files_name_real_policies_and_properties() -> None:
    for path in sorted((PACK_DIR / "config").glob("*.json")):
        assert path.stem in ENVIRONMENTS
        for name, entry in json.loads(path.read_text()).items():
            if name == "all":
                continue
            assert name in BY_NAME, f"{path.name}: {name}"
            props = set(entry) - {"enforcementLevel"} if isinstance(entry, dict) else set()
            assert props <= set(BY_NAME[name].config_schema), f"{path.name}: {props}"


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        (
            {
                "PULUMI_CONFIG": json.dumps(
                    {"tgi-infra:platform": json.dumps({"environment": "staging"})}
                ),
                "PULUMI_STACK": "prod",
            },
            PackSettings("staging", "stack config"),
        ),
        (
            {"PULUMI_CONFIG": json.dumps({"tgi-infra:platform": {"environment": "dev"}})},
            PackSettings("dev", "stack config"),
        ),
        (
            {"TGI_INFRA_ENVIRONMENT": "dev", "PULUMI_STACK": "prod"},
            PackSettings("dev", "TGI_INFRA_ENVIRONMENT"),
        ),
        ({"PULUMI_STACK": "acme/staging"}, PackSettings("staging", "stack name")),
        ({"PULUMI_STACK": "my-sandbox", "PULUMI_CONFIG": "not json"}, PackSettings()),
    ],
)
def test_settings_from_the_engine_environment(
    environ: dict[str, str], expected: PackSettings
) -> None:
    assert settings_from_env(environ) == expected


def test_build_policies_sets_levels_per_environment() -> None:
    dev = {p.name: p for p in build_policies(PackSettings("dev"))}
    prod = {p.name: p for p in build_policies(PackSettings("prod"))}
    assert list(dev) == [p.name for p in POLICIES]
    assert dev["tgi-revision-pinned"].enforcement_level == EnforcementLevel.ADVISORY
    assert prod["tgi-revision-pinned"].enforcement_level == EnforcementLevel.MANDATORY
    assert dev["hf-token-secret-ref"].enforcement_level == EnforcementLevel.MANDATORY
    assert isinstance(prod["tgi-token-limits"], ResourceValidationPolicy)
    assert isinstance(prod["tier-service-routed"], StackValidationPolicy)
    schema = prod["tgi-token-limits"].config_schema
    assert schema is not None and schema.properties["maxTotalTokens"]["default"] == 32768


def test_pack_entry_point_only_serves() -> None:
    main = (PACK_DIR / "__main__.py").read_text()
    # Only `--path` prints (the folder); serving prints nothing but the engine's port.
    _, serving = main.split("\nelse:\n")
    assert "serve()" in serving and "print(" not in serving
    assert (PACK_DIR / "PulumiPolicy.yaml").is_file()


def _drop_arg(container: K8s, flag: str) -> None:
    args = container["args"]
    i = args.index(flag)
    del args[i : i + 2]


def _set_arg(container: K8s, flag: str, value: str) -> None:
    args = container["args"]
    args[args.index(flag) + 1] = value


@pytest.mark.parametrize(
    ("engine", "total", "shards", "revision"),
    [
        ("vllm", "--max-model-len", "--tensor-parallel-size", "--revision"),
        ("sglang", "--context-length", "--tp-size", "--revision"),
    ],
)
def test_tgi_rules_have_vllm_and_sglang_counterparts(
    engine: str, total: str, shards: str, revision: str
) -> None:
    cfg = platform(engine=engine)
    good = objects(cfg)
    for name in ("tgi-token-limits", "tgi-revision-pinned", "tgi-gpu-limit-matches-shards",
                 "tgi-shm-for-shards", "tgi-startup-probe", "tgi-trust-remote-code-pinned"):
        assert run(name, good) == [], name  # fmt: skip

    def change(fn: Callable[[K8s], None]) -> list[K8s]:
        objs = copy.deepcopy(good)
        fn(server(objs))
        return objs

    [msg] = run("tgi-token-limits", change(lambda c: _drop_arg(c, total)))
    assert f"{total} is not set" in msg and "tiers[chat].maxTotalTokens" in msg
    [msg] = run("tgi-token-limits", change(lambda c: _set_arg(c, total, "65536")))
    assert f"{total}=65536 is above" in msg
    [msg] = run("tgi-revision-pinned", change(lambda c: _set_arg(c, revision, "main")))
    assert "--revision='main' is not a commit" in msg
    [msg] = run("tgi-gpu-limit-matches-shards", change(lambda c: _set_arg(c, shards, "4")))
    assert f"{shards}=4" in msg
    [msg] = run("tgi-startup-probe", change(lambda c: c.pop("startupProbe")))
    assert "no startupProbe" in msg
    remote = change(lambda c: (c["args"].append("--trust-remote-code"),
                               _set_arg(c, revision, "main")))  # fmt: skip
    [msg] = run("tgi-trust-remote-code-pinned", remote)
    assert "--trust-remote-code runs Python" in msg

    def no_shm(objs: list[K8s]) -> None:
        pod = first(objs, "Deployment")["spec"]["template"]["spec"]
        pod["containers"][0]["volumeMounts"] = [
            m for m in pod["containers"][0]["volumeMounts"] if m["mountPath"] != "/dev/shm"
        ]

    objs = copy.deepcopy(good)
    no_shm(objs)
    assert "no in-memory /dev/shm" in run("tgi-shm-for-shards", objs)[0]
    # The download Job runs the engine's image with `python3 -c`: not a server.
    assert run("tgi-token-limits", [first(good, "Job")]) == []
