"""The camera beside a generated view (``<k>_<name>_camera.json``): intrinsics and support plane.

The generator writes this file next to each Jacquard-format image (``synth/writer.py``); real
Jacquard and Cornell sets have none (``Record.camera`` is None; index with
``need=("rgb", "camera")`` to require it). With it, a pixel grasp can be placed in metres the
way the node places it (``depth_source: plane``), so an evaluation can ask what the node
would publish, not only what the network ranks first.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..projection import CameraModel, Plane, ProjectionError, Transform
from .records import DatasetError


def read_view_camera(path: Path) -> tuple[CameraModel, Plane]:
    """A view's pinhole camera and its support plane in the camera's optical frame."""
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
    except (OSError, ValueError, KeyError, TypeError, ProjectionError) as exc:
        raise DatasetError(f"{path}: not a readable view camera ({type(exc).__name__}: "
                           f"{exc})") from None
