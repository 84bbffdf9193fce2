"""glibc's malloc in the node's process: two arenas, and how much of the heap is in use.

glibc gives each thread that allocates concurrently an arena of its own, up to eight per core;
the node's process has a dozen threads (inference, publishing, the executor, DDS), and each
arena keeps freed memory of its own. With two, the node's process sat about 15 MiB lower over
ten-minute soaks at 30 Hz, at the same speed (README "Soak"; the slow growth those soaks also
showed was the bench's own bookkeeping and Fast DDS's shared memory, see ``transport.py``).
The limit only binds arenas made after it is set, so it is set first thing in the process,
before rclpy starts its threads.

:func:`heap_in_use` is what the C heap has handed out and not taken back, the figure of a
leak in C or C++ code (torch, DDS, rclpy), apart from the memory glibc keeps for reuse or
loses to fragmentation, which the resident size includes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

#: mallopt's parameter number for the arena limit (glibc's malloc.h: M_ARENA_MAX).
M_ARENA_MAX = -8
#: The node's arena limit.
ARENAS = 2


def _libc() -> ctypes.CDLL:
    """The C library (OSError where it cannot be loaded)."""
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")


class _MallInfo2(ctypes.Structure):
    """glibc's ``struct mallinfo2`` (2.33 and later), in bytes."""

    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def heap_in_use() -> int | None:
    """Bytes of the C heap in use, all arenas and mmapped blocks (glibc's ``mallinfo2``);
    None where the C library is not glibc 2.33 or later.
    """
    try:
        mallinfo2 = _libc().mallinfo2
    except (OSError, AttributeError):
        return None
    mallinfo2.argtypes, mallinfo2.restype = [], _MallInfo2
    info = mallinfo2()
    return int(info.uordblks + info.hblkhd)


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas at ``arenas``; whether the cap was set by this call.

    Nothing is changed where ``MALLOC_ARENA_MAX`` is set (glibc has applied it) or where the
    C library is not glibc (mallopt missing).
    """
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        mallopt = _libc().mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, arenas))
