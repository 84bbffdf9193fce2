"""Jacquard on-disk format for synthetic views, plus a camera JSON beside each view.

Per view ``k`` of object directory ``<name>``, exactly as the published Jacquard files:

* ``<k>_<name>_RGB.png``: H x W x 3 uint8 (PNG, stored BGR by OpenCV as usual);
* ``<k>_<name>_mask.png``: H x W uint8, 0 and 255;
* ``<k>_<name>_perfect_depth.tiff``, ``<k>_<name>_stereo_depth.tiff``: H x W float32
  metres, LZW-compressed; the stereo one has -1 where invalid;
* ``<k>_<name>_grasps.txt``: ``x;y;theta_deg;opening;jaw_size`` lines, CRLF
  (:func:`mtg_grasp_ros.grasp.write_jacquard_grasps`);

and, not part of Jacquard, ``<k>_<name>_camera.json`` (:func:`camera_record`).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from ..grasp import write_jacquard_grasps
from .camera import pose_to_quaternion
from .render import RenderedView

SUFFIXES = ("RGB.png", "mask.png", "perfect_depth.tiff", "stereo_depth.tiff", "grasps.txt",
            "camera.json")


def write_depth_tiff(path: Path, depth: np.ndarray) -> None:
    """A float32 single-channel LZW TIFF, as Jacquard's depth files.

    Pillow, because OpenCV 4.12 ignores IMWRITE_TIFF_COMPRESSION for float32 images and
    writes them uncompressed.
    """
    Image.fromarray(np.ascontiguousarray(depth, dtype=np.float32)).save(
        path, compression="tiff_lzw")


def simulate_stereo(depth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A stereo-like depth image from exact depth: noise growing with z^2, smooth low-frequency
    error, holes (-1) at depth edges, beside objects (occlusion band) and in a few blobs.
    """
    h, w = depth.shape
    z = depth.astype(np.float32)
    noise = rng.normal(0.0, 1.0, (h, w)).astype(np.float32) * 0.0015 * z ** 2
    low = cv2.resize(rng.normal(0.0, 1.0, (8, 8)).astype(np.float32), (w, h),
                     interpolation=cv2.INTER_CUBIC) * 0.002
    out = z + noise + low
    edges = cv2.morphologyEx(z, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0.004
    band = max(1, w // 100)
    shifted = np.zeros_like(edges)
    shifted[:, band:] = edges[:, :-band]            # the occluded side of an edge
    invalid = cv2.dilate((edges | shifted).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    blobs = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(0, 6))):
        c = (int(rng.integers(w)), int(rng.integers(h)))
        axes = (int(rng.integers(2, max(3, w // 30))), int(rng.integers(2, max(3, h // 30))))
        cv2.ellipse(blobs, c, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    out[invalid | (blobs > 0)] = -1.0
    return out.astype(np.float32)


def camera_record(view: RenderedView) -> dict:
    """The JSON beside a view: intrinsics, camera pose, table plane, target pose, conventions."""
    k, t = view.intrinsics, view.camera_pose
    pos, quat = pose_to_quaternion(t)
    return {
        "intrinsics": {"fx": k.fx, "fy": k.fy, "cx": k.cx, "cy": k.cy,
                       "width": k.width, "height": k.height},
        "camera_pose": {"frame": "world", "child_frame": "camera_optical",
                        "position": pos.tolist(), "quaternion_xyzw": quat.tolist(),
                        "matrix": t.tolist()},
        "table_plane": {"frame": "world", "normal": [0.0, 0.0, 1.0], "point": [0.0, 0.0, 0.0],
                        "equation_abcd": [0.0, 0.0, 1.0, 0.0]},
        "target": {"body_id": view.target_id, "frame": "world",
                   "position": list(view.target_pose[0]),
                   "quaternion_xyzw": list(view.target_pose[1])},
        "conventions": (
            "camera_pose is T_world_camera: the camera optical frame (REP 103: z forward, "
            "x right, y down) expressed in the world frame (z up, table top at z = 0). "
            "Pixel (u, v) = (fx X/Z + cx, fy Y/Z + cy), pixel centres at integers. Depth is "
            "Z in metres. Grasps: Jacquard units (pixels of this image, theta in degrees "
            "from the x axis towards y, the jaws' closing direction)."),
    }


def write_view(directory: Path, index: int, name: str, view: RenderedView,
               stereo: np.ndarray, extra: dict | None = None) -> list[Path]:
    """Write one view in the Jacquard format (see the module docstring); returns the paths."""
    directory = Path(directory)
    stem = directory / f"{index}_{name}_"
    paths = [Path(f"{stem}{s}") for s in SUFFIXES]
    if not view.labels:
        raise ValueError(f"{stem}grasps.txt: a view needs at least one grasp label")
    checks = [cv2.imwrite(str(paths[0]), cv2.cvtColor(view.rgb, cv2.COLOR_RGB2BGR)),
              cv2.imwrite(str(paths[1]), view.mask),
              ]
    if not all(checks):
        raise OSError(f"could not write the images of {stem}*")
    write_depth_tiff(paths[2], view.depth)
    write_depth_tiff(paths[3], stereo)
    write_jacquard_grasps(paths[4], view.grasps)
    record = camera_record(view)
    record.update(extra or {})
    paths[5].write_text(json.dumps(record, indent=1))
    return paths
