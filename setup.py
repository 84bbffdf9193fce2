"""ament_python package: builds with colcon in a ROS 2 workspace and installs with pip."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "mtg_grasp_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.rviz")),
        (f"share/{PACKAGE}/config/train", glob("config/train/*.yaml")),
        (f"share/{PACKAGE}/models", glob("models/*.safetensors") + glob("models/*.md")),
        # the sample bag of `mtg_grasp demo` (rosbag2 sqlite3: metadata.yaml + .db3)
        (f"share/{PACKAGE}/bags/sample_table", glob("bags/sample_table/*")),
    ],
    install_requires=["setuptools"],
    # colcon test runs pytest only for packages that declare it as a test dependency (colcon-core
    # reads extras_require["test"]; tests_require is deprecated in setuptools)
    extras_require={"test": ["pytest"]},
    python_requires=">=3.10",
    zip_safe=True,
    maintainer="mtg_grasp_ros maintainers",
    maintainer_email="maintainers@mtg-grasp-ros.invalid",
    description="Real-time MTG-CNN grasp detection for ROS 2, with its training tools",
    license="BSD-3-Clause",
    entry_points={
        "console_scripts": [
            "mtg_grasp = mtg_grasp_ros.cli:main",
            "grasp_detector = mtg_grasp_ros.ros.node:main",
        ],
    },
)
