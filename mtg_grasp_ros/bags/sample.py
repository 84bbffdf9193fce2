"""Sample camera bags: any renderer's frames written as a rosbag2 that looks like a real camera.

:func:`write_camera_bag` takes a sequence of :class:`CameraFrame` (RGB, intrinsics, camera pose,
stamp) and writes ``sensor_msgs/Image`` (rgb8), ``sensor_msgs/CameraInfo`` and the camera pose
on ``/tf_static`` (transient-local, see ``bags.writer``), or on ``/tf`` when the camera moves.
:func:`toy_table_frames` draws such frames with OpenCV (coloured shapes on a table, seen by a
camera above it), so that a bag can be made without the synthetic renderer;
:func:`synth_table_frames` renders real-looking ones with the synthetic data engine
(``mtg_grasp_ros.synth``): separate one-object scenes under a static camera.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..projection import CameraModel, Transform
from ..settings import LOOKING_DOWN
from .reader import CAMERA_INFO, IMAGE, TF, TF_MESSAGE, TF_STATIC
from .writer import BagWriter

#: Where the sample bags start (fixed, so that a bag made twice is the same bag).
START_NS = 1_700_000_000 * 1_000_000_000
#: The camera of the toy frames: the node's default static pose (``settings.LOOKING_DOWN``).
__all__ = ["LOOKING_DOWN", "START_NS", "CameraFrame", "camera_info_msg", "default_camera",
           "image_msg", "synth_table_frames", "tf_msg", "toy_table_frames", "write_camera_bag"]


@dataclass(frozen=True)
class CameraFrame:
    """One rendered frame: RGB uint8 (HxWx3), its camera, the camera's pose and its stamp.

    ``camera_pose`` maps the optical frame (``camera.frame_id``) into the world frame.
    """

    rgb: np.ndarray
    camera: CameraModel
    camera_pose: Transform
    stamp_ns: int


def _time(ts: Any, stamp_ns: int) -> Any:
    return ts.types["builtin_interfaces/msg/Time"](sec=stamp_ns // 1_000_000_000,
                                                   nanosec=stamp_ns % 1_000_000_000)


def _header(ts: Any, stamp_ns: int, frame_id: str) -> Any:
    return ts.types["std_msgs/msg/Header"](stamp=_time(ts, stamp_ns), frame_id=frame_id)


def image_msg(ts: Any, frame: CameraFrame) -> Any:
    """The frame as a rosbags sensor_msgs/Image (rgb8)."""
    rgb = np.ascontiguousarray(frame.rgb, dtype=np.uint8)
    h, w = rgb.shape[:2]
    return ts.types[IMAGE](header=_header(ts, frame.stamp_ns, frame.camera.frame_id), height=h,
                           width=w, encoding="rgb8", is_bigendian=0, step=w * 3,
                           data=rgb.reshape(-1))


def camera_info_msg(ts: Any, camera: CameraModel, stamp_ns: int) -> Any:
    """A rosbags sensor_msgs/CameraInfo (plumb_bob) of a camera model."""
    k = np.array([camera.fx, 0, camera.cx, 0, camera.fy, camera.cy, 0, 0, 1], np.float64)
    p = np.array([camera.fx, 0, camera.cx, 0, 0, camera.fy, camera.cy, 0, 0, 0, 1, 0],
                 np.float64)
    d = np.zeros(5) if not camera.distortion else np.array(camera.distortion, np.float64)
    roi = ts.types["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0,
                                                       width=0, do_rectify=False)
    return ts.types[CAMERA_INFO](header=_header(ts, stamp_ns, camera.frame_id),
                                 height=camera.height, width=camera.width,
                                 distortion_model="plumb_bob", d=d, k=k,
                                 r=np.eye(3).reshape(-1), p=p, binning_x=0, binning_y=0,
                                 roi=roi)


def tf_msg(ts: Any, pose: Transform, parent: str, child: str, stamp_ns: int) -> Any:
    """A rosbags tf2_msgs/TFMessage holding one transform (child into parent)."""
    g = "geometry_msgs/msg/"
    tr = ts.types[g + "Transform"](translation=ts.types[g + "Vector3"](*pose.translation),
                                   rotation=ts.types[g + "Quaternion"](*pose.rotation))
    stamped = ts.types[g + "TransformStamped"](header=_header(ts, stamp_ns, parent),
                                               child_frame_id=child, transform=tr)
    return ts.types[TF_MESSAGE](transforms=[stamped])


def write_camera_bag(path: str | Path, frames: Iterable[CameraFrame],
                     world_frame: str = "base_link",
                     image_topic: str = "/camera/image_raw",
                     info_topic: str = "/camera/camera_info",
                     storage: str = "sqlite3") -> int:
    """Write frames as a rosbag2 (version 8); returns the number of frames written.

    A camera whose pose never changes is written once on ``/tf_static`` (transient-local);
    a moving one on ``/tf`` with every frame.
    """
    frames = list(frames)
    if not frames:
        raise ValueError("no frames to write")
    static = all(f.camera_pose == frames[0].camera_pose for f in frames)
    with BagWriter(path, storage) as bag:
        ts = bag.typestore
        bag.topic(image_topic, IMAGE)
        bag.topic(info_topic, CAMERA_INFO)
        bag.topic(TF_STATIC if static else TF, TF_MESSAGE, latched=static, depth=1 if static
                  else 100)
        for i, f in enumerate(frames):
            child = f.camera.frame_id
            if not static or i == 0:
                bag.write_msg(TF_STATIC if static else TF, f.stamp_ns,
                              tf_msg(ts, f.camera_pose, world_frame, child, f.stamp_ns))
            bag.write_msg(info_topic, f.stamp_ns, camera_info_msg(ts, f.camera, f.stamp_ns))
            bag.write_msg(image_topic, f.stamp_ns, image_msg(ts, f))
    return len(frames)


# --- frames drawn with OpenCV ---------------------------------------------------------------------

def default_camera(width: int = 320, height: int = 240, hfov_deg: float = 60.0,
                   frame_id: str = "camera_optical_frame") -> CameraModel:
    """A pinhole camera of the given size and horizontal field of view, centred."""
    f = width / 2 / math.tan(math.radians(hfov_deg) / 2)
    return CameraModel(f, f, (width - 1) / 2, (height - 1) / 2, width, height, frame_id)


def _table(camera: CameraModel, rng: np.random.Generator) -> np.ndarray:
    base = np.array([170, 130, 90], np.float32)            # wood, RGB
    grain = rng.normal(0, 6, (camera.height, 1, 1)).astype(np.float32)
    noise = rng.normal(0, 4, (camera.height, camera.width, 1)).astype(np.float32)
    return np.clip(base + grain + noise, 0, 255).astype(np.uint8)


def toy_table_frames(n: int = 20, fps: float = 10.0, camera: CameraModel | None = None,
                     pose: Transform = LOOKING_DOWN, seed: int = 0) -> Iterator[CameraFrame]:
    """``n`` frames of a few coloured objects (boxes, a cylinder seen from above) on a table.

    Objects are placed in metres on the table plane (z = 0 of the world) and drawn where the
    camera sees them, drifting slowly across the table from frame to frame.
    """
    camera = camera or default_camera()
    rng = np.random.default_rng(seed)
    table = _table(camera, rng)
    world_to_cam = pose.inverse()
    colours = [(200, 40, 40), (40, 160, 60), (50, 80, 200), (230, 200, 40)]
    objects = [(rng.uniform(-0.12, 0.12), rng.uniform(-0.08, 0.08), rng.uniform(0, math.pi),
                rng.uniform(0.03, 0.08), rng.uniform(0.02, 0.04), i % 2 == 1)
               for i in range(3)]
    for i in range(n):
        img = table.copy()
        for j, (x, y, yaw, length, width, round_) in enumerate(objects):
            x += 0.004 * i
            c, s = math.cos(yaw + 0.02 * i), math.sin(yaw + 0.02 * i)
            if round_:
                pts = [(x + length / 2 * math.cos(a), y + length / 2 * math.sin(a), 0.0)
                       for a in np.linspace(0, 2 * math.pi, 24, endpoint=False)]
            else:
                pts = [(x + c * u - s * v, y + s * u + c * v, 0.0)
                       for u, v in ((-length / 2, -width / 2), (length / 2, -width / 2),
                                    (length / 2, width / 2), (-length / 2, width / 2))]
            px = camera.project(world_to_cam.apply(np.array(pts)))
            cv2.fillPoly(img, [np.round(px * 4).astype(np.int32)], colours[j % len(colours)],
                         lineType=cv2.LINE_AA, shift=2)
        yield CameraFrame(img, camera, pose, START_NS + int(round(i * 1e9 / fps)))


# --- frames rendered by the synthetic data engine ---------------------------------------------

def synth_table_frames(objects: int = 6, frames_per_object: int = 4, fps: float = 10.0,
                       width: int = 320, height: int = 240, height_m: float = 0.7,
                       view_m: float = 0.25, seed: int = 0,
                       frame_id: str = "camera_optical_frame") -> Iterator[CameraFrame]:
    """Frames of a static camera ``height_m`` above the table, looking straight down.

    ``objects`` separate scenes of one object each, dropped at the table origin, each with
    the generator's domain randomisation (object, table look, light) and seen for
    ``frames_per_object`` frames under slightly changing light (the object does not move).
    The field of view shows ``view_m`` metres of table across the image's short side, so
    objects (5-15 cm) fill the network's centre crop about as much as in the generated
    training data.
    """
    from dataclasses import replace

    from ..synth.render import look_down_pose, render_view
    from ..synth.scene import build_scene, connect, sample_object, sample_view

    fov = math.degrees(2 * math.atan(view_m / 2 / height_m))
    if height > width:      # the short side is the width: convert to the vertical FOV
        fov = math.degrees(2 * math.atan(math.tan(math.radians(fov) / 2) * height / width))
    camera = k = CameraModel.from_fov(width, height, fov, frame_id)
    t_world_camera = look_down_pose(np.zeros(3), height_m)
    pose = Transform.from_matrix(t_world_camera)
    client = connect()
    rng = np.random.default_rng(seed)
    try:
        for i in range(objects):
            spec = sample_view(rng)
            scene = build_scene(client, sample_object(rng), replace(spec, drop_xy=(0.0, 0.0)))
            for j in range(frames_per_object):
                d = np.asarray(spec.lighting.direction) + rng.normal(0, 0.1, 3)
                light = replace(spec.lighting, direction=(float(d[0]), float(d[1]), float(d[2])))
                view = render_view(scene, k, t_world_camera, light, label=False)
                n = i * frames_per_object + j
                yield CameraFrame(view.rgb, camera, pose, START_NS + int(round(n * 1e9 / fps)))
    finally:
        import pybullet

        pybullet.disconnect(client)
