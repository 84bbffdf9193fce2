"""One grasp rectangle as each annotation tool draws it.

A :class:`~mtg_grasp_ros.grasp.Grasp` has an *opening* (``width``: the side along which the
jaws close) and a *jaw* side (``jaw``: how wide the jaws are). The tools only know
rectangles, so the sides are read in a fixed order:

* Label Studio rotated rectangle: ``width`` (along the rectangle's own, rotated x axis) is the
  opening, ``height`` the jaw side. ``x, y`` is the corner the rotation turns about (the
  rectangle's top-left corner before rotation), ``rotation`` degrees clockwise on screen; all
  lengths in % of the image (``width``, ``x`` of its width; ``height``, ``y`` of its height).
* labelme 4-point polygon and Cornell ``cpos`` corners: the first edge (point 1 to point 2)
  is the opening, the second edge the jaw side.
"""

from __future__ import annotations

import math

import numpy as np

from ..grasp import Grasp

#: How far from a rectangle four clicked points may be: corner angle and side length ratio.
ANGLE_TOLERANCE_DEG = 12.0
SIDE_TOLERANCE = 0.15


class LabelError(ValueError):
    """A label file that cannot be used; the message names the file and shape."""


def to_label_studio(g: Grasp, width: int, height: int) -> dict[str, float]:
    """The Label Studio ``value`` (x, y, width, height, rotation) of grasp ``g``."""
    corner = g.corners()[0]
    return {"x": 100.0 * float(corner[0]) / width, "y": 100.0 * float(corner[1]) / height,
            "width": 100.0 * g.width / width, "height": 100.0 * g.jaw / height,
            "rotation": math.degrees(g.angle) % 360.0}


def label_studio_corners(value: dict, width: int, height: int) -> np.ndarray:
    """The (4, 2) pixel corners of a Label Studio rectangle ``value``, opening edge first."""
    x0 = float(value["x"]) * width / 100.0
    y0 = float(value["y"]) * height / 100.0
    w = float(value["width"]) * width / 100.0
    h = float(value["height"]) * height / 100.0
    r = math.radians(float(value.get("rotation", 0.0)))
    along, across = np.array([math.cos(r), math.sin(r)]), np.array([-math.sin(r), math.cos(r)])
    p0 = np.array([x0, y0])
    return np.stack([p0, p0 + w * along, p0 + w * along + h * across, p0 + h * across])


def rectangle_problem(points: np.ndarray) -> str | None:
    """Why four points are not a usable rectangle (None when they are one)."""
    if points.shape != (4, 2) or not np.isfinite(points).all():
        return f"{len(points)} points, not 4"
    sides = [points[(i + 1) % 4] - points[i] for i in range(4)]
    lengths = [float(np.hypot(*s)) for s in sides]
    if min(lengths) <= 0.5:
        return "a side shorter than one pixel"
    for i in range(4):
        a, b = sides[i], sides[(i + 1) % 4]
        cos = abs(float(a @ b)) / (lengths[i] * lengths[(i + 1) % 4])
        if math.degrees(math.asin(min(1.0, cos))) > ANGLE_TOLERANCE_DEG:
            return f"corner {(i + 1) % 4 + 1} is not a right angle"
    for i in (0, 1):
        if abs(lengths[i] - lengths[i + 2]) > SIDE_TOLERANCE * max(lengths[i], lengths[i + 2]):
            return "opposite sides differ in length"
    return None


def from_points(points: np.ndarray, quality: float = 1.0) -> Grasp:
    """The grasp of four rectangle corners, opening edge first; LabelError when they are no
    rectangle (the caller adds the file and shape to the message).
    """
    pts = np.asarray(points, dtype=np.float64)
    problem = rectangle_problem(pts)
    if problem:
        raise LabelError(problem)
    return Grasp.from_corners(pts, quality)
