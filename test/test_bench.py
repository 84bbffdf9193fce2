"""``mtg_grasp bench`` runs the node in a real graph and reports every stage and the keep-up."""

from __future__ import annotations

import json
import platform
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
    assert isinstance(keep["python_blocks_growth"], int)
    if platform.libc_ver()[0] == "glibc":
        assert keep["heap_in_use_mib_before"] > 0 and "heap_in_use_growth_kib" in keep
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


def test_soak_growth_figures_of_a_flat_and_a_leaking_series():
    from mtg_grasp_ros.ros.bench import rss_growth

    t = [30.0 * (i + 1) for i in range(20)]
    flat = [(x, 370.0 + (3.0 if i % 2 else -3.0)) for i, x in enumerate(t)]
    g = rss_growth(flat, end_mib=373.0)
    assert abs(g["rss_growth_fit_mib"]) < 1.0       # swings of 6 MiB, no trend
    assert g["rss_growth_after_warmup_mib"] == 6.0  # what one sample against another says
    leak = [(x, 350.0 + 0.02 * x) for x in t]       # 0.02 MiB/s: 11.4 MiB from 30 to 600 s
    g = rss_growth(leak, end_mib=362.0)
    assert g["rss_growth_fit_mib"] == pytest.approx(11.4, abs=0.05)
    assert g["rss_growth_after_warmup_mib"] == pytest.approx(11.4, abs=0.05)
    assert g["rss_growth_median_first_to_last_quarter_mib"] == pytest.approx(0.02 * 450, abs=0.05)


def test_heap_growth_reports_what_is_still_held():
    from mtg_grasp_ros.ros.bench import heap_growth
    assert heap_growth((100 * 2**20, 5000), (100 * 2**20 + 3072, 5040)) == {
        "python_blocks_growth": 40, "heap_in_use_mib_before": 100.0,
        "heap_in_use_growth_kib": 3.0}
    assert heap_growth((None, 10), (None, 7)) == {"python_blocks_growth": -3}
