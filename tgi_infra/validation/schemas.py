"""Schema validation of rendered Kubernetes objects.

Core types go through `kubernetes-validate --strict` (unknown fields are errors). Custom
resources are checked against the `openAPIV3Schema` of their CRD, read from a folder of
CRD YAML files (`TGI_INFRA_CRDS`, or `../shared/crds` beside the project checkout).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from tgi_infra.manifests.kinds import CORE_GROUPS as CORE_GROUPS
from tgi_infra.manifests.kinds import api_group as api_group
from tgi_infra.manifests.kinds import is_custom_resource

KUBERNETES_VERSION = "1.33"


class SchemaUnavailable(Exception):
    """No CRD folder, or no CRD in it for this kind."""


def crd_directory() -> Path | None:
    configured = os.environ.get("TGI_INFRA_CRDS")
    candidates = [Path(configured)] if configured else []
    here = Path(__file__).resolve()
    candidates += [parent.parent / "shared" / "crds" for parent in here.parents[1:4]]
    candidates.append(Path.cwd().parent / "shared" / "crds")
    return next((c for c in candidates if c.is_dir()), None)


@functools.cache
def _crd_schemas(directory: Path) -> dict[tuple[str, str, str], dict[str, Any]]:
    """(group, version, kind) -> openAPIV3Schema, for every CRD file in the folder."""
    schemas: dict[tuple[str, str, str], dict[str, Any]] = {}
    for path in sorted(directory.glob("*.yaml")):
        # libyaml's loader when built in: the vendored CRDs are ~4 MB (2.3 s -> 0.25 s).
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        for doc in yaml.load_all(path.read_text(), Loader=loader):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for version in spec["versions"]:
                schema = (version.get("schema") or {}).get("openAPIV3Schema")
                if schema:
                    key = (spec["group"], version["name"], spec["names"]["kind"])
                    schemas[key] = schema
    return schemas


def validate_custom_resource(obj: dict[str, Any], directory: Path | None = None) -> list[str]:
    """Errors of `obj` against its CRD schema (empty when valid)."""
    directory = directory or crd_directory()
    if directory is None:
        raise SchemaUnavailable("no CRD folder: set TGI_INFRA_CRDS or keep ../shared/crds")
    group, _, version = obj.get("apiVersion", "").partition("/")
    key = (group, version, obj.get("kind", ""))
    validator = _crd_validator(directory, key)
    if validator is None:
        raise SchemaUnavailable(f"no CRD for {key} in {directory}")
    return [
        f"{obj['kind']}/{obj.get('metadata', {}).get('name')}: "
        f"{'.'.join(str(p) for p in err.absolute_path) or '<root>'}: {err.message}"
        for err in sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
    ]


@functools.cache
def _crd_validator(directory: Path, key: tuple[str, str, str]) -> jsonschema.Draft7Validator | None:
    """The strict validator of one CRD version, built once (a plan has hundreds of each)."""
    schema = _crd_schemas(directory).get(key)
    return None if schema is None else jsonschema.Draft7Validator(_strict(schema))


def _strict(schema: Any) -> Any:
    """Reject unknown fields the way the API server prunes them, as kubectl --strict does."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items()}
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if (
        schema.get("type") == "object"
        and "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
        and not schema.get("x-kubernetes-embedded-resource")
    ):
        out["additionalProperties"] = False
        if "metadata" in schema["properties"]:
            out["properties"]["metadata"] = {"type": "object"}
    return out


def validate_core_object(obj: dict[str, Any], version: str = KUBERNETES_VERSION) -> list[str]:
    """Errors of a core object under `kubernetes-validate --strict` (empty when valid).

    The same schema files, validator class and first error as `kubernetes_validate.validate`,
    with each kind's validator built once: the library re-reads and re-parses the schema and
    its 4 MB `_definitions.json` for every object (20 s for the 1,000 objects of 50 tiers).
    """
    import kubernetes_validate

    try:
        validator = _core_validator(version, obj["apiVersion"], obj["kind"])
    except FileNotFoundError:
        err = kubernetes_validate.SchemaNotFoundError(
            version=version, kind=obj["kind"], api_version=obj["apiVersion"]
        )
        return [f"{obj['kind']}: no schema ({err})"]
    error = next(iter(validator.iter_errors(obj)), None)  # the library's first error
    if error is None:
        return []
    where = ".".join(str(p) for p in error.path) or "<root>"
    return [f"{obj['kind']}/{obj['metadata'].get('name')}: {where}: {error.message}"]


@functools.cache
def _core_definitions(folder: str, version: str) -> dict[str, Any]:
    """The folder's `_definitions.json`, parsed once for every kind."""
    from kubernetes_validate import utils

    return utils.schema_contents(f"{folder}/_definitions.json", version)


@functools.cache
def _core_validator(version: str, api_version: str, kind: str) -> jsonschema.Validator:
    """kubernetes_validate's strict schema of one kind, as the library builds it."""
    import re

    from kubernetes_validate import utils
    from referencing import Registry, Resource

    wanted = utils.major_minor(version.removeprefix("v"))
    schema_version = [v for v in utils.all_versions() if utils.major_minor(v) <= wanted][-1]
    folder = f"kubernetes-json-schema/v{schema_version}-local-strict"
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    schema = utils.schema_contents(f"{folder}/{kind.lower()}-{group_version}.json", version)
    definitions = _core_definitions(folder, version)
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


def validate_object(obj: dict[str, Any]) -> list[str]:
    if is_custom_resource(obj):
        return validate_custom_resource(obj)
    return validate_core_object(obj)
