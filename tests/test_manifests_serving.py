"""The TGI tier builders: env, GPUs, probes, security, blue/green names, schemas."""

from __future__ import annotations

from typing import Any

from tests.support import assert_schema_valid, small_platform
from tgi_infra import naming
from tgi_infra.config.models import TierConfig
from tgi_infra.manifests import serving
from tgi_infra.manifests.serving import TierContext

GIB = 2**30


def context(tier: TierConfig | None = None, **changes: Any) -> TierContext:
    cfg = small_platform()
    tier = tier or cfg.tiers[0]
    base: dict[str, Any] = {
        "tier": tier,
        "namespace": "tgi",
        "pool": cfg.node_pools[0],
        "weight_bytes": 16 * GIB,
        "cache_claim": naming.cache_name(tier),
        "node_selector": {naming.POOL_LABEL: "l40s"},
        "tolerations": (
            {"key": naming.GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"},
        ),
    }
    base.update(changes)
    return TierContext(**base)


def container(ctx: TierContext) -> dict[str, Any]:
    return serving.deployment(ctx)["spec"]["template"]["spec"]["containers"][0]


def env_of(ctx: TierContext) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(ctx)["env"]}


def test_every_tgi_knob_is_an_env_var() -> None:
    tier = small_platform(
        numShard=2,
        quantize="awq",
        kvCacheDtype="fp8_e4m3fn",
        maxBatchPrefillTokens=8192,
        cudaMemoryFraction=0.9,
    ).tiers[0]
    env = env_of(context(tier))
    assert env["MODEL_ID"] == "meta-llama/Llama-3.1-8B-Instruct"
    assert env["REVISION"] == "0e9e39f249a16976918f6564b8830bc894c89659"
    assert env["NUM_SHARD"] == "2"
    assert env["QUANTIZE"] == "awq"
    assert env["KV_CACHE_DTYPE"] == "fp8_e4m3fn"
    assert env["MAX_INPUT_TOKENS"] == "4096"
    assert env["MAX_TOTAL_TOKENS"] == "8192"
    assert env["MAX_BATCH_PREFILL_TOKENS"] == "8192"
    assert env["CUDA_MEMORY_FRACTION"] == "0.9"
    assert env["HOSTNAME"] == "0.0.0.0"
    assert env["PORT"] == str(naming.TGI_PORT)
    assert env["USAGE_STATS"] == "off"
    assert env["HF_HUB_OFFLINE"] == "1"
    assert "DTYPE" not in env  # unset knobs are left to TGI


def test_hf_token_only_by_secret_key_ref() -> None:
    env = env_of(context())
    assert env["HF_TOKEN"] == {
        "secretKeyRef": {"name": naming.hf_token_secret_name(), "key": "token"}
    }
    assert "HF_TOKEN" not in env_of(context(hf_token_secret=None))


def test_gpu_limit_equals_shards_and_shm_only_when_sharded() -> None:
    one = context()
    two = context(small_platform(numShard=2).tiers[0])
    for ctx, shards in ((one, 1), (two, 2)):
        res = container(ctx)["resources"]
        assert res["limits"][naming.GPU_RESOURCE] == str(shards)
        assert res["requests"][naming.GPU_RESOURCE] == str(shards)
    mounts = {m["mountPath"] for m in container(two)["volumeMounts"]}
    assert "/dev/shm" in mounts
    assert "/dev/shm" not in {m["mountPath"] for m in container(one)["volumeMounts"]}
    shm = next(
        v
        for v in serving.deployment(two)["spec"]["template"]["spec"]["volumes"]
        if v["name"] == "shm"
    )
    assert shm["emptyDir"]["medium"] == "Memory"


def test_probes_budget_grows_with_weights_and_liveness_waits_for_startup() -> None:
    small = container(context(weight_bytes=6 * GIB))
    large = container(context(weight_bytes=140 * GIB))
    assert small["startupProbe"]["httpGet"]["path"] == "/health"
    assert large["startupProbe"]["failureThreshold"] > small["startupProbe"]["failureThreshold"]
    budget = large["startupProbe"]["failureThreshold"] * large["startupProbe"]["periodSeconds"]
    assert budget >= 600  # 140 GiB at 250 MiB/s is ~9.5 minutes before warmup
    assert small["readinessProbe"]["httpGet"]["path"] == "/health"
    live = small["livenessProbe"]
    assert live["failureThreshold"] * live["periodSeconds"] >= 120


def test_pod_security_and_grace_period() -> None:
    spec = serving.deployment(context())["spec"]["template"]["spec"]
    sec = spec["containers"][0]["securityContext"]
    assert sec["allowPrivilegeEscalation"] is False
    assert sec["capabilities"] == {"drop": ["ALL"]}
    assert sec["seccompProfile"] == {"type": "RuntimeDefault"}
    # The official image runs as root: no runAsNonRoot unless the tier names a UID.
    assert "runAsNonRoot" not in sec and "runAsUser" not in spec["securityContext"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["serviceAccountName"] == "tgi-chat"
    assert spec["terminationGracePeriodSeconds"] > serving.TGI_GRACEFUL_SHUTDOWN_SECONDS
    sa = serving.service_account(context())
    assert sa["automountServiceAccountToken"] is False


def test_run_as_user_makes_pods_non_root_and_the_namespace_restricted() -> None:
    cfg = small_platform(runAsUser=10001)
    deployment = serving.deployment(context(cfg.tiers[0]))
    spec = deployment["spec"]["template"]["spec"]
    assert spec["securityContext"]["runAsUser"] == 10001
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["containers"][0]["securityContext"]["runAsNonRoot"] is True
    skips = " ".join(deployment["metadata"]["annotations"].values())
    assert "CKV_K8S_23" not in skips
    labels = serving.namespace(cfg)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    root = serving.namespace(small_platform())["metadata"]["labels"]
    assert root["pod-security.kubernetes.io/enforce"] == "baseline"


def test_pulumi_waits_as_long_as_the_rollout_may_take() -> None:
    small = serving.deployment(context(weight_bytes=6 * GIB))
    large = serving.deployment(context(weight_bytes=140 * GIB))
    timeout = int(large["metadata"]["annotations"][serving.PULUMI_TIMEOUT])
    assert timeout > large["spec"]["progressDeadlineSeconds"] > 600
    assert timeout > int(small["metadata"]["annotations"][serving.PULUMI_TIMEOUT])


def test_scheduling_goes_to_the_pool_and_tolerates_the_gpu_taint() -> None:
    spec = serving.deployment(context())["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == {naming.POOL_LABEL: "l40s"}
    assert spec["tolerations"][0]["key"] == naming.GPU_TAINT_KEY


def test_rolling_update_never_drops_capacity() -> None:
    strategy = serving.deployment(context())["spec"]["strategy"]
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0


def test_model_swap_is_blue_green_by_name_and_selector() -> None:
    blue = small_platform().tiers[0]
    green = small_platform(revision="1" * 40).tiers[0]
    retuned = small_platform(maxTotalTokens=6000).tiers[0]
    b, g = serving.deployment(context(blue)), serving.deployment(context(green))
    assert b["metadata"]["name"] != g["metadata"]["name"]
    assert b["metadata"]["name"].startswith("tgi-chat-")
    # Same logical resource: Pulumi shows a replacement (create-before-delete).
    assert (
        b["metadata"]["annotations"][serving.LOGICAL_NAME]
        == g["metadata"]["annotations"][serving.LOGICAL_NAME]
    )
    sb, sg = serving.service(context(blue)), serving.service(context(green))
    assert sb["metadata"]["name"] == sg["metadata"]["name"] == "tgi-chat"
    assert sb["spec"]["selector"] != sg["spec"]["selector"]
    assert sg["spec"]["selector"] == g["spec"]["selector"]["matchLabels"]
    # Tuning a knob is a rolling update of the same Deployment, not a swap.
    assert serving.deployment(context(retuned))["metadata"]["name"] == b["metadata"]["name"]


def test_service_routes_port_80_to_the_tgi_port() -> None:
    port = serving.service(context())["spec"]["ports"][0]
    assert port["port"] == naming.SERVICE_PORT
    assert port["targetPort"] == naming.TGI_PORT_NAME
    assert serving.service(context())["spec"]["type"] == "ClusterIP"


def test_pdb_only_for_multi_replica_tiers() -> None:
    single = small_platform(replicas={"min": 1, "max": 1}).tiers[0]
    assert serving.disruption_budget(context(single)) is None
    pdb = serving.disruption_budget(context())
    assert pdb is not None
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == naming.tier_selector("chat")


def test_network_policy_admits_only_gateway_and_monitoring() -> None:
    policy = serving.network_policy(context())["spec"]
    sources = {
        f["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for f in policy["ingress"][0]["from"]
    }
    assert sources == {"envoy-gateway-system", "monitoring"}
    assert policy["ingress"][0]["ports"] == [{"protocol": "TCP", "port": naming.TGI_PORT}]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    assert len(policy["egress"]) == 1  # DNS only
    otlp = context(extra_env=({"name": "OTLP_ENDPOINT", "value": "http://otel:4317"},))
    assert serving.network_policy(otlp)["spec"]["egress"][1]["ports"][0]["port"] == 4317


def test_tier_objects_validate_strict() -> None:
    objs = serving.tier_objects(context(small_platform(numShard=2).tiers[0]))
    assert [o["kind"] for o in objs] == [
        "ServiceAccount",
        "Deployment",
        "Service",
        "NetworkPolicy",
        "PodDisruptionBudget",
    ]
    assert_schema_valid(objs)
    assert_schema_valid([serving.namespace(small_platform())])
