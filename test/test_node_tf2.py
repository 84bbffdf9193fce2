"""The tf2 camera-pose path (runs where tf2_ros is importable, e.g. a sourced Humble/Jazzy).

The camera pose comes from a transform broadcast over /tf_static or /tf; the pose must equal
the geometric truth, a missing transform must be counted, and the latest-transform fallback
must serve when the transform at the image stamp is not available.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rclpy")
tf2_ros = pytest.importorskip("tf2_ros")

import ros_scene as sc
from geometry_msgs.msg import TransformStamped
from rclpy.parameter import Parameter
from ros_graph import Graph

from mtg_grasp_ros.projection import Transform, rpy_to_quat
from mtg_grasp_ros.ros import messages


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return sc.blob_model(tmp_path_factory.mktemp("model") / "blob.safetensors")


def _camera_transform(stamp) -> TransformStamped:
    t = Transform(sc.CAMERA_XYZ, tuple(rpy_to_quat(*sc.CAMERA_RPY).tolist()))
    return TransformStamped(header=messages.header("base_link", stamp),
                            child_frame_id="camera_optical", transform=messages.transform_msg(t))


def _position(pose):
    p = pose.pose.position
    return np.array([p.x, p.y, p.z])


def test_tf2_static_transform_gives_the_true_pose(model):
    # the static pose parameters are deliberately wrong: only tf2 can give the right answer
    g = Graph(model, camera_pose__source="tf2", camera_pose__xyz=[5.0, 5.0, 5.0])
    try:
        assert g.node.camera_pose.name == "tf2"
        g.send_info()
        g.expect_bad("no_transform", lambda: g.send_image(messages.rgb_to_image_msg(
            sc.scene(), "camera_optical", g.next_stamp())))
        broadcaster = tf2_ros.StaticTransformBroadcaster(g.io)
        broadcaster.sendTransform(_camera_transform(g.next_stamp()))
        assert g.wait(lambda: g.node.camera_pose.buffer.can_transform(
            "base_link", "camera_optical", rclpy_time()))
        pose, rows = g.detect()
        truth, _ = sc.table_point(rows[0][2], rows[0][3])
        assert np.linalg.norm(_position(pose) - truth) < 0.002
    finally:
        g.close()


def test_tf2_falls_back_to_the_latest_transform_when_asked(model):
    g = Graph(model, camera_pose__source="tf2", tf__timeout=0.05, tf__fallback_latest=False)
    try:
        g.send_info()
        broadcaster = tf2_ros.TransformBroadcaster(g.io)
        broadcaster.sendTransform(_camera_transform(messages.Time(sec=10, nanosec=0)))
        assert g.wait(lambda: g.node.camera_pose.buffer.can_transform(
            "base_link", "camera_optical", rclpy_time()))
        # images are stamped long after the only transform: extrapolation into the future
        g.expect_bad("no_transform", lambda: g.send_image(messages.rgb_to_image_msg(
            sc.scene(), "camera_optical", g.next_stamp())))
        assert g.node.set_parameters([Parameter("tf.fallback_latest", value=True)])[0].successful
        pose, rows = g.detect()
        truth, _ = sc.table_point(rows[0][2], rows[0][3])
        assert np.linalg.norm(_position(pose) - truth) < 0.002
    finally:
        g.close()


def rclpy_time():
    from rclpy.time import Time
    return Time()
