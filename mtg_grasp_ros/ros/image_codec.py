"""Images, depth images and cameras to and from ROS 2 messages (sensor_msgs Image,
CompressedImage, CameraInfo), with the checks that name what is wrong with a message.

Image conversion goes through cv_bridge when it is importable, else through ``rosbags-image``
(:data:`IMAGE_BACKEND` says which); compressed images (PNG, JPEG) have their declared size
checked first (:data:`MAX_PIXELS`), then PNGs are decoded with ``cv2.imdecode`` and JPEGs
strictly with ``simplejpeg`` (``cv2.imdecode`` where it is not installed).
"""

from __future__ import annotations

import array
import math
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from ..preprocess import ENCODINGS, ImageError, to_rgb
from ..projection import CameraModel, ProjectionError
from .grasp_encoders import header

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

#: Depth encodings accepted by :func:`depth_to_metres`.
DEPTH_ENCODINGS: tuple[str, ...] = ("16UC1", "32FC1")
#: The most pixels a compressed image may declare (its header is read before decoding): 8K
#: video is 33 MP.
MAX_PIXELS = 50_000_000
_BYTES_PER_PIXEL = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1, "16UC1": 2,
                    "32FC1": 4}


class UnsupportedEncoding(ImageError):
    """An image whose encoding the node does not take (the message names it)."""


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
