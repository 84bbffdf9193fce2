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
