"""Offline replay: the detector over every image of a bag, written as the node's messages.

For regression testing a model on recorded data, so it is deterministic: the same bag, model
and options give the same CSV and the same bag payloads (CPU, deterministic torch, no wall
clock in the output). No ROS graph: messages are built with ``ros.grasp_encoders`` (as the node
builds them) and serialised with ``rclpy.serialization`` into a rosbag2 (version 8).

Output folder ``RESULT``:

* ``grasps/`` - rosbag2 with :data:`OUTPUT_TOPICS` (PoseStamped of the best grasp, PoseArrays
  of all candidates and their pre-grasps, the ``grasps`` cloud, ``grasp_info``, MarkerArray),
  header stamps = the input images' stamps;
* ``grasps.csv`` - one row per input image (:data:`CSV_COLUMNS`), the best grasp or why none;
* ``contact_sheet.png`` - evenly spaced annotated frames; optionally ``grasps.mp4`` and
  ``frames/`` with every annotated frame.
"""

from __future__ import annotations

import csv
import math
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rclpy.serialization import serialize_message
from rosbags.highlevel import AnyReader

from .. import annotate
from ..bags import (
    CAMERA_INFO,
    BagLayout,
    BagWriter,
    Ros2View,
    StampIndex,
    duration_s,
    find_layout,
    iter_messages,
    open_bag,
    stamp_ns,
    topic_name,
)
from ..bags.transforms import BagTransforms
from ..camera_pose import FirstAvailable, StaticCameraPose, TransformSource
from ..detector import GraspDetector
from ..pipeline import FrameError, process_frame
from ..projection import CameraModel, GraspPose, ToolFrame
from ..resources import default_model_path
from ..settings import Settings, settings_from
from . import grasp_encoders as messages
from .bag_messages import message_class, to_rclpy
from .frame_input import camera_of, decode, stamp_ns_of

#: The node's output topics (``grasp_detector``'s ``~/...``) and types, in RESULT/grasps.
OUTPUT_TOPICS: dict[str, str] = {
    "/grasp_detector/grasp_pose": "geometry_msgs/msg/PoseStamped",
    "/grasp_detector/grasp_candidates": "geometry_msgs/msg/PoseArray",
    "/grasp_detector/grasp_info": "std_msgs/msg/Float32MultiArray",
    "/grasp_detector/markers": "visualization_msgs/msg/MarkerArray",
    "/grasp_detector/pregrasp_candidates": "geometry_msgs/msg/PoseArray",
    "/grasp_detector/grasps": "sensor_msgs/msg/PointCloud2",
}
POSE, POSES, INFO, MARKERS, PREGRASPS, GRASPS = OUTPUT_TOPICS
CSV_COLUMNS: tuple[str, ...] = (
    "index", "topic", "stamp_sec", "stamp_nanosec", "status", "candidates", "quality", "u", "v",
    "angle_rad", "width_px", "frame_id", "x", "y", "z", "qx", "qy", "qz", "qw", "width_m",
    "depth_m")


@dataclass(frozen=True)
class OfflineConfig:
    """The node's settings (``settings.Settings``, from its parameters YAML) for a bag, plus
    what only offline runs have (model file, topics, storage, pictures).

    The camera pose follows ``camera_pose.source``: ``static`` the static pose
    (``camera_pose.xyz/rpy``); ``tf2`` the bag's /tf and /tf_static (the bag's tf2);
    ``auto`` the bag's transforms, else the static pose.
    """

    settings: Settings
    model: Path | None = None                 # None: the bundled model
    device: str = "cpu"
    pose_source: str = "auto"                 # the node's camera_pose.source
    topics: tuple[str, ...] = ()              # image topics; empty = all
    storage: str = "sqlite3"
    sheet_tiles: int = 24
    video: bool = False
    save_frames: bool = False

    @classmethod
    def create(cls, model: str | Path | None = None, params_file: str | Path | None = None,
               overrides: dict[str, Any] | None = None, **options: Any) -> OfflineConfig:
        """From the node's parameters file and parameter overrides (``settings_from``)."""
        settings, values = settings_from(params_file, overrides)
        if settings.depth.kind == "depth_topic":
            raise ValueError("depth_source depth_topic is not supported offline (use plane or "
                             "fixed)")
        device = options.pop("device", None) or "cpu"
        return cls(settings, Path(model) if model else None, device,
                   values["camera_pose.source"], **options)


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
    undecodable_infos: Counter = field(default_factory=Counter)   # CameraInfo topic -> skipped
    outputs: list[Path] = field(default_factory=list)

    def lines(self, device: str) -> list[str]:
        """The summary as lines for the log."""
        lat = np.asarray(self.latencies) * 1000.0
        out = [f"images: {self.images}, with a grasp: {self.with_grasp}, "
               f"unusable: {sum(self.skipped.values())}"]
        out += [f"  skipped {n}: {reason}" for reason, n in sorted(self.skipped.items())]
        out += [f"  undecodable CameraInfo messages skipped on {topic}: {n}"
                for topic, n in sorted(self.undecodable_infos.items())]
        if lat.size:
            out.append(f"throughput: {len(lat) / max(self.seconds, 1e-9):.1f} frames/s; "
                       f"latency per frame: median {np.median(lat):.1f} ms, "
                       f"p95 {np.percentile(lat, 95):.1f} ms (network "
                       f"{np.median(self.network) * 1000:.1f} ms) on {device}")
        out += [f"camera pose from {src}: {n} frames" for src, n in
                sorted(self.pose_sources.items())]
        out += [f"wrote {p}" for p in self.outputs]
        return out


def pose_source(cfg: OfflineConfig, bag_tf: BagTransforms) -> TransformSource:
    """Where the camera is for this run (see :class:`OfflineConfig`)."""
    static = StaticCameraPose(cfg.settings.target_frame, cfg.settings.static_pose)
    if cfg.pose_source == "static":
        return static
    if cfg.pose_source == "tf2":
        return bag_tf
    return FirstAvailable([bag_tf, static])


def camera_models(reader: AnyReader, view: Ros2View, layout: BagLayout,
                  undecodable: Counter | None = None
                  ) -> dict[str, StampIndex[CameraModel | Exception]]:
    """Camera models of every CameraInfo topic by stamp (an unusable one as its error); a
    message that cannot be deserialised is skipped and counted in ``undecodable`` by topic.
    """
    cameras: dict[str, StampIndex[CameraModel | Exception]] = {
        t: StampIndex() for t in layout.camera_infos}
    info_cls = message_class(CAMERA_INFO)
    for conn, _, raw in iter_messages(reader, layout.camera_infos):
        try:
            msg = to_rclpy(view, conn, raw, info_cls)
        except Exception:   # noqa: BLE001 - rmw and rosbags raise several types for bad CDR
            if undecodable is not None:
                undecodable[topic_name(conn.topic)] += 1
            continue
        try:
            value: CameraModel | Exception = camera_of(msg)
        except FrameError as exc:
            value = exc
        cameras[topic_name(conn.topic)].add(stamp_ns(msg), value)
    return cameras


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


def _write_results(bag: BagWriter, log_time: int, stamp: Any, frame: str,
                   poses: Sequence[GraspPose], tool: ToolFrame) -> None:
    """The node's messages for one frame (``messages.grasp_messages``, tool-frame poses)."""
    for name, msg in messages.grasp_messages(poses, frame, stamp, tool=tool).items():
        bag.write_canonical(f"/grasp_detector/{name}", log_time, serialize_message(msg))


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
    detector = GraspDetector(cfg.model or default_model_path(), cfg.device, cfg.settings.post)
    detector.warmup()   # so that the first frame's latency is not the start-up's
    summary = OfflineSummary()
    reader = open_bag(bag_path)
    try:
        view = Ros2View(reader)
        layout = find_layout(reader, list(cfg.topics) or None)
        if not layout.images:
            raise ValueError(f"{bag_path}: no sensor_msgs/Image or CompressedImage topic"
                             + (f" among {list(cfg.topics)}" if cfg.topics else ""))
        cameras = camera_models(reader, view, layout, summary.undecodable_infos)
        poses_from = pose_source(cfg, BagTransforms.from_reader(reader))
        count = sum(c.msgcount for c in reader.connections
                    if topic_name(c.topic) in layout.images)
        out.mkdir(parents=True, exist_ok=True)
        pictures = _Pictures(out, cfg, count, count / max(duration_s(reader), 1e-3))
        classes = {t: message_class(mt) for t, mt in layout.images.items()}
        target = cfg.settings.target_frame
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
                try:
                    msg = to_rclpy(view, conn, raw, classes[topic])
                except Exception as exc:  # noqa: BLE001 - one corrupt message: count, go on
                    status = f"bad_message: {' '.join(str(exc).split())[:200]}"
                    writer.writerow([str(index), topic, "", "", status, "0"]
                                    + [""] * (len(CSV_COLUMNS) - 6))
                    summary.skipped["bad_message"] += 1
                    summary.images += 1
                    continue
                status, poses, rgb = _process(msg, topic, layout, cameras, poses_from, detector,
                                              cfg.settings, summary)
                writer.writerow(_csv_row(index, topic, msg, status, poses, target))
                if status in ("ok", "no grasp"):
                    _write_results(bag, log_time, msg.header.stamp, target, poses,
                                   cfg.settings.tool)
                    summary.latencies.append(time.perf_counter() - t0)
                else:
                    summary.skipped[status.split(":")[0]] += 1
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


def _process(msg: Any, topic: str, layout: BagLayout,
             cameras: dict[str, StampIndex[CameraModel | Exception]], poses: TransformSource,
             detector: GraspDetector, settings: Settings, summary: OfflineSummary
             ) -> tuple[str, list[GraspPose], np.ndarray | None]:
    """(status, grasp poses in the target frame best first, decoded RGB) of one image.

    The status is ``ok``, ``no grasp``, or ``<reason>: <message>`` with the node's
    diagnostics reason (``pipeline.REASONS``).
    """
    rgb = None
    try:
        stamp_ns_of(msg)            # a negative stamp: bad_stamp, as in the node
        rgb = decode(msg)
        info_topic = layout.camera_info_of.get(topic)
        camera = cameras[info_topic].nearest(stamp_ns(msg)) if info_topic else None
        if camera is None:
            raise FrameError("no_camera_info", f"no CameraInfo for {topic}")
        if isinstance(camera, Exception):
            raise camera
        # the image's optical frame (REP 103), as the node looks it up
        result = process_frame(rgb, camera, msg.header.frame_id or camera.frame_id,
                               stamp_ns(msg), detector, settings, poses)
    except FrameError as exc:
        return f"{exc.reason}: {exc}", [], rgb
    summary.network.append(result.timings["network"])
    if result.pose_source:
        summary.pose_sources[result.pose_source] += 1
    return ("ok" if result.poses else "no grasp"), result.poses, rgb
