"""The weight cache: a volume per model version (or one shared), filled by a download Job.

The Job runs `engines/download_snapshot.py` (huggingface_hub's `snapshot_download` at the
pinned revision, with the HF token) restricted to the files the tier's engine loads:
config, tokenizer, generation config and its weight format. The cache is the hub layout
every engine reads with HF_HUB_OFFLINE=1. It is idempotent (a marker per model hash), and
fails loudly, naming the model, when the Hub refuses (gated model without access, revoked
token, unknown revision) or the snapshot lacks config, tokenizer or weights.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from tgi_infra import naming
from tgi_infra.capacity.timing import download_seconds
from tgi_infra.config.models import CacheConfig, TierConfig
from tgi_infra.engines import download_snapshot, engine_of
from tgi_infra.escape import kube_literal, kube_literal_env
from tgi_infra.manifests.checkov import run_as_root_skips, skip_annotations
from tgi_infra.manifests.credentials import FINGERPRINT_ANNOTATION
from tgi_infra.manifests.serving import (
    DATA_DIR,
    LOGICAL_NAME,
    PULUMI_TIMEOUT,
    K8s,
    dns_egress,
    image,
    image_skips,
    pod_security,
    restricted_container_security,
    secret_env,
)

GIB = 2**30
MIN_CACHE_GIB = 10

DOWNLOAD_SCRIPT = Path(download_snapshot.__file__).read_text()


def download_image(tier: TierConfig, cache: CacheConfig) -> str:
    """cache.downloadImage, or the tier engine's pinned image (it ships huggingface_hub)."""
    return cache.download_image or image(tier)


def _download_image_skips(tier: TierConfig, cache: CacheConfig) -> tuple[str, ...]:
    if cache.download_image:
        return () if "@sha256:" in cache.download_image else ("CKV_K8S_43",)
    return image_skips(tier)


def cache_size_gib(weight_bytes: int, cache: CacheConfig, override_gib: int | None = None) -> int:
    if override_gib is not None:
        return override_gib
    return max(MIN_CACHE_GIB, math.ceil(weight_bytes * cache.headroom_ratio / GIB))


def claim_name(tier: TierConfig, cache: CacheConfig) -> str:
    """The claim a tier's pods mount: named after the model version and the storage, so a
    storage change is planned as a new claim (create-before-delete), never in place."""
    if cache.mode == "shared":
        return naming.shared_cache_name(cache)
    return naming.cache_name(tier, cache)


def volume_claim(
    name: str,
    namespace: str,
    size_gib: int,
    cache: CacheConfig,
    *,
    tier: str | None = None,
    logical: str | None = None,
) -> K8s:
    meta: K8s = {
        "name": name,
        "namespace": namespace,
        "labels": naming.labels("model-cache", instance=tier or "shared", tier=tier),
    }
    if logical:
        meta["annotations"] = {LOGICAL_NAME: logical}
    spec: K8s = {
        "accessModes": [cache.access_mode],
        "resources": {"requests": {"storage": f"{size_gib}Gi"}},
    }
    if cache.storage_class_name:
        spec["storageClassName"] = cache.storage_class_name
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta, "spec": spec}


def tier_volume_claim(
    tier: TierConfig, namespace: str, weight_bytes: int, cache: CacheConfig
) -> K8s:
    return volume_claim(
        naming.cache_name(tier, cache),
        namespace,
        cache_size_gib(weight_bytes, cache, tier.cache_size_gib),
        cache,
        tier=tier.name,
        logical=f"{naming.tier_base(tier.name)}-cache",
    )


def shared_volume_claim(weights: list[int], namespace: str, cache: CacheConfig) -> K8s:
    return volume_claim(
        naming.shared_cache_name(cache), namespace, cache_size_gib(sum(weights), cache), cache
    )


def download_job(
    tier: TierConfig,
    namespace: str,
    weight_bytes: int,
    cache: CacheConfig,
    hf_token_secret: str | None,
    token_fingerprint: Any = None,
) -> K8s:
    """The Job that fills the cache. `token_fingerprint` (the HF token's, may be a Pulumi
    input) annotates its pod template: a rotation replaces the Job, which the marker makes a
    no-op once the weights are in, and a retry after a download the old token failed."""
    env: list[K8s] = [
        {"name": "MODEL_ID", "value": tier.model_id},
        {"name": "REVISION", "value": tier.revision},
        {"name": "MODEL_HASH", "value": naming.model_hash(tier)},
        {"name": "ALLOW_PATTERNS", "value": ",".join(engine_of(tier).download_patterns())},
        {"name": "WEIGHT_PATTERNS", "value": ",".join(engine_of(tier).weight_patterns)},
        {"name": "HF_HOME", "value": DATA_DIR},
        {"name": "HOME", "value": "/tmp"},
        {"name": "HF_HUB_DISABLE_TELEMETRY", "value": "1"},
        {"name": "HF_TOKEN_SECRET", "value": hf_token_secret or "(none)"},
    ]
    if hf_token_secret:
        env.append(secret_env("HF_TOKEN", hf_token_secret))
    labels = naming.labels("model-download", instance=tier.name, tier=tier.name)
    deadline = download_seconds(weight_bytes)
    template_meta: K8s = {"labels": labels}
    if token_fingerprint is not None:
        template_meta["annotations"] = {FINGERPRINT_ANNOTATION: token_fingerprint}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": naming.download_job_name(tier),
            "namespace": namespace,
            "labels": labels,
            "annotations": {
                LOGICAL_NAME: f"{naming.tier_base(tier.name)}-download",
                PULUMI_TIMEOUT: str(deadline + 300),
                **skip_annotations(
                    *_download_image_skips(tier, cache),
                    "CKV_K8S_11",
                    "CKV_K8S_15",
                    "CKV_K8S_35",
                    **run_as_root_skips(tier.run_as_user),
                ),
            },
        },
        "spec": {
            "backoffLimit": 3,
            "activeDeadlineSeconds": deadline,
            "template": {
                "metadata": template_meta,
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": pod_security(tier.run_as_user),
                    "containers": [
                        {
                            "name": "download",
                            "image": download_image(tier, cache),
                            "imagePullPolicy": "IfNotPresent",
                            # The engine images' entrypoints are their servers.
                            "command": ["python3", "-c", kube_literal(DOWNLOAD_SCRIPT)],
                            "env": kube_literal_env(env),
                            "resources": {
                                "requests": {"cpu": "1", "memory": "4Gi"},
                                "limits": {"memory": "8Gi"},
                            },
                            "securityContext": restricted_container_security(
                                tier.run_as_user, read_only_root=True
                            ),
                            "volumeMounts": [
                                {"name": "model-cache", "mountPath": DATA_DIR},
                                {"name": "tmp", "mountPath": "/tmp"},
                            ],
                        }
                    ],
                    "volumes": [
                        {
                            "name": "model-cache",
                            "persistentVolumeClaim": {"claimName": claim_name(tier, cache)},
                        },
                        {"name": "tmp", "emptyDir": {"sizeLimit": "20Gi"}},
                    ],
                },
            },
        },
    }


def download_network_policy(tier: TierConfig, namespace: str) -> K8s:
    """A tier's download Jobs: no ingress; egress to DNS and HTTPS (the Hub and its CDN)."""
    labels = naming.labels("model-download", instance=tier.name, tier=tier.name)
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": naming.download_policy_name(tier.name),
            "namespace": namespace,
            "labels": labels,
        },
        "spec": {
            "podSelector": {
                "matchLabels": {
                    "app.kubernetes.io/component": "model-download",
                    naming.TIER_LABEL: tier.name,
                }
            },
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [],
            "egress": [dns_egress(), {"ports": [{"protocol": "TCP", "port": 443}]}],
        },
    }
