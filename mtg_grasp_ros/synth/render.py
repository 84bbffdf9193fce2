"""Render one view of a settled scene: RGB, metric depth, masks, labels, camera.

This is the API for anything that needs synthetic camera images with ground truth (the
dataset generator, a rosbag of a camera above a table, tests of the 3D projection)::

    from mtg_grasp_ros.synth import scene as sc, render
    client = sc.connect()                                  # headless pybullet, this process
    rng = np.random.default_rng(0)
    obj, view = sc.sample_object(rng), sc.sample_view(rng)
    s = sc.build_scene(client, obj, view)                  # drop and settle
    k = render.Intrinsics.from_fov(640, 480, 45.0)
    T = render.look_down_pose(np.array([0, 0, 0]), 0.6)    # optical frame in the world
    v = render.render_view(s, k, T)                        # -> RenderedView
    v.rgb, v.depth, v.mask, v.grasps, v.intrinsics, v.camera_pose

:func:`dataset_camera` places the camera as the dataset does (object-centred, Jacquard-like
framing from the ``ViewSpec``). Nothing here connects to pybullet at import time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pybullet as p

from ..grasp import Grasp
from .camera import Intrinsics, look_down_pose, projection_matrix, view_matrix, zbuffer_to_depth
from .labeller import GraspLabel, Gripper, height_map, label_grasps
from .scene import Lighting, Scene, ViewSpec

__all__ = ["RenderedView", "render_view", "dataset_camera", "Intrinsics", "look_down_pose"]


@dataclass
class RenderedView:
    """One rendered view with its ground truth (images are row-major, row 0 at the top)."""

    rgb: np.ndarray                 # (H, W, 3) uint8
    depth: np.ndarray               # (H, W) float32, metres along the optical axis
    segmentation: np.ndarray        # (H, W) int32 pybullet body id, -1 for nothing
    mask: np.ndarray                # (H, W) uint8, 255 on the target object, else 0
    intrinsics: Intrinsics
    camera_pose: np.ndarray         # (4, 4) T_world_camera, REP 103 optical frame
    target_id: int
    target_pose: tuple[tuple[float, ...], tuple[float, ...]]  # world position, quaternion xyzw
    labels: list[GraspLabel] = field(default_factory=list)

    @property
    def grasps(self) -> list[Grasp]:
        """The labelled grasps in pixels of this image (Jacquard units)."""
        return [label.grasp for label in self.labels]


def dataset_camera(scene: Scene, view: ViewSpec, size: int) -> tuple[Intrinsics, np.ndarray]:
    """The object-centred camera of a dataset view: the object fills ``view.fill`` of the side.

    The camera stands ``view.camera_distance`` above the table (Jacquard's tables are at about
    1.57 m), turned by ``camera_yaw`` and tilted by ``camera_tilt``; the field of view is chosen
    so that the target's largest horizontal extent spans ``fill`` of the image, but never so
    narrow that the gripper's maximum opening spans more than half of it (the network's
    width range is 150 px of its 300 px input).
    """
    lo, hi = p.getAABB(scene.target_id, physicsClientId=scene.client)
    extent = max(hi[0] - lo[0], hi[1] - lo[1])
    side = max(extent / view.fill, Gripper().max_opening / 0.5)
    centre = np.array([(lo[0] + hi[0]) / 2 + view.camera_offset[0] * side,
                       (lo[1] + hi[1]) / 2 + view.camera_offset[1] * side, 0.0])
    fov = math.degrees(2 * math.atan(side / 2 / view.camera_distance))
    return (Intrinsics.from_fov(size, size, fov),
            look_down_pose(centre, view.camera_distance, view.camera_yaw, view.camera_tilt))


def render_view(scene: Scene, intrinsics: Intrinsics, camera_pose: np.ndarray,
                lighting: Lighting = Lighting(), label: bool = True,
                gripper: Gripper | None = None, rng: np.random.Generator | None = None,
                max_grasps: int = 150) -> RenderedView:
    """Render the scene from ``camera_pose`` (T_world_camera, optical frame) with pybullet's
    CPU renderer, and label antipodal grasps on the target when ``label``.

    Depth is exact (from the z-buffer); near and far planes are set around the table.
    """
    k, client = intrinsics, scene.client
    cam_z = float(camera_pose[2, 3])
    near, far = max(0.01, cam_z - 0.6), cam_z + 0.6
    w, h, rgba, zbuf, seg = p.getCameraImage(
        k.width, k.height, view_matrix(camera_pose), projection_matrix(k, near, far),
        renderer=p.ER_TINY_RENDERER, shadow=int(lighting.shadow),
        lightDirection=list(lighting.direction), lightColor=list(lighting.color),
        lightAmbientCoeff=lighting.ambient, lightDiffuseCoeff=lighting.diffuse,
        lightSpecularCoeff=lighting.specular, physicsClientId=client)
    rgb = np.asarray(rgba, dtype=np.uint8).reshape(h, w, 4)[:, :, :3].copy()
    depth = zbuffer_to_depth(np.asarray(zbuf).reshape(h, w), near, far)
    seg = np.asarray(seg, dtype=np.int32).reshape(h, w)
    mask = np.where(seg == scene.target_id, 255, 0).astype(np.uint8)
    pose = p.getBasePositionAndOrientation(scene.target_id, physicsClientId=client)
    view = RenderedView(rgb, depth, seg, mask, k, np.asarray(camera_pose, dtype=np.float64),
                        scene.target_id, (tuple(pose[0]), tuple(pose[1])))
    if label:
        heights = height_map(k, camera_pose, depth)
        view.labels = label_grasps(heights, depth, seg, scene.target_id, k, camera_pose,
                                   gripper or Gripper(), rng or np.random.default_rng(0),
                                   max_grasps)
    return view


def render_dataset_view(scene: Scene, view: ViewSpec, size: int,
                        rng: np.random.Generator, max_grasps: int = 150) -> RenderedView:
    """A dataset view: Jacquard-like camera and the view's lighting."""
    k, pose = dataset_camera(scene, view, size)
    return render_view(scene, k, pose, view.lighting, True, Gripper(), rng, max_grasps)
