"""Image and CameraInfo messages to the frame pipeline's inputs, with the node's bad-frame reasons.

Shared by the node and the offline replay, so a frame that one rejects the other rejects for
the same reason.
"""

from __future__ import annotations

import numpy as np
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from ..pipeline import FrameError
from ..preprocess import ImageError
from ..projection import CameraModel, ProjectionError
from . import image_codec


def decode(msg: Image | CompressedImage) -> np.ndarray:
    """The RGB array of an image message; FrameError with the node's reason when it fails."""
    try:
        if isinstance(msg, CompressedImage):
            return image_codec.compressed_to_rgb(msg)
        return image_codec.image_to_rgb(msg)
    except image_codec.UnsupportedEncoding as exc:
        raise FrameError("unsupported_encoding", str(exc)) from None
    except ImageError as exc:
        raise FrameError("bad_image", str(exc)) from None


def camera_of(info: CameraInfo | None) -> CameraModel:
    """The camera model of a CameraInfo; FrameError when missing or unusable."""
    if info is None:
        raise FrameError("no_camera_info", "no CameraInfo received on 'camera_info' yet")
    try:
        return image_codec.camera_model(info)
    except ProjectionError as exc:
        raise FrameError("bad_intrinsics", f"CameraInfo: {exc}") from None


def stamp_ns_of(msg: Image | CompressedImage, reason: str = "bad_stamp") -> int:
    """The header stamp in nanoseconds; FrameError ``reason`` for one that is not a time
    (negative seconds, nanoseconds of a second or more), checked before anything is published.
    """
    stamp = msg.header.stamp
    if stamp.sec < 0 or not 0 <= stamp.nanosec < 1_000_000_000:
        raise FrameError(reason, f"{type(msg).__name__} header stamp {stamp.sec} s "
                         f"{stamp.nanosec} ns is not a valid time (negative, or nanosec >= 1e9)")
    return stamp.sec * 1_000_000_000 + stamp.nanosec
