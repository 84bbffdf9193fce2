"""glibc's malloc in the node's process: two arenas, and free heap pages handed back.

glibc gives each thread that allocates concurrently an arena of its own, up to eight per core;
the node's process has a dozen threads (inference, publishing, the executor, DDS), and each
arena keeps freed memory of its own. With two, the node's process sat about 15 MiB lower over
ten-minute soaks at 30 Hz, at the same speed (README "Soak"). The limit only binds arenas made
after it is set, so it is set first thing in the process, before rclpy starts its threads.

Each frame allocates and frees the network's activations (5.5 MiB for one 16x300x300 fp32
map) between the small, long-lived allocations of DDS and Python; now and then the heap is
too fragmented to reuse a freed run and grows by one such buffer, and glibc never hands the
fragments back by itself, so resident memory steps up over long runs. :class:`HeapTrimmer`
calls ``malloc_trim(0)`` every few seconds, which returns every free page of every arena to
the kernel: resident memory then follows what the frames use, not the heap's extent. One trim
took about 1 ms, and the next frame about 9 ms more while it faults its pages back in.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import time
from collections.abc import Callable
from typing import Any

#: mallopt's parameter number for the arena limit (glibc's malloc.h: M_ARENA_MAX).
M_ARENA_MAX = -8
#: The node's arena limit.
ARENAS = 2


@functools.cache
def _libc() -> Any | None:
    """The C library when it is glibc (it has ``mallopt`` and ``malloc_trim``), else None."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt, trim = libc.mallopt, libc.malloc_trim
    except (OSError, AttributeError):
        return None
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return libc


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas at ``arenas``; whether the cap was set by this call.

    Nothing is changed where ``MALLOC_ARENA_MAX`` is set (glibc has applied it) or where the
    C library is not glibc.
    """
    libc = _libc()
    if "MALLOC_ARENA_MAX" in os.environ or libc is None:
        return False
    return bool(libc.mallopt(M_ARENA_MAX, arenas))


class HeapTrimmer:
    """Hands the C heap's free pages back to the kernel at most every ``period`` seconds.

    Call it after each frame; it trims when ``period`` has passed since the last trim (or
    since it was made). ``period`` 0, or a C library that is not glibc, never trims.
    """

    def __init__(self, period: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.period = period
        self.trims = 0
        self._clock = clock
        self._last = clock()
        self._libc = _libc() if period > 0 else None

    def __call__(self) -> bool:
        """Trim if it is due; whether it trimmed."""
        if self._libc is None or self._clock() - self._last < self.period:
            return False
        self._libc.malloc_trim(0)
        self._last = self._clock()
        self.trims += 1
        return True
