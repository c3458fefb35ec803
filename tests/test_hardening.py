"""Hostile and careless input: refused with a problem (path, value, rule, fix), fast."""

from __future__ import annotations

import copy
import os
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import raw_stack, small_raw
from tgi_infra.checks import validate_platform
from tgi_infra.checks.stack import validate_stack_config
from tgi_infra.cli import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, main
from tgi_infra.config.loader import parse_platform, read_stack_file
from tgi_infra.offline.output import MARKER
from tgi_infra.problems import ConfigInvalid

GIB = 2**30


def write_stack(tmp_path: Path, platform: Any, **config: Any) -> Path:
    path = tmp_path / "Pulumi.t.yaml"
    path.write_text(yaml.safe_dump({"config": {"tgi-infra:platform": platform, **config}}))
    return path


def problems_of(raw: dict[str, Any], **config: Any) -> list[str]:
    try:
        report = validate_stack_config({"tgi-infra:platform": raw, **config}, "test")
    except ConfigInvalid as exc:
        return [f"{p.check} {p.path} {p.message}" for p in exc.problems]
    return [f"{p.check} {p.path} {p.message}" for p in report.problems]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("config:\n  a: &x [1, 2]\n  b: *x\n", "alias"),
        ("config:\n  a: 1\n  a: 2\n", "duplicate key 'a'"),
        ("config:\n  a: " + "9" * 5000 + "\n", "5000 digits"),
        ("config:\n  a: " + "[" * 3000 + "]" * 3000 + "\n", "nesting deeper"),
        ("config: [unclosed\n", "not valid YAML"),
    ],
)
def test_hostile_yaml_is_refused(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(ConfigInvalid) as info:
        read_stack_file(path)
    assert expected in info.value.problems[0].message


def test_billion_laughs_is_refused_fast(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    path = tmp_path / "s.yaml"
    path.write_text("config:\n" + "\n".join("  " + line for line in lines) + "\n")
    start = time.perf_counter()
    with pytest.raises(ConfigInvalid):
        read_stack_file(path)
    assert time.perf_counter() - start < 1


@pytest.mark.parametrize("data", [b"\x00\x01binary", b"config:\n  a: caf\xe9\n"])
def test_binary_and_non_utf8_files_are_refused(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes(data)
    with pytest.raises(ConfigInvalid) as info:
        read_stack_file(path)
    assert "UTF-8" in info.value.problems[0].message or "binary" in info.value.problems[0].message


@pytest.mark.parametrize("value", [True, 2.0, "2"])
def test_no_bool_float_or_string_becomes_an_integer(value: Any) -> None:
    raw = small_raw()
    raw["nodePools"][0]["maxSize"] = value
    with pytest.raises(ConfigInvalid) as info:
        parse_platform(raw)
    assert info.value.problems[0].path == "nodePools[l40s].maxSize"


def test_a_large_value_is_not_rendered_whole() -> None:
    raw = small_raw()
    raw["tiers"][0]["maxInputTokens"] = [list(range(1000))] * 1000
    with pytest.raises(ConfigInvalid) as info:
        parse_platform(raw)
    assert len(str(info.value.problems[0])) < 400


def test_semantic_checks_run_beside_a_schema_error() -> None:
    raw = small_raw()
    raw["tiers"].append({**raw["tiers"][0], "name": "other", "maxInputTokens": "many"})
    raw["tiers"][0]["replicas"] = {"min": 3, "max": 2}
    found = problems_of(raw)
    assert any("schema-int_type tiers[other].maxInputTokens" in p for p in found)
    assert any("replicas-order tiers[chat]" in p for p in found)
    # The dropped tier is not reported again as missing.
    assert not any("'other' is not a tier" in p for p in found)


def test_tenant_key_problems_are_reported_with_their_path() -> None:
    raw = small_raw()
    found = problems_of(raw, **{"tgi-infra:tenantKeys": {"nobody": {"secure": "v1:x"}}})
    assert any(p.startswith("tenant-key-unknown tgi-infra:tenantKeys.nobody") for p in found)
    found = problems_of(raw, **{"tgi-infra:tenantKeys": "oops"})
    assert any(p.startswith("tenant-key-shape tgi-infra:tenantKeys") for p in found)


@pytest.mark.parametrize(("env", "severity"), [("dev", "warning"), ("prod", "error")])
def test_plaintext_secrets(env: str, severity: str) -> None:
    raw = small_raw(environment=env)
    report = validate_stack_config(
        {"tgi-infra:platform": raw, "tgi-infra:hfToken": "hf_plain"}, "test"
    )
    [problem] = [p for p in report.problems if p.check == "plaintext-secret"]
    assert problem.severity == severity and "pulumi config set --secret" in problem.fix


@pytest.mark.parametrize(
    ("changes", "check"),
    [
        ({"cpuRequest": "0"}, "requests-positive"),
        ({"memoryRequest": "0Gi"}, "requests-positive"),
        ({"cacheSizeGib": 5}, "cache-size"),
        ({"servedModelName": ""}, "served-model-name"),
        ({"servedModelName": "a\nb"}, "text-control-character"),
        ({"servedModelName": "a\x00b"}, "text-control-character"),
    ],
)
def test_tier_inputs_users_count_on(changes: dict[str, Any], check: str) -> None:
    raw = small_raw()
    raw["tiers"][0].update(changes)
    assert any(p.startswith(check) for p in problems_of(raw)), problems_of(raw)


@pytest.mark.parametrize(
    ("section", "changes", "check"),
    [
        ("cache", {"storageClassName": "EFS_sc"}, "name-syntax"),
        ("observability", {"runbookUrl": "https://x/\u2028y"}, "text-control-character"),
        ("observability", {"prometheusSelector": {"bad key!": "x"}}, "label-syntax"),
    ],
)
def test_platform_inputs_users_count_on(section: str, changes: dict[str, Any], check: str) -> None:
    raw = small_raw(**{section: changes})
    assert any(p.startswith(check) for p in problems_of(raw)), problems_of(raw)


def test_derived_name_collision_is_reported() -> None:
    raw = small_raw()
    raw["tiers"].append({**raw["tiers"][0], "name": "chat-download", "servedModelName": "other"})
    found = problems_of(raw)
    assert any(
        p.startswith("derived-name-collision") and "NetworkPolicy tgi/tgi-chat-download" in p
        for p in found
    ), found


def test_every_planned_object_name_is_derived(tmp_path: Path) -> None:
    """The collision check's table covers every object the program renders (no drift)."""
    from tgi_infra.checks.names import derived_names
    from tgi_infra.offline.plan import run_offline
    from tgi_infra.program import main as program

    for stack in ("dev", "prod"):
        config = raw_stack(stack)
        cfg = parse_platform(config["tgi-infra:platform"])
        known = {(k, ns or "", n) for k, ns, n in derived_names(cfg)}
        plan = run_offline(program, config, stack=stack)
        rendered = {
            (o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"])
            for o in plan.kubernetes_objects()
            if o["metadata"].get("namespace", "") in ("", cfg.cluster.namespace)
            and o["kind"] not in ("GatewayClass", "StorageClass")  # add-ons: not derived
        }
        assert rendered <= known, rendered - known


def test_storage_change_is_a_new_claim_and_claims_are_retained() -> None:
    from tgi_infra.offline.plan import run_offline
    from tgi_infra.program import main as program

    base = raw_stack("dev")
    changed = copy.deepcopy(base)
    changed["tgi-infra:platform"]["cache"] = {"storageClassName": "efs-sc"}

    def claims(config: dict[str, Any]) -> dict[str, tuple[str, bool]]:
        plan = run_offline(program, config, stack="dev")
        return {
            r.name: (r.inputs["metadata"]["name"], r.retain_on_delete)
            for r in plan.of_type("kubernetes:core/v1:PersistentVolumeClaim")
        }

    before, after = claims(base), claims(changed)
    assert before.keys() == after.keys()
    assert all(before[k][0] != after[k][0] for k in before)  # replaced under a new name
    assert all(keep for _, keep in [*before.values(), *after.values()])
    off = copy.deepcopy(base)
    off["tgi-infra:platform"]["cache"] = {"retainOnDelete": False}
    assert not any(keep for _, keep in claims(off).values())


def test_plan_without_hf_token_has_no_token_and_serving_pods_never_do() -> None:
    from tgi_infra.offline.plan import run_offline
    from tgi_infra.program import main as program

    def envs(plan: Any, kind: str) -> list[set[str]]:
        out = []
        for o in plan.kubernetes_objects():
            if o["kind"] == kind:
                pod = o["spec"]["template"]["spec"]
                out.append({e["name"] for c in pod["containers"] for e in c.get("env", [])})
        return out

    plan = run_offline(program, raw_stack("prod"), stack="prod")
    assert not [o for o in plan.kubernetes_objects() if o["metadata"]["name"] == "tgi-hf-token"]
    assert all("HF_TOKEN" not in e for e in envs(plan, "Deployment") + envs(plan, "Job"))
    with_token = {**raw_stack("prod"), "tgi-infra:hfToken": {"secure": "v1:x"}}
    plan = run_offline(program, with_token, stack="prod")
    assert all("HF_TOKEN" in e for e in envs(plan, "Job"))
    assert all("HF_TOKEN" not in e for e in envs(plan, "Deployment"))
    assert plan.secrets == ["tgi-infra:hfToken"]


def test_kubeconfig_from_secret_plans(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = raw_stack("dev")
    config["tgi-infra:platform"]["cluster"]["kubeconfigFromSecret"] = True
    path = tmp_path / "Pulumi.dev.yaml"
    without = {"config": config}
    path.write_text(yaml.safe_dump(without))
    assert main(["validate", "--config", str(path)]) == EXIT_PROBLEMS
    assert "tgi-infra:kubeconfig" in capsys.readouterr().out
    config["tgi-infra:kubeconfig"] = {"secure": "v1:AAAA"}
    path.write_text(yaml.safe_dump({"config": config}))
    assert main(["plan", "--config", str(path)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "tgi-infra:kubeconfig" in out and "no Pulumi state was read" in out
    assert "000000000000" in out or "mocked" in out or "[unknown]" in out


def test_render_out_is_safe(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["render", "--stack", "dev", "--out", str(out)]) == EXIT_OK
    first = set(p.name for p in out.iterdir())
    assert MARKER in first
    stale = out / "999-stale.yaml"
    stale.write_text("x")
    import json

    marker = json.loads((out / MARKER).read_text())
    (out / MARKER).write_text(json.dumps({"files": [*marker["files"], stale.name]}))
    assert main(["render", "--stack", "dev", "--out", str(out)]) == EXIT_OK
    assert not stale.exists()  # its own stale file removed
    (out / "mine.txt").write_text("keep")
    assert main(["render", "--stack", "dev", "--out", str(out)]) == EXIT_PROBLEMS
    assert (out / "mine.txt").read_text() == "keep"
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    assert main(["render", "--stack", "dev", "--out", str(link)]) == EXIT_PROBLEMS
    assert not (tmp_path / "elsewhere").exists()
    capsys.readouterr()


def test_render_out_never_writes_into_a_fifo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A file of an earlier render replaced by a FIFO: opening it to write would wait forever.
    out = tmp_path / "out"
    assert main(["render", "--stack", "dev", "--out", str(out)]) == EXIT_OK
    victim = sorted(p for p in out.iterdir() if p.name != MARKER)[0]
    before = {p.name for p in out.iterdir()}
    victim.unlink()
    os.mkfifo(victim)
    assert main(["render", "--stack", "dev", "--out", str(out)]) == EXIT_PROBLEMS
    assert "not a regular file" in capsys.readouterr().out
    assert {p.name for p in out.iterdir()} == before  # nothing written, nothing removed


@pytest.mark.parametrize(
    "argv",
    [
        ["validate", "--stack", "../../etc/passwd"],
        ["check", "--stack", "dev", "--policy-config", "/nonexistent.json"],
        ["config-reference", "--out", "/proc/nope/x.md"],
    ],
)
def test_bad_flags_exit_1_or_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse: usage
        code = int(exc.code or 0)
    assert code in (EXIT_PROBLEMS, EXIT_USAGE)
    assert "internal error" not in capsys.readouterr().out


def test_validate_platform_still_works_for_the_real_stacks() -> None:
    for stack in ("dev", "staging", "prod"):
        assert validate_platform(parse_platform(raw_stack(stack)["tgi-infra:platform"])).ok


@pytest.mark.parametrize(
    "value",
    [{"secure": ""}, {"secure": 1}, {"secure": {"value": "hf_x"}}, {"secure": "v1:x", "k": 1}],
)
def test_a_malformed_secure_value_is_not_taken_as_encrypted(value: Any) -> None:
    raw = small_raw(environment="prod")
    for key in ("tgi-infra:hfToken", "tgi-infra:kubeconfig", "tgi-infra:tenantKeys"):
        found = problems_of(raw, **{key: value})
        assert any(p.startswith(f"secret-shape {key} ") for p in found), (key, found)
    found = problems_of(raw, **{"tgi-infra:tenantKeys": {"team-a": value}})
    assert any(p.startswith("secret-shape tgi-infra:tenantKeys.team-a ") for p in found)
    found = problems_of(raw, **{"tgi-infra:hfToken": {"secure": "v1:abc"}})
    assert not [p for p in found if p.startswith(("secret-shape", "plaintext-secret"))]


@pytest.mark.parametrize(
    ("key", "expected"),
    [("tgi-infra:hfTokn", "did you mean `tgi-infra:hfToken`?"), ("__proto__", "remove it.")],
)
def test_unknown_config_keys_in_the_namespace_are_refused(key: str, expected: str) -> None:
    report = validate_stack_config({"tgi-infra:platform": small_raw(), key: "x"}, "test")
    [problem] = [p for p in report.problems if p.check == "unknown-config-key"]
    assert problem.path == key and problem.fix == expected and not report.ok
    other = {"tgi-infra:platform": small_raw(), "aws:region": "us-east-1", "kubernetes:x": 1}
    assert validate_stack_config(other, "test").ok


@pytest.mark.parametrize(
    ("value", "severity"),
    [("us-east-1\u202eevil\u200f", "error"), (7, "error"), ("", "error"),
     ("eu-west-1", "warning")],
)  # fmt: skip
def test_aws_region_must_be_a_region_and_match_the_cluster(value: Any, severity: str) -> None:
    # fuzz_cli seed 8 case-0514: a bidi-laced aws:region was accepted
    report = validate_stack_config({"tgi-infra:platform": small_raw(), "aws:region": value}, "t")
    [problem] = [p for p in report.problems if p.check == "provider-region"]
    assert problem.path == "aws:region" and problem.severity == severity
    assert "\u202e" not in problem.message
    ok = validate_stack_config({"tgi-infra:platform": small_raw(), "aws:region": "us-east-1"}, "t")
    assert not [p for p in ok.problems if p.check == "provider-region"]


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_floats_must_be_finite(value: float) -> None:
    raw = small_raw()
    raw["tiers"][0]["alerts"] = {"timeToFirstTokenP95Seconds": value}
    with pytest.raises(ConfigInvalid) as info:
        parse_platform(raw)
    assert info.value.problems[0].path == "tiers[chat].alerts.timeToFirstTokenP95Seconds"


@pytest.mark.parametrize(("key", "name"), [("servedModelName", "-x"), ("modelId", "--help")])
def test_a_model_name_cannot_read_as_a_flag(key: str, name: str) -> None:
    raw = small_raw()
    raw["tiers"][0][key] = name
    assert any(p.startswith(f"served-model-name tiers[chat].{key}") for p in problems_of(raw))
    raw["tiers"][0][key] = "x-" if key == "servedModelName" else "org/-x"
    assert not any(p.startswith("served-model-name") for p in problems_of(raw))
