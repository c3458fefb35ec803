"""docs/config.md, generated from the pydantic models (`tgi-infra config-reference`)."""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from tgi_infra.config.models import PlatformConfig

HEADER = """\
# Stack config reference

Generated from `tgi_infra/config/models.py` by `tgi-infra config-reference`; do not edit.
The structured value of `tgi-infra:platform` in `stacks/Pulumi.<stack>.yaml`. Keys are
camelCase; unknown keys are errors. Secrets are never part of it: set them with
`pulumi config set --secret tgi-infra:hfToken hf_...` (and `tgi-infra:kubeconfig` when
`cluster.kubeconfigFromSecret` is true).
"""


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (types.UnionType, typing.Union):
        return " or ".join(_type_name(a) for a in args if a is not type(None)) + " (optional)"
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return f"map of {_type_name(args[0])} to {_type_name(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[{annotation.__name__}](#{annotation.__name__.lower()})"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    elif field.default is PydanticUndefined:
        return "**required**"
    else:
        value = field.default
    if isinstance(value, BaseModel):
        return "see section"
    return f"`{value!r}`" if value not in (None, [], {}) else f"`{value}`"


def _constraints(field: FieldInfo) -> str:
    out = []
    for meta in field.metadata:
        for attr, sign in (
            ("ge", "≥"),
            ("gt", ">"),
            ("le", "≤"),
            ("lt", "<"),
            ("min_length", "min length"),
        ):
            value = getattr(meta, attr, None)
            if value is not None:
                out.append(f"{sign} {value}")
        pattern = getattr(meta, "pattern", None)
        if pattern:
            out.append(f"pattern `{pattern}`")
    return "; ".join(out) or "–"


def _models(root: type[BaseModel]) -> list[type[BaseModel]]:
    seen: list[type[BaseModel]] = []

    def walk(model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.append(model)
        for field in model.model_fields.values():
            for arg in _flatten(field.annotation):
                if isinstance(arg, type) and issubclass(arg, BaseModel):
                    walk(arg)

    walk(root)
    return seen


def _flatten(annotation: Any) -> list[Any]:
    args = typing.get_args(annotation)
    return [annotation] + [a for arg in args for a in _flatten(arg)]


def render_reference() -> str:
    parts = [HEADER]
    for model in _models(PlatformConfig):
        parts.append(f"\n## {model.__name__}\n")
        doc = (model.__doc__ or "").strip().splitlines()
        if doc:
            parts.append(doc[0] + "\n")
        parts.append(
            "\n| key | type | default | constraints | description |\n|---|---|---|---|---|\n"
        )
        for name, field in model.model_fields.items():
            desc = (field.description or "").replace("|", "\\|")
            parts.append(
                f"| `{field.alias or name}` | {_type_name(field.annotation)} | "
                f"{_default(field)} | {_constraints(field)} | {desc} |\n"
            )
    return "".join(parts)
