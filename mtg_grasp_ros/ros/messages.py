"""ROS 2 messages to and from the core's values: images, camera models, grasp poses, markers.

Shared by the node (``mtg_grasp_ros.ros.node``) and the offline bag replay, so that a replayed bag
holds exactly the messages the node publishes. No node, no publishers here: only functions
from values to messages and back. Stamps are ``builtin_interfaces/Time`` messages.

``grasp_info`` layout (std_msgs/Float32MultiArray, row-major, one row per candidate, best
first)::

    layout.dim[0]: label "candidates", size N, stride 7 N
    layout.dim[1]: label "quality,width_m,u,v,angle_rad,width_px,depth_m", size 7, stride 7

``u, v`` are the grasp centre in source-image pixels (column, row), ``angle_rad`` the closing
direction in the image (see ``grasp.py``), ``depth_m`` the centre's distance along the optical
axis. Read it back with :func:`grasp_info_rows`. ``grasp_info`` has no header: it stays for
existing consumers; ``grasps`` carries the same and more with the poses' header.

``grasps`` (sensor_msgs/PointCloud2, one point per candidate, best first, header = the
image's stamp and target_frame) holds everything a grasp planner needs in one stamped message,
with named float32 fields (:data:`GRASPS_FIELDS`): the tool pose ``x y z qx qy qz qw``, the
pre-grasp position ``pre_x pre_y pre_z`` (same orientation), ``width`` (m), ``quality``, and
the approach direction ``ax ay az``. Read it with :func:`grasps_rows` or
``sensor_msgs_py.point_cloud2.read_points``. ``grasp_candidates`` / ``pregrasp_candidates``
(PoseArray) hold the same poses with the same header, for RViz and MoveIt.

Image conversion goes through cv_bridge when it is importable, else through ``rosbags-image``
(:data:`IMAGE_BACKEND` says which); compressed images (PNG, JPEG) have their declared size
checked first (:data:`MAX_PIXELS`), then PNGs are decoded with ``cv2.imdecode`` and JPEGs
strictly with ``simplejpeg`` (``cv2.imdecode`` where it is not installed).
"""

from __future__ import annotations

import array
import math
from collections.abc import Collection, Sequence
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point, Pose, PoseArray, PoseStamped, Quaternion, Vector3
from geometry_msgs.msg import Transform as TransformMsg
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2, PointField
from std_msgs.msg import ColorRGBA, Float32MultiArray, Header, MultiArrayDimension, MultiArrayLayout
from visualization_msgs.msg import Marker, MarkerArray

from ..preprocess import ENCODINGS, ImageError, to_rgb
from ..projection import CameraModel, GraspPose, ProjectionError, ToolFrame, Transform

try:  # strict JPEG decoding (libjpeg-turbo, stop on warnings); cv2.imdecode where missing
    import simplejpeg as _simplejpeg
except ImportError:  # pragma: no cover - machine-dependent
    _simplejpeg = None

try:  # ROS 2's cv_bridge, where a ROS install provides it
    from cv_bridge import CvBridge, CvBridgeError
    _BRIDGE: CvBridge | None = CvBridge()
    IMAGE_BACKEND = "cv_bridge"
except (ImportError, AttributeError, RuntimeError):  # pragma: no cover - machine-dependent
    # not installed, or built against another numpy (Humble's cv_bridge and numpy 2)
    _BRIDGE, CvBridgeError = None, ImageError
    IMAGE_BACKEND = "rosbags-image"

#: Column names of one ``grasp_info`` row, in order.
GRASP_INFO_COLUMNS: tuple[str, ...] = ("quality", "width_m", "u", "v", "angle_rad",
                                       "width_px", "depth_m")
#: Fields of one ``grasps`` point (float32 each), in order.
GRASPS_FIELDS: tuple[str, ...] = ("x", "y", "z", "qx", "qy", "qz", "qw", "pre_x", "pre_y",
                                  "pre_z", "width", "quality", "ax", "ay", "az")
#: The ``grasps`` cloud's field descriptions, made once: every cloud holds the same ones.
_GRASPS_POINT_FIELDS = tuple(PointField(name=n, offset=4 * i, datatype=PointField.FLOAT32,
                                        count=1) for i, n in enumerate(GRASPS_FIELDS))
#: Depth encodings accepted by :func:`depth_to_metres`.
DEPTH_ENCODINGS: tuple[str, ...] = ("16UC1", "32FC1")
#: The most pixels a compressed image may declare (its header is read before decoding): 8K
#: video is 33 MP.
MAX_PIXELS = 50_000_000
_BYTES_PER_PIXEL = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1, "16UC1": 2,
                    "32FC1": 4}


class UnsupportedEncoding(ImageError):
    """An image whose encoding the node does not take (the message names it)."""


# --- headers, poses, transforms -----------------------------------------------------------------

def header(frame_id: str, stamp: Time) -> Header:
    """A std_msgs/Header."""
    return Header(stamp=stamp, frame_id=frame_id)


def pose_msg(pose: GraspPose) -> Pose:
    """geometry_msgs/Pose of a grasp (the gripper frame of ``projection.py``)."""
    p, q = (float(v) for v in pose.position), (float(v) for v in pose.orientation)
    x, y, z = p
    qx, qy, qz, qw = q
    return Pose(position=Point(x=x, y=y, z=z), orientation=Quaternion(x=qx, y=qy, z=qz, w=qw))


def transform_pose_msg(t: Transform) -> Pose:
    """geometry_msgs/Pose of a frame's pose held as a Transform (frame -> parent)."""
    x, y, z = (float(v) for v in t.translation)
    qx, qy, qz, qw = (float(v) for v in t.rotation)
    return Pose(position=Point(x=x, y=y, z=z), orientation=Quaternion(x=qx, y=qy, z=qz, w=qw))


def pose_stamped(pose: GraspPose, frame_id: str, stamp: Time,
                 tool: ToolFrame | None = None) -> PoseStamped:
    """geometry_msgs/PoseStamped of one grasp: the tool frame's pose (default: fingertip centre)."""
    return PoseStamped(header=header(frame_id, stamp),
                       pose=transform_pose_msg((tool or ToolFrame()).pose(pose)))


def _tool_poses(poses: Sequence[GraspPose], tool: ToolFrame | None
                ) -> list[tuple[Transform, Transform]]:
    """The tool frame's (grasp, pre-grasp) poses of each grasp: worked out once per frame for
    all the messages that carry them.
    """
    tool = tool or ToolFrame()
    return [tool.poses(p) for p in poses]


def pose_array(poses: Sequence[GraspPose], frame_id: str, stamp: Time,
               tool: ToolFrame | None = None, pregrasp: bool = False) -> PoseArray:
    """geometry_msgs/PoseArray of the tool frame's grasp (or pre-grasp) poses, best first."""
    tool = tool or ToolFrame()
    pose_of = tool.pregrasp if pregrasp else tool.pose
    return _pose_array([pose_of(p) for p in poses], frame_id, stamp)


def _pose_array(frames: Sequence[Transform], frame_id: str, stamp: Time) -> PoseArray:
    """A PoseArray of frames' poses already in the tool frame."""
    return PoseArray(header=header(frame_id, stamp),
                     poses=[transform_pose_msg(t) for t in frames])


def grasps_cloud(poses: Sequence[GraspPose], frame_id: str, stamp: Time,
                 tool: ToolFrame | None = None) -> PointCloud2:
    """sensor_msgs/PointCloud2 with one point of :data:`GRASPS_FIELDS` per grasp, best first."""
    return _grasps_cloud(poses, _tool_poses(poses, tool), frame_id, stamp)


def _grasps_cloud(poses: Sequence[GraspPose], tool_poses: Sequence[tuple[Transform, Transform]],
                  frame_id: str, stamp: Time) -> PointCloud2:
    """:func:`grasps_cloud` with the (grasp, pre-grasp) tool poses already worked out."""
    rows = []
    for p, (at, pre) in zip(poses, tool_poses, strict=True):
        rows.append((*at.translation, *at.rotation, *pre.translation, p.width_m, p.quality,
                     *p.axes[:, 2]))
    data = np.asarray(rows, np.float32).reshape(-1, len(GRASPS_FIELDS))
    fields = list(_GRASPS_POINT_FIELDS)
    step = 4 * len(GRASPS_FIELDS)
    return PointCloud2(header=header(frame_id, stamp), height=1, width=len(data), fields=fields,
                       is_bigendian=False, point_step=step, row_step=step * len(data),
                       data=array.array("B", data.tobytes()), is_dense=True)


def grasps_rows(msg: PointCloud2) -> dict[str, np.ndarray]:
    """The ``grasps`` cloud's columns by field name (float32 arrays, one value per grasp)."""
    offsets = {f.name: f.offset for f in msg.fields if f.datatype == PointField.FLOAT32}
    missing = [n for n in GRASPS_FIELDS if n not in offsets]
    if missing:
        raise ValueError(f"not a grasps cloud: fields {missing} missing")
    n = msg.width * msg.height
    raw = np.frombuffer(bytes(msg.data), np.uint8)[:n * msg.point_step].reshape(n, msg.point_step)
    order = ">" if msg.is_bigendian else "<"
    return {name: raw[:, offsets[name]:offsets[name] + 4].copy().view(f"{order}f4").ravel()
            for name in GRASPS_FIELDS}


def transform_from_msg(t: TransformMsg) -> Transform:
    """A core Transform from geometry_msgs/Transform (e.g. TransformStamped.transform)."""
    return Transform((t.translation.x, t.translation.y, t.translation.z),
                     (t.rotation.x, t.rotation.y, t.rotation.z, t.rotation.w))


def transform_msg(t: Transform) -> TransformMsg:
    """geometry_msgs/Transform of a core Transform."""
    x, y, z = (float(v) for v in t.translation)
    qx, qy, qz, qw = (float(v) for v in t.rotation)
    return TransformMsg(translation=Vector3(x=x, y=y, z=z),
                        rotation=Quaternion(x=qx, y=qy, z=qz, w=qw))


# --- grasp_info ----------------------------------------------------------------------------------

def grasp_rows(poses: Sequence[GraspPose]) -> np.ndarray:
    """(N, 7) float32 rows in :data:`GRASP_INFO_COLUMNS` order."""
    rows = [(p.quality, p.width_m, p.pixel.x, p.pixel.y, p.pixel.angle, p.pixel.width,
             p.depth_m) for p in poses]
    return np.asarray(rows, np.float32).reshape(-1, len(GRASP_INFO_COLUMNS))


def grasp_info(poses: Sequence[GraspPose]) -> Float32MultiArray:
    """One labelled row per candidate (see the module docstring for the layout)."""
    rows = grasp_rows(poses)
    n, c = rows.shape
    layout = MultiArrayLayout(dim=[
        MultiArrayDimension(label="candidates", size=n, stride=n * c),
        MultiArrayDimension(label=",".join(GRASP_INFO_COLUMNS), size=c, stride=c)],
        data_offset=0)
    return Float32MultiArray(layout=layout, data=array.array("f", rows.tobytes()))


def grasp_info_rows(msg: Float32MultiArray) -> np.ndarray:
    """The (N, 7) rows of a ``grasp_info`` message; checks the layout's labels."""
    dims = msg.layout.dim
    if len(dims) != 2 or dims[1].label != ",".join(GRASP_INFO_COLUMNS):
        raise ValueError(f"not a grasp_info layout: {[d.label for d in dims]}")
    data = np.asarray(msg.data, np.float32)[msg.layout.data_offset:]
    return data[:dims[0].size * dims[1].size].reshape(dims[0].size, dims[1].size)


# --- markers -------------------------------------------------------------------------------------

def quality_colour(quality: float, alpha: float = 0.9) -> ColorRGBA:
    """Red (quality 0) through yellow to green (quality 1)."""
    q = min(max(float(quality), 0.0), 1.0) if math.isfinite(quality) else 0.0
    return ColorRGBA(r=min(1.0, 2.0 * (1.0 - q)), g=min(1.0, 2.0 * q), b=0.1, a=alpha)


def markers(poses: Sequence[GraspPose], frame_id: str, stamp: Time, ns: str = "grasps",
            finger_length: float = 0.04, jaw_thickness: float = 0.008,
            jaw_depth: float = 0.02, approach_length: float = 0.06) -> MarkerArray:
    """The gripper at each candidate: two jaw boxes and an approach arrow, coloured by quality.

    The first marker is a DELETEALL, so that candidates of the previous frame disappear. The
    jaws stand at +/- (width/2 + thickness/2) along the gripper's x (closing) axis, reach
    ``finger_length`` back along -z from the grasp centre; the arrow ends at the palm and points
    along +z, the approach direction.
    """
    out = MarkerArray()
    out.markers.append(Marker(header=header(frame_id, stamp), ns=ns, action=Marker.DELETEALL))
    for i, p in enumerate(poses):
        axes = p.axes
        x_axis, z_axis = axes[:, 0], axes[:, 2]
        colour = quality_colour(p.quality)
        for side, k in ((-1.0, 0), (1.0, 1)):
            centre = p.position + side * (p.width_m / 2 + jaw_thickness / 2) * x_axis \
                - z_axis * finger_length / 2
            jaw = Marker(header=header(frame_id, stamp), ns=ns, id=3 * i + k, type=Marker.CUBE,
                         action=Marker.ADD, color=colour,
                         scale=Vector3(x=jaw_thickness, y=jaw_depth, z=finger_length))
            jaw.pose = pose_msg(p)
            jaw.pose.position = Point(x=float(centre[0]), y=float(centre[1]), z=float(centre[2]))
            out.markers.append(jaw)
        palm = p.position - z_axis * finger_length
        tail = palm - z_axis * approach_length
        arrow = Marker(header=header(frame_id, stamp), ns=ns, id=3 * i + 2, type=Marker.ARROW,
                       action=Marker.ADD, color=colour,
                       scale=Vector3(x=0.006, y=0.012, z=0.015),
                       points=[Point(x=float(a), y=float(b), z=float(c)) for a, b, c in
                               (tail, palm)])
        arrow.pose.orientation.w = 1.0
        out.markers.append(arrow)
    return out


#: The outputs of :func:`grasp_messages`, in the order they are made and published.
GRASP_OUTPUTS: tuple[str, ...] = ("grasp_pose", "grasp_candidates", "pregrasp_candidates",
                                  "grasps", "grasp_info", "markers")


def grasp_messages(poses: Sequence[GraspPose], frame_id: str, stamp: Time,
                   with_markers: bool = True, tool: ToolFrame | None = None,
                   only: Collection[str] | None = None) -> dict[str, object]:
    """Everything the node publishes for one frame's poses, by output name (``~/<name>``):
    ``grasp_pose`` (only when there is a grasp), ``grasp_candidates``, ``pregrasp_candidates``,
    ``grasps``, ``grasp_info`` and ``markers``; poses are the ``tool`` frame's. The node and
    the bag replay both publish / write exactly these. ``only``: just these outputs (the node
    makes only those that have subscribers; None: all).
    """
    if only is not None and (unknown := set(only) - set(GRASP_OUTPUTS)):
        raise ValueError(f"unknown outputs {sorted(unknown)}; expected some of {GRASP_OUTPUTS}")
    want = set(GRASP_OUTPUTS if only is None else only)
    if not with_markers:
        want.discard("markers")
    out: dict[str, object] = {}
    tool_poses = _tool_poses(poses, tool) if want & {
        "grasp_pose", "grasp_candidates", "pregrasp_candidates", "grasps"} else []
    if poses and "grasp_pose" in want:
        out["grasp_pose"] = PoseStamped(header=header(frame_id, stamp),
                                        pose=transform_pose_msg(tool_poses[0][0]))
    if "grasp_candidates" in want:
        out["grasp_candidates"] = _pose_array([at for at, _ in tool_poses], frame_id, stamp)
    if "pregrasp_candidates" in want:
        out["pregrasp_candidates"] = _pose_array([pre for _, pre in tool_poses], frame_id,
                                                 stamp)
    if "grasps" in want:
        out["grasps"] = _grasps_cloud(poses, tool_poses, frame_id, stamp)
    if "grasp_info" in want:
        out["grasp_info"] = grasp_info(poses)
    if "markers" in want:
        out["markers"] = markers(poses, frame_id, stamp)
    return out


# --- images --------------------------------------------------------------------------------------

def _check_size(msg: Image, bpp: int) -> None:
    """Refuse zero-size images and data whose length is not height x step (step >= width x
    bytes per pixel).
    """
    if msg.height == 0 or msg.width == 0:
        raise ImageError(f"{msg.encoding} image is {msg.width}x{msg.height}: zero size")
    if msg.step < msg.width * bpp or len(msg.data) != msg.height * msg.step:
        raise ImageError(f"{msg.encoding} image {msg.width}x{msg.height} with step {msg.step} "
                         f"needs {msg.height * max(msg.step, msg.width * bpp)} bytes, "
                         f"has {len(msg.data)}")


def _array_rosbags(msg: Image) -> np.ndarray:
    """sensor_msgs/Image to an array with rosbags-image, row padding (step) removed first."""
    from rosbags.image import image_to_cvimage

    bpp = _BYTES_PER_PIXEL[msg.encoding]
    row = msg.width * bpp
    if msg.step != row or len(msg.data) != msg.height * row:
        data = np.frombuffer(msg.data, np.uint8)[:msg.height * msg.step]
        data = np.ascontiguousarray(data.reshape(msg.height, msg.step)[:, :row])
        msg = SimpleNamespace(encoding=msg.encoding, height=msg.height, width=msg.width,
                              is_bigendian=msg.is_bigendian, data=data.reshape(-1))
    return image_to_cvimage(msg)


def _array_cv_bridge(msg: Image) -> np.ndarray:
    assert _BRIDGE is not None, "cv_bridge is not installed"
    try:
        return _BRIDGE.imgmsg_to_cv2(msg, desired_encoding="passthrough")
    except CvBridgeError as exc:
        raise ImageError(f"{msg.encoding} image {msg.width}x{msg.height}: {exc}") from None


def image_to_array(msg: Image, backend: str | None = None) -> np.ndarray:
    """The pixels of an Image in its own encoding (rgb8 ... mono8, 16UC1, 32FC1), unpadded.

    ``backend`` is ``cv_bridge`` or ``rosbags-image``; default :data:`IMAGE_BACKEND`.
    """
    if msg.encoding not in _BYTES_PER_PIXEL:
        raise UnsupportedEncoding(f"unsupported encoding {msg.encoding!r} "
                                  f"({msg.width}x{msg.height}); expected one of "
                                  f"{tuple(_BYTES_PER_PIXEL)}")
    _check_size(msg, _BYTES_PER_PIXEL[msg.encoding])
    backend = backend or IMAGE_BACKEND
    return _array_cv_bridge(msg) if backend == "cv_bridge" else _array_rosbags(msg)


def image_to_rgb(msg: Image, backend: str | None = None) -> np.ndarray:
    """HxWx3 uint8 RGB from an rgb8, bgr8, rgba8, bgra8 or mono8 Image."""
    if msg.encoding not in ENCODINGS:
        raise UnsupportedEncoding(f"unsupported encoding {msg.encoding!r} "
                                  f"({msg.width}x{msg.height}); expected one of {ENCODINGS}")
    return to_rgb(image_to_array(msg, backend), msg.encoding)


def compressed_size(data: bytes) -> tuple[str, int, int]:
    """(format, width, height) from a PNG's or JPEG's header, without decoding the pixels.

    Raises ImageError for data that is neither, or whose header is cut short.
    """
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise ImageError("PNG without its IHDR header")
        return "png", int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:2] != b"\xff\xd8":
        raise ImageError(f"neither PNG nor JPEG (starts with {bytes(data[:8])!r})")
    i = 2
    while i + 4 <= len(data):              # walk the marker segments up to a start of frame
        if data[i] != 0xFF:
            raise ImageError(f"JPEG header corrupt at byte {i}")
        marker = data[i + 1]
        if marker == 0xFF:                 # fill byte
            i += 1
            continue
        length = int.from_bytes(data[i + 2:i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):   # SOFn
            if i + 9 > len(data):
                break
            return "jpeg", int.from_bytes(data[i + 7:i + 9], "big"), \
                int.from_bytes(data[i + 5:i + 7], "big")
        if marker == 0xDA or length < 2:   # scan data before any frame header
            break
        i += 2 + length
    raise ImageError("JPEG without a frame header (SOF) before its image data")


def compressed_to_rgb(msg: CompressedImage, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """HxWx3 uint8 RGB from a CompressedImage (jpeg, png; colour or mono).

    The size declared in the header is checked against ``max_pixels`` before anything is
    decoded (a small PNG can declare 20000x20000). JPEGs are decoded strictly where simplejpeg
    is installed: libjpeg-turbo stops on its warnings (corrupt entropy data, extraneous bytes,
    premature end), which OpenCV only prints while it returns the damaged image.
    """
    data = bytes(msg.data)
    if len(data) == 0:
        raise ImageError(f"compressed image ({msg.format!r}) has no data")
    try:
        kind, w, h = compressed_size(data)
    except ImageError as exc:
        raise ImageError(f"compressed image ({msg.format!r}, {len(data)} bytes) cannot be "
                         f"decoded: {exc}") from None
    if w == 0 or h == 0 or w * h > max_pixels:
        raise ImageError(f"compressed image ({kind}) declares {w}x{h} pixels; at most "
                         f"{max_pixels} (and none zero) are decoded")
    if kind == "jpeg" and _simplejpeg is not None:
        try:
            rgb = _simplejpeg.decode_jpeg(data, colorspace="RGB", strict=True)
        except ValueError as exc:
            raise ImageError(f"corrupt JPEG ({len(data)} bytes): {exc}") from None
        return to_rgb(rgb, "rgb8")
    img = cv2.imdecode(np.frombuffer(data, np.uint8),
                       cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if img is None:
        raise ImageError(f"compressed image ({msg.format!r}, {len(data)} bytes) "
                         f"cannot be decoded")
    return to_rgb(img, "bgr8")


def depth_to_metres(msg: Image, backend: str | None = None) -> np.ndarray:
    """HxW float32 metres from a 16UC1 (millimetres) or 32FC1 (metres) depth Image."""
    if msg.encoding not in DEPTH_ENCODINGS:
        raise UnsupportedEncoding(f"unsupported depth encoding {msg.encoding!r}; expected one "
                                  f"of {DEPTH_ENCODINGS}")
    depth = image_to_array(msg, backend)
    if msg.encoding == "16UC1":
        return depth.astype(np.float32) * np.float32(0.001)
    return np.asarray(depth, np.float32)


def rgb_to_image_msg(rgb: np.ndarray, frame_id: str, stamp: Time,
                     encoding: str = "rgb8") -> Image:
    """An Image message of an HxWx3 (or HxW for mono8 / depth) array in ``encoding``."""
    arr = np.ascontiguousarray(rgb)
    h, w = arr.shape[:2]
    msg = Image(header=header(frame_id, stamp), height=h, width=w, encoding=encoding,
                is_bigendian=0, step=arr.strides[0])
    msg.data = array.array("B", arr.tobytes())
    return msg


def rgb_to_compressed_msg(rgb: np.ndarray, frame_id: str, stamp: Time,
                          fmt: str = "jpeg", quality: int = 90) -> CompressedImage:
    """A CompressedImage (jpeg or png) of an HxWx3 RGB array."""
    ext, opts = (".png", []) if fmt == "png" else (".jpg", [cv2.IMWRITE_JPEG_QUALITY, quality])
    ok, buf = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), opts)
    if not ok:
        raise ImageError(f"cannot encode a {rgb.shape} image as {fmt}")
    return CompressedImage(header=header(frame_id, stamp), format=fmt,
                           data=array.array("B", buf.tobytes()))


# --- cameras -------------------------------------------------------------------------------------

def camera_model(info: CameraInfo) -> CameraModel:
    """The core's CameraModel of the images a CameraInfo describes; ProjectionError when unusable.

    ``k`` holds the intrinsics of the full-resolution ``width`` x ``height`` image. A ``roi``
    (width and height > 0) means the images are that crop: the principal point moves by the
    offset, the size becomes the crop's. ``binning_x/y`` > 1 then divides the size and
    scales the intrinsics. The distortion model must be one of ``DISTORTION_MODELS`` with its
    number of coefficients; an empty model name is accepted only with no (or all-zero)
    coefficients, as a default-constructed CameraInfo has.
    """
    model, d = info.distortion_model, tuple(float(v) for v in info.d)
    if model == "" and not any(d):
        model, d = "plumb_bob", ()
    camera = CameraModel.from_k(checked_k(info.k, info.width, info.height), info.width,
                                info.height, info.header.frame_id, d, model)
    roi = info.roi
    if roi.width > 0 and roi.height > 0:
        if roi.x_offset + roi.width > info.width or roi.y_offset + roi.height > info.height:
            raise ProjectionError(f"roi {roi.width}x{roi.height} at ({roi.x_offset}, "
                                  f"{roi.y_offset}) does not fit the {info.width}x"
                                  f"{info.height} camera")
        camera = replace(camera, cx=camera.cx - roi.x_offset, cy=camera.cy - roi.y_offset,
                         width=roi.width, height=roi.height)
    bx, by = max(int(info.binning_x), 1), max(int(info.binning_y), 1)
    if bx > 1 or by > 1:
        w, h = camera.width // bx, camera.height // by
        if w == 0 or h == 0:
            raise ProjectionError(f"binning {bx}x{by} leaves no pixel of the "
                                  f"{camera.width}x{camera.height} camera")
        camera = replace(camera, fx=camera.fx / bx, fy=camera.fy / by,
                         cx=(camera.cx + 0.5) / bx - 0.5, cy=(camera.cy + 0.5) / by - 0.5,
                         width=w, height=h)
    return camera


def checked_k(k: Any, width: int, height: int) -> list[float]:
    """CameraInfo.k as a pinhole K with K[8] = 1; ProjectionError naming the value for one
    that no pinhole camera has: NaN or infinity, K[8] <= 0, a bottom row other than
    [0, 0, K[8]], K[3] != 0, skew K[1] != 0 (not modelled), or a principal point more than
    one image size outside the image. A K scaled by K[8] (homogeneous) is divided by it.
    """
    k = [float(v) for v in k]
    if len(k) != 9:
        raise ProjectionError(f"K must have 9 values, got {len(k)}")
    bad = [i for i, v in enumerate(k) if not math.isfinite(v)]
    if bad:
        raise ProjectionError(f"K[{bad[0]}] is {k[bad[0]]}: K must be finite")
    if k[8] <= 0:
        raise ProjectionError(f"K[8] is {k[8]:g}: it must be > 0 (1 for a pinhole K)")
    k = [v / k[8] for v in k]
    for i in (3, 6, 7):
        if k[i] != 0:
            raise ProjectionError(f"K[{i}] is {k[i]:g}: a pinhole K has 0 there "
                                  f"([fx 0 cx; 0 fy cy; 0 0 1])")
    if k[1] != 0:
        raise ProjectionError(f"K[1] (skew) is {k[1]:g}: cameras with skew are not modelled; "
                              f"K[1] must be 0")
    for i, side, name in ((2, width, "cx"), (5, height, "cy")):
        if side > 0 and not -side <= k[i] <= 2 * side:
            raise ProjectionError(f"K[{i}] ({name}) is {k[i]:g}: more than one image size "
                                  f"outside the {width}x{height} image")
    return k


def camera_info_msg(camera: CameraModel, stamp: Time) -> CameraInfo:
    """A CameraInfo (plumb_bob, no rectification) of a CameraModel, e.g. for tests and bags."""
    k = [camera.fx, 0.0, camera.cx, 0.0, camera.fy, camera.cy, 0.0, 0.0, 1.0]
    p = [camera.fx, 0.0, camera.cx, 0.0, 0.0, camera.fy, camera.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    d = list(camera.distortion) or [0.0] * 5
    return CameraInfo(header=header(camera.frame_id, stamp), width=camera.width,
                      height=camera.height, distortion_model="plumb_bob", d=d, k=k,
                      r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0], p=p)
