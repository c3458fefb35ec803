"""Read a stack's config (a stack file or Pulumi's config) into a `PlatformConfig`.

Every way this can fail ends in `ConfigInvalid` carrying all problems at once, each with
a path in the stack's own terms (``tiers[chat].maxInputTokens``), never a traceback.
"""

from __future__ import annotations

import copy
import difflib
import reprlib
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from tgi_infra.config.models import PlatformConfig
from tgi_infra.config.safe_yaml import (
    MAX_DEPTH,
    MAX_INT,
    MAX_SCALAR_CHARS,
    YamlRefused,
    load_yaml,
)
from tgi_infra.problems import ConfigInvalid, Problem

CONFIG_NAMESPACE = "tgi-infra"
PLATFORM_KEY = f"{CONFIG_NAMESPACE}:platform"
MAX_NODES = 200_000
"""Values in one platform config: a 200-tier, 2000-tenant stack has about 20 000."""


def project_root(start: Path | None = None) -> Path:
    """The folder holding Pulumi.yaml: searched upward from `start` (default: cwd)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "Pulumi.yaml").is_file():
            return folder
    return Path(__file__).resolve().parents[2]


def stack_file(stack: str, root: Path | None = None) -> Path:
    return project_root(root) / "stacks" / f"Pulumi.{stack}.yaml"


def read_stack_file(path: Path) -> dict[str, Any]:
    """The `config:` mapping of a Pulumi stack file (read by the bounded YAML loader)."""
    if not path.is_file():
        raise ConfigInvalid(
            [
                Problem(
                    _bounded_text(str(path)),
                    "stack file not found (or not a regular file).",
                    "check --stack / --config.",
                    "stack-file",
                )
            ]
        )
    try:
        document = load_yaml(path) or {}
    except YamlRefused as exc:
        where = f"{path}:{exc.line}" if exc.line else str(path)
        raise ConfigInvalid(
            [Problem(_bounded_text(where), exc.reason, exc.fix, "stack-file")]
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("config", {}), dict):
        raise ConfigInvalid(
            [
                Problem(
                    _bounded_text(str(path)),
                    "a stack file is a mapping with a `config:` mapping.",
                    "see stacks/Pulumi.dev.yaml.",
                    "stack-file",
                )
            ]
        )
    return document.get("config") or {}


def platform_from_stack_config(config: dict[str, Any], source: str) -> PlatformConfig:
    raw = config.get(PLATFORM_KEY)
    if raw is None:
        raise ConfigInvalid(
            [
                Problem(
                    source,
                    f"no `{PLATFORM_KEY}` key.",
                    f"add `{PLATFORM_KEY}:` under `config:`.",
                    "stack-file",
                )
            ]
        )
    return parse_platform(raw)


def load_stack(path: Path) -> PlatformConfig:
    return platform_from_stack_config(read_stack_file(path), str(path))


def parse_platform(raw: Any) -> PlatformConfig:
    """Validate the structured `tgi-infra:platform` value; all schema problems at once.

    On schema problems the `ConfigInvalid` carries `partial`: the config with every list
    entry (tier, pool, tenant) or optional key that failed dropped, so that the semantic
    checks can still run on what parsed (see `salvage`).
    """
    if not isinstance(raw, dict):
        raise ConfigInvalid(
            [
                Problem(
                    "platform",
                    f"expected a mapping, got {type(raw).__name__}.",
                    "see docs/config.md.",
                )
            ]
        )
    shape = check_shape(raw)
    if shape:
        raise ConfigInvalid(shape)
    try:
        return PlatformConfig.model_validate(raw)
    except ValidationError as exc:
        problems = [_problem(err, raw) for err in exc.errors()]
        partial, dropped = salvage(raw, exc)
        raise ConfigInvalid(problems, partial=partial, dropped=dropped) from None


def check_shape(raw: Any) -> list[Problem]:
    """Bounds on the raw value before pydantic sees it: depth, entries, text, integers.

    The YAML loader already bounds stack files; this covers config handed over by Pulumi
    (JSON) and by callers. Iterative, so deep nesting cannot raise RecursionError.
    """
    stack: list[tuple[Any, tuple[Any, ...]]] = [(raw, ())]
    seen = 0
    while stack:
        node, loc = stack.pop()
        seen += 1
        where = format_path(loc, raw) if len(loc) < 12 else "platform"
        if seen > MAX_NODES:
            return [Problem("platform", f"more than {MAX_NODES} values.", "split the stack.")]
        if len(loc) > MAX_DEPTH:
            return [
                Problem(where, f"nested deeper than {MAX_DEPTH} levels.", "see docs/config.md.")
            ]
        if isinstance(node, dict):
            stack += [(v, (*loc, k)) for k, v in node.items()]
        elif isinstance(node, list):
            stack += [(v, (*loc, i)) for i, v in enumerate(node)]
        elif isinstance(node, str) and len(node) > MAX_SCALAR_CHARS:
            return [
                Problem(
                    where,
                    f"a text of {len(node)} characters (at most {MAX_SCALAR_CHARS}).",
                    "shorten it.",
                    "schema-string_too_long",
                )
            ]
        elif isinstance(node, int) and not isinstance(node, bool) and abs(node) > MAX_INT:
            return [
                Problem(
                    where,
                    f"{_short(node)} is out of range.",
                    f"use at most {MAX_INT}.",
                    "schema-int_range",
                )
            ]
    return []


def salvage(raw: dict[str, Any], exc: ValidationError) -> tuple[PlatformConfig | None, set[str]]:
    """What parsed: `raw` without the list entries and optional keys that failed.

    Returns the config (None when a required part itself failed) and the dropped names
    (``tiers[chat]``), so reference checks do not report what the schema already did.
    """
    fixed = copy.deepcopy(raw)
    dropped: set[str] = set()
    for _ in range(4):
        removals: dict[tuple[Any, ...], None] = {}
        for err in exc.errors():
            loc = tuple(k for k in err["loc"] if not _is_tag(k))
            cut = next((i for i, k in enumerate(loc) if isinstance(k, int)), None)
            target = loc[: cut + 1] if cut is not None else loc
            if target:
                removals[target] = None
        if not removals:
            return None, dropped
        for target in sorted(removals, key=_order, reverse=True):
            dropped.add(format_path(target, fixed))
            _remove(fixed, target)
        try:
            return PlatformConfig.model_validate(fixed), dropped
        except ValidationError as again:
            exc = again
    return None, dropped


def _is_tag(key: Any) -> bool:
    return isinstance(key, str) and key.startswith(("literal[", "function-"))


def _remove(node: Any, loc: tuple[Any, ...]) -> None:
    for key in loc[:-1]:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return
    last = loc[-1]
    if isinstance(node, list) and isinstance(last, int) and last < len(node):
        del node[last]
    elif isinstance(node, dict):
        node.pop(last, None)


def _order(loc: tuple[Any, ...]) -> list[tuple[int, Any]]:
    return [(0, k) if isinstance(k, int) else (1, str(k)) for k in loc]


def _problem(err: Any, raw: dict[str, Any]) -> Problem:
    loc = tuple(err["loc"])
    path = format_path(loc, raw)
    value = err.get("input")
    if err["type"] == "extra_forbidden":
        known = _known_keys(loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.5)
        fix = f"did you mean `{close[0]}`?" if close else f"known keys: {', '.join(known)}."
        return Problem(path, "unknown key.", fix, "unknown-key")
    if err["type"] == "missing":
        return Problem(
            path, "required key is missing.", "add it (see docs/config.md).", "missing-key"
        )
    shown = _short(value)
    return Problem(
        path,
        f"{shown} is not accepted: {str(err['msg']).removeprefix('Value error, ')}.",
        _fix_for(err),
        f"schema-{err['type']}",
    )


def format_path(loc: tuple[Any, ...], raw: Any) -> str:
    """('tiers', 0, 'maxInputTokens') -> 'tiers[chat].maxInputTokens' using names."""
    parts: list[str] = []
    node = raw
    for key in loc:
        if isinstance(key, int):
            item = node[key] if isinstance(node, list) and key < len(node) else None
            name = item.get("name") if isinstance(item, dict) else None
            usable = isinstance(name, str) and 0 < len(name) <= 64 and name.isprintable()
            parts.append(f"[{name}]" if usable else f"[{key}]")
            node = item
        else:
            if not isinstance(key, str) or key.startswith(("literal[", "function-")):
                continue
            key = key if len(key) <= 64 and key.isprintable() else repr(key[:40]) + "..."
            parts.append(f".{key}" if parts else key)
            node = node.get(key) if isinstance(node, dict) else None
    return "".join(parts) or "platform"


def _known_keys(loc: tuple[Any, ...]) -> list[str]:
    model: Any = PlatformConfig
    for key in loc:
        if isinstance(key, int):
            continue
        field = _field_by_alias(model, str(key))
        if field is None:
            return []
        model = _model_in(field.annotation)
        if model is None:
            return []
    return [f.alias or n for n, f in model.model_fields.items()]


def _field_by_alias(model: type[BaseModel], alias: str) -> Any:
    for name, field in model.model_fields.items():
        if alias in (field.alias, name):
            return field
    return None


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60
_REPR.maxlist = _REPR.maxdict = 4
_REPR.maxlevel = 2


def _short(value: Any) -> str:
    """A bounded rendering: never walks more than a few items of a large value."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"an integer of about {int(value.bit_length() * 0.30103)} digits"
    text = _REPR.repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _bounded_text(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fix_for(err: Any) -> str:
    ctx = err.get("ctx") or {}
    if "expected" in ctx:
        return f"use one of {ctx['expected']}."
    for bound, word in (("ge", "at least"), ("gt", "above"), ("le", "at most"), ("lt", "below")):
        if bound in ctx:
            return f"use a value {word} {ctx[bound]}."
    if "pattern" in ctx:
        return f"match the pattern {ctx['pattern']}."
    if "min_length" in ctx:
        return f"give at least {ctx['min_length']} item(s)/character(s)."
    return "see docs/config.md."
