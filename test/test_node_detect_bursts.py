"""``~/detect`` under bursts of concurrent calls, with and without images, past its limit,
and on SIGINT/SIGTERM with calls waiting (the executable as a subprocess).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import subprocess_env

pytest.importorskip("rclpy")

import rclpy
import ros_scene as sc
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from ros_graph import TIMEOUT, Graph
from std_srvs.srv import Trigger

from mtg_grasp_ros.ros import image_codec
from mtg_grasp_ros.ros.frame_slot import SHUTDOWN_MESSAGE

REPO = Path(__file__).resolve().parents[1]
#: A client whose request and response queues hold a whole burst.
CLIENT_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=300,
                        reliability=ReliabilityPolicy.RELIABLE)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return sc.blob_model(tmp_path_factory.mktemp("model") / "blob.safetensors")


def _burst(client, n):
    assert client.wait_for_service(timeout_sec=TIMEOUT)
    return [client.call_async(Trigger.Request()) for _ in range(n)]


def _diag_value(g, key):
    msgs = list(g.got["diagnostics"])
    if not msgs:
        return None
    return {kv.key: kv.value for kv in msgs[-1].status[0].values}.get(key)


def test_one_fresh_frame_answers_a_hundred_waiting_calls_and_the_limit_answers_at_once(model):
    g = Graph(model, mode="on_request", request_timeout=30.0, detect__max_waiting=100,
              diagnostics_period=0.2)
    try:
        g.send_info()
        client = g.io.create_client(Trigger, "/grasp_detector/detect", qos_profile=CLIENT_QOS)
        futures = _burst(client, 100)
        assert g.wait(lambda: g.node.detect.waiting == 100), g.node.detect.waiting
        assert g.wait(lambda: _diag_value(g, "detect_waiting") == "100")
        # past the limit: answered at once, with the reason
        extra = _burst(client, 5)
        assert g.wait(lambda: all(f.done() for f in extra))
        for f in extra:
            assert not f.result().success and "detect.max_waiting" in f.result().message
        assert not any(f.done() for f in futures)
        g.send_image(image_codec.rgb_to_image_msg(sc.scene(), "camera_optical", g.next_stamp()))
        assert g.wait(lambda: all(f.done() for f in futures)), \
            sum(f.done() for f in futures)
        answers = {(f.result().success, f.result().message) for f in futures}
        assert len(answers) == 1, answers              # one frame answered every call
        ok, message = answers.pop()
        assert ok and message.startswith("grasp at ("), message
        assert g.node.counts["processed"] == 1
        assert g.wait(lambda: _diag_value(g, "detect_waiting") == "0")
        assert _diag_value(g, "detect_answered") == "100"
        assert _diag_value(g, "detect_refused_busy") == "5"
    finally:
        g.close()


def test_a_hundred_calls_without_images_are_all_answered_after_the_timeout(model):
    """On the node's default single-threaded executor."""
    g = Graph(model, single_thread=True, mode="on_request", request_timeout=1.0)
    try:
        g.send_info()
        client = g.io.create_client(Trigger, "/grasp_detector/detect", qos_profile=CLIENT_QOS)
        start = time.monotonic()
        futures = _burst(client, 100)
        assert g.wait(lambda: all(f.done() for f in futures), timeout=30.0), \
            sum(f.done() for f in futures)
        took = time.monotonic() - start
        # every call waited about request_timeout, not one timeout after the other
        assert took < 1.0 + 15.0, took
        for f in futures:
            assert not f.result().success
            assert f.result().message == "no fresh image within 1.0 s"
        assert g.node.detect.counts["timed_out"] == 100 and g.node.detect.waiting == 0
    finally:
        g.close()


def _start_node(model, n_calls_hint: int) -> subprocess.Popen:
    args = [sys.executable, "-m", "mtg_grasp_ros.ros.node", "--ros-args",
            "-p", f"model_path:={model}", "-p", "camera_pose.source:=static",
            "-p", "mode:=on_request", "-p", "request_timeout:=60.0",
            "-p", f"detect.max_waiting:={n_calls_hint}"]
    return subprocess.Popen(args, cwd=REPO, env=subprocess_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_waiting_calls_are_answered_when_the_process_is_signalled(model, sig):
    proc = _start_node(model, 50)
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node("grasp_signal_test", context=ctx)
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    out = ""
    try:
        client = node.create_client(Trigger, "/grasp_detector/detect", qos_profile=CLIENT_QOS)
        end = time.monotonic() + 120
        while not client.service_is_ready() and time.monotonic() < end and proc.poll() is None:
            executor.spin_once(timeout_sec=0.2)
        assert client.service_is_ready(), "the node process did not offer ~/detect"
        futures = [client.call_async(Trigger.Request()) for _ in range(30)]
        end = time.monotonic() + 3.0          # the calls reach the node and wait there
        while time.monotonic() < end:
            executor.spin_once(timeout_sec=0.1)
        assert not any(f.done() for f in futures)
        proc.send_signal(sig)
        end = time.monotonic() + 30
        while not all(f.done() for f in futures) and time.monotonic() < end:
            executor.spin_once(timeout_sec=0.1)
        assert all(f.done() for f in futures), sum(f.done() for f in futures)
        for f in futures:
            assert not f.result().success and f.result().message == SHUTDOWN_MESSAGE
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            out, _ = proc.communicate(timeout=30)
        print(out)
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=ctx)
    assert proc.returncode == 0, out
    assert "Traceback" not in out and f"{sig.name}: stopping" in out, out
