"""Offline replay: the detector over every image of a bag, written as the node's messages.

For regression testing a model on recorded data, so it is deterministic: the same bag, model
and options give the same CSV and the same bag payloads (CPU, deterministic torch, no wall
clock in the output). No ROS graph: messages are built with ``ros.messages`` (as the node
builds them) and serialised with ``rclpy.serialization`` into a rosbag2 (version 8).

Output folder ``RESULT``:

* ``grasps/`` - rosbag2 with :data:`OUTPUT_TOPICS` (PoseStamped of the best grasp, PoseArray
  and ``grasp_info`` of all candidates, MarkerArray), header stamps = the input images' stamps;
* ``grasps.csv`` - one row per input image (:data:`CSV_COLUMNS`), the best grasp or why none;
* ``contact_sheet.png`` - evenly spaced annotated frames; optionally ``grasps.mp4`` and
  ``frames/`` with every annotated frame.
"""

from __future__ import annotations

import csv
import math
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from rclpy.serialization import serialize_message

from .. import annotate
from ..bag_writer import BagWriter
from ..bags import CAMERA_INFO, COMPRESSED_IMAGE, TF_MESSAGE, Ros2View, StampIndex, \
    StaticTransforms, find_layout, iter_messages, open_bag, stamp_ns, topic_name
from ..detector import GraspDetector
from ..postprocess import PostprocessConfig
from ..preprocess import ImageError
from ..projection import CameraModel, DepthSource, GraspPose, Plane, ProjectionError, \
    Transform, project_grasps
from ..sample_bag import LOOKING_DOWN
from . import messages
from .bag_messages import message_class, to_rclpy

#: The node's output topics (``grasp_detector``'s ``~/...``) and types, in RESULT/grasps.
OUTPUT_TOPICS: dict[str, str] = {
    "/grasp_detector/grasp_pose": "geometry_msgs/msg/PoseStamped",
    "/grasp_detector/grasp_candidates": "geometry_msgs/msg/PoseArray",
    "/grasp_detector/grasp_info": "std_msgs/msg/Float32MultiArray",
    "/grasp_detector/markers": "visualization_msgs/msg/MarkerArray",
}
POSE, POSES, INFO, MARKERS = OUTPUT_TOPICS
CSV_COLUMNS: tuple[str, ...] = (
    "index", "topic", "stamp_sec", "stamp_nanosec", "status", "candidates", "quality", "u", "v",
    "angle_rad", "width_px", "frame_id", "x", "y", "z", "qx", "qy", "qz", "qw", "width_m",
    "depth_m")


@dataclass(frozen=True)
class OfflineConfig:
    """The node's parameters (same names and defaults, ``config/grasp_detector.yaml``) for a
    bag, plus what only offline runs have (topics, storage, pictures)."""

    model: Path
    device: str = "cpu"
    topics: tuple[str, ...] = ()              # image topics; empty = all
    target_frame: str = "base_link"
    depth_source: str = "plane"               # plane | fixed
    plane_normal: tuple[float, float, float] = (0.0, 0.0, 1.0)   # in target_frame
    plane_offset: float = 0.0                 # normal . p = offset
    grasp_height: float = 0.0
    fixed_distance: float = 0.5
    camera_pose: Transform | None = None      # optical frame -> target; None: bag /tf_static
    top_k: int = 5
    min_quality: float = 0.0
    max_opening: float = 0.1                  # m; wider grasps are rejected, as in the node
    storage: str = "sqlite3"
    sheet_tiles: int = 24
    video: bool = False
    save_frames: bool = False


@dataclass
class OfflineSummary:
    """Counts and timings of one offline run (timings are reported, never written out)."""

    images: int = 0
    with_grasp: int = 0
    skipped: Counter = field(default_factory=Counter)   # reason -> frames
    latencies: list[float] = field(default_factory=list)     # read to written, per frame
    network: list[float] = field(default_factory=list)       # the network's forward pass
    seconds: float = 0.0
    pose_sources: Counter = field(default_factory=Counter)
    outputs: list[Path] = field(default_factory=list)

    def lines(self, device: str) -> list[str]:
        lat = np.asarray(self.latencies) * 1000.0
        out = [f"images: {self.images}, with a grasp: {self.with_grasp}, "
               f"unusable: {sum(self.skipped.values())}"]
        out += [f"  skipped {n}: {reason}" for reason, n in sorted(self.skipped.items())]
        if lat.size:
            out.append(f"throughput: {len(lat) / max(self.seconds, 1e-9):.1f} frames/s; "
                       f"latency per frame: median {np.median(lat):.1f} ms, "
                       f"p95 {np.percentile(lat, 95):.1f} ms (network "
                       f"{np.median(self.network) * 1000:.1f} ms) on {device}")
        out += [f"camera pose from {src}: {n} frames" for src, n in
                sorted(self.pose_sources.items())]
        out += [f"wrote {p}" for p in self.outputs]
        return out


class _Poser:
    """Where each camera is in the target frame, and the depth source in its frame."""

    def __init__(self, cfg: OfflineConfig, static: StaticTransforms) -> None:
        self.cfg, self.static = cfg, static
        self.plane = Plane(tuple(cfg.plane_normal), cfg.plane_offset)

    def camera_to_target(self, frame_id: str) -> tuple[Transform, str]:
        if frame_id.lstrip("/") == self.cfg.target_frame.lstrip("/"):
            return Transform(), "target frame = optical frame"
        if self.cfg.camera_pose is not None:
            return self.cfg.camera_pose, "--camera-xyz/--camera-rpy"
        found = self.static.lookup(self.cfg.target_frame, frame_id)
        if found is not None:
            return found, "bag /tf_static"
        return LOOKING_DOWN, "the node's default static pose (0 0 0.6, looking down)"

    def source(self, to_target: Transform) -> DepthSource:
        return DepthSource(self.cfg.depth_source, self.plane.in_frame(to_target),
                           self.cfg.grasp_height, self.cfg.fixed_distance)


def cameras_and_tf(reader, view: Ros2View, layout) -> tuple[dict[str, StampIndex],
                                                                StaticTransforms]:
    """First pass: camera models of every CameraInfo topic, and the static transforms."""
    cameras: dict[str, StampIndex] = {t: StampIndex() for t in layout.camera_infos}
    static = StaticTransforms()
    info_cls = message_class(CAMERA_INFO)
    for conn, _, raw in iter_messages(reader, layout.camera_infos + layout.tf_static):
        if view.msgtype(conn) == CAMERA_INFO:
            msg = to_rclpy(view, conn, raw, info_cls)
            try:
                value: CameraModel | Exception = messages.camera_model(msg)
            except ProjectionError as exc:
                value = exc
            cameras[topic_name(conn.topic)].add(stamp_ns(msg), value)
        elif view.msgtype(conn) == TF_MESSAGE:   # read with rosbags: tf2_msgs may be missing
            for ts in view.dst.deserialize_cdr(view.cdr(conn, raw), TF_MESSAGE).transforms:
                static.add(ts.header.frame_id, ts.child_frame_id,
                           messages.transform_from_msg(ts.transform))
    return cameras, static


def _fmt(v: float) -> str:
    return f"{v:.6f}" if math.isfinite(v) else "nan"


def _csv_row(index: int, topic: str, msg, status: str, poses: Sequence[GraspPose],
             frame_id: str) -> list[str]:
    row = [str(index), topic, str(msg.header.stamp.sec), str(msg.header.stamp.nanosec), status,
           str(len(poses))]
    if not poses:
        return row + [""] * (len(CSV_COLUMNS) - len(row))
    p = poses[0]
    g = p.pixel
    return row + [_fmt(g.quality), _fmt(g.x), _fmt(g.y), _fmt(g.angle), _fmt(g.width), frame_id,
                  *(_fmt(float(v)) for v in p.position), *(_fmt(float(v)) for v in p.orientation),
                  _fmt(p.width_m), _fmt(p.depth_m)]


def _write_results(bag: BagWriter, log_time: int, stamp, frame: str,
                   poses: Sequence[GraspPose]) -> None:
    """The node's messages for one frame: best pose (if any), all candidates, info, markers."""
    out = [(POSES, messages.pose_array(poses, frame, stamp)), (INFO, messages.grasp_info(poses)),
           (MARKERS, messages.markers(poses, frame, stamp))]
    if poses:
        out.insert(0, (POSE, messages.pose_stamped(poses[0], frame, stamp)))
    for topic, msg in out:
        bag.write_canonical(topic, log_time, serialize_message(msg))


def _decode(msg, msgtype: str) -> np.ndarray:
    if msgtype == COMPRESSED_IMAGE:
        return messages.compressed_to_rgb(msg)
    return messages.image_to_rgb(msg)


class _Pictures:
    """The annotated outputs: contact-sheet tiles, and optionally a video and every frame."""

    def __init__(self, out: Path, cfg: OfflineConfig, count: int, fps: float) -> None:
        self.out, self.keep = out, annotate.sample_indices(count, cfg.sheet_tiles)
        self.tiles: list[np.ndarray] = []
        self.video = annotate.VideoOut(out / "grasps.mp4", fps) if cfg.video else None
        self.frames = out / "frames" if cfg.save_frames else None
        if self.frames is not None:
            self.frames.mkdir(exist_ok=True)

    def add(self, index: int, rgb: np.ndarray, poses: Sequence[GraspPose], label: str) -> None:
        if index not in self.keep and self.video is None and self.frames is None:
            return
        drawn = annotate.draw_grasps(rgb, [p.pixel for p in poses])
        if index in self.keep:
            self.tiles.append(annotate.thumbnail(drawn, label))
        if self.video is not None:
            self.video.add(drawn, label)
        if self.frames is not None:
            annotate.write_rgb(self.frames / f"{index:06d}.png", drawn)

    def close(self) -> list[Path]:
        """Finish the files; the paths written."""
        written = [p for p in (self.frames,) if p is not None]
        if self.video is not None:
            self.video.close()
            written.append(self.video.path)
        if self.tiles:
            annotate.write_rgb(self.out / "contact_sheet.png", annotate.contact_sheet(self.tiles))
            written.append(self.out / "contact_sheet.png")
        return written


def run_offline(bag_path: str | Path, out_dir: str | Path, cfg: OfflineConfig,
                log: Callable[[str], None] = print) -> OfflineSummary:
    """Process every image of ``bag_path`` into ``out_dir`` (which must not hold results)."""
    with _deterministic():
        return _run(bag_path, Path(out_dir), cfg, log)


@contextmanager
def _deterministic() -> Iterator[None]:
    """Seeded, deterministic torch for the run; the caller's RNG and settings restored."""
    before = torch.are_deterministic_algorithms_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(before)


def _run(bag_path: str | Path, out: Path, cfg: OfflineConfig,
         log: Callable[[str], None]) -> OfflineSummary:
    if (out / "grasps").exists():
        raise FileExistsError(f"{out / 'grasps'} exists; choose a new --out folder")
    detector = GraspDetector(cfg.model, cfg.device, PostprocessConfig(
        top_k=cfg.top_k, min_quality=cfg.min_quality))
    detector.warmup()   # so that the first frame's latency is not the start-up's
    summary = OfflineSummary()
    reader = open_bag(bag_path)
    try:
        view = Ros2View(reader)
        layout = find_layout(reader, list(cfg.topics) or None)
        if not layout.images:
            raise ValueError(f"{bag_path}: no sensor_msgs/Image or CompressedImage topic"
                             + (f" among {list(cfg.topics)}" if cfg.topics else ""))
        cameras, static = cameras_and_tf(reader, view, layout)
        poser = _Poser(cfg, static)
        count = sum(c.msgcount for c in reader.connections
                    if topic_name(c.topic) in layout.images)
        out.mkdir(parents=True, exist_ok=True)
        pictures = _Pictures(out, cfg, count, count / max(reader.duration / 1e9, 1e-3))
        classes = {t: message_class(mt) for t, mt in layout.images.items()}
        t_start = time.perf_counter()
        with BagWriter(out / "grasps", cfg.storage) as bag, \
                open(out / "grasps.csv", "w", newline="") as f:
            for name, msgtype in OUTPUT_TOPICS.items():
                bag.topic(name, msgtype)
            writer = csv.writer(f)
            writer.writerow(CSV_COLUMNS)
            for index, (conn, log_time, raw) in enumerate(
                    iter_messages(reader, list(layout.images))):
                t0 = time.perf_counter()
                topic = topic_name(conn.topic)
                msg = to_rclpy(view, conn, raw, classes[topic])
                status, poses, rgb = _process(msg, layout.images[topic], topic, layout,
                                              cameras, poser, detector, summary)
                writer.writerow(_csv_row(index, topic, msg, status, poses, cfg.target_frame))
                if status in ("ok", "no grasp"):
                    _write_results(bag, log_time, msg.header.stamp, cfg.target_frame, poses)
                    summary.latencies.append(time.perf_counter() - t0)
                else:
                    summary.skipped[status] += 1
                summary.images += 1
                summary.with_grasp += bool(poses)
                if rgb is not None:
                    stamp = msg.header.stamp
                    pictures.add(index, rgb, poses, f"#{index} {stamp.sec}.{stamp.nanosec:09d}")
        summary.seconds = time.perf_counter() - t_start
    finally:
        reader.close()
    summary.outputs += [out / "grasps", out / "grasps.csv", *pictures.close()]
    for line in summary.lines(str(detector.device)):
        log(line)
    return summary


def _process(msg, msgtype: str, topic: str, layout, cameras: dict[str, StampIndex],
             poser: _Poser, detector: GraspDetector, summary: OfflineSummary
             ) -> tuple[str, list[GraspPose], np.ndarray | None]:
    """(status, grasp poses in the target frame best first, decoded RGB) of one image."""
    try:
        rgb = _decode(msg, msgtype)
    except ImageError as exc:
        return f"bad image: {exc}", [], None
    info_topic = layout.camera_info_of.get(topic)
    camera = cameras[info_topic].nearest(stamp_ns(msg)) if info_topic else None
    if camera is None:
        return "no camera_info", [], rgb
    if isinstance(camera, Exception):
        return f"bad camera_info: {camera}", [], rgb
    h, w = rgb.shape[:2]
    if (camera.width, camera.height) != (w, h):
        camera = camera.scaled_to(w, h)
    # the image's optical frame (REP 103), as the node looks it up
    to_target, pose_source = poser.camera_to_target(msg.header.frame_id or camera.frame_id)
    summary.pose_sources[pose_source] += 1
    detection = detector.detect(rgb)
    summary.network.append(detection.timings["network"])
    try:
        projected = project_grasps(detection.grasps, camera, poser.source(to_target))
    except ProjectionError as exc:
        return f"bad depth source: {exc}", [], rgb
    poses = [p for p in projected if isinstance(p, GraspPose)]
    failed = [p for p in projected if not isinstance(p, GraspPose)]
    if failed and not poses:
        return f"not projectable: {failed[0]}", [], rgb
    poses = [p.transformed(to_target) for p in poses if p.width_m <= poser.cfg.max_opening]
    return ("ok" if poses else "no grasp"), poses, rgb
