"""``mtg_grasp bench`` runs the node in a real graph and reports every stage and the keep-up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import subprocess_env

pytest.importorskip("rclpy")

import ros_scene as sc

from mtg_grasp_ros.pipeline import STAGES

REPO = Path(__file__).resolve().parents[1]


def test_bench_reports_stages_end_to_end_and_keep_up(tmp_path):
    model = sc.blob_model(tmp_path / "blob.safetensors")
    out = subprocess.run([sys.executable, "-m", "mtg_grasp_ros.cli", "bench", "--model",
                          str(model), "--width", "160", "--height", "120", "--frames", "15",
                          "--rate", "10", "--duration", "2"], cwd=REPO, capture_output=True,
                         text=True, timeout=240, env=subprocess_env())
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout)
    assert report["model"] == str(model) and report["image"] == "160x120 rgb8"
    lat = report["latency"]
    for stage in STAGES:
        s = lat["stages"][stage]
        assert s["n"] == 15 and 0 < s["median_ms"] <= s["p95_ms"], stage
    assert lat["stamp_to_received"]["n"] == 15
    assert lat["stamp_to_received"]["median_ms"] >= lat["stages"]["network"]["median_ms"]
    keep = report["keep_up"]
    assert keep["frames_sent"] >= 15 and keep["frames_processed"] > 0
    assert keep["frames_processed"] + keep["frames_dropped"] <= keep["frames_received_by_node"]
    assert keep["rate_achieved_hz"] > 0 and keep["rss_mib_after"] > 0
    assert set(keep["stages"]) == set(STAGES) and keep["stages"]["network"] == keep["network"]
    bare = report["bare_detector"]
    assert bare["n"] == 15 and 0 < bare["network_median_ms"] <= bare["median_ms"]
    # phase 3: the bare detector back to back while the camera publishes to the idle node
    beside = report["bare_detector_beside_camera"]
    assert beside["n"] > 0 and 0 < beside["network_median_ms"] <= beside["median_ms"]
    assert 0 < beside["frames_received_by_node"] <= beside["frames_sent"]
    ratios = report["ratios"]
    assert set(ratios) == {"end_to_end_over_detector", "end_to_end_p95_over_median",
                           "keep_up_over_possible", "keep_up_over_possible_idle",
                           "non_network_over_network"}
    e2e = lat["stamp_to_published"]
    assert ratios["end_to_end_over_detector"] == pytest.approx(
        e2e["median_ms"] / bare["median_ms"], abs=2e-3)
    assert ratios["end_to_end_p95_over_median"] >= 1.0
    assert ratios["keep_up_over_possible"] == pytest.approx(
        keep["rate_achieved_hz"] / min(10.0, 1e3 / beside["median_ms"]), abs=2e-3)
    assert ratios["keep_up_over_possible_idle"] == pytest.approx(
        keep["rate_achieved_hz"] / min(10.0, 1e3 / bare["median_ms"]), abs=2e-3)
    assert report["executor"] == "single" and report["precision"] in ("fp32", "bf16")
