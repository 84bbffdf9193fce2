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

import cv2
import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseArray
from rclpy.executors import SingleThreadedExecutor
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
from . import grasp_encoders, image_codec
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
    rows: list[dict] = field(default_factory=list)
    result_stamps: list[tuple[int, int]] = field(default_factory=list)   # (sec, nanosec)

    def summary(self) -> dict:
        """The closing figures: frame counts, rate, latency median and p95 (ms), device."""
        lat = np.asarray(self.latencies) * 1e3
        span = (self.last_result or 0) - (self.first_result or 0)
        return {"frames_sent": self.frames_sent, "frames_processed": self.frames_seen,
                "frames_with_grasp": self.frames_with_grasp,
                "rate_hz": (self.frames_seen - 1) / span if span > 0 else 0.0,
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
    overrides = dict(overrides or {})
    if model is not None:
        overrides["model_path"] = str(model)
    if target_frame:
        overrides["target_frame"] = target_frame
    target_frame = str(parameter_values(params_file, overrides)["target_frame"])
    frame_id, xyz, rpy = camera_pose_from_bag(bag, target_frame)
    overrides.update({"camera_pose.xyz": xyz, "camera_pose.rpy": rpy})
    reader = open_bag(bag)
    layout = find_layout(reader)
    reader.close()
    image_topic = next(iter(layout.images))
    info_topic = layout.camera_info_of[image_topic] or "/camera/camera_info"
    log(f"camera {frame_id} at xyz {np.round(xyz, 3).tolist()} m, rpy "
        f"{np.round(rpy, 3).tolist()} rad in {target_frame} (from the bag's {TF_STATIC})")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(SOURCE_TREE),
                                                       os.environ.get("PYTHONPATH", "")) if p))
    cmd = node_command(params_file, image_topic, info_topic, overrides)
    node_log = open(out / "node.log", "w")  # noqa: SIM115 - closed in the finally below
    proc = subprocess.Popen(cmd, stdout=node_log, stderr=subprocess.STDOUT, env=env)
    result = DemoResult()
    rclpy.init()
    node = rclpy.create_node("mtg_grasp_demo")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    lock = threading.Lock()
    seen_at: dict[tuple[int, int], float] = {}
    stamps: list[tuple[int, int]] = []
    infos: deque = deque()

    def key(stamp) -> tuple[int, int]:
        return (stamp.sec, stamp.nanosec)

    def on_image(msg: Image) -> None:
        with lock:
            seen_at.setdefault(key(msg.header.stamp), time.monotonic())
            if key(msg.header.stamp) not in stamps:
                stamps.append(key(msg.header.stamp))

    candidates: deque = deque()

    # The node publishes grasp_candidates and grasp_info for every frame, in order, on
    # reliable topics; grasp_info has no header, so the two are paired first-in first-out.
    def on_info(msg: Float32MultiArray) -> None:
        with lock:
            infos.append((grasp_encoders.info_to_table(msg), time.monotonic()))
        pair()

    def on_candidates(msg: PoseArray) -> None:
        with lock:
            candidates.append((msg, time.monotonic()))
        pair()

    def pair() -> None:
        while True:
            with lock:
                if not (infos and candidates):
                    return
                (rows, t_info), (msg, t_cand) = infos.popleft(), candidates.popleft()
                k = key(msg.header.stamp)
                index = stamps.index(k) if k in stamps else -1
                now = max(t_info, t_cand)
                result.result_stamps.append(k)
                if k in seen_at:
                    result.latencies.append(now - seen_at[k])
            report(index, msg, rows, now)

    def report(index: int, msg: PoseArray, rows: np.ndarray, now: float) -> None:
        result.frames_seen += 1
        result.first_result = result.first_result or now
        result.last_result = now
        if not msg.poses or not len(rows):
            log(f"frame {index:3d}: no grasp")
            return
        result.frames_with_grasp += 1
        p, (q, width_m, u, v, angle, _, _) = msg.poses[0].position, rows[0]
        row = {"frame": index, "stamp_sec": msg.header.stamp.sec,
               "stamp_nanosec": msg.header.stamp.nanosec, "x": p.x, "y": p.y, "z": p.z,
               "angle_deg": float(np.degrees(angle)), "width_mm": float(width_m * 1e3),
               "quality": float(q), "u": float(u), "v": float(v)}
        result.rows.append(row)
        log(f"frame {index:3d}: grasp at ({p.x:+.3f}, {p.y:+.3f}, {p.z:+.3f}) m in "
            f"{msg.header.frame_id}, angle {row['angle_deg']:+6.1f} deg, width "
            f"{row['width_mm']:5.1f} mm, quality {q:.2f}")

    def on_debug(msg: Image) -> None:
        k = key(msg.header.stamp)
        with lock:
            index = stamps.index(k) if k in stamps else len(stamps)
        rgb = image_codec.image_to_rgb(msg)
        # light compression: this runs beside the node on the same cores
        cv2.imwrite(str(out / f"frame_{index:03d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_PNG_COMPRESSION, 1])

    ready = threading.Event()

    def on_ready(msg: Bool) -> None:
        if msg.data:
            ready.set()

    def on_diagnostics(msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name.startswith(NODE):
                values = {kv.key: kv.value for kv in status.values}
                result.device = values.get("device", result.device)

    ns = f"/{NODE}"
    node.create_subscription(Image, image_topic, on_image, qos_profile_sensor_data)
    node.create_subscription(Float32MultiArray, f"{ns}/grasp_info", on_info, 50)
    node.create_subscription(PoseArray, f"{ns}/grasp_candidates", on_candidates, 50)
    node.create_subscription(Image, f"{ns}/debug_image", on_debug, 50)
    node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 10)
    node.create_subscription(Bool, f"{ns}/ready", on_ready, READY_QOS)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        log(f"starting the node: {' '.join(cmd[1:4])} ... (log: {out / 'node.log'})")
        deadline = time.monotonic() + startup_timeout
        while not ready.is_set() or node.count_subscribers(image_topic) == 0 or \
                node.count_publishers(f"{ns}/grasp_candidates") == 0:
            if proc.poll() is not None:
                raise RuntimeError(f"the node exited with {proc.returncode}; see "
                                   f"{out / 'node.log'}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the node did not start in {startup_timeout:.0f} s")
            time.sleep(0.2)
        log(f"node ready; replaying {bag} at rate {rate}")
        player = BagPlayer(node, bag, ReplayOptions(rate=rate, start_delay=1.0),
                           log=lambda s: None)
        try:
            stats = player.play()
        finally:
            player.close()
        result.frames_sent = stats.published.get(image_topic, 0)
        end = time.monotonic() + 10.0
        while result.frames_seen < len(stamps) and time.monotonic() < end:
            time.sleep(0.1)
        time.sleep(1.5)    # the last debug image and diagnostics
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        node_log.close()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return result
