"""The node's process setup: glibc's malloc arenas capped unless MALLOC_ARENA_MAX is set, Fast
DDS asked for UDP only unless FASTDDS_BUILTIN_TRANSPORTS is set.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from mtg_grasp_ros.ros import process_setup as setup


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_the_cap_is_set_on_glibc_in_a_fresh_process():
    code = "from mtg_grasp_ros.ros.process_setup import limit_malloc_arenas as f; print(f())"
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "True", out.stderr


def test_an_explicit_environment_setting_is_left_alone(monkeypatch):
    monkeypatch.setenv("MALLOC_ARENA_MAX", "8")
    assert setup.limit_malloc_arenas() is False


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallinfo2 is glibc's")
def test_heap_in_use_counts_a_block_while_it_is_held():
    import ctypes
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_void_p]
    before = setup.heap_in_use()
    block = libc.malloc(8 << 20)
    held = setup.heap_in_use()
    libc.free(block)
    after = setup.heap_in_use()
    assert before is not None and held is not None and after is not None
    assert held - before >= 8 << 20 and abs(after - before) < 1 << 20


def test_udp_is_chosen_when_nothing_is_set(monkeypatch):
    monkeypatch.setenv(setup.VARIABLE, "restored after the test")
    monkeypatch.delenv(setup.VARIABLE)      # recorded, so the test's own value goes too
    assert setup.prefer_udp_transport() is True
    assert os.environ[setup.VARIABLE] == "UDPv4"


def test_a_users_choice_is_left_alone(monkeypatch):
    monkeypatch.setenv(setup.VARIABLE, "DEFAULT")
    assert setup.prefer_udp_transport() is False
    assert os.environ[setup.VARIABLE] == "DEFAULT"

