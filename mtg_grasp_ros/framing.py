"""Which square of the camera image the network sees: framing that matches training.

The network sees one square window of the frame resized to its 300 px input
(:class:`~mtg_grasp_ros.preprocess.View`). How much of the world that window covers decides
how big objects look to it, and a model detects best at the scale it was trained at. Three
ways to choose the window, all ROS-free:

* :func:`workspace_roi`: a rectangle on the support plane (the workspace, in the robot's
  target frame) projected through the camera pose into the image: the node's ROI follows the
  camera, and the network sees the table, not the room around it.
* :func:`metric_roi`: a square of a given metric side on the support plane, centred where the
  optical axis (or a given pixel) meets it, so the network sees the metric scale it saw in
  training whatever the camera's height and lens.
* :func:`ggcnn_view`: how dougsm/ggcnn evaluates Cornell: a 300x300 px window centred on the
  mean of the labelled corners, clamped to the image (an evaluation protocol: it uses the
  labels, so it is not available on a robot).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .model import INPUT_SIZE
from .preprocess import View
from .projection import CameraModel, Plane, ProjectionError, Transform

#: Frames the evaluation knows: the node's whole-frame centre square, and ggcnn's window.
FRAMES: tuple[str, ...] = ("whole", "ggcnn")
#: ggcnn's Cornell window side in source pixels (its output_size, no rescaling).
GGCNN_SIDE = 300


class FramingError(ValueError):
    """A framing that cannot be made; the message says which input is at fault."""


def ggcnn_view(grasps: np.ndarray, image_shape: Sequence[int], side: int = GGCNN_SIDE,
               size: int = INPUT_SIZE) -> View:
    """Ggcnn's Cornell crop: ``side`` px square centred on the mean of the labelled corners.

    ``grasps`` is an (N, 5) array (x, y, angle, width, jaw) in image pixels; the mean of a
    rectangle's four corners is its centre, so the mean of all corners is the mean of the
    centres. Like ggcnn (``cornell_data.py``), the centre is truncated to whole pixels and the
    window clamped inside the image; an image smaller than ``side`` gets its largest square.
    """
    g = np.asarray(grasps, dtype=np.float64).reshape(-1, 5)
    if len(g) == 0 or not np.isfinite(g[:, :2]).all():
        raise FramingError("the ggcnn frame needs at least one finite labelled grasp")
    h, w = int(image_shape[0]), int(image_shape[1])
    side = min(int(side), h, w)
    cx, cy = (int(v) for v in g[:, :2].mean(axis=0))
    x0 = max(0, min(cx - side // 2, w - side))
    y0 = max(0, min(cy - side // 2, h - side))
    return View(x0 + (side - 1) / 2.0, y0 + (side - 1) / 2.0, float(side), 0.0, size)


@dataclass(frozen=True)
class WorkspaceRect:
    """A rectangle on the support plane, in the target (robot) frame: x and y limits (m).

    Its corners' z follows from the plane (``Plane`` in the same frame), so a tilted table
    works as long as the plane is not vertical.
    """

    x_min: float
    y_min: float
    x_max: float
    y_max: float

    def __post_init__(self) -> None:
        vals = (self.x_min, self.y_min, self.x_max, self.y_max)
        if not all(math.isfinite(v) for v in vals) or self.x_max <= self.x_min \
                or self.y_max <= self.y_min:
            raise FramingError(f"workspace rectangle needs finite x_min < x_max and "
                               f"y_min < y_max, got {vals}")

    @classmethod
    def from_sequence(cls, values: Sequence[float]) -> WorkspaceRect:
        """From ``[x_min, y_min, x_max, y_max]`` (a ROS parameter's double array)."""
        if len(values) != 4:
            raise FramingError(f"workspace must be [x_min, y_min, x_max, y_max] (4 numbers), "
                               f"got {list(values)}")
        return cls(*(float(v) for v in values))

    def corners(self, plane: Plane) -> np.ndarray:
        """The four corners (4, 3) on ``plane`` (target frame)."""
        n = np.asarray(plane.normal, dtype=np.float64)
        if abs(n[2]) < 1e-6 * np.linalg.norm(n):
            raise FramingError(f"support plane {plane} is vertical in the target frame: a "
                               f"workspace rectangle in x, y cannot lie on it")
        xy = np.array([[self.x_min, self.y_min], [self.x_max, self.y_min],
                       [self.x_max, self.y_max], [self.x_min, self.y_max]])
        z = (plane.offset - xy @ n[:2]) / n[2]
        return np.hstack([xy, z[:, None]])


def _clamp_box(u: np.ndarray, v: np.ndarray, width: int, height: int,
               what: str) -> tuple[int, int, int, int]:
    x0, x1 = max(0, math.floor(float(u.min()))), min(width, math.ceil(float(u.max())) + 1)
    y0, y1 = max(0, math.floor(float(v.min()))), min(height, math.ceil(float(v.max())) + 1)
    if x1 - x0 < 4 or y1 - y0 < 4:
        raise FramingError(f"{what} falls outside the {width}x{height} image (projected to "
                           f"u {float(u.min()):.0f}..{float(u.max()):.0f}, "
                           f"v {float(v.min()):.0f}..{float(v.max()):.0f})")
    return x0, y0, x1 - x0, y1 - y0


def workspace_roi(workspace: WorkspaceRect | Sequence[float], plane: Plane,
                  camera: CameraModel, camera_to_target: Transform,
                  image_size: tuple[int, int] | None = None) -> tuple[int, int, int, int]:
    """The image ROI ``(x, y, width, height)`` that holds the workspace rectangle.

    ``workspace`` and ``plane`` are in the target frame; ``camera_to_target`` maps points of
    the camera's optical frame into the target frame (tf2's lookup of target <- camera).
    The corners are projected with the pinhole model (distortion ignored: the ROI is a
    bounding box) and the box is clamped to the image (``image_size`` = (width, height),
    default the camera's). Raises :class:`FramingError` when a corner is behind the camera or
    the box misses the image.
    """
    rect = workspace if isinstance(workspace, WorkspaceRect) else \
        WorkspaceRect.from_sequence(workspace)
    width, height = image_size or (camera.width, camera.height)
    pts = camera_to_target.inverse().apply(rect.corners(plane))
    if (pts[:, 2] <= 1e-6).any():
        raise FramingError(f"the workspace rectangle {rect} is (partly) behind the camera "
                           f"(corner depths {np.round(pts[:, 2], 3).tolist()} m)")
    uv = camera.scaled_to(width, height).project(pts) if (width, height) != \
        (camera.width, camera.height) else camera.project(pts)
    return _clamp_box(uv[:, 0], uv[:, 1], width, height, f"the workspace rectangle {rect}")


def metric_side_px(camera: CameraModel, distance: float, side_m: float) -> float:
    """Pixels spanned by ``side_m`` metres at ``distance`` metres along the optical axis."""
    if not (distance > 0 and side_m > 0):
        raise FramingError(f"distance and side must be > 0 m, got {distance}, {side_m}")
    return math.sqrt(camera.fx * camera.fy) * side_m / distance


def metric_roi(camera: CameraModel, plane_in_camera: Plane, side_m: float,
               centre_px: tuple[float, float] | None = None) -> tuple[int, int, int, int]:
    """A square ROI covering about ``side_m`` x ``side_m`` metres of the support plane.

    The square is centred on ``centre_px`` (default: the principal point), sized with the
    depth at which that pixel's ray meets the plane (``plane_in_camera``, optical frame), and
    slid inside the image (at most the image's short side). Use it so that the
    network sees the metric scale of its training data (see the model card).
    """
    from .projection import intersect_plane

    u, v = centre_px if centre_px is not None else (camera.cx, camera.cy)
    ray = camera.rays(np.array([[u, v]]))[0]
    try:
        point = intersect_plane(ray, plane_in_camera)
    except ProjectionError as exc:
        raise FramingError(f"metric framing: {exc}") from None
    side = min(int(round(metric_side_px(camera, float(point[2]), side_m))),
               camera.width, camera.height)
    if side < 4:
        raise FramingError(f"a {side_m} m square at {point[2]:.2f} m is under 4 px")
    # the square slides inside the image (like ggcnn's window) rather than shrinking
    x0 = min(max(int(round(u - (side - 1) / 2.0)), 0), camera.width - side)
    y0 = min(max(int(round(v - (side - 1) / 2.0)), 0), camera.height - side)
    return x0, y0, side, side
