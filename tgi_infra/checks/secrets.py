"""Secret config in a stack file: stored encrypted (`secure:`), well-formed, and used.

`pulumi config set --secret` writes a secret as ``{secure: <ciphertext>}``; a bare string
under a secret key is plaintext in Git. That is an error in staging and prod and a warning
in dev. Tenant keys (``tgi-infra:tenantKeys``, set with ``--path``) must map tenant names
to secret keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tgi_infra.config.models import PlatformConfig
from tgi_infra.problems import Problem

NAMESPACE = "tgi-infra"
HF_TOKEN_KEY = f"{NAMESPACE}:hfToken"
KUBECONFIG_KEY = f"{NAMESPACE}:kubeconfig"
TENANT_KEYS_KEY = f"{NAMESPACE}:tenantKeys"
SECRET_KEYS = (HF_TOKEN_KEY, KUBECONFIG_KEY, TENANT_KEYS_KEY)


def is_secure(value: Any) -> bool:
    """A value `pulumi config set --secret` wrote: ``{secure: <ciphertext>}``, the
    ciphertext a non-empty string."""
    return (
        isinstance(value, Mapping)
        and set(value) == {"secure"}
        and isinstance(value["secure"], str)
        and bool(value["secure"].strip())
    )


def _malformed_secure(key: str, value: Any, set_cmd: str) -> Problem | None:
    """A `secure:` mapping Pulumi cannot decrypt (not one non-empty ciphertext string)."""
    if not isinstance(value, Mapping) or "secure" not in value or is_secure(value):
        return None
    return Problem(
        key,
        "has a `secure:` entry that is not a lone ciphertext string (Pulumi cannot "
        "decrypt it; a value under it may be plaintext).",
        f"remove it from the file, then `{set_cmd}`.",
        "secret-shape",
    )


def declared_secrets(config: Mapping[str, Any]) -> list[str]:
    """The stack's secret config keys (encrypted, or nested encrypted under --path)."""
    out = []
    for key, value in config.items():
        if is_secure(value) or (
            isinstance(value, Mapping) and any(is_secure(v) for v in value.values())
        ):
            out.append(str(key))
    return out


def _plaintext(key: str, cfg: PlatformConfig | None, set_cmd: str) -> Problem:
    severity = "warning" if cfg is not None and cfg.environment == "dev" else "error"
    return Problem(
        key,
        "is a plaintext secret in the stack file (it ends up in Git and in logs).",
        f"remove it from the file, then `{set_cmd}`, and rotate the exposed value.",
        "plaintext-secret",
        severity,
    )


def check_stack_secrets(config: Mapping[str, Any], cfg: PlatformConfig | None) -> list[Problem]:
    """Plaintext secrets, malformed tenant keys, and a missing kubeconfig secret."""
    problems: list[Problem] = []
    for key, value, set_cmd in (
        (
            HF_TOKEN_KEY,
            config.get(HF_TOKEN_KEY),
            f"pulumi config set --secret {HF_TOKEN_KEY} hf_...",
        ),
        (
            KUBECONFIG_KEY,
            config.get(KUBECONFIG_KEY),
            f'pulumi config set --secret {KUBECONFIG_KEY} "$(cat kubeconfig)"',
        ),
    ):
        if value is not None and not is_secure(value):
            problems.append(_malformed_secure(key, value, set_cmd) or _plaintext(key, cfg, set_cmd))
    kube = config.get(KUBECONFIG_KEY)
    if cfg is not None and cfg.cluster.kubeconfig_from_secret and kube is None:
        problems.append(
            Problem(
                "cluster.kubeconfigFromSecret",
                f"is true but the stack sets no `{KUBECONFIG_KEY}`: `pulumi up` would stop.",
                f'pulumi config set --secret {KUBECONFIG_KEY} "$(cat kubeconfig)"',
                "kubeconfig-secret",
            )
        )
    problems += check_tenant_keys(config.get(TENANT_KEYS_KEY), cfg)
    return problems


def check_tenant_keys(raw: Any, cfg: PlatformConfig | None) -> list[Problem]:
    """`tgi-infra:tenantKeys`: a mapping of tenant name to a secret key."""
    if raw is None:
        return []
    set_cmd = "pulumi config set --secret --path 'tenantKeys.<tenant>' <key>"
    if is_secure(raw):
        return []  # one encrypted JSON object: its shape is checked by the program
    malformed = _malformed_secure(TENANT_KEYS_KEY, raw, set_cmd)
    if malformed:
        return [malformed]
    if not isinstance(raw, Mapping):
        return [
            Problem(
                TENANT_KEYS_KEY,
                f"must map tenant names to keys, got {type(raw).__name__}.",
                set_cmd,
                "tenant-key-shape",
            )
        ]
    tenants = {t.name for t in cfg.tenants} if cfg is not None else None
    problems = []
    for name, value in list(raw.items())[:10_000]:
        path = f"{TENANT_KEYS_KEY}.{str(name)[:64]}"
        if tenants is not None and name not in tenants:
            shown = sorted(tenants)[:10]
            problems.append(
                Problem(
                    path,
                    f"{str(name)[:64]!r} is not a tenant: this key would never be used and the "
                    "tenant you meant gets a generated key.",
                    f"use one of {shown}{' ...' if len(tenants) > 10 else ''}, or add the tenant.",
                    "tenant-key-unknown",
                )
            )
        if isinstance(value, str):
            problems.append(_plaintext(path, cfg, set_cmd.replace("<tenant>", str(name)[:64])))
        elif not is_secure(value):
            problems.append(
                _malformed_secure(path, value, set_cmd.replace("<tenant>", str(name)[:64]))
                or Problem(
                    path,
                    f"a tenant key is a string, got {type(value).__name__}.",
                    set_cmd.replace("<tenant>", str(name)[:64]),
                    "tenant-key-shape",
                )
            )
    return problems
