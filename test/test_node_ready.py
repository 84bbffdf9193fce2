"""Ready means ready: ~/ready (latched) and /diagnostics say so once the node has warmed up;
the thread and executor defaults are the measured ones.
"""

from __future__ import annotations

import pytest

pytest.importorskip("rclpy")

import ros_scene as sc
from ros_graph import Graph
from std_msgs.msg import Bool

from mtg_grasp_ros.ros.node import READY_QOS, default_torch_threads, make_executor


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return sc.blob_model(tmp_path_factory.mktemp("model") / "blob.safetensors")


def test_ready_is_latched_and_in_diagnostics(model):
    g = Graph(model, diagnostics_period=0.2)
    try:
        assert g.node.ready
        got: list[bool] = []
        # subscribed after the node published: transient local still delivers the last value
        g.io.create_subscription(Bool, "/grasp_detector/ready", lambda m: got.append(m.data),
                                 READY_QOS)
        assert g.wait(lambda: bool(got)) and got[-1] is True

        def values() -> dict[str, str]:
            for msg in reversed(g.got["diagnostics"]):
                for status in msg.status:
                    if status.name.startswith("grasp_detector"):
                        return {kv.key: kv.value for kv in status.values}
            return {}

        assert g.wait(lambda: values().get("ready") == "true")
        assert values()["precision"] in ("fp32", "bf16") and int(values()["torch_threads"]) >= 1
    finally:
        g.close()


def test_thread_and_executor_defaults():
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor

    assert default_torch_threads(1) == 1 and default_torch_threads(2) == 1
    assert default_torch_threads(8) == 7
    ctx = Context()
    rclpy.init(context=ctx)
    try:
        for kind, cls in (("auto", SingleThreadedExecutor), ("multi", MultiThreadedExecutor),
                          ("single", SingleThreadedExecutor)):
            executor, made = make_executor(kind, context=ctx)
            assert isinstance(executor, cls) and made == ("single" if kind == "auto" else kind)
            executor.shutdown()
    finally:
        rclpy.shutdown(context=ctx)
