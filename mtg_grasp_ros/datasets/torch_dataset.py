"""The torch Dataset that turns records into (input, targets, ground-truth grasps).

Per sample: decode (or read from the cache), one View (random in training, the inference
centre crop otherwise), ``warp`` of image and auxiliary map, rectangles through the same
View, target maps drawn in network pixels. Images stay uint8 (H, W, 3) until the training
loop moves them to the device and calls ``preprocess.normalise``, exactly as inference does.

Augmentation is drawn from ``numpy.random.default_rng([seed, epoch, index])``: the same
sample gets the same crop whatever the worker count, process or resume point.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import Dataset

from ..grasp import Grasp, wrap_angle
from ..model import INPUT_SIZE
from ..preprocess import View, warp
from .augment import AugmentConfig, camera_effects, paste_clutter, random_view, rescaled_view
from .images import SourceCache, read_aux, read_source
from .records import DatasetError, Record, grasps_to_array
from .targets import CUT_OBJECTS, drop_cut_objects, grasp_maps


@dataclass
class Batch:
    """A collated batch: uint8 images (B, H, W, 3), target maps (B, 1, H, W), and per image
    its ground-truth grasps in network pixels ((N, 5) arrays), View and record index.
    """

    image: torch.Tensor
    targets: dict[str, torch.Tensor]
    grasps: list[np.ndarray]
    views: list[View]
    index: list[int]
    #: Reasons for samples left out of this batch (unreadable files, with skip_bad).
    skipped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.index)

    def pin_memory(self) -> Batch:
        """Called by DataLoader(pin_memory=True): page-locked tensors copy to a GPU
        asynchronously (a plain dataclass would otherwise be passed through unpinned).
        """
        self.image = self.image.pin_memory()
        self.targets = {k: v.pin_memory() for k, v in self.targets.items()}
        return self


def grasps_in_view(record: Record, view: View) -> list[Grasp]:
    """The record's grasps in network pixels, those whose centre falls in the input kept.

    Vectorised form of ``view.grasp_to_net`` over all rows (Jacquard scenes have hundreds
    of grasps; a Python loop over Grasp objects cost more than decoding the image).
    """
    g = record.grasps
    m = view.matrix
    xy = g[:, :2] @ m[:, :2].T + m[:, 2]
    keep = ((xy >= -0.5) & (xy < view.size - 0.5)).all(axis=1)
    angle = wrap_angle(g[keep, 2] + view.rotation)
    assert isinstance(angle, np.ndarray)     # an array in, an array out
    k = view.scale
    return [Grasp(float(x), float(y), float(a), float(w), float(j)) for (x, y), a, w, j in
            zip(xy[keep], angle, g[keep, 3] * k, g[keep, 4] * k, strict=True)]


class GraspDataset(Dataset):
    """Records to network samples; ``augment=None`` gives the inference centre crop
    (``frame="whole"``, as the node sees the frame) or ggcnn's Cornell window
    (``frame="ggcnn"``, :func:`~mtg_grasp_ros.framing.ggcnn_view`). ``cut_objects="drop"``
    leaves out the grasps on objects the view cuts (:func:`.targets.drop_cut_objects`; the
    records need masks).
    """

    def __init__(self, records: Sequence[Record], aux: str | None = None,
                 size: int = INPUT_SIZE, augment: AugmentConfig | None = None,
                 seed: int = 0, cache: SourceCache | None = None,
                 skip_bad: bool = False, frame: str = "whole", cut_objects: str = "keep"
                 ) -> None:
        from ..framing import FRAMES

        if frame not in FRAMES:
            raise ValueError(f"unknown frame {frame!r}; expected one of {FRAMES}")
        if cut_objects not in CUT_OBJECTS:
            raise ValueError(f"cut_objects must be one of {CUT_OBJECTS}, got {cut_objects!r}")
        self.cut_objects = cut_objects
        self.frame = frame
        self.records = list(records)
        self.skip_bad = skip_bad
        self.aux = aux
        self.size = size
        self.augment = augment if augment is not None and augment.enabled else None
        self.seed = seed
        self.cache = cache
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the augmentation of this epoch (call before creating the loader iterator)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict:
        """One sample; with ``skip_bad`` an unreadable file gives ``{"skipped": reason}``
        (collate leaves it out and counts it) instead of stopping the run.
        """
        try:
            return self._sample(index)
        except DatasetError as exc:
            if not self.skip_bad:
                raise
            return {"skipped": str(exc), "index": index}

    def _sample(self, index: int) -> dict:
        record = self.records[index]
        if self.cache is not None:
            rgb, aux, scale = self.cache.load(record, self.aux)
            source_shape = (round(rgb.shape[0] / scale), round(rgb.shape[1] / scale))
        else:
            rgb, aux = read_source(record, self.aux)
            scale, source_shape = 1.0, rgb.shape[:2]
        rng = None
        if self.augment is not None:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            view = random_view(rng, source_shape, self.augment, self.size)
        elif self.frame == "ggcnn":
            from ..framing import ggcnn_view

            view = ggcnn_view(record.grasps, source_shape, size=self.size)
        else:
            view = View.centre_crop(source_shape, self.size)
        pixel_view = rescaled_view(view, scale)
        image = np.ascontiguousarray(warp(rgb, pixel_view))
        grasps = grasps_in_view(record, view)
        if self.cut_objects == "drop":
            # the saliency target is the mask; else the source mask (no second cached copy
            # of the image), warped in source pixels
            mask, mask_view = (aux, pixel_view) if self.aux == "saliency" else \
                (read_aux(record, "saliency"), view)
            assert mask is not None              # read_aux raises when there is no mask
            grasps = drop_cut_objects(grasps, warp(mask, mask_view, nearest=True))
        maps = grasp_maps(grasps, self.size)
        if rng is not None:
            assert self.augment is not None      # rng is only drawn for augmentation
            # pixel-only augmentation, drawn after the View so crops stay as they were
            if self.augment.clutter > 0 and rng.random() < self.augment.clutter:
                image = paste_clutter(image, maps["q"], rng)
            if self.augment.photometric > 0 and rng.random() < self.augment.photometric:
                image = camera_effects(image, rng)
        if aux is not None:
            maps["aux"] = warp(aux, pixel_view, nearest=self.aux == "saliency")
        return {"image": torch.from_numpy(image),
                "targets": {k: torch.from_numpy(v).unsqueeze(0) for k, v in maps.items()},
                "grasps": grasps_to_array(grasps), "view": view, "index": index}


def collate(samples: list[dict]) -> Batch:
    """Stack images and maps; keep the variable-length grasp arrays as a list. Skipped
    samples are left out and listed in ``Batch.skipped`` (the batch may be empty).
    """
    skipped = [s["skipped"] for s in samples if "skipped" in s]
    samples = [s for s in samples if "skipped" not in s]
    if not samples:
        return Batch(torch.empty(0, dtype=torch.uint8), {}, [], [], [], skipped)
    keys = samples[0]["targets"].keys()
    return Batch(image=torch.stack([s["image"] for s in samples]),
                 targets={k: torch.stack([s["targets"][k] for s in samples]) for k in keys},
                 grasps=[s["grasps"] for s in samples], views=[s["view"] for s in samples],
                 index=[s["index"] for s in samples], skipped=skipped)
