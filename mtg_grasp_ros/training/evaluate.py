"""The paper's metric on a set of images: the top grasp of each image, right or wrong.

A prediction (``postprocess.find_grasps``, argmax of the smoothed Q) is correct when it
matches any ground-truth rectangle by the Jacquard rule (``grasp.is_correct``). Both are
compared in network pixels of the inference centre crop, where IoU and angle are the same
as in image pixels (a similarity transform keeps both).

With ``max_opening`` the scored grasp is the node's first published one instead: the best
candidate whose opening, placed on the support plane as the node places it, fits the gripper.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ..datasets.cameras import read_view_camera
from ..datasets.records import DatasetError, Record
from ..datasets.torch_dataset import GraspDataset, collate
from ..grasp import Grasp, is_correct, max_iou
from ..postprocess import PostprocessConfig, find_grasps
from ..preprocess import View, normalise
from ..projection import DepthSource, ProjectionError, project_grasps


def default_workers() -> int:
    """min(8, CPUs - 1): enough to keep a GPU fed, one core left for the main process."""
    return max(0, min(8, (os.cpu_count() or 1) - 1))


def make_loader(dataset: Dataset, batch_size: int, workers: int, device: torch.device,
                shuffle_generator: torch.Generator | None = None,
                sampler: Sampler | None = None) -> DataLoader:
    """A DataLoader with workers, pinned memory on CUDA and the project's collate."""
    workers = default_workers() if workers < 0 else workers
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler,
                      shuffle=shuffle_generator is not None and sampler is None,
                      generator=shuffle_generator, num_workers=workers,
                      collate_fn=collate, pin_memory=device.type == "cuda",
                      prefetch_factor=4 if workers > 0 else None)


@dataclass
class EvalResult:
    """Correct and total images, skipped ones, mean loss and per-image details of an evaluation."""

    correct: int = 0
    total: int = 0
    #: Images left out because a file could not be read (only with skip_bad).
    skipped: int = 0
    loss: float | None = None
    images: list[dict[str, Any]] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        """Percentage of images whose top grasp is correct."""
        return 100.0 * self.correct / self.total if self.total else 0.0


def grasp_json(g: Grasp) -> dict[str, float]:
    """A grasp as a JSON object (angle in degrees, rounded) for the evaluation report."""
    return {"x": round(g.x, 3), "y": round(g.y, 3), "angle_deg": round(math.degrees(g.angle), 3),
            "width": round(g.width, 3), "jaw": round(g.jaw, 3), "quality": round(g.quality, 5)}


def first_that_fits(candidates: Sequence[Grasp], view: View, record: Record,
                    max_opening: float) -> tuple[Grasp | None, int, float | None]:
    """The node's pick: the first candidate (network pixels, best first) whose opening at the
    support plane's depth is at most ``max_opening`` metres, as ``pipeline._place`` keeps them
    (``depth_source: plane``, the grasp centre on the plane).

    Also how many better-ranked candidates were too wide, and the pick's opening in metres.
    """
    if record.camera is None:
        raise DatasetError(f"{record.rgb}: no camera file beside it (only generated views have "
                           f"one), so its grasps cannot be placed in metres")
    camera, plane = read_view_camera(record.camera)
    placed = project_grasps([view.grasp_to_image(g) for g in candidates], camera,
                            DepthSource(plane=plane))
    too_wide = 0
    for grasp, pose in zip(candidates, placed, strict=True):
        if isinstance(pose, ProjectionError):
            raise DatasetError(f"{record.camera}: a grasp could not be placed on its "
                               f"support plane ({pose})")
        if pose.width_m <= max_opening:
            return grasp, too_wide, round(pose.width_m, 5)
        too_wide += 1
    return None, too_wide, None


@torch.inference_mode()
def evaluate(model: torch.nn.Module, loader: DataLoader, device: torch.device,
             post: PostprocessConfig = PostprocessConfig(),
             loss_fn: Callable | None = None, max_batches: int | None = None,
             records: Sequence[Record] | None = None, progress: bool = False,
             max_opening: float | None = None) -> EvalResult:
    """Run ``model`` over ``loader`` (un-augmented), scoring each image's top grasp.

    Per-image entries hold the record id (when ``records`` is given), the prediction in
    source-image pixels, whether it is correct and its best IoU against an angle-matching
    truth. ``loss_fn`` adds the mean loss over the batches. ``max_opening`` (metres; needs
    ``records`` of generated views) scores :func:`first_that_fits` of the ``post.top_k``
    candidates instead, and notes how many were too wide and the scored one's opening.
    """
    from tqdm import tqdm

    if max_opening is not None and records is None:
        raise ValueError("scoring against max_opening needs the records (their cameras)")

    was_training = model.training
    model.eval()
    result, loss_sum, n_batches = EvalResult(), 0.0, 0
    total = len(loader) if max_batches is None else min(max_batches, len(loader))
    for b, batch in enumerate(tqdm(loader, total=total, desc="eval", leave=False,
                                   disable=not progress)):
        if max_batches is not None and b >= max_batches:
            break
        result.skipped += len(batch.skipped)
        if len(batch) == 0:
            continue
        x = normalise(batch.image.to(device, non_blocking=True))
        maps = model(x)
        if loss_fn is not None:
            targets = {k: v.to(device, non_blocking=True) for k, v in batch.targets.items()}
            loss_sum += float(loss_fn(maps, targets).total)
            n_batches += 1
        for preds, truths_arr, view, idx in zip(find_grasps(maps, post), batch.grasps,
                                                batch.views, batch.index, strict=True):
            truths = [Grasp(*map(float, row)) for row in truths_arr]
            entry: dict[str, Any] = {"index": idx, "truths": len(truths)}
            if records is not None:
                entry["id"] = records[idx].id
            if max_opening is None:
                pred = preds[0] if preds else None
            else:
                assert records is not None      # checked above
                pred, entry["too_wide"], entry["opening_m"] = first_that_fits(
                    preds, view, records[idx], max_opening)
            ok = pred is not None and is_correct(pred, truths)
            result.total += 1
            result.correct += int(ok)
            entry["correct"] = ok
            if pred is not None:
                entry["grasp"] = grasp_json(view.grasp_to_image(pred))
                entry["iou"] = round(max_iou(pred, truths), 4)
            result.images.append(entry)
    if n_batches:
        result.loss = loss_sum / n_batches
    model.train(was_training)
    return result


def evaluate_records(model: torch.nn.Module, records: Sequence[Record], device: torch.device,
                     post: PostprocessConfig = PostprocessConfig(), batch_size: int = 8,
                     workers: int = -1, progress: bool = False,
                     skip_bad: bool = False, frame: str = "whole",
                     max_opening: float | None = None) -> EvalResult:
    """The metric over records, each seen through the inference centre crop (or the
    ``frame`` of :data:`mtg_grasp_ros.framing.FRAMES`); ``max_opening`` as in :func:`evaluate`.
    """
    size = getattr(getattr(model, "config", None), "input_size", 300)
    ds = GraspDataset(records, aux=None, size=size, augment=None, skip_bad=skip_bad,
                      frame=frame)
    return evaluate(model, make_loader(ds, batch_size, workers, device), device, post,
                    records=records, progress=progress, max_opening=max_opening)
