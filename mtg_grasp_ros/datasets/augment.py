"""Training augmentation as a random :class:`~mtg_grasp_ros.preprocess.View`.

Random crop and zoom (the paper) and, optionally, rotation. The one View is applied to the
image and the auxiliary map with :func:`~mtg_grasp_ros.preprocess.warp` and to the
rectangles with ``View.grasp_to_net``, so all three stay aligned by construction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..model import INPUT_SIZE
from ..preprocess import View

ROTATIONS: tuple[str, ...] = ("none", "quarter", "free")


@dataclass(frozen=True)
class AugmentConfig:
    """Crop side = short image side x U(zoom_min, zoom_max); the crop is placed at random
    within ``shift`` of the free margin (0 = centred, 1 = anywhere inside the image);
    rotation ``none``, ``quarter`` (multiples of 90 deg, as ggcnn) or ``free`` (uniform)."""

    enabled: bool = True
    zoom_min: float = 0.5
    zoom_max: float = 1.0
    shift: float = 1.0
    rotation: str = "none"

    def __post_init__(self) -> None:
        if not 0.05 <= self.zoom_min <= self.zoom_max <= 1.0:
            raise ValueError(f"need 0.05 <= zoom_min <= zoom_max <= 1, got "
                             f"{self.zoom_min}, {self.zoom_max}")
        if not 0.0 <= self.shift <= 1.0:
            raise ValueError(f"shift must be in [0, 1], got {self.shift}")
        if self.rotation not in ROTATIONS:
            raise ValueError(f"rotation must be one of {ROTATIONS}, got {self.rotation!r}")


def random_view(rng: np.random.Generator, image_shape: tuple[int, ...], cfg: AugmentConfig,
                size: int = INPUT_SIZE) -> View:
    """A random crop/zoom(/rotation) View of an image of ``image_shape``.

    Without rotation the crop is snapped to whole pixels, so ``warp`` takes its exact
    area-averaging path, the one inference uses.
    """
    h, w = int(image_shape[0]), int(image_shape[1])
    side = min(h, w) * rng.uniform(cfg.zoom_min, cfg.zoom_max)
    x0 = (w - side) * (0.5 + cfg.shift * (rng.uniform() - 0.5))
    y0 = (h - side) * (0.5 + cfg.shift * (rng.uniform() - 0.5))
    rotation = 0.0
    if cfg.rotation == "quarter":
        rotation = float(rng.integers(4)) * math.pi / 2
    elif cfg.rotation == "free":
        rotation = rng.uniform(-math.pi, math.pi)
    if rotation == 0.0:
        side = float(max(1, round(side)))
        x0, y0 = float(min(max(round(x0), 0), w - side)), float(min(max(round(y0), 0), h - side))
    return View(x0 + (side - 1) / 2.0, y0 + (side - 1) / 2.0, float(side), rotation, size)


def rescaled_view(view: View, scale: float) -> View:
    """The same View for the source image resized by ``scale`` (cv2.resize pixel centres:
    x' = (x + 0.5) scale - 0.5), so a cached downscaled image warps to the same pixels."""
    if scale == 1.0:
        return view
    return View((view.cx + 0.5) * scale - 0.5, (view.cy + 0.5) * scale - 0.5,
                view.side * scale, view.rotation, view.size)
