"""The node's timing history: bounded, in order, preallocated."""

import numpy as np
import pytest

from mtg_grasp_ros.ros.stats import NodeStats, Ring


def test_ring_keeps_the_last_values_oldest_first():
    ring = Ring(4)
    assert len(ring) == 0 and ring.values().size == 0
    for v in range(1, 4):
        ring.append(v)
    assert ring.values().tolist() == [1, 2, 3]
    for v in range(4, 11):
        ring.append(v)
    assert len(ring) == 4 and ring.values().tolist() == [7, 8, 9, 10]
    ring.values()[0] = -1            # a copy: the ring is not changed through it
    assert ring.values().tolist() == [7, 8, 9, 10]
    ring.clear()
    assert len(ring) == 0
    ring.append(5.5)
    assert ring.values().tolist() == [5.5]


def test_node_stats_history_is_bounded_and_summarised():
    stats = NodeStats(history=50)
    for i in range(120):
        stats.frame_done({"network": i * 1e-3, "not_a_stage": 1.0}, latency=i * 2e-3)
    assert stats.stage_times("network") == pytest.approx(np.arange(70, 120) * 1e-3)
    assert stats.latencies() == pytest.approx(np.arange(70, 120) * 2e-3)
    summary = stats.summary()
    assert summary["network_median_s"] == pytest.approx(94.5e-3)
    assert summary["latency_p95_s"] == pytest.approx(np.percentile(np.arange(70, 120) * 2e-3, 95))
    assert summary["rate_hz"] > 0          # 120 frames within the last 5 s
    stats.clear_timings()
    assert stats.stage_times("network") == [] and stats.latencies() == []
    assert "network_median_s" not in stats.summary()
