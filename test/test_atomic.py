"""The one atomic-write helper: all or nothing, the umask's mode, dead writers' temps removed."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from mtg_grasp_ros import atomic


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "a.json"
    atomic.write_text(path, "old")
    with pytest.raises(RuntimeError), atomic.atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["a.json"]


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_mode_follows_the_umask_even_when_the_writer_makes_its_own_file(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        with atomic.atomic_path(tmp_path / "m.bin") as tmp:
            tmp.unlink()                       # as safetensors does: its own file, mode 0600
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT, 0o600))
        atomic.write_bytes(tmp_path / "plain.bin", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "m.bin").stat().st_mode) == mode
    assert stat.S_IMODE((tmp_path / "plain.bin").stat().st_mode) == mode


def test_only_dead_writers_temps_are_removed(tmp_path):
    path = tmp_path / "x [1].json"                        # glob characters in the name
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead = tmp_path / f"x [1].json.{done.stdout.strip()}.tmp"
    mine = atomic.temp_path(path)
    odd = tmp_path / "x [1].json.notapid.tmp"
    for f in (dead, mine, odd):
        f.write_text("?")
    assert atomic.remove_stale_temps(path) == [dead]
    assert not dead.exists() and mine.exists() and odd.exists()
