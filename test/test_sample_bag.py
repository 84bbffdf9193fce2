"""The bundled sample bag (bags/sample_table) and the synthetic frames it is made from."""

import math
from pathlib import Path

import numpy as np
import pytest

from mtg_grasp_ros.bags import CAMERA_INFO, IMAGE, TF_STATIC, find_layout, is_latched, open_bag
from mtg_grasp_ros.bags.sample import synth_table_frames

SAMPLE = Path(__file__).resolve().parents[1] / "bags" / "sample_table"


def test_bundled_sample_bag_is_a_camera_above_a_table():
    reader = open_bag(SAMPLE)
    try:
        layout = find_layout(reader)
        assert layout.images == {"/camera/image_raw": IMAGE}
        assert layout.camera_info_of["/camera/image_raw"] == "/camera/camera_info"
        assert layout.tf_static == [TF_STATIC]
        counts = {c.topic: c.msgcount for c in reader.connections}
        assert counts["/camera/image_raw"] == counts["/camera/camera_info"] == 24
        tf_conn = next(c for c in reader.connections if c.topic == TF_STATIC)
        assert is_latched(tf_conn)
        (_, _, raw), = reader.messages(connections=[tf_conn])
        tf = reader.deserialize(raw, tf_conn.msgtype).transforms[0]
        assert (tf.header.frame_id, tf.child_frame_id) == ("base_link", "camera_optical_frame")
        assert tf.transform.translation.z == pytest.approx(0.7)
        info_conn = next(c for c in reader.connections if c.msgtype == CAMERA_INFO)
        _, _, raw = next(iter(reader.messages(connections=[info_conn])))
        info = reader.deserialize(raw, CAMERA_INFO)
        # 0.25 m of table across the 240 px short side at 0.7 m.
        assert (info.width, info.height) == (320, 240)
        assert 2 * 0.7 * (info.height / 2) / info.k[4] == pytest.approx(0.25, rel=1e-6)
    finally:
        reader.close()
    assert sum(f.stat().st_size for f in SAMPLE.iterdir()) < 8e6


def test_synth_frames_are_deterministic_and_static():
    a = list(synth_table_frames(objects=1, frames_per_object=2, width=64, height=48, seed=3))
    b = list(synth_table_frames(objects=1, frames_per_object=2, width=64, height=48, seed=3))
    assert len(a) == 2
    for fa, fb in zip(a, b, strict=True):
        assert np.array_equal(fa.rgb, fb.rgb) and fa.stamp_ns == fb.stamp_ns
    assert a[0].camera_pose == a[1].camera_pose
    assert a[1].stamp_ns - a[0].stamp_ns == 100_000_000
    # The camera looks straight down from 0.7 m: the optical axis maps to world -z.
    z_axis = np.asarray(a[0].camera_pose.rotate([0, 0, 1]))
    np.testing.assert_allclose(z_axis, [0, 0, -1], atol=1e-12)
    assert a[0].camera_pose.translation[2] == pytest.approx(0.7)
    assert not math.isclose(float(a[0].rgb.std()), 0.0)
