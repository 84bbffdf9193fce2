"""The requirements files: the node's runtime apart from the tools', pinned for Python 3.10
(Humble), 3.11 (this project's CI) and 3.12 (Jazzy). Whether the pins have wheels needs the
package index: tools/check_wheels.py (run by hand, see docs/install.md).
"""

from __future__ import annotations

import importlib.metadata as md
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
from check_wheels import pins_for, read_requirements  # noqa: E402

NODE = REPO / "requirements-node.txt"
ALL = REPO / "requirements.txt"
PYTHONS = ["3.10", "3.11", "3.12"]
TOOLS_ONLY = {"matplotlib", "pillow", "pybullet", "tensorboard", "onnx", "tqdm", "pytest"}
# what the node, `mtg_grasp demo` and `mtg_grasp replay` import
NODE_MODULES = ["mtg_grasp_ros.ros.node", "mtg_grasp_ros.ros.demo", "mtg_grasp_ros.ros.replay",
                "mtg_grasp_ros.commands.demo", "mtg_grasp_ros.commands.replay"]


@pytest.mark.parametrize("python", PYTHONS)
def test_every_requirement_is_pinned_once_per_python(python):
    node, everything = pins_for(NODE, python), pins_for(ALL, python)
    assert node and set(node) <= set(everything)


def test_the_node_needs_no_tool_package():
    names = {r.name.lower() for r in read_requirements(NODE)}
    assert not names & TOOLS_ONLY, f"tools-only packages in {NODE.name}: {names & TOOLS_ONLY}"
    assert {r.name.lower() for r in read_requirements(ALL)} >= TOOLS_ONLY


@pytest.mark.parametrize("python", ["3.10", "3.12"])
def test_numpy_1_where_apt_ros_builds_need_it(python):
    """Humble's and Jazzy's cv_bridge and message C extensions are numpy 1.x builds."""
    assert pins_for(NODE, python)["numpy"].startswith("1.")


def test_the_same_packages_on_every_python():
    assert len({frozenset(pins_for(ALL, p)) for p in PYTHONS}) == 1


def test_an_unpinned_requirement_is_refused(tmp_path):
    (tmp_path / "r.txt").write_text("-r sub.txt\nnumpy>=1.26\n")
    (tmp_path / "sub.txt").write_text("pyyaml==6.0.3\n")
    with pytest.raises(ValueError, match="numpy>=1.26 is not pinned"):
        pins_for(tmp_path / "r.txt", "3.12")


def _closure(names: set[str]) -> set[str]:
    """``names`` and every distribution they require here, transitively (installed ones)."""
    seen: set[str] = set()
    todo = [n.lower() for n in names]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = md.requires(name) or []
        except md.PackageNotFoundError:
            continue
        for line in requires:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name.lower().replace("_", "-"))
    return seen


def test_what_the_node_imports_is_in_the_node_requirements():
    """Import the node's modules in a fresh interpreter; every third-party distribution that got
    loaded must come from requirements-node.txt (or what its pins pull in) or from ROS.
    """
    code = ("import sys, importlib, importlib.metadata as md\n"
            f"for m in {NODE_MODULES!r}: importlib.import_module(m)\n"
            "dists = md.packages_distributions()\n"
            "print('\\n'.join(sorted({d for m in list(sys.modules) "
            "for d in dists.get(m.split('.')[0], [])})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    loaded = {d.lower().replace("_", "-") for d in out.stdout.split()}
    node = {r.name.lower() for r in read_requirements(NODE)}
    ros_pypi = {r.name.lower() for r in read_requirements(REPO / "requirements-ros.txt")}
    ros = _closure(ros_pypi)
    # a PyPI ROS wheel ros-X also registers its modules under the distribution name X
    allowed = _closure(node) | ros | {n.removeprefix("ros-") for n in ros} | {"mtg-grasp-ros",
                                                                              "setuptools"}
    # tqdm: torch.hub imports it when present and does without it
    allowed.add("tqdm")
    # message packages of the PyPI ROS wheels register under their own names
    unexplained = {d for d in loaded - allowed if not d.endswith(("-msgs", "-interfaces"))}
    assert not unexplained, f"loaded by the node but not in {NODE.name}: {sorted(unexplained)}"
    assert {"torch", "numpy", "safetensors"} <= loaded


def test_ci_venv_matches_the_pins():
    """The running interpreter has what requirements.txt pins for its Python (no drift)."""
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    if python not in PYTHONS:
        pytest.skip(f"no pins for Python {python}")
    wrong = {}
    for name, version in pins_for(ALL, python).items():
        try:
            have = md.version(name)
        except md.PackageNotFoundError:
            continue  # a tool a given machine may leave out (e.g. pybullet)
        if have.split("+")[0] != version:
            wrong[name] = (version, have)
    assert not wrong, f"pinned vs installed: {wrong}"
