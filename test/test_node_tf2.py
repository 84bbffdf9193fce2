"""The tf2 camera-pose path (runs where tf2_ros is importable, e.g. a sourced Humble/Jazzy).

The camera pose comes from a transform broadcast over /tf_static or /tf; the pose must equal
the geometric truth, a missing transform must be counted, and the latest-transform fallback
must serve when the transform at the image stamp is not available, but only when it is
recent enough (``tf.fallback_max_age``), counted and reported. A camera on a moving arm whose
transforms arrive after the image (dynamic /tf published with a delay) must be placed with
the transform at the image stamp by the default ``tf.timeout``.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

pytest.importorskip("rclpy")
tf2_ros = pytest.importorskip("tf2_ros")

import ros_scene as sc
from geometry_msgs.msg import TransformStamped
from rclpy.parameter import Parameter
from ros_graph import Graph

from mtg_grasp_ros.projection import Transform, rpy_to_quat
from mtg_grasp_ros.ros import grasp_encoders, image_codec


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return sc.blob_model(tmp_path_factory.mktemp("model") / "blob.safetensors")


def _camera_transform(stamp, shift_x: float = 0.0) -> TransformStamped:
    xyz = (sc.CAMERA_XYZ[0] + shift_x, sc.CAMERA_XYZ[1], sc.CAMERA_XYZ[2])
    t = Transform(xyz, tuple(rpy_to_quat(*sc.CAMERA_RPY).tolist()))
    return TransformStamped(header=grasp_encoders.header("base_link", stamp),
                            child_frame_id="camera_optical",
                            transform=grasp_encoders.transform_msg(t))


def _position(pose):
    p = pose.pose.position
    return np.array([p.x, p.y, p.z])


def test_tf2_static_transform_gives_the_true_pose(model):
    # the static pose parameters are deliberately wrong: only tf2 can give the right answer
    g = Graph(model, camera_pose__source="tf2", camera_pose__xyz=[5.0, 5.0, 5.0])
    try:
        assert g.node.camera_pose.name == "tf2"
        g.send_info()
        g.expect_bad("no_transform", lambda: g.send_image(image_codec.rgb_to_image_msg(
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
    g = Graph(model, camera_pose__source="tf2", tf__timeout=0.05, tf__fallback_latest=False,
              tf__fallback_max_age=3600.0)
    try:
        g.send_info()
        broadcaster = tf2_ros.TransformBroadcaster(g.io)
        broadcaster.sendTransform(_camera_transform(image_codec.Time(sec=10, nanosec=0)))
        assert g.wait(lambda: g.node.camera_pose.buffer.can_transform(
            "base_link", "camera_optical", rclpy_time()))
        # images are stamped long after the only transform: extrapolation into the future
        g.expect_bad("no_transform", lambda: g.send_image(image_codec.rgb_to_image_msg(
            sc.scene(), "camera_optical", g.next_stamp())))
        assert g.node.set_parameters([Parameter("tf.fallback_latest", value=True)])[0].successful
        pose, rows = g.detect()
        truth, _ = sc.table_point(rows[0][2], rows[0][3])
        assert np.linalg.norm(_position(pose) - truth) < 0.002
        assert g.node.counts["tf_fallback"] >= 1
    finally:
        g.close()


# --- a camera on a moving arm --------------------------------------------------------------------

SPEED = 0.06          # m/s along base_link x: 6 cm between frames stamped 1 s apart


def _moving(stamp) -> float:
    """The camera's x shift at ``stamp`` (seconds since 1000 s)."""
    return SPEED * (stamp.sec + stamp.nanosec * 1e-9 - 1000.0)


def _send_late(g, broadcaster, delay: float):
    """Send one frame of the moving camera; its transform follows ``delay`` seconds later."""
    stamp = g.next_stamp()
    timer = threading.Timer(delay, lambda: broadcaster.sendTransform(
        _camera_transform(stamp, _moving(stamp))))
    timer.start()
    return stamp, timer


def _start_moving(g):
    g.send_info()
    broadcaster = tf2_ros.TransformBroadcaster(g.io)
    first = g.next_stamp()
    broadcaster.sendTransform(_camera_transform(first, _moving(first)))
    assert g.wait(lambda: g.node.camera_pose.buffer.can_transform(
        "base_link", "camera_optical", rclpy_time()))
    return broadcaster


def _late_grasp_error(g: Graph, broadcaster, delay: float) -> np.ndarray:
    """Detect on a frame whose transform arrives ``delay`` s late; the pose's error (m)
    against where the moving camera really saw the grasp.
    """
    stamp, timer = _send_late(g, broadcaster, delay)
    pose, rows = g.detect(stamp=stamp)
    timer.join()
    truth, _ = sc.table_point(rows[0][2], rows[0][3])
    truth[0] += _moving(stamp)
    return _position(pose) - truth


def test_moving_camera_with_late_transforms_is_placed_at_the_image_stamp(model):
    # the case: transforms 0.15 s after the image; the default tf.timeout waits for them
    g = Graph(model, camera_pose__source="tf2")
    try:
        assert g.node.settings.tf_timeout >= 0.2
        broadcaster = _start_moving(g)
        for _ in range(4):
            error = _late_grasp_error(g, broadcaster, 0.15)
            assert np.linalg.norm(error) < 0.002, "placed with a wrong pose"
        assert g.node.counts["tf_fallback"] == 0 and not g.node.bad
    finally:
        g.close()


def test_moving_camera_old_fallback_is_refused_or_counted_and_reported(model):
    # a tf.timeout too short for transforms that arrive 0.8 s late
    g = Graph(model, camera_pose__source="tf2", tf__timeout=0.05, diagnostics_period=0.2)
    try:
        assert g.node.settings.tf_fallback_latest and g.node.settings.tf_fallback_max_age <= 0.1
        broadcaster = _start_moving(g)
        # the latest transform is the previous frame's, 1 s older than the image: refused
        for _ in range(2):
            stamp, timer = _send_late(g, broadcaster, 0.8)
            g.expect_bad("stale_transform", lambda s=stamp: g.send_image(
                image_codec.rgb_to_image_msg(sc.scene(), "camera_optical", s)))
            timer.join()
        assert "tf.fallback_max_age" in g.node.last_error["stale_transform"]
        assert not g.got["grasp_pose"] and g.node.counts["tf_fallback"] == 0
        # allowed (max age 5 s): published, but placed where the camera was 1 s earlier
        assert g.node.set_parameters([Parameter("tf.fallback_max_age", value=5.0)])[0].successful
        for _ in range(2):
            error = _late_grasp_error(g, broadcaster, 0.8)
            assert error[0] == pytest.approx(-SPEED, abs=0.002)      # 6 cm behind the camera
            assert np.linalg.norm(error[1:]) < 0.002
        assert g.node.counts["tf_fallback"] == 2
        # and the diagnostics say so (WARN, with the count), not "ok"
        g.got["diagnostics"].clear()
        stamp, timer = _send_late(g, broadcaster, 0.8)
        g.detect(stamp=stamp)
        timer.join()

        def warned() -> bool:
            for msg in g.got["diagnostics"]:
                for st in msg.status:
                    values = {kv.key: kv.value for kv in st.values}
                    if st.level == st.WARN and "latest transform" in st.message and \
                            values.get("tf_fallbacks") == "3":
                        return True
            return False

        assert g.wait(warned), [s.message for m in g.got["diagnostics"] for s in m.status]
    finally:
        g.close()


def rclpy_time():
    from rclpy.time import Time
    return Time()


def test_an_absurd_transform_is_refused_not_published_as_infinity(model):
    """A camera 1e200 m away (a finite but absurd tf2 pose) must not reach ~/grasps, whose
    float32 fields would hold infinity.
    """
    g = Graph(model, camera_pose__source="tf2")
    try:
        g.send_info()
        broadcaster = tf2_ros.StaticTransformBroadcaster(g.io)
        broadcaster.sendTransform(_camera_transform(g.next_stamp(), shift_x=1e200))
        assert g.wait(lambda: g.node.camera_pose.buffer.can_transform(
            "base_link", "camera_optical", rclpy_time()))
        g.expect_bad("bad_pose", lambda: g.send_image(image_codec.rgb_to_image_msg(
            sc.scene(), "camera_optical", g.next_stamp())))
        assert "1e+200" in g.node.last_error["bad_pose"]
        assert not g.got["grasps"] and not g.got["grasp_pose"]
    finally:
        g.close()
