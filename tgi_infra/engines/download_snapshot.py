"""The weight-cache download, run by each tier's download Job (`python3 -c <this file>`).

Self-contained on purpose: it runs in the engine's image (or `cache.downloadImage`), which
has Python and huggingface_hub but not tgi-infra. It downloads the model's snapshot at the
pinned revision with `snapshot_download`, restricted to ALLOW_PATTERNS (config, tokenizer,
generation config and the weight format the tier's engine loads), into HF_HOME's hub cache:
the layout every engine reads with HF_HUB_OFFLINE=1.

- Idempotent: a marker per model hash (`$HF_HOME/.tgi-infra/<hash>.complete`); a rerun or
  a second Job on a shared volume exits 0 at once.
- Refuses, naming the model (exit 1): a gated model the token cannot open, a missing or
  private repo or a revoked token, an unknown revision, a snapshot without config,
  tokenizer or weights.

Env: MODEL_ID, REVISION, MODEL_HASH, ALLOW_PATTERNS (comma-separated), WEIGHT_PATTERNS
(the subset that are weights), HF_HOME, HF_TOKEN (optional), HF_TOKEN_SECRET (its Secret's
name, for messages).
"""

from __future__ import annotations

import fnmatch
import os
import sys
from pathlib import Path


def fail(message: str) -> int:
    print(f"tgi-infra: {message}", file=sys.stderr)
    return 1


def main() -> int:
    from huggingface_hub import snapshot_download
    from huggingface_hub.utils import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    model, revision = os.environ["MODEL_ID"], os.environ["REVISION"]
    what = f"{model}@{revision}"
    secret = os.environ.get("HF_TOKEN_SECRET", "(none)")
    marker = Path(os.environ["HF_HOME"]) / ".tgi-infra" / f"{os.environ['MODEL_HASH']}.complete"
    if marker.exists():
        print(f"tgi-infra: cache hit for {what}")
        return 0
    patterns = [p for p in os.environ["ALLOW_PATTERNS"].split(",") if p]
    weights = [p for p in os.environ.get("WEIGHT_PATTERNS", "").split(",") if p]
    try:
        path = Path(snapshot_download(model, revision=revision, allow_patterns=patterns))
    except GatedRepoError:
        return fail(
            f"{model} is gated and the HF token (secret {secret}) has no access: request "
            "access on the model page with the token's account, then rerun the Job."
        )
    except RevisionNotFoundError:
        return fail(f"{model} has no revision {revision}: pin an existing commit sha.")
    except RepositoryNotFoundError:
        return fail(
            f"{model} was not found, or the HF token (secret {secret}) is missing or revoked "
            "for this private repo: check the model id, or rotate tgi-infra:hfToken."
        )
    except HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403):
            return fail(
                f"the Hub refused {what} ({status}): the HF token (secret {secret}) is "
                "missing, revoked or has no access; rotate tgi-infra:hfToken."
            )
        return fail(f"download of {what} failed: {exc}")
    except LocalEntryNotFoundError as exc:
        return fail(f"download of {what} failed (Hub unreachable?): {exc}")
    files = [p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()]
    if "config.json" not in files:
        return fail(f"{what} has no config.json: every engine needs it.")
    if not any(f.startswith("tokenizer") or f.endswith((".model", ".tiktoken")) for f in files):
        return fail(f"{what} has no tokenizer files: the pods, offline, could not load one.")
    if weights and not any(fnmatch.fnmatch(f, w) for f in files for w in weights):
        return fail(
            f"{what} has no weights in the format the engine loads ({', '.join(weights)})."
        )
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"{path}\n")
    print(f"tgi-infra: cached {what} ({len(files)} files) in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
