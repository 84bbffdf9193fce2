"""Bag reading and writing without ROS: layouts, ROS 1 migration, stamps, static transforms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml
from bag_fixtures import make_bag, read_topic
from conftest import ROS1_BAGS

from mtg_grasp_ros.bags import (
    CAMERA_INFO,
    BagError,
    Ros2View,
    StampIndex,
    StaticTransforms,
    camera_info_for,
    find_layout,
    open_bag,
)
from mtg_grasp_ros.bags.sample import LOOKING_DOWN, START_NS
from mtg_grasp_ros.projection import Transform


def test_camera_info_beside_image_topic():
    infos = ["/a/camera_info", "/b/camera_info"]
    assert camera_info_for("/a/image_raw", infos) == "/a/camera_info"
    assert camera_info_for("/b/image/compressed", infos) == "/b/camera_info"
    assert camera_info_for("/c/image_raw", infos) is None
    assert camera_info_for("/c/image_raw", ["/x/camera_info"]) == "/x/camera_info"


def test_stamp_index_picks_nearest():
    idx = StampIndex()
    for stamp, value in ((30, "c"), (10, "a"), (20, "b")):
        idx.add(stamp, value)
    assert [idx.nearest(s) for s in (0, 14, 15, 16, 26, 99)] == ["a", "a", "a", "b", "c", "c"]
    assert StampIndex().nearest(5) is None


def test_static_transforms_chain_and_inverse():
    tree = StaticTransforms()
    tree.add("world", "base", Transform((1.0, 0.0, 0.0)))
    quarter = (0.0, 0.0, math.sin(math.pi / 4), math.cos(math.pi / 4))   # 90 deg about z
    tree.add("base", "cam", Transform((0.0, 2.0, 0.0), quarter))
    t = tree.lookup("world", "cam")
    # cam's x axis is base's y axis; cam origin at base (0, 2, 0) = world (1, 2, 0)
    assert np.allclose(t.apply([[1.0, 0.0, 0.0]]), [[1.0, 3.0, 0.0]])
    assert np.allclose(tree.lookup("cam", "world").apply([[1.0, 3.0, 0.0]]), [[1.0, 0.0, 0.0]])
    assert tree.lookup("world", "elsewhere") is None


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_sample_bag_is_version_8_with_latched_tf_static(tmp_path, storage):
    bag = make_bag(tmp_path / "bag", frames=4, fps=5.0, storage=storage)
    meta = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert meta["version"] == 8 and meta["storage_identifier"] == storage
    qos = {t["topic_metadata"]["name"]: yaml.safe_load(t["topic_metadata"]["offered_qos_profiles"])
           for t in meta["topics_with_message_count"]}
    assert qos["/tf_static"][0]["durability"] == 1           # transient local (v8: an int)
    assert qos["/camera/image_raw"][0]["durability"] == 2    # volatile
    images = read_topic(bag, "/camera/image_raw")
    stamps = [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for _, m, _ in images]
    assert stamps == [t for t, _, _ in images] == [START_NS + i * 200_000_000 for i in range(4)]
    assert images[0][1].encoding == "rgb8" and images[0][1].width == 160
    info = read_topic(bag, "/camera/camera_info")[0][1]
    assert info.k[0] == pytest.approx(160 / 2 / math.tan(math.radians(30)))
    reader = open_bag(bag)
    try:
        layout = find_layout(reader)
        assert layout.camera_info_of == {"/camera/image_raw": "/camera/camera_info"}
        assert layout.tf_static == ["/tf_static"]
    finally:
        reader.close()
    (tf,) = [m for _, m, _ in read_topic(bag, "/tf_static")]
    t = tf.transforms[0]
    assert (t.header.frame_id, t.child_frame_id) == ("base_link", "camera_optical_frame")
    assert (t.transform.translation.z, t.transform.rotation.x) == (LOOKING_DOWN.translation[2],
                                                                   LOOKING_DOWN.rotation[0])


def test_ros1_camera_info_migrates_to_ros2(tmp_path):
    bag = ROS1_BAGS / "aruco_marker.bag"
    if not bag.is_file():
        pytest.skip(f"{bag} not found")
    reader = open_bag(bag)
    try:
        view = Ros2View(reader)
        (conn,) = [c for c in reader.connections if c.msgtype == CAMERA_INFO]
        _, raw = next((t, r) for _, t, r in reader.messages(connections=[conn]))
        ros1 = reader.deserialize(raw, conn.msgtype)
        ros2 = view.dst.deserialize_cdr(view.cdr(conn, raw), CAMERA_INFO)
    finally:
        reader.close()
    assert np.array_equal(ros2.k, ros1.K) and np.array_equal(ros2.d, ros1.D)
    assert ros2.header.stamp == ros1.header.stamp and ros2.header.frame_id == "raspicam"
    assert not hasattr(ros2.header, "seq")


def test_missing_bag_is_a_clear_error(tmp_path):
    with pytest.raises(BagError, match="no such bag"):
        open_bag(tmp_path / "nothing")


def test_make_bag_command(tmp_path):
    import subprocess
    import sys

    from conftest import REPO, subprocess_env
    out = tmp_path / "sample"
    r = subprocess.run([sys.executable, "-m", "mtg_grasp_ros.cli", "make-bag", str(out),
                        "--frames", "3", "--size", "64", "48", "--storage", "mcap"],
                       cwd=REPO, env=subprocess_env(),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "3 frames" in r.stdout and "mcap" in r.stdout
    images = read_topic(out, "/camera/image_raw")
    assert [(m.width, m.height) for _, m, _ in images] == [(64, 48)] * 3


def test_annotations_draw_rectangles_and_sheet():
    from mtg_grasp_ros import annotate
    from mtg_grasp_ros.grasp import Grasp

    img = np.zeros((120, 160, 3), np.uint8)
    best, other = Grasp(80, 60, 0.0, 40, 20, 0.9), Grasp(30, 30, np.pi / 2, 20, 10, 0.5)
    drawn = annotate.draw_grasps(img, [best, other])
    assert not img.any()                                    # the input is left alone
    assert tuple(drawn[60, 100]) == annotate.BEST           # a jaw, at x = 80 + 40 / 2
    assert tuple(drawn[60, 80]) == (0, 0, 0)                # nothing at the centre
    r, g, b = (drawn[:40, :50, c].astype(int) for c in range(3))   # around the other grasp
    assert ((r > 100) & (g > 80) & (b < 40)).sum() > 20             # its yellow (Q 0.5) lines
    weak = annotate.draw_grasps(img, [best, Grasp(30, 30, np.pi / 2, 20, 10, 0.02)])
    r, g, b = (weak[:40, :50, c].astype(int) for c in range(3))
    assert ((r > 150) & (g < 40)).sum() > 20 and not ((g > 80) & (r < 100)).any()   # red
    tiles = [annotate.thumbnail(drawn, f"#{i}") for i in range(7)]
    assert annotate.contact_sheet(tiles, columns=3).shape == (3 * 240, 3 * 320, 3)
    assert annotate.sample_indices(5, 24) == set(range(5))
    picked = annotate.sample_indices(100, 4)
    assert picked == {0, 33, 66, 99}
