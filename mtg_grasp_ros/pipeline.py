"""One frame, from pixels to grasp poses in the robot's frame: the per-frame work of every tool.

:func:`process_frame` takes a decoded RGB image, its camera model, a camera-pose source
(``camera_pose.TransformSource``), the depth image when the depth source needs one, and the
node's :class:`~mtg_grasp_ros.settings.Settings`; it detects grasps (with the settings'
postprocessing and ROI, or the ROI of the ``workspace`` rectangle projected through this
frame's camera pose), places them in 3D (approaching along the optical axis or the plane
normal), drops those that cannot be placed and those wider
than ``max_opening``, and transforms them into ``target_frame``. A frame that cannot be used
raises :class:`FrameError`, whose ``reason`` is the node's diagnostics key
(:data:`REASONS`). The offline bag replay calls it; the ROS node (and the demo and the
bench through it) calls its two halves, :func:`start_frame` and :func:`finish_frame`, from
two threads, so none of them can drift apart. No rclpy here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import numpy as np

from .camera_pose import TransformSource, TransformTooOld, TransformUnavailable
from .detector import Detection, GraspDetector, Inference, NonFiniteOutput
from .framing import FramingError, workspace_roi
from .preprocess import ImageError
from .projection import (
    CameraModel,
    DepthSource,
    GraspPose,
    ProjectionError,
    Transform,
    project_grasps,
)
from .settings import MAX_POSITION_M, Settings

#: Why a frame could not be used (diagnostics keys ``bad_frames.<reason>``).
REASONS: dict[str, str] = {
    "unsupported_encoding": "the image's encoding is not one the detector takes",
    "bad_image": "the image message cannot be decoded (corrupt, truncated, too large)",
    "bad_stamp": "the image's header stamp is not a valid time (negative, nanosec >= 1e9)",
    "no_camera_info": "no camera intrinsics for the image",
    "bad_intrinsics": "the camera intrinsics are unusable or do not fit the image (size, "
                      "aspect ratio, roi, distortion model or coefficients)",
    "bad_roi": "the region of interest does not fit the image",
    "inference_error": "the network failed (CUDA error, out of memory)",
    "model_output_not_finite": "the network's output holds NaN or infinity (broken weights)",
    "no_transform": "the camera pose in the target (or plane) frame is unknown",
    "stale_transform": "only a camera pose older than tf.fallback_max_age is known",
    "no_depth": "depth_source is depth_topic but there is no depth image",
    "bad_depth": "the depth image is unusable, not aligned with the colour image, or older "
                 "than depth_max_age",
    "projection_failed": "no grasp could be placed in 3D",
    "bad_plane": "the camera is not on the side of the support plane that plane.normal points "
                 "to (the normal points down, or the camera is under the table)",
    "bad_pose": "a grasp pose in target_frame is not finite or absurdly far (a bad camera "
                "pose)",
    "bad_message": "a recorded message cannot be deserialised (a corrupt bag; offline only)",
    "internal_error": "anything else (a bug)",
}
#: Stages timed per frame, in order (seconds); ``conversion`` and ``publishing`` are the
#: caller's (decoding the message, sending the results).
STAGES = ("conversion", "preprocess", "network", "postprocess", "projection", "publishing")


class FrameError(Exception):
    """A frame that cannot be used; ``reason`` is a key of :data:`REASONS`."""

    def __init__(self, reason: str, message: str) -> None:
        """``reason``: the diagnostics key; ``message``: what exactly is wrong."""
        super().__init__(message)
        self.reason = reason


@dataclass
class FrameResult:
    """The grasps of one frame in ``target_frame``, best first, and what it took."""

    poses: list[GraspPose]
    detection: Detection
    camera: CameraModel                      # scaled to the image
    timings: dict[str, float] = field(default_factory=dict)   # preprocess ... projection
    rejected_too_wide: int = 0
    unplaced: int = 0                        # candidates that could not be placed in 3D
    best_unplaced: str = ""                  # why the best candidate could not (a lower one
    #                                          was published first), else empty
    pose_source: str = ""                    # the source's name that placed the camera
    roi: tuple[int, int, int, int] | None = None   # the ROI used (workspace's or roi's)


@dataclass
class PendingFrame:
    """A frame between the two halves of :func:`process_frame`: the network has run."""

    inference: Inference
    settings: Settings                       # the settings the frame started with
    camera: CameraModel                      # scaled to the image
    camera_frame: str
    stamp_ns: int
    roi: tuple[int, int, int, int] | None
    located: tuple[Transform, DepthSource, str] | None   # when the workspace needed it


def process_frame(rgb: np.ndarray, camera: CameraModel, camera_frame: str, stamp_ns: int,
                  detector: GraspDetector, settings: Settings, poses: TransformSource,
                  depth: Callable[[CameraModel], np.ndarray] | None = None,
                  with_quality_map: bool = False) -> FrameResult:
    """Detect, project, filter and transform one frame (see the module docstring).

    ``camera_frame`` is the image's optical frame (its header's frame_id, else the
    CameraInfo's); ``depth`` returns the aligned depth image in metres for a camera (called
    only for ``depth_source: depth_topic``; it may raise FrameError). The same as
    :func:`finish_frame` of :func:`start_frame`, the halves the node runs in two threads.
    """
    pending = start_frame(rgb, camera, camera_frame, stamp_ns, detector, settings, poses)
    return finish_frame(pending, detector, poses, depth, with_quality_map)


@contextmanager
def _detector_errors() -> Iterator[None]:
    """The detector's exceptions as FrameErrors with their diagnostics reasons."""
    try:
        yield
    except ImageError as exc:        # e.g. an roi outside this image
        raise FrameError("bad_roi", str(exc)) from None
    except NonFiniteOutput as exc:
        raise FrameError("model_output_not_finite", str(exc)) from None
    except RuntimeError as exc:      # CUDA failures and out-of-memory
        raise FrameError("inference_error", f"{type(exc).__name__}: {exc}") from None


def start_frame(rgb: np.ndarray, camera: CameraModel, camera_frame: str, stamp_ns: int,
                detector: GraspDetector, settings: Settings,
                poses: TransformSource) -> PendingFrame:
    """The first half of :func:`process_frame`: the ROI, preprocessing and the network."""
    camera = camera_for_image(camera, rgb.shape[1], rgb.shape[0])
    roi, located = settings.roi, None
    if settings.workspace is not None:     # the camera pose first: it decides the ROI
        located = _locate_camera(camera_frame, stamp_ns, settings, poses)
        roi = _workspace_roi(camera, settings, located[0], located[1])
    with _detector_errors():
        inference = detector.infer(rgb, roi)
    return PendingFrame(inference, settings, camera, camera_frame, stamp_ns, roi, located)


def finish_frame(pending: PendingFrame, detector: GraspDetector, poses: TransformSource,
                 depth: Callable[[CameraModel], np.ndarray] | None = None,
                 with_quality_map: bool = False) -> FrameResult:
    """The second half of :func:`process_frame`: peaks, grasps, 3D poses in target_frame."""
    s = pending.settings
    with _detector_errors():
        det = detector.finish(pending.inference, s.post, with_quality_map)
    t0 = time.perf_counter()
    result = FrameResult([], det, pending.camera, dict(det.timings), roi=pending.roi)
    if det.grasps:
        located = pending.located or _locate_camera(pending.camera_frame, pending.stamp_ns, s,
                                                    poses)
        result.pose_source = located[2]
        _place(result, s, *located[:2], depth)
    result.timings["projection"] = time.perf_counter() - t0
    return result


def camera_for_image(camera: CameraModel, width: int, height: int) -> CameraModel:
    """The camera scaled to a ``width`` x ``height`` image (a resized stream keeps its
    CameraInfo); FrameError ``bad_intrinsics`` when the image has another aspect ratio, which
    scaling would stretch (the poses would be silently off).
    """
    cw, ch = camera.width, camera.height
    if (cw, ch) == (width, height):
        return camera
    # a true resize rounds one side by at most a pixel: compare what each side implies
    if min(abs(width - cw * height / ch), abs(height - ch * width / cw)) > 1.0:
        raise FrameError("bad_intrinsics", f"CameraInfo is for {cw}x{ch} images but the image "
                         f"is {width}x{height}: another aspect ratio (a crop needs the "
                         f"CameraInfo's roi)")
    return camera.scaled_to(width, height)


def _locate_camera(camera_frame: str, stamp_ns: int, s: Settings,
                   poses: TransformSource) -> tuple[Transform, DepthSource, str]:
    """Camera -> target_frame, the depth source with its plane in the camera frame, and the
    name of the pose source that answered.
    """
    try:
        to_target = poses.lookup(s.target_frame, camera_frame, stamp_ns)
        source = s.depth
        if source.kind == "plane" or s.approach == "plane_normal" or s.workspace is not None:
            to_plane = to_target if s.plane_frame == s.target_frame else \
                poses.lookup(s.plane_frame, camera_frame, stamp_ns)
            source = replace(source, plane=source.plane.in_frame(to_plane))
            _check_plane_side(source, s)
    except TransformTooOld as exc:
        raise FrameError("stale_transform", str(exc)) from None
    except TransformUnavailable as exc:
        raise FrameError("no_transform", str(exc)) from None
    return to_target, source, getattr(poses, "used", "") or poses.name


def _check_plane_side(source: DepthSource, s: Settings) -> None:
    """FrameError ``bad_plane`` when the camera is behind the support plane (its normal points
    away from the camera): a ray would meet the table from below and the plane-normal
    approach would point up.
    """
    height = source.camera_height()
    if height <= 0:
        raise FrameError("bad_plane", f"the camera is {-height:.3f} m below the support plane "
                         f"(plane.normal, plane.offset in {s.plane_frame}): the normal must point "
                         f"up, towards the camera")


def _check_poses(poses: list[GraspPose], target_frame: str) -> None:
    """FrameError ``bad_pose`` for a pose that is not finite or beyond MAX_POSITION_M."""
    for p in poses:
        position = np.asarray(p.position, np.float64)
        if not (np.isfinite(position).all() and np.isfinite(p.orientation).all()) or \
                float(np.linalg.norm(position)) > MAX_POSITION_M:
            raise FrameError("bad_pose", f"grasp position {position.tolist()} in {target_frame} "
                             f"is not finite or more than {MAX_POSITION_M:g} m from its origin "
                             f"(check the camera pose)")


def _workspace_roi(camera: CameraModel, s: Settings, to_target: Transform,
                   source: DepthSource) -> tuple[int, int, int, int]:
    """The image ROI of the workspace rectangle (support plane, target_frame) this frame."""
    assert s.workspace is not None
    plane_in_target = source.plane.in_frame(to_target.inverse())
    try:
        return workspace_roi(s.workspace, plane_in_target, camera, to_target)
    except (FramingError, ProjectionError) as exc:
        raise FrameError("bad_roi", f"workspace: {exc}") from None


def _place(result: FrameResult, s: Settings, to_target: Transform, source: DepthSource,
           depth: Callable[[CameraModel], np.ndarray] | None) -> None:
    """Pixel grasps to poses in target_frame; too-wide ones dropped and counted."""
    depth_image = None
    if source.kind == "depth_topic":
        if depth is None:
            raise FrameError("no_depth", "depth_source is depth_topic but no depth image")
        depth_image = depth(result.camera)
        if depth_image.shape[:2] != (result.camera.height, result.camera.width):
            raise FrameError("bad_depth", f"depth image {depth_image.shape[1]}x"
                             f"{depth_image.shape[0]} is not aligned with the "
                             f"{result.camera.width}x{result.camera.height} colour image")
    placed = project_grasps(result.detection.grasps, result.camera, source, depth_image,
                            s.approach)
    errors = [r for r in placed if isinstance(r, ProjectionError)]
    good = [r for r in placed if not isinstance(r, ProjectionError)]
    if errors and not good:
        raise FrameError("projection_failed", str(errors[0]))
    result.unplaced = len(errors)
    if isinstance(placed[0], ProjectionError):      # e.g. a depth hole at the best grasp
        result.best_unplaced = str(placed[0])
    result.rejected_too_wide = sum(p.width_m > s.max_opening for p in good)
    result.poses = [p.transformed(to_target) for p in good if p.width_m <= s.max_opening]
    _check_poses(result.poses, s.target_frame)
