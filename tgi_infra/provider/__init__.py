"""The components as a Pulumi component provider, for TypeScript, Go, C#, Java and YAML.

`component_provider_host` (pulumi.provider.experimental, Pulumi Python SDK >= 3.150)
infers the package schema from the args types of `Platform` and `Tier`
(`tgi_infra.provider.components`); `schema.json` beside this file is that schema, checked
in and compared in a test. Other languages add the package from this folder:

    pulumi package add "$(python -m tgi_infra.provider --path)"

and use `tgi-infra:index:Platform` / `tgi-infra:index:Tier` (see examples/yaml-platform).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PLUGIN_DIR = Path(__file__).resolve().parent
SCHEMA_FILE = PLUGIN_DIR / "schema.json"
PACKAGE = "tgi-infra"


def component_classes() -> list[type]:
    from tgi_infra.provider.components import Platform, Tier

    return [Platform, Tier]


def generate_schema(version: str = "0.0.0") -> dict[str, Any]:
    """The package schema the component provider host serves (GetSchema)."""
    from pulumi.provider.experimental.component import ComponentProvider

    provider = ComponentProvider(component_classes(), PACKAGE, None, version)  # type: ignore[arg-type]
    assert provider.schema is not None
    return json.loads(provider.schema)
