"""The README's main job: the real node, the bundled model, the sample bag replayed into it.

:func:`run_demo` starts ``grasp_detector`` as its own process (as ``ros2 run`` would), with
the camera pose taken from the bag's ``/tf_static`` as the node's static pose (tf2_ros, where
installed, receives the same transform from the replay), plays the bag into the graph with
:class:`~mtg_grasp_ros.ros.replay.BagPlayer`, and listens like a robot's grasp client would:
it prints every grasp, saves the node's debug images and ends with a summary. It starts the
replay only when the node says it is ready (``~/ready``: model loaded, whole path warmed up),
so that the first frames are not spent on start-up.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import Bool, Float32MultiArray

from ..bags import TF_STATIC, Ros2View, find_layout, open_bag
from ..bags.transforms import BagTransforms
from ..camera_pose import TransformUnavailable
from ..projection import CameraModel, quat_to_rpy
from ..resources import SOURCE_TREE
from ..resources import params_file as shipped_params_file
from ..settings import NODE_NAME as NODE
from ..settings import parameter_values
from . import image_codec
from .grasp_encoders import info_to_table
from .node import READY_QOS
from .offline import camera_models
from .replay import BagPlayer, ReplayOptions


@dataclass
class DemoResult:
    """What the demo saw: one row per frame with a grasp, and the closing figures."""

    frames_sent: int = 0
    frames_seen: int = 0
    frames_with_grasp: int = 0
    latencies: list[float] = field(default_factory=list)
    first_result: float | None = None
    last_result: float | None = None
    device: str = "?"
    camera_rate_hz: float = 0.0
    rows: list[dict] = field(default_factory=list)
    result_stamps: list[tuple[int, int]] = field(default_factory=list)   # (sec, nanosec)

    def summary(self) -> dict:
        """The closing figures: frame counts, rates (results, and images as replayed), latency
        median and p95 (ms), device.
        """
        lat = np.asarray(self.latencies) * 1e3
        span = (self.last_result or 0) - (self.first_result or 0)
        return {"frames_sent": self.frames_sent, "frames_processed": self.frames_seen,
                "frames_with_grasp": self.frames_with_grasp,
                "rate_hz": (self.frames_seen - 1) / span if span > 0 else 0.0,
                "camera_rate_hz": self.camera_rate_hz,
                "latency_median_ms": float(np.median(lat)) if lat.size else None,
                "latency_p95_ms": float(np.percentile(lat, 95)) if lat.size else None,
                "device": self.device}


def camera_pose_from_bag(bag: Path, target_frame: str) -> tuple[str, list[float], list[float]]:
    """The camera optical frame and its pose in ``target_frame`` from the bag's /tf_static."""
    reader = open_bag(bag)
    try:
        layout = find_layout(reader)
        cameras = camera_models(reader, Ros2View(reader), layout)
        tree = BagTransforms.from_reader(reader)
        start = reader.start_time
    finally:
        reader.close()
    models = [m for index in cameras.values() for m in index.values()
              if isinstance(m, CameraModel)]
    if not models:
        raise RuntimeError(f"{bag}: no usable CameraInfo, cannot tell the camera's frame")
    frame = models[0].frame_id
    try:
        pose = tree.lookup(target_frame, frame, start)
    except TransformUnavailable as exc:
        raise RuntimeError(f"{bag}: {exc}") from None
    return frame, list(pose.translation), list(quat_to_rpy(pose.rotation))


def _yaml(value: object) -> str:
    """A parameter value as ``ros2 run -p`` takes it."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(repr(float(x)) for x in value) + "]"
    return str(value)


def node_command(params_file: Path, image_topic: str, info_topic: str,
                 overrides: dict[str, object]) -> list[str]:
    """The node's command line: the parameters file, then what this bag and model need."""
    cmd = [sys.executable, "-m", "mtg_grasp_ros.ros.node", "--ros-args",
           "--params-file", str(params_file)]
    for name, value in overrides.items():
        cmd += ["-p", f"{name}:={_yaml(value)}"]
    return cmd + ["-r", f"image:={image_topic}", "-r", f"camera_info:={info_topic}"]


def _stamp_key(stamp: Any) -> tuple[int, int]:
    return (stamp.sec, stamp.nanosec)


class _GraspClient:
    """Listens as a robot's grasp client would: records every image's arrival, pairs each
    frame's ``grasp_candidates`` with its ``grasp_info``, logs the grasps, saves the debug
    images and notes when the node is ready.

    The node publishes grasp_candidates and grasp_info for every frame, in order, on reliable
    topics; grasp_info has no header, so the two are paired first in, first out.
    """

    def __init__(self, node: Node, image_topic: str, out: Path, result: DemoResult,
                 log: Callable[[str], None]) -> None:
        self.out, self.result, self.log = out, result, log
        self.lock = threading.Lock()
        self.seen_at: dict[tuple[int, int], float] = {}
        self.stamps: list[tuple[int, int]] = []
        self.infos: deque[tuple[np.ndarray, float]] = deque()
        self.candidates: deque[tuple[PoseArray, float]] = deque()
        self.ready = threading.Event()
        ns = f"/{NODE}"
        node.create_subscription(Image, image_topic, self.on_image, qos_profile_sensor_data)
        node.create_subscription(Float32MultiArray, f"{ns}/grasp_info", self.on_info, 50)
        node.create_subscription(PoseArray, f"{ns}/grasp_candidates", self.on_candidates, 50)
        node.create_subscription(Image, f"{ns}/debug_image", self.on_debug, 50)
        node.create_subscription(DiagnosticArray, "/diagnostics", self.on_diagnostics, 10)
        node.create_subscription(Bool, f"{ns}/ready", self.on_ready, READY_QOS)

    def on_image(self, msg: Image) -> None:
        k = _stamp_key(msg.header.stamp)
        with self.lock:
            self.seen_at.setdefault(k, time.monotonic())
            if k not in self.stamps:
                self.stamps.append(k)

    def on_info(self, msg: Float32MultiArray) -> None:
        with self.lock:
            self.infos.append((info_to_table(msg), time.monotonic()))
        self.pair()

    def on_candidates(self, msg: PoseArray) -> None:
        with self.lock:
            self.candidates.append((msg, time.monotonic()))
        self.pair()

    def pair(self) -> None:
        """Report every frame whose candidates and info have both arrived."""
        while True:
            with self.lock:
                if not (self.infos and self.candidates):
                    return
                (rows, t_info), (msg, t_cand) = self.infos.popleft(), self.candidates.popleft()
                k = _stamp_key(msg.header.stamp)
                index = self.stamps.index(k) if k in self.stamps else -1
                now = max(t_info, t_cand)
                self.result.result_stamps.append(k)
                if k in self.seen_at:
                    self.result.latencies.append(now - self.seen_at[k])
            self.report(index, msg, rows, now)

    def report(self, index: int, msg: PoseArray, rows: np.ndarray, now: float) -> None:
        """Log one frame's best grasp and keep its row."""
        result = self.result
        result.frames_seen += 1
        result.first_result = result.first_result or now
        result.last_result = now
        if not msg.poses or not len(rows):
            self.log(f"frame {index:3d}: no grasp")
            return
        result.frames_with_grasp += 1
        p, (q, width_m, u, v, angle, _, _) = msg.poses[0].position, rows[0]
        row = {"frame": index, "stamp_sec": msg.header.stamp.sec,
               "stamp_nanosec": msg.header.stamp.nanosec, "x": p.x, "y": p.y, "z": p.z,
               "angle_deg": float(np.degrees(angle)), "width_mm": float(width_m * 1e3),
               "quality": float(q), "u": float(u), "v": float(v)}
        result.rows.append(row)
        self.log(f"frame {index:3d}: grasp at ({p.x:+.3f}, {p.y:+.3f}, {p.z:+.3f}) m in "
                 f"{msg.header.frame_id}, angle {row['angle_deg']:+6.1f} deg, width "
                 f"{row['width_mm']:5.1f} mm, quality {q:.2f}")

    def on_debug(self, msg: Image) -> None:
        k = _stamp_key(msg.header.stamp)
        with self.lock:
            index = self.stamps.index(k) if k in self.stamps else len(self.stamps)
        rgb = image_codec.image_to_rgb(msg)
        # light compression: this runs beside the node on the same cores
        cv2.imwrite(str(self.out / f"frame_{index:03d}.png"),
                    cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1])

    def on_ready(self, msg: Bool) -> None:
        if msg.data:
            self.ready.set()

    def on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name.startswith(NODE):
                values = {kv.key: kv.value for kv in status.values}
                self.result.device = values.get("device", self.result.device)

    def camera_rate_hz(self) -> float:
        """The rate the images arrived at, as replayed (0 with fewer than two)."""
        with self.lock:
            times = sorted(self.seen_at.values())
        span = times[-1] - times[0] if len(times) > 1 else 0.0
        return (len(times) - 1) / span if span > 0 else 0.0


def _node_overrides(bag: Path, model: Path | None, target_frame: str | None,
                    params_file: Path, overrides: dict[str, object] | None,
                    log: Callable[[str], None]) -> dict[str, object]:
    """The node's parameters on top of ``params_file``: model, target frame and the camera's
    static pose from the bag's /tf_static.
    """
    overrides = dict(overrides or {})
    if model is not None:
        overrides["model_path"] = str(model)
    if target_frame:
        overrides["target_frame"] = target_frame
    target = str(parameter_values(params_file, overrides)["target_frame"])
    frame_id, xyz, rpy = camera_pose_from_bag(bag, target)
    overrides.update({"camera_pose.xyz": xyz, "camera_pose.rpy": rpy})
    log(f"camera {frame_id} at xyz {np.round(xyz, 3).tolist()} m, rpy "
        f"{np.round(rpy, 3).tolist()} rad in {target} (from the bag's {TF_STATIC})")
    return overrides


def _camera_topics(bag: Path) -> tuple[str, str]:
    """The bag's first image topic and its CameraInfo topic."""
    reader = open_bag(bag)
    try:
        layout = find_layout(reader)
    finally:
        reader.close()
    image_topic = next(iter(layout.images))
    return image_topic, layout.camera_info_of[image_topic] or "/camera/camera_info"


def _wait_ready(node: Node, client: _GraspClient, proc: subprocess.Popen[bytes],
                image_topic: str, timeout: float, node_log: Path) -> None:
    """Until the node says it is ready and is connected to the camera and the client."""
    deadline = time.monotonic() + timeout
    while not client.ready.is_set() or node.count_subscribers(image_topic) == 0 or \
            node.count_publishers(f"/{NODE}/grasp_candidates") == 0:
        if proc.poll() is not None:
            raise RuntimeError(f"the node exited with {proc.returncode}; see {node_log}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the node did not start in {timeout:.0f} s")
        time.sleep(0.2)


def _replay(node: Node, client: _GraspClient, bag: Path, rate: float, image_topic: str
            ) -> int:
    """Play the bag into the graph and wait for the last results; images sent."""
    player = BagPlayer(node, bag, ReplayOptions(rate=rate, start_delay=1.0), log=lambda s: None)
    try:
        stats = player.play()
    finally:
        player.close()
    end = time.monotonic() + 10.0
    while client.result.frames_seen < len(client.stamps) and time.monotonic() < end:
        time.sleep(0.1)
    time.sleep(1.5)    # the last debug image and diagnostics
    return int(stats.published.get(image_topic, 0))


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGINT, as Ctrl-C would; killed if it does not end within 15 s."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def run_demo(bag: Path, model: Path | None, out: Path, rate: float = 1.0,
             target_frame: str | None = None, startup_timeout: float = 120.0,
             log: Callable[[str], None] = print, params_file: Path | None = None,
             overrides: dict[str, object] | None = None) -> DemoResult:
    """Run the node on ``bag`` and report; annotated frames go to ``out``.

    The node gets ``params_file`` (default: the shipped config/grasp_detector.yaml), then
    ``overrides``, then ``model`` and ``target_frame`` where given, and the camera pose of the
    bag's /tf_static as its static pose (tf2, where installed, gets it from the replay).
    """
    out.mkdir(parents=True, exist_ok=True)
    params_file = params_file or shipped_params_file()
    node_params = _node_overrides(bag, model, target_frame, params_file, overrides, log)
    image_topic, info_topic = _camera_topics(bag)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(SOURCE_TREE),
                                                       os.environ.get("PYTHONPATH", "")) if p))
    cmd = node_command(params_file, image_topic, info_topic, node_params)
    node_log = open(out / "node.log", "w")  # noqa: SIM115 - closed in the finally below
    proc = subprocess.Popen(cmd, stdout=node_log, stderr=subprocess.STDOUT, env=env)
    result = DemoResult()
    rclpy.init()
    node = rclpy.create_node("mtg_grasp_demo")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    client = _GraspClient(node, image_topic, out, result, log)
    threading.Thread(target=executor.spin, daemon=True).start()
    try:
        log(f"starting the node: {' '.join(cmd[1:4])} ... (log: {out / 'node.log'})")
        _wait_ready(node, client, proc, image_topic, startup_timeout, out / "node.log")
        log(f"node ready; replaying {bag} at rate {rate}")
        result.frames_sent = _replay(node, client, bag, rate, image_topic)
        result.camera_rate_hz = client.camera_rate_hz()
    finally:
        _stop(proc)
        node_log.close()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return result
