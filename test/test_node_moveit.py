"""Grasps a motion planner can use, over a real rclpy graph: with a tilted camera and
``approach: plane_normal`` the tool frame comes straight down onto the table, sits
``tool.offset`` behind the fingertip centre, the pre-grasp ``approach_distance`` further back,
and the width travels in the stamped ``~/grasps`` cloud with the poses' header. The
``workspace`` parameter moves the network's ROI with the camera.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("rclpy")

import ros_scene as sc
from rclpy.parameter import Parameter
from ros_graph import Graph

from mtg_grasp_ros.ros import grasp_encoders, image_codec

TILT_RPY = (math.pi - 0.5, 0.0, 0.4)     # the scene's camera pitched 0.5 rad off vertical


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return sc.blob_model(tmp_path_factory.mktemp("model") / "blob.safetensors")


def _rotation(rpy) -> np.ndarray:
    r, p, y = rpy
    rx = np.array([[1, 0, 0], [0, math.cos(r), -math.sin(r)], [0, math.sin(r), math.cos(r)]])
    ry = np.array([[math.cos(p), 0, math.sin(p)], [0, 1, 0], [-math.sin(p), 0, math.cos(p)]])
    rz = np.array([[math.cos(y), -math.sin(y), 0], [math.sin(y), math.cos(y), 0], [0, 0, 1]])
    return rz @ ry @ rx


def _on_table(u: float, v: float, rot: np.ndarray, lift: float = 0.0) -> np.ndarray:
    d = rot @ sc.ray(u, v)
    return np.asarray(sc.CAMERA_XYZ) + (lift - sc.CAMERA_XYZ[2]) / d[2] * d


def _xyz(p) -> np.ndarray:
    return np.array([p.position.x, p.position.y, p.position.z])


def test_tilted_camera_plane_normal_tool_offset_and_pregrasp(model):
    offset, back, lift = 0.1034, 0.08, 0.01
    g = Graph(model, camera_pose__rpy=list(TILT_RPY), approach="plane_normal",
              tool__offset=offset, approach_distance=back, grasp_height=lift)
    try:
        g.send_info()
        pose, rows = g.detect()
        _, width_m, u, v, angle, width_px, _ = rows[0]
        rot = _rotation(TILT_RPY)
        centre = _on_table(u, v, rot, lift)
        up = np.array([0.0, 0.0, 1.0])
        np.testing.assert_allclose(_xyz(pose.pose), centre + offset * up, atol=2e-3)
        q = pose.pose.orientation
        axes = sc.quat_matrix([q.x, q.y, q.z, q.w])
        np.testing.assert_allclose(axes[:, 2], -up, atol=1e-5)           # straight down
        # closing along the image's grasp line as it lies on the table (not the optical x)
        du = np.array([math.cos(angle), math.sin(angle)]) * width_px / 2
        a, b = (_on_table(*(np.array([u, v]) + s * du), rot, lift) for s in (1, -1))
        line = (a - b) / np.linalg.norm(a - b)
        assert abs(axes[:, 0] @ line) == pytest.approx(1.0, abs=1e-4)
        # every output of the frame has the same header; the pre-grasp is straight above
        stamp = pose.header.stamp
        assert g.wait(lambda: any(m.header.stamp == stamp for m in g.got["grasps"]) and
                      any(m.header.stamp == stamp for m in g.got["pregrasp_candidates"]))
        cloud = next(m for m in g.got["grasps"] if m.header.stamp == stamp)
        pre = next(m for m in g.got["pregrasp_candidates"] if m.header.stamp == stamp)
        assert cloud.header == pre.header == pose.header
        np.testing.assert_allclose(_xyz(pre.poses[0]), centre + (offset + back) * up, atol=2e-3)
        assert pre.poses[0].orientation == pose.pose.orientation
        cols = grasp_encoders.cloud_to_table(cloud)
        assert cols["width"][0] == pytest.approx(width_m, rel=1e-5)
        np.testing.assert_allclose([cols["pre_x"][0], cols["pre_y"][0], cols["pre_z"][0]],
                                   _xyz(pre.poses[0]), atol=1e-5)
        # the optical-axis approach (the default) is tilted 0.5 rad from the vertical
        assert g.node.set_parameters([Parameter("approach", value="optical_axis")])[0].successful
        pose, _ = g.detect()
        q = pose.pose.orientation
        z = sc.quat_matrix([q.x, q.y, q.z, q.w])[:, 2]
        assert math.acos(-z[2]) == pytest.approx(0.5, abs=1e-4)
    finally:
        g.close()


def test_workspace_parameter_sets_the_roi_from_the_camera_pose(model):
    g = Graph(model)
    try:
        g.send_info()
        pose, rows = g.detect()
        assert math.hypot(rows[0][2] - sc.BLOB[0], rows[0][3] - sc.BLOB[1]) < 2   # the blob
        # a workspace on the other side of the table: the blob is outside the network's view
        x, y, _ = sc.table_point(40, 80)[0]
        ws = [x - 0.1, y - 0.1, x + 0.1, y + 0.1]
        assert g.node.set_parameters([Parameter("workspace", value=ws)])[0].successful
        pose, rows = g.detect()
        u, v = rows[0][2], rows[0][3]
        assert rows.size and math.hypot(u - sc.BLOB[0], v - sc.BLOB[1]) > 30
        corners = np.array([[ws[0], ws[1], 0], [ws[2], ws[1], 0], [ws[2], ws[3], 0],
                            [ws[0], ws[3], 0]])
        cam = (corners - np.asarray(sc.CAMERA_XYZ)) @ sc.rotation()      # R^T (p - t)
        px = sc.FX * cam[:, 0] / cam[:, 2] + sc.CX
        py = sc.FY * cam[:, 1] / cam[:, 2] + sc.CY
        assert px.min() - 1 <= u <= px.max() + 1 and py.min() - 1 <= v <= py.max() + 1
        # a workspace the camera cannot see: a bad_roi frame, counted
        assert g.node.set_parameters([Parameter("workspace", value=[5.0, 5.0, 5.5, 5.5])])[0] \
            .successful
        g.expect_bad("bad_roi", lambda: g.send_image(image_codec.rgb_to_image_msg(
            sc.scene(), "camera_optical", g.next_stamp())))
        assert "workspace" in g.node.last_error["bad_roi"]
    finally:
        g.close()
