"""Extract each engine's CLI (flags, env vars, enums) from its source at the pinned release.

Writes `tgi_infra/engines/<engine>/cli.json`, the known-flag table the plug-ins validate
`engineArgs` against and the tests check every rendered container against. Run it when an
engine's pinned version moves (it needs the sources, not the network):

    python tools/extract_engine_cli.py vllm   /work/engine-src/vllm-0.34.0   0.34.0
    python tools/extract_engine_cli.py sglang /work/engine-src/sglang-0.5.23 0.5.23
    python tools/extract_engine_cli.py tgi    <text-generation-inference checkout> 3.3.7
    python tools/extract_engine_cli.py hub    <site-packages>                  <version>

- vLLM (PyPI wheel): the flags are built from config dataclasses behind
  `vllm/engine/arg_utils.py`; they are read here without importing vLLM (it needs torch):
  the option strings of every `add_argument` in `EngineArgs.add_cli_args` /
  `AsyncEngineArgs.add_cli_args`, typed by the `EngineArgs` field annotations the way
  `_compute_kwargs` types them (bool before Literal before collections before int/float);
  the frontend's `BaseFrontendArgs` / `FrontendArgs` fields and `make_arg_parser`'s own flags
  (`vllm/entrypoints/common/cli_args.py`); env vars: the keys of `environment_variables` in
  `vllm/envs.py`.
- SGLang (PyPI wheel): the argparse parser SGLang itself builds,
  `arg_utils.add_cli_args_from_dataclass` over the namespaces in
  `sglang/srt/arg_groups/fields/*.py` (modules outside `arg_groups` are stubbed, so choices
  computed there read as free text), plus the flags `ServerArgs.add_cli_args` adds by hand
  (`sglang/srt/server_args.py`); env vars: the `Envs` class of `sglang/srt/environ.py`.
  Needs `msgspec` (`pip install msgspec` in a scratch venv).
- TGI (git tag): `struct Args` of `launcher/src/main.rs` (`#[clap(long, env)]`: flag
  `--field-name`, env `FIELD_NAME`), the enums it names, and the env vars the launcher and
  server read directly (`env::var` / `os.getenv`).
- hub: the env vars huggingface_hub reads (`huggingface_hub/constants.py`), which every
  engine's downloads go through.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.abc
import importlib.machinery
import json
import pkgutil
import re
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "tgi_infra" / "engines"


def _write(engine: str, data: dict[str, Any]) -> None:
    path = OUT / engine / "cli.json"
    path.write_text(_compact(data))
    print(f"{path}: {len(data.get('flags', {}))} flags, {len(data.get('env', []))} env vars")


def _compact(data: dict[str, Any]) -> str:
    """JSON with one flag (or one list) per line: small, and diffs read per flag."""
    lines = []
    for key, value in data.items():
        if isinstance(value, dict):
            inner = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in value.items())
            lines.append(f"{json.dumps(key)}: {{\n{inner}\n}}")
        else:
            lines.append(f"{json.dumps(key)}: {json.dumps(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


# --------------------------------------------------------------------------- vLLM


def _literal_aliases(files: list[Path]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in files:
        for node in ast.parse(f.read_text()).body:
            if isinstance(node, ast.Assign | ast.AnnAssign):
                target = node.targets[0] if isinstance(node, ast.Assign) else node.target
                value = node.value
                if (
                    isinstance(target, ast.Name)
                    and isinstance(value, ast.Subscript)
                    and ast.unparse(value.value) in ("Literal", "typing.Literal")
                ):
                    elts = value.slice.elts if isinstance(value.slice, ast.Tuple) else [value.slice]
                    vals = [e.value for e in elts if isinstance(e, ast.Constant)]
                    out[target.id] = [v for v in vals if isinstance(v, str)]
    return out


def _class_fields(tree: ast.Module, name: str) -> dict[str, str]:
    cls = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == name)
    return {
        n.target.id: ast.unparse(n.annotation)
        for n in cls.body
        if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
    }


def _vllm_kind(annotation: str, aliases: dict[str, list[str]]) -> dict[str, Any]:
    """Mirror `_compute_kwargs`'s order: bool, Literal, collections, int, float, dict, str."""
    parts = [p.strip() for p in re.split(r"\|", annotation)]
    if "bool" in parts and "str" in parts:
        return {"kind": "optional-value", "type": "str"}
    if "bool" in parts:
        return {"kind": "bool-optional"}
    literal = re.match(r"Literal\[(.*)\]", parts[0])
    choices = None
    if literal:
        choices = [v for v in re.findall(r"'([^']*)'|\"([^\"]*)\"", literal.group(1))]
        choices = [a or b for a, b in choices]
    elif parts[0] in aliases:
        choices = aliases[parts[0]]
    if choices is not None:
        # `X | str`: argparse takes any string and the engine resolves it later.
        return {
            "kind": "value",
            "type": "str",
            "choices": None if "str" in parts else choices,
            "known_values": choices,
        }
    head = parts[0].split("[", 1)[0]
    if head in ("list", "tuple", "set"):
        return {"kind": "list", "type": "str"}
    for typ in ("int", "float"):
        if typ in parts:
            return {"kind": "value", "type": typ}
    if head == "dict" or any(p.startswith("dict") for p in parts):
        return {"kind": "value", "type": "json"}
    return {"kind": "value", "type": "str"}


def _add_argument_calls(
    fn: ast.AST,
) -> list[tuple[list[str], str | None, dict[str, str], str | None]]:
    calls = []
    for node in ast.walk(fn):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "add_argument"
        ):
            continue
        opts = [
            a.value
            for a in node.args
            if isinstance(a, ast.Constant) and isinstance(a.value, str) and a.value.startswith("-")
        ]
        field = source = None
        kw: dict[str, str] = {}
        for k in node.keywords:
            if k.arg is None and isinstance(k.value, ast.Subscript):
                sl = k.value.slice
                if isinstance(sl, ast.Constant):
                    field = sl.value
                    source = ast.unparse(k.value.value)
            elif k.arg:
                kw[k.arg] = ast.unparse(k.value)
        if opts:
            calls.append((opts, field, kw, source))
    return calls


def extract_vllm(src: Path, version: str) -> None:
    v = src / "vllm"
    arg_utils = v / "engine" / "arg_utils.py"
    cli_args = v / "entrypoints" / "common" / "cli_args.py"
    aliases = _literal_aliases(
        [
            *sorted((v / "config").glob("*.py")),
            v / "model_executor/layers/quantization/__init__.py",
            cli_args,
            arg_utils,
        ]
    )
    tree = ast.parse(arg_utils.read_text())
    engine_fields = _class_fields(tree, "EngineArgs") | _class_fields(tree, "AsyncEngineArgs")
    config_fields: dict[str, dict[str, str]] = {}
    for f in sorted((v / "config").glob("*.py")):
        ftree = ast.parse(f.read_text())
        for n in ftree.body:
            if isinstance(n, ast.ClassDef):
                config_fields[n.name] = _class_fields(ftree, n.name)
    flags: dict[str, Any] = {}

    def add(opts: list[str], spec: dict[str, Any]) -> None:
        long = [o for o in opts if o.startswith("--")]
        main = long[0] if long else opts[0]
        flags[main] = {
            **spec,
            **({"aliases": [o for o in opts if o != main]} if len(opts) > 1 else {}),
        }

    for cls in ("EngineArgs", "AsyncEngineArgs"):
        node = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == cls)
        fn = next(
            n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "add_cli_args"
        )
        # `model_kwargs = get_kwargs(ModelConfig)`: which config class types each flag.
        sources: dict[str, str] = {
            n.targets[0].id: n.value.args[0].id
            for n in ast.walk(fn)
            if isinstance(n, ast.Assign)
            and isinstance(n.targets[0], ast.Name)
            and isinstance(n.value, ast.Call)
            and ast.unparse(n.value.func) == "get_kwargs"
            and isinstance(n.value.args[0], ast.Name)
        }
        for opts, field, kw, source in _add_argument_calls(fn):
            annotations = config_fields.get(sources.get(source or "", ""), {})
            if field in annotations:
                engine_fields_here = {field: annotations[field]}
            else:
                engine_fields_here = engine_fields
            name = (
                field or kw.get("dest", "").strip("'\"") or opts[-1].lstrip("-").replace("-", "_")
            )
            if "BooleanOptionalAction" in kw.get("action", ""):
                spec = {"kind": "bool-optional"}
            elif "store_true" in kw.get("action", ""):
                spec = {"kind": "bool"}
            elif name in engine_fields_here:
                spec = _vllm_kind(engine_fields_here[name], aliases)
            else:
                spec = {"kind": "value", "type": "str"}
            add(opts, {"field": name, **spec})
    ctree = ast.parse(cli_args.read_text())
    for cls in ("BaseFrontendArgs", "FrontendArgs"):
        for name, ann in _class_fields(ctree, cls).items():
            add([f"--{name.replace('_', '-')}"], {"field": name, **_vllm_kind(ann, aliases)})
    mk = next(
        n for n in ast.walk(ctree) if isinstance(n, ast.FunctionDef) and n.name == "make_arg_parser"
    )
    for opts, _field, kw, _src in _add_argument_calls(mk):
        kind = (
            {"kind": "bool"}
            if "store_true" in kw.get("action", "")
            else {"kind": "value", "type": "int" if kw.get("type") == "int" else "str"}
        )
        add(opts, {"field": opts[0].lstrip("-").replace("-", "_"), **kind})
    envs_tree = ast.parse((v / "envs.py").read_text())
    env: list[str] = []
    for node in envs_tree.body:
        target = (
            node.target
            if isinstance(node, ast.AnnAssign)
            else (node.targets[0] if isinstance(node, ast.Assign) else None)
        )
        if isinstance(target, ast.Name) and target.id == "environment_variables":
            env = [k.value for k in node.value.keys if isinstance(k, ast.Constant)]
    _write(
        "vllm",
        {
            "engine": "vllm",
            "version": version,
            "source": f"vllm {version} wheel (PyPI): vllm/engine/arg_utils.py (EngineArgs, "
            "AsyncEngineArgs add_cli_args), vllm/entrypoints/common/cli_args.py (BaseFrontendArgs, "
            "FrontendArgs, make_arg_parser), vllm/envs.py (environment_variables), enums from "
            "vllm/config/model.py ModelDType, vllm/config/cache.py CacheDType, "
            "vllm/model_executor/layers/quantization/__init__.py QuantizationMethods",
            "enums": {
                "quantization": aliases["QuantizationMethods"],
                "dtype": aliases["ModelDType"],
                "kv_cache_dtype": aliases["CacheDType"],
            },
            "env": sorted(env),
            "flags": dict(sorted(flags.items())),
        },
    )


# --------------------------------------------------------------------------- SGLang


class _Any:
    """Whatever a stubbed module hands out: callable, iterable, falsy, subclassable."""

    def __init__(self, *a: object, **k: object) -> None:
        pass

    def __getattr__(self, a: str) -> Any:
        if a.startswith("__"):
            raise AttributeError(a)
        return _Any()

    def __call__(self, *a: object, **k: object) -> Any:
        return _Any()

    def __iter__(self) -> Any:
        return iter(())

    def __bool__(self) -> bool:
        return False

    def __getitem__(self, k: object) -> Any:
        return _Any()

    def __add__(self, o: object) -> object:
        return o

    __radd__ = __or__ = __ror__ = __add__

    def __mro_entries__(self, bases: tuple) -> tuple:
        return (object,)


class _Stub(types.ModuleType):
    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _Any()


class _Stubs(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    HEAVY = (
        "torch",
        "numpy",
        "transformers",
        "triton",
        "sglang.srt.utils",
        "sglang.srt.lora",
        "sglang.srt.layers",
        "sglang.srt.model_executor",
        "sglang.srt.managers",
        "sglang.srt.distributed",
    )

    def __init__(self, early: bool) -> None:
        self.early = early

    def find_spec(self, name: str, path: object, target: object = None) -> Any:
        if not self.early or name.startswith(self.HEAVY):
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec: Any) -> types.ModuleType:
        m = _Stub(spec.name)
        m.__path__ = []
        return m

    def exec_module(self, module: types.ModuleType) -> None:
        pass


def extract_sglang(src: Path, version: str) -> None:
    root = src / "sglang"
    sys.meta_path.insert(0, _Stubs(early=True))
    sys.meta_path.append(_Stubs(early=False))
    for name, path in (("sglang", root), ("sglang.srt", root / "srt")):
        m = types.ModuleType(name)
        m.__path__ = [str(path)]
        sys.modules[name] = m
    au = importlib.import_module("sglang.srt.arg_groups.arg_utils")
    parser = argparse.ArgumentParser(add_help=False)
    fields_dir = root / "srt" / "arg_groups" / "fields"
    for mi in pkgutil.iter_modules([str(fields_dir)]):
        mod = importlib.import_module(f"sglang.srt.arg_groups.fields.{mi.name}")
        for obj in vars(mod).values():
            if (
                isinstance(obj, type)
                and hasattr(obj, "_NS_PATH")
                and obj.__module__ == mod.__name__
            ):
                au.add_cli_args_from_dataclass(parser, obj)
    flags: dict[str, Any] = {}
    for a in parser._actions:
        long = [o for o in a.option_strings if o.startswith("--")]
        if not long:
            continue
        if isinstance(a, argparse._StoreTrueAction):
            spec: dict[str, Any] = {"kind": "bool"}
        elif a.nargs in ("+", "*"):
            spec = {"kind": "list", "type": getattr(a.type, "__name__", "str")}
        else:
            typ = a.type.__name__ if a.type in (int, float, str) else "str"
            spec = {"kind": "value", "type": typ}
            if a.choices:
                spec["choices"] = [c for c in a.choices if c is not None]
        if a.option_strings[1:]:
            spec["aliases"] = a.option_strings[1:]
        flags[long[0]] = {"field": a.dest, **spec}
    server_args = ast.parse((root / "srt" / "server_args.py").read_text())
    fn = next(
        n
        for n in ast.walk(server_args)
        if isinstance(n, ast.FunctionDef) and n.name == "add_cli_args"
    )
    for opts, _field, kw, _src in _add_argument_calls(fn):
        kind = (
            {"kind": "bool"}
            if "store_true" in kw.get("action", "")
            else {"kind": "value", "type": "str"}
        )
        flags.setdefault(opts[0], {"field": opts[0][2:].replace("-", "_"), **kind})
    spec = importlib.util.spec_from_file_location("_sgl_environ", root / "srt" / "environ.py")
    environ = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(environ)
    env = sorted(k for k, v in vars(environ.Envs).items() if isinstance(v, environ.EnvField))
    _write(
        "sglang",
        {
            "engine": "sglang",
            "version": version,
            "source": f"sglang {version} wheel (PyPI): argparse built by "
            "sglang/srt/arg_groups/arg_utils.py add_cli_args_from_dataclass over "
            "sglang/srt/arg_groups/fields/*.py, plus sglang/srt/server_args.py "
            "ServerArgs.add_cli_args; env vars: sglang/srt/environ.py class Envs",
            "enums": {
                "quantization": flags["--quantization"]["choices"],
                "dtype": flags["--dtype"]["choices"],
                "kv_cache_dtype": flags["--kv-cache-dtype"]["choices"],
            },
            "env": env,
            "flags": dict(sorted(flags.items())),
        },
    )


# --------------------------------------------------------------------------- TGI


_RUST_UNSIGNED = {"u16": 2**16 - 1, "u32": 2**32 - 1, "u64": 2**64 - 1, "usize": 2**64 - 1}
"""The largest value of each unsigned Rust integer the launcher parses (usize: 64-bit)."""


def _rust_enum(text: str, name: str) -> list[str]:
    body = re.search(rf"enum {name} \{{(.*?)\n\}}", text, re.S).group(1)
    out = []
    pending = None
    for line in body.splitlines():
        line = line.strip()
        if line.startswith("//"):
            continue
        m = re.match(r'#\[clap\(name = "([^"]+)"\)\]', line)
        if m:
            pending = m.group(1)
            continue
        m = re.match(r"([A-Z][A-Za-z0-9]*),", line)
        if m:
            out.append(pending or re.sub(r"(?<!^)(?=[A-Z])", "-", m.group(1)).lower())
            pending = None
    return out


def extract_tgi(repo: Path, version: str) -> None:
    tag = f"v{version}"
    commit = subprocess.check_output(["git", "-C", str(repo), "rev-parse", tag], text=True).strip()

    def show(path: str) -> str:
        return subprocess.check_output(["git", "-C", str(repo), "show", f"{tag}:{path}"], text=True)

    main = show("launcher/src/main.rs")
    args = re.search(r"\nstruct Args \{(.*?)\n\}", main, re.S).group(1)
    flags: dict[str, Any] = {}
    env: set[str] = set()
    for attr, name, typ in re.findall(r"#\[clap\(([^)]*)\)\]\s*\n\s*([a-z_]+): ([^,\n]+),", args):
        opts = [a.strip() for a in attr.split(",")]
        if "long" not in opts:
            continue
        inner = re.sub(r"^Option<(.*)>$", r"\1", typ.strip())
        if inner == "bool" and typ.strip() == "bool":
            spec: dict[str, Any] = {"kind": "bool"}
        elif inner.startswith("Vec<"):
            spec = {"kind": "list", "type": "str"}
        else:
            kind = {"usize": "int", "u16": "int", "u32": "int", "u64": "int", "f32": "float"}
            spec = {"kind": "value", "type": "bool" if inner == "bool" else kind.get(inner, "str")}
            if inner in _RUST_UNSIGNED:  # clap refuses what the type cannot hold
                spec["min"], spec["max"] = 0, _RUST_UNSIGNED[inner]
        if re.fullmatch(r"[A-Z][A-Za-z]+", inner) and inner not in ("String",):
            spec["choices"] = _rust_enum(main, inner)
        if "env" in opts:
            spec["env"] = name.upper()
            env.add(name.upper())
        flags["--" + name.replace("_", "-")] = {"field": name, **spec}
    env |= set(re.findall(r'env::var(?:_os)?\("([A-Z_0-9]+)"\)', main))
    server = subprocess.check_output(
        [
            "git",
            "-C",
            str(repo),
            "grep",
            "-ho",
            "-E",
            r'os\.(getenv|environ\.get)\("[A-Z_0-9]+"|os\.environ\["[A-Z_0-9]+"\]',
            tag,
            "--",
            "server/text_generation_server",
        ],
        text=True,
    )
    env |= set(re.findall(r'"([A-Z_0-9]+)"', server))
    _write(
        "tgi",
        {
            "engine": "tgi",
            "version": version,
            "source": f"huggingface/text-generation-inference {tag} ({commit}): "
            "launcher/src/main.rs struct Args (#[clap(long, env)]), enums "
            "Quantization/Dtype/KVCacheDtype/UsageStatsLevel, env::var calls; "
            "server/text_generation_server os.getenv/os.environ reads",
            "enums": {
                "quantization": _rust_enum(main, "Quantization"),
                "dtype": _rust_enum(main, "Dtype"),
                "kv_cache_dtype": _rust_enum(main, "KVCacheDtype"),
            },
            "env": sorted(env),
            "flags": dict(sorted(flags.items())),
        },
    )


def extract_hub(site: Path, version: str) -> None:
    files = ("constants.py", "utils/_auth.py")
    env: set[str] = set()
    for name in files:
        text = (site / "huggingface_hub" / name).read_text()
        env |= set(re.findall(r'os\.(?:getenv|environ\.get)\(\s*"([A-Z_0-9]+)"', text))
    env = sorted(env)
    path = OUT / "hub_env.json"
    path.write_text(
        json.dumps(
            {
                "source": f"huggingface_hub {version}: huggingface_hub/constants.py and "
                "utils/_auth.py (os.getenv / os.environ.get); read by every engine's Hub "
                "client",
                "env": env,
            },
            indent=1,
        )
        + "\n"
    )
    print(f"{path}: {len(env)} env vars")


if __name__ == "__main__":
    engine, src, version = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    {"vllm": extract_vllm, "sglang": extract_sglang, "tgi": extract_tgi, "hub": extract_hub}[
        engine
    ](src, version)
