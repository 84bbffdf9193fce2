"""A scene with known geometry and a network whose weights are set by hand, for node tests.

The network's Q is the brightness of the image passed through identity convolutions, so its
peak is the bright disk drawn in the scene; cos, sin and width are constants (head biases),
so the angle and pixel width of the chosen grasp are known too. The camera looks straight
down from ``HEIGHT`` metres above a table (the plane z = 0 of ``base_link``).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mtg_grasp_ros.model import WIDTH_SCALE_PX, build_model
from mtg_grasp_ros.model_io import save_model

W, H = 160, 120
FX = FY = 150.0
CX, CY = (W - 1) / 2, (H - 1) / 2
HEIGHT = 0.6
CAMERA_XYZ = (0.1, -0.05, HEIGHT)
CAMERA_RPY = (math.pi, 0.0, 0.4)      # optical z pointing down, turned 0.4 rad about z
BLOB = (104, 44)                      # bright disk centre, image pixels
ANGLE = 0.5                           # rad, set by the cos / sin head biases
WIDTH_NET_PX = 30.0                   # opening in network pixels, set by the width head bias


def _identity(conv: nn.Module, gain: float = 1.0) -> None:
    """Centre tap 1 from channel 0 to channel 0, everything else 0."""
    w = conv.weight
    with torch.no_grad():
        w.zero_()
        if isinstance(conv, nn.ConvTranspose2d):
            w[0, 0] = gain               # all 3x3 taps: nearest-like 2x upsampling
        else:
            k = w.shape[-1] // 2
            inputs = w.shape[1] if w.shape[1] == 3 else 1   # first layer: grey; then channel 0
            w[0, :inputs, k, k] = gain / inputs
        conv.bias.zero_()


def blob_model(path: Path, angle: float = ANGLE, width_net_px: float = WIDTH_NET_PX) -> Path:
    """A GG-CNN2 whose Q peaks at the brightest blob, with a constant angle and width."""
    net = build_model("ggcnn2", None)
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            _identity(m)
    with torch.no_grad():
        for name in ("cos", "sin", "width"):
            net.heads[name].weight.zero_()
        net.heads["cos"].bias.fill_(math.cos(2 * angle))
        net.heads["sin"].bias.fill_(math.sin(2 * angle))
        net.heads["width"].bias.fill_(width_net_px / WIDTH_SCALE_PX)
        net.heads["q"].weight.fill_(0.25)
    save_model(net, path, trained_on="hand-set weights (test)")
    return path


def scene(blob=BLOB, radius: int = 7) -> np.ndarray:
    """A dark table with one bright disk, HxWx3 RGB uint8."""
    import cv2

    img = np.full((H, W, 3), 40, np.uint8)
    cv2.circle(img, blob, radius, (230, 230, 230), -1, cv2.LINE_AA)
    return img


def rotation() -> np.ndarray:
    """Camera optical frame -> base_link rotation (fixed-axis roll, pitch, yaw)."""
    r, p, y = CAMERA_RPY
    rx = np.array([[1, 0, 0], [0, math.cos(r), -math.sin(r)], [0, math.sin(r), math.cos(r)]])
    ry = np.array([[math.cos(p), 0, math.sin(p)], [0, 1, 0], [-math.sin(p), 0, math.cos(p)]])
    rz = np.array([[math.cos(y), -math.sin(y), 0], [math.sin(y), math.cos(y), 0], [0, 0, 1]])
    return rz @ ry @ rx


def ray(u: float, v: float) -> np.ndarray:
    """Optical-frame ray through pixel (u, v), z = 1."""
    return np.array([(u - CX) / FX, (v - CY) / FY, 1.0])


def table_point(u: float, v: float, lift: float = 0.0) -> tuple[np.ndarray, float]:
    """Where the ray through (u, v) meets the table raised by ``lift``: base point, camera z."""
    d = rotation() @ ray(u, v)
    s = (lift - CAMERA_XYZ[2]) / d[2]
    return np.asarray(CAMERA_XYZ) + s * d, s


def quat_matrix(q) -> np.ndarray:
    x, y, z, w = q
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
