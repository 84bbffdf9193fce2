"""The ``workspace`` parameter: a rectangle on the table, projected through each frame's camera
pose, is the ROI the network sees (the same pipeline for the node and the offline replay).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import ros_scene as sc

from mtg_grasp_ros.camera_pose import StaticCameraPose
from mtg_grasp_ros.detector import GraspDetector
from mtg_grasp_ros.pipeline import FrameError, process_frame
from mtg_grasp_ros.projection import CameraModel, Transform, rpy_to_quat
from mtg_grasp_ros.settings import settings_from

CAM = CameraModel(sc.FX, sc.FY, sc.CX, sc.CY, sc.W, sc.H, "camera_optical")
POSE = Transform(sc.CAMERA_XYZ, tuple(rpy_to_quat(*sc.CAMERA_RPY).tolist()))


@pytest.fixture(scope="module")
def detector(tmp_path_factory):
    return GraspDetector(sc.blob_model(tmp_path_factory.mktemp("m") / "blob.safetensors"), "cpu")


def _square_around(u: float, v: float, half: float = 0.1) -> list[float]:
    x, y, _ = sc.table_point(u, v)[0]
    return [x - half, y - half, x + half, y + half]


def _pixels_of(rect: list[float]) -> np.ndarray:
    """The rectangle's corners (z = 0 in base_link) in image pixels, by hand."""
    x0, y0, x1, y1 = rect
    corners = np.array([[x0, y0, 0], [x1, y0, 0], [x1, y1, 0], [x0, y1, 0]], float)
    cam = (corners - np.asarray(sc.CAMERA_XYZ)) @ sc.rotation()    # R^T (p - t), row-wise
    return np.stack([sc.FX * cam[:, 0] / cam[:, 2] + sc.CX,
                     sc.FY * cam[:, 1] / cam[:, 2] + sc.CY], -1)


def _run(detector, workspace, rgb=None):
    settings, _ = settings_from(overrides={"workspace": workspace, "top_k": 1,
                                           "camera_pose.xyz": list(sc.CAMERA_XYZ),
                                           "camera_pose.rpy": list(sc.CAMERA_RPY)})
    return process_frame(sc.scene() if rgb is None else rgb, CAM, "camera_optical", 0, detector,
                         settings, StaticCameraPose("base_link", POSE))


def test_workspace_roi_is_the_rectangle_seen_through_the_camera(detector):
    rect = _square_around(*sc.BLOB)
    result = _run(detector, rect)
    x, y, w, h = result.roi
    px = _pixels_of(rect)
    assert x <= px[:, 0].min() and x + w >= px[:, 0].max()
    assert y <= px[:, 1].min() and y + h >= px[:, 1].max()
    assert px[:, 0].min() - x < 1.01 and px[:, 1].min() - y < 1.01
    best = result.poses[0]
    assert math.hypot(best.pixel.x - sc.BLOB[0], best.pixel.y - sc.BLOB[1]) < 3
    assert px[:, 0].min() <= best.pixel.x <= px[:, 0].max()
    assert px[:, 1].min() <= best.pixel.y <= px[:, 1].max()


def test_a_workspace_away_from_the_blob_keeps_the_network_off_it(detector):
    rect = _square_around(40, 80)
    result = _run(detector, rect)
    x, y, w, h = result.roi
    assert not (x <= sc.BLOB[0] < x + w and y <= sc.BLOB[1] < y + h)
    for p in result.poses:
        assert x - 1 <= p.pixel.x <= x + w + 1 and y - 1 <= p.pixel.y <= y + h + 1
    # zeros: off, the whole image, and the blob wins again
    whole = _run(detector, [0.0, 0.0, 0.0, 0.0])
    assert whole.roi is None
    assert math.hypot(whole.poses[0].pixel.x - sc.BLOB[0], whole.poses[0].pixel.y - sc.BLOB[1]) < 3


def test_a_workspace_outside_the_image_is_a_bad_roi_frame_and_bad_values_are_refused(detector):
    with pytest.raises(FrameError, match="workspace") as err:
        _run(detector, [5.0, 5.0, 5.2, 5.2])
    assert err.value.reason == "bad_roi"
    with pytest.raises(ValueError, match="x_min < x_max"):
        settings_from(overrides={"workspace": [0.2, 0.0, 0.1, 0.1]})
    with pytest.raises(ValueError, match="workspace must be 4"):
        settings_from(overrides={"workspace": [0.2, 0.0, 0.3]})
