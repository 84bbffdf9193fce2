"""Ground-truth maps for training (paper Section III-D, Fig. 4).

Q = 1 on the centre third of each grasp rectangle (a third of the opening along the closing
direction, the full jaw size across it, as ggcnn's ``GraspRectangles.draw``), and on the
same pixels cos 2Φ, sin 2Φ and the opening / 150 px (clipped to 1). Everything else is 0.
Where rectangles overlap, the one drawn last wins, as in ggcnn.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import cv2
import numpy as np

from ..grasp import Grasp
from ..model import WIDTH_SCALE_PX

#: What the targets do with grasps on objects the view's edge cuts (:func:`drop_cut_objects`).
CUT_OBJECTS: tuple[str, ...] = ("keep", "drop")


def centre_third_window(g: Grasp, size: int) -> tuple[int, int, np.ndarray] | None:
    """(row0, col0, inside): the pixels whose centres lie in the grasp's centre third, as a
    boolean window of the map starting at (row0, col0); None when none is in the map.

    A pixel centre p is inside when |(p - c)·u| <= width/6 and |(p - c)·n| <= jaw/2, with u
    the closing direction and n its normal.
    """
    c, s = math.cos(g.angle), math.sin(g.angle)
    half_a, half_b = g.width / 6.0, g.jaw / 2.0
    ext_x = abs(c) * half_a + abs(s) * half_b
    ext_y = abs(s) * half_a + abs(c) * half_b
    x0, x1 = max(0, math.ceil(g.x - ext_x)), min(size - 1, math.floor(g.x + ext_x))
    y0, y1 = max(0, math.ceil(g.y - ext_y)), min(size - 1, math.floor(g.y + ext_y))
    if x0 > x1 or y0 > y1:
        return None
    dx = np.arange(x0, x1 + 1) - g.x
    dy = (np.arange(y0, y1 + 1) - g.y)[:, None]
    inside = (np.abs(dx * c + dy * s) <= half_a + 1e-9) & \
        (np.abs(dy * c - dx * s) <= half_b + 1e-9)
    return y0, x0, inside


def grasp_maps(grasps: Iterable[Grasp], size: int) -> dict[str, np.ndarray]:
    """``q``, ``cos``, ``sin``, ``width`` float32 (size, size) maps for grasps in network px."""
    maps = {k: np.zeros((size, size), np.float32) for k in ("q", "cos", "sin", "width")}
    for g in grasps:
        window = centre_third_window(g, size)
        if window is None:
            continue
        r0, c0, inside = window
        h, w = inside.shape
        values = {"q": 1.0, "cos": math.cos(2.0 * g.angle), "sin": math.sin(2.0 * g.angle),
                  "width": min(g.width / WIDTH_SCALE_PX, 1.0)}
        for k, v in values.items():
            maps[k][r0:r0 + h, c0:c0 + w][inside] = v
    return maps


def drop_cut_objects(grasps: Sequence[Grasp], mask: np.ndarray) -> list[Grasp]:
    """The grasps not centred on an object that the view's edge cuts.

    ``mask`` is the object mask in network pixels (nonzero = object). An object touching the
    edge of the view is only partly seen: whether it can be grasped, and where, depends on the
    part the network does not see, so its grasps are taught as background (a training-label
    choice, ``data.cut_objects: drop``). The world's edges in real frames (a box at the
    border, the next table) then stop looking like targets. Objects are the
    8-connected components of the mask; a grasp whose centre is off the mask is kept.
    """
    if not len(grasps):
        return list(grasps)
    count, labels = cv2.connectedComponents((mask > 0).astype(np.uint8), connectivity=8)
    if count <= 1:
        return list(grasps)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    cut = np.zeros(count, dtype=bool)
    cut[edge] = True
    cut[0] = False
    h, w = labels.shape
    return [g for g in grasps
            if not cut[labels[min(max(round(g.y), 0), h - 1), min(max(round(g.x), 0), w - 1)]]]
