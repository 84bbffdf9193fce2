"""A killed ``mtg_grasp generate`` leaves no pool workers running and writing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


def _children(pid: int) -> list[int]:
    """Live (not zombie) processes whose parent is ``pid``."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state != "Z":
            found.append(int(d.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _is_pool_worker(pid: int) -> bool:
    try:
        return b"spawn_main" in (Path("/proc") / str(pid) / "cmdline").read_bytes()
    except OSError:
        return False


def _kill_and_expect_workers_gone(parent: subprocess.Popen, workers: list[int],
                                  poll: float) -> None:
    """SIGKILL the parent; every worker must be gone within 3 s."""
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 3
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(poll)
    assert not [p for p in workers if _alive(p)], "pool workers outlived the killed parent"


def _clean_up(parent: subprocess.Popen, workers: list[int]) -> None:
    """End what a failed test left: the parent, and only the workers this test started."""
    if parent.poll() is None:
        parent.kill()
        parent.wait()
    for p in workers:
        if _alive(p):
            os.kill(p, signal.SIGKILL)


POOL_SCRIPT = """
import multiprocessing, os, sys, time
from mtg_grasp_ros.synth import generate as gen
pool = multiprocessing.get_context("spawn").Pool(2, gen._exit_with_parent, (os.getpid(),))
pool.map_async(time.sleep, [60, 60], chunksize=1)
print(*[p.pid for p in pool._pool], flush=True)
time.sleep(120)
"""


def test_pool_initializer_ends_workers_in_the_middle_of_a_job():
    """The mechanism alone, with jobs that would run for a minute."""
    parent = subprocess.Popen([sys.executable, "-c", POOL_SCRIPT], cwd=REPO,
                              stdout=subprocess.PIPE, text=True)
    workers: list[int] = []
    try:
        workers = [int(p) for p in parent.stdout.readline().split()]
        assert len(workers) == 2
        time.sleep(3)                               # started, initialised, sleeping in a job
        assert all(_alive(p) for p in workers)
        _kill_and_expect_workers_gone(parent, workers, poll=0.05)
    finally:
        _clean_up(parent, workers)


def test_workers_exit_when_generate_is_killed(tmp_path):
    out = tmp_path / "data"
    parent = subprocess.Popen(
        [sys.executable, "-m", "mtg_grasp_ros.cli", "generate", "--out", str(out),
         "--objects", "4", "--views", "4", "--size", "512", "--seed", "5", "--workers", "2",
         "--no-progress"], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:          # until both workers are busy writing
            workers = [p for p in _children(parent.pid) if _is_pool_worker(p)]
            if len(workers) == 2 and out.is_dir() and any(out.glob(".tmp-*")):
                break
            assert parent.poll() is None, "generate ended before it could be killed"
            time.sleep(0.1)
        else:
            pytest.fail("generate's pool workers never started writing")
        # One object takes ~10 s here: a worker still alive after 3 s kept on working.
        _kill_and_expect_workers_gone(parent, workers, poll=0.1)
        # Nothing writes any more: the output stays as the kill left it.
        before = sorted(str(p) for p in out.rglob("*"))
        time.sleep(2)
        assert sorted(str(p) for p in out.rglob("*")) == before
    finally:
        _clean_up(parent, workers)


def test_orphaned_worker_takes_no_further_job(tmp_path):
    """The fallback where PDEATHSIG is missing: a worker whose parent changed stops between
    jobs, before writing anything.
    """
    script = (f"import os\nfrom mtg_grasp_ros.synth import generate as gen\n"
              f"gen._PARENT = os.getppid() + 1\n"
              f"gen._work((gen.GenerateConfig(out={str(tmp_path / 'out')!r}, objects=1, "
              f"size=128), 0))\nprint('made it')\n")
    r = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 1 and "made it" not in r.stdout, r.stderr
    assert not (tmp_path / "out").exists()
