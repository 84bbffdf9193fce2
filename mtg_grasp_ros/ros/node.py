"""The ``grasp_detector`` node: camera images in, grasp poses in the robot's frame out.

A thin ROS shell around the core that composes small parts: parameters come from the one
table in ``settings`` (descriptors: ``ros.params``), inputs and their QoS from
``ros.input_qos``, the camera pose from ``ros.camera_pose`` (tf2) or the static pose, the
depth image from ``ros.depth_lookup``; each frame goes through ``pipeline.start_frame`` and
``pipeline.finish_frame`` (the same code as the offline replay) in the two threads of
``ros.frame_threads``, which take only the newest frame (``ros.frame_slot``: older ones are
dropped and counted), so subscription callbacks never block. ``~/detect`` is
``ros.detect_service``, /diagnostics ``ros.diagnostics``, counters ``ros.stats``, messages
``ros.grasp_encoders`` and ``ros.image_codec``, the executor and the signal handling
``ros.executors``.

Ready means ready: the model is loaded and a whole frame (conversion, network at the chosen
precision, postprocessing, projection, messages, debug drawing) has run before the node
says so, with one log line, ``ready: true`` in /diagnostics and ``~/ready`` (std_msgs/Bool,
transient local, so a late subscriber gets it too).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from typing import Any

import cv2
import numpy as np
import rclpy
import rclpy.signals
import torch
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseArray, PoseStamped
from rcl_interfaces.msg import SetParametersResult
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from std_msgs.msg import Bool, Float32MultiArray
from visualization_msgs.msg import MarkerArray

from ..annotate import draw_detection
from ..camera_pose import StaticCameraPose
from ..detector import GraspDetector
from ..pipeline import (
    STAGES,
    FrameError,
    FrameResult,
    finish_frame,
    process_frame,
    start_frame,
)
from ..projection import CameraModel
from ..resources import default_model_path
from ..settings import NODE_NAME, PARAM_NAMES, Settings
from . import diagnostics, grasp_encoders, image_codec
from .camera_pose import Tf2CameraPose, tf2_available
from .depth_lookup import DepthLookup
from .detect_service import DetectService
from .executors import ShutdownSignals, make_executor, spin_until_signal
from .frame_input import camera_of, decode, stamp_ns_of
from .frame_slot import Frame, FrameSlot
from .frame_threads import FrameThreads
from .input_qos import Input, InputSubscriptions
from .params import declarations
from .process_setup import default_torch_threads, prepare_process
from .stats import LOG_PERIOD_S, ArrivalWatch, NodeStats

__all__ = ["STAGES", "GraspDetectorNode", "default_torch_threads", "main", "make_executor",
           "prepare_process"]

#: QoS of ``~/ready``: latched, so that a subscriber that comes later still gets it.
READY_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST,
                       reliability=ReliabilityPolicy.RELIABLE,
                       durability=DurabilityPolicy.TRANSIENT_LOCAL)
#: Image stamps further than this ahead of the node's clock are refused (bad_stamp), seconds:
#: generous for clocks of two machines that are not synchronised, small against a wrong year.
FUTURE_STAMP_TOLERANCE_S = 60.0


class _Started:
    """A frame whose network has run: the image, the pipeline's state, conversion seconds."""

    def __init__(self, rgb: np.ndarray, pending: Any, conversion: float) -> None:
        self.rgb, self.pending, self.conversion = rgb, pending, conversion


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
        self._load_model(values)
        self.stats = NodeStats()
        self.camera_info: CameraInfo | None = None    #: the latest CameraInfo received
        self.depth = DepthLookup()
        self._stall_logged_at = -math.inf
        self.image_watch = ArrivalWatch()       # publishers matched but no image arriving
        self._make_inputs(values)
        self._make_outputs(values)
        self.frames = FrameSlot(lambda: self._settings.mode == "continuous")
        self.detect = DetectService(self, self.frames, lambda: self._settings.request_timeout,
                                    self._settings.max_waiting)
        self._log_start(values)
        self._warm_up()
        self._threads: FrameThreads[_Started] = FrameThreads(
            self.frames, self._start, self._finish, self._on_frame_failed, self._on_frame_done)
        self._threads.start()
        # a context shut down from outside (a test graph): answer the waiting ~/detect calls
        self.context.on_shutdown(self.begin_shutdown)
        self.ready = True
        self.pub_ready.publish(Bool(data=True))
        self.get_logger().info(f"ready: model loaded and warmed up in "
                               f"{time.perf_counter() - t_start:.1f} s")

    def _load_model(self, values: dict[str, Any]) -> None:
        """The detector and the camera-pose source, with the CPU thread count."""
        threads = values["torch_threads"] or default_torch_threads()
        torch.set_num_threads(threads)
        cv2.setNumThreads(threads)   # OpenCV's pre/postprocessing too: more threads than
        #                              cores slow its peak search down
        self._model_path = values["model_path"] or str(default_model_path())
        self.detector = GraspDetector(self._model_path, values["device"], self._settings.post,
                                      precision=values["precision"])
        source = values["camera_pose.source"]
        self.camera_pose: Tf2CameraPose | None = None
        if source == "tf2" or (source == "auto" and tf2_available()):
            self.camera_pose = Tf2CameraPose(self, lambda: self._settings, self._on_tf_fallback)

    def _make_inputs(self, values: dict[str, Any]) -> None:
        """The image, camera_info and depth subscriptions (qos.reliability auto follows)."""
        image_cls, image_topic = (CompressedImage, "image/compressed") \
            if values["input"] == "compressed" else (Image, "image")
        self.inputs = InputSubscriptions(
            self, [Input(image_cls, image_topic, self._on_image),
                   Input(CameraInfo, "camera_info", self._on_camera_info),
                   Input(Image, "depth", self.depth.store)],
            values["qos.reliability"], values["qos.depth"], self.image_watch.restart)

    def _make_outputs(self, values: dict[str, Any]) -> None:
        """The publishers, ``~/ready`` (false until warmed up) and the diagnostics timer."""
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
        self._diag_period = float(values["diagnostics_period"])
        self.create_timer(self._diag_period, self._publish_diagnostics)

    def _log_start(self, values: dict[str, Any]) -> None:
        log = self.get_logger()
        log.info(f"model {self._model_path} on {self.detector.device} at "
                 f"{self.detector.precision} ({torch.get_num_threads()} CPU threads); images "
                 f"via {image_codec.IMAGE_BACKEND}; input {values['input']!r}; "
                 f"mode {self._settings.mode!r}; depth source {self._settings.depth.kind!r}")
        log.info(f"camera pose source: {self.pose_source_name}: "
                 f"{self._pose_source(self._settings).describe()}")

    def _warm_up(self) -> None:
        """Run the whole per-frame path on a made-up 640x480 frame, nothing published: the
        network's first runs pick their kernels and every lazy import happens now, not on the
        first camera frames.
        """
        self.detector.warmup()
        camera = CameraModel(500.0, 500.0, 319.5, 239.5, 640, 480, "warmup_optical")
        rgb = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
        msg = image_codec.rgb_to_image_msg(rgb, "warmup_optical", Time().to_msg())
        s = self._settings
        pose = StaticCameraPose(s.target_frame, s.static_pose)
        for _ in range(2):
            try:
                result = process_frame(decode(msg), camera, "warmup_optical", 0, self.detector,
                                       s, pose, None, with_quality_map=True)
            except FrameError:      # e.g. depth_source depth_topic: the network still ran
                continue
            grasp_encoders.grasp_messages(result.poses, s.target_frame, msg.header.stamp,
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
        threads = getattr(self, "_threads", None)
        return threads is not None and threads.alive

    @property
    def pose_source_name(self) -> str:
        """``tf2`` or ``static``."""
        return "tf2" if self.camera_pose is not None else "static"

    def _pose_source(self, s: Settings) -> Tf2CameraPose | StaticCameraPose:
        if self.camera_pose is not None:
            return self.camera_pose
        return StaticCameraPose(s.target_frame, s.static_pose)

    def input_reliability(self, topic: str) -> ReliabilityPolicy:
        """How the input ``topic`` (image, camera_info, depth ...) is subscribed now."""
        return self.inputs.reliability_of(topic)

    @property
    def depth_msg(self) -> Image | None:
        """The latest depth image received."""
        return self.depth.msg

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
        if self.inputs.duplicate(msg):
            return
        self.image_watch.arrived()
        self.stats.count("received")
        if self.frames.put(msg):
            self.stats.count("dropped")

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self.camera_info = msg

    # -- the frame threads -----------------------------------------------------------------------

    def _on_frame_failed(self, frame: Frame, reason: str, message: str) -> None:
        """Count a failed frame by reason and answer the ~/detect calls it serves."""
        self._report_bad(reason, message)
        self._answer(frame, False, message)

    def _on_frame_done(self, frame: Frame, summary: str) -> None:
        self.stats.count("processed")
        self._answer(frame, True, summary)

    def _answer(self, frame: Frame, ok: bool, summary: str) -> None:
        """Answer the ~/detect calls that ``frame`` serves, and wake their coroutines."""
        if self.frames.answer(frame, ok, summary):
            self.detect.wake()

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

    def _stamp_ns(self, msg: Image | CompressedImage) -> int:
        """The image stamp (ns); FrameError ``bad_stamp`` for one that is not a time or is
        more than FUTURE_STAMP_TOLERANCE_S ahead of the node's clock (unless the clock reads 0,
        simulated time before the first /clock).
        """
        t_ns = stamp_ns_of(msg)
        now_ns = self.get_clock().now().nanoseconds
        if now_ns > 0 and (t_ns - now_ns) * 1e-9 > FUTURE_STAMP_TOLERANCE_S:
            raise FrameError("bad_stamp", f"{type(msg).__name__} header stamp is "
                             f"{(t_ns - now_ns) * 1e-9:.0f} s ahead of the node's clock (more "
                             f"than {FUTURE_STAMP_TOLERANCE_S:.0f} s: a wrong camera clock?)")
        return t_ns

    def _start(self, frame: Frame) -> _Started:
        """Convert the image and run the first half of the frame pipeline (the network)."""
        s = self._settings
        t_ns = self._stamp_ns(frame.msg)       # a bad stamp stops the frame before anything
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
                              lambda _camera: self.depth.metres(
                                  pending.stamp_ns, s.depth_max_age, pending.camera_frame),
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
        self._publish(result, s.target_frame, stamp, started.rgb, pending.camera_frame)
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

    def _publish(self, result: FrameResult, frame_id: str, stamp: Any, rgb: np.ndarray,
                 frame_id_of_image: str) -> None:
        """The wanted outputs of a frame; the debug image in the image's own frame."""
        publishers = {"grasp_pose": self.pub_pose, "grasp_candidates": self.pub_candidates,
                      "pregrasp_candidates": self.pub_pregrasps, "grasps": self.pub_grasps,
                      "grasp_info": self.pub_info, "markers": self.pub_markers}
        # only the outputs somebody listens to (a recorder counts): their publishers are
        # volatile, so a message nobody receives is lost anyway, and building the six took
        # about a millisecond a frame (markers alone 0.6 ms)
        wanted = [name for name, pub in publishers.items() if pub.get_subscription_count() > 0]
        for name, msg in grasp_encoders.grasp_messages(result.poses, frame_id, stamp,
                                                       tool=self._settings.tool,
                                                       only=wanted).items():
            publishers[name].publish(msg)
        det = result.detection
        if det.quality_map is not None and self._debug_wanted():
            drawn = draw_detection(rgb, [p.pixel for p in result.poses], det.quality_map,
                                   det.view)
            self.pub_debug.publish(image_codec.rgb_to_image_msg(drawn, frame_id_of_image, stamp))

    # -- diagnostics -------------------------------------------------------------------------------

    def _publish_diagnostics(self) -> None:
        recent = self.stats.bad_since_last_report()
        condition = diagnostics.Condition(
            recent, self.stats.bad_reasons_within(diagnostics.hold_seconds(self._diag_period)),
            self._image_stalled(), self.stats.count_since_last_report("tf_fallback"))
        condition.values = {
            "ready": str(self.ready).lower(), "device": str(self.detector.device),
            "precision": self.detector.precision,
            "torch_threads": str(torch.get_num_threads()), "mode": self._settings.mode,
            "camera_pose_source": self.pose_source_name,
            "tf_fallbacks": str(self.counts["tf_fallback"]),
            "image_backend": image_codec.IMAGE_BACKEND,
            **diagnostics.detect_values(self.detect.waiting, self.detect.max_waiting,
                                        self.detect.counts),
            **diagnostics.stats_values(self.stats)}
        status = diagnostics.status(f"{self.get_name()}: grasp detection",
                                    str(self.detector.device), condition)
        self.pub_diag.publish(DiagnosticArray(header=grasp_encoders.header(
            "", self.get_clock().now().to_msg()), status=[status]))

    def _image_stalled(self) -> str:
        """A warning when the image topic has publishers but no image arrived for a while."""
        inp = self.inputs.image
        publishers = self.count_publishers(inp.sub.topic_name)
        silent = self.image_watch.check(publishers)
        if silent is None:
            return ""
        text = (f"no image on {inp.sub.topic_name} for {silent:.0f} s although {publishers} "
                f"publisher(s) are there (subscribed {inp.reliability.name.lower()}; large frames "
                f"over best-effort QoS are often lost: publish reliable with qos.reliability "
                f"auto, or raise the socket buffer sizes)")
        now = time.monotonic()
        if now - self._stall_logged_at >= LOG_PERIOD_S:
            self._stall_logged_at = now
            self.get_logger().warning(text)
        return text

    def begin_shutdown(self) -> None:
        """Answer every waiting ~/detect call ("the node is shutting down") and stop the
        frame threads from taking new frames.
        """
        frames = getattr(self, "frames", None)
        if frames is not None:
            frames.stop()
        detect = getattr(self, "detect", None)
        if detect is not None:
            detect.wake()

    def destroy_node(self) -> None:
        """Release waiting ~/detect calls, stop the frame threads, then the node. Safe on a
        node whose start-up failed half-way (nothing of ours to stop yet).
        """
        self.begin_shutdown()
        threads = getattr(self, "_threads", None)
        if threads is not None:
            threads.join(timeout=5.0)
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """``ros2 run mtg_grasp_ros grasp_detector``: spin the node on the ``executor`` chosen.

    A start that fails (bad arguments or parameters file, missing model, bad parameter value)
    ends with one FATAL line naming the cause and exit status 1, without a traceback. SIGINT
    and SIGTERM answer the waiting ~/detect calls, then end the node with exit status 0.
    """
    prepare_process()
    log = rclpy.logging.get_logger(NODE_NAME)
    signals = ShutdownSignals()
    try:
        rclpy.init(args=args, signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
    except Exception as exc:   # noqa: BLE001 - rcl's RCLError for a bad --params-file YAML
        log.fatal(f"cannot start: bad command-line arguments or parameters file: "
                  f"{_one_line(exc)}")
        return 1
    try:
        node = GraspDetectorNode()
    except KeyboardInterrupt:  # a signal during the model's warm-up: a clean stop
        rclpy.try_shutdown()
        return 0
    except Exception as exc:   # noqa: BLE001 - a bad model path or YAML: say so and stop
        log.fatal(f"cannot start: {_one_line(exc)}")
        rclpy.try_shutdown()
        return 1
    return _spin(node, signals)


def _spin(node: GraspDetectorNode, signals: ShutdownSignals) -> int:
    """Spin ``node`` until a signal, answer what waits, and tear everything down."""
    executor, kind = make_executor(node.get_parameter("executor").value)
    node.get_logger().info(f"executor: {kind}")
    if kind == "events":
        node.get_logger().warning("executor events: rclpy's EventsExecutor is experimental; "
                                  "use single or multi if no frames arrive")
    executor.add_node(node)
    try:
        spin_until_signal(executor, node, signals, node.begin_shutdown,
                          lambda: node.detect.waiting > 0)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        executor.shutdown(timeout_sec=5.0)
        rclpy.try_shutdown()
    return 0


def _one_line(exc: BaseException) -> str:
    """An exception as one line (rcl's messages span several, with a C backtrace)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 500 else text[:500] + " ..."


if __name__ == "__main__":
    raise SystemExit(main())
