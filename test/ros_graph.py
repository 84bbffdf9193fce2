"""A real rclpy graph for node tests: the node under test plus a test node that publishes
camera topics and records everything the node publishes, spun by a multi-threaded executor
in a background thread. Waits end as soon as their condition holds (generous timeouts for a
loaded machine).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from threading import Thread
from typing import Any

import numpy as np
import rclpy
import ros_scene as sc
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseArray, PoseStamped
from rclpy.context import Context
from rclpy.executors import Executor, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from std_msgs.msg import Float32MultiArray
from visualization_msgs.msg import MarkerArray

from mtg_grasp_ros.projection import CameraModel
from mtg_grasp_ros.ros import grasp_encoders, image_codec
from mtg_grasp_ros.ros.node import GraspDetectorNode

TIMEOUT = 20.0
OUTPUTS = {"grasp_pose": PoseStamped, "grasp_candidates": PoseArray,
           "pregrasp_candidates": PoseArray, "grasps": PointCloud2,
           "grasp_info": Float32MultiArray, "markers": MarkerArray, "debug_image": Image}


def camera() -> CameraModel:
    return CameraModel(sc.FX, sc.FY, sc.CX, sc.CY, sc.W, sc.H, "camera_optical")


class Graph:
    """The node under test (``self.node``) and a test node (``self.io``) on one executor."""

    def __init__(self, model: Path, debug: bool = False, single_thread: bool = False,
                 **params: Any) -> None:
        """``single_thread``: spin both nodes on one SingleThreadedExecutor (the node's
        default, ``executor: auto``) instead of four threads.
        """
        self.ctx = Context()
        rclpy.init(context=self.ctx)
        values = {"model_path": str(model), "device": "cpu",
                  "camera_pose.xyz": list(sc.CAMERA_XYZ), "camera_pose.rpy": list(sc.CAMERA_RPY),
                  "camera_pose.source": "static", "top_k": 1,
                  # exact figures: the geometry is checked to 1e-5, which bf16 (what `auto`
                  # picks on a CPU with avx512_bf16) cannot give; test_node_bf16.py covers it
                  "precision": "fp32",
                  # no frame lost on a loaded machine; best effort (the default) is covered by
                  # the process test and the bench, which send until something arrives
                  "qos.reliability": "reliable"}
        values.update({k.replace("__", "."): v for k, v in params.items()})
        self.node = GraspDetectorNode(
            context=self.ctx,
            parameter_overrides=[Parameter(k, value=v) for k, v in values.items()])
        self.io = Node("grasp_test_io", context=self.ctx)
        self.pub_image = self.io.create_publisher(Image, "image", 10)
        self.pub_compressed = self.io.create_publisher(CompressedImage, "image/compressed", 10)
        self.pub_info = self.io.create_publisher(CameraInfo, "camera_info", 10)
        self.pub_depth = self.io.create_publisher(Image, "depth", 10)
        self.got: dict[str, list] = defaultdict(list)
        for name, kind in OUTPUTS.items():
            if name == "debug_image" and not debug:
                continue
            self.io.create_subscription(kind, f"/grasp_detector/{name}",
                                        lambda msg, n=name: self.got[n].append(msg), 10)
        self.io.create_subscription(DiagnosticArray, "/diagnostics",
                                    lambda msg: self.got["diagnostics"].append(msg), 10)
        self.executor: Executor = SingleThreadedExecutor(context=self.ctx) if single_thread \
            else MultiThreadedExecutor(num_threads=4, context=self.ctx)
        self.executor.add_node(self.node)
        self.executor.add_node(self.io)
        self._spin = Thread(target=self.executor.spin, daemon=True)
        self._spin.start()
        self._stamp = 1000
        image_pub = self.pub_compressed if values.get("input") == "compressed" else self.pub_image
        assert self.wait(lambda: image_pub.get_subscription_count() > 0
                         and self.pub_info.get_subscription_count() > 0
                         and self.node.pub_info.get_subscription_count() > 0
                         and self.node.pub_candidates.get_subscription_count() > 0
                         and self.node.pub_markers.get_subscription_count() > 0
                         and (not debug or self.node.pub_debug.get_subscription_count() > 0)), \
            "node and test node did not discover each other"

    def wait(self, predicate: Callable[[], bool], timeout: float = TIMEOUT) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate():
                return True
            time.sleep(0.01)
        return predicate()

    def next_stamp(self) -> Time:
        self._stamp += 1
        return Time(sec=self._stamp, nanosec=0)

    def send_info(self, info: CameraInfo | None = None) -> None:
        """Publish CameraInfo and wait until the node holds exactly it."""
        info = info or image_codec.camera_info_msg(camera(), self.next_stamp())
        self.pub_info.publish(info)
        assert self.wait(lambda: self.node.camera_info is not None and
                         list(self.node.camera_info.k) == list(info.k)
                         or (np.isnan(info.k).any() and self.node.camera_info is not None and
                             np.isnan(self.node.camera_info.k).any())), "CameraInfo not received"

    def send_image(self, msg: Image | CompressedImage) -> None:
        (self.pub_compressed if isinstance(msg, CompressedImage) else self.pub_image).publish(msg)

    def detect(self, rgb: np.ndarray | None = None, encoding: str = "rgb8",
               compressed: bool = False,
               stamp: Time | None = None) -> tuple[PoseStamped | None, np.ndarray]:
        """Send one frame; the pose (None if no grasp) and grasp_info rows published for it."""
        rgb = sc.scene() if rgb is None else rgb
        stamp = stamp or self.next_stamp()
        self.got.clear()
        msg = image_codec.rgb_to_compressed_msg(rgb, "camera_optical", stamp, "png") if compressed \
            else image_codec.rgb_to_image_msg(rgb, "camera_optical", stamp, encoding)
        self.send_image(msg)
        assert self.wait(lambda: any(c.header.stamp == stamp for c in self.got["grasp_candidates"])
                         and self.got["grasp_info"]), "no grasp_candidates for the frame"
        cands = next(c for c in self.got["grasp_candidates"] if c.header.stamp == stamp)
        rows = grasp_encoders.info_to_table(self.got["grasp_info"][-1])
        assert len(rows) == len(cands.poses)
        if not rows.size:
            return None, rows
        assert self.wait(lambda: any(p.header.stamp == stamp for p in self.got["grasp_pose"]))
        return next(p for p in self.got["grasp_pose"] if p.header.stamp == stamp), rows

    def expect_bad(self, reason: str, send: Callable[[], None]) -> None:
        """Send something bad; wait until the node counts it under ``reason``."""
        before = self.node.bad[reason]
        send()
        assert self.wait(lambda: self.node.bad[reason] > before), \
            f"not counted as {reason}: {dict(self.node.bad)}"

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=5.0)
        self._spin.join(timeout=5.0)
        self.node.destroy_node()
        self.io.destroy_node()
        rclpy.shutdown(context=self.ctx)
