"""The node over a real rclpy graph: the published pose is the geometric truth for the pixel
the model chose, for each depth source and input path.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("rclpy")

import ros_scene as sc
from ros_graph import Graph
from visualization_msgs.msg import Marker

from mtg_grasp_ros.ros import image_codec

MM = 0.002   # metres: "within a few millimetres"


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return sc.blob_model(tmp_path_factory.mktemp("model") / "blob.safetensors")


def _position(pose):
    p = pose.pose.position
    return np.array([p.x, p.y, p.z])


def _axes(pose):
    q = pose.pose.orientation
    return sc.quat_matrix([q.x, q.y, q.z, q.w])


def _check_chosen_pixel(row):
    quality, width_m, u, v, angle, width_px, depth_m = row
    assert math.hypot(u - sc.BLOB[0], v - sc.BLOB[1]) < 2.0    # the model chose the disk
    assert angle == pytest.approx(sc.ANGLE, abs=1e-5)
    assert width_px == pytest.approx(sc.WIDTH_NET_PX * sc.H / 300, rel=1e-4)
    assert quality > 0.5


def test_plane_source_pose_is_the_ray_table_intersection(model):
    g = Graph(model, debug=True, grasp_height=0.02, target_frame="base_link")
    try:
        g.send_info()
        pose, rows = g.detect()
        assert pose.header.frame_id == "base_link"
        row = rows[0]
        _check_chosen_pixel(row)
        quality, width_m, u, v, angle, width_px, depth_m = row
        truth, z_cam = sc.table_point(u, v, lift=0.02)
        assert np.linalg.norm(_position(pose) - truth) < MM
        assert depth_m == pytest.approx(z_cam, abs=MM)
        assert z_cam == pytest.approx(0.58, abs=0.01)
        # width: pixels times depth over focal length (fx = fy here)
        assert width_m == pytest.approx(width_px * z_cam / sc.FX, rel=1e-3)
        assert width_m == pytest.approx(12 * 0.58 / 150, rel=0.02)
        # gripper frame: z approaches along the optical axis (down), x closes along the angle
        axes, r = _axes(pose), sc.rotation()
        np.testing.assert_allclose(axes[:, 2], r @ [0, 0, 1], atol=1e-5)
        np.testing.assert_allclose(axes[:, 2], [0, 0, -1], atol=1e-5)
        np.testing.assert_allclose(axes[:, 0], r @ [math.cos(angle), math.sin(angle), 0],
                                   atol=1e-5)
        # markers: clear, two jaws one opening apart around the pose, one approach arrow
        assert g.wait(lambda: g.got["markers"])
        mk = g.got["markers"][-1].markers
        assert mk[0].action == Marker.DELETEALL
        jaws = [m for m in mk if m.type == Marker.CUBE]
        assert len(jaws) == 2 and all(m.header.frame_id == "base_link" for m in jaws)
        gap = np.linalg.norm(np.subtract(*[[m.pose.position.x, m.pose.position.y]
                                           for m in jaws]))
        assert gap == pytest.approx(width_m + 0.008, abs=1e-4)
        # debug image: published because someone subscribes, same size as the input
        assert g.wait(lambda: g.got["debug_image"])
        dbg = g.got["debug_image"][-1]
        assert (dbg.width, dbg.height, dbg.encoding) == (sc.W, sc.H, "rgb8")
        assert dbg.header.stamp == pose.header.stamp
        drawn = image_codec.image_to_rgb(dbg)
        assert (drawn == [0, 255, 0]).all(-1).sum() > 20          # the best grasp's jaws
        y0, x0 = int(round(v)), int(round(u))
        assert not np.array_equal(drawn[y0 - 3:y0 + 4, x0 - 3:x0 + 4],
                                  sc.scene()[y0 - 3:y0 + 4, x0 - 3:x0 + 4])  # the heat map
        # run-time parameter change: candidates and a moved table take effect on the next frame
        assert g.node.set_parameters_atomically(
            [messages_param("top_k", 3), messages_param("plane.offset", 0.1)]).successful
        pose2, rows2 = g.detect()
        assert len(rows2) == 3
        u2, v2 = rows2[0][2], rows2[0][3]
        truth2, _ = sc.table_point(u2, v2, lift=0.12)
        assert np.linalg.norm(_position(pose2) - truth2) < MM
    finally:
        g.close()


def messages_param(name, value):
    from rclpy.parameter import Parameter
    return Parameter(name, value=value)


def test_fixed_and_depth_topic_sources(model):
    # the test's stamps are a second apart: depth_max_age covers the depth image's
    g = Graph(model, depth_source="fixed", fixed_distance=0.45, depth_max_age=5.0)
    try:
        g.send_info()
        pose, rows = g.detect()
        _check_chosen_pixel(rows[0])
        u, v = rows[0][2], rows[0][3]
        d = sc.ray(u, v)
        truth = np.asarray(sc.CAMERA_XYZ) + sc.rotation() @ (d / np.linalg.norm(d) * 0.45)
        assert np.linalg.norm(_position(pose) - truth) < MM
        assert rows[0][1] == pytest.approx(rows[0][5] * rows[0][6] / sc.FX, rel=1e-3)

        # depth_topic: an aligned 16UC1 image, 520 mm everywhere
        assert g.node.set_parameters([messages_param("depth_source", "depth_topic")])[0].successful
        depth = np.full((sc.H, sc.W), 520, np.uint16)
        g.pub_depth.publish(image_codec.rgb_to_image_msg(depth, "camera_optical", g.next_stamp(),
                                                         "16UC1"))
        assert g.wait(lambda: g.node.depth_msg is not None)
        pose, rows = g.detect()
        u, v = rows[0][2], rows[0][3]
        truth = np.asarray(sc.CAMERA_XYZ) + sc.rotation() @ (sc.ray(u, v) * 0.52)
        assert np.linalg.norm(_position(pose) - truth) < MM
        assert rows[0][6] == pytest.approx(0.52, abs=1e-4)
        assert rows[0][1] == pytest.approx(rows[0][5] * 0.52 / sc.FX, rel=1e-3)
    finally:
        g.close()


@pytest.mark.parametrize("encoding", ["bgr8", "mono8"])
def test_other_encodings_give_the_same_grasp(model, encoding):
    g = Graph(model)
    try:
        g.send_info()
        rgb = sc.scene()
        img = rgb[..., ::-1] if encoding == "bgr8" else rgb[..., 0]
        pose, rows = g.detect(np.ascontiguousarray(img), encoding=encoding)
        _check_chosen_pixel(rows[0])
        truth, _ = sc.table_point(rows[0][2], rows[0][3])
        assert np.linalg.norm(_position(pose) - truth) < MM
    finally:
        g.close()


def test_compressed_input(model):
    g = Graph(model, input="compressed")
    try:
        g.send_info()
        pose, rows = g.detect(compressed=True)
        _check_chosen_pixel(rows[0])
        truth, _ = sc.table_point(rows[0][2], rows[0][3])
        assert np.linalg.norm(_position(pose) - truth) < MM
    finally:
        g.close()
