"""checkov findings we accept, recorded on the objects themselves with the reason.

checkov reads `checkov.io/skip<N>: <CHECK_ID>=<reason>` annotations on a resource; the
reasons below are the platform's decisions, written once.
"""

from __future__ import annotations

REASONS = {
    "CKV_K8S_11": "no CPU limit: CFS throttling stalls TGI's router and tokenizers; CPU is "
    "requested",
    "CKV_K8S_15": "IfNotPresent on purpose: the image is pinned to a release and is ~10 GB; "
    "Always would re-pull on every start",
    "CKV_K8S_43": "pinned to a release tag; set imageVersion to sha256:<digest> to pin by digest",
    "CKV_K8S_35": "TGI's router and huggingface_hub read HF_TOKEN from the environment",
    "CKV_K8S_22": "TGI's kernels (Triton, flashinfer JIT) write caches outside /tmp; the root "
    "filesystem stays writable",
    "CKV_K8S_23": "the NVIDIA device plugin runs as root to create its socket in the kubelet's "
    "device-plugins directory",
    "CKV_K8S_40": "the NVIDIA device plugin runs as root (see CKV_K8S_23)",
    "CKV_K8S_8": "the NVIDIA device plugin serves no health endpoint; kubelet re-registers it",
    "CKV_K8S_9": "the NVIDIA device plugin serves no health endpoint; kubelet re-registers it",
}


TGI_RUNS_AS_ROOT = (
    "TGI's official image runs as root (TGI issue #3225); capabilities are dropped and "
    "privilege escalation is off; set the tier's runAsUser for an image verified non-root"
)


def skip_annotations(*check_ids: str, **reasons: str) -> dict[str, str]:
    """`checkov.io/skipN` annotations: `check_ids` with their recorded reasons, `reasons`
    (check id = reason) with the reason given."""
    pairs = [(check, REASONS[check]) for check in check_ids] + list(reasons.items())
    return {
        f"checkov.io/skip{i}": f"{check}={reason}" for i, (check, reason) in enumerate(pairs, 1)
    }


def run_as_root_skips(run_as_user: int | None) -> dict[str, str]:
    """The non-root checks a pod running as the image's root user has to skip."""
    if run_as_user is not None:
        return {}
    return {"CKV_K8S_23": TGI_RUNS_AS_ROOT, "CKV_K8S_40": TGI_RUNS_AS_ROOT}
