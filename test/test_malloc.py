"""The node's process caps glibc's malloc arenas, unless MALLOC_ARENA_MAX already does."""

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


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallinfo2 is glibc's")
def test_heap_in_use_counts_a_block_while_it_is_held():
    import ctypes
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_void_p]
    before = malloc.heap_in_use()
    block = libc.malloc(8 << 20)
    held = malloc.heap_in_use()
    libc.free(block)
    after = malloc.heap_in_use()
    assert before is not None and held is not None and after is not None
    assert held - before >= 8 << 20 and abs(after - before) < 1 << 20
