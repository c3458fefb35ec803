"""`render --out DIR`: write the rendered objects without clobbering anything else.

DIR must be empty (or absent) or hold an earlier render, recognised by its marker file,
which lists the files it wrote. A new render removes its own stale files, writes through
no symlink, and leaves every file it did not write alone (then refuses).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from tgi_infra.problems import ConfigInvalid, Problem

MARKER = ".tgi-infra-render.json"
FLAG = "--out"


def _refuse(path: Path, message: str, fix: str) -> ConfigInvalid:
    shown = str(path)
    shown = shown if len(shown) <= 200 else shown[:197] + "..."
    return ConfigInvalid([Problem(f"{FLAG} {shown}", message, fix, "render-out")])


def prepare(out: Path) -> set[str]:
    """Check `out` and create it; return the files an earlier render wrote there."""
    if out.is_symlink():
        raise _refuse(out, "is a symlink; render never writes through one.", "pass a real folder.")
    if out.exists() and not out.is_dir():
        raise _refuse(out, "exists and is not a folder.", "pass a new or empty folder.")
    try:
        out.mkdir(parents=True, exist_ok=True)
        entries = {e.name: e for e in os.scandir(out)}
    except OSError as exc:
        raise _refuse(
            out, f"cannot be created or read ({exc.strerror}).", "pass a writable folder."
        ) from None
    if not entries:
        return set()
    marker = entries.get(MARKER)
    if marker is None or marker.is_symlink() or not marker.is_file():
        raise _refuse(
            out,
            f"is not empty and holds no earlier render (no {MARKER}); render would mix its "
            "files with others.",
            "pass an empty folder, or the folder of an earlier render.",
        )
    try:
        owned = json.loads(Path(marker.path).read_text(encoding="utf-8")).get("files", [])
    except (OSError, ValueError, AttributeError):
        raise _refuse(
            out, f"{MARKER} is unreadable.", "remove the folder and render again."
        ) from None
    owned = {str(n) for n in owned if isinstance(n, str) and _safe_name(str(n))}
    tops = {n.split("/", 1)[0] for n in owned}
    foreign = sorted(set(entries) - tops - {MARKER})
    if foreign:
        raise _refuse(
            out,
            f"holds {len(foreign)} file(s) an earlier render did not write "
            f"(e.g. {foreign[0][:80]!r}).",
            "move them away, or pass an empty folder.",
        )
    # Writing into a FIFO blocks; into a device, worse. Checked before anything is written.
    odd = sorted(n for n in owned if _not_a_file(out / n))
    if odd:
        raise _refuse(
            out,
            f"holds {odd[0][:80]!r}, which an earlier render wrote and which is now not a "
            "regular file (a FIFO, device, socket or folder).",
            "remove it, or pass an empty folder.",
        )
    return owned


def _not_a_file(path: Path) -> bool:
    return not path.is_symlink() and path.exists() and not path.is_file()


def _safe_name(name: str) -> bool:
    """A file name, or one folder level and a file name (`addons/x.yaml`): no `..`."""
    parts = name.split("/")
    return 1 <= len(parts) <= 2 and all(p not in ("", ".", "..") for p in parts)


def write_render(out: Path, files: Iterable[tuple[str, str]]) -> int:
    """Write (name, text) pairs into `out`, replace the marker, remove stale own files."""
    owned = prepare(out)
    written: list[str] = []
    try:
        for name, text in files:
            if not _safe_name(name):
                raise _refuse(out, f"would write {name[:80]!r} outside it.", "report a bug.")
            target = out / name
            if "/" in name:
                folder = target.parent
                if folder.is_symlink():
                    raise _refuse(folder, "is a symlink; render never writes through it.", "rm it.")
                folder.mkdir(exist_ok=True)
            if target.is_symlink():
                target.unlink()
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_NONBLOCK
            fd = os.open(target, flags, 0o644)  # a FIFO raced in: ENXIO, never a wait
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            written.append(name)
        for stale in owned - set(written):
            path = out / stale
            if path.is_symlink() or path.is_file():
                path.unlink()
        marker = out / MARKER
        if marker.is_symlink():
            marker.unlink()
        marker.write_text(json.dumps({"files": sorted(written)}, indent=1), encoding="utf-8")
    except OSError as exc:
        raise _refuse(
            out, f"cannot be written ({exc.strerror}).", "pass a writable folder."
        ) from None
    return len(written)
