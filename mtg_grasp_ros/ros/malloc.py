"""glibc's malloc arenas for the node's process: two, unless ``MALLOC_ARENA_MAX`` says.

glibc gives each thread that allocates concurrently an arena of its own, up to eight per core;
the node's process has a dozen threads (inference, publishing, the executor, DDS), and each
arena keeps freed memory of its own. With two, the node's process sat about 15 MiB lower over
ten-minute soaks at 30 Hz, at the same speed (README "Soak"; the slow growth those soaks also
showed was the bench's own bookkeeping, since bounded). The limit only binds arenas made after
it is set, so it is set first thing in the process, before rclpy starts its threads.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

#: mallopt's parameter number for the arena limit (glibc's malloc.h: M_ARENA_MAX).
M_ARENA_MAX = -8
#: The node's arena limit.
ARENAS = 2


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas at ``arenas``; whether the cap was set by this call.

    Nothing is changed where ``MALLOC_ARENA_MAX`` is set (glibc has applied it) or where the
    C library is not glibc (mallopt missing).
    """
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, arenas))
