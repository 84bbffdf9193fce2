"""DistributedDataParallel under torchrun: two CPU processes (gloo) train one run."""

from __future__ import annotations

import csv
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_torchrun_two_cpu_processes(jacquard_samples, tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
           "-m", "mtg_grasp_ros.cli", "train", "--config", "config/train/ggcnn.yaml",
           "--data", str(jacquard_samples), "--out", str(out), "--epochs", "1",
           "--batch-size", "1", "--workers", "0", "--no-progress",
           "--set", "model.input_size=64", "--set", "split.folds=2"]
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    # Rank 0 alone logs: one line per epoch, not one per process.
    assert r.stdout.count("epoch 1/1:") == 1
    with (out / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and float(rows[0]["train_loss"]) > 0
    assert (out / "best.safetensors").is_file() and (out / "test.json").is_file()
