"""Training checkpoints as the tools meet them: missing entries, killed writers' leftovers."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mtg_grasp_ros.cli import main
from mtg_grasp_ros.model import GraspCNN
from mtg_grasp_ros.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from mtg_grasp_ros.training.config import load_config

REPO = Path(__file__).resolve().parents[1]


def _checkpoint(path: Path, drop: tuple[str, ...] = ()) -> Path:
    """A small real checkpoint (as ``train`` writes best.pt) with some entries left out."""
    cfg = load_config(REPO / "config/train/ggcnn.yaml")
    state = {"epoch": 1, "model": GraspCNN(cfg.model).state_dict(), "config": cfg.to_dict(),
             "val_accuracy": 50.0}
    save_checkpoint({k: v for k, v in state.items() if k not in drop}, path)
    return path


def test_export_and_evaluate_name_the_file_and_missing_config(tmp_path, capsys):
    good = _checkpoint(tmp_path / "good" / "best.pt")
    assert main(["export", "--checkpoint", str(good), "--out", str(tmp_path / "m")]) == 0
    capsys.readouterr()
    bad = _checkpoint(tmp_path / "bad" / "best.pt", drop=("config",))
    assert main(["export", "--checkpoint", str(bad), "--out", str(tmp_path / "m2")]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: checkpoint has no 'config' entry" in err and "Traceback" not in err
    assert not (tmp_path / "m2.safetensors").exists()
    r = subprocess.run([sys.executable, "-m", "mtg_grasp_ros.cli", "evaluate", "--model",
                        str(bad), "--data", str(tmp_path), "--device", "cpu"],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2, r.stderr
    assert f"{bad}: checkpoint has no 'config' entry" in r.stderr
    assert "Traceback" not in r.stderr


def test_checkpoint_whose_weights_do_not_fit_its_config(tmp_path, capsys):
    path = tmp_path / "best.pt"
    cfg = load_config(REPO / "config/train/ggcnn.yaml")
    save_checkpoint({"epoch": 1, "model": {"w": torch.zeros(2)}, "config": cfg.to_dict()}, path)
    assert main(["export", "--checkpoint", str(path), "--out", str(tmp_path / "m")]) == 2
    assert f"{path}: 'model' weights do not fit" in capsys.readouterr().err


def test_stale_temp_files_of_dead_writers_are_removed(tmp_path):
    path = tmp_path / "last.pt"
    # A writer killed mid-save: its pid is gone, its temporary file stays behind.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f"last.pt.{dead.pid}.tmp"
    stale.write_bytes(b"half a checkpoint")
    live = tmp_path / f"last.pt.{os.getppid()}.tmp"       # a live process's: maybe mid-write
    live.write_bytes(b"in progress")
    other = tmp_path / "best.pt.999999999.tmp"              # another file's temp: not ours
    other.write_bytes(b"x")
    _checkpoint(path)
    assert not stale.exists() and live.exists() and other.exists()
    stale.write_bytes(b"half a checkpoint")
    assert load_checkpoint(path)["epoch"] == 1              # resuming cleans up too
    assert not stale.exists() and live.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["last.pt", live.name, other.name])


def test_checkpoint_and_model_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        ckpt = _checkpoint(tmp_path / "best.pt")
        assert main(["export", "--checkpoint", str(ckpt), "--out", str(tmp_path / "m")]) == 0
        os.umask(0o027)
        ckpt2 = _checkpoint(tmp_path / "b2.pt")
    finally:
        os.umask(old)
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)      # noqa: E731
    assert mode(ckpt) == 0o644 and mode(tmp_path / "m.safetensors") == 0o644
    assert mode(ckpt2) == 0o640


def test_missing_checkpoint_is_a_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "none.pt")
