"""Pictures a person wants: validation accuracy per epoch (the paper's Fig. 6), and a sheet
of test images with predicted and ground-truth rectangles.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.patches import Polygon  # noqa: E402

from ..datasets.images import read_rgb  # noqa: E402
from ..datasets.records import Record  # noqa: E402
from ..grasp import Grasp, is_correct  # noqa: E402
from ..model import GraspCNN  # noqa: E402
from ..postprocess import PostprocessConfig, find_grasps  # noqa: E402
from ..preprocess import prepare, warp  # noqa: E402
from .logs import read_metrics  # noqa: E402

TRUTH_COLOUR = "#2ca02c"   # green, thin
PRED_COLOUR = "#d62728"    # red, thick


def run_label(run_dir: Path) -> str:
    """A legend label for a run: its variant name and fold."""
    import yaml

    cfg = run_dir / "config.yaml"
    if cfg.is_file():
        d = yaml.safe_load(cfg.read_text())
        return f"{d.get('name', run_dir.name)} (fold {d.get('split', {}).get('fold', '?')})"
    return run_dir.name


def plot_curves(runs: Sequence[Path], out: Path, metric: str = "val_accuracy") -> Path:
    """One line per run: ``metric`` (percent correct) against epoch."""
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for run in runs:
        rows = [r for r in read_metrics(run) if metric in r]
        ax.plot([r["epoch"] for r in rows], [r[metric] for r in rows], marker="o",
                markersize=3, label=run_label(run))
    ax.set_xlabel("epoch")
    ax.set_ylabel("correct grasps on validation set (%)" if metric == "val_accuracy" else metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def _draw(ax, g: Grasp, colour: str, lw: float) -> None:
    ax.add_patch(Polygon(g.corners(), closed=True, fill=False, edgecolor=colour, linewidth=lw))


@torch.inference_mode()
def plot_sheet(model: GraspCNN, records: Sequence[Record], out: Path, device: torch.device,
               post: PostprocessConfig = PostprocessConfig(), columns: int = 4,
               frame: str = "whole") -> Path:
    """Each image's centre crop as the network sees it (or ggcnn's window, ``frame``), its
    ground-truth rectangles (green) and the predicted top grasp (red), titled correct or
    wrong.
    """
    from ..framing import ggcnn_view
    from ..preprocess import normalise

    n = len(records)
    rows = max(1, -(-n // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(3 * columns, 3.2 * rows), dpi=100,
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    size = model.config.input_size
    for ax, rec in zip(axes.flat, records, strict=False):   # the last row may have spare axes
        rgb = read_rgb(rec.rgb)
        if frame == "ggcnn":
            view = ggcnn_view(rec.grasps, rgb.shape, size=size)
            x = normalise(torch.from_numpy(np.ascontiguousarray(warp(rgb, view))).to(device))
        else:
            x, view = prepare(rgb, size, device=device)
        pred = find_grasps(model(x), post)[0]
        truths = [view.grasp_to_net(g) for g in rec.grasp_list()]
        ax.imshow(warp(rgb, view))
        for t in truths:
            _draw(ax, t, TRUTH_COLOUR, 0.6)
        ok = bool(pred) and is_correct(pred[0], truths)
        if pred:
            _draw(ax, pred[0], PRED_COLOUR, 2.0)
            ax.plot([pred[0].x], [pred[0].y], "+", color=PRED_COLOUR, markersize=10, mew=2)
        ax.set_xlim(0, size - 1)
        ax.set_ylim(size - 1, 0)
        ax.set_title(f"{rec.id.split('/')[-1][:20]}: {'correct' if ok else 'wrong'}", fontsize=8)
    fig.suptitle("green: ground truth, red: predicted top grasp", fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out
