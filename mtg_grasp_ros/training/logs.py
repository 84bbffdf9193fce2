"""Per-epoch metrics to ``metrics.csv`` and TensorBoard (``tb/``), resumable."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from ..atomic import atomic_path

METRICS = "metrics.csv"


def read_metrics(run_dir: str | Path) -> list[dict[str, float]]:
    """The rows of a run's ``metrics.csv`` as floats (empty cells dropped)."""
    path = Path(run_dir) / METRICS
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no metrics (is {run_dir} a training run directory?)")
    with path.open(newline="") as f:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)}
                for row in csv.DictReader(f)]


class RunLog:
    """Appends one row per epoch (1-based); on resume, rows after ``start_epoch`` are dropped."""

    def __init__(self, run_dir: Path, start_epoch: int = 0, tensorboard: bool = True) -> None:
        self.path = run_dir / METRICS
        self.rows: list[dict[str, Any]] = []
        if start_epoch > 0 and self.path.is_file():
            with self.path.open(newline="") as f:
                self.rows = [r for r in csv.DictReader(f) if int(r["epoch"]) <= start_epoch]
        self.writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
                self.writer = SummaryWriter(str(run_dir / "tb"), purge_step=start_epoch + 1)
            except ImportError:  # tensorboard is optional at run time
                self.writer = None

    def log(self, epoch: int, values: dict[str, float]) -> None:
        """Add an epoch's row and rewrite ``metrics.csv`` (and TensorBoard scalars)."""
        self.rows.append({"epoch": epoch, **values})
        keys: list[str] = []
        for r in self.rows:
            keys += [k for k in r if k not in keys]
        with atomic_path(self.path) as tmp, tmp.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            w.writerows(self.rows)
        if self.writer is not None:
            for k, v in values.items():
                self.writer.add_scalar(k.replace("_", "/", 1), v, epoch)
            self.writer.flush()

    def close(self) -> None:
        """Flush and close the TensorBoard writer."""
        if self.writer is not None:
            self.writer.close()
