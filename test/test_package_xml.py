"""package.xml: every dependency key resolves with rosdep on Humble and Jazzy.

The keys are checked against test/data/rosdep_keys.yaml, an excerpt of ros/rosdistro
(humble/ and jazzy/distribution.yaml, rosdep/base.yaml and rosdep/python.yaml at the commit it
names) written by test/data/make_rosdep_keys.py; a key that is not in it fails the test, so a new
dependency needs that script run again (and so a check against rosdistro) before it is added.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DEPEND_TAGS = ("depend", "build_depend", "buildtool_depend", "build_export_depend",
               "exec_depend", "test_depend", "doc_depend")


def dependency_keys(package_xml: Path) -> list[tuple[str, str]]:
    """(tag, key) of every dependency element of a format-3 package.xml."""
    root = ET.parse(package_xml).getroot()
    assert root.get("format") == "3", f"{package_xml}: expected package format 3"
    return [(el.tag, (el.text or "").strip()) for tag in DEPEND_TAGS for el in root.iter(tag)]


def known_keys() -> dict[str, dict[str, dict]]:
    """Per distro, the verified keys and how rosdep resolves them."""
    doc = yaml.safe_load((REPO / "test" / "data" / "rosdep_keys.yaml").read_text())
    return {distro: spec["keys"] for distro, spec in doc["distros"].items()}


def test_the_excerpt_covers_humble_and_jazzy():
    keys = known_keys()
    assert set(keys) == {"humble", "jazzy"}
    # keys that are known not to resolve must not have crept into the excerpt
    for distro in keys.values():
        assert "ament_python" not in distro and "python3-safetensors-pip" not in distro


@pytest.mark.parametrize("distro", ["humble", "jazzy"])
def test_every_dependency_key_resolves(distro):
    deps = dependency_keys(REPO / "package.xml")
    assert deps, "package.xml declares no dependencies"
    unknown = [f"<{tag}>{key}" for tag, key in deps if key not in known_keys()[distro]]
    assert not unknown, (f"package.xml keys that rosdep cannot resolve on {distro} (or that were "
                         f"not verified: see test/data/make_rosdep_keys.py): {unknown}")


def test_no_duplicate_dependencies():
    keys = [key for _, key in dependency_keys(REPO / "package.xml")]
    duplicated = sorted({k for k in keys if keys.count(k) > 1})
    assert not duplicated, f"duplicated keys: {duplicated}"


def test_an_unknown_key_is_caught(tmp_path):
    xml = (REPO / "package.xml").read_text().replace(
        "<exec_depend>rclpy</exec_depend>",
        "<exec_depend>rclpy</exec_depend><exec_depend>python3-safetensors-pip</exec_depend>")
    (tmp_path / "package.xml").write_text(xml)
    known = known_keys()["jazzy"]
    assert [k for _, k in dependency_keys(tmp_path / "package.xml") if k not in known] == [
        "python3-safetensors-pip"]


def test_ros_imports_of_the_package_are_declared():
    """Every ROS package the code imports (``from X.msg import``, ``import X``) is declared."""
    declared = {key for _, key in dependency_keys(REPO / "package.xml")}
    # the module tf2_ros is shipped by the ROS package tf2_ros_py
    module_to_key = {"tf2_ros": "tf2_ros_py"}
    ros_modules = {"rclpy", "ament_index_python", "builtin_interfaces", "rcl_interfaces",
                   "rosgraph_msgs", "sensor_msgs", "geometry_msgs", "visualization_msgs",
                   "std_msgs", "std_srvs", "diagnostic_msgs", "tf2_ros", "tf2_msgs", "cv_bridge",
                   "launch", "launch_ros", "tf2_geometry_msgs"}
    imported: set[str] = set()
    for path in [*(REPO / "mtg_grasp_ros").rglob("*.py"), *(REPO / "launch").glob("*.py")]:
        for line in path.read_text().splitlines():
            words = line.strip().split()
            if len(words) >= 2 and words[0] in ("import", "from"):
                top = words[1].split(".")[0]
                if top in ros_modules:
                    imported.add(module_to_key.get(top, top))
    missing = imported - declared
    assert not missing, f"imported but not in package.xml: {sorted(missing)}"
    assert "rclpy" in imported and "sensor_msgs" in imported
