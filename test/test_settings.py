"""The one parameter table: defaults, the node's YAML, wildcard keys, overrides, bad values."""

from __future__ import annotations

import ast
import math

import pytest
from conftest import REPO

from mtg_grasp_ros.bags.transforms import BagTransforms
from mtg_grasp_ros.camera_pose import FirstAvailable, StaticCameraPose, TransformUnavailable
from mtg_grasp_ros.projection import Transform
from mtg_grasp_ros.resources import params_file
from mtg_grasp_ros.settings import (
    LOOKING_DOWN,
    PARAMS,
    Settings,
    defaults,
    load_params_file,
    parameter_values,
    settings_from,
)

SHIPPED = REPO / "config" / "grasp_detector.yaml"


def test_shipped_yaml_holds_every_parameter_with_its_default():
    assert params_file().resolve() == SHIPPED.resolve() or params_file().is_file()
    values = load_params_file(SHIPPED)
    assert set(values) == {p.name for p in PARAMS}
    for name, default in defaults().items():
        if isinstance(default, list):
            assert values[name] == pytest.approx(default, rel=1e-12), name
        else:
            assert values[name] == default, name


def test_launch_file_restates_no_parameter_default():
    """The launch file's parameter arguments are schema names whose default is "" (= as the
    config file says), so the table stays the only place that defines a default.
    """
    tree = ast.parse((REPO / "launch" / "grasp_detector.launch.py").read_text())
    table = defaults()
    config_args = next(node.value for node in ast.walk(tree) if isinstance(node, ast.Assign)
                       and getattr(node.targets[0], "id", "") == "CONFIG_ARGUMENTS")
    names = [k.value for k in config_args.keys]
    assert names and all(n in table for n in names), names
    declared = [call for call in ast.walk(tree) if isinstance(call, ast.Call)
                and getattr(call.func, "id", "") == "DeclareLaunchArgument"]
    for call in declared:
        default = next((kw.value for kw in call.keywords if kw.arg == "default_value"), None)
        first = call.args[0]
        if isinstance(first, ast.Name) or (isinstance(first, ast.Constant)
                                           and first.value in table):
            # the comprehension over CONFIG_ARGUMENTS, or a schema name declared on its own
            assert isinstance(default, ast.Constant) and default.value == "", ast.unparse(call)
    assert any(isinstance(c.args[0], ast.Name) for c in declared)


def test_default_static_pose_is_the_looking_down_pose():
    s = Settings.from_values(defaults())
    assert s.static_pose.translation == LOOKING_DOWN.translation
    # a point 0.6 m in front of the camera is the target frame's origin, for both forms
    for pose in (s.static_pose, LOOKING_DOWN):
        assert list(pose.apply([0.0, 0.0, 0.6])) == pytest.approx([0.0, 0.0, 0.0], abs=1e-12)


@pytest.mark.parametrize("key", ["grasp_detector", "/grasp_detector", "/**", "/**/grasp_detector"])
def test_params_file_accepts_the_node_and_wildcard_keys(tmp_path, key):
    f = tmp_path / "p.yaml"
    f.write_text(f'"{key}":\n  ros__parameters:\n    top_k: 3\n    roi: [60, 20, 240, 200]\n'
                 "    plane:\n      offset: 0.1\n")
    s, values = settings_from(f, {"sigma_q": 3})
    assert s.post.top_k == 3 and s.roi == (60, 20, 240, 200) and s.post.sigma_q == 3.0
    assert s.depth.plane.offset == 0.1 and values["sigma_angle"] == 5.0


def test_specific_node_key_overrides_the_wildcard(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text('"/**":\n  ros__parameters:\n    top_k: 2\n    min_distance: 4\n'
                 "    use_sim_time: true\n"
                 "grasp_detector:\n  ros__parameters:\n    top_k: 7\n")
    values = parameter_values(f)
    assert values["top_k"] == 7 and values["min_distance"] == 4


@pytest.mark.parametrize("text, message", [
    ("grasp_detector:\n  ros__parameters:\n    top_k: 0\n", "top_k must be in [1, 100]"),
    ("grasp_detector:\n  ros__parameters:\n    sigma_q: fast\n", "sigma_q must be a number"),
    ("grasp_detector:\n  ros__parameters:\n    nonsense: 1\n", "unknown parameter 'nonsense'"),
    ("grasp_detector:\n  ros__parameters:\n    mode: sometimes\n", "mode must be one of"),
    ("other_node:\n  ros__parameters:\n    top_k: 1\n", "no parameters for the grasp_detector"),
    ("grasp_detector: [1, 2\n", "not valid YAML"),
])
def test_bad_params_files_are_named(tmp_path, text, message):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(ValueError, match="bad.yaml") as info:
        parameter_values(f)
    assert message in str(info.value)


def test_static_pose_knows_only_camera_to_target():
    src = StaticCameraPose("base_link", LOOKING_DOWN)
    assert src.lookup("base_link", "any_camera", 0) == LOOKING_DOWN
    assert src.lookup("cam", "cam", 0) == Transform()
    with pytest.raises(TransformUnavailable, match="table"):
        src.lookup("table", "cam", 0)


def test_bag_transforms_chain_static_and_nearest_dynamic_edges():
    tree = BagTransforms()
    tree.add("world", "base_link", Transform((1.0, 0.0, 0.0)))              # static
    tree.add("base_link", "cam", Transform((0.0, 0.0, 0.5)), stamp=100)     # /tf samples
    tree.add("base_link", "cam", Transform((0.0, 0.0, 0.7)), stamp=200)
    assert tree.lookup("world", "cam", 110).translation == pytest.approx((1.0, 0.0, 0.5))
    assert tree.lookup("world", "cam", 190).translation == pytest.approx((1.0, 0.0, 0.7))
    assert tree.lookup("cam", "world", 100).translation == pytest.approx((-1.0, 0.0, -0.5))
    with pytest.raises(TransformUnavailable, match="'cam' to 'table'"):
        tree.lookup("table", "cam", 100)
    chain = FirstAvailable([tree, StaticCameraPose("table", LOOKING_DOWN)])
    assert chain.lookup("table", "cam", 100) == LOOKING_DOWN and chain.used == "static"
    chain.lookup("world", "cam", 100)
    assert chain.used == tree.name
    assert math.isclose(chain.lookup("world", "cam", 100).translation[2], 0.5)
