"""The latest depth image of ``depth_source: depth_topic``, checked against the colour image
it is used with: present, near in time (``depth_max_age``), in the same optical frame (a depth
image in another frame is not aligned with the colour pixels), and convertible to metres.
"""

from __future__ import annotations

import numpy as np
from sensor_msgs.msg import Image

from ..pipeline import FrameError
from ..preprocess import ImageError
from . import image_codec
from .frame_input import stamp_ns_of


class DepthLookup:
    """Holds the latest depth message (:meth:`store`, the subscription callback)."""

    def __init__(self) -> None:
        """No depth image yet."""
        self.msg: Image | None = None

    def store(self, msg: Image) -> None:
        """Keep ``msg`` as the latest depth image."""
        self.msg = msg

    def metres(self, stamp_ns: int, max_age: float, colour_frame: str) -> np.ndarray:
        """The latest depth image in metres for a colour image of ``stamp_ns`` in
        ``colour_frame``; FrameError when missing, unusable, in another frame, or further
        than ``max_age`` seconds (0: any) from the colour image's stamp.
        """
        msg = self.msg
        if msg is None:
            raise FrameError("no_depth", "depth_source is depth_topic but no image on 'depth'")
        age = (stamp_ns - stamp_ns_of(msg, "bad_depth")) * 1e-9
        if max_age > 0 and abs(age) > max_age:
            raise FrameError("bad_depth", f"the depth image's stamp is {age:+.3f} s from the "
                             f"colour image's (depth_max_age {max_age} s)")
        frame = msg.header.frame_id
        if frame and colour_frame and frame != colour_frame:
            raise FrameError("bad_depth", f"the depth image's frame_id {frame!r} is not the "
                             f"colour image's {colour_frame!r}: depth_topic needs depth "
                             f"registered to the colour camera (e.g. aligned_depth_to_color)")
        try:
            return image_codec.depth_to_metres(msg)
        except ImageError as exc:
            raise FrameError("bad_depth", f"{type(msg).__name__}: {exc}") from None
