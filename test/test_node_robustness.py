"""Each bad input is counted under its reason in diagnostics, and the node keeps working."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest

pytest.importorskip("rclpy")

import ros_scene as sc
from diagnostic_msgs.msg import DiagnosticStatus
from rclpy.parameter import Parameter
from ros_graph import Graph, camera

from mtg_grasp_ros.ros import image_codec


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return sc.blob_model(tmp_path_factory.mktemp("model") / "blob.safetensors")


def _image(g, rgb=None, encoding="rgb8"):
    return image_codec.rgb_to_image_msg(sc.scene() if rgb is None else rgb, "camera_optical",
                                        g.next_stamp(), encoding)


def _diagnostics(g):
    assert g.wait(lambda: g.got["diagnostics"])
    status = g.got["diagnostics"][-1].status[0]
    return {kv.key: kv.value for kv in status.values}, status


def test_bad_inputs_are_counted_and_the_node_survives(model):
    g = Graph(model, diagnostics_period=0.2, depth_max_age=10.0)   # stamps 1 s apart
    node = g.node
    try:
        # no CameraInfo yet
        g.expect_bad("no_camera_info", lambda: g.send_image(_image(g)))
        assert g.wait(lambda: any(m.status[0].level == DiagnosticStatus.WARN and
                                  "no_camera_info" in m.status[0].message
                                  for m in list(g.got["diagnostics"])))
        g.send_info()
        # unsupported encoding
        def yuv():
            msg = _image(g)
            msg.encoding = "yuv422"
            g.send_image(msg)
        g.expect_bad("unsupported_encoding", yuv)
        # zero-size image
        def empty():
            msg = _image(g)
            msg.height = msg.width = msg.step = 0
            msg.data = b""
            g.send_image(msg)
        g.expect_bad("bad_image", empty)
        # odd size: fewer bytes than height x step; and a 3x3 image
        def short():
            msg = _image(g)
            msg.data = bytes(msg.data)[:-7]
            g.send_image(msg)
        g.expect_bad("bad_image", short)
        g.expect_bad("bad_image", lambda: g.send_image(_image(g, np.zeros((3, 3, 3), np.uint8))))
        # CameraInfo with zero, then NaN intrinsics
        for k in ([0.0] * 9, [math.nan, 0, sc.CX, 0, math.nan, sc.CY, 0, 0, 1]):
            info = image_codec.camera_info_msg(camera(), g.next_stamp())
            info.k = k
            g.send_info(info)
            g.expect_bad("bad_intrinsics", lambda: g.send_image(_image(g)))
        g.send_info()
        # a ray parallel to the plane: the chosen pixel (full precision, from the node's own
        # detector), then tilt the plane so that it contains that pixel's ray
        best = node.detector.detect(sc.scene()).grasps[0]
        u, v = best.x, best.y
        ray_base = sc.rotation() @ sc.ray(u, v)
        normal = np.cross(ray_base, [0.0, 0.0, 1.0])
        assert node.set_parameters([Parameter("plane.normal", value=normal.tolist())])[0].successful
        g.expect_bad("projection_failed", lambda: g.send_image(_image(g)))
        assert "parallel" in node.last_error["projection_failed"]
        assert node.set_parameters([Parameter("plane.normal", value=[0.0, 0.0, 1.0])])[0].successful
        # a missing transform: the plane in a frame the static pose does not know
        assert node.set_parameters([Parameter("plane.frame", value="table")])[0].successful
        g.expect_bad("no_transform", lambda: g.send_image(_image(g)))
        assert node.set_parameters([Parameter("plane.frame", value="")])[0].successful
        # depth_topic with no depth image, then a misaligned one
        assert node.set_parameters([Parameter("depth_source", value="depth_topic")])[0].successful
        g.expect_bad("no_depth", lambda: g.send_image(_image(g)))
        g.pub_depth.publish(image_codec.rgb_to_image_msg(np.ones((10, 10), np.float32),
                                                         "camera_optical", g.next_stamp(), "32FC1"))
        assert g.wait(lambda: node.depth_msg is not None)
        g.expect_bad("bad_depth", lambda: g.send_image(_image(g)))
        assert node.set_parameters([Parameter("depth_source", value="plane")])[0].successful

        # still alive and right
        pose, rows = g.detect()
        truth, _ = sc.table_point(rows[0][2], rows[0][3])
        assert np.linalg.norm(np.array([pose.pose.position.x, pose.pose.position.y,
                                        pose.pose.position.z]) - truth) < 0.002
        assert node.worker_alive
        # diagnostics report every reason with its count
        g.got["diagnostics"].clear()
        values, status = _diagnostics(g)
        for reason, n in (("no_camera_info", 1), ("unsupported_encoding", 1), ("bad_image", 3),
                          ("bad_intrinsics", 2), ("projection_failed", 1), ("no_transform", 1),
                          ("no_depth", 1), ("bad_depth", 1)):
            assert values[f"bad_frames.{reason}"] == str(n), reason
        assert values["device"] == "cpu" and values["camera_pose_source"] == "static"
        assert int(values["frames_processed"]) == 1
        assert float(values["network_median_ms"]) > 0
    finally:
        g.close()


def test_too_wide_grasps_are_rejected(model):
    g = Graph(model, max_opening=0.03)       # the disk's grasp opens 0.048 m
    try:
        g.send_info()
        pose, rows = g.detect()
        assert pose is None and rows.shape == (0, 7)
        assert g.node.counts["rejected_too_wide"] == 1
        assert g.node.set_parameters([Parameter("max_opening", value=0.06)])[0].successful
        pose, rows = g.detect()
        assert pose is not None and rows[0][1] == pytest.approx(0.048, rel=0.02)
    finally:
        g.close()


@pytest.fixture()
def running(model):
    """A graph whose node has answered one frame (warm, CameraInfo known); closed after.

    Its input queue (``qos.depth``) holds a burst: these tests count what the node's own
    newest-frame slot drops, which the default depth of 1 would leave to the DDS queue.
    """
    g = Graph(model, qos__depth=10)
    try:
        g.send_info()
        g.detect()
        g.got.clear()
        yield g
    finally:
        g.close()


def _send(g, stamp):
    g.send_image(image_codec.rgb_to_image_msg(sc.scene(), "camera_optical", stamp))


def test_only_the_newest_frame_is_processed_and_drops_are_counted(running):
    g, node = running, running.node
    # hold the inference thread inside a frame, then send a burst
    gate, inside = threading.Event(), threading.Event()
    original = node.detector.infer

    def slow(*a, **kw):
        inside.set()
        gate.wait(20)
        return original(*a, **kw)
    node.detector.infer = slow
    stamps = [g.next_stamp() for _ in range(6)]
    _send(g, stamps[0])
    assert inside.wait(20)
    for s in stamps[1:]:
        _send(g, s)
    assert g.wait(lambda: node.counts["received"] >= 7)
    gate.set()
    assert g.wait(lambda: len(g.got["grasp_candidates"]) >= 2)
    assert g.wait(lambda: not node.frames.waiting)
    got = [c.header.stamp for c in g.got["grasp_candidates"]]
    assert got == [stamps[0], stamps[-1]]      # the frame in flight, then the newest only
    assert node.counts["dropped"] == 4


def test_the_next_frames_network_runs_while_a_frame_is_published(running):
    """The network's half and the publishing half of frames overlap (two threads), in order."""
    g, node = running, running.node
    held, inside, second_inferred = threading.Event(), threading.Event(), threading.Event()
    infer, finish = node.detector.infer, node.detector.finish
    calls = []

    def slow_finish(*a, **kw):
        calls.append("finish")
        if len(calls) == 1:
            inside.set()
            held.wait(20)
        return finish(*a, **kw)

    def counting_infer(*a, **kw):
        out = infer(*a, **kw)
        if inside.is_set():
            second_inferred.set()
        return out
    node.detector.finish, node.detector.infer = slow_finish, counting_infer
    stamps = [g.next_stamp() for _ in range(2)]
    _send(g, stamps[0])
    assert inside.wait(20)
    _send(g, stamps[1])
    assert second_inferred.wait(20)       # frame 2's network ran while frame 1 was held
    assert not g.got["grasp_candidates"]
    held.set()
    assert g.wait(lambda: len(g.got["grasp_candidates"]) >= 2)
    assert [c.header.stamp for c in g.got["grasp_candidates"]] == stamps
    assert node.counts["dropped"] == 0 and node.worker_alive


def test_an_inference_failure_is_counted_and_the_next_frame_works(model):
    g = Graph(model, diagnostics_period=0.2)
    node = g.node
    try:
        g.send_info()
        original = node.detector.infer

        def cuda_failure(*a, **kw):          # what torch raises when the GPU goes away
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        node.detector.infer = cuda_failure
        g.expect_bad("inference_error", lambda: g.send_image(_image(g)))
        assert g.wait(lambda: any(m.status[0].level == DiagnosticStatus.ERROR
                                  for m in list(g.got["diagnostics"])))
        values, status = _diagnostics(g)
        assert values["bad_frames.inference_error"] == "1"
        assert "illegal memory access" in values["last_error.inference_error"]
        node.detector.infer = original
        pose, rows = g.detect()
        assert pose is not None and node.worker_alive
        # once frames are good again, the level returns to OK (the count stays)
        assert g.wait(lambda: g.got["diagnostics"] and
                      g.got["diagnostics"][-1].status[0].level == DiagnosticStatus.OK)
    finally:
        g.close()
