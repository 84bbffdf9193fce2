"""The ``grasp_detector`` node: camera images in, grasp poses in the robot's frame out.

A thin ROS shell around the core: messages are converted by ``ros.messages``, grasps found by
``GraspDetector`` and placed in 3D by ``projection``. Inference runs in a worker thread that
takes only the newest frame (older ones are dropped and counted), so subscription callbacks
never block. See the README section "The ROS 2 node" for topics and parameters.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import rclpy
import torch
from builtin_interfaces.msg import Time as TimeMsg
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseArray, PoseStamped
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, \
    SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.duration import Duration
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Float32MultiArray
from std_srvs.srv import Trigger
from visualization_msgs.msg import MarkerArray

from .annotate import draw_detection
from .detector import DEVICES, Detection, GraspDetector
from .grasp import Grasp
from .postprocess import PostprocessConfig
from .preprocess import ImageError
from .projection import DEPTH_SOURCES, CameraModel, DepthSource, GraspPose, Plane, \
    ProjectionError, Transform, project_grasps, rpy_to_quat
from .ros import messages

NODE_NAME = "grasp_detector"
MODEL_FILE = "mtgcnn_p_depth_synth.safetensors"
MODES = ("continuous", "on_request")
INPUTS = ("raw", "compressed")
RELIABILITIES = ("best_effort", "reliable")
POSE_SOURCES = ("auto", "tf2", "static")
#: Pipeline stages timed per frame (seconds), in order.
STAGES = ("conversion", "preprocess", "network", "postprocess", "projection", "publishing")
#: A bad input of one kind is logged at most once per this many seconds.
LOG_PERIOD_S = 10.0


def default_model_path() -> str:
    """The bundled model: the package's installed share directory (ament index, else the
    Python prefix's share/), else the source tree's ``models/``; the first that exists."""
    candidates = []
    try:
        from ament_index_python.packages import get_package_share_directory
        candidates.append(Path(get_package_share_directory("mtg_grasp_ros")) / "models")
    except (ImportError, LookupError, OSError):   # not installed / no AMENT_PREFIX_PATH
        pass
    candidates.append(Path(sys.prefix) / "share" / "mtg_grasp_ros" / "models")
    source_tree = Path(__file__).resolve().parents[1] / "models"
    for folder in (*candidates, source_tree):
        if (folder / MODEL_FILE).is_file():
            return str(folder / MODEL_FILE)
    return str(source_tree / MODEL_FILE)


# --- parameters ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Param:
    """One declared parameter: default, description, range or choices, read-only."""

    name: str
    default: Any
    description: str
    range: tuple[float, float] | None = None
    choices: tuple[str, ...] = ()
    read_only: bool = False

    def descriptor(self) -> ParameterDescriptor:
        text = self.description + (f" One of {', '.join(self.choices)}." if self.choices else "")
        d = ParameterDescriptor(name=self.name, description=text, read_only=self.read_only)
        if self.range is not None and isinstance(self.default, int):
            d.integer_range = [IntegerRange(from_value=int(self.range[0]),
                                            to_value=int(self.range[1]), step=1)]
        elif self.range is not None:
            d.floating_point_range = [FloatingPointRange(from_value=float(self.range[0]),
                                                         to_value=float(self.range[1]), step=0.0)]
        return d


PARAMS: tuple[Param, ...] = (
    Param("model_path", "", "Model file (.safetensors); empty: the bundled "
          f"models/{MODEL_FILE}.", read_only=True),
    Param("device", "auto", "Inference device; auto picks CUDA when available.",
          choices=DEVICES, read_only=True),
    Param("torch_threads", 0, "CPU threads for inference (torch.set_num_threads, whole "
          "process); 0: torch's default (one per core). Fewer helps where other nodes share "
          "the CPU.", (0, 256), read_only=True),
    Param("input", "raw", "Subscribe to 'image' (raw) or 'image/compressed'.", choices=INPUTS,
          read_only=True),
    Param("qos.reliability", "best_effort", "Reliability of the image, camera_info and depth "
          "subscriptions (sensor data QoS by default).", choices=RELIABILITIES, read_only=True),
    Param("qos.depth", 5, "History depth (keep last) of the input subscriptions.", (1, 100),
          read_only=True),
    Param("mode", "continuous", "continuous: every newest frame; on_request: only when "
          "~/detect is called, on the next fresh frame.", choices=MODES),
    Param("request_timeout", 5.0, "Seconds ~/detect waits for a fresh frame.", (0.1, 120.0)),
    Param("roi", [0, 0, 0, 0], "Region of interest [x, y, width, height] in image pixels; the "
          "network sees its largest centred square. Width or height 0: the whole image."),
    Param("sigma_q", 5.0, "Gaussian smoothing of Q, network pixels (paper: 5).", (0.0, 50.0)),
    Param("sigma_angle", 5.0, "Gaussian smoothing of cos/sin 2phi, network pixels.", (0.0, 50.0)),
    Param("sigma_width", 5.0, "Gaussian smoothing of the width map, network pixels.", (0.0, 50.0)),
    Param("top_k", 5, "Number of candidates (local maxima of Q), best first.", (1, 100)),
    Param("min_distance", 10, "Minimum distance between candidates, network pixels.", (0, 150)),
    Param("min_quality", 0.0, "Candidates with a smoothed Q below this are dropped.", (0.0, 1.0)),
    Param("max_opening", 0.1, "Maximum gripper opening in metres; wider grasps are rejected.",
          (0.001, 2.0)),
    Param("target_frame", "base_link", "Frame of the published poses and markers."),
    Param("depth_source", "plane", "Depth of the grasp centre: intersect the pixel's ray with "
          "the support plane, read the aligned depth image, or a fixed distance.",
          choices=DEPTH_SOURCES),
    Param("plane.frame", "", "Frame in which the support plane is given; empty: target_frame."),
    Param("plane.normal", [0.0, 0.0, 1.0], "Support plane normal (pointing up, away from the "
          "table) in plane.frame."),
    Param("plane.offset", 0.0, "Support plane: normal . p = offset (metres) in plane.frame."),
    Param("grasp_height", 0.0, "Grasp centre this far above the plane (plane) or beyond the "
          "measured surface (depth_topic), metres.", (-1.0, 1.0)),
    Param("fixed_distance", 0.5, "Distance along the ray for depth_source fixed, metres.",
          (0.01, 20.0)),
    Param("tf.timeout", 0.05, "Seconds to wait for the transform at the image stamp.",
          (0.0, 5.0)),
    Param("tf.fallback_latest", True, "When the transform at the image stamp is not available, "
          "use the latest one."),
    Param("camera_pose.source", "auto", "Camera pose from tf2 or the static pose below; auto: "
          "tf2 when tf2_ros is installed.", choices=POSE_SOURCES, read_only=True),
    Param("camera_pose.xyz", [0.0, 0.0, 0.6], "Static pose: camera optical frame origin in "
          "target_frame, metres."),
    Param("camera_pose.rpy", [math.pi, 0.0, 0.0], "Static pose: optical frame orientation in "
          "target_frame, fixed-axis roll, pitch, yaw (rad). Default: looking straight down."),
    Param("diagnostics_period", 1.0, "Seconds between /diagnostics messages.", (0.1, 60.0),
          read_only=True),
)
PARAM_NAMES: tuple[str, ...] = tuple(p.name for p in PARAMS)


def _choice(values: dict[str, Any], name: str, choices: tuple[str, ...]) -> str:
    if values[name] not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {values[name]!r}")
    return values[name]


def _vector(values: dict[str, Any], name: str, n: int) -> tuple[float, ...]:
    v = tuple(float(x) for x in values[name])
    if len(v) != n or not all(math.isfinite(x) for x in v):
        raise ValueError(f"{name} must be {n} finite numbers, got {list(v)}")
    return v


@dataclass(frozen=True)
class Settings:
    """The run-time-changeable parameters, validated by the core's own constructors."""

    post: PostprocessConfig
    roi: tuple[int, int, int, int] | None
    mode: str
    request_timeout: float
    max_opening: float
    target_frame: str
    depth: DepthSource            # its plane is given in plane_frame
    plane_frame: str
    tf_timeout: float
    tf_fallback_latest: bool
    static_pose: Transform        # camera optical frame -> target_frame

    @classmethod
    def from_values(cls, v: dict[str, Any]) -> "Settings":
        """Raises ValueError (or ProjectionError) naming the bad value."""
        post = PostprocessConfig(v["sigma_q"], v["sigma_angle"], v["sigma_width"], v["top_k"],
                                 v["min_distance"], v["min_quality"])
        roi = tuple(int(x) for x in v["roi"])
        if len(roi) != 4 or min(roi) < 0:
            raise ValueError(f"roi must be [x, y, width, height] with values >= 0, got {list(roi)}")
        if not v["target_frame"]:
            raise ValueError("target_frame must not be empty")
        depth = DepthSource(_choice(v, "depth_source", DEPTH_SOURCES),
                            Plane(_vector(v, "plane.normal", 3), float(v["plane.offset"])),
                            float(v["grasp_height"]), float(v["fixed_distance"]))
        pose = Transform(_vector(v, "camera_pose.xyz", 3),
                         tuple(rpy_to_quat(*_vector(v, "camera_pose.rpy", 3)).tolist()))
        return cls(post, roi if roi[2] > 0 and roi[3] > 0 else None, _choice(v, "mode", MODES),
                   float(v["request_timeout"]), float(v["max_opening"]), v["target_frame"],
                   depth, v["plane.frame"] or v["target_frame"], float(v["tf.timeout"]),
                   bool(v["tf.fallback_latest"]), pose)


# --- where the camera is ----------------------------------------------------------------------

class TransformUnavailable(LookupError):
    """No transform between two frames at the asked time."""


class StaticCameraPose:
    """The camera's pose from parameters: maps the camera frame into target_frame only."""

    name = "static"

    def describe(self, s: Settings) -> str:
        return (f"static camera pose from parameters (camera_pose.xyz/rpy) into "
                f"{s.target_frame!r}: translation {s.static_pose.translation}")

    def lookup(self, target: str, source: str, stamp: TimeMsg, s: Settings) -> Transform:
        if target == source:
            return Transform()
        if target == s.target_frame:     # source: the camera frame, whatever its name
            return s.static_pose
        raise TransformUnavailable(f"the static camera pose knows only {source!r} -> "
                                   f"{s.target_frame!r}, not {source!r} -> {target!r} "
                                   f"(install tf2_ros, or give the plane in target_frame)")


class Tf2CameraPose:
    """tf2: Buffer + TransformListener, looked up at the image stamp, optional latest fallback.

    ``lookup`` is called from the inference thread, never from an executor callback, so its
    timeout waits while the executor keeps receiving /tf.
    """

    name = "tf2"

    def __init__(self, node: Node) -> None:
        from tf2_ros.buffer import Buffer
        from tf2_ros.transform_listener import TransformListener

        self.buffer = Buffer()
        self.listener = TransformListener(self.buffer, node)

    def describe(self, s: Settings) -> str:
        return (f"tf2 (lookup at the image stamp, timeout {s.tf_timeout} s, fallback to the "
                f"latest transform: {'yes' if s.tf_fallback_latest else 'no'})")

    def lookup(self, target: str, source: str, stamp: TimeMsg, s: Settings) -> Transform:
        from tf2_ros import TransformException

        try:
            t = self.buffer.lookup_transform(target, source, Time.from_msg(stamp),
                                             timeout=Duration(seconds=s.tf_timeout))
        except TransformException as exc:
            if not s.tf_fallback_latest:
                raise TransformUnavailable(f"{source!r} -> {target!r}: {exc}") from None
            try:
                t = self.buffer.lookup_transform(target, source, Time())
            except TransformException as exc2:
                raise TransformUnavailable(f"{source!r} -> {target!r} (also latest): "
                                           f"{exc2}") from None
        return messages.transform_from_msg(t.transform)


def tf2_available() -> bool:
    try:
        import tf2_ros  # noqa: F401
        return True
    except ImportError:
        return False


# --- frames and requests ------------------------------------------------------------------------

@dataclass
class _Frame:
    msg: Image | CompressedImage
    seq: int


@dataclass
class _Request:
    """A ~/detect call waiting for the first frame received after it (seq > after_seq)."""

    after_seq: int
    done: threading.Event = field(default_factory=threading.Event)
    success: bool = False
    message: str = ""


class _BadFrame(Exception):
    """A frame that cannot be used; ``reason`` is the diagnostics key."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _read_latest(msg: Any, missing: str, missing_text: str, convert: Callable[[Any], Any],
                 bad: str, errors: type[Exception]) -> Any:
    """``convert(msg)`` of the latest message of an input, or a _BadFrame naming what is wrong."""
    if msg is None:
        raise _BadFrame(missing, missing_text)
    try:
        return convert(msg)
    except errors as exc:
        raise _BadFrame(bad, f"{type(msg).__name__}: {exc}") from None


# --- the node -----------------------------------------------------------------------------------

class GraspDetectorNode(Node):
    """Subscribes to images and CameraInfo, publishes grasp poses, markers and diagnostics."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        for p in PARAMS:
            self.declare_parameter(p.name, p.default, p.descriptor())
        values = {n: self.get_parameter(n).value for n in PARAM_NAMES}
        self._settings = Settings.from_values(values)   # a bad YAML stops start-up, named
        self.add_on_set_parameters_callback(self._on_set_parameters)

        if values["torch_threads"] > 0:
            torch.set_num_threads(values["torch_threads"])
        model_path = values["model_path"] or default_model_path()
        self.detector = GraspDetector(model_path, values["device"], self._settings.post,
                                      self._settings.roi)
        self.detector.warmup()

        source = values["camera_pose.source"]
        if source == "tf2" or (source == "auto" and tf2_available()):
            self.camera_pose: StaticCameraPose | Tf2CameraPose = Tf2CameraPose(self)
        else:
            self.camera_pose = StaticCameraPose()

        # counters and timings (read by diagnostics and by `mtg_grasp bench`)
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()        # received, processed, dropped, ...
        self.bad: Counter[str] = Counter()           # bad frames by reason
        self.last_error: dict[str, str] = {}
        self._bad_reported: Counter[str] = Counter()
        self._logged_at: dict[str, float] = {}
        self.stage_times: dict[str, deque[float]] = {s: deque(maxlen=2000) for s in STAGES}
        self.latencies: deque[float] = deque(maxlen=2000)
        self._done_at: deque[float] = deque(maxlen=2000)

        # inputs
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=values["qos.depth"],
                         reliability=ReliabilityPolicy.BEST_EFFORT
                         if values["qos.reliability"] == "best_effort"
                         else ReliabilityPolicy.RELIABLE)
        if values["input"] == "compressed":
            self.create_subscription(CompressedImage, "image/compressed", self._on_image, qos)
        else:
            self.create_subscription(Image, "image", self._on_image, qos)
        self.create_subscription(CameraInfo, "camera_info", self._on_camera_info, qos)
        self.create_subscription(Image, "depth", self._on_depth, qos)
        self._camera_info: CameraInfo | None = None
        self._depth: Image | None = None

        # outputs
        self.pub_pose = self.create_publisher(PoseStamped, "~/grasp_pose", 10)
        self.pub_candidates = self.create_publisher(PoseArray, "~/grasp_candidates", 10)
        self.pub_info = self.create_publisher(Float32MultiArray, "~/grasp_info", 10)
        self.pub_markers = self.create_publisher(MarkerArray, "~/markers", 10)
        self.pub_debug = self.create_publisher(Image, "~/debug_image", 2)
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_service(Trigger, "~/detect", self._on_detect,
                            callback_group=MutuallyExclusiveCallbackGroup())
        self.create_timer(values["diagnostics_period"], self._publish_diagnostics)

        # the inference thread and its one-frame slot
        self._cond = threading.Condition()
        self._slot: _Frame | None = None
        self._seq = 0
        self._requests: list[_Request] = []
        self._stopping = False
        self._worker = threading.Thread(target=self._run_worker, name="grasp_inference",
                                        daemon=True)
        self._worker.start()

        log = self.get_logger()
        log.info(f"model {model_path} on {self.detector.device} ({torch.get_num_threads()} CPU "
                 f"threads); images via "
                 f"{messages.IMAGE_BACKEND}; input {values['input']!r}; mode "
                 f"{self._settings.mode!r}; depth source {self._settings.depth.kind!r}")
        log.info(f"camera pose source: {self.camera_pose.describe(self._settings)}")

    # -- parameters ------------------------------------------------------------------------------

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        """Validate the new values together with the others; apply them when all are good."""
        values = {n: self.get_parameter(n).value for n in PARAM_NAMES}
        values.update({p.name: p.value for p in params if p.name in values})
        try:
            settings = Settings.from_values(values)
        except ValueError as exc:        # ProjectionError is a ValueError
            return SetParametersResult(successful=False, reason=str(exc))
        with self._cond:
            self._settings = settings
            self._cond.notify_all()      # a mode change may make the waiting frame ready
        return SetParametersResult(successful=True)

    @property
    def settings(self) -> Settings:
        return self._settings

    # -- callbacks (never block) ---------------------------------------------------------------

    def _on_image(self, msg: Image | CompressedImage) -> None:
        with self._cond:
            self._seq += 1
            self.counts["received"] += 1
            if self._slot is not None and self._settings.mode == "continuous":
                self.counts["dropped"] += 1
            self._slot = _Frame(msg, self._seq)
            self._cond.notify_all()

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._camera_info = msg

    def _on_depth(self, msg: Image) -> None:
        self._depth = msg

    def _on_detect(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        """Run on the next fresh frame and answer with a one-line summary of the grasp."""
        with self._cond:
            req = _Request(self._seq)
            self._requests.append(req)
            self._cond.notify_all()
        timeout = self._settings.request_timeout
        if not req.done.wait(timeout):
            with self._cond:
                if req in self._requests:
                    self._requests.remove(req)
            response.success = False
            response.message = f"no fresh image within {timeout:.1f} s"
            return response
        response.success, response.message = req.success, req.message
        return response

    # -- the inference thread --------------------------------------------------------------------

    def _ready(self) -> bool:
        """Whether the waiting frame should run now (called with the condition held)."""
        if self._slot is None:
            return False
        return self._settings.mode == "continuous" or \
            any(self._slot.seq > r.after_seq for r in self._requests)

    def _run_worker(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._stopping or self._ready(), timeout=0.5)
                if self._stopping:
                    return
                if not self._ready():
                    continue
                frame, self._slot = self._slot, None
            try:
                ok, summary = True, self._process(frame)
                self.counts["processed"] += 1
            except _BadFrame as exc:
                ok, summary = False, str(exc)
                self._report_bad(exc.reason, str(exc))
            except Exception as exc:  # noqa: BLE001 - the node must survive anything
                ok, summary = False, f"internal error: {exc!r}"
                self._report_bad("internal_error", summary)
            with self._cond:
                done = [r for r in self._requests if frame.seq > r.after_seq]
                self._requests = [r for r in self._requests if r not in done]
            for r in done:
                r.success, r.message = ok, summary
                r.done.set()

    def _report_bad(self, reason: str, message: str) -> None:
        """Count a bad frame; log its kind once, then at most every LOG_PERIOD_S seconds."""
        with self._lock:
            self.bad[reason] += 1
            self.last_error[reason] = message
            now = time.monotonic()
            due = now - self._logged_at.get(reason, -math.inf) >= LOG_PERIOD_S
            if due:
                self._logged_at[reason] = now
        if due:
            self.get_logger().warning(f"frame skipped ({reason}, {self.bad[reason]} so far): "
                                      f"{message}")

    def _convert(self, msg: Image | CompressedImage) -> np.ndarray:
        try:
            if isinstance(msg, CompressedImage):
                return messages.compressed_to_rgb(msg)
            return messages.image_to_rgb(msg)
        except messages.UnsupportedEncoding as exc:
            raise _BadFrame("unsupported_encoding", str(exc)) from None
        except ImageError as exc:
            raise _BadFrame("bad_image", str(exc)) from None

    def _process(self, frame: _Frame) -> str:
        """Convert, detect, project, transform and publish one frame; a one-line summary."""
        s = self._settings
        stamp = frame.msg.header.stamp
        t0 = time.perf_counter()
        rgb = self._convert(frame.msg)
        t_conv = time.perf_counter() - t0

        camera = _read_latest(self._camera_info, "no_camera_info", "no CameraInfo received on "
                              "'camera_info' yet", messages.camera_model, "bad_intrinsics",
                              ProjectionError)
        h, w = rgb.shape[:2]
        if (camera.width, camera.height) != (w, h):
            camera = camera.scaled_to(w, h)

        self.detector.post, self.detector.roi = s.post, s.roi
        try:
            det = self.detector.detect(rgb, with_quality_map=self._debug_wanted())
        except ImageError as exc:        # e.g. an roi outside this image
            raise _BadFrame("bad_roi", str(exc)) from None
        except RuntimeError as exc:      # CUDA failures and out-of-memory
            raise _BadFrame("inference_error", f"{type(exc).__name__}: {exc}") from None

        t1 = time.perf_counter()
        poses = self._place(det.grasps, camera, frame.msg.header.frame_id or camera.frame_id,
                            stamp, s)
        t_proj = time.perf_counter() - t1

        t2 = time.perf_counter()
        self._publish(poses, s.target_frame, stamp, rgb, det)
        now = time.perf_counter()
        for name, value in (("conversion", t_conv), ("projection", t_proj),
                            ("publishing", now - t2), *det.timings.items()):
            self.stage_times[name].append(value)
        self._done_at.append(time.monotonic())
        if stamp.sec or stamp.nanosec:
            self.latencies.append((self.get_clock().now() - Time.from_msg(stamp)).nanoseconds
                                  * 1e-9)
        if not poses:
            self.counts["no_grasp"] += 1
            return "no grasp found"
        b = poses[0]
        x, y, z = b.position
        return (f"grasp at ({x:.3f}, {y:.3f}, {z:.3f}) m in {s.target_frame}, angle "
                f"{math.degrees(b.pixel.angle):.1f} deg, width {b.width_m:.3f} m, quality "
                f"{b.quality:.2f}, 1 of {len(poses)} candidates published")

    def _place(self, grasps: list[Grasp], camera: CameraModel, camera_frame: str, stamp: TimeMsg,
               s: Settings) -> list[GraspPose]:
        """Pixel grasps to poses in target_frame; too-wide ones dropped, failures counted."""
        if not grasps:
            return []
        try:
            to_target = self.camera_pose.lookup(s.target_frame, camera_frame, stamp, s)
            source = s.depth
            if source.kind == "plane":
                to_plane = to_target if s.plane_frame == s.target_frame else \
                    self.camera_pose.lookup(s.plane_frame, camera_frame, stamp, s)
                source = replace(source, plane=source.plane.in_frame(to_plane))
        except TransformUnavailable as exc:
            raise _BadFrame("no_transform", str(exc)) from None
        depth = None
        if source.kind == "depth_topic":
            depth = self._depth_image(camera)
        results = project_grasps(grasps, camera, source, depth)
        errors = [r for r in results if isinstance(r, ProjectionError)]
        poses = [r for r in results if not isinstance(r, ProjectionError)]
        if errors and not poses:
            raise _BadFrame("projection_failed", str(errors[0]))
        wide = [p for p in poses if p.width_m > s.max_opening]
        self.counts["rejected_too_wide"] += len(wide)
        return [p.transformed(to_target) for p in poses if p.width_m <= s.max_opening]

    def _depth_image(self, camera: CameraModel) -> np.ndarray:
        depth = _read_latest(self._depth, "no_depth", "depth_source is depth_topic but no "
                             "image on 'depth'", messages.depth_to_metres, "bad_depth", ImageError)
        if depth.shape[:2] != (camera.height, camera.width):
            raise _BadFrame("bad_depth", f"depth image {depth.shape[1]}x{depth.shape[0]} is not "
                            f"aligned with the {camera.width}x{camera.height} colour image")
        return depth

    def _debug_wanted(self) -> bool:
        return self.pub_debug.get_subscription_count() > 0

    def _publish(self, poses: list[GraspPose], frame_id: str, stamp: TimeMsg, rgb: np.ndarray,
                 det: Detection) -> None:
        publishers = {"grasp_pose": self.pub_pose, "grasp_candidates": self.pub_candidates,
                      "grasp_info": self.pub_info, "markers": self.pub_markers}
        # markers only while RViz (or a recorder) listens: they cost about a millisecond
        for name, msg in messages.grasp_messages(
                poses, frame_id, stamp,
                with_markers=self.pub_markers.get_subscription_count() > 0).items():
            publishers[name].publish(msg)
        if det.quality_map is not None and self._debug_wanted():
            drawn = draw_detection(rgb, [p.pixel for p in poses], det.quality_map, det.view)
            header_frame = self._camera_info.header.frame_id if self._camera_info else ""
            self.pub_debug.publish(messages.rgb_to_image_msg(drawn, header_frame, stamp))

    # -- diagnostics -------------------------------------------------------------------------------

    def stats(self) -> dict[str, float]:
        """Rate over the last 5 s, latency and per-stage medians and p95 (seconds)."""
        now = time.monotonic()
        recent = [t for t in list(self._done_at) if now - t <= 5.0]
        rate = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 1 and \
            recent[-1] > recent[0] else 0.0
        out = {"rate_hz": rate}
        for name, values in (("latency", self.latencies), *self.stage_times.items()):
            v = np.asarray(list(values)[-300:])
            if v.size:
                out[f"{name}_median_s"] = float(np.median(v))
                out[f"{name}_p95_s"] = float(np.percentile(v, 95))
        return out

    def _publish_diagnostics(self) -> None:
        stats = self.stats()
        status = DiagnosticStatus(name=f"{self.get_name()}: grasp detection",
                                  hardware_id=str(self.detector.device))
        recent = self.bad - self._bad_reported       # since the last diagnostics message
        self._bad_reported = Counter(self.bad)
        if recent.get("inference_error") or recent.get("internal_error"):
            status.level, status.message = DiagnosticStatus.ERROR, "inference failing"
        elif recent:
            status.level, status.message = DiagnosticStatus.WARN, \
                f"{sum(recent.values())} bad frames ({', '.join(sorted(recent))})"
        else:
            status.level, status.message = DiagnosticStatus.OK, "ok"
        values = {"device": str(self.detector.device), "mode": self._settings.mode,
                  "camera_pose_source": self.camera_pose.name,
                  "image_backend": messages.IMAGE_BACKEND}
        values.update({f"frames_{k}": str(v) for k, v in sorted(self.counts.items())})
        values.update({f"bad_frames.{k}": str(v) for k, v in sorted(self.bad.items())})
        values.update({f"last_error.{k}": v for k, v in sorted(self.last_error.items())})
        values.update({k[:-2] + "_ms" if k.endswith("_s") else k:
                       f"{v * 1e3:.2f}" if k.endswith("_s") else f"{v:.2f}"
                       for k, v in stats.items()})
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        self.pub_diag.publish(DiagnosticArray(header=messages.header(
            "", self.get_clock().now().to_msg()), status=[status]))

    def destroy_node(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._worker.join(timeout=5.0)
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """``ros2 run mtg_grasp_ros grasp_detector``: spin the node on a multi-threaded executor."""
    rclpy.init(args=args)
    try:
        node = GraspDetectorNode()
    except Exception as exc:   # noqa: BLE001 - a bad model path or YAML: say so and stop
        rclpy.logging.get_logger(NODE_NAME).fatal(f"cannot start: {exc}")
        rclpy.try_shutdown()
        return 1
    executor = MultiThreadedExecutor(num_threads=3)
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
