"""Offline replay: the detector over real ROS 1 bags and generated rosbag2s, deterministic."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("rclpy")

from bag_fixtures import make_bag, make_model, read_topic
from conftest import REPO, ROS1_BAGS, subprocess_env

from mtg_grasp_ros.bags import (
    CAMERA_INFO,
    COMPRESSED_IMAGE,
    IMAGE,
    BagWriter,
    open_bag,
)
from mtg_grasp_ros.bags.sample import (
    LOOKING_DOWN,
    CameraFrame,
    camera_info_msg,
    default_camera,
    image_msg,
    toy_table_frames,
    write_camera_bag,
)
from mtg_grasp_ros.projection import Transform
from mtg_grasp_ros.ros.grasp_encoders import info_to_table
from mtg_grasp_ros.ros.offline import (
    CSV_COLUMNS,
    GRASPS,
    INFO,
    MARKERS,
    POSE,
    POSES,
    PREGRASPS,
    OfflineConfig,
    run_offline,
)

OUTPUTS = (POSE, POSES, INFO, MARKERS)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return make_model(tmp_path_factory.mktemp("model") / "seeded.safetensors")


def image_stamps(bag: Path) -> list[tuple[int, int]]:
    """Header stamps of every image message (raw or compressed) of a bag, in log order."""
    reader = open_bag(bag)
    try:
        conns = [c for c in reader.connections if c.msgtype in (IMAGE, COMPRESSED_IMAGE)]
        return [(m.header.stamp.sec, m.header.stamp.nanosec) for m in
                (reader.deserialize(raw, c.msgtype) for c, _, raw in
                 reader.messages(connections=conns))]
    finally:
        reader.close()


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def check_result(bag: Path, out: Path) -> list[dict[str, str]]:
    """A well-formed result: CSV row per image, output stamps = input stamps, readable bag."""
    rows = read_csv(out / "grasps.csv")
    stamps = image_stamps(bag)
    assert len(rows) == len(stamps) > 0
    assert [(int(r["stamp_sec"]), int(r["stamp_nanosec"])) for r in rows] == stamps
    assert list(rows[0]) == list(CSV_COLUMNS)
    ok = [r for r in rows if r["status"] in ("ok", "no grasp")]
    poses = read_topic(out / "grasps", POSES)
    assert [(m.header.stamp.sec, m.header.stamp.nanosec) for _, m, _ in poses] == \
        [(int(r["stamp_sec"]), int(r["stamp_nanosec"])) for r in ok]
    best = read_topic(out / "grasps", POSE)
    assert len(best) == sum(r["status"] == "ok" for r in rows)
    for (_, p, _), r in zip(best, [r for r in rows if r["status"] == "ok"], strict=True):
        assert p.header.frame_id == r["frame_id"]
        assert (p.pose.position.x, p.pose.position.z) == pytest.approx(
            (float(r["x"]), float(r["z"])), abs=1e-5)
    assert len(read_topic(out / "grasps", INFO)) == len(read_topic(out / "grasps", MARKERS)) \
        == len(ok)
    def headers(msgs):
        return [(m.header.stamp.sec, m.header.stamp.nanosec, m.header.frame_id)
                for _, m, _ in msgs]

    for topic in (PREGRASPS, GRASPS):       # same header as the candidates, frame by frame
        assert headers(read_topic(out / "grasps", topic)) == headers(poses)
    sheet = cv2.imread(str(out / "contact_sheet.png"))
    assert sheet is not None and sheet.shape[0] >= 240
    return rows


@pytest.mark.parametrize("name", ["aruco_marker.bag", "fiducial_board_611.bag"])
def test_real_ros1_bags_process_offline(tmp_path, model, name):
    bag = ROS1_BAGS / name
    if not bag.is_file():
        pytest.skip(f"{bag} not found")
    cfg = OfflineConfig.create(model, overrides={"depth_source": "fixed", "fixed_distance": 0.8,
                                                 "target_frame": "raspicam"})
    summary = run_offline(bag, tmp_path / "out", cfg, log=lambda s: None)
    rows = check_result(bag, tmp_path / "out")
    assert summary.images == len(rows) and not summary.skipped
    # target frame = optical frame: the identity, from the bag's (empty) transform tree
    assert dict(summary.pose_sources) == {"bag /tf + /tf_static": len(rows)}
    assert all(r["status"] == "ok" for r in rows)
    # fixed depth in the camera's own frame: the centre lies 0.8 m from the camera
    r = rows[0]
    assert np.linalg.norm([float(r[k]) for k in "xyz"]) == pytest.approx(0.8, abs=1e-5)
    assert 0 <= float(r["u"]) < 1280 and 0 <= float(r["v"]) < 720


def test_cli_offline_on_ros1_bag_with_video(tmp_path, model):
    bag = ROS1_BAGS / "aruco_marker.bag"
    if not bag.is_file():
        pytest.skip(f"{bag} not found")
    out = tmp_path / "cli"
    env = subprocess_env()
    r = subprocess.run([sys.executable, "-m", "mtg_grasp_ros.cli", "replay", str(bag),
                        "--offline", "--out", str(out), "--model", str(model), "--video",
                        "--storage", "mcap", "--camera-xyz", "0", "0", "0.7"], cwd=REPO,
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "images: 1, with a grasp: 1, unusable: 0" in r.stdout
    assert "camera pose from static: 1 frames" in r.stdout
    (row,) = check_result(bag, out)
    assert float(row["depth_m"]) == pytest.approx(0.7) and float(row["z"]) == pytest.approx(0)
    assert (out / "grasps" / "grasps.mcap").is_file()
    video = cv2.VideoCapture(str(out / "grasps.mp4"))
    assert video.isOpened() and video.read()[0]


def test_generated_bag_twice_gives_identical_grasps(tmp_path, model):
    high = Transform((0.05, 0.0, 0.45), LOOKING_DOWN.rotation)   # 0.45 m above the table
    bag = make_bag(tmp_path / "bag", frames=6, pose=high)
    cfg = OfflineConfig.create(model, overrides={"top_k": 3})
    for run in ("a", "b"):
        summary = run_offline(bag, tmp_path / run, cfg, log=lambda s: None)
        assert dict(summary.pose_sources) == {"bag /tf + /tf_static": 6}
    rows = check_result(bag, tmp_path / "a")
    assert (tmp_path / "a" / "grasps.csv").read_bytes() == \
        (tmp_path / "b" / "grasps.csv").read_bytes()
    for topic in OUTPUTS:
        a, b = read_topic(tmp_path / "a" / "grasps", topic), read_topic(tmp_path / "b" /
                                                                          "grasps", topic)
        assert [(t, raw) for t, _, raw in a] == [(t, raw) for t, _, raw in b] and a
    # the bag's /tf_static puts the camera 0.45 m above the table: grasps lie on the plane
    assert all(r["status"] == "ok" for r in rows)
    assert all(float(r["z"]) == pytest.approx(0.0, abs=1e-6) for r in rows)
    assert all(float(r["depth_m"]) == pytest.approx(0.45, abs=1e-6) for r in rows)
    info = read_topic(tmp_path / "a" / "grasps", INFO)[0][2]
    from rclpy.serialization import deserialize_message
    from std_msgs.msg import Float32MultiArray
    table = info_to_table(deserialize_message(info, Float32MultiArray))
    assert table.shape[1] == 7 and 1 <= table.shape[0] <= 3
    assert table[0, 2] == pytest.approx(float(rows[0]["u"]), abs=1e-3)


def test_workspace_keeps_every_candidate_on_its_rectangle(tmp_path, model):
    # camera 0.45 m above the table looking straight down, image axes along the table's:
    # the workspace's image ROI maps back onto (about) the rectangle itself
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import PointCloud2

    from mtg_grasp_ros.ros.grasp_encoders import cloud_to_table

    high = Transform((0.05, 0.0, 0.45), LOOKING_DOWN.rotation)
    bag = make_bag(tmp_path / "bag", frames=4, pose=high)
    rect = [0.08, 0.02, 0.14, 0.08]
    cfg = OfflineConfig.create(model, overrides={"top_k": 5, "workspace": rect})
    run_offline(bag, tmp_path / "out", cfg, log=lambda s: None)
    rows = check_result(bag, tmp_path / "out")
    assert all(r["status"] == "ok" for r in rows)
    clouds = read_topic(tmp_path / "out" / "grasps", GRASPS)
    n = 0
    for _, _, raw in clouds:
        cols = cloud_to_table(deserialize_message(raw, PointCloud2))
        n += len(cols["x"])
        assert ((cols["x"] >= rect[0] - 0.005) & (cols["x"] <= rect[2] + 0.005)).all()
        assert ((cols["y"] >= rect[1] - 0.005) & (cols["y"] <= rect[3] + 0.005)).all()
    assert n >= len(rows)


def test_camera_pose_option_and_grasp_height(tmp_path, model):
    bag = make_bag(tmp_path / "bag", frames=2)
    cfg = OfflineConfig.create(model, overrides={
        "camera_pose.source": "static", "camera_pose.xyz": [0.0, 0.0, 0.8],
        "grasp_height": 0.05, "plane.normal": [0.0, 0.0, 2.0],
        "plane.offset": -0.2})      # 2 z = -0.2: the table at z = -0.1
    summary = run_offline(bag, tmp_path / "out", cfg, log=lambda s: None)
    assert dict(summary.pose_sources) == {"static": 2}
    rows = check_result(bag, tmp_path / "out")
    assert all(float(r["z"]) == pytest.approx(-0.05, abs=1e-6) for r in rows)
    assert all(float(r["depth_m"]) == pytest.approx(0.85, abs=1e-6) for r in rows)


def test_default_pose_and_rejected_wide_grasps(tmp_path, model):
    """No pose in the bag: the static pose; every grasp too wide: 'no grasp', with the node's
    empty candidate messages still written and no best pose.
    """
    import torch

    from mtg_grasp_ros.model import build_model
    from mtg_grasp_ros.model_io import save_model

    torch.manual_seed(0)
    wide = build_model("ggcnn2", None)
    with torch.no_grad():
        wide.heads["width"].bias.fill_(0.5)          # grasps tens of pixels wide
    save_model(wide, tmp_path / "wide.safetensors")
    bag = tmp_path / "bag"
    write_camera_bag(bag, toy_table_frames(2, camera=default_camera(160, 120)),
                     world_frame="table")
    cfg = OfflineConfig.create(tmp_path / "wide.safetensors", overrides={"max_opening": 0.001})
    summary = run_offline(bag, tmp_path / "out", cfg, log=lambda s: None)
    assert list(summary.pose_sources) == ["static"]     # the bag's tree lacks base_link
    rows = check_result(bag, tmp_path / "out")
    assert [r["status"] for r in rows] == ["no grasp"] * 2 and summary.with_grasp == 0
    assert [len(m.poses) for _, m, _ in read_topic(tmp_path / "out" / "grasps", POSES)] == [0, 0]


def test_unusable_frames_are_counted_not_fatal(tmp_path, model):
    camera = default_camera(160, 120, frame_id="cam")
    frames = list(toy_table_frames(2, camera=camera))
    with BagWriter(tmp_path / "bad") as bag:
        ts = bag.typestore
        for topic, msgtype in (("/cam/image_raw", IMAGE), ("/cam/image/compressed",
                                                           COMPRESSED_IMAGE),
                               ("/cam/camera_info", CAMERA_INFO), ("/nocam/image_raw", IMAGE),
                               ("/far/camera_info", CAMERA_INFO)):
            bag.topic(topic, msgtype)
        t = frames[0].stamp_ns
        bag.write_msg("/cam/camera_info", t, camera_info_msg(ts, camera, t))
        bag.write_msg("/far/camera_info", t, camera_info_msg(ts, camera, t))
        good = image_msg(ts, frames[0])
        bag.write_msg("/cam/image_raw", t + 1, good)
        depth = image_msg(ts, CameraFrame(np.zeros((120, 160, 3), np.uint8), camera,
                                          LOOKING_DOWN, t + 2))
        depth.encoding = "16UC1"
        bag.write_msg("/cam/image_raw", t + 2, depth)
        short = image_msg(ts, CameraFrame(frames[1].rgb, camera, LOOKING_DOWN, t + 3))
        short.data = short.data[:1000]
        bag.write_msg("/cam/image_raw", t + 3, short)
        jpeg = ts.types[COMPRESSED_IMAGE](header=good.header, format="jpeg",
                                          data=np.frombuffer(b"\xff\xd8 not a jpeg", np.uint8))
        bag.write_msg("/cam/image/compressed", t + 4, jpeg)
        bag.write_msg("/nocam/image_raw", t + 5, image_msg(ts, frames[1]))
    summary = run_offline(tmp_path / "bad", tmp_path / "out", OfflineConfig.create(model),
                          log=lambda s: None)
    rows = check_result(tmp_path / "bad", tmp_path / "out")
    status = [r["status"] for r in rows]
    assert status[0] == "ok" and status[4].startswith("no_camera_info:")
    assert status[1].startswith("unsupported_encoding:")
    assert "16UC1" in status[1] and "step" in status[2] and "cannot be decoded" in status[3]
    assert summary.images == 5 and sum(summary.skipped.values()) == 4


def _bag_with_corrupt_messages(path: Path) -> Path:
    """A camera bag with one truncated Image, one truncated CameraInfo and, on a second camera,
    a CameraInfo with 3 distortion coefficients (issue 13.8).
    """
    camera = default_camera(160, 120, frame_id="cam")
    frames = list(toy_table_frames(3, camera=camera))
    with BagWriter(path) as bag:
        ts = bag.typestore
        for topic, msgtype in (("/cam/image_raw", IMAGE), ("/cam/camera_info", CAMERA_INFO),
                               ("/odd/image_raw", IMAGE), ("/odd/camera_info", CAMERA_INFO)):
            bag.topic(topic, msgtype)
        t = frames[0].stamp_ns
        bag.write_msg("/cam/camera_info", t, camera_info_msg(ts, camera, t))
        info = ts.serialize_cdr(camera_info_msg(ts, camera, t + 1), CAMERA_INFO)
        bag.write("/cam/camera_info", t + 1, bytes(info[:40]))          # cut short
        odd = camera_info_msg(ts, camera, t)
        odd.d = np.array([0.01, 0.0, 0.0])
        bag.write_msg("/odd/camera_info", t, odd)
        bag.write_msg("/cam/image_raw", t + 2, image_msg(ts, frames[0]))
        raw = ts.serialize_cdr(image_msg(ts, frames[1]), IMAGE)
        bag.write("/cam/image_raw", t + 3, bytes(raw[:len(raw) // 2]))  # cut short
        bag.write_msg("/odd/image_raw", t + 4, image_msg(ts, frames[1]))
        bag.write_msg("/cam/image_raw", t + 5, image_msg(ts, frames[2]))
    return path


def test_corrupt_messages_and_odd_distortion_are_counted_not_fatal(tmp_path, model):
    bag = _bag_with_corrupt_messages(tmp_path / "corrupt")
    lines: list[str] = []
    summary = run_offline(bag, tmp_path / "out", OfflineConfig.create(model), log=lines.append)
    rows = read_csv(tmp_path / "out" / "grasps.csv")
    status = [r["status"].split(":")[0] for r in rows]
    assert status == ["ok", "bad_message", "bad_intrinsics", "ok"], status
    assert "3 coefficients" in rows[2]["status"] or "got 3" in rows[2]["status"]
    assert summary.images == 4 and summary.skipped == {"bad_message": 1, "bad_intrinsics": 1}
    assert summary.undecodable_infos == {"/cam/camera_info": 1}
    assert any("undecodable CameraInfo" in line for line in lines)
    assert len(read_topic(tmp_path / "out" / "grasps", POSES)) == 2


def test_cli_replay_of_a_bag_without_metadata_is_a_clear_error(tmp_path):
    bag = make_bag(tmp_path / "bag", frames=1)
    (bag / "metadata.yaml").unlink()
    for extra in ([], ["--offline", "--out", str(tmp_path / "out")]):
        out = subprocess.run([sys.executable, "-m", "mtg_grasp_ros.cli", "replay", str(bag),
                              *extra], cwd=REPO, env=subprocess_env(), capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
        assert "without metadata.yaml" in out.stderr and "ros2 bag reindex" in out.stderr
