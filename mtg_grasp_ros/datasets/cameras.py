"""The camera beside a generated view (``<k>_<name>_camera.json``): intrinsics and support plane.

The generator writes this file next to each Jacquard-format image (``synth/writer.py``); real
Jacquard and Cornell sets have none. With it, a pixel grasp can be placed in metres the way
the node places it (``depth_source: plane``), so an evaluation can ask what the node would
publish, not only what the network ranks first.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..projection import CameraModel, Plane, ProjectionError, Transform
from .records import DatasetError

#: What a view's image file name ends with, and what its camera file's does.
RGB_SUFFIX, CAMERA_SUFFIX = "RGB.png", "camera.json"


def camera_file(rgb: Path) -> Path:
    """The camera file that belongs to a generated view's RGB image."""
    if not rgb.name.endswith(RGB_SUFFIX):
        raise DatasetError(f"{rgb}: not a generated view's image (*_{RGB_SUFFIX}), so it has "
                           f"no *_{CAMERA_SUFFIX}")
    return rgb.with_name(rgb.name[: -len(RGB_SUFFIX)] + CAMERA_SUFFIX)


def read_view_camera(rgb: Path) -> tuple[CameraModel, Plane]:
    """The view's pinhole camera and its support plane in the camera's optical frame."""
    path = camera_file(rgb)
    try:
        doc = json.loads(path.read_text())
        k = doc["intrinsics"]
        camera = CameraModel(float(k["fx"]), float(k["fy"]), float(k["cx"]), float(k["cy"]),
                             int(k["width"]), int(k["height"]))
        world_camera = Transform.from_matrix(np.asarray(doc["camera_pose"]["matrix"], float))
        table = doc["table_plane"]
        normal = np.asarray(table["normal"], float)
        plane = Plane(tuple(normal.tolist()), float(normal @ np.asarray(table["point"], float)))
        return camera, plane.in_frame(world_camera)
    except FileNotFoundError:
        raise DatasetError(f"{path}: no camera file beside {rgb.name} (only generated views "
                           f"have one)") from None
    except (OSError, ValueError, KeyError, TypeError, ProjectionError) as exc:
        raise DatasetError(f"{path}: not a readable view camera ({type(exc).__name__}: "
                           f"{exc})") from None
