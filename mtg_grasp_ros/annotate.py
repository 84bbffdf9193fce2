"""Pictures of detections: grasp rectangles, the quality heat map, contact sheets, video.

ROS-free: the node's ``~/debug_image`` and the offline replay draw with the same functions.
A contact sheet is a grid of evenly spaced, labelled thumbnails, so that a whole
replay can be judged at a glance; the video (``cv2.VideoWriter``, mp4v) shows every frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from .grasp import Grasp
from .preprocess import View

BEST = (0, 255, 0)   # RGB


def quality_rgb(quality: float) -> tuple[int, int, int]:
    """Red (quality 0) through yellow to green (quality 1), as the RViz markers colour them."""
    q = min(max(float(quality), 0.0), 1.0) if np.isfinite(quality) else 0.0
    return (int(round(255 * min(1.0, 2.0 * (1.0 - q)))), int(round(255 * min(1.0, 2.0 * q))),
            25)


def draw_grasps(rgb: np.ndarray, grasps: Sequence[Grasp], thickness: int = 2) -> np.ndarray:
    """A copy of ``rgb`` with each grasp rectangle: the best (first) green with thick jaws,
    the other candidates coloured by their quality, so that low-quality candidates (on an
    empty table, with ``min_quality`` 0) read as such.
    """
    out = np.ascontiguousarray(rgb).copy()
    scale = max(1, round(max(out.shape[:2]) / 640))
    for i, g in reversed(list(enumerate(grasps))):
        corners = np.round(g.corners()).astype(np.int32)
        colour = BEST if i == 0 else quality_rgb(g.quality)
        cv2.polylines(out, [corners], True, colour, scale, cv2.LINE_AA)
        if i == 0:   # the jaws: the rectangle's edges across the closing direction
            for a, b in ((1, 2), (3, 0)):
                cv2.line(out, tuple(map(int, corners[a])), tuple(map(int, corners[b])), colour,
                         thickness * scale + 1, cv2.LINE_AA)
    return out


def draw_detection(rgb: np.ndarray, grasps: Sequence[Grasp],
                   quality_map: np.ndarray | None = None, view: View | None = None,
                   alpha: float = 0.45) -> np.ndarray:
    """:func:`draw_grasps` over Q (network pixels, mapped back through ``view``) as a heat
    map on the network's window of ``rgb``.
    """
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
    return draw_grasps(out, grasps)


def thumbnail(rgb: np.ndarray, label: str, width: int = 320, height: int = 240) -> np.ndarray:
    """``rgb`` letterboxed into width x height, with ``label`` written at the top left."""
    h, w = rgb.shape[:2]
    s = min(width / w, height / h)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    tile = np.zeros((height, width, 3), np.uint8)
    y0, x0 = (height - nh) // 2, (width - nw) // 2
    tile[y0:y0 + nh, x0:x0 + nw] = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)
    cv2.rectangle(tile, (0, 0), (width, 16), (0, 0, 0), -1)
    cv2.putText(tile, label, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 1,
                cv2.LINE_AA)
    return tile


def contact_sheet(tiles: Sequence[np.ndarray], columns: int = 6) -> np.ndarray:
    """Equal-sized tiles in a grid, row by row, on black."""
    if not tiles:
        raise ValueError("no tiles for a contact sheet")
    h, w = tiles[0].shape[:2]
    columns = max(1, min(columns, len(tiles)))
    rows = -(-len(tiles) // columns)
    sheet = np.zeros((rows * h, columns * w, 3), np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, columns)
        sheet[r * h:(r + 1) * h, c * w:(c + 1) * w] = t
    return sheet


def sample_indices(count: int, limit: int) -> set[int]:
    """At most ``limit`` evenly spaced indices of ``count`` items (first and last included)."""
    if count <= limit:
        return set(range(count))
    return {int(round(i * (count - 1) / (limit - 1))) for i in range(limit)}


def write_rgb(path: str | Path, rgb: np.ndarray) -> None:
    """Write an RGB image with OpenCV (which wants BGR); raises if it cannot."""
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write image {path}")


class VideoOut:
    """An mp4 of RGB frames of one fixed size (frames of another size are letterboxed)."""

    def __init__(self, path: str | Path, fps: float, width: int = 640, height: int = 480) -> None:
        self.path, self.size = Path(path), (width, height)
        self._writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"),
                                       max(1.0, fps), self.size)
        if not self._writer.isOpened():
            raise OSError(f"OpenCV cannot write mp4 video to {path}")

    def add(self, rgb: np.ndarray, label: str = "") -> None:
        """Append one frame (RGB), with an optional label drawn on it."""
        frame = thumbnail(rgb, label, *self.size)
        self._writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))

    def close(self) -> None:
        """Finish and close the video file."""
        self._writer.release()
