"""Procedural textures (uint8 RGB images) for tables, floors, boxes and pasted clutter.

Kept apart from the pybullet scene code: the data engine loads them as pybullet textures, and
training's clutter augmentation (:func:`mtg_grasp_ros.datasets.augment.paste_clutter`) draws
them too, so a training machine needs no pybullet.
"""

from __future__ import annotations

import cv2
import numpy as np


def noise_texture(seed: int, size: int = 256, contrast: float = 0.2,
                  rgb: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> np.ndarray:
    """A smooth multi-scale noise texture (uint8 RGB), like concrete, paper or wood grain."""
    rng = np.random.default_rng(seed)
    img: np.ndarray = np.zeros((size, size), np.float32)
    for cells, weight in ((4, 0.5), (16, 0.3), (64, 0.15), (size, 0.05)):
        small = rng.normal(size=(cells, cells)).astype(np.float32)
        img += weight * cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)
    img = 1.0 + contrast * img / max(1e-6, float(np.abs(img).max()))
    out = np.clip(img[..., None] * np.asarray(rgb, np.float32)[None, None, :], 0, 1)
    return (out * 255).astype(np.uint8)


def texture_image(kind: str, seed: int, rgb: tuple[float, float, float],
                  size: int = 256) -> np.ndarray:
    """A procedural texture (uint8 RGB): ``noise`` (paper, concrete), ``wood`` (planks),
    ``tiles``, ``carpet`` (fine noise), ``stripes`` (tape, printed boards).
    """
    rng = np.random.default_rng(seed)
    base = np.asarray(rgb, np.float32)
    if kind == "noise":
        return noise_texture(seed, size, float(rng.uniform(0.05, 0.35)), rgb)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    if kind == "wood":
        planks = int(rng.integers(3, 9))
        idx = np.floor(y * planks)
        shade = 1 + 0.15 * np.sin(idx * 12.9898 + seed % 97)
        grain = 1 + 0.08 * np.sin(x * rng.uniform(40, 120) + 6 * np.sin(y * 30 + idx))
        seam = (np.abs(y * planks - np.round(y * planks)) < 0.02).astype(np.float32)
        img = shade * grain * (1 - 0.4 * seam)
    elif kind == "tiles":
        n = int(rng.integers(2, 8))
        gx, gy = np.abs(x * n - np.round(x * n)), np.abs(y * n - np.round(y * n))
        grout = ((gx < 0.04) | (gy < 0.04)).astype(np.float32)
        img = 1 - float(rng.uniform(0.2, 0.6)) * grout
    elif kind == "carpet":
        img = 1 + 0.25 * cv2.GaussianBlur(rng.normal(size=(size, size)).astype(np.float32),
                                          (0, 0), 1.0)
    else:   # stripes
        f = rng.uniform(3, 12)
        phase = np.sin(2 * np.pi * f * (x + y * rng.uniform(-1, 1)))
        img = 1 - float(rng.uniform(0.2, 0.7)) * (phase > 0.6)
    img = img.astype(np.float32)[..., None] * base[None, None, :]
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


TEXTURES = ("noise", "wood", "tiles", "carpet", "stripes")
