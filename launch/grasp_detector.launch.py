r"""Launch the grasp detector with a parameter file; topics remappable by argument.

    ros2 launch mtg_grasp_ros grasp_detector.launch.py image:=/camera/color/image_raw \
        camera_info:=/camera/color/camera_info target_frame:=base_link

Parameters come from ``config:=`` (default: the package's config/grasp_detector.yaml, whose
``/**/grasp_detector:`` key matches the node in any namespace). The arguments in
CONFIG_ARGUMENTS and use_sim_time override the file only when given: their default "" means
"as the file says", so a user's ``config:=my.yaml`` is not overwritten by launch defaults.
A ``config`` none of whose keys applies to the node in ``namespace`` (e.g. the plain
``grasp_detector:`` under ``namespace:=robot1``) stops the launch with a message naming the
keys and the one that would match. The arguments' values reach the node as strings
(``device:=0`` or ``target_frame:=on`` are not turned into int or bool).
``rviz:=true`` also starts rviz2 with config/grasp_detector.rviz, its topics moved into
``namespace``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from mtg_grasp_ros.params_file import check_params_file, fully_qualified_name

PACKAGE = "mtg_grasp_ros"
NODE_NAME = "grasp_detector"
# string parameters of the node that may be set by launch argument (empty: from the config file)
CONFIG_ARGUMENTS = {
    "model_path": "model file (default in the package's config: the bundled model)",
    "device": "auto, cpu, cuda or cuda:N",
    "target_frame": "frame of the poses and markers",
    "input": "raw or compressed",
    "mode": "continuous or on_request",
}
# the topic prefix written in config/grasp_detector.rviz (the node's private topics, no namespace)
RVIZ_PREFIX = f"/{NODE_NAME}/"


def _truthy(text: str, name: str) -> bool:
    """A launch argument read as a bool; anything but true/false is an error naming it."""
    if text.strip().lower() in ("true", "1", "yes", "on"):
        return True
    if text.strip().lower() in ("false", "0", "no", "off", ""):
        return False
    raise ValueError(f"launch argument {name}:={text!r}: expected true or false")


def rviz_config_for(template: Path, namespace: str, out_dir: Path) -> Path:
    """``template`` with its topics moved into ``namespace`` (RViz has no relative topics)."""
    ns = "/".join(part for part in namespace.split("/") if part)
    text = template.read_text()
    if ns:
        text = text.replace(RVIZ_PREFIX, f"/{ns}{RVIZ_PREFIX}")
    out = out_dir / f"grasp_detector{'_' + ns.replace('/', '_') if ns else ''}.rviz"
    out.write_text(text)
    return out


def _actions(context: LaunchContext) -> list:
    """The node (and rviz2) with the arguments' values, known only at launch time."""
    def arg(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    overrides = {name: ParameterValue(arg(name), value_type=str)
                 for name in CONFIG_ARGUMENTS if arg(name) != ""}
    if arg("use_sim_time") != "":
        overrides["use_sim_time"] = _truthy(arg("use_sim_time"), "use_sim_time")
    image = arg("image")
    namespace = arg("namespace")
    # rcl ignores a file whose keys match no node: stop here, naming the key that would match
    check_params_file(Path(arg("config")), fully_qualified_name(namespace, NODE_NAME))
    actions: list = [Node(
        package=PACKAGE,
        executable="grasp_detector",
        name=NODE_NAME,
        namespace=namespace,
        output="screen",
        parameters=[arg("config"), overrides],
        remappings=[
            ("image", image),
            ("image/compressed", f"{image}/compressed"),
            ("camera_info", arg("camera_info")),
            ("depth", arg("depth")),
        ],
    )]
    if _truthy(arg("rviz"), "rviz"):
        template = Path(PathJoinSubstitution(
            [FindPackageShare(PACKAGE), "config", "grasp_detector.rviz"]).perform(context))
        config = rviz_config_for(template, namespace, Path(tempfile.mkdtemp(prefix="mtg_rviz_")))
        actions.append(Node(package="rviz2", executable="rviz2", name="rviz2",
                            arguments=["-d", str(config)], output="screen",
                            parameters=[{"use_sim_time": overrides.get("use_sim_time", False)}]))
    return actions


def generate_launch_description() -> LaunchDescription:
    """The launch arguments, the node with its parameters, and rviz2 when asked for."""
    config_default = PathJoinSubstitution(
        [FindPackageShare(PACKAGE), "config", "grasp_detector.yaml"])
    arguments = [
        DeclareLaunchArgument("config", default_value=config_default,
                              description="parameter file"),
        DeclareLaunchArgument("namespace", default_value=""),
        DeclareLaunchArgument("image", default_value="image",
                              description="sensor_msgs/Image topic (its /compressed too)"),
        DeclareLaunchArgument("camera_info", default_value="camera_info"),
        DeclareLaunchArgument("depth", default_value="depth",
                              description="aligned depth image (depth_source depth_topic)"),
        *[DeclareLaunchArgument(name, default_value="",
                                description=f"{text}; empty: from the config file")
          for name, text in CONFIG_ARGUMENTS.items()],
        DeclareLaunchArgument("use_sim_time", default_value="",
                              description="true: use /clock (bag replay with --clock, "
                                          "simulators); empty: from the config file (false)"),
        DeclareLaunchArgument("rviz", default_value="false",
                              description="also start rviz2 showing the grasps"),
    ]
    return LaunchDescription([*arguments, OpaqueFunction(function=_actions)])
