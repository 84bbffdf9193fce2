"""Atomic file writes: one helper for models, checkpoints, splits, image caches and logs.

A file is written to ``<name>.<pid>.tmp`` beside its target and renamed over it, so a
reader (or a run resumed after a kill) sees the old file or the new one, never half of
one. The temporary file is made by a plain ``open`` (what ``torch.save``, safetensors and
numpy do with a path), so its mode follows the umask (0644 under umask 022), unlike
``tempfile.mkstemp``'s 0600. Writers that make their own file (safetensors writes a
private temporary file and renames it: 0600) get that mode set back before the rename.

A process killed mid-write leaves its ``<name>.<pid>.tmp`` behind; :func:`remove_stale_temps`
deletes those whose process is gone (call it before writing or when resuming).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def temp_path(path: str | Path) -> Path:
    """This process's temporary name for ``path``: ``<name>.<pid>.tmp`` in the same folder."""
    path = Path(path)
    return path.with_name(f"{path.name}.{os.getpid()}.tmp")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``, on error it is removed.

    The parent folder is created when missing.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        with open(tmp, "wb"):           # created with the umask's mode, as open() does
            pass
        mode = os.stat(tmp).st_mode & 0o777
        yield tmp
        if os.stat(tmp).st_mode & 0o777 != mode:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | Path, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically."""
    write_bytes(path, text.encode(encoding))


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (one of another user counts as alive)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(path: str | Path) -> list[Path]:
    """Delete ``<name>.<pid>.tmp`` files of ``path`` whose process no longer runs.

    Temporary files of live processes (this one included) are kept: they may be mid-write.
    Returns the files removed.
    """
    path = Path(path)
    removed = []
    for tmp in path.parent.glob(f"{glob.escape(path.name)}.*.tmp"):
        pid = tmp.name[len(path.name) + 1:-len(".tmp")]
        if not pid.isdigit() or int(pid) == os.getpid() or pid_alive(int(pid)):
            continue
        try:
            tmp.unlink()
        except OSError:                # removed meanwhile, or a read-only folder: leave it
            continue
        removed.append(tmp)
    return removed
