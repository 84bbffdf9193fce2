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
from . import messages


def decode(msg: Image | CompressedImage) -> np.ndarray:
    """The RGB array of an image message; FrameError with the node's reason when it fails."""
    try:
        if isinstance(msg, CompressedImage):
            return messages.compressed_to_rgb(msg)
        return messages.image_to_rgb(msg)
    except messages.UnsupportedEncoding as exc:
        raise FrameError("unsupported_encoding", str(exc)) from None
    except ImageError as exc:
        raise FrameError("bad_image", str(exc)) from None


def camera_of(info: CameraInfo | None) -> CameraModel:
    """The camera model of a CameraInfo; FrameError when missing or unusable."""
    if info is None:
        raise FrameError("no_camera_info", "no CameraInfo received on 'camera_info' yet")
    try:
        return messages.camera_model(info)
    except ProjectionError as exc:
        raise FrameError("bad_intrinsics", f"CameraInfo: {exc}") from None
