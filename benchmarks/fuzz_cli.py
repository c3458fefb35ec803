"""Hostile stacks for the CLI: mutate the prod stack, run `tgi-infra validate` on each.

Each generated stack file (written outside the repo) gets one to three mutations of the
parsed prod stack (wrong types, hostile text, deleted and unknown keys, swapped values,
tier name collisions, plaintext secrets, malformed tenant keys, the schema-driven values of
tests/test_config_fuzz.py) and sometimes an edit of the raw text (duplicate keys, alias
bombs, deep nesting, truncation, binary or non-UTF-8 bytes, YAML tags). `validate` runs in
a subprocess with a timeout; each run is classified:

- refused: exit 1 or 2 with a problem line naming a path, no traceback or internal error;
- accepted: exit 0 (listed with its mutations and new warnings, for a human to judge);
- exit3, crash (traceback/internal error at another code), silent (exit 1/2, no problem
  line), other (any other code), hang (the timeout);
- leak: a planted plaintext secret appears in the output (counted on top of the above).

`--plan K` runs `plan` on up to K accepted stacks too.

    PYTHONPATH=$PWD HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/fuzz_cli.py \
        --n 600 --plan 25 --seed 1
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.test_config_fuzz import FIELDS, HOSTILE_TEXT, WRONG_FOR, put  # noqa: E402

PROD = ROOT / "stacks" / "Pulumi.prod.yaml"
PLATFORM = "tgi-infra:platform"
HF_TOKEN, KUBECONFIG, TENANT_KEYS = (
    "tgi-infra:hfToken",
    "tgi-infra:kubeconfig",
    "tgi-infra:tenantKeys",
)
ERROR_LINE = re.compile(r"^\s*✗ (\S.*?) \(([A-Za-z0-9_.-]+)\): \S", re.M)
WARNING_LINE = re.compile(r"^\s*! (\S.*?) \(([A-Za-z0-9_.-]+)\): \S", re.M)
MAX_OUTPUT = 64 * 1024
"""More output than this for one stack is reported as unbounded (a value echoed whole)."""
DEEP = "FUZZDEEPTOKEN"
HUGE_INT = "FUZZHUGEINTTOKEN"

sys.set_int_max_str_digits(0)

TEXTS: list[str] = [
    *HOSTILE_TEXT,
    "\t",
    "ÿÿÿ",
    "\u202eevil\u200f",
    "a\x00b",
    "line\nbreak",
    "x" * 100 * 1024,
    "${x}",
    "{{ .x }}",
    "../../../../etc/passwd",
    "/etc/shadow",
    "$(id)",
    "a; rm -rf /",
    "😀" * 10,
    "\u2028",
    "\x7f",
    "-leading-dash",
    "UPPER",
    "a" * 64,
]
WRONG: list[Any] = [
    True,
    False,
    2.5,
    HUGE_INT,
    -1,
    0,
    "nan",
    float("nan"),
    float("inf"),
    -(10**19),
    None,
    [],
    [1, 2],
    {},
    {"a": 1},
    "1",
    "true",
]


@dataclass
class Case:
    """One generated stack: its file name, the mutations, the bytes and planted secrets."""

    name: str
    mutations: list[str]
    data: bytes
    secrets: list[str] = field(default_factory=list)


@dataclass
class Result:
    name: str
    mutations: list[str]
    outcome: str
    rc: int | None
    seconds: float
    leak: bool
    output_bytes: int
    errors: list[str]
    warnings: list[str]
    tail: str
    plan_rc: int | None = None
    plan_outcome: str | None = None


# --- walking the parsed stack -------------------------------------------------------------


def _walk(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    yield path, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, (*path, i))


def _leaves(cfg: Any) -> list[tuple[Any, ...]]:
    return [p for p, v in _walk(cfg) if p and not isinstance(v, dict | list)]


def _mappings(cfg: Any) -> list[tuple[Any, ...]]:
    return [p for p, v in _walk(cfg) if isinstance(v, dict)]


def _keys(cfg: Any) -> list[tuple[Any, ...]]:
    return [p for p, _ in _walk(cfg) if p and isinstance(p[-1], str)]


def _get(cfg: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        cfg = cfg[key]
    return cfg


def _set(cfg: Any, path: tuple[Any, ...], value: Any) -> None:
    _get(cfg, path[:-1])[path[-1]] = value


def _show(path: tuple[Any, ...]) -> str:
    return ".".join(str(k) for k in path)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:30]}...({len(text)} chars)"


def _secret(rng: random.Random, prefix: str) -> str:
    return f"{prefix}{rng.getrandbits(96):024x}"


# --- mutations of the parsed stack: each changes `cfg` and returns its description --------

Mutation = Callable[[random.Random, dict[str, Any], list[str]], str | None]


def wrong_type(rng: random.Random, cfg: dict[str, Any], _: list[str]) -> str:
    path = rng.choice(_leaves(cfg))
    value = rng.choice(WRONG)
    _set(cfg, path, value)
    return f"wrong type {_show(path)} = {_short(value)}"


def hostile_text(rng: random.Random, cfg: dict[str, Any], _: list[str]) -> str:
    path = rng.choice(_leaves(cfg))
    old = _get(cfg, path)
    text = rng.choice(TEXTS)
    if isinstance(old, str) and rng.random() < 0.5:
        text = old + text if rng.random() < 0.5 else text + old
    _set(cfg, path, text)
    return f"text {_show(path)} = {_short(text)}"


def delete_key(rng: random.Random, cfg: dict[str, Any], _: list[str]) -> str:
    path = rng.choice(_keys(cfg))
    del _get(cfg, path[:-1])[path[-1]]
    return f"delete {_show(path)}"


def unknown_key(rng: random.Random, cfg: dict[str, Any], _: list[str]) -> str:
    path = rng.choice(_mappings(cfg))
    node = _get(cfg, path)
    if node and rng.random() < 0.6:
        real = rng.choice([k for k in node if isinstance(k, str)] or ["x"])
        key: Any = rng.choice([real[:-1], real + "s", real.lower(), real.upper(), real + " "])
    else:
        key = rng.choice(["fooBar", "", "ÿ", 1, "a" * 300, "tgi-infra:hfTokn", "__proto__"])
    if key in node:
        key = f"{key}Extra"
    node[key] = rng.choice([1, "x", True, None, {"y": 1}])
    return f"unknown key {_show((*path, key))}"


def swap_values(rng: random.Random, cfg: dict[str, Any], _: list[str]) -> str:
    a, b = rng.sample(_leaves(cfg), 2)
    va, vb = _get(cfg, a), _get(cfg, b)
    _set(cfg, a, vb)
    _set(cfg, b, va)
    return f"swap {_show(a)} <-> {_show(b)}"


def _platform(cfg: dict[str, Any]) -> dict[str, Any] | None:
    raw = cfg.get(PLATFORM)
    return raw if isinstance(raw, dict) else None


def _entries(cfg: dict[str, Any], key: str) -> list[dict[str, Any]]:
    raw = _platform(cfg)
    items = raw.get(key) if raw else None
    return [t for t in items if isinstance(t, dict)] if isinstance(items, list) else []


def name_collision(rng: random.Random, cfg: dict[str, Any], _: list[str]) -> str | None:
    key = rng.choice(["tiers", "tiers", "nodePools", "tenants"])
    items = _entries(cfg, key)
    if len(items) < 2:
        return None
    a, b = rng.sample(items, 2)
    base = str(a.get("name"))
    new = rng.choice(
        [base, f"{base}-download", f"{base}-cache", f"{base}-api-key", f"{base}-0", base.upper()]
    )
    b["name"] = new
    return f"{key} name collision {b.get('name')!r} beside {base!r}"


def copy_entry(rng: random.Random, cfg: dict[str, Any], _: list[str]) -> str | None:
    key = rng.choice(["tiers", "nodePools", "tenants"])
    items = _entries(cfg, key)
    raw = _platform(cfg)
    if not items or raw is None:
        return None
    entry = copy.deepcopy(rng.choice(items))
    if rng.random() < 0.5:
        entry["name"] = f"{entry.get('name')}-copy"
    raw[key].append(entry)
    return f"copy {key} entry {entry.get('name')!r}"


def list_shape(rng: random.Random, cfg: dict[str, Any], _: list[str]) -> str | None:
    paths = [p for p, v in _walk(cfg) if isinstance(v, list)]
    if not paths:
        return None
    path = rng.choice(paths)
    value = rng.choice([[], [None], [[]], [{}], "x", {}, _get(cfg, path) * 300])
    _set(cfg, path, value)
    return f"list {_show(path)} = {_short(value)}"


def deep_nesting(rng: random.Random, cfg: dict[str, Any], _: list[str]) -> str:
    path = rng.choice(_leaves(cfg) + _mappings(cfg)[1:])
    _set(cfg, path, DEEP)
    return f"deep nesting at {_show(path)}"


def plaintext_secret(rng: random.Random, cfg: dict[str, Any], secrets: list[str]) -> str:
    which = rng.choice(["hf", "hf", "kube", "tenant", "tenant-unknown", "engine-arg", "nested"])
    if which == "hf":
        secret = _secret(rng, "hf_")
        cfg[HF_TOKEN] = rng.choice([secret, [secret], {"secure": secret, "plain": secret}])
    elif which == "kube":
        secret = _secret(rng, "k8s-token-")
        cfg[KUBECONFIG] = f"apiVersion: v1\nusers:\n- name: x\n  user:\n    token: {secret}\n"
    elif which in ("tenant", "tenant-unknown"):
        secret = _secret(rng, "sk-")
        tenants = [t.get("name") for t in _entries(cfg, "tenants")] or ["search"]
        name = rng.choice(tenants) if which == "tenant" else "no-such-tenant"
        cfg[TENANT_KEYS] = {name: secret}
    elif which == "engine-arg":
        secret = _secret(rng, "hf_")
        tiers = _entries(cfg, "tiers")
        if not tiers:
            return "plaintext secret: no tiers left"
        tier = rng.choice(tiers)
        flag = rng.choice(["api-key", "hf-token", "admin-api-key", "ngrok-authtoken"])
        args = tier.setdefault("engineArgs", {})
        if isinstance(args, dict):
            args[flag] = secret
        which = f"engineArgs.{flag} of tier {tier.get('name')!r}"
    else:
        secret = _secret(rng, "hf_")
        cfg[HF_TOKEN] = {"secure": {"value": secret}}
    secrets.append(secret)
    return f"plaintext secret ({which})"


def tenant_keys(rng: random.Random, cfg: dict[str, Any], _: list[str]) -> str:
    enc = {"secure": "v1:abcdefgh:ciphertext"}
    value = rng.choice(
        [
            [],
            "x",
            5,
            [enc],
            {"search": 5},
            {"search": None},
            {"search": {}},
            {"search": {"secure": 1}},
            {"search": {"secure": ""}},
            {"search": {"secure": "x", "extra": 1}},
            {"no-such": enc},
            {"": enc},
            {1: enc},
            {"search": enc, "support-bot": enc},
            {"secure": ""},
            {f"t{i}": enc for i in range(20_000)},
        ]
    )
    cfg[TENANT_KEYS] = value
    return f"tenantKeys = {_short(value)}"


def schema_field(rng: random.Random, cfg: dict[str, Any], _: list[str]) -> str | None:
    """tests/test_config_fuzz.py's generator: any schema field, a value of the wrong kind."""
    raw = _platform(cfg)
    if raw is None:
        return None
    path, kind = rng.choice(FIELDS)
    value = rng.choice(WRONG_FOR[kind])
    if not put(raw, path, copy.deepcopy(value)):
        return None
    return f"schema {_show(path)} ({kind}) = {_short(value)}"


def engine_args(rng: random.Random, cfg: dict[str, Any], _: list[str]) -> str | None:
    tiers = _entries(cfg, "tiers")
    if not tiers:
        return None
    tier = rng.choice(tiers)
    key, value = rng.choice(
        [
            ("max-model-len", 100),
            ("no-such-flag", 1),
            ("--enable-prefix-caching", True),
            ("enable-prefix-caching", "yes"),
            ("port", 1),
            ("schedule-policy", ["lpm"]),
            ("max-waiting-tokens", -5),
            ("", 1),
            ("model", "/etc/passwd"),
            ("tokenizer", "../../x"),
        ]
    )
    args = tier.setdefault("engineArgs", {})
    if not isinstance(args, dict):
        return None
    args[key] = value
    return f"engineArgs {key!r} = {_short(value)} on tier {tier.get('name')!r}"


def top_level(rng: random.Random, cfg: dict[str, Any], _: list[str]) -> str:
    value = rng.choice([None, "x", [], 1, json.dumps(_platform(cfg) or {}), {}])
    cfg[PLATFORM] = value
    return f"{PLATFORM} = {_short(value)}"


MUTATIONS: list[tuple[Mutation, int]] = [
    (wrong_type, 6),
    (hostile_text, 6),
    (delete_key, 4),
    (unknown_key, 3),
    (swap_values, 3),
    (name_collision, 3),
    (copy_entry, 1),
    (list_shape, 2),
    (deep_nesting, 1),
    (plaintext_secret, 3),
    (tenant_keys, 2),
    (schema_field, 5),
    (engine_args, 2),
    (top_level, 1),
]


# --- edits of the raw text ----------------------------------------------------------------


def _lines_with_key(text: str) -> list[int]:
    lines = text.splitlines()
    return [i for i, line in enumerate(lines) if re.match(r"^\s+[A-Za-z][\w-]*: \S", line)]


def raw_edit(rng: random.Random, text: str) -> tuple[str, bytes]:
    kind = rng.choice(
        [
            "duplicate-key",
            "alias-bomb",
            "alias",
            "truncate",
            "binary",
            "latin1",
            "nul",
            "deep-flow",
            "tabs",
            "python-tag",
            "tags",
            "multi-doc",
            "complex-key",
            "empty",
            "bom-crlf",
            "huge",
        ]
    )
    lines = text.splitlines(keepends=True)
    if kind == "duplicate-key":
        i = rng.choice(_lines_with_key(text))
        lines.insert(i + 1, lines[i])
        return f"raw: duplicate key line {i + 2}", "".join(lines).encode()
    if kind == "alias-bomb":
        bomb = (
            '  tgi-infra:bomb:\n    a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
        )
        for x, y in zip("bcdefghi", "abcdefgh", strict=True):
            bomb += f"    {x}: &{x} [*{y},*{y},*{y},*{y},*{y},*{y},*{y},*{y},*{y}]\n"
        return "raw: alias bomb", text.replace("config:\n", "config:\n" + bomb, 1).encode()
    if kind == "alias":
        out = text.replace("replicas: {min: 2, max: 8}", "replicas: &r {min: 2, max: 8}", 1)
        out = out.replace("replicas: {min: 1, max: 4}", "replicas: *r", 1)
        return "raw: anchor and alias", out.encode()
    if kind == "truncate":
        cut = rng.randrange(0, len(text))
        return f"raw: truncated at byte {cut}", text.encode()[:cut]
    if kind == "binary":
        junk = bytes(rng.getrandbits(8) for _ in range(64))
        at = rng.randrange(len(text))
        data = text.encode()
        return "raw: 64 random bytes", data[:at] + junk + data[at:]
    if kind == "latin1":
        return "raw: latin-1 ÿ", text.replace("llm.example.com", "llm.ÿ.com").encode("latin-1")
    if kind == "nul":
        i = rng.choice(_lines_with_key(text))
        lines[i] = lines[i].rstrip("\n") + "\x00\n"
        return f"raw: NUL byte on line {i + 1}", "".join(lines).encode()
    if kind == "deep-flow":
        depth = rng.choice([40, 1000, 100_000])
        out = text.replace("minSize: 3", "minSize: " + "[" * depth + "]" * depth, 1)
        return f"raw: flow nesting {depth} deep", out.encode()
    if kind == "tabs":
        return "raw: tab indentation", text.replace("    ", "\t", 3).encode()
    if kind == "python-tag":
        tag = rng.choice(
            [
                '!!python/object/apply:os.system ["echo pwned"]',
                "!!python/name:os.system",
                '!!python/object/new:subprocess.Popen [["id"]]',
            ]
        )
        return f"raw: {tag.split()[0]}", text.replace("minSize: 3", f"minSize: {tag}", 1).encode()
    if kind == "tags":
        tag = rng.choice(
            ["!!binary aGVsbG8=", "!!timestamp 2001-12-14", "!!set {a, b}", "!custom x"]
        )
        out = text.replace("name: ml-prod", f"name: {tag}", 1)
        return f"raw: tag {tag.split()[0]} as cluster.name", out.encode()
    if kind == "multi-doc":
        return "raw: two YAML documents", (text + "\n---\n" + text).encode()
    if kind == "complex-key":
        out = text.replace("      gpuOperatorInstalled: false\n", "      ? [a, b]\n      : 1\n", 1)
        return "raw: a sequence as a mapping key", out.encode()
    if kind == "empty":
        return "raw: only a comment", b"# nothing\n"
    if kind == "bom-crlf":
        return "raw: UTF-8 BOM and CRLF line ends", b"\xef\xbb\xbf" + text.replace(
            "\n", "\r\n"
        ).encode()
    return "raw: padded beyond 4 MiB", text.encode() + b"#" * (4 * 2**20 + 10) + b"\n"


class _NoAliases(yaml.SafeDumper):
    """Writes a value shared by two places twice: aliases are a raw-text mutation."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _dump(cfg: dict[str, Any], document: dict[str, Any]) -> str:
    text = yaml.dump(
        {**document, "config": cfg}, Dumper=_NoAliases, sort_keys=False, allow_unicode=True
    )
    if DEEP in text:
        text = text.replace(DEEP, "[" * 60 + "]" * 60, 1).replace(DEEP, "x")
    return text.replace(HUGE_INT, "9" * 5000)


def generate(n: int, seed: int, base: Path = PROD) -> list[Case]:
    """`n` mutated copies of the stack file `base`, the same for the same seed."""
    text = base.read_text()
    document = yaml.safe_load(text)
    rng = random.Random(seed)
    funcs, weights = zip(*MUTATIONS, strict=True)
    cases = []
    for i in range(n):
        cfg = copy.deepcopy(document["config"])
        mutations: list[str] = []
        secrets: list[str] = []
        data: bytes | None = None
        if rng.random() < 0.15:
            desc, data = raw_edit(rng, text)
            mutations.append(desc)
        else:
            for _ in range(rng.choice([1, 1, 1, 2, 2, 3])):
                for _attempt in range(5):
                    func = rng.choices(funcs, weights)[0]
                    try:
                        desc = func(rng, cfg, secrets)
                    except (KeyError, IndexError, TypeError, ValueError):
                        desc = None  # an earlier mutation changed the shape it needs
                    if desc:
                        mutations.append(desc)
                        break
            data = _dump(cfg, document).encode("utf-8", "surrogatepass")
        cases.append(Case(f"case-{i:04d}", mutations, data, secrets))
    return cases


# --- running and classifying --------------------------------------------------------------


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TGI_INFRA_DEBUG", "HF_TOKEN")}
    env["PYTHONPATH"] = str(ROOT)
    env["HF_HUB_OFFLINE"] = "1"
    return env


def _cli(args: list[str], cwd: Path, timeout: float) -> tuple[int | None, str, float]:
    start = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "tgi_infra.cli", *args],
            cwd=cwd,
            env=_env(),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None, "", time.monotonic() - start
    out = (proc.stdout + proc.stderr).decode("utf-8", "replace")
    return proc.returncode, out, time.monotonic() - start


def classify(rc: int | None, output: str) -> str:
    """refused, accepted, exit3, crash, silent, other or hang."""
    if rc is None:
        return "hang"
    if rc == 3:
        return "exit3"
    if "Traceback" in output or "internal error" in output:
        return "crash"
    if rc == 0:
        return "accepted"
    if rc == 1 and ERROR_LINE.search(output):
        return "refused"
    if rc == 2 and re.search(r"error: \S", output):
        return "refused"
    return "silent" if rc in (1, 2) else "other"


def run_case(case: Case, workdir: Path, timeout: float = 20.0) -> Result:
    """Write `case` under `workdir` and validate it."""
    folder = workdir / case.name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "Pulumi.prod.yaml"
    path.write_bytes(case.data)
    rc, out, seconds = _cli(["validate", "--config", str(path)], folder, timeout)
    return Result(
        name=case.name,
        mutations=case.mutations,
        outcome=classify(rc, out),
        rc=rc,
        seconds=round(seconds, 2),
        leak=any(s in out for s in case.secrets),
        output_bytes=len(out.encode()),
        errors=sorted({f"{p} ({c})" for p, c in ERROR_LINE.findall(out)}),
        warnings=sorted({f"{p} ({c})" for p, c in WARNING_LINE.findall(out)}),
        tail=out[-600:],
    )


def run_plan(result: Result, case: Case, workdir: Path, timeout: float = 60.0) -> None:
    path = workdir / case.name / "Pulumi.prod.yaml"
    rc, out, _ = _cli(["plan", "--config", str(path)], path.parent, timeout)
    result.plan_rc = rc
    result.plan_outcome = classify(rc, out)
    result.leak = result.leak or any(s in out for s in case.secrets)
    if result.plan_outcome != "accepted":
        result.tail = out[-600:]


def fuzz(
    n: int, seed: int, workdir: Path, plans: int = 0, jobs: int = 2, timeout: float = 20.0
) -> tuple[list[Result], list[str]]:
    """(results, baseline warnings of the unmutated stack)."""
    cases = generate(n, seed)
    baseline = run_case(Case("baseline", [], PROD.read_bytes()), workdir, timeout)
    if baseline.outcome != "accepted":
        raise SystemExit(f"the unmutated prod stack is not accepted: {baseline.tail}")
    with ThreadPoolExecutor(max_workers=max(1, min(jobs, 2))) as pool:
        results = list(pool.map(lambda c: run_case(c, workdir, timeout), cases))
        by_name = {c.name: c for c in cases}
        accepted = [r for r in results if r.outcome == "accepted"][:plans]
        list(pool.map(lambda r: run_plan(r, by_name[r.name], workdir), accepted))
    return results, baseline.warnings


BAD = ("exit3", "crash", "silent", "other", "hang")


def summary(results: list[Result], baseline_warnings: list[str]) -> dict[str, Any]:
    counts = Counter(r.outcome for r in results)
    plans = [r for r in results if r.plan_rc is not None or r.plan_outcome == "hang"]
    return {
        "tried": len(results),
        **{k: counts.get(k, 0) for k in ("refused", "accepted", *BAD)},
        "leaks": sum(r.leak for r in results),
        "unbounded_output": sum(r.output_bytes > MAX_OUTPUT for r in results),
        "max_seconds": max((r.seconds for r in results), default=0.0),
        "plans": {
            "run": len(plans),
            **Counter(str(r.plan_outcome) for r in plans),
        },
        "accepted_cases": [
            {
                "name": r.name,
                "mutations": r.mutations,
                "new_warnings": sorted(set(r.warnings) - set(baseline_warnings)),
                "plan": r.plan_outcome,
            }
            for r in results
            if r.outcome == "accepted"
        ],
        "bad_cases": [
            asdict(r)
            for r in results
            if r.outcome in BAD or r.leak or r.output_bytes > MAX_OUTPUT or r.plan_outcome in BAD
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100, help="stacks to generate")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--plan", type=int, default=0, help="also plan up to K accepted stacks")
    parser.add_argument("--jobs", type=int, default=2, choices=[1, 2])
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds, then a hang")
    parser.add_argument("--workdir", type=Path, help="default: a new temporary folder")
    parser.add_argument("--json", type=Path, help="also write the full summary here")
    args = parser.parse_args(argv)
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="tgi-infra-fuzz-"))).resolve()
    if workdir.is_relative_to(ROOT):
        parser.error(f"--workdir {workdir} is inside the repository; use a folder outside it")
    start = time.monotonic()
    results, baseline = fuzz(args.n, args.seed, workdir, args.plan, args.jobs, args.timeout)
    report = summary(results, baseline)
    report["seconds"] = round(time.monotonic() - start, 1)
    report["workdir"] = str(workdir)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    counts = {k: v for k, v in report.items() if not isinstance(v, list)}
    print(json.dumps(counts, ensure_ascii=False))
    for case in report["accepted_cases"]:
        extra = f" new warnings: {case['new_warnings']}" if case["new_warnings"] else ""
        plan = f" plan: {case['plan']}" if case["plan"] else ""
        print(f"accepted {case['name']}: {'; '.join(case['mutations'])}{extra}{plan}")
    for case in report["bad_cases"]:
        print(
            f"BAD {case['name']} {case['outcome']} rc={case['rc']} leak={case['leak']} "
            f"plan={case['plan_outcome']}: {'; '.join(case['mutations'])}\n{case['tail']}"
        )
    return 1 if report["bad_cases"] else 0


if __name__ == "__main__":
    sys.exit(main())
