"""Model facts from the Hugging Face Hub through ``huggingface_hub``.

At the pinned revision: ``config.json``, the safetensors index (or headers) for the weight
size, ``model_info`` for license and gating. Offline (``HF_HUB_OFFLINE=1`` or
``offline=True``) only the local HF cache is read, never the network. No call can hang:
short per-request timeouts and an overall deadline. Every failure is translated into a
one-line `ModelFactsError` that says what to do.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tgi_infra.capacity.errors import ModelFactsError, _one_line
from tgi_infra.capacity.facts import ModelFacts
from tgi_infra.capacity.hf_config import facts_from_config
from tgi_infra.capacity.weights import (
    _index_total_size,
    _read_json,
    summarize_safetensors,
    with_sidecar_quantization,
)
from tgi_infra.fileio import read_regular_text

#: Seconds each Hub request may take before it is abandoned.
HUB_REQUEST_TIMEOUT_S = 10.0
#: Seconds all Hub requests for one model may take together.
HUB_TOTAL_TIMEOUT_S = 30.0

T = TypeVar("T")


def _env_offline() -> bool:
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    if value.strip().lower() in ("1", "on", "yes", "true"):
        return True
    try:
        from huggingface_hub import constants
    except ImportError:  # pragma: no cover - huggingface_hub is a dependency
        return False
    return bool(constants.HF_HUB_OFFLINE)


def _call_with_deadline(fn: Callable[[], T], seconds: float) -> T:
    """Run ``fn`` in a daemon thread; give up (TimeoutError) after ``seconds``."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc

    worker = threading.Thread(target=run, name="tgi-infra-hub", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise TimeoutError(f"no answer from the Hub within {seconds:g} s")
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value


def _hf_cache_dir(cache_dir: str | os.PathLike[str] | None) -> str:
    if cache_dir is not None:
        return str(cache_dir)
    try:
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)
    except ImportError:  # pragma: no cover
        return "~/.cache/huggingface/hub"


def _card_license(info: Any) -> str | None:
    card = getattr(info, "card_data", None)
    lic: Any = None
    name: Any = None
    if card is not None:
        data = card.to_dict() if hasattr(card, "to_dict") else dict(card)
        lic = data.get("license")
        name = data.get("license_name")
    if isinstance(lic, list):
        lic = ", ".join(str(x) for x in lic)
    if lic == "other" and name:
        return str(name)
    if lic:
        return str(lic)
    for tag in getattr(info, "tags", None) or ():
        if isinstance(tag, str) and tag.startswith("license:"):
            return tag.split(":", 1)[1]
    return None


def _hub_weight_bytes(
    model_id: str, revision: str, token: str | None, cache_dir: str | None, offline: bool
) -> int:
    from huggingface_hub import HfApi, hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, NotASafetensorsRepoError

    def download(filename: str) -> str:
        return hf_hub_download(
            model_id,
            filename,
            revision=revision,
            cache_dir=cache_dir,
            token=token,
            local_files_only=offline,
            etag_timeout=HUB_REQUEST_TIMEOUT_S,
        )

    try:
        index = _read_json(Path(download("model.safetensors.index.json")), "the index")
        total = _index_total_size(index)
        if total is not None:
            return total
    except EntryNotFoundError:  # not sharded, or (offline) not cached
        pass
    if offline:
        try:
            return summarize_safetensors(download("model.safetensors")).tensor_bytes
        except EntryNotFoundError as exc:
            raise ModelFactsError(
                f"model {model_id!r} at revision {revision!r}: config.json is in the HF cache "
                "but neither model.safetensors.index.json nor model.safetensors is, so the "
                f"weight size is unknown offline; run `hf download {model_id} "
                f"model.safetensors.index.json --revision {revision}` or add "
                "modelSpec.weightBytes.",
                model_id=model_id,
                revision=revision,
            ) from exc
    try:
        meta = HfApi().get_safetensors_metadata(
            model_id, revision=revision, token=token, timeout=HUB_REQUEST_TIMEOUT_S
        )
    except NotASafetensorsRepoError as exc:
        raise ModelFactsError(
            f"model {model_id!r} at revision {revision!r} has no safetensors weights (only "
            "pickled .bin files?), so its size is unknown; use a safetensors revision or add "
            "modelSpec.weightBytes.",
            model_id=model_id,
            revision=revision,
            fallback_ok=False,
        ) from exc
    return sum(
        int(t.data_offsets[1]) - int(t.data_offsets[0])
        for fm in meta.files_metadata.values()
        for t in fm.tensors.values()
    )


def _facts_from_hub_now(
    model_id: str, revision: str, token: str | None, cache_dir: str | None, offline: bool
) -> ModelFacts:
    from huggingface_hub import HfApi, hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    lic: str | None = None
    gated: bool | str | None = None
    repo_files: frozenset[str] | None = None  # online: the files model_info lists
    if offline:
        # The shipped catalog lives in model_facts, which imports this module: import late.
        from tgi_infra.capacity.model_facts import catalog_facts

        known = catalog_facts(model_id)
        if known is not None:
            lic, gated = known.license, known.gated
    else:
        # One plain request first: it fails fast (no retry loop) when the Hub is out of
        # reach, names a missing repo or revision precisely, and carries license/gating.
        info = HfApi().model_info(
            model_id, revision=revision, token=token, timeout=HUB_REQUEST_TIMEOUT_S
        )
        lic, gated = _card_license(info), getattr(info, "gated", None)
        siblings = getattr(info, "siblings", None) or ()
        repo_files = frozenset(getattr(x, "rfilename", "") for x in siblings)
    config_path = hf_hub_download(
        model_id,
        "config.json",
        revision=revision,
        cache_dir=cache_dir,
        token=token,
        local_files_only=offline,
        etag_timeout=HUB_REQUEST_TIMEOUT_S,
    )
    try:
        config = json.loads(read_regular_text(config_path))  # a FIFO in the cache: no wait
    except OSError as exc:
        raise ModelFactsError(
            f"model {model_id!r} at revision {revision!r}: {config_path} cannot be read "
            f"({exc.strerror or exc}); remove it and run `hf download {model_id} config.json "
            f"--revision {revision}`, or add a modelSpec to the tier.",
            model_id=model_id,
            revision=revision,
        ) from exc
    if isinstance(config, dict):

        def sidecar(name: str) -> object | None:
            # Online, only a file model_info lists is asked for (no 404 round trips).
            if repo_files is not None and name not in repo_files:
                return None
            try:
                path = hf_hub_download(
                    model_id, name, revision=revision, cache_dir=cache_dir, token=token,
                    local_files_only=offline, etag_timeout=HUB_REQUEST_TIMEOUT_S,
                )  # fmt: skip
            except EntryNotFoundError:  # offline: not in the cache (also a subclass)
                return None
            return _read_json(Path(path), "the quantization settings")

        config = with_sidecar_quantization(config, sidecar)
    weight_bytes = _hub_weight_bytes(model_id, revision, token, cache_dir, offline)
    return facts_from_config(
        config,
        model_id=model_id,
        source="hub",
        weight_bytes=weight_bytes,
        revision=revision,
        license=lic,
        gated=gated,
    )


_NETWORK_LIBRARIES = frozenset(
    {"httpx", "httpx2", "httpcore", "requests", "urllib3", "ssl", "socket", "h11", "h2", "anyio"}
)


def _is_network_library_error(exc: BaseException) -> bool:
    return type(exc).__module__.split(".", 1)[0] in _NETWORK_LIBRARIES


def _hub_error(
    exc: BaseException, model_id: str, revision: str, offline: bool, cache_dir: str | None
) -> ModelFactsError:
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        HFValidationError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = f"model {model_id!r} at revision {revision!r}"
    spec = "or add a modelSpec to the tier"

    def err(text: str, fallback_ok: bool = True) -> ModelFactsError:
        return ModelFactsError(
            f"{where}: {text}", model_id=model_id, revision=revision, fallback_ok=fallback_ok
        )

    cause = _one_line(f"{type(exc).__name__}: {exc}", 200)
    if isinstance(exc, GatedRepoError):
        return err(
            f"the repo is gated and the token has no access; request access on "
            f"https://huggingface.co/{model_id} with the token's account and set "
            f"HF_TOKEN, {spec}."
        )
    if isinstance(exc, RepositoryNotFoundError):
        return err(
            f"not found on the Hub (or private and HF_TOKEN has no access); check "
            f"modelId, set HF_TOKEN, {spec}."
        )
    if isinstance(exc, RevisionNotFoundError):
        return err(
            "the revision does not exist; use a branch, tag or 40-hex commit sha of the repo.",
            fallback_ok=False,
        )
    if isinstance(exc, LocalEntryNotFoundError | OfflineModeIsEnabled) and offline:
        return err(
            f"offline (HF_HUB_OFFLINE) and config.json is not in the HF cache "
            f"({_hf_cache_dir(cache_dir)}); pre-fetch it with `hf download {model_id} "
            f"config.json model.safetensors.index.json --revision {revision}`, unset "
            f"HF_HUB_OFFLINE, {spec}."
        )
    if isinstance(exc, LocalEntryNotFoundError):
        root = exc.__cause__ or exc.__context__
        detail = f" ({_one_line(f'{type(root).__name__}: {root}', 160)})" if root else ""
        return err(
            f"the Hub could not be reached and nothing is cached{detail}; check access "
            f"to huggingface.co (proxy, firewall), {spec}."
        )
    if isinstance(exc, EntryNotFoundError):
        return err(
            f"the repo has no config.json at this revision (not a transformers model?); {spec}.",
            fallback_ok=False,
        )
    if isinstance(exc, HfHubHTTPError):
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status == 401:
            return err(f"the Hub rejected the token (401); set a valid HF_TOKEN, {spec}.")
        if status == 403:
            return err(
                f"access denied (403); request access on https://huggingface.co/"
                f"{model_id} and use a token with read access, {spec}."
            )
        if status == 429:
            return err(f"rate limited by the Hub (429); set HF_TOKEN and retry later, {spec}.")
        return err(f"the Hub answered HTTP {status}; retry later, {spec}.")
    if isinstance(exc, TimeoutError) or "Timeout" in type(exc).__name__:
        return err(
            f"no answer from the Hub in time ({cause}); check access to huggingface.co, {spec}."
        )
    if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError):
        return err(f"config.json is not valid JSON ({cause}); {spec}.", fallback_ok=False)
    if isinstance(exc, HFValidationError):
        return err(
            f"not a valid Hub repo id (org/name) nor a local directory ({cause}); fix modelId.",
            fallback_ok=False,
        )
    if isinstance(exc, OSError | ConnectionError) or _is_network_library_error(exc):
        return err(
            f"the Hub could not be reached ({cause}); check access to huggingface.co, {spec}."
        )
    return err(f"unexpected failure ({cause}); {spec}.")


def facts_from_hub(
    model_id: str,
    *,
    revision: str | None,
    token: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    offline: bool | None = None,
    timeout_s: float = HUB_TOTAL_TIMEOUT_S,
) -> ModelFacts:
    """Facts of a Hub model at ``revision`` (default ``main``) through ``huggingface_hub``.

    ``token`` defaults to ``HF_TOKEN``. ``offline`` defaults to ``HF_HUB_OFFLINE``; offline
    only the HF cache (``cache_dir`` or huggingface_hub's default) is read. Any failure is a
    one-line `ModelFactsError`; online calls give up after ``timeout_s`` seconds in total.
    """
    rev = revision or "main"
    off = _env_offline() if offline is None else offline
    tok = token or os.environ.get("HF_TOKEN") or None
    cache = str(Path(cache_dir).expanduser()) if cache_dir is not None else None

    def work() -> ModelFacts:
        return _facts_from_hub_now(model_id, rev, tok, cache, off)

    try:
        return work() if off else _call_with_deadline(work, timeout_s)
    except ModelFactsError:
        raise
    except Exception as exc:
        raise _hub_error(exc, model_id, rev, off, cache) from exc
