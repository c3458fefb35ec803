"""The base of every config model and the shared field types (no other config imports)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints
from pydantic.alias_generators import to_camel

DnsLabel = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$"),
]
"""A lowercase DNS label short enough to prefix Kubernetes object names (≤ 40 chars)."""


class Model(BaseModel):
    """Base for every config model: camelCase aliases, unknown keys rejected, strict types
    (no `true` or `2.0` turned into an integer, no number into a string), finite floats
    (`.inf` or `.nan` would reach PromQL, JSON and the capacity arithmetic)."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        strict=True,
        allow_inf_nan=False,
    )
