"""Atomic file writes: either the old file or the complete new one is there, never half of one.

Every file a run, an experiment, a projection or the zoo writes goes through `atomic_write_bytes`
(temporary file in the same folder, fsync, rename). A failure is one line naming the file.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from sslviz.core.errors import RunStoreError


class WriteError(RunStoreError, OSError):
    """A run file could not be written (disk full, read-only folder, ...). It is an OSError too,
    so callers that catch OSError keep working; str() is one line naming the file."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "cannot write"


_WRITE_HINTS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
                errno.EROFS: "the folder is read-only", errno.EACCES: "the folder is read-only",
                errno.EPERM: "the folder is read-only"}


def _write_error(path: Path, exc: OSError) -> WriteError:
    reason = exc.strerror or str(exc)
    hint = _WRITE_HINTS.get(exc.errno)
    err = WriteError(f"{path}: cannot write ({reason}{'; ' + hint if hint else ''}); nothing was written")
    err.errno, err.strerror, err.filename = exc.errno, exc.strerror, str(path)
    return err


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over the target.

    Either the old file or the complete new one is there, never half of one. A failure (disk full,
    read-only folder) removes the temporary file and raises WriteError; a process killed in the
    middle leaves a hidden `.<name>.*.tmp`, which `remove_temp_files` clears once it is dead."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise _write_error(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            Path(tmp).unlink(missing_ok=True)
        except OSError:
            pass
        if isinstance(exc, OSError) and not isinstance(exc, WriteError):
            raise _write_error(path, exc) from None
        raise


def remove_temp_files(folder: Path) -> list[str]:
    """Delete the temporary files a killed writer left in `folder` (call only when none is writing)."""
    removed = []
    try:
        for tmp in Path(folder).glob(".*.tmp"):
            try:
                tmp.unlink()
                removed.append(tmp.name)
            except OSError:
                pass
    except OSError:
        pass
    return removed


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))
