"""One object that runs preprocessing, the grasp network and postprocessing on a device.

The ROS node, the bag replay and the benchmarks all call :class:`GraspDetector`; training and
evaluation call the same functions it is made of.

Speed: the network runs in channels_last memory format at the ``precision`` of
``precision.py`` (``auto``: bf16 on CPUs with native bf16, bf16/fp16 on CUDA, else fp32),
under autocast, and its maps are cast back to fp32 before postprocessing, which is always
fp32. The resized input is written into one preallocated host buffer (pinned on CUDA, so
the copy to the GPU is asynchronous), and only the peak rows come back from the device.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import precision as prec
from .grasp import Grasp, transform_grasps
from .model import GraspCNN
from .model_io import ModelMetadata, load_model
from .postprocess import PostprocessConfig, gaussian_blur, peak_table, rows_to_grasps
from .preprocess import View, normalise, warp
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


def _all_finite(t: torch.Tensor) -> bool:
    """Whether a tensor holds no NaN or infinity; through numpy on the CPU (0.02 ms for a
    300x300 map where torch.isfinite took 0.2 ms).
    """
    if t.device.type == "cpu" and t.dtype in (torch.float32, torch.float64):
        return bool(np.isfinite(t.detach().numpy()).all())
    return bool(torch.isfinite(t).all())


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


@dataclass
class Inference:
    """The network's fp32 maps of one image, its View, and the first two stages' seconds."""

    maps: dict[str, torch.Tensor]
    view: View
    timings: dict[str, float]


class PrecisionModel(torch.nn.Module):
    """A network run in channels_last at a compute dtype, returning fp32 maps.

    What :class:`GraspDetector` runs, and what ``mtg_grasp evaluate --precision`` scores, so
    the accuracy reported per precision is the accuracy of what the node computes.
    """

    def __init__(self, model: GraspCNN, device: torch.device, dtype: torch.dtype) -> None:
        """Wrap ``model`` (moved to ``device`` in channels_last); ``dtype`` from prec.resolve."""
        super().__init__()
        self.inner = model.to(device).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.device, self.dtype = device, dtype
        self.config = model.config

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """fp32 output maps of a (B, C, H, W) batch."""
        x = x.contiguous(memory_format=torch.channels_last)
        with prec.autocast(self.device, self.dtype):
            maps = self.inner(x)
        return {k: v.float() for k, v in maps.items()}


class GraspDetector:
    """A grasp-only network loaded once, warmed up, and run image by image."""

    def __init__(self, model: GraspCNN | str | Path, device: str = "auto",
                 post: PostprocessConfig | None = None,
                 roi: Sequence[int] | None = None, precision: str = "auto") -> None:
        """Load (or take) the network onto ``device`` at ``precision`` (see the module doc)."""
        self.device = select_device(device)
        self.dtype = prec.resolve(precision, self.device)
        self.metadata: ModelMetadata | None = None
        if isinstance(model, (str, Path)):
            model, self.metadata = load_model(model, grasp_only=True, device=self.device)
        else:
            model = (model.grasp_only() if model.has_aux else model).to(self.device).eval()
        self.model = PrecisionModel(model, self.device, self.dtype).eval()
        self.post = post or PostprocessConfig()
        self.roi = tuple(roi) if roi is not None else None
        self.input_size = model.config.input_size
        # the resized image is written here (pinned on CUDA: an asynchronous copy)
        size = self.input_size
        self._host = torch.empty((size, size, 3), dtype=torch.uint8,
                                 pin_memory=self.device.type == "cuda")
        self._host_np = self._host.numpy()

    @property
    def precision(self) -> str:
        """The precision the network runs at: ``fp32``, ``bf16`` or ``fp16``."""
        return prec.name_of(self.dtype)

    def prepare(self, rgb: np.ndarray, roi: Sequence[int] | None = None
                ) -> tuple[torch.Tensor, View]:
        """The (1, 3, size, size) fp32 network input of an RGB image (channels_last), and its
        View; the same pixels as ``preprocess.prepare``, without a new buffer per frame.
        """
        view = View.centre_crop(rgb.shape, self.input_size, roi)
        warp(rgb, view, out=self._host_np)
        x = self._host.to(self.device, non_blocking=True)
        return normalise(x), view

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def warmup(self, runs: int = 5, shape: tuple[int, int] = (480, 640)) -> float:
        """Run a few frames (noise, ``shape``) so that the first real frame pays no start-up
        cost (oneDNN picks its kernels on the first runs); the seconds it took.
        """
        t0 = time.perf_counter()
        frame = np.random.default_rng(0).integers(0, 255, (*shape, 3), dtype=np.uint8)
        for _ in range(runs):
            self.detect(frame)
        return time.perf_counter() - t0

    @torch.inference_mode()
    def detect(self, rgb: np.ndarray, post: PostprocessConfig | None = None,
               roi: Sequence[int] | None = None, with_quality_map: bool = False) -> Detection:
        """Grasps in an HxWx3 uint8 RGB image of any size, best first.

        ``post`` and ``roi`` are this frame's postprocessing and region of interest (``None``:
        the ones given to the constructor), so that a caller whose settings change at run time
        passes them per frame instead of changing the detector. The same as :meth:`finish` of
        :meth:`infer`, the two halves the node runs in two threads.
        """
        return self.finish(self.infer(rgb, roi), post, with_quality_map)

    @torch.inference_mode()
    def infer(self, rgb: np.ndarray, roi: Sequence[int] | None = None) -> Inference:
        """The first half of :meth:`detect`: preprocessing and the network."""
        roi = self.roi if roi is None else tuple(roi)
        t0 = time.perf_counter()
        x, view = self.prepare(rgb, roi)
        self._sync()
        t1 = time.perf_counter()
        maps = self.model(x)
        if not _all_finite(maps["q"]):      # else no peak, silently no grasp
            raise NonFiniteOutput("model output not finite (NaN or inf in the quality map)")
        t2 = time.perf_counter()
        return Inference(maps, view, {"preprocess": t1 - t0, "network": t2 - t1})

    @torch.inference_mode()
    def finish(self, inference: Inference, post: PostprocessConfig | None = None,
               with_quality_map: bool = False) -> Detection:
        """The second half of :meth:`detect`: smoothing, peaks, grasps in image pixels."""
        post = self.post if post is None else post
        maps, view = inference.maps, inference.view
        t2 = time.perf_counter()
        net_grasps = rows_to_grasps(peak_table(maps, post), post)[0]
        grasps = transform_grasps(net_grasps, view.inverse)
        t3 = time.perf_counter()
        # the debug image needs Q alone: one map smoothed, not four
        qmap = gaussian_blur(maps["q"][:1], [post.sigma_q])[0, 0].cpu().numpy() \
            if with_quality_map else None
        timings = {**inference.timings, "postprocess": t3 - t2}
        return Detection(grasps, net_grasps, view, timings, qmap)
