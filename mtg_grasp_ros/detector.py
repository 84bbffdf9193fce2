"""One object that runs preprocessing, the grasp network and postprocessing on a device.

The ROS node, the bag replay and the benchmarks all call :class:`GraspDetector`; training and
evaluation call the same functions it is made of.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .grasp import Grasp
from .model import GraspCNN
from .model_io import ModelMetadata, load_model
from .postprocess import PostprocessConfig, peak_table, rows_to_grasps, smooth_maps
from .preprocess import View, prepare
from .settings import DEVICES


def select_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when a GPU is usable, else the CPU; ``cuda`` without one is an error."""
    if name not in DEVICES and not name.startswith("cuda:"):
        raise ValueError(f"unknown device {name!r}; expected one of {DEVICES} or 'cuda:N'")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} asked for, but CUDA is not available "
                           f"(torch {torch.__version__})")
    return torch.device(name)


class NonFiniteOutput(RuntimeError):
    """The network's output holds NaN or infinity (e.g. NaN weights): no grasp can be trusted."""


@dataclass
class Detection:
    """The grasps found in one image, best first, with per-stage timings in seconds."""

    grasps: list[Grasp]            # in source-image pixels
    grasps_net: list[Grasp]        # in network-input pixels
    view: View
    timings: dict[str, float] = field(default_factory=dict)
    quality_map: np.ndarray | None = None   # smoothed Q (network pixels) when asked for

    @property
    def best(self) -> Grasp | None:
        """The best grasp, or None when none was found."""
        return self.grasps[0] if self.grasps else None


class GraspDetector:
    """A grasp-only network loaded once, warmed up, and run image by image."""

    def __init__(self, model: GraspCNN | str | Path, device: str = "auto",
                 post: PostprocessConfig | None = None,
                 roi: Sequence[int] | None = None) -> None:
        self.device = select_device(device)
        self.metadata: ModelMetadata | None = None
        if isinstance(model, (str, Path)):
            model, self.metadata = load_model(model, grasp_only=True, device=self.device)
        else:
            model = (model.grasp_only() if model.has_aux else model).to(self.device).eval()
        self.model = model
        self.post = post or PostprocessConfig()
        self.roi = tuple(roi) if roi is not None else None
        self.input_size = model.config.input_size

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def warmup(self, runs: int = 3) -> None:
        """Run a few blank frames so that the first real frame pays no start-up cost."""
        blank = np.zeros((self.input_size, self.input_size, 3), np.uint8)
        for _ in range(runs):
            self.detect(blank)

    @torch.inference_mode()
    def detect(self, rgb: np.ndarray, post: PostprocessConfig | None = None,
               roi: Sequence[int] | None = None, with_quality_map: bool = False) -> Detection:
        """Grasps in an HxWx3 uint8 RGB image of any size, best first.

        ``post`` and ``roi`` are this frame's postprocessing and region of interest (``None``:
        the ones given to the constructor), so that a caller whose settings change at run time
        passes them per frame instead of changing the detector.
        """
        post = self.post if post is None else post
        roi = self.roi if roi is None else tuple(roi)
        t0 = time.perf_counter()
        x, view = prepare(rgb, self.input_size, roi, self.device)
        self._sync()
        t1 = time.perf_counter()
        maps = self.model(x)
        if not bool(torch.isfinite(maps["q"]).all()):     # else no peak, silently no grasp
            raise NonFiniteOutput("model output not finite (NaN or inf in the quality map)")
        t2 = time.perf_counter()
        net_grasps = rows_to_grasps(peak_table(maps, post), post)[0]
        t3 = time.perf_counter()
        grasps = [view.grasp_to_image(g) for g in net_grasps]
        qmap = smooth_maps(maps, post)["q"][0].cpu().numpy() if with_quality_map else None
        timings = {"preprocess": t1 - t0, "network": t2 - t1, "postprocess": t3 - t2}
        return Detection(grasps, net_grasps, view, timings, qmap)
