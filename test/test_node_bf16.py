"""The node at ``precision: auto`` as it runs on a CPU with native bf16: the switch
``MTG_GRASP_ASSUME_BF16_CPU`` makes ``auto`` pick bf16 here too (emulated where the CPU lacks
it), so every machine checks the path a bf16 machine takes by default. Tolerances suit bf16's
8-bit mantissa; the exact geometry is pinned at fp32 in test_node_geometry.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("rclpy")

import ros_scene as sc
from ros_graph import Graph

from mtg_grasp_ros import precision as prec

MM = 0.002


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return sc.blob_model(tmp_path_factory.mktemp("model") / "blob.safetensors")


@pytest.fixture
def bf16_cpu(monkeypatch):
    monkeypatch.setenv(prec.ASSUME_BF16_ENV, "1")


@pytest.mark.parametrize("depth_source", ["plane", "fixed"])
def test_auto_on_a_bf16_cpu_publishes_the_grasp_within_bf16_tolerance(model, bf16_cpu,
                                                                        depth_source):
    g = Graph(model, precision="auto", depth_source=depth_source, fixed_distance=0.45)
    try:
        assert g.node.detector.precision == "bf16"
        g.send_info()
        pose, rows = g.detect()
        quality, width_m, u, v, angle, width_px, depth_m = rows[0]
        assert math.hypot(u - sc.BLOB[0], v - sc.BLOB[1]) < 2.0
        assert quality > 0.5
        # bf16 keeps 8 significant bits: about 0.4% of a value
        assert angle == pytest.approx(sc.ANGLE, abs=0.01)
        assert width_px == pytest.approx(sc.WIDTH_NET_PX * sc.H / 300, rel=0.01)
        # the 3D placement is geometry on the chosen pixel: exact at any precision
        p = pose.pose.position
        if depth_source == "plane":
            truth, _ = sc.table_point(u, v)
        else:
            d = sc.ray(u, v)
            truth = np.asarray(sc.CAMERA_XYZ) + sc.rotation() @ (d / np.linalg.norm(d) * 0.45)
        assert np.linalg.norm(np.array([p.x, p.y, p.z]) - truth) < MM
        assert width_m == pytest.approx(width_px * depth_m / sc.FX, rel=1e-3)
    finally:
        g.close()


def test_fp32_stays_fp32_on_a_bf16_cpu(model, bf16_cpu):
    g = Graph(model)
    try:
        assert g.node.detector.precision == "fp32"
    finally:
        g.close()
