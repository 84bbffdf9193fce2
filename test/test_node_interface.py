"""Parameters refused with reasons over the graph, on-request mode through ~/detect, the
executable as a subprocess, and the launch file and YAML naming only declared parameters.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import subprocess_env

pytest.importorskip("rclpy")
yaml = pytest.importorskip("yaml")

import rclpy
import ros_scene as sc
from geometry_msgs.msg import PoseStamped
from rcl_interfaces.srv import SetParameters
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from ros_graph import TIMEOUT, Graph, camera
from std_srvs.srv import Trigger

from mtg_grasp_ros.ros import image_codec
from mtg_grasp_ros.ros.node import GraspDetectorNode
from mtg_grasp_ros.settings import PARAMS, flatten_params

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return sc.blob_model(tmp_path_factory.mktemp("model") / "blob.safetensors")


def _call(g: Graph, client, request):
    assert client.wait_for_service(timeout_sec=TIMEOUT)
    future = client.call_async(request)
    assert g.wait(future.done, timeout=TIMEOUT)
    return future.result()


def test_bad_parameter_values_are_refused_with_a_reason(model):
    g = Graph(model)
    try:
        client = g.io.create_client(SetParameters, "/grasp_detector/set_parameters")

        def set_(name, value):
            req = SetParameters.Request(parameters=[Parameter(name, value=value)
                                                    .to_parameter_msg()])
            return _call(g, client, req).results[0]

        refused = [
            ("sigma_q", 60.0, ""),                          # outside its range
            ("top_k", 0, ""),
            ("mode", "sometimes", "mode must be one of"),
            ("depth_source", "laser", "depth_source must be one of"),
            ("plane.normal", [0.0, 0.0, 0.0], "invalid plane"),
            ("camera_pose.xyz", [1.0, 2.0], "camera_pose.xyz must be 3"),
            ("roi", [0, 0, -5, 10], "roi must be"),
            ("target_frame", "", "target_frame"),
            ("device", "cuda", "read-only"),
            ("model_path", "/elsewhere.safetensors", "read-only"),
        ]
        for name, value, reason in refused:
            result = set_(name, value)
            assert not result.successful, (name, value)
            assert result.reason and reason.lower() in result.reason.lower(), \
                (name, value, result.reason)
        s = g.node.settings
        assert s.post.sigma_q == 5.0 and s.post.top_k == 1 and s.mode == "continuous"

        # good values take effect on the next frame, without a restart
        assert set_("sigma_q", 2.0).successful and set_("top_k", 4).successful
        assert set_("roi", [40, 0, 120, 120]).successful
        g.send_info()
        pose, rows = g.detect()
        assert len(rows) == 4 and g.node.settings.post.sigma_q == 2.0
        assert g.node.settings.roi == (40, 0, 120, 120)
        # the detector got the ROI: every candidate's centre (u, v) lies inside it
        assert ((rows[:, 2] >= 40) & (rows[:, 2] <= 160) & (rows[:, 3] <= 120)).all(), rows
        assert set_("min_quality", 0.99).successful
        pose, rows = g.detect()
        assert pose is None and rows.shape == (0, 7)
    finally:
        g.close()


@pytest.mark.parametrize("single_thread", [True, False], ids=["single", "multi"])
def test_on_request_mode_runs_only_when_asked(model, single_thread):
    """On a single-threaded executor too: ~/detect waits as a coroutine, not in the thread
    that must deliver the image it waits for.
    """
    # a queue for the three frames sent at once, all of which must reach the node
    g = Graph(model, single_thread=single_thread, mode="on_request", request_timeout=10.0,
              qos__depth=5)
    node = g.node
    try:
        g.send_info()
        client = g.io.create_client(Trigger, "/grasp_detector/detect")
        for _ in range(3):
            g.send_image(image_codec.rgb_to_image_msg(sc.scene(), "camera_optical",
                                                      g.next_stamp()))
        assert g.wait(lambda: node.counts["received"] >= 3)
        assert node.counts["processed"] == 0 and not g.got["grasp_candidates"]

        # the service waits for a frame received after the request, runs it and answers
        assert client.wait_for_service(timeout_sec=TIMEOUT)
        future = client.call_async(Trigger.Request())
        assert g.wait(lambda: node.frames.pending_requests, timeout=TIMEOUT)
        time.sleep(0.2)
        assert not future.done()                  # the older frame does not count as fresh
        fresh = g.next_stamp()
        g.send_image(image_codec.rgb_to_image_msg(sc.scene(), "camera_optical", fresh))
        assert g.wait(future.done)
        answer = future.result()
        assert answer.success and answer.message.startswith("grasp at (") \
            and "base_link" in answer.message and "width 0.04" in answer.message, answer.message
        assert g.wait(lambda: g.got["grasp_pose"])
        assert [p.header.stamp for p in g.got["grasp_pose"]] == [fresh]
        assert node.counts["processed"] == 1 and node.counts["dropped"] == 0

        # no image arrives: the call fails with a reason after request_timeout
        assert node.set_parameters([Parameter("request_timeout", value=0.3)])[0].successful
        answer = _call(g, client, Trigger.Request())
        assert not answer.success and "no fresh image" in answer.message
        # switching to continuous runs the waiting frames again
        assert node.set_parameters([Parameter("mode", value="continuous")])[0].successful
        pose, rows = g.detect()
        assert pose is not None
    finally:
        g.close()


def test_executable_runs_as_a_process_and_stops_cleanly(model):
    env = subprocess_env()
    args = [sys.executable, "-m", "mtg_grasp_ros.ros.node", "--ros-args",
            "-p", f"model_path:={model}", "-p", "camera_pose.source:=static",
            "-p", "target_frame:=world", "-r", "image:=/cam/image_raw",
            "-r", "camera_info:=/cam/camera_info"]
    proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node("grasp_process_test", context=ctx)
    try:
        poses = []
        node.create_subscription(PoseStamped, "/grasp_detector/grasp_pose", poses.append, 10)
        pub_img = node.create_publisher(image_codec.Image, "/cam/image_raw", 10)
        pub_info = node.create_publisher(image_codec.CameraInfo, "/cam/camera_info", 10)
        executor = SingleThreadedExecutor(context=ctx)
        executor.add_node(node)
        end = time.monotonic() + 60
        while not poses and time.monotonic() < end and proc.poll() is None:
            stamp = image_codec.Time(sec=int(time.time()), nanosec=0)
            pub_info.publish(image_codec.camera_info_msg(camera(), stamp))
            executor.spin_once(timeout_sec=0.2)
            pub_img.publish(image_codec.rgb_to_image_msg(sc.scene(), "camera_optical", stamp))
            executor.spin_once(timeout_sec=0.3)
        assert poses, "no pose from the node process (its output follows the test)"
        p = poses[-1]
        assert p.header.frame_id == "world"
        assert p.pose.position.z == pytest.approx(0.0, abs=0.002)     # on the default table
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=ctx)
        proc.send_signal(2)        # SIGINT, as ros2 launch does
        out, _ = proc.communicate(timeout=30)
        print(out)                 # shown by pytest when the test fails
    assert proc.returncode == 0, out
    assert "camera pose source: static" in out


# --- launch file and YAML --------------------------------------------------------------------

def _yaml_params() -> dict:
    doc = yaml.safe_load((REPO / "config" / "grasp_detector.yaml").read_text())
    assert list(doc) == ["/**/grasp_detector"]      # any namespace
    return flatten_params(doc["/**/grasp_detector"]["ros__parameters"])


def _launch_parameter_names() -> set[str]:
    """The parameters the launch file sets by argument: the keys of its CONFIG_ARGUMENTS."""
    tree = ast.parse((REPO / "launch" / "grasp_detector.launch.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == \
                "CONFIG_ARGUMENTS":
            return set(ast.literal_eval(node.value))
    raise AssertionError("no CONFIG_ARGUMENTS in the launch file")


def test_launch_file_and_yaml_name_only_declared_parameters(model):
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    try:
        yaml_values = _yaml_params()
        overrides = dict(yaml_values, model_path=str(model), device="cpu")
        node = GraspDetectorNode(context=ctx, parameter_overrides=[
            Parameter(k, value=v) for k, v in overrides.items()])   # the YAML's values start it
        bare = rclpy.create_node("bare", context=ctx)     # rclpy's own (use_sim_time, ...)
        builtin = set(bare.list_parameters([], 0).names)
        declared = set(node.list_parameters([], 0).names) - builtin
        bare.destroy_node()
        node.destroy_node()
    finally:
        rclpy.shutdown(context=ctx)
    assert declared == {p.name for p in PARAMS}
    assert set(yaml_values) == declared                  # every parameter, with its default
    launch_names = _launch_parameter_names()
    assert launch_names and launch_names <= declared, launch_names - declared
    for p in PARAMS:                                     # the YAML holds the declared defaults
        got = yaml_values[p.name]
        if isinstance(p.default, (str, bool)):
            assert got == p.default, p.name
        else:
            np.testing.assert_allclose(got, p.default, rtol=1e-12, err_msg=p.name)


def test_missing_model_stops_start_up_with_a_clear_message(tmp_path):
    missing = tmp_path / "none.safetensors"
    out = subprocess.run([sys.executable, "-m", "mtg_grasp_ros.ros.node", "--ros-args", "-p",
                          f"model_path:={missing}"], cwd=REPO, capture_output=True, text=True,
                         env=subprocess_env(), timeout=120)
    assert out.returncode == 1
    assert "cannot start" in out.stderr and str(missing) in out.stderr
