"""Validate rendered objects against real schemas: Kubernetes core types and vendored CRDs."""

from tgi_infra.validation.schemas import (
    KUBERNETES_VERSION,
    SchemaUnavailable,
    crd_directory,
    is_custom_resource,
    validate_core_object,
    validate_custom_resource,
    validate_object,
)

__all__ = [
    "KUBERNETES_VERSION",
    "SchemaUnavailable",
    "crd_directory",
    "is_custom_resource",
    "validate_core_object",
    "validate_custom_resource",
    "validate_object",
]
