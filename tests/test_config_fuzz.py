"""Malformed stacks of every kind: validation reports problems, it never crashes.

The mutations are generated from the pydantic schema itself (`schema_fields`): every field
of every config model, including fields added later, gets values of the wrong type, out
of range and hostile text. Model folders (a local `modelId`) and CLI flags are mutated too.
"""

from __future__ import annotations

import copy
import json
import random
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from tests.support import STACKS, raw_stack, small_raw
from tgi_infra.checks.stack import validate_stack_config
from tgi_infra.cli import EXIT_PROBLEMS, EXIT_USAGE, main
from tgi_infra.config.loader import parse_platform
from tgi_infra.config.models import PlatformConfig
from tgi_infra.problems import ConfigInvalid

HOSTILE_TEXT = ["", " ", "\x00", "a\nb", "{{ .x", "ÿ" * 3, "x" * 70_000, "../../etc"]
WRONG_FOR: dict[str, list[Any]] = {
    "int": [True, 2.5, "1", -1, 10**30, None, [], {}],
    "float": [True, "0.5", -1.0, float("nan"), float("inf"), None, []],
    "bool": ["true", 1, 0.0, None, []],
    "str": [0, 1.5, True, [], {}, *HOSTILE_TEXT],
    "list": ["x", {}, 1, [None], [[]]],
    "dict": ["x", [], 1, {"k": None}, {"": ""}],
    "model": ["x", [], 1, {"unknownKey": 1}],
    "literal": ["bogus", 1, None, True],
}


def _kind(annotation: Any) -> tuple[str, Any]:
    """('int'|'str'|..., the nested model or list item) of a field's annotation."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _kind(typing.get_args(annotation)[0])
    if origin in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _kind(args[0])
    if origin is typing.Literal:
        return "literal", None
    if origin is list:
        return "list", typing.get_args(annotation)[0]
    if origin is dict:
        return "dict", None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "model", annotation
    if annotation in (int, float, bool, str):
        return annotation.__name__, None
    return "str", None


def schema_fields(
    model: type[BaseModel], prefix: tuple[Any, ...] = ()
) -> Iterator[tuple[tuple[Any, ...], str]]:
    """(path in the stack with list index 0, kind) of every field, recursively."""
    for name, field in model.model_fields.items():
        key = field.alias or name
        path = (*prefix, key)
        kind, inner = _kind(field.annotation)
        yield path, kind
        if kind == "model":
            yield from schema_fields(inner, path)
        elif kind == "list":
            item_kind, item_model = _kind(inner)
            if item_kind == "model":
                yield from schema_fields(item_model, (*path, 0))


def put(raw: dict[str, Any], path: tuple[Any, ...], value: Any) -> bool:
    """Set `path` in `raw`, creating mappings on the way; False where the shape differs
    (a list too short, a value an earlier mutation replaced)."""
    node: Any = raw
    for key in path[:-1]:
        if isinstance(key, int):
            if not isinstance(node, list) or len(node) <= key:
                return False
            node = node[key]
        elif isinstance(node, dict):
            node = node.setdefault(key, {})
        else:
            return False
    last = path[-1]
    if isinstance(last, int) or not isinstance(node, dict):
        return False
    node[last] = value
    return True


FIELDS = list(schema_fields(PlatformConfig))


def test_every_field_is_mutated() -> None:
    """A new field of any model is in `FIELDS` without touching this test."""
    names = {path[-1] for path, _ in FIELDS}
    for model in (PlatformConfig,):
        assert {f.alias or n for n, f in model.model_fields.items()} <= names
    assert len(FIELDS) > 80


@pytest.mark.parametrize(("path", "kind"), FIELDS, ids=[".".join(map(str, p)) for p, _ in FIELDS])
def test_each_field_refuses_wrong_values_cleanly(path: tuple[Any, ...], kind: str) -> None:
    base = small_raw()
    for value in WRONG_FOR[kind]:
        raw = copy.deepcopy(base)
        if not put(raw, path, value):
            continue
        try:
            report = validate_stack_config({"tgi-infra:platform": raw}, "fuzz")
        except ConfigInvalid as exc:
            assert exc.problems and all(p.path and p.message for p in exc.problems)
            assert all(len(str(p)) < 2000 for p in exc.problems), "message not bounded"
            continue
        # Accepted by the schema: only where the wrong value is in fact valid here
        # (e.g. None for an optional field, text that is legitimate).
        assert kind in ("str", "list", "dict", "model", "float", "int") or value is None, (
            path,
            value,
        )
        for p in report.problems:
            assert p.path and p.message


@pytest.mark.parametrize("stack", STACKS)
def test_mutated_stacks_give_problems_not_exceptions(stack: str) -> None:
    base = raw_stack(stack)["tgi-infra:platform"]
    rng = random.Random(stack)
    values = [
        v for vs in WRONG_FOR.values() for v in vs if not (isinstance(v, str) and len(v) > 100)
    ]
    outcomes = {"invalid": 0, "problems": 0, "sound": 0}
    for _ in range(150):
        raw = copy.deepcopy(base)
        for _ in range(rng.randint(1, 3)):
            path = rng.choice(FIELDS)[0]
            put(raw, path, rng.choice(values))
        try:
            report = validate_stack_config({"tgi-infra:platform": raw}, stack)
        except ConfigInvalid as exc:
            assert exc.problems and all(p.path and p.message for p in exc.problems)
            outcomes["invalid"] += 1
            continue
        outcomes["sound" if report.ok else "problems"] += 1
    assert outcomes["invalid"] > 30, outcomes


_SMALL_LLAMA = json.dumps(
    {
        "architectures": ["LlamaForCausalLM"],
        "num_hidden_layers": 2,
        "hidden_size": 64,
        "num_attention_heads": 4,
        "vocab_size": 100,
        "max_position_embeddings": 128,
    }
).encode()
MODEL_FOLDERS: dict[str, dict[str, bytes]] = {
    "config not json": {"config.json": b"{not json"},
    "config a list": {"config.json": b"[1, 2]"},
    "config binary": {"config.json": b"\x00\xff\xfe"},
    "config wrong types": {
        "config.json": json.dumps(
            {"architectures": "x", "num_hidden_layers": "32", "hidden_size": True}
        ).encode()
    },
    "config huge ints": {"config.json": ('{"num_hidden_layers": ' + "9" * 5000 + "}").encode()},
    "index not json": {
        "config.json": _SMALL_LLAMA,
        "model.safetensors.index.json": b"{oops",
    },
    "index wrong shape": {
        "config.json": _SMALL_LLAMA,
        "model.safetensors.index.json": b'{"metadata": {"total_size": "big"}, "weight_map": 3}',
    },
    "empty folder": {},
}
_HEADER = json.dumps({"w": {"dtype": "BF16", "shape": [2, 2], "data_offsets": [0, 8]}}).encode()
_SAFETENSORS = len(_HEADER).to_bytes(8, "little") + _HEADER + bytes(8)
# Quantization settings beside config.json (AutoGPTQ, AutoAWQ, ModelOpt): read by the facts.
for _name in ("quantize_config.json", "quant_config.json", "hf_quant_config.json"):
    for _what, _data in (("not json", b"{oops"), ("a list", b"[1]"), ("binary", b"\xff\xfe"),
                         ("odd section", b'{"quantization": 7, "quant_method": 3}')):  # fmt: skip
        MODEL_FOLDERS[f"{_name} {_what}"] = {
            "config.json": _SMALL_LLAMA, "model.safetensors": _SAFETENSORS, _name: _data,
        }  # fmt: skip


@pytest.mark.parametrize("case", MODEL_FOLDERS)
def test_malformed_model_folders_are_problems(
    tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    for name, data in MODEL_FOLDERS[case].items():
        (folder / name).write_bytes(data)
    raw = small_raw()
    raw["tiers"][0]["modelId"] = str(folder)
    stack = tmp_path / "Pulumi.dev.yaml"
    stack.write_text(yaml.safe_dump({"config": {"tgi-infra:platform": raw}}))
    code = main(["validate", "--config", str(stack)])
    out = capsys.readouterr().out
    assert code in (0, EXIT_PROBLEMS), out
    assert "internal error" not in out and "Traceback" not in out


FLAGS = [
    ["validate"],
    ["validate", "--stack"],
    ["validate", "--stack", "dev", "--config", "x"],
    ["validate", "--stack", "a/b"],
    ["validate", "--stack", "x" * 500],
    ["validate", "--config", "/nonexistent/Pulumi.x.yaml"],
    ["validate", "--config", "/"],
    ["validate", "--config", "/dev/null"],
    ["plan", "--config", "/proc/self/status"],
    ["render", "--stack", "dev"],
    ["render", "--stack", "dev", "--out", "/proc/self/status"],
    ["check", "--stack", "dev", "--format", "xml"],
    ["check", "--stack", "dev", "--policy-config", "/etc/hostname"],
    ["config-reference", "--out", "/"],
    ["bogus"],
]


@pytest.mark.parametrize("argv", FLAGS, ids=[" ".join(a)[:40] for a in FLAGS])
def test_bad_flags_are_usage_or_problems(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    assert code in (EXIT_PROBLEMS, EXIT_USAGE), (code, out)
    assert "internal error" not in out.out + out.err


def test_parse_platform_refuses_non_mappings() -> None:
    for raw in (None, [], "x", 1):
        with pytest.raises(ConfigInvalid):
            parse_platform(raw)
