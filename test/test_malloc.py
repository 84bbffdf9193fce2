"""The node's process caps glibc's malloc arenas (unless told otherwise) and trims its heap."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from mtg_grasp_ros.ros import malloc


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_the_cap_is_set_on_glibc_in_a_fresh_process():
    code = "from mtg_grasp_ros.ros.malloc import limit_malloc_arenas as f; print(f())"
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "True", out.stderr


def test_an_explicit_environment_setting_is_left_alone(monkeypatch):
    monkeypatch.setenv("MALLOC_ARENA_MAX", "8")
    assert malloc.limit_malloc_arenas() is False


def test_the_trimmer_trims_only_when_its_period_has_passed(monkeypatch):
    now = [100.0]
    trimmer = malloc.HeapTrimmer(10.0, clock=lambda: now[0])
    calls: list[int] = []
    if trimmer._libc is None:
        pytest.skip("malloc_trim is glibc's")
    monkeypatch.setattr(trimmer, "_libc", type("L", (), {"malloc_trim": calls.append})())
    assert trimmer() is False                 # made at 100: not due
    now[0] = 109.9
    assert trimmer() is False
    now[0] = 110.0
    assert trimmer() is True and calls == [0] and trimmer.trims == 1
    now[0] = 115.0
    assert trimmer() is False                 # the period counts from the last trim
    now[0] = 120.5
    assert trimmer() is True and trimmer.trims == 2


def test_period_zero_never_trims():
    trimmer = malloc.HeapTrimmer(0.0, clock=lambda: 1e9)
    assert trimmer() is False and trimmer.trims == 0


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_a_trim_hands_a_fragmented_heaps_free_pages_back():
    # 64 MiB of 64 KiB heap blocks, every other one freed: the heap cannot shrink from its
    # top, so glibc keeps the 32 MiB of holes resident until malloc_trim returns them
    code = """
import ctypes
from mtg_grasp_ros.ros.malloc import HeapTrimmer
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
blocks = [libc.malloc(65536) for _ in range(1024)]
for b in blocks:
    ctypes.memset(b, 1, 65536)
for b in blocks[::2]:
    libc.free(b)
before = rss()
t = [0.0]
trimmer = HeapTrimmer(1.0, clock=lambda: t[0])
t[0] = 1.0
assert trimmer()
print(before - rss())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout) > 24.0, out.stdout       # MiB handed back of the 32 freed
