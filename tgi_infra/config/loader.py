"""Read a stack's config (a stack file or Pulumi's config) into a `PlatformConfig`.

Every way this can fail ends in `ConfigInvalid` carrying all problems at once, each with
a path in the stack's own terms (``tiers[chat].maxInputTokens``), never a traceback.
"""

from __future__ import annotations

import difflib
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from tgi_infra.config.models import PlatformConfig
from tgi_infra.problems import ConfigInvalid, Problem

CONFIG_NAMESPACE = "tgi-infra"
PLATFORM_KEY = f"{CONFIG_NAMESPACE}:platform"


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
    """The `config:` mapping of a Pulumi stack file."""
    if not path.is_file():
        raise ConfigInvalid(
            [Problem(str(path), "stack file not found.", "check --stack / --config.", "stack-file")]
        )
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigInvalid(
            [
                Problem(
                    where,
                    f"not valid YAML ({getattr(exc, 'problem', exc)}).",
                    "fix the YAML syntax.",
                    "stack-file",
                )
            ]
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("config", {}), dict):
        raise ConfigInvalid(
            [
                Problem(
                    str(path),
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
    """Validate the structured `tgi-infra:platform` value; all schema problems at once."""
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
    try:
        return PlatformConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigInvalid([_problem(err, raw) for err in exc.errors()]) from None


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
        path, f"{shown} is not accepted: {err['msg']}.", _fix_for(err), f"schema-{err['type']}"
    )


def format_path(loc: tuple[Any, ...], raw: Any) -> str:
    """('tiers', 0, 'maxInputTokens') -> 'tiers[chat].maxInputTokens' using names."""
    parts: list[str] = []
    node = raw
    for key in loc:
        if isinstance(key, int):
            item = node[key] if isinstance(node, list) and key < len(node) else None
            name = item.get("name") if isinstance(item, dict) else None
            parts.append(f"[{name}]" if isinstance(name, str) and name else f"[{key}]")
            node = item
        else:
            if not isinstance(key, str) or key.startswith(("literal[", "function-")):
                continue
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


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


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
