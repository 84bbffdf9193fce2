"""The ``grasp_detector`` node: camera images in, grasp poses in the robot's frame out.

A thin ROS shell around the core: messages are converted by ``ros.messages``, each frame goes
through ``pipeline.process_frame`` (the same code as the offline replay), parameters come from
the one table in ``settings`` (descriptors: ``ros.params``), the camera pose from
``ros.camera_pose`` (tf2) or the static pose. Inference runs in a worker thread that takes
only the newest frame (``ros.frame_slot``: older ones are dropped and counted), so
subscription callbacks never block; it runs the first half of the frame (conversion,
preprocessing, the network: ``pipeline.start_frame``) and hands the rest (postprocessing,
projection, publishing: ``pipeline.finish_frame``) to a second thread, so that the next
frame's network starts while this one is published; counters live in ``ros.stats``. See the
README section "The ROS 2 node" for topics and parameters.

Ready means ready: the model is loaded and a whole frame (conversion, network at the chosen
precision, postprocessing, projection, messages, debug drawing) has run before the node
says so, with one log line, ``ready: true`` in /diagnostics and ``~/ready`` (std_msgs/Bool,
transient local, so a late subscriber gets it too). The CPU thread count and the executor
default to the measured best (:func:`default_torch_threads`, :func:`make_executor`).
"""

from __future__ import annotations

import contextlib
import math
import os
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Generator
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import cv2
import numpy as np
import rclpy
import torch
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseArray, PoseStamped
from rcl_interfaces.msg import SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.executors import (
    Executor,
    ExternalShutdownException,
    MultiThreadedExecutor,
    SingleThreadedExecutor,
)
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from std_msgs.msg import Bool, Float32MultiArray
from std_srvs.srv import Trigger
from visualization_msgs.msg import MarkerArray

from ..annotate import draw_detection
from ..camera_pose import StaticCameraPose
from ..detector import GraspDetector
from ..pipeline import (
    STAGES,
    FrameError,
    FrameResult,
    PendingFrame,
    finish_frame,
    process_frame,
    start_frame,
)
from ..preprocess import ImageError
from ..projection import CameraModel
from ..resources import default_model_path
from ..settings import NODE_NAME, PARAM_NAMES, Settings
from . import messages
from .camera_pose import Tf2CameraPose, tf2_available
from .frame_input import camera_of, decode, stamp_ns_of
from .frame_slot import Frame, FrameSlot
from .malloc import limit_malloc_arenas
from .params import declarations
from .stats import LOG_PERIOD_S, ArrivalWatch, NodeStats
from .transport import prefer_udp_transport

__all__ = ["STAGES", "GraspDetectorNode", "default_torch_threads", "main", "make_executor",
           "prepare_process", "publishers_reliability"]

#: QoS of ``~/ready``: latched, so that a subscriber that comes later still gets it.
READY_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST,
                       reliability=ReliabilityPolicy.RELIABLE,
                       durability=DurabilityPolicy.TRANSIENT_LOCAL)


def default_torch_threads(cpus: int | None = None) -> int:
    """The CPU inference threads of ``torch_threads: 0``: all cores but one (at least one),
    which is left to the executor, DDS and the camera driver. On this project's 2-core
    machine, shared with other work, two threads made the network from 0.5x to 5x as fast
    as one, run to run (an OpenMP thread that loses its core stalls the other at every
    barrier), and one thread was steady (README, "Timing").
    """
    cpus = cpus or os.cpu_count() or 1
    return max(1, cpus - 1)


def events_executor() -> type[Executor] | None:
    """Rclpy's EventsExecutor class where the installed rclpy has it (not Humble), else None."""
    try:
        from rclpy.experimental import EventsExecutor
    except ImportError:
        return None
    return EventsExecutor   # type: ignore[return-value]


def make_executor(kind: str, context: Any = None) -> tuple[Executor, str]:
    """The executor of the ``executor`` parameter, and the name of what was made.

    ``auto`` is ``single``: the callbacks only store messages (inference has its own thread),
    and ``~/detect`` is a coroutine that frees the thread while it waits for a fresh frame,
    so one thread serves everything. rclpy's MultiThreadedExecutor spent 4.5 times the CPU
    to deliver the same 30 Hz of images (3.9 s against 0.9 s of thread time in a
    ``mtg_grasp bench --frames 2 --duration 10`` run), CPU the inference thread needs on a
    2-core machine.
    ``events`` falls back to ``single`` where rclpy has no EventsExecutor (Humble).
    """
    if kind == "events":
        cls = events_executor()
        if cls is not None:
            return cls(context=context), "events"
        kind = "single"
    if kind == "multi":
        return MultiThreadedExecutor(num_threads=2, context=context), "multi"
    return SingleThreadedExecutor(context=context), "single"


class _NextWake:
    """Awaiting it suspends a coroutine callback until the executor runs it again, which
    rclpy does each time the executor wakes up (a message, a timer, a guard condition).
    """

    def __await__(self) -> Generator[None, None, None]:
        yield


#: Seconds between checks of the input publishers' QoS (qos.reliability auto).
FOLLOW_PERIOD_S = 1.0


@dataclass
class _Input:
    """One input subscription: message class, topic, callback, and how it is subscribed."""

    cls: type
    topic: str
    callback: Callable[[Any], None]
    sub: Any = None
    reliability: ReliabilityPolicy = ReliabilityPolicy.BEST_EFFORT
    retiring: Any = None        # the previous subscription, kept until the new one has matched


def publishers_reliability(node: Node, topic: str) -> ReliabilityPolicy | None:
    """RELIABLE when every publisher of ``topic`` offers it, BEST_EFFORT when one does not,
    None without publishers (rosbag2's rule for recording).
    """
    infos = node.get_publishers_info_by_topic(topic)
    if not infos:
        return None
    if all(i.qos_profile.reliability == ReliabilityPolicy.RELIABLE for i in infos):
        return ReliabilityPolicy.RELIABLE
    return ReliabilityPolicy.BEST_EFFORT


_T = TypeVar("_T")


@dataclass
class _Started:
    """A frame whose network has run: the image, the pipeline's state, conversion seconds."""

    rgb: np.ndarray
    pending: PendingFrame
    conversion: float


class GraspDetectorNode(Node):
    """Subscribes to images and CameraInfo, publishes grasp poses, markers and diagnostics."""

    def __init__(self, **kwargs: Any) -> None:
        """Declare the parameters, load the model, and start the frame threads."""
        super().__init__(NODE_NAME, **kwargs)
        self.declare_parameters("", declarations())
        values = {n: self.get_parameter(n).value for n in PARAM_NAMES}
        self._settings = Settings.from_values(values)   # a bad YAML stops start-up, named
        self.add_on_set_parameters_callback(self._on_set_parameters)

        self.ready = False
        t_start = time.perf_counter()
        threads = values["torch_threads"] or default_torch_threads()
        torch.set_num_threads(threads)
        cv2.setNumThreads(threads)   # OpenCV's pre/postprocessing too: 2 threads on 2 busy
        #                              cores made the peak search 2x slower than 1 thread
        model_path = values["model_path"] or str(default_model_path())
        self.detector = GraspDetector(model_path, values["device"], self._settings.post,
                                      precision=values["precision"])

        source = values["camera_pose.source"]
        self.camera_pose: Tf2CameraPose | None = None
        if source == "tf2" or (source == "auto" and tf2_available()):
            self.camera_pose = Tf2CameraPose(self, lambda: self._settings, self._on_tf_fallback)
        self.stats = NodeStats()

        # inputs; qos.reliability auto follows the publishers (see _follow_publishers)
        self._reliability, self._qos_depth = values["qos.reliability"], values["qos.depth"]
        image_cls, image_topic = (CompressedImage, "image/compressed") \
            if values["input"] == "compressed" else (Image, "image")
        self._inputs = [_Input(image_cls, image_topic, self._on_image),
                        _Input(CameraInfo, "camera_info", self._on_camera_info),
                        _Input(Image, "depth", self._on_depth)]
        for inp in self._inputs:
            self._subscribe(inp, self._policy_for(inp.topic))
        self.image_watch = ArrivalWatch()       # publishers matched but no image arriving
        self._recent_lock = threading.Lock()    # frames seen while subscriptions overlap
        self._recent: deque[tuple[int, int, str]] = deque(maxlen=16)
        self._dedupe_until = -math.inf
        self._stall_logged_at = -math.inf
        self.camera_info: CameraInfo | None = None    #: the latest CameraInfo received
        self.depth_msg: Image | None = None           #: the latest depth image received

        # outputs
        self.pub_pose = self.create_publisher(PoseStamped, "~/grasp_pose", 10)
        self.pub_candidates = self.create_publisher(PoseArray, "~/grasp_candidates", 10)
        self.pub_pregrasps = self.create_publisher(PoseArray, "~/pregrasp_candidates", 10)
        self.pub_grasps = self.create_publisher(PointCloud2, "~/grasps", 10)
        self.pub_info = self.create_publisher(Float32MultiArray, "~/grasp_info", 10)
        self.pub_markers = self.create_publisher(MarkerArray, "~/markers", 10)
        self.pub_debug = self.create_publisher(Image, "~/debug_image", 2)
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.pub_ready = self.create_publisher(Bool, "~/ready", READY_QOS)
        self.pub_ready.publish(Bool(data=False))
        # wakes the executor when the publishing thread has answered a ~/detect call (or its
        # time is up), so that the waiting coroutine looks again
        self._detect_wake = self.create_guard_condition(lambda: None)
        self.create_service(Trigger, "~/detect", self._on_detect,
                            callback_group=MutuallyExclusiveCallbackGroup())
        self.create_timer(values["diagnostics_period"], self._publish_diagnostics)
        if self._reliability == "auto":
            self.create_timer(FOLLOW_PERIOD_S, self._follow_publishers)

        # the inference thread and its one-frame slot
        self.frames = FrameSlot(lambda: self._settings.mode == "continuous")
        log = self.get_logger()
        log.info(f"model {model_path} on {self.detector.device} at {self.detector.precision} "
                 f"({torch.get_num_threads()} CPU threads); images via "
                 f"{messages.IMAGE_BACKEND}; input {values['input']!r}; "
                 f"mode {self._settings.mode!r}; depth source {self._settings.depth.kind!r}")
        log.info(f"camera pose source: {self.pose_source_name}: "
                 f"{self._pose_source(self._settings).describe()}")
        self._warm_up()
        # the network's half of a frame, then the rest in a second thread; at most one
        # frame waits between them (the newest-frame rule stays the slot's)
        self._handoff: queue.Queue[tuple[Frame, _Started] | None] = queue.Queue(maxsize=1)
        self._worker = threading.Thread(target=self._run_worker, name="grasp_inference",
                                        daemon=True)
        self._finisher = threading.Thread(target=self._run_finisher, name="grasp_publish",
                                          daemon=True)
        self._finisher.start()
        self._worker.start()
        # SIGINT shuts the context down: answer waiting ~/detect calls so that no executor
        # thread stays blocked in one (up to request_timeout) after that
        self.context.on_shutdown(self.frames.stop)
        self.ready = True
        self.pub_ready.publish(Bool(data=True))
        log.info(f"ready: model loaded and warmed up in {time.perf_counter() - t_start:.1f} s")

    def _warm_up(self) -> None:
        """Run the whole per-frame path on a made-up 640x480 frame, nothing published: the
        network's first runs pick their kernels and every lazy import happens now, not on the
        first camera frames.
        """
        self.detector.warmup()
        camera = CameraModel(500.0, 500.0, 319.5, 239.5, 640, 480, "warmup_optical")
        rgb = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
        msg = messages.rgb_to_image_msg(rgb, "warmup_optical", Time().to_msg())
        s = self._settings
        pose = StaticCameraPose(s.target_frame, s.static_pose)
        for _ in range(2):
            try:
                result = process_frame(decode(msg), camera, "warmup_optical", 0, self.detector,
                                       s, pose, None, with_quality_map=True)
            except FrameError:      # e.g. depth_source depth_topic: the network still ran
                continue
            messages.grasp_messages(result.poses, s.target_frame, msg.header.stamp,
                                    with_markers=True, tool=s.tool)
            if result.detection.quality_map is not None:
                draw_detection(rgb, [p.pixel for p in result.poses],
                               result.detection.quality_map, result.detection.view)

    # -- public state ----------------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        """The current validated parameters."""
        return self._settings

    @property
    def counts(self) -> Counter[str]:
        """Frames received, processed, dropped, no_grasp, rejected_too_wide (a copy)."""
        return self.stats.counts

    @property
    def bad(self) -> Counter[str]:
        """Bad frames by reason (a copy)."""
        return self.stats.bad

    @property
    def last_error(self) -> dict[str, str]:
        """The last message of each bad-frame reason."""
        return self.stats.last_error

    @property
    def worker_alive(self) -> bool:
        """Whether the inference thread and the publishing thread run."""
        return self._worker.is_alive() and self._finisher.is_alive()

    @property
    def pose_source_name(self) -> str:
        """``tf2`` or ``static``."""
        return "tf2" if self.camera_pose is not None else "static"

    def _pose_source(self, s: Settings) -> Tf2CameraPose | StaticCameraPose:
        if self.camera_pose is not None:
            return self.camera_pose
        return StaticCameraPose(s.target_frame, s.static_pose)

    # -- input QoS -------------------------------------------------------------------------------

    def _subscribe(self, inp: _Input, reliability: ReliabilityPolicy) -> None:
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=self._qos_depth,
                         reliability=reliability)
        inp.sub = self.create_subscription(inp.cls, inp.topic, inp.callback, qos)
        inp.reliability = reliability

    def _policy_for(self, topic: str) -> ReliabilityPolicy:
        """The reliability to subscribe ``topic`` with now (auto: what its publishers offer)."""
        if self._reliability == "reliable":
            return ReliabilityPolicy.RELIABLE
        if self._reliability == "best_effort":
            return ReliabilityPolicy.BEST_EFFORT
        return publishers_reliability(self, self.resolve_topic_name(topic)) \
            or ReliabilityPolicy.BEST_EFFORT    # nobody publishes yet: matches any publisher

    def _follow_publishers(self) -> None:
        """qos.reliability auto: re-subscribe an input whose publishers now offer another
        reliability (reliable when every publisher is, as rosbag2 records), so that large
        frames from a reliable camera are not dropped by a best-effort subscription.
        """
        for inp in self._inputs:
            if inp.retiring is not None:    # the new subscription has had a period to match
                self.destroy_subscription(inp.retiring)
                inp.retiring = None
            want = publishers_reliability(self, inp.sub.topic_name)
            if want is None or want == inp.reliability:
                continue
            # make before break: the old subscription keeps delivering until the next period,
            # so no frame is lost while the new one matches; _on_image drops the duplicates
            inp.retiring = inp.sub
            self._subscribe(inp, want)
            if inp.callback == self._on_image:
                with self._recent_lock:
                    self._dedupe_until = time.monotonic() + 2 * FOLLOW_PERIOD_S
                self.image_watch.restart()
            self.get_logger().info(f"qos.reliability auto: {inp.sub.topic_name} now "
                                   f"{want.name.lower()}, as its publishers offer")

    def input_reliability(self, topic: str) -> ReliabilityPolicy:
        """How the input ``topic`` (image, camera_info, depth ...) is subscribed now."""
        return next(i.reliability for i in self._inputs if i.topic == topic)

    # -- parameters ------------------------------------------------------------------------------

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        """Validate the new values together with the others; apply them when all are good."""
        values = {n: self.get_parameter(n).value for n in PARAM_NAMES}
        values.update({p.name: p.value for p in params if p.name in values})
        try:
            settings = Settings.from_values(values)
        except ValueError as exc:        # ProjectionError is a ValueError
            return SetParametersResult(successful=False, reason=str(exc))
        self._settings = settings
        self.frames.wake()               # a mode change may make the waiting frame ready
        return SetParametersResult(successful=True)

    # -- callbacks (never block) ---------------------------------------------------------------

    def _on_image(self, msg: Image | CompressedImage) -> None:
        if self._duplicate(msg):
            return
        self.image_watch.arrived()
        self.stats.count("received")
        if self.frames.put(msg):
            self.stats.count("dropped")

    def _duplicate(self, msg: Image | CompressedImage) -> bool:
        """While two subscriptions overlap (a reliability switch), whether this frame already
        came through the other one (same stamp and frame).
        """
        with self._recent_lock:
            if time.monotonic() >= self._dedupe_until:
                return False
            key = (msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id)
            if key in self._recent:
                return True
            self._recent.append(key)
            return False

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self.camera_info = msg

    def _on_depth(self, msg: Image) -> None:
        self.depth_msg = msg

    async def _on_detect(self, request: Trigger.Request, response: Trigger.Response
                         ) -> Trigger.Response:
        """Run on the next fresh frame and answer with a one-line summary of the grasp.

        A coroutine: while it waits, the executor's thread serves the image callbacks it
        waits for (so a single-threaded executor does), and it looks again each time the
        executor wakes: at every message, and at the guard condition that the frame threads
        trigger when they answer, as does a timer at the deadline.
        """
        req = self.frames.request()
        timeout = self._settings.request_timeout
        deadline = time.monotonic() + timeout
        timer = threading.Timer(timeout, self._wake_detect)
        timer.daemon = True
        timer.start()
        try:
            while not req.done.is_set() and time.monotonic() < deadline:
                await _NextWake()
        finally:
            timer.cancel()
        if not self.frames.wait(req, 0.0):       # withdrawn when not answered
            response.success = False
            response.message = f"no fresh image within {timeout:.1f} s"
            return response
        response.success, response.message = req.success, req.message
        return response

    def _wake_detect(self) -> None:
        """Wake the executor so that a waiting ~/detect coroutine looks at its request."""
        with contextlib.suppress(Exception):    # the node is being destroyed: nobody waits
            self._detect_wake.trigger()

    # -- the inference thread --------------------------------------------------------------------

    def _run_worker(self) -> None:
        """The newest frame's conversion, preprocessing and network, then the hand-over."""
        while not self.frames.stopping:
            frame = self.frames.take()
            if frame is None:
                continue
            started = self._guarded(frame, partial(self._start, frame))
            if started is not None:
                self._handoff.put((frame, started))
        self._handoff.put(None)

    def _run_finisher(self) -> None:
        """Postprocessing, projection and publishing of each frame the network has run."""
        while (item := self._handoff.get()) is not None:
            frame, started = item
            summary = self._guarded(frame, partial(self._finish, frame, started))
            if summary is not None:
                self.stats.count("processed")
                self._answer(frame, True, summary)

    def _guarded(self, frame: Frame, work: Callable[[], _T]) -> _T | None:
        """``work()``; a frame it fails on is counted by reason and answered, and None."""
        try:
            return work()
        except FrameError as exc:
            self._report_bad(exc.reason, str(exc))
            self._answer(frame, False, str(exc))
        except Exception as exc:  # noqa: BLE001 - the node must survive anything
            summary = f"internal error: {exc!r}"
            self._report_bad("internal_error", summary)
            self._answer(frame, False, summary)
        return None

    def _answer(self, frame: Frame, ok: bool, summary: str) -> None:
        """Answer the ~/detect calls that ``frame`` serves, and wake their coroutines."""
        if self.frames.answer(frame, ok, summary):
            self._wake_detect()

    def _on_tf_fallback(self, age: float, what: str) -> None:
        """Count a use of the latest-transform fallback and log it (throttled)."""
        self.stats.count("tf_fallback")
        self.get_logger().warning(
            f"camera pose {what} from the latest transform, {age:.3f} s from the image stamp "
            f"({self.stats.counts['tf_fallback']} so far): grasps are off by what the camera "
            f"moved; raise tf.timeout if transforms arrive late",
            throttle_duration_sec=LOG_PERIOD_S)

    def _report_bad(self, reason: str, message: str) -> None:
        """Count a bad frame; log its kind once, then at most every LOG_PERIOD_S seconds."""
        if self.stats.bad_frame(reason, message):
            self.get_logger().warning(f"frame skipped ({reason}, {self.stats.bad[reason]} so "
                                      f"far): {message}")

    def _depth_image(self, stamp_ns: int, max_age: float) -> np.ndarray:
        """The latest depth image in metres; FrameError when missing, unusable, or further than
        ``max_age`` seconds (0: any) from the colour image's stamp.
        """
        msg = self.depth_msg
        if msg is None:
            raise FrameError("no_depth", "depth_source is depth_topic but no image on 'depth'")
        age = (stamp_ns - stamp_ns_of(msg, "bad_depth")) * 1e-9
        if max_age > 0 and abs(age) > max_age:
            raise FrameError("bad_depth", f"the depth image's stamp is {age:+.3f} s from the "
                             f"colour image's (depth_max_age {max_age} s)")
        try:
            return messages.depth_to_metres(msg)
        except ImageError as exc:
            raise FrameError("bad_depth", f"{type(msg).__name__}: {exc}") from None

    def _start(self, frame: Frame) -> _Started:
        """Convert the image and run the first half of the frame pipeline (the network)."""
        s = self._settings
        t_ns = stamp_ns_of(frame.msg)          # a bad stamp stops the frame before anything
        t0 = time.perf_counter()
        rgb = decode(frame.msg)
        t_conv = time.perf_counter() - t0
        camera = camera_of(self.camera_info)
        pending = start_frame(rgb, camera, frame.msg.header.frame_id or camera.frame_id, t_ns,
                              self.detector, s, self._pose_source(s))
        return _Started(rgb, pending, t_conv)

    def _finish(self, frame: Frame, started: _Started) -> str:
        """The second half of the frame pipeline, publishing; a one-line summary."""
        pending = started.pending
        s = pending.settings
        stamp = frame.msg.header.stamp
        result = finish_frame(pending, self.detector, self._pose_source(s),
                              lambda _camera: self._depth_image(pending.stamp_ns,
                                                                s.depth_max_age),
                              with_quality_map=self._debug_wanted())
        if result.rejected_too_wide:
            self.stats.count("rejected_too_wide", result.rejected_too_wide)
        if result.unplaced:
            self.stats.count("candidates_unplaced", result.unplaced)
        if result.best_unplaced:
            self.stats.count("best_unplaced")
            if self.stats.due_to_log("best_unplaced"):
                self.get_logger().warning(
                    f"the best candidate could not be placed in 3D ({result.best_unplaced}); "
                    f"a lower one was published ({self.counts['best_unplaced']} frames so far)")
        t2 = time.perf_counter()
        self._publish(result, s.target_frame, stamp, started.rgb)
        now = time.perf_counter()
        latency = None
        if stamp.sec or stamp.nanosec:
            latency = (self.get_clock().now() - Time.from_msg(stamp)).nanoseconds * 1e-9
        self.stats.frame_done({**result.timings, "conversion": started.conversion,
                               "publishing": now - t2}, latency)
        poses = result.poses
        if not poses:
            self.stats.count("no_grasp")
            return "no grasp found"
        b = poses[0]
        x, y, z = b.position
        return (f"grasp at ({x:.3f}, {y:.3f}, {z:.3f}) m in {s.target_frame}, angle "
                f"{math.degrees(b.pixel.angle):.1f} deg, width {b.width_m:.3f} m, quality "
                f"{b.quality:.2f}, 1 of {len(poses)} candidates published")

    def _debug_wanted(self) -> bool:
        return self.pub_debug.get_subscription_count() > 0

    def _publish(self, result: FrameResult, frame_id: str, stamp: Any, rgb: np.ndarray) -> None:
        publishers = {"grasp_pose": self.pub_pose, "grasp_candidates": self.pub_candidates,
                      "pregrasp_candidates": self.pub_pregrasps, "grasps": self.pub_grasps,
                      "grasp_info": self.pub_info, "markers": self.pub_markers}
        # only the outputs somebody listens to (a recorder counts): their publishers are
        # volatile, so a message nobody receives is lost anyway, and building the six took
        # about a millisecond a frame (markers alone 0.6 ms)
        wanted = [name for name, pub in publishers.items() if pub.get_subscription_count() > 0]
        for name, msg in messages.grasp_messages(result.poses, frame_id, stamp,
                                                 tool=self._settings.tool,
                                                 only=wanted).items():
            publishers[name].publish(msg)
        det = result.detection
        if det.quality_map is not None and self._debug_wanted():
            drawn = draw_detection(rgb, [p.pixel for p in result.poses], det.quality_map,
                                   det.view)
            info = self.camera_info
            self.pub_debug.publish(messages.rgb_to_image_msg(
                drawn, info.header.frame_id if info else "", stamp))

    # -- diagnostics -------------------------------------------------------------------------------

    def _publish_diagnostics(self) -> None:
        stats = self.stats.summary()
        status = DiagnosticStatus(name=f"{self.get_name()}: grasp detection",
                                  hardware_id=str(self.detector.device))
        recent = self.stats.bad_since_last_report()
        fallbacks = self.stats.count_since_last_report("tf_fallback")
        stalled = self._image_stalled()
        if recent.get("model_output_not_finite"):
            status.level, status.message = DiagnosticStatus.ERROR, "model output not finite"
        elif recent.get("inference_error") or recent.get("internal_error"):
            status.level, status.message = DiagnosticStatus.ERROR, "inference failing"
        elif stalled:
            status.level, status.message = DiagnosticStatus.WARN, stalled
        elif recent:
            status.level, status.message = DiagnosticStatus.WARN, \
                f"{sum(recent.values())} bad frames ({', '.join(sorted(recent))})"
        elif fallbacks:
            status.level, status.message = DiagnosticStatus.WARN, \
                f"{fallbacks} camera poses from the latest transform, not the image stamp's " \
                f"(tf.timeout too short?)"
        else:
            status.level, status.message = DiagnosticStatus.OK, "ok"
        values = {"ready": str(self.ready).lower(), "device": str(self.detector.device),
                  "precision": self.detector.precision,
                  "torch_threads": str(torch.get_num_threads()),
                  "mode": self._settings.mode,
                  "camera_pose_source": self.pose_source_name,
                  "tf_fallbacks": str(self.counts["tf_fallback"]),
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

    def _image_stalled(self) -> str:
        """A warning when the image topic has publishers but no image arrived for a while."""
        inp = self._inputs[0]
        publishers = self.count_publishers(inp.sub.topic_name)
        silent = self.image_watch.check(publishers)
        if silent is None:
            return ""
        text = (f"no image on {inp.sub.topic_name} for {silent:.0f} s although {publishers} "
                f"publisher(s) are there (subscribed {inp.reliability.name.lower()}; large frames "
                f"over best-effort QoS are often lost: publish reliable with qos.reliability "
                f"auto, or raise the socket buffer sizes; README 'Frames that never arrive')")
        now = time.monotonic()
        if now - self._stall_logged_at >= LOG_PERIOD_S:
            self._stall_logged_at = now
            self.get_logger().warning(text)
        return text

    def destroy_node(self) -> None:
        """Release waiting ~/detect calls, stop the inference thread, then the node. Safe on a
        node whose start-up failed half-way (nothing of ours to stop yet).
        """
        frames = getattr(self, "frames", None)
        if frames is not None:
            frames.stop()
        for name in ("_worker", "_finisher"):   # the worker's end ends the finisher
            thread = getattr(self, name, None)
            if thread is not None and thread.is_alive():
                thread.join(timeout=5.0)
        super().destroy_node()


def prepare_process() -> None:
    """The node process's settings that must come before rclpy starts (``main()`` and the
    bench): glibc's malloc arenas before its threads (ros/malloc.py), Fast DDS's transport
    before its participant (ros/transport.py).
    """
    limit_malloc_arenas()
    prefer_udp_transport()


def main(args: list[str] | None = None) -> int:
    """``ros2 run mtg_grasp_ros grasp_detector``: spin the node on the ``executor`` chosen.

    A start that fails (bad arguments or parameters file, missing model, bad parameter value)
    ends with one FATAL line naming the cause and exit status 1, without a traceback.
    """
    prepare_process()
    log = rclpy.logging.get_logger(NODE_NAME)
    try:
        rclpy.init(args=args)
    except Exception as exc:   # noqa: BLE001 - rcl's RCLError for a bad --params-file YAML
        log.fatal(f"cannot start: bad command-line arguments or parameters file: "
                  f"{_one_line(exc)}")
        return 1
    try:
        node = GraspDetectorNode()
    except KeyboardInterrupt:  # SIGINT during the model's warm-up: a clean stop, not a trace
        rclpy.try_shutdown()
        return 0
    except Exception as exc:   # noqa: BLE001 - a bad model path or YAML: say so and stop
        log.fatal(f"cannot start: {_one_line(exc)}")
        rclpy.try_shutdown()
        return 1
    executor, kind = make_executor(node.get_parameter("executor").value)
    node.get_logger().info(f"executor: {kind}")
    if kind == "events":
        node.get_logger().warning("executor events: rclpy's experimental EventsExecutor ran no "
                                  "callbacks with the rclpy this was measured with (README, "
                                  "'Timing'); use multi if no frames arrive")
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()           # releases waiting ~/detect calls first
        executor.shutdown(timeout_sec=5.0)
        rclpy.try_shutdown()
    return 0


def _one_line(exc: BaseException) -> str:
    """An exception as one line (rcl's messages span several, with a C backtrace)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 500 else text[:500] + " ..."


if __name__ == "__main__":
    raise SystemExit(main())
