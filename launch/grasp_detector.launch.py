"""Launch the grasp detector with config/grasp_detector.yaml; topics remappable by argument.

    ros2 launch mtg_grasp_ros grasp_detector.launch.py image:=/camera/color/image_raw \\
        camera_info:=/camera/color/camera_info target_frame:=base_link
"""


from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    config_default = PathJoinSubstitution(
        [FindPackageShare("mtg_grasp_ros"), "config", "grasp_detector.yaml"])
    arguments = [
        DeclareLaunchArgument("config", default_value=config_default,
                              description="parameter file"),
        DeclareLaunchArgument("namespace", default_value=""),
        DeclareLaunchArgument("image", default_value="image",
                              description="sensor_msgs/Image topic (its /compressed too)"),
        DeclareLaunchArgument("camera_info", default_value="camera_info"),
        DeclareLaunchArgument("depth", default_value="depth",
                              description="aligned depth image (depth_source depth_topic)"),
        DeclareLaunchArgument("model_path", default_value="",
                              description="model file; empty: the bundled model"),
        DeclareLaunchArgument("device", default_value="auto", description="auto, cpu or cuda"),
        DeclareLaunchArgument("target_frame", default_value="base_link"),
        DeclareLaunchArgument("input", default_value="raw", description="raw or compressed"),
        DeclareLaunchArgument("mode", default_value="continuous",
                              description="continuous or on_request"),
    ]
    image = LaunchConfiguration("image")
    node = Node(
        package="mtg_grasp_ros",
        executable="grasp_detector",
        name="grasp_detector",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        parameters=[LaunchConfiguration("config"), {
            "model_path": LaunchConfiguration("model_path"),
            "device": LaunchConfiguration("device"),
            "target_frame": LaunchConfiguration("target_frame"),
            "input": LaunchConfiguration("input"),
            "mode": LaunchConfiguration("mode"),
        }],
        remappings=[
            ("image", image),
            ("image/compressed", [image, "/compressed"]),
            ("camera_info", LaunchConfiguration("camera_info")),
            ("depth", LaunchConfiguration("depth")),
        ],
    )
    return LaunchDescription([*arguments, node])
