"""Engine plug-ins: every rendered flag, env var and enum value exists in the engine's source.

The flag tables (`tgi_infra/engines/<engine>/cli.json`, `engines/hub_env.json`) were read
from the engines' sources at the pinned versions by `tools/extract_engine_cli.py`; each
says where it came from.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.support import STACKS, small_platform, stack_config
from tgi_infra import naming
from tgi_infra.engines import DEFAULT_VERSIONS, ENGINE_NAMES, engine_of, get_engine
from tgi_infra.engines.base import hub_env
from tgi_infra.manifests import serving
from tgi_infra.manifests.platform import tier_context

GIB = 2**30
ENGINES_DIR = Path(__file__).resolve().parents[1] / "tgi_infra" / "engines"
# Set by Kubernetes or the OS, read by every process (not an engine's own setting).
PROCESS_ENV = {"HOME"}
# Read by the OpenTelemetry SDK inside every engine (opentelemetry-sdk environment variables).
OTEL_ENV = {"OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"}


def deployment_of(cfg: Any, tier: Any) -> dict[str, Any]:
    return serving.deployment(tier_context(cfg, tier, 16 * GIB))


def server(deployment: dict[str, Any]) -> dict[str, Any]:
    return deployment["spec"]["template"]["spec"]["containers"][0]


def flags_in(args: list[str]) -> list[str]:
    return [a for a in args if a.startswith("--")]


def assert_container_in_source(tier: Any, container: dict[str, Any]) -> None:
    engine = engine_of(tier)
    cli = engine.cli()
    env_names = {e["name"] for e in container["env"]}
    unknown_env = {n for n in env_names - cli.env - hub_env() - PROCESS_ENV if n not in OTEL_ENV}
    assert not unknown_env, f"{tier.name}: env not in {engine.name}'s source: {unknown_env}"
    args = container.get("args", [])
    for i, token in enumerate(args):
        if not token.startswith("--"):
            continue
        name = token
        spec = cli.flag(name)
        if spec is None and name.startswith("--no-"):
            spec = cli.flag("--" + name[5:])
            assert spec is not None and spec.kind == "bool-optional", name
            continue
        assert spec is not None, f"{tier.name}: {name} is not a {engine.name} flag"
        if spec.kind == "value":
            value = args[i + 1]
            assert not value.startswith("--"), f"{name} needs a value"
            if spec.choices:
                assert value in spec.choices, f"{name} {value} not in {spec.choices}"
            if spec.type == "int":
                int(value)
            if spec.type == "float":
                float(value)
    # TGI takes its settings as env: each value of a launcher enum must be legal too.
    for e in container["env"]:
        flag = next((f for f in cli.flags.values() if f.env == e["name"]), None)
        if flag is not None and flag.choices and "value" in e:
            assert e["value"] in flag.choices, f"{e['name']}={e['value']}"


def test_registry_is_the_subpackages() -> None:
    found = sorted(p.name for p in ENGINES_DIR.iterdir() if (p / "__init__.py").exists())
    assert sorted(ENGINE_NAMES) == found and ENGINE_NAMES[0] == "tgi"
    for name in ENGINE_NAMES:
        assert get_engine(name).name == name
    with pytest.raises(KeyError, match="known: tgi"):
        get_engine("trt-llm")


@pytest.mark.parametrize("name", ENGINE_NAMES)
def test_flag_tables_say_where_they_came_from(name: str) -> None:
    data = json.loads((ENGINES_DIR / name / "cli.json").read_text())
    assert data["version"] == DEFAULT_VERSIONS[name]
    assert DEFAULT_VERSIONS[name] in data["source"]
    assert set(data["enums"]) == {"quantization", "dtype", "kv_cache_dtype"}
    assert len(data["flags"]) > 40 and len(data["env"]) > 20
    assert "huggingface_hub" in json.loads((ENGINES_DIR / "hub_env.json").read_text())["source"]


def test_pinned_images() -> None:
    cfg = small_platform()
    images = {
        name: get_engine(name).image(cfg.tiers[0].model_copy(update={"engine": name}))
        for name in ENGINE_NAMES
    }
    assert images == {
        "tgi": "ghcr.io/huggingface/text-generation-inference:3.3.7",
        "vllm": "vllm/vllm-openai:v0.34.0",
        "sglang": "lmsysorg/sglang:v0.5.23",
    }
    digest = "sha256:" + "a" * 64
    tier = cfg.tiers[0].model_copy(update={"engine": "vllm", "image_version": digest})
    assert get_engine("vllm").image(tier) == f"vllm/vllm-openai@{digest}"


@pytest.mark.parametrize("stack", STACKS)
def test_every_rendered_container_exists_in_its_engine_source(stack: str) -> None:
    cfg = stack_config(stack)
    for tier in cfg.tiers:
        assert_container_in_source(tier, server(deployment_of(cfg, tier)))


FULL = {
    "quantize": None,
    "dtype": None,
    "kvCacheDtype": None,
    "cudaMemoryFraction": 0.85,
    "trustRemoteCode": True,
}
OPTIONS = {
    "tgi": {"quantize": "fp8", "kvCacheDtype": "fp8_e5m2",
            "engineArgs": {"max-waiting-tokens": 10, "disable-grammar-support": True}},
    "vllm": {"quantize": "fp8", "dtype": "bfloat16", "kvCacheDtype": "fp8_e4m3",
             "engineArgs": {"enable-prefix-caching": False, "max-num-active-seqs": 64,
                            "enable-chunked-prefill": True}},
    "sglang": {"quantize": "fp8", "dtype": "bfloat16", "kvCacheDtype": "fp8_e5m2",
               "engineArgs": {"schedule-policy": "lpm", "disable-radix-cache": True,
                              "chunked-prefill-size": 4096}},
}  # fmt: skip


@pytest.mark.parametrize("name", ENGINE_NAMES)
def test_every_option_renders_as_a_flag_of_the_engine(name: str) -> None:
    cfg = small_platform(engine=name, **{**FULL, **OPTIONS[name]})
    tier = cfg.tiers[0]
    from tgi_infra.checks.launcher import check_tier_arguments

    assert [p for p in check_tier_arguments(tier) if p.severity == "error"] == []
    container = server(deployment_of(cfg, tier))
    assert_container_in_source(tier, container)
    rendered = " ".join(container.get("args", [])) + " " + str(container["env"])
    for key in OPTIONS[name]["engineArgs"]:
        spec = get_engine(name).cli().flag(f"--{key}")
        assert (spec.env or spec.name) in rendered or f"--no-{key}" in rendered


def test_vllm_container_starts_with_the_model_and_binds_all_interfaces() -> None:
    cfg = small_platform(engine="vllm", servedModelName="llama")
    c = server(deployment_of(cfg, cfg.tiers[0]))
    assert "command" not in c  # the image's entrypoint is `vllm serve`
    assert c["args"][0] == "meta-llama/Llama-3.1-8B-Instruct"
    args = " ".join(c["args"])
    assert "--host 0.0.0.0" in args and f"--port {naming.TGI_PORT}" in args
    assert "--max-model-len 8192" in args and "--served-model-name llama" in args
    assert "--gpu-memory-utilization" not in args  # unset: vLLM's own default
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert "VLLM_PORT" not in env and env["HF_HUB_OFFLINE"] == "1"


def test_sglang_quirks() -> None:
    cfg = small_platform(engine="sglang", cudaMemoryFraction=0.8)
    c = server(deployment_of(cfg, cfg.tiers[0]))
    assert c["command"] == ["python3", "-m", "sglang.launch_server"]
    args = " ".join(c["args"])
    assert "--host 0.0.0.0" in args and "--enable-metrics" in args
    assert "--mem-fraction-static 0.8" in args and "--context-length 8192" in args
    assert c["readinessProbe"]["httpGet"]["path"] == "/health_generate"
    assert c["livenessProbe"]["httpGet"]["path"] == "/health"


@pytest.mark.parametrize("name", ENGINE_NAMES)
def test_probes_netpol_and_service_use_the_engine_port(name: str) -> None:
    cfg = small_platform(engine=name, replicas={"min": 1, "max": 3})
    ctx = tier_context(cfg, cfg.tiers[0], 16 * GIB)
    objs = {o["kind"]: o for o in serving.tier_objects(ctx)}
    c = server(objs["Deployment"])
    port = get_engine(name).port
    assert c["ports"][0]["containerPort"] == port
    assert c["startupProbe"]["httpGet"]["port"] == c["ports"][0]["name"]
    assert objs["NetworkPolicy"]["spec"]["ingress"][0]["ports"][0]["port"] == port
    assert objs["Service"]["spec"]["ports"][0]["targetPort"] == c["ports"][0]["name"]
    pod_labels = objs["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert pod_labels[naming.ENGINE_LABEL] == name
    for selector in (
        objs["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"],
        objs["NetworkPolicy"]["spec"]["podSelector"]["matchLabels"],
        objs["Service"]["spec"]["selector"],
    ):
        assert selector.items() <= pod_labels.items()


def test_services_never_inject_engine_env() -> None:
    for stack in STACKS:
        cfg = stack_config(stack)
        for tier in cfg.tiers:
            assert naming.service_name(tier.name) not in ("vllm", "sglang")
            spec = deployment_of(cfg, tier)["spec"]["template"]["spec"]
            assert spec["enableServiceLinks"] is False


def test_engine_change_is_a_model_swap_and_tgi_keeps_its_hash() -> None:
    tgi = small_platform().tiers[0]
    # The hash TGI tiers had before engines existed: an upgrade must not swap them.
    assert naming.model_hash(tgi) == "c8500b7f"
    vllm = tgi.model_copy(update={"engine": "vllm"})
    assert naming.deployment_name(vllm) != naming.deployment_name(tgi)
    assert naming.service_name(vllm.name) == naming.service_name(tgi.name)
    assert naming.version_selector(vllm) != naming.version_selector(tgi)
    assert naming.cache_name(vllm) != naming.cache_name(tgi)


# ------------------------------------------------------------------ validation


def problems_of(**tier: Any) -> list[Any]:
    from tgi_infra.checks.launcher import check_tier_arguments

    return check_tier_arguments(small_platform(**tier).tiers[0])


def checks(problems: list[Any]) -> set[str]:
    return {p.check for p in problems if p.severity == "error"}


@pytest.mark.parametrize(
    ("engine", "field", "value", "check"),
    [
        ("tgi", "quantize", "awq_marlin", "tgi-quantize-value"),
        ("vllm", "quantize", "bitsandbytes-nf4", "vllm-quantize-value"),
        ("sglang", "kvCacheDtype", "fp8_e4m3fn", "sglang-kvcachedtype-value"),
        ("tgi", "dtype", "auto", "tgi-dtype-value"),
    ],
)
def test_enums_are_per_engine(engine: str, field: str, value: str, check: str) -> None:
    problems = problems_of(engine=engine, **{field: value})
    assert check in checks(problems)


def test_enum_legal_for_one_engine_passes_there() -> None:
    assert checks(problems_of(engine="vllm", quantize="awq_marlin")) == set()
    assert checks(problems_of(engine="sglang", kvCacheDtype="fp8_e4m3")) == set()


def test_unknown_engine_arg_names_the_closest_flag() -> None:
    (p,) = problems_of(engine="vllm", engineArgs={"enable-prefix-cache": True})
    assert p.check == "engine-args" and "'enable-prefix-caching'" in p.fix
    (p,) = problems_of(engine="sglang", engineArgs={"mem_fraction_static": 0.8})
    assert "'mem-fraction-static'" in p.fix or "set by the platform" in p.message


@pytest.mark.parametrize(
    ("engine", "args", "needle"),
    [
        ("vllm", {"max-model-len": 4096}, "tiers[].maxTotalTokens"),
        ("sglang", {"host": "127.0.0.1"}, "all interfaces"),
        ("tgi", {"max-total-tokens": 10}, "tiers[].maxTotalTokens"),
        ("vllm", {"api-key": "sk-1"}, "credential"),
        ("vllm", {"max-num-active-seqs": "two"}, "integer"),
        ("vllm", {"enable-prefix-caching": "yes"}, "switch"),
        ("sglang", {"schedule-policy": "lmp"}, "did you mean 'lpm'"),
        ("sglang", {"disable-radix-cache": False}, "no --no- form"),
    ],
)
def test_engine_args_are_typed_and_owned(engine: str, args: dict, needle: str) -> None:
    problems = problems_of(engine=engine, engineArgs=args)
    assert any(needle in f"{p.message} {p.fix}" for p in problems), problems


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ({"max-waiting-tokens": -5}, "at least 0"),  # usize: clap refuses "-5"
        ({"max-batch-total-tokens": 2**32}, "at most 4294967295"),  # u32
        ({"prometheus-port": 70000}, "at most 65535"),  # u16
    ],
)
def test_tgi_integer_args_are_held_to_their_unsigned_rust_type(args: dict, needle: str) -> None:
    (problem,) = problems_of(engine="tgi", engineArgs=args)
    assert problem.check == "engine-args" and needle in problem.message, problem


def test_tgi_integer_args_inside_their_rust_type_pass() -> None:
    assert problems_of(engine="tgi", engineArgs={"max-waiting-tokens": 0}) == []
    assert problems_of(engine="tgi", engineArgs={"max-batch-total-tokens": 2**32 - 1}) == []


def test_tgi_tiers_warn_about_maintenance_mode() -> None:
    from tgi_infra.checks import validate_platform

    report = validate_platform(small_platform(), _catalog_facts)
    (notice,) = [p for p in report.problems if p.check == "tgi-maintenance-mode"]
    assert notice.severity == "warning"
    assert "2025-12-11" in notice.message and "3.3.7 (2025-12-18)" in notice.message
    vllm = validate_platform(small_platform(engine="vllm"), _catalog_facts)
    assert not [p for p in vllm.problems if p.check == "tgi-maintenance-mode"]


def _catalog_facts(tier: Any) -> Any:
    from tgi_infra.capacity.model_facts import resolve_model_facts

    return resolve_model_facts(tier.model_id, revision=tier.revision, offline=True)


def test_every_managed_flag_exists() -> None:
    for name in ENGINE_NAMES:
        engine = get_engine(name)
        for flag in [*engine.managed_flags, *engine.secret_flags]:
            assert engine.cli().flag(flag), f"{name}: {flag}"
        for setting in engine.settings:
            if setting.flag and setting.flag.startswith("--"):
                assert engine.cli().flag(setting.flag), f"{name}: {setting.flag}"
            elif setting.flag:
                assert setting.flag in engine.cli().env, f"{name}: {setting.flag}"


def test_flag_names_are_dashes_only_for_sglang() -> None:
    # sglang/srt/arg_groups/arg_utils.py `_field_to_cli_name`: no `_` spelling is accepted.
    cli = get_engine("sglang").cli()
    assert cli.flag("--mem-fraction-static") and not cli.flag("--mem_fraction_static")
    assert all(not re.search(r"_", f) for f in cli.flags if f.startswith("--"))


def test_plan_puts_each_tgi_tier_beside_vllm(monkeypatch: pytest.MonkeyPatch) -> None:
    from tgi_infra.capacity.catalog import gpu
    from tgi_infra.checks import validate_platform
    from tgi_infra.checks.engine_comparison import tgi_alternatives

    report = validate_platform(stack_config("staging"))
    pairs = tgi_alternatives(report.tiers, report.pools)
    assert [(a.tier, b.engine) for a, b in pairs] == [("chat", "vllm"), ("quantized", "vllm")]
    tgi, vllm = pairs[0]
    assert tgi.available and tgi.kv_tokens == report.tiers["chat"].memory.max_batch_total_tokens
    assert vllm.monthly_usd == tgi.monthly_usd  # same GPUs, same replicas
    # The vLLM column is vLLM's own memory model for the same tier (one call, the seam).
    cap = report.tiers["chat"]
    same = cap.tier.model_copy(update={"engine": "vllm"})
    own = get_engine("vllm").native_memory_plan(same, cap.facts, gpu("L40S"))
    assert own is not None and vllm.kv_tokens == own.max_batch_total_tokens
    assert vllm.full_length_requests == own.max_batch_total_tokens // cap.tier.max_total_tokens
    assert vllm.tokens_per_second and vllm.tokens_per_second > 0

    # A TGI imageVersion and engineArgs stay with TGI: vLLM is planned at its pinned release.
    from tgi_infra.checks.engine_comparison import estimate
    from tgi_infra.checks.launcher import TierCapacity
    from tgi_infra.engines import DEFAULT_VERSIONS

    seen = []
    real = type(get_engine("vllm")).native_memory_plan
    monkeypatch.setattr(type(get_engine("vllm")), "native_memory_plan",
                        lambda self, t, f, g: seen.append(t) or real(self, t, f, g))
    pinned = cap.tier.model_copy(
        update={"image_version": "3.3.6", "engine_args": {"max-waiting-tokens": 20}})
    estimate(TierCapacity(pinned, cap.facts, cap.gpu, cap.gpus_per_node, cap.memory),
             report.pools[cap.tier.node_pool], "vllm")
    assert [(t.engine_version, t.engine_args) for t in seen] == [(DEFAULT_VERSIONS["vllm"], {})]

    # Where the engine's model does not answer, the column says so instead of guessing.
    monkeypatch.setattr(type(get_engine("vllm")), "native_memory_plan", lambda *a: None)
    _, vllm = tgi_alternatives(report.tiers, report.pools)[0]
    assert not vllm.available and "not available" in vllm.note


def test_docs_name_every_engine_check() -> None:
    doc = (ENGINES_DIR.parents[1] / "docs" / "engines.md").read_text()
    for name in ENGINE_NAMES:
        for path in (ENGINES_DIR / name).glob("*.py"):
            for check in re.findall(r'"((?:vllm|sglang|tgi)-[a-z-]+)"', path.read_text()):
                if check.endswith("-value"):
                    continue  # documented as the <engine>-<field>-value family
                assert f"`{check}`" in doc, f"{check} ({path.name}) missing from docs/engines.md"
    for name in ENGINE_NAMES:
        for setting in get_engine(name).settings:
            if setting.flag:
                assert f"`{setting.flag}" in doc, (name, setting.flag)


def test_comparison_says_when_the_other_engine_cannot_load_the_checkpoint() -> None:
    import dataclasses

    from tgi_infra.checks import validate_platform
    from tgi_infra.checks.engine_comparison import estimate
    from tgi_infra.checks.launcher import TierCapacity

    report = validate_platform(stack_config("staging"))
    cap = report.tiers["chat"]
    exl2 = dataclasses.replace(cap.facts, checkpoint_quantization="exl2")  # TGI reads exl2
    hw = report.pools[cap.tier.node_pool]
    moved = TierCapacity(cap.tier, exl2, cap.gpu, cap.gpus_per_node, cap.memory)
    for engine, words in (("vllm", "vLLM cannot load"), ("sglang", "SGLang cannot load")):
        other = estimate(moved, hw, engine)
        assert not other.available and words in other.note
        assert "Unknown quantization method: exl2" in other.note
    assert estimate(cap, hw, "vllm").available  # the 16-bit checkpoint loads on vLLM


@pytest.mark.parametrize(
    ("engine", "version", "severity"),
    [
        ("vllm", "v0.34.0", "error"),  # renders vllm/vllm-openai:vv0.34.0
        ("sglang", "v0.5.23-cu130", "error"),
        ("vllm", "0.34.0", None),
        ("sglang", "0.5.23-cu130", None),  # the image's CUDA variant of the pinned release
        ("vllm", "0.10.1.1", None),  # older releases: the memory model knows them
        ("tgi", "3.3.7", None),
        ("tgi", "v3.3.7", "warning"),  # TGI tags carry no v: not a release tag
        ("tgi", "99.99.99", "warning"),  # past the last release
        ("vllm", "0.35.0", "warning"),
        ("vllm", "latest", "warning"),  # a moving tag
        ("vllm", "sha256:" + "a" * 64, None),
        ("vllm", None, None),
    ],
)
def test_image_version_the_plan_can_vouch_for(engine: str, version: str | None,
                                               severity: str | None) -> None:  # fmt: skip
    found = get_engine(engine).check_version(version, "tiers[x].imageVersion")
    assert [p.severity for p in found] == ([severity] if severity else [])
    if severity == "error":
        assert f":v{version}" in found[0].message and found[0].check == "image-version"
