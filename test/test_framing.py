"""mtg_grasp_ros.framing: the ggcnn Cornell window, workspace and metric ROIs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mtg_grasp_ros.framing import (
    FramingError,
    WorkspaceRect,
    ggcnn_view,
    metric_roi,
    workspace_roi,
)
from mtg_grasp_ros.projection import CameraModel, Plane, Transform, rpy_to_quat


def test_ggcnn_window_centred_on_the_corners_and_clamped():
    g = np.array([[300.0, 200.0, 0.3, 40.0, 20.0], [340.0, 260.0, -1.0, 30.0, 10.0]])
    v = ggcnn_view(g, (480, 640))
    assert (v.side, v.size, v.rotation) == (300.0, 300, 0.0)
    assert v.crop_box() == (320 - 150, 230 - 150, 300)
    # near the border the window slides inside the image, as ggcnn clamps it
    v = ggcnn_view(np.array([[620.0, 10.0, 0.0, 30.0, 10.0]]), (480, 640))
    assert v.crop_box() == (340, 0, 300)
    with pytest.raises(FramingError):
        ggcnn_view(np.zeros((0, 5)), (480, 640))


def _camera_above(height: float, pitch: float = 0.0):
    """A camera ``height`` m above the origin of a z-up target frame, looking down."""
    cam = CameraModel.from_fov(640, 480, 45.0)
    # optical frame looking down: x right = target x, y down = target -y, z = target -z
    look_down = rpy_to_quat(math.pi + pitch, 0.0, 0.0)
    return cam, Transform((0.0, 0.0, height), tuple(look_down))


def test_workspace_rectangle_projects_to_its_pixels():
    cam, t = _camera_above(1.0)
    roi = workspace_roi([-0.2, -0.1, 0.2, 0.1], Plane(), cam, t)
    f = cam.fx
    # 0.4 m x 0.2 m at 1 m: 0.4 f x 0.2 f pixels, centred on the principal point
    x, y, w, h = roi
    assert abs(w - 0.4 * f) <= 3 and abs(h - 0.2 * f) <= 3
    assert abs(x + w / 2 - cam.cx) <= 1.5 and abs(y + h / 2 - cam.cy) <= 1.5
    # a raised table (plane z = 0.5) is nearer: the same rectangle looks twice as big
    x2, y2, w2, h2 = workspace_roi(WorkspaceRect(-0.1, -0.05, 0.1, 0.05), Plane(offset=0.5),
                                   cam, t)
    assert abs(w2 - w) <= 3 and abs(h2 - h) <= 3


def test_workspace_clamped_to_the_image_and_errors():
    cam, t = _camera_above(1.0)
    x, y, w, h = workspace_roi([-5, -5, 5, 5], Plane(), cam, t)
    assert (x, y, w, h) == (0, 0, 640, 480)
    with pytest.raises(FramingError, match="outside"):
        workspace_roi([3.0, 3.0, 3.5, 3.5], Plane(), cam, t)
    with pytest.raises(FramingError, match="behind"):
        workspace_roi([-0.1, -0.1, 0.1, 0.1], Plane(offset=2.0), cam, t)
    with pytest.raises(FramingError, match="x_min < x_max"):
        WorkspaceRect(0.2, 0.0, 0.1, 0.1)
    with pytest.raises(FramingError, match="4 numbers"):
        workspace_roi([0, 0, 1], Plane(), cam, t)


def test_workspace_roi_for_a_resized_image():
    cam, t = _camera_above(1.0)
    full = workspace_roi([-0.2, -0.1, 0.2, 0.1], Plane(), cam, t)
    half = workspace_roi([-0.2, -0.1, 0.2, 0.1], Plane(), cam, t, (320, 240))
    assert all(abs(a / 2 - b) <= 1.5 for a, b in zip(full, half, strict=True))


def test_metric_roi_covers_the_asked_metres():
    cam = CameraModel.from_fov(640, 480, 45.0)
    table = Plane((0.0, 0.0, -1.0), -0.8)       # z = 0.8 m in the optical frame
    x, y, w, h = metric_roi(cam, table, 0.3)
    assert w == h and abs(w - cam.fx * 0.3 / 0.8) <= 1
    assert abs(x + (w - 1) / 2 - cam.cx) <= 1 and abs(y + (h - 1) / 2 - cam.cy) <= 1
    # off-centre near the border: slides inside, keeps its size
    x, y, w2, _ = metric_roi(cam, table, 0.3, (630.0, 240.0))
    assert w2 == w and x + w2 == 640
    # too big for the image: the image's largest square
    x, y, w, h = metric_roi(cam, table, 5.0)
    assert w == h == 480
