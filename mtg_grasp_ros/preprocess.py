"""From a camera image to the network input, and from network pixels back to the image.

A :class:`View` is the similarity transform (scale, rotation, translation) that takes a
square window of the source image to the ``size`` x ``size`` network input. Inference uses a
centre crop (or a region of interest); training's crop/zoom/rotate augmentation is a random
View. Both go through :func:`warp` and :func:`normalise`, so the network sees the same
pixels in training, evaluation and on the robot.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .grasp import Grasp
from .model import INPUT_SIZE

#: Encodings accepted by :func:`to_rgb` (sensor_msgs/Image names).
ENCODINGS: tuple[str, ...] = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8")


class ImageError(ValueError):
    """An image that cannot be used; the message names its encoding and shape."""


def to_rgb(image: np.ndarray, encoding: str = "rgb8") -> np.ndarray:
    """An HxWx3 uint8 RGB image from an array in one of :data:`ENCODINGS`."""
    if encoding not in ENCODINGS:
        raise ImageError(f"unsupported encoding {encoding!r}; expected one of {ENCODINGS}")
    image = np.asarray(image)
    channels = 1 if encoding == "mono8" else (4 if encoding in ("rgba8", "bgra8") else 3)
    if image.dtype != np.uint8:
        raise ImageError(f"{encoding} image must be uint8, got {image.dtype}")
    if channels == 1 and image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    expected_ndim = 2 if channels == 1 else 3
    if image.ndim != expected_ndim or (channels > 1 and image.shape[2] != channels) \
            or image.shape[0] < 4 or image.shape[1] < 4:
        raise ImageError(f"{encoding} image has shape {image.shape}; expected "
                         f"{'HxW' if channels == 1 else f'HxWx{channels}'} with H, W >= 4")
    if encoding == "rgb8":
        return image
    code = {"bgr8": cv2.COLOR_BGR2RGB, "rgba8": cv2.COLOR_RGBA2RGB,
            "bgra8": cv2.COLOR_BGRA2RGB, "mono8": cv2.COLOR_GRAY2RGB}[encoding]
    return cv2.cvtColor(image, code)


@dataclass(frozen=True)
class View:
    """A square window of the source image (centre, side, rotation) seen at ``size`` px.

    ``to_net`` maps source pixels to network pixels; ``to_image`` is its inverse. Pixel
    centres are at integer coordinates, as in OpenCV, so an unrotated View is exactly
    ``cv2.resize`` of the crop ``[cy - (side-1)/2 ...]``.
    """

    cx: float
    cy: float
    side: float
    rotation: float = 0.0
    size: int = INPUT_SIZE

    @classmethod
    def centre_crop(cls, image_shape: Sequence[int], size: int = INPUT_SIZE,
                    roi: Sequence[int] | None = None) -> View:
        """The largest centred square of the image, or of ``roi`` = (x, y, width, height)."""
        h, w = int(image_shape[0]), int(image_shape[1])
        x0, y0, rw, rh = (0, 0, w, h) if roi is None else (int(v) for v in roi)
        if rw <= 0 or rh <= 0 or x0 < 0 or y0 < 0 or x0 + rw > w or y0 + rh > h:
            raise ImageError(f"region of interest {tuple(roi or ())} is not inside the "
                             f"{w}x{h} image")
        side = min(rw, rh)
        sx, sy = x0 + (rw - side) // 2, y0 + (rh - side) // 2
        return cls(sx + (side - 1) / 2.0, sy + (side - 1) / 2.0, float(side), 0.0, size)

    @property
    def scale(self) -> float:
        """Network pixels per source pixel."""
        return self.size / self.side

    @property
    def matrix(self) -> np.ndarray:
        """2x3 affine matrix from source pixels to network pixels."""
        k = self.scale
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        a = np.array([[k * c, -k * s], [k * s, k * c]])
        t = np.array([(self.size - 1) / 2.0, (self.size - 1) / 2.0]) - a @ [self.cx, self.cy]
        return np.hstack([a, t[:, None]])

    @property
    def inverse(self) -> np.ndarray:
        """2x3 affine matrix from network pixels to source pixels."""
        return cv2.invertAffineTransform(self.matrix)

    def to_net(self, points: np.ndarray) -> np.ndarray:
        """Source-image points (..., 2) in network-input pixels."""
        p = np.asarray(points, dtype=np.float64)
        return p @ self.matrix[:, :2].T + self.matrix[:, 2]

    def to_image(self, points: np.ndarray) -> np.ndarray:
        """Network-input points (..., 2) in source-image pixels."""
        inv = self.inverse
        p = np.asarray(points, dtype=np.float64)
        return p @ inv[:, :2].T + inv[:, 2]

    def grasp_to_net(self, g: Grasp) -> Grasp:
        """A source-image grasp in network-input pixels."""
        return g.transformed(self.matrix)

    def grasp_to_image(self, g: Grasp) -> Grasp:
        """A network-input grasp in source-image pixels."""
        return g.transformed(self.inverse)

    def crop_box(self) -> tuple[int, int, int] | None:
        """(x0, y0, side) when the View is an unrotated integer crop, else None."""
        x0, y0 = self.cx - (self.side - 1) / 2.0, self.cy - (self.side - 1) / 2.0
        if self.rotation == 0.0 and float(x0).is_integer() and float(y0).is_integer() \
                and float(self.side).is_integer():
            return int(x0), int(y0), int(self.side)
        return None


#: Image types :func:`_shrink` takes (torch's antialiased resize has no other integer type).
_TORCH_DTYPES = {np.dtype(np.uint8): torch.uint8, np.dtype(np.float32): torch.float32}
_SHRINK_DTYPES = tuple(_TORCH_DTYPES)


def _shrink(crop: np.ndarray, size: int, out: np.ndarray | None) -> np.ndarray:
    """A (H, W[, C]) uint8 or float32 crop shrunk to ``size`` x ``size``, antialiased.

    torch's antialiased bilinear resize (a triangle filter as wide as the scale, the
    resampling of PIL and torchvision): 0.4-0.65 ms for the node's 480 -> 300 px RGB crop
    where ``cv2.INTER_AREA`` took 1.4-1.9 ms, the largest of the node's light stages; the
    pixels differ from area averaging by 0.3 grey levels on average (a slightly softer filter).
    """
    # The crop is copied by numpy into a channels_last tensor: channels_last in, so out, and
    # the HWC result is one contiguous block (a strided or NCHW input took 1.3-2.2 ms, as
    # long as INTER_AREA); numpy's copy also takes read-only frames (a ROS message's buffer),
    # which torch.from_numpy warns about.
    h, w = crop.shape[:2]
    c = crop.shape[2] if crop.ndim == 3 else 1
    t = torch.empty((1, c, h, w), dtype=_TORCH_DTYPES[crop.dtype],
                    memory_format=torch.channels_last)
    np.copyto(t.permute(0, 2, 3, 1)[0].numpy().reshape(crop.shape), crop)
    r = F.interpolate(t, size=(size, size), mode="bilinear", antialias=True,
                      align_corners=False)
    res = (r[0].permute(1, 2, 0) if crop.ndim == 3 else r[0, 0]).numpy()
    if out is None:
        return np.ascontiguousarray(res)
    np.copyto(out, res)
    return out


def warp(image: np.ndarray, view: View, nearest: bool = False,
         out: np.ndarray | None = None) -> np.ndarray:
    """The ``size`` x ``size`` network view of ``image`` (any channels, any dtype cv2 takes).

    An unrotated crop inside the image is shrunk with an antialiasing filter (no aliasing
    when shrinking a 1024 px or 1280 px frame; :func:`_shrink`) or enlarged bilinearly;
    anything else uses an affine warp with the edge pixels replicated. ``nearest`` keeps
    label values (masks) unmixed. ``out``: a contiguous size x size array of the image's
    channels and dtype to write into (no allocation per
    frame; the detector's pinned buffer).
    """
    if out is not None and (out.shape[:2] != (view.size, view.size) or out.dtype != image.dtype
                            or out.shape[2:] != image.shape[2:]
                            or not out.flags.c_contiguous):
        raise ImageError(f"output buffer {out.shape} {out.dtype} does not fit a "
                         f"{view.size}x{view.size} view of a {image.shape} {image.dtype} image")
    box = view.crop_box()
    h, w = image.shape[:2]
    if box is not None and box[0] >= 0 and box[1] >= 0 and box[0] + box[2] <= w \
            and box[1] + box[2] <= h:
        x0, y0, side = box
        crop = image[y0:y0 + side, x0:x0 + side]
        if side > view.size and not nearest and image.dtype in _SHRINK_DTYPES:
            return _shrink(crop, view.size, out)
        interp = cv2.INTER_NEAREST if nearest else (
            cv2.INTER_AREA if side > view.size else cv2.INTER_LINEAR)
        return cv2.resize(crop, (view.size, view.size), dst=out, interpolation=interp)
    interp = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    return cv2.warpAffine(image, view.matrix, (view.size, view.size), dst=out, flags=interp,
                          borderMode=cv2.BORDER_REPLICATE)


def normalise(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, H, W, 3) or (H, W, 3) RGB to float (B, 3, H, W): /255, minus each image's mean.

    Done in torch so that on a GPU only uint8 bytes cross the bus.
    """
    if images.ndim == 3:
        images = images.unsqueeze(0)
    x = images.permute(0, 3, 1, 2).float().div_(255.0)
    return x.sub_(x.mean(dim=(1, 2, 3), keepdim=True))      # in place: no second image


def prepare(image: np.ndarray, size: int = INPUT_SIZE, roi: Sequence[int] | None = None,
            device: str | torch.device = "cpu") -> tuple[torch.Tensor, View]:
    """An RGB uint8 image of any size to a (1, 3, size, size) network input and its View."""
    view = View.centre_crop(image.shape, size, roi)
    pixels = np.ascontiguousarray(warp(image, view))
    tensor = torch.from_numpy(pixels).to(device, non_blocking=True)
    return normalise(tensor), view
