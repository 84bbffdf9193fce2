"""Settings of the node's process that must come before rclpy starts its threads and DDS
participant: glibc's malloc arenas, Fast DDS's transports, and the CPU thread count default.

**malloc arenas.** glibc gives each thread that allocates concurrently an arena of its own, up
to eight per core; the node's process has a dozen threads (inference, publishing, the
executor, DDS), and each arena keeps freed memory of its own. Two arenas keep the process
smaller at the same speed. The limit only binds arenas made after it is set, so it is set
first thing in the process. :func:`heap_in_use` is what the C heap has handed out and not
taken back, the figure of a leak in C or C++ code (torch, DDS, rclpy), apart from the memory
glibc keeps for reuse or loses to fragmentation, which the resident size includes.

**transports.** Fast DDS (the default RMW) hands large messages between processes on one
machine through shared memory, and its receive path keeps a little C heap for each such
message for good (the same growth is reported in ros2/rosbag2#2366). The node therefore asks
Fast DDS for its UDP transport only, before rclpy creates the participant; a camera driver
with the default transports then talks to it over loopback UDP.
``FASTDDS_BUILTIN_TRANSPORTS=DEFAULT`` keeps shared memory; other RMWs ignore the variable.
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


#: The environment variable Fast DDS (2.13 and later) reads its builtin transports from.
VARIABLE = "FASTDDS_BUILTIN_TRANSPORTS"
#: The node's choice.
NODE_TRANSPORTS = "UDPv4"


def prefer_udp_transport() -> bool:
    """Set :data:`VARIABLE` to ``UDPv4`` unless it is set; whether this call set it."""
    if VARIABLE in os.environ:
        return False
    os.environ[VARIABLE] = NODE_TRANSPORTS
    return True


def default_torch_threads(cpus: int | None = None) -> int:
    """The CPU inference threads of ``torch_threads: 0``: all cores but one (at least one),
    which is left to the executor, DDS and the camera driver: an OpenMP thread that loses its
    core to them stalls the others at every barrier.
    """
    cpus = cpus or os.cpu_count() or 1
    return max(1, cpus - 1)


def prepare_process() -> None:
    """The node process's settings that must come before rclpy starts (``main()`` and the
    bench): glibc's malloc arenas before its threads, Fast DDS's transport before its
    participant.
    """
    limit_malloc_arenas()
    prefer_udp_transport()
