"""Pinhole camera of the synthetic views: intrinsics, pose, and pybullet's matrices.

Conventions:

* The camera frame is the REP 103 *optical* frame: z forward (along the view), x right,
  y down. A point (X, Y, Z) in it lands on pixel ``u = fx X / Z + cx``, ``v = fy Y / Z + cy``
  with pixel centres at integer coordinates (as in :mod:`mtg_grasp_ros.grasp`).
* ``T_world_camera`` is the 4x4 pose of that frame in the world (table) frame, whose z axis
  points up and whose table top is the plane z = 0.
* Depth is the z coordinate in the optical frame (metres), as in Jacquard's depth images.

pybullet renders with OpenGL matrices (camera looking down its -z, y up), passed as flat
column-major lists; :func:`view_matrix` and :func:`projection_matrix` build them from the
pose and intrinsics above so that the rendered image and these formulas agree exactly.
"""

from __future__ import annotations

import math

import numpy as np

from ..projection import CameraModel, matrix_to_quat

#: optical frame (z forward, y down) -> OpenGL camera frame (z backward, y up)
_OPTICAL_TO_GL = np.diag([1.0, -1.0, -1.0, 1.0])


#: The synthetic views' intrinsics are the project's one pinhole camera model.
Intrinsics = CameraModel


def look_down_pose(target: np.ndarray, distance: float, yaw: float = 0.0,
                   tilt: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """``T_world_camera`` of a camera ``distance`` above ``target`` looking straight down.

    ``yaw`` turns the camera about the vertical (radians); ``tilt`` = (about x, about y) of
    the optical frame tips the view away from vertical by small angles, keeping ``target``
    on the optical axis.
    """
    c, s = math.cos(yaw), math.sin(yaw)
    # Looking down: optical z = -world z; optical x = (cos yaw, sin yaw, 0); y = z cross x.
    r = np.array([[c, s, 0.0], [s, -c, 0.0], [0.0, 0.0, -1.0]])
    r = r @ _rot_x(tilt[0]) @ _rot_y(tilt[1])
    t = np.eye(4)
    t[:3, :3] = r
    t[:3, 3] = np.asarray(target, dtype=np.float64) - r[:, 2] * distance
    return t


def _rot_x(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _rot_y(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def view_matrix(t_world_camera: np.ndarray) -> list[float]:
    """The pybullet view matrix (world -> OpenGL camera) as a column-major list of 16."""
    view = np.linalg.inv(np.asarray(t_world_camera) @ _OPTICAL_TO_GL)
    return view.T.reshape(-1).tolist()


def projection_matrix(k: Intrinsics, near: float, far: float) -> list[float]:
    """The pybullet projection matrix reproducing ``k`` exactly (pixel centres at integers)."""
    p = np.zeros((4, 4))
    p[0, 0] = 2.0 * k.fx / k.width
    # TinyRenderer samples column u at NDC x = 2u/W - 1 and row v at NDC y = 1 - 2(v+1)/H
    # (measured: a rendered sphere's centroid against its projection, at 128-1024 px).
    p[0, 2] = 1.0 - 2.0 * k.cx / k.width
    p[1, 1] = 2.0 * k.fy / k.height
    p[1, 2] = 2.0 * (k.cy + 1.0) / k.height - 1.0
    p[2, 2] = -(far + near) / (far - near)
    p[2, 3] = -2.0 * far * near / (far - near)
    p[3, 2] = -1.0
    return p.T.reshape(-1).tolist()


def zbuffer_to_depth(zbuffer: np.ndarray, near: float, far: float) -> np.ndarray:
    """OpenGL depth-buffer values in [0, 1] to metric depth (optical z), float32."""
    z = np.asarray(zbuffer, dtype=np.float64)
    return (far * near / (far - (far - near) * z)).astype(np.float32)


def project(k: Intrinsics, t_world_camera: np.ndarray, points_world: np.ndarray) -> np.ndarray:
    """World points (N, 3) to pixels (N, 2) of (u, v) (points must be in front of the camera)."""
    pts = np.atleast_2d(np.asarray(points_world, dtype=np.float64))
    cam = (pts - t_world_camera[:3, 3]) @ t_world_camera[:3, :3]
    return np.stack([k.fx * cam[:, 0] / cam[:, 2] + k.cx,
                     k.fy * cam[:, 1] / cam[:, 2] + k.cy], axis=1)


def pixel_rays(k: Intrinsics, t_world_camera: np.ndarray,
               uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Origin (3,) and world directions (N, 3) with unit optical z of the rays through ``uv``."""
    uv = np.atleast_2d(np.asarray(uv, dtype=np.float64))
    d_cam = np.stack([(uv[:, 0] - k.cx) / k.fx, (uv[:, 1] - k.cy) / k.fy,
                      np.ones(len(uv))], axis=1)
    return t_world_camera[:3, 3].copy(), d_cam @ t_world_camera[:3, :3].T


def backproject(k: Intrinsics, t_world_camera: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """A depth image (H, W) to world points (H, W, 3)."""
    v, u = np.mgrid[0:k.height, 0:k.width]
    origin, dirs = pixel_rays(k, t_world_camera, np.stack([u.ravel(), v.ravel()], axis=1))
    pts = origin + dirs * np.asarray(depth, dtype=np.float64).reshape(-1, 1)
    return pts.reshape(k.height, k.width, 3)


def intersect_plane_z(k: Intrinsics, t_world_camera: np.ndarray, uv: np.ndarray,
                      z: float | np.ndarray) -> np.ndarray:
    """World points (N, 3) where the rays through ``uv`` meet the horizontal plane(s) ``z``."""
    origin, dirs = pixel_rays(k, t_world_camera, uv)
    s = (np.asarray(z, dtype=np.float64) - origin[2]) / dirs[:, 2]
    return origin + dirs * np.reshape(s, (-1, 1))


def pose_to_quaternion(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position (3,) and unit quaternion (x, y, z, w), w >= 0, of a 4x4 rigid transform."""
    t = np.asarray(t, dtype=np.float64)
    return t[:3, 3].copy(), matrix_to_quat(t[:3, :3])
