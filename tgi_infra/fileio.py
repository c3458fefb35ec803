"""Reading a file a user names: a regular file only, of bounded size, never a blocking open.

`open()` on a FIFO blocks until a writer comes; `/dev/zero` never ends. Both would hang a
command that reads a model folder's config.json, a policy config or a result file, so every
such read goes through here: the file is opened non-blocking, must be a regular file, and is
read up to a limit.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

MAX_METADATA_BYTES = 64 * 2**20
"""JSON beside a model or a config (config.json, an index, quantize_config.json, a policy
config): the largest real ones are a few MiB (a 671B model's safetensors index is ~8 MiB)."""


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """`path` opened for reading in binary; OSError (EINVAL) unless it is a regular file."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(
                errno.EINVAL, "not a regular file (a FIFO, device, socket or folder)", str(path)
            )
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike[str], limit: int = MAX_METADATA_BYTES) -> bytes:
    """A regular file's bytes; OSError (EFBIG) when it holds more than `limit`."""
    with open_regular(path) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise OSError(
            errno.EFBIG, f"larger than the {limit // 2**20} MiB such a file may have", str(path)
        )
    return data


def read_regular_text(path: str | os.PathLike[str], limit: int = MAX_METADATA_BYTES) -> str:
    """`read_regular` decoded as UTF-8 (UnicodeDecodeError when it is not)."""
    return read_regular(Path(path), limit).decode("utf-8")


def write_regular_text(path: str | os.PathLike[str], text: str) -> None:
    """Write `text` (UTF-8) to `path`, created or truncated; OSError (EINVAL) when `path` is a
    FIFO, device or folder, which a blocking open would wait on or clobber."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:  # a FIFO with no reader: ENXIO, never a wait
        if exc.errno != errno.ENXIO:
            raise
        raise OSError(errno.EINVAL, "not a regular file (a FIFO)", str(path)) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(
                errno.EINVAL, "not a regular file (a FIFO, device, socket or folder)", str(path)
            )
        os.set_blocking(fd, True)
        os.ftruncate(fd, 0)
        fh = os.fdopen(fd, "w", encoding="utf-8")
    except BaseException:
        os.close(fd)
        raise
    with fh:
        fh.write(text)
