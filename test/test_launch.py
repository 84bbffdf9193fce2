"""launch/grasp_detector.launch.py run for real with `ros2 launch`: a user's config wins over
the launch defaults, explicit arguments win over the config, the YAML applies in a namespace,
string arguments stay strings, use_sim_time reaches the node, and the RViz config follows the
namespace. Needs launch, launch_ros, ros2launch and the package installed by colcon (skips
otherwise; ../shared/tools/ros2_overlay.sh provides all of them where ROS 2 is not installed).
The package's YAML under a namespace with plain ``--params-file`` needs only rclpy.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("rclpy")

import rclpy  # noqa: E402
import yaml  # noqa: E402
from conftest import REPO, subprocess_env  # noqa: E402
from rcl_interfaces.srv import GetParameters  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402

LAUNCH_FILE = REPO / "launch" / "grasp_detector.launch.py"
HAVE_LAUNCH = all(importlib.util.find_spec(m) is not None
                  for m in ("launch", "launch_ros", "ros2launch"))
needs_launch = pytest.mark.skipif(not HAVE_LAUNCH, reason="launch, launch_ros or ros2launch "
                                  "missing (../shared/tools/ros2_overlay.sh builds them)")


def _installed() -> bool:
    try:
        from ament_index_python.packages import get_package_prefix
        get_package_prefix("mtg_grasp_ros")
    except Exception:  # PackageNotFoundError, or no AMENT_PREFIX_PATH at all
        return False
    return shutil.which("ros2") is not None


needs_install = pytest.mark.skipif(
    not (HAVE_LAUNCH and _installed()),
    reason="launch missing, or mtg_grasp_ros not installed by colcon, or ros2 not on PATH")


def _launch_module():
    spec = importlib.util.spec_from_file_location("grasp_detector_launch", LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def get_parameters(node_name: str, names: list[str], launch: subprocess.Popen,
                   timeout: float = 90.0) -> dict:
    """Values of ``names`` on the running node ``node_name`` (the GetParameters service, which
    Humble has; rclpy's AsyncParameterClient is newer).
    """
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node("launch_test_client", context=ctx)
    try:
        client = node.create_client(GetParameters, f"{node_name}/get_parameters")
        deadline = time.monotonic() + timeout
        while not client.wait_for_service(timeout_sec=1.0):
            assert launch.poll() is None, f"ros2 launch ended (exit {launch.returncode})"
            assert time.monotonic() < deadline, f"{node_name}/get_parameters never appeared"
        future = client.call_async(GetParameters.Request(names=names))
        executor = SingleThreadedExecutor(context=ctx)
        rclpy.spin_until_future_complete(node, future, executor=executor, timeout_sec=30.0)
        assert future.done(), "get_parameters did not answer"
        values = {}
        for name, v in zip(names, future.result().values, strict=True):
            values[name] = {1: v.bool_value, 2: v.integer_value, 3: v.double_value,
                            4: v.string_value}.get(v.type, f"<type {v.type}>")
        return values
    finally:
        node.destroy_node()
        rclpy.shutdown(context=ctx)


def run_launch(args: list[str], node_name: str, names: list[str], log: Path) -> dict:
    """Start ``ros2 launch mtg_grasp_ros grasp_detector.launch.py ARGS``, read parameters from
    the node, stop the launch with SIGINT (as Ctrl-C does).
    """
    with open(log, "w") as out:
        proc = subprocess.Popen(["ros2", "launch", "mtg_grasp_ros", "grasp_detector.launch.py",
                                 *args], stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        return get_parameters(node_name, names, proc)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; launch log:\n{log.read_text()[-3000:]}") from None
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    """SIGINT to the launch's process group (Ctrl-C), SIGKILL if it has not ended in 30 s."""
    for sig, wait in ((signal.SIGINT, 30), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break  # already gone
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue


@needs_launch
def test_rviz_config_follows_the_namespace(tmp_path):
    module = _launch_module()
    template = REPO / "config" / "grasp_detector.rviz"
    assert "Value: /grasp_detector/markers" in template.read_text()
    text = module.rviz_config_for(template, "/robot1/", tmp_path).read_text()
    assert "Value: /robot1/grasp_detector/markers" in text
    assert "Value: /grasp_detector/" not in text
    plain = module.rviz_config_for(template, "", tmp_path).read_text()
    assert plain == template.read_text()


@needs_install
@pytest.mark.ros
@pytest.mark.slow
def test_user_config_wins_in_a_namespace_and_arguments_win_over_it(tmp_path):
    config = tmp_path / "my.yaml"
    config.write_text("/**/grasp_detector:\n  ros__parameters:\n    target_frame: world\n"
                      "    mode: on_request\n    device: cpu\n    top_k: 3\n"
                      "    camera_pose:\n      source: static\n")
    names = ["target_frame", "mode", "device", "top_k", "input", "use_sim_time", "sigma_q"]
    got = run_launch([f"config:={config}", "namespace:=robot1", "input:=compressed",
                      "use_sim_time:=true"], "/robot1/grasp_detector", names,
                     tmp_path / "launch1.log")
    print("namespace robot1, config my.yaml, input:=compressed use_sim_time:=true ->", got)
    assert got == {"target_frame": "world", "mode": "on_request", "device": "cpu", "top_k": 3,
                   "input": "compressed", "use_sim_time": True, "sigma_q": 5.0}


@needs_install
@pytest.mark.ros
@pytest.mark.slow
def test_arguments_stay_strings_with_the_package_config(tmp_path):
    names = ["target_frame", "mode", "device", "model_path", "use_sim_time"]
    got = run_launch(["target_frame:=on", "device:=cpu", "camera_info:=ci"],
                     "/grasp_detector", names, tmp_path / "launch2.log")
    print("no namespace, package config, target_frame:=on ->", got)
    assert got == {"target_frame": "on", "mode": "continuous", "device": "cpu",
                   "model_path": "", "use_sim_time": False}


@pytest.mark.ros
@pytest.mark.slow
def test_package_yaml_applies_in_a_namespace_with_params_file(tmp_path):
    """The shipped YAML's ``/**/grasp_detector`` key reaches a node started in a namespace
    (the old key ``grasp_detector:`` was silently ignored there).
    """
    doc = yaml.safe_load((REPO / "config" / "grasp_detector.yaml").read_text())
    params = doc["/**/grasp_detector"]["ros__parameters"]
    params.update(top_k=3, target_frame="world", device="cpu")
    params["camera_pose"]["source"] = "static"
    config = tmp_path / "ns.yaml"
    config.write_text(yaml.safe_dump(doc))
    proc = subprocess.Popen([sys.executable, "-m", "mtg_grasp_ros.ros.node", "--ros-args",
                             "--params-file", str(config), "-r", "__ns:=/robot1"],
                            cwd=tmp_path, env=subprocess_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        got = get_parameters("/robot1/grasp_detector", ["top_k", "target_frame", "mode"], proc)
    except AssertionError as exc:
        _stop(proc)
        raise AssertionError(f"{exc}; node output:\n{proc.stdout.read()[-3000:]}") from None
    _stop(proc)
    assert got == {"top_k": 3, "target_frame": "world", "mode": "continuous"}


@pytest.mark.parametrize(("key", "name", "applies"), [
    ("/**/grasp_detector", "/robot1/grasp_detector", True),
    ("/**/grasp_detector", "/grasp_detector", True),
    ("/**", "/a/b/grasp_detector", True),
    ("grasp_detector", "/grasp_detector", True),
    ("grasp_detector", "/robot1/grasp_detector", False),
    ("/robot1/grasp_detector", "/robot1/grasp_detector", True),
    ("/robot2/grasp_detector", "/robot1/grasp_detector", False),
    ("/*/grasp_detector", "/robot1/grasp_detector", True),
    ("/*/grasp_detector", "/a/b/grasp_detector", False),
    ("/robot*/grasp_*", "/robot1/grasp_detector", True),
])
def test_parameter_file_keys_match_as_rcl_matches_them(key, name, applies):
    from mtg_grasp_ros.params_file import key_matches

    assert key_matches(key, name) is applies


def test_a_config_for_another_node_name_is_refused_naming_the_key_that_would_match(tmp_path):
    from mtg_grasp_ros.params_file import ParamsFileError, check_params_file

    config = tmp_path / "old.yaml"
    config.write_text("grasp_detector:\n  ros__parameters:\n    top_k: 3\n")
    check_params_file(config, "/grasp_detector")        # no namespace: it applies
    with pytest.raises(ParamsFileError) as err:
        check_params_file(config, "/robot1/grasp_detector")
    text = str(err.value)
    assert str(config) in text and "keys: grasp_detector" in text
    assert "/**/grasp_detector" in text and "/robot1/grasp_detector" in text
    for bad in ("[1, 2", "- just a list\n"):
        config.write_text(bad)
        with pytest.raises(ParamsFileError, match=str(config)):
            check_params_file(config, "/grasp_detector")
    check_params_file(REPO / "config" / "grasp_detector.yaml", "/robot1/grasp_detector")


@needs_install
@pytest.mark.ros
@pytest.mark.slow
def test_launch_stops_on_a_config_that_would_be_ignored_in_the_namespace(tmp_path):
    config = tmp_path / "old.yaml"
    config.write_text("grasp_detector:\n  ros__parameters:\n    top_k: 3\n")
    out = subprocess.run(["ros2", "launch", "mtg_grasp_ros", "grasp_detector.launch.py",
                          f"config:={config}", "namespace:=robot1"], capture_output=True,
                         text=True, timeout=120, env=subprocess_env())
    text = out.stdout + out.stderr
    assert out.returncode != 0, text
    assert "no key applies to the node /robot1/grasp_detector" in text, text
    assert "/**/grasp_detector" in text
