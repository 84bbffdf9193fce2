"""Training augmentation: a random :class:`~mtg_grasp_ros.preprocess.View`, a camera's look,
and pasted clutter.

Random crop and zoom (the paper) and, optionally, rotation. The one View is applied to the
image and the auxiliary map with :func:`~mtg_grasp_ros.preprocess.warp` and to the
rectangles with ``View.grasp_to_net``, so all three stay aligned by construction.

For transfer to real cameras, two pixel-only steps after the warp:

* :func:`camera_effects` (probability ``photometric``): white balance, exposure and gamma,
  saturation, vignetting, blur (Gaussian or motion), sensor noise, JPEG compression. The
  synthetic data engine (:mod:`mtg_grasp_ros.synth.world`) bakes the same effects into its
  images; training draws fresh ones each epoch.
* :func:`paste_clutter` (probability ``clutter``): bright or dark bars from the border (posts,
  cables), box corners and "beyond the edge" half-planes pasted away from every labelled
  grasp, so that high-contrast structures at the frame's edge are seen as background.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ..model import INPUT_SIZE
from ..preprocess import View

ROTATIONS: tuple[str, ...] = ("none", "quarter", "free")


@dataclass(frozen=True)
class AugmentConfig:
    """Crop side = short image side x U(zoom_min, zoom_max); the crop is placed at random
    within ``shift`` of the free margin (0 = centred, 1 = anywhere inside the image);
    rotation ``none``, ``quarter`` (multiples of 90 deg, as ggcnn) or ``free`` (uniform).
    """

    enabled: bool = True
    zoom_min: float = 0.5
    zoom_max: float = 1.0
    shift: float = 1.0
    rotation: str = "none"
    photometric: float = 0.0        # probability of camera_effects per sample
    clutter: float = 0.0            # probability of paste_clutter per sample

    def __post_init__(self) -> None:
        if not 0.05 <= self.zoom_min <= self.zoom_max <= 1.0:
            raise ValueError(f"need 0.05 <= zoom_min <= zoom_max <= 1, got "
                             f"{self.zoom_min}, {self.zoom_max}")
        if not 0.0 <= self.shift <= 1.0:
            raise ValueError(f"shift must be in [0, 1], got {self.shift}")
        if self.rotation not in ROTATIONS:
            raise ValueError(f"rotation must be one of {ROTATIONS}, got {self.rotation!r}")
        for name in ("photometric", "clutter"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} is a probability in [0, 1], got {getattr(self, name)}")


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
    x' = (x + 0.5) scale - 0.5), so a cached downscaled image warps to the same pixels.
    """
    if scale == 1.0:
        return view
    return View((view.cx + 0.5) * scale - 0.5, (view.cy + 0.5) * scale - 0.5,
                view.side * scale, view.rotation, view.size)


def camera_effects(rgb: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """A real camera's look on a uint8 RGB image: white balance, exposure, gamma, saturation,
    vignetting, blur, noise and JPEG, each drawn from ``rng`` (``strength`` scales them).
    """
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"camera_effects needs an HxWx3 uint8 image, got {rgb.shape} "
                         f"{rgb.dtype}")
    h, w = rgb.shape[:2]
    x: np.ndarray = rgb.astype(np.float32) / 255.0
    gains = np.exp(rng.normal(0.0, 0.07 * strength, 3)).astype(np.float32)       # white balance
    exposure = float(np.exp(rng.normal(0.0, 0.25 * strength)))
    x = x * (gains * exposure)[None, None, :]
    gamma = float(np.exp(rng.normal(0.0, 0.15 * strength)))
    x = np.clip(x, 0.0, 1.0) ** gamma
    grey = x.mean(axis=2, keepdims=True)
    x = grey + (x - grey) * float(np.exp(rng.normal(0.0, 0.25 * strength)))     # saturation
    if rng.random() < 0.5:                                                      # vignetting
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        r2 = ((xx - rng.uniform(0.4, 0.6) * w) ** 2 + (yy - rng.uniform(0.4, 0.6) * h) ** 2) \
            / (0.25 * (w * w + h * h))
        x = x * (1.0 - float(rng.uniform(0.0, 0.45 * strength)) * r2)[..., None]
    u = rng.random()
    if u < 0.35:                                                                # defocus
        x = cv2.GaussianBlur(x, (0, 0), float(rng.uniform(0.3, 1.5 * strength)) * w / 300)
    elif u < 0.45:                                                              # motion
        n = max(3, int(rng.uniform(3, 9) * w / 300) | 1)
        kernel: np.ndarray = np.zeros((n, n), np.float32)
        kernel[n // 2, :] = 1.0 / n
        rot = cv2.getRotationMatrix2D((n / 2 - 0.5, n / 2 - 0.5), float(rng.uniform(0, 180)), 1)
        kernel = cv2.warpAffine(kernel, rot, (n, n))
        x = cv2.filter2D(x, -1, kernel / max(kernel.sum(), 1e-6))
    sigma = float(rng.uniform(0.0, 0.035 * strength))                           # sensor noise
    if sigma > 0:
        noise = rng.normal(0.0, 1.0, (h, w, 3)).astype(np.float32) * sigma
        x = x + noise * np.sqrt(np.clip(x, 0.05, 1.0))
    out: np.ndarray = (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if rng.random() < 0.5:                                                      # JPEG
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(25, 95))])
        if ok:
            decoded = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
            assert decoded is not None      # the bytes were just encoded here
            out = decoded
    return out


def _clutter_colour(rng: np.random.Generator, base: np.ndarray) -> np.ndarray:
    """Mostly bright (posts, white boxes) or dark (cables, gaps), sometimes any colour."""
    u = rng.random()
    if u < 0.45:
        c = rng.uniform(200, 255) + rng.normal(0, 8, 3)
    elif u < 0.7:
        c = rng.uniform(0, 60) + rng.normal(0, 8, 3)
    else:
        c = rng.uniform(0, 255, 3)
    return np.clip(c, 0, 255).astype(np.float32)


def paste_clutter(image: np.ndarray, q: np.ndarray, rng: np.random.Generator,
                  max_items: int = 3) -> np.ndarray:
    """Paste background structures on ``image`` (uint8 HxWx3) where they cover no grasp.

    ``q`` is the grasp-quality target (H, W); a shape is kept only when it stays clear of
    every labelled grasp by 8% of the image side, so labels stay true. Shapes: a bar entering
    from the border (post, cable, robot link), a box corner, or the region beyond a straight
    edge (the end of the table, a floor), flat or textured (``synth.textures.texture_image``), with
    a little gradient and noise.
    """
    h, w = image.shape[:2]
    keep_out = cv2.dilate((q > 0).astype(np.uint8), np.ones((3, 3), np.uint8),
                          iterations=max(1, int(0.08 * w)))
    out = image.astype(np.float32)
    for _ in range(int(rng.integers(1, max_items + 1))):
        shape = np.zeros((h, w), np.uint8)
        kind = rng.random()
        if kind < 0.5:                       # a bar from the border
            side = int(rng.integers(4))
            length = rng.uniform(0.3, 1.2) * w
            width = max(2, int(rng.uniform(0.01, 0.1) * w))
            t = rng.uniform(0, w)
            start = [(t, -5), (t, h + 5), (-5, t), (w + 5, t)][side]
            inward = [(0, 1), (0, -1), (1, 0), (-1, 0)][side]
            a = math.atan2(inward[1], inward[0]) + rng.normal(0, 0.5)
            end = (start[0] + length * math.cos(a), start[1] + length * math.sin(a))
            cv2.line(shape, (int(start[0]), int(start[1])), (int(end[0]), int(end[1])), 1, width)
        elif kind < 0.75:                    # a box corner, always cut by the border
            edge = rng.uniform(-0.15, 0.1, 2)
            edge = np.where(rng.random(2) < 0.5, edge, 1.0 - edge)
            cx, cy = np.where(rng.random(2) < 0.5, edge, rng.uniform(0, 1, 2)) * [w, h]
            cx, cy = (cx, cy) if (min(cx, cy) < 0.1 * w or max(cx, cy) > 0.9 * w) else \
                (edge[0] * w, cy)
            bw, bh = rng.uniform(0.2, 0.5, 2) * w
            rect = ((float(cx), float(cy)), (float(bw), float(bh)), float(rng.uniform(0, 90)))
            cv2.fillPoly(shape, [cv2.boxPoints(rect).astype(np.int32)], 1)
        else:                                # beyond an edge: a half-plane at the border
            a = rng.uniform(-math.pi, math.pi)
            d = rng.uniform(0.3, 0.5) * w
            yy, xx = np.mgrid[0:h, 0:w]
            shape = (((xx - w / 2) * math.cos(a) + (yy - h / 2) * math.sin(a)) > d).astype(np.uint8)
        shape = shape.astype(bool)
        if not shape.any() or (shape & (keep_out > 0)).any():
            continue
        colour = _clutter_colour(rng, out)
        grad = np.linspace(1 - rng.uniform(0, 0.2), 1 + rng.uniform(0, 0.2), w, dtype=np.float32)
        if rng.random() < 0.5:               # textured: wood, tiles, carpet, noise, stripes
            from ..synth.textures import TEXTURES, texture_image

            r, g, b = (float(c) / 255 for c in colour)
            tex = texture_image(str(rng.choice(TEXTURES)), int(rng.integers(2**31)),
                                (r, g, b), 128)
            colour = cv2.resize(tex, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        else:
            colour = np.broadcast_to(colour[None, None, :], (h, w, 3))
        fill = colour * grad[None, :, None] + rng.normal(0, 4, (h, w, 1))
        out[shape] = fill[shape]
    return np.clip(out, 0, 255).astype(np.uint8)
