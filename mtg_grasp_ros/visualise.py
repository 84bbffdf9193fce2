"""Pictures of detections: grasp rectangles and the quality heat map over the input image.

ROS-free: the node's ``~/debug_image`` and offline tools draw with the same function.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from .grasp import Grasp
from .preprocess import View


def draw_detection(rgb: np.ndarray, grasps: Sequence[Grasp], quality_map: np.ndarray | None = None,
                   view: View | None = None, alpha: float = 0.45) -> np.ndarray:
    """A copy of ``rgb`` with Q (network pixels, mapped back through ``view``) as a heat map
    over the network's window and each grasp's rectangle; the best (first) in green, its jaws
    thick, the others in yellow."""
    out = np.ascontiguousarray(rgb).copy()
    h, w = out.shape[:2]
    if quality_map is not None and view is not None:
        q = np.clip(np.nan_to_num(quality_map.astype(np.float32)), 0.0, 1.0)
        q_img = cv2.warpAffine(q, view.inverse, (w, h), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=-1.0)
        inside = q_img >= 0
        heat = cv2.applyColorMap((np.clip(q_img, 0, 1) * 255).astype(np.uint8),
                                 cv2.COLORMAP_JET)[..., ::-1]
        blend = cv2.addWeighted(out, 1.0 - alpha, heat, alpha, 0.0)
        out[inside] = blend[inside]
    for i, g in enumerate(reversed(list(grasps))):
        best = i == len(grasps) - 1
        colour = (0, 255, 0) if best else (255, 220, 0)
        corners = np.round(g.corners()).astype(np.int32)
        cv2.polylines(out, [corners], True, colour, 1, cv2.LINE_AA)
        if best:   # the jaws: the two edges across the closing direction
            for a, b in ((1, 2), (3, 0)):
                cv2.line(out, tuple(map(int, corners[a])), tuple(map(int, corners[b])), colour, 3,
                         cv2.LINE_AA)
    return out
