"""Messages built from core values, and images converted back, by each conversion path."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("rclpy")

from builtin_interfaces.msg import Time
from visualization_msgs.msg import Marker

from mtg_grasp_ros.grasp import Grasp
from mtg_grasp_ros.preprocess import ImageError
from mtg_grasp_ros.projection import (
    CameraModel,
    DepthSource,
    Plane,
    ProjectionError,
    ToolFrame,
    Transform,
    project_grasps,
    rpy_to_quat,
)
from mtg_grasp_ros.ros import grasp_encoders as gm
from mtg_grasp_ros.ros import image_codec as im

STAMP = Time(sec=12, nanosec=345)
CAM = CameraModel(500.0, 500.0, 159.5, 119.5, 320, 240, "cam")


def _pose(x=100.0, y=80.0, angle=0.3, width=40.0, quality=0.8):
    src = DepthSource("plane", Plane((0.0, 0.0, -1.0), -0.6))   # table 0.6 m below, in camera
    return project_grasps([Grasp(x, y, angle, width, 20.0, quality)], CAM, src)[0]


def _scene(h=48, w=64):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_pose_stamped_and_array_copy_pose_header():
    p = _pose()
    msg = gm.pose_stamped(p, "base", STAMP)
    assert msg.header.frame_id == "base" and msg.header.stamp == STAMP
    assert [msg.pose.position.x, msg.pose.position.y, msg.pose.position.z] == \
        pytest.approx(p.position.tolist())
    q = msg.pose.orientation
    assert [q.x, q.y, q.z, q.w] == pytest.approx(p.orientation.tolist())
    arr = gm.pose_array([p, _pose(x=200)], "base", STAMP)
    assert len(arr.poses) == 2 and arr.poses[1].position.x > arr.poses[0].position.x


def test_grasp_info_layout_round_trip():
    poses = [_pose(quality=0.9), _pose(x=10, y=20, angle=-1.0, width=30, quality=0.5)]
    msg = gm.grasp_info(poses)
    assert [d.label for d in msg.layout.dim] == \
        ["candidates", "quality,width_m,u,v,angle_rad,width_px,depth_m"]
    assert [d.size for d in msg.layout.dim] == [2, 7]
    assert [d.stride for d in msg.layout.dim] == [14, 7]
    rows = gm.info_to_table(msg)
    assert rows[1] == pytest.approx([0.5, poses[1].width_m, 10, 20, -1.0, 30, 0.6], rel=1e-6)
    assert rows[0, 1] == pytest.approx(40 * 0.6 / 500, rel=1e-6)
    empty = gm.grasp_info([])
    assert gm.info_to_table(empty).shape == (0, 7)


def test_markers_clear_then_draw_jaws_at_the_opening():
    p = _pose(angle=0.0, quality=1.0)
    arr = gm.markers([p], "cam", STAMP, finger_length=0.04, jaw_thickness=0.01)
    assert arr.markers[0].action == Marker.DELETEALL
    jaws = [mk for mk in arr.markers[1:] if mk.type == Marker.CUBE]
    arrow = [mk for mk in arr.markers[1:] if mk.type == Marker.ARROW]
    assert len(jaws) == 2 and len(arrow) == 1
    xs = sorted(j.pose.position.x for j in jaws)
    # angle 0: closing axis = camera x; jaws are width/2 + thickness/2 either side
    assert xs[1] - xs[0] == pytest.approx(p.width_m + 0.01)
    # fingers reach back towards the camera (-z), the arrow ends at the palm pointing +z
    assert jaws[0].pose.position.z == pytest.approx(p.position[2] - 0.02)
    tail, tip = arrow[0].points
    assert tip.z > tail.z and tip.z == pytest.approx(p.position[2] - 0.04)
    assert jaws[0].color.g == pytest.approx(1.0) and jaws[0].color.r == pytest.approx(0.0)
    assert len({mk.id for mk in arr.markers[1:]}) == 3


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8", "mono8"])
def test_image_round_trip_rosbags(encoding):
    rgb = _scene()
    arr = {"rgb8": rgb, "bgr8": rgb[..., ::-1], "rgba8": np.dstack([rgb, rgb[..., :1]]),
           "bgra8": np.dstack([rgb[..., ::-1], rgb[..., :1]]), "mono8": rgb[..., 0]}[encoding]
    msg = im.rgb_to_image_msg(arr, "cam", STAMP, encoding)
    out = im.image_to_rgb(msg, backend="rosbags-image")
    expect = np.dstack([rgb[..., 0]] * 3) if encoding == "mono8" else rgb
    np.testing.assert_array_equal(out, expect)


def test_padded_rows_are_unpadded():
    rgb = _scene(6, 5)
    padded = np.zeros((6, 5 * 3 + 3), np.uint8)
    padded[:, :15] = rgb.reshape(6, 15)
    msg = im.rgb_to_image_msg(rgb, "cam", STAMP)
    msg.step = 18
    msg.data = padded.tobytes()
    np.testing.assert_array_equal(im.image_to_rgb(msg, backend="rosbags-image"), rgb)


def test_cv_bridge_path():
    pytest.importorskip("cv_bridge")
    rgb = _scene()
    msg = im.rgb_to_image_msg(rgb[..., ::-1], "cam", STAMP, "bgr8")
    np.testing.assert_array_equal(im.image_to_rgb(msg, backend="cv_bridge"), rgb)


@pytest.mark.parametrize("mutate, kind", [
    (lambda msg: setattr(msg, "encoding", "yuv422"), im.UnsupportedEncoding),
    (lambda msg: (setattr(msg, "height", 0), setattr(msg, "width", 0)), ImageError),
    (lambda msg: setattr(msg, "data", bytes(10)), ImageError),
    (lambda msg: setattr(msg, "step", 3), ImageError),
])
def test_bad_images_raise_image_errors(mutate, kind):
    msg = im.rgb_to_image_msg(_scene(), "cam", STAMP)
    mutate(msg)
    with pytest.raises(kind):
        im.image_to_rgb(msg, backend="rosbags-image")


def test_compressed_round_trip():
    rgb = np.zeros((40, 60, 3), np.uint8)
    rgb[10:30, 20:40] = (200, 30, 10)
    out = im.compressed_to_rgb(im.rgb_to_compressed_msg(rgb, "cam", STAMP, "png"))
    np.testing.assert_array_equal(out, rgb)
    jpg = im.compressed_to_rgb(im.rgb_to_compressed_msg(rgb, "cam", STAMP, "jpeg"))
    assert np.abs(jpg.astype(int) - rgb).mean() < 5
    bad = im.rgb_to_compressed_msg(rgb, "cam", STAMP)
    bad.data = b"not a jpeg"
    with pytest.raises(ImageError):
        im.compressed_to_rgb(bad)


def test_depth_encodings_in_metres():
    mm = np.array([[600, 0], [1200, 65535]], np.uint16)
    out = im.depth_to_metres(im.rgb_to_image_msg(mm, "cam", STAMP, "16UC1"))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.6, 0], [1.2, 65.535]], rtol=1e-6)
    f = np.array([[0.6, np.nan]], np.float32)
    out = im.depth_to_metres(im.rgb_to_image_msg(f, "cam", STAMP, "32FC1"))
    assert out[0, 0] == pytest.approx(0.6) and math.isnan(out[0, 1])
    with pytest.raises(im.UnsupportedEncoding):
        im.depth_to_metres(im.rgb_to_image_msg(mm.astype(np.uint8), "cam", STAMP, "mono8"))


def test_camera_model_round_trip_and_bad_intrinsics():
    info = im.camera_info_msg(CAM, STAMP)
    assert im.camera_model(info) == CameraModel(500.0, 500.0, 159.5, 119.5, 320, 240, "cam",
                                               (0.0,) * 5)
    info.k = [0.0] * 9
    with pytest.raises(ProjectionError):
        im.camera_model(info)
    info.k = [math.nan, 0, 1, 0, 500, 1, 0, 0, 1]
    with pytest.raises(ProjectionError):
        im.camera_model(info)


def test_transform_round_trip():
    t = Transform((0.1, -0.2, 0.6), tuple(rpy_to_quat(math.pi, 0.0, 0.3)))
    back = gm.transform_from_msg(gm.transform_msg(t))
    np.testing.assert_allclose(back.matrix, t.matrix, atol=1e-12)


def test_grasp_messages_are_what_the_node_publishes_per_frame():
    poses = [_pose(quality=0.9), _pose(x=10, quality=0.5)]
    out = gm.grasp_messages(poses, "base", STAMP)
    assert list(out) == ["grasp_pose", "grasp_candidates", "pregrasp_candidates", "grasps",
                         "grasp_info", "markers"]
    assert out["grasp_pose"] == gm.pose_stamped(poses[0], "base", STAMP)
    assert out["grasp_candidates"] == gm.pose_array(poses, "base", STAMP)
    assert len(out["markers"].markers) == 1 + 3 * 2
    none = gm.grasp_messages([], "base", STAMP, with_markers=False)
    assert list(none) == ["grasp_candidates", "pregrasp_candidates", "grasps", "grasp_info"]
    assert gm.info_to_table(none["grasp_info"]).shape == (0, 7)
    assert none["grasps"].width == 0 and gm.cloud_to_table(none["grasps"])["width"].shape == (0,)
    # the node makes only the outputs with subscribers: the same messages, the others not made
    some = gm.grasp_messages(poses, "base", STAMP, only=["grasps", "grasp_pose"])
    assert list(some) == ["grasp_pose", "grasps"]
    assert some["grasp_pose"] == out["grasp_pose"] and some["grasps"] == out["grasps"]
    assert gm.grasp_messages(poses, "base", STAMP, only=[]) == {}
    assert list(gm.grasp_messages(poses, "base", STAMP, only=["markers"], with_markers=False)) \
        == []
    with pytest.raises(ValueError, match="unknown outputs"):
        gm.grasp_messages(poses, "base", STAMP, only=["grasp_poses"])


def test_tool_and_pregrasp_poses_and_the_grasps_cloud_share_one_header():
    # tool frame 0.1 m behind the fingertip centre, turned 90 deg about the approach axis
    # (a gripper closing along its link's y); pre-grasp 0.05 m further back
    tool = ToolFrame(0.1, tuple(rpy_to_quat(0.0, 0.0, math.pi / 2).tolist()), 0.05)
    poses = [_pose(quality=0.9), _pose(x=200, angle=-0.7, width=25, quality=0.4)]
    out = gm.grasp_messages(poses, "base", STAMP, tool=tool)
    cloud = out["grasps"]
    assert cloud.header == out["grasp_candidates"].header == out["pregrasp_candidates"].header
    assert cloud.header.frame_id == "base" and cloud.header.stamp == STAMP
    cols = gm.cloud_to_table(cloud)
    for i, p in enumerate(poses):
        approach, closing = p.axes[:, 2], p.axes[:, 0]
        at = p.position - 0.1 * approach                  # computed here, not by ToolFrame
        pre = p.position - 0.15 * approach
        got = out["grasp_candidates"].poses[i]
        np.testing.assert_allclose([got.position.x, got.position.y, got.position.z], at,
                                   atol=1e-9)
        got_pre = out["pregrasp_candidates"].poses[i]
        np.testing.assert_allclose([got_pre.position.x, got_pre.position.y, got_pre.position.z],
                                   pre, atol=1e-9)
        q = got.orientation
        r = sc_quat_matrix((q.x, q.y, q.z, q.w))
        np.testing.assert_allclose(r[:, 2], approach, atol=1e-9)       # z still approaches
        np.testing.assert_allclose(r[:, 1], -closing, atol=1e-9)       # the link's y closes
        np.testing.assert_allclose([cols["x"][i], cols["y"][i], cols["z"][i]], at, atol=1e-6)
        np.testing.assert_allclose([cols["pre_x"][i], cols["pre_y"][i], cols["pre_z"][i]], pre,
                                   atol=1e-6)
        np.testing.assert_allclose([cols["ax"][i], cols["ay"][i], cols["az"][i]], approach,
                                   atol=1e-6)
        assert cols["width"][i] == pytest.approx(p.width_m, rel=1e-6)
        assert cols["quality"][i] == pytest.approx(p.quality, rel=1e-6)
    assert out["grasp_pose"].pose == out["grasp_candidates"].poses[0]


def sc_quat_matrix(q):
    x, y, z, w = np.asarray(q) / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])




# --- issue 13: intrinsics that do not fit, and compressed images that must not be decoded ------

@pytest.mark.parametrize("model, n", [("plumb_bob", 3), ("plumb_bob", 6), ("plumb_bob", 20),
                                      ("rational_polynomial", 5), ("equidistant", 5)])
def test_wrong_number_of_distortion_coefficients_is_bad_intrinsics(model, n):
    info = im.camera_info_msg(CAM, STAMP)
    info.distortion_model, info.d = model, [0.01] * n
    with pytest.raises(ProjectionError, match=f"got {n}"):
        im.camera_model(info)


def test_distortion_models_plumb_bob_rational_equidistant_and_unknown():
    import cv2

    info = im.camera_info_msg(CAM, STAMP)
    # rational_polynomial: 8 coefficients, undistorted as OpenCV does
    info.distortion_model, info.d = "rational_polynomial", [0.1, -0.05, 0, 0, 0.01, 0.02, 0, 0]
    cam = im.camera_model(info)
    ray = cam.rays([[300.0, 200.0]])[0]
    expect = cv2.undistortPoints(np.array([[[300.0, 200.0]]]), cam.matrix(),
                                 np.array(info.d)).reshape(2)
    np.testing.assert_allclose(ray[:2], expect)
    # equidistant (fisheye): cv2.fisheye, not the plumb_bob formula (the old code ignored it)
    info.distortion_model, info.d = "equidistant", [0.2, -0.1, 0.02, 0.0]
    cam = im.camera_model(info)
    ray = cam.rays([[300.0, 200.0]])[0]
    expect = cv2.fisheye.undistortPoints(np.array([[[300.0, 200.0]]]), cam.matrix(),
                                         np.array(info.d)).reshape(2)
    np.testing.assert_allclose(ray[:2], expect)
    pinhole = [(300.0 - CAM.cx) / CAM.fx, (200.0 - CAM.cy) / CAM.fy]
    assert np.linalg.norm(ray[:2] - pinhole) * CAM.fx > 2.0     # pixels: the lens matters
    # a fisheye ray re-projected through the fisheye model lands on the pixel
    back = cv2.fisheye.distortPoints(ray[:2].reshape(1, 1, 2), cam.matrix(), np.array(info.d))
    np.testing.assert_allclose(back.reshape(2), [300.0, 200.0], atol=1e-3)
    # unknown models are refused, even with zero coefficients (image_geometry: UNKNOWN)
    info.distortion_model, info.d = "kannala_brandt_8", [0.0] * 8
    with pytest.raises(ProjectionError, match="unknown distortion model"):
        im.camera_model(info)
    # a default CameraInfo (no model name, no coefficients) is a plain pinhole
    info.distortion_model, info.d = "", []
    assert im.camera_model(info).distortion == ()
    info.d = [0.1, 0, 0, 0, 0]
    with pytest.raises(ProjectionError, match="unknown distortion model ''"):
        im.camera_model(info)


def test_camera_info_roi_offsets_the_principal_point_and_binning_scales():
    full = CameraModel(600.0, 600.0, 319.5, 239.5, 640, 480, "cam")
    info = im.camera_info_msg(full, STAMP)
    info.roi.x_offset, info.roi.y_offset, info.roi.width, info.roi.height = 80, 60, 160, 120
    crop = im.camera_model(info)
    assert (crop.width, crop.height, crop.fx, crop.fy) == (160, 120, 600.0, 600.0)
    assert (crop.cx, crop.cy) == (239.5, 179.5)
    # the same scene point: pixel (u, v) of the crop is (u + 80, v + 60) of the full image
    np.testing.assert_allclose(crop.rays([[10.0, 20.0]]), full.rays([[90.0, 80.0]]))
    info.roi.width = 600                      # does not fit the 640 px wide camera at x 80
    with pytest.raises(ProjectionError, match="does not fit"):
        im.camera_model(info)
    info = im.camera_info_msg(full, STAMP)
    info.binning_x = info.binning_y = 2
    binned = im.camera_model(info)
    assert (binned.width, binned.height, binned.fx) == (320, 240, 300.0)
    np.testing.assert_allclose(binned.rays([[100.0, 50.0]]), full.rays([[200.5, 100.5]]))


def _corrupt_jpeg() -> tuple[bytes, bytes]:
    """A real JPEG, and the same with 8 bytes of its entropy-coded data garbled."""
    import cv2

    rgb = cv2.GaussianBlur(np.random.default_rng(0).integers(0, 256, (120, 160, 3), np.uint8),
                           (9, 9), 3)
    good = im.rgb_to_compressed_msg(rgb, "cam", STAMP, "jpeg", 90)
    data = bytearray(good.data)
    sos = data.index(b"\xff\xda")
    for k in range(8):
        data[sos + 200 + k] ^= 0x5A
    return bytes(good.data), bytes(data)


def test_corrupt_and_truncated_jpegs_are_refused():
    import cv2

    good, bad = _corrupt_jpeg()
    assert im.compressed_to_rgb(im.CompressedImage(format="jpeg", data=good)).shape == (120, 160, 3)
    # OpenCV returns the damaged image (libjpeg only prints a warning): what the node did
    damaged = cv2.imdecode(np.frombuffer(bad, np.uint8), cv2.IMREAD_COLOR)
    clean = cv2.imdecode(np.frombuffer(good, np.uint8), cv2.IMREAD_COLOR)
    assert damaged is not None and np.abs(damaged.astype(int) - clean).mean() > 2
    with pytest.raises(ImageError, match="corrupt JPEG"):
        im.compressed_to_rgb(im.CompressedImage(format="jpeg", data=bad))
    with pytest.raises(ImageError):
        im.compressed_to_rgb(im.CompressedImage(format="jpeg", data=good[:len(good) // 2]))


def _png_declaring(width: int, height: int) -> bytes:
    """A small real PNG whose IHDR (with a valid CRC) declares ``width`` x ``height``."""
    import zlib

    msg = im.rgb_to_compressed_msg(np.zeros((8, 8, 3), np.uint8), "cam", STAMP, "png")
    data = bytearray(msg.data)
    data[16:20], data[20:24] = width.to_bytes(4, "big"), height.to_bytes(4, "big")
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")
    return bytes(data)


def test_huge_declared_sizes_are_refused_before_decoding():
    import time

    assert im.compressed_size(_png_declaring(20000, 20000)) == ("png", 20000, 20000)
    t0 = time.perf_counter()
    with pytest.raises(ImageError, match="20000x20000"):
        im.compressed_to_rgb(im.CompressedImage(format="png", data=_png_declaring(20000, 20000)))
    assert time.perf_counter() - t0 < 0.5
    # a JPEG's size comes from its frame header
    good, _ = _corrupt_jpeg()
    assert im.compressed_size(good) == ("jpeg", 160, 120)
    with pytest.raises(ImageError, match="160x120"):
        im.compressed_to_rgb(im.CompressedImage(format="jpeg", data=good), max_pixels=160 * 119)
    with pytest.raises(ImageError, match="neither PNG nor JPEG"):
        im.compressed_size(b"GIF89a....")


def test_raw_image_data_must_match_its_size_exactly():
    msg = im.rgb_to_image_msg(_scene(), "cam", STAMP)
    msg.data = bytes(msg.data) + bytes(3)         # more than height x step
    with pytest.raises(ImageError, match="needs"):
        im.image_to_rgb(msg, backend="rosbags-image")


def test_corrupt_and_truncated_pngs_are_refused():
    """The CRC and filter checks of libpng catch what JPEG needs simplejpeg for."""
    rgb = np.random.default_rng(1).integers(0, 256, (60, 80, 3), np.uint8)
    data = bytes(im.rgb_to_compressed_msg(rgb, "cam", STAMP, "png").data)
    flipped = data[:200] + bytes(b ^ 0x5A for b in data[200:208]) + data[208:]
    for bad in (data[:len(data) // 2], flipped):
        with pytest.raises(ImageError, match="cannot be decoded"):
            im.compressed_to_rgb(im.CompressedImage(format="png", data=bad))
