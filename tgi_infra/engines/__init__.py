"""Serving engines as plug-ins: TGI (the default), vLLM and SGLang.

One subpackage per engine owns everything that names that engine: its pinned image, how a
tier's settings become its flags and env, its port and probes, its metrics and how they map
onto the engine-neutral series (`<engine>/metrics.py`), its startup rules and its memory
model. Nothing outside this package names an engine's flag, metric or image.

The registry is the subpackages themselves: an engine is a subpackage whose `__init__`
exposes `ENGINE` (a `tgi_infra.engines.base.Engine`) and `DEFAULT_VERSION`. Adding one is
adding its subpackage; `tiers[].engine` accepts it from then on.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from tgi_infra.engines.base import Engine


def _discover() -> tuple[str, ...]:
    found = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.ispkg)
    return tuple(sorted(found, key=lambda n: n != "tgi"))  # the default first


def _default_version(name: str) -> str:
    """The pinned version, read from the subpackage without importing it (config imports
    this module; the plug-ins import config)."""
    init = Path(__file__).parent / name / "__init__.py"
    for line in init.read_text().splitlines():
        if line.startswith("DEFAULT_VERSION ="):
            return line.split("=", 1)[1].strip().strip("\"'")
    raise RuntimeError(f"engine {name}: its __init__ declares no DEFAULT_VERSION")


ENGINE_NAMES: tuple[str, ...] = _discover()
EngineName = Literal[ENGINE_NAMES]  # type: ignore[valid-type]

# The pinned release of each engine: TGI's last (maintenance mode since 2025-12-11), and
# the newest vLLM and SGLang on PyPI as of 2026-12-02.
DEFAULT_VERSIONS: dict[str, str] = {name: _default_version(name) for name in ENGINE_NAMES}


@functools.cache
def get_engine(name: str) -> Engine:
    """The plug-in of an engine by name (`tiers[].engine`)."""
    if name not in ENGINE_NAMES:
        raise KeyError(f"unknown engine {name!r}; known: {', '.join(ENGINE_NAMES)}")
    return importlib.import_module(f"{__name__}.{name}").ENGINE


def engine_of(tier: object) -> Engine:
    """The plug-in serving a tier (anything with an `engine` attribute)."""
    return get_engine(getattr(tier, "engine", "tgi"))
