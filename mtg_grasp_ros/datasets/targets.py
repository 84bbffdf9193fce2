"""Ground-truth maps for training (paper Section III-D, Fig. 4).

Q = 1 on the centre third of each grasp rectangle (a third of the opening along the closing
direction, the full jaw size across it, as ggcnn's ``GraspRectangles.draw``), and on the
same pixels cos 2Φ, sin 2Φ and the opening / 150 px (clipped to 1). Everything else is 0.
Where rectangles overlap, the one drawn last wins, as in ggcnn.
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from ..grasp import Grasp
from ..model import WIDTH_SCALE_PX


def centre_third_pixels(g: Grasp, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the pixels whose centres lie in the grasp's centre third.

    A pixel centre p is inside when |(p - c)·u| <= width/6 and |(p - c)·n| <= jaw/2, with u
    the closing direction and n its normal; pixels outside the ``size`` x ``size`` map are
    left out.
    """
    c, s = math.cos(g.angle), math.sin(g.angle)
    half_a, half_b = g.width / 6.0, g.jaw / 2.0
    ext_x = abs(c) * half_a + abs(s) * half_b
    ext_y = abs(s) * half_a + abs(c) * half_b
    x0, x1 = max(0, math.ceil(g.x - ext_x)), min(size - 1, math.floor(g.x + ext_x))
    y0, y1 = max(0, math.ceil(g.y - ext_y)), min(size - 1, math.floor(g.y + ext_y))
    if x0 > x1 or y0 > y1:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    ys, xs = np.mgrid[y0:y1 + 1, x0:x1 + 1]
    dx, dy = xs - g.x, ys - g.y
    inside = (np.abs(dx * c + dy * s) <= half_a + 1e-9) & (np.abs(-dx * s + dy * c) <= half_b + 1e-9)
    return ys[inside], xs[inside]


def grasp_maps(grasps: Iterable[Grasp], size: int) -> dict[str, np.ndarray]:
    """``q``, ``cos``, ``sin``, ``width`` float32 (size, size) maps for grasps in network px."""
    maps = {k: np.zeros((size, size), np.float32) for k in ("q", "cos", "sin", "width")}
    for g in grasps:
        rows, cols = centre_third_pixels(g, size)
        maps["q"][rows, cols] = 1.0
        maps["cos"][rows, cols] = math.cos(2.0 * g.angle)
        maps["sin"][rows, cols] = math.sin(2.0 * g.angle)
        maps["width"][rows, cols] = min(g.width / WIDTH_SCALE_PX, 1.0)
    return maps
