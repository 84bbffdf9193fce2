"""From a pixel grasp to a metric grasp pose: intrinsics, a depth source, rigid transforms.

Frames follow REP 103. The camera frame is the *optical* frame of CameraInfo (z forward,
x right, y down), so a grasp angle in the image (see ``grasp.py``) is a rotation about its z.

Gripper-frame convention, used by the poses, the RViz markers and docs/conventions.md:

* **z: approach** — the camera's optical axis, pointing from the camera into the scene (the
  paper's gripper approaches perpendicular to the image plane);
* **x: closing** — the line along which the two jaws close, in the image plane;
* **y = z × x** — along the jaws' faces.

So with ``approach: optical_axis`` the grasp orientation in the optical frame is a rotation
of Φ about z. With ``approach: plane_normal`` z is minus the support plane's normal (straight
down onto the table however the camera is tilted) and x is the closing line as it lies on
that plane (the image line through the two fingertips, back-projected onto the plane through
the grasp centre), made perpendicular to z.

The grasp pose is the centre between the fingertips. A robot plans for its own end-effector
frame: :class:`ToolFrame` gives that frame's pose (``tool.offset`` metres back along the
approach axis, turned by ``tool.rpy``) and the pre-grasp pose ``approach_distance`` further
back, for a straight-line approach.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from .grasp import Grasp

DEPTH_SOURCES: tuple[str, ...] = ("plane", "depth_topic", "fixed")
#: Directions the gripper approaches along: the camera's optical axis (the paper's gripper,
#: perpendicular to the image plane) or minus the support plane's normal (top-down).
APPROACHES: tuple[str, ...] = ("optical_axis", "plane_normal")
#: CameraInfo distortion models that rays are undistorted with, and the numbers of
#: coefficients each takes (sensor_msgs' plumb_bob: k1 k2 t1 t2 [k3]; rational_polynomial: 8,
#: or OpenCV's 12 and 14; equidistant: the fisheye model's k1..k4, via cv2.fisheye).
DISTORTION_MODELS: dict[str, tuple[int, ...]] = {
    "plumb_bob": (4, 5), "rational_polynomial": (8, 12, 14), "equidistant": (4,)}


class ProjectionError(ValueError):
    """A grasp that cannot be placed in 3D (bad intrinsics, ray parallel to the plane, ...)."""


# --- rotations ------------------------------------------------------------------------------

# The per-frame poses (a handful per frame, each through several compositions) are worked
# out on Python floats: numpy's per-call cost on 3- and 4-element arrays made projecting and
# publishing five grasps take milliseconds. Rotations are row-major 9-tuples here.
Rows = tuple[float, float, float, float, float, float, float, float, float]


def _rows_of_quat(q: Sequence[float] | np.ndarray) -> Rows:
    """Row-major rotation matrix of a quaternion (x, y, z, w), normalised first."""
    x, y, z, w = (float(v) for v in q)
    n = math.hypot(x, y, z, w)
    x, y, z, w = x / n, y / n, z / n, w / n
    return (1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
            2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
            2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y))


def _quat_of_rows(m: Sequence[float]) -> tuple[float, float, float, float]:
    """Quaternion (x, y, z, w), w >= 0, of a row-major 3x3 rotation matrix."""
    t = m[0] + m[4] + m[8]
    if t > 0:
        s = 2.0 * math.sqrt(t + 1.0)
        q = [(m[7] - m[5]) / s, (m[2] - m[6]) / s, (m[3] - m[1]) / s, s / 4]
    else:
        diag = (m[0], m[4], m[8])
        i = diag.index(max(diag))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * math.sqrt(1.0 + m[4 * i] - m[4 * j] - m[4 * k])
        q = [0.0, 0.0, 0.0, (m[3 * k + j] - m[3 * j + k]) / s]
        q[i] = s / 4
        q[j] = (m[3 * j + i] + m[3 * i + j]) / s
        q[k] = (m[3 * k + i] + m[3 * i + k]) / s
    return (q[0], q[1], q[2], q[3]) if q[3] >= 0 else (-q[0], -q[1], -q[2], -q[3])


def _matmul(a: Rows, b: Rows) -> Rows:
    """The product of two row-major 3x3 matrices."""
    return (a[0] * b[0] + a[1] * b[3] + a[2] * b[6], a[0] * b[1] + a[1] * b[4] + a[2] * b[7],
            a[0] * b[2] + a[1] * b[5] + a[2] * b[8],
            a[3] * b[0] + a[4] * b[3] + a[5] * b[6], a[3] * b[1] + a[4] * b[4] + a[5] * b[7],
            a[3] * b[2] + a[4] * b[5] + a[5] * b[8],
            a[6] * b[0] + a[7] * b[3] + a[8] * b[6], a[6] * b[1] + a[7] * b[4] + a[8] * b[7],
            a[6] * b[2] + a[7] * b[5] + a[8] * b[8])


def _apply(r: Rows, t: Sequence[float] | np.ndarray, p: Sequence[float] | np.ndarray
           ) -> tuple[float, float, float]:
    """The point ``r @ p + t`` (one point, Python floats)."""
    x, y, z = (float(v) for v in p)
    return (r[0] * x + r[1] * y + r[2] * z + float(t[0]),
            r[3] * x + r[4] * y + r[5] * z + float(t[1]),
            r[6] * x + r[7] * y + r[8] * z + float(t[2]))


def quat_to_matrix(q: Sequence[float] | np.ndarray) -> np.ndarray:
    """3x3 rotation matrix of a quaternion (x, y, z, w); normalised first."""
    return np.array(_rows_of_quat(q)).reshape(3, 3)


def matrix_to_quat(m: np.ndarray) -> np.ndarray:
    """Quaternion (x, y, z, w), w >= 0, of a 3x3 rotation matrix."""
    return np.array(_quat_of_rows(np.asarray(m, dtype=np.float64).ravel().tolist()))


def rpy_to_quat(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """Quaternion (x, y, z, w) of fixed-axis roll, pitch, yaw (REP 103 / tf2 convention)."""
    cr, sr = math.cos(roll / 2), math.sin(roll / 2)
    cp, sp = math.cos(pitch / 2), math.sin(pitch / 2)
    cy, sy = math.cos(yaw / 2), math.sin(yaw / 2)
    return np.array([sr * cp * cy - cr * sp * sy, cr * sp * cy + sr * cp * sy,
                     cr * cp * sy - sr * sp * cy, cr * cp * cy + sr * sp * sy])


def quat_to_rpy(q: Sequence[float]) -> tuple[float, float, float]:
    """Fixed-axis roll, pitch, yaw of a quaternion (x, y, z, w): the inverse of rpy_to_quat."""
    m = quat_to_matrix(q)
    pitch = math.asin(max(-1.0, min(1.0, -m[2, 0])))
    if abs(m[2, 0]) < 1.0 - 1e-12:
        return math.atan2(m[2, 1], m[2, 2]), pitch, math.atan2(m[1, 0], m[0, 0])
    return 0.0, pitch, math.atan2(-m[0, 1], m[1, 1])     # gimbal lock: all in yaw


@dataclass(frozen=True)
class Transform:
    """A rigid transform that maps points of a child frame into a parent frame."""

    translation: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rotation: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0)  # x, y, z, w

    def __post_init__(self) -> None:
        vals = (*self.translation, *self.rotation)
        if len(self.translation) != 3 or len(self.rotation) != 4 or \
                not all(math.isfinite(v) for v in vals) or math.hypot(*self.rotation) < 1e-9:
            raise ProjectionError(f"invalid transform: translation {self.translation}, "
                                  f"rotation {self.rotation}")

    @classmethod
    def from_matrix(cls, m: np.ndarray) -> Transform:
        """The transform of a 4x4 homogeneous matrix."""
        m = np.asarray(m, dtype=np.float64)
        return cls(tuple(m[:3, 3].tolist()), tuple(matrix_to_quat(m[:3, :3]).tolist()))

    @property
    def matrix(self) -> np.ndarray:
        """The 4x4 homogeneous matrix."""
        r = _rows_of_quat(self.rotation)
        x, y, z = (float(v) for v in self.translation)
        return np.array([[r[0], r[1], r[2], x], [r[3], r[4], r[5], y], [r[6], r[7], r[8], z],
                         [0.0, 0.0, 0.0, 1.0]])

    def inverse(self) -> Transform:
        """The transform that maps parent points into the child frame."""
        return Transform.from_matrix(np.linalg.inv(self.matrix))

    def __mul__(self, other: Transform) -> Transform:
        r = _rows_of_quat(self.rotation)
        return Transform(_apply(r, self.translation, other.translation),
                         _quat_of_rows(_matmul(r, _rows_of_quat(other.rotation))))

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Points (..., 3) of the child frame in the parent frame."""
        m = self.matrix
        return np.asarray(points, dtype=np.float64) @ m[:3, :3].T + m[:3, 3]

    def rotate(self, vectors: np.ndarray) -> np.ndarray:
        """Vectors (..., 3) of the child frame in the parent frame (rotation only)."""
        return np.asarray(vectors, dtype=np.float64) @ quat_to_matrix(self.rotation).T


# --- camera -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class CameraModel:
    """Pinhole intrinsics and optional lens distortion (:data:`DISTORTION_MODELS`) of a
    camera's optical frame. Empty ``distortion``: none (any model).
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    frame_id: str = "camera_optical_frame"
    distortion: tuple[float, ...] = ()
    distortion_model: str = "plumb_bob"

    def __post_init__(self) -> None:
        bad = [n for n in ("fx", "fy", "cx", "cy") if not math.isfinite(getattr(self, n))]
        if bad or self.fx <= 0 or self.fy <= 0:
            raise ProjectionError(f"camera intrinsics must be finite with fx, fy > 0; got "
                                  f"fx={self.fx}, fy={self.fy}, cx={self.cx}, cy={self.cy}")
        if self.width <= 0 or self.height <= 0:
            raise ProjectionError(f"camera size must be positive, got {self.width}x{self.height}")
        if not all(math.isfinite(d) for d in self.distortion):
            raise ProjectionError(f"distortion coefficients must be finite, got {self.distortion}")
        counts = DISTORTION_MODELS.get(self.distortion_model)
        if counts is None:
            raise ProjectionError(f"unknown distortion model {self.distortion_model!r}; "
                                  f"supported: {', '.join(DISTORTION_MODELS)}")
        if self.distortion and len(self.distortion) not in counts:
            raise ProjectionError(f"{self.distortion_model} distortion takes "
                                  f"{' or '.join(map(str, counts))} coefficients, got "
                                  f"{len(self.distortion)}")

    @classmethod
    def from_fov(cls, width: int, height: int, fov_y_deg: float,
                 frame_id: str = "camera_optical_frame") -> CameraModel:
        """Square pixels, principal point at the image centre, vertical field of view."""
        f = (height / 2.0) / math.tan(math.radians(fov_y_deg) / 2.0)
        return cls(f, f, (width - 1) / 2.0, (height - 1) / 2.0, width, height, frame_id)

    def matrix(self) -> np.ndarray:
        """The 3x3 intrinsic matrix K."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @classmethod
    def from_k(cls, k: Sequence[float], width: int, height: int, frame_id: str = "",
               distortion: Sequence[float] = (),
               distortion_model: str = "plumb_bob") -> CameraModel:
        """From a row-major 3x3 K (CameraInfo.k) and the image size."""
        k = [float(v) for v in k]
        if len(k) != 9:
            raise ProjectionError(f"K must have 9 values, got {len(k)}")
        return cls(k[0], k[4], k[2], k[5], int(width), int(height), frame_id or
                   "camera_optical_frame", tuple(float(d) for d in distortion),
                   distortion_model)

    def scaled_to(self, width: int, height: int) -> CameraModel:
        """The same camera for an image resized to ``width`` x ``height``."""
        sx, sy = width / self.width, height / self.height
        return CameraModel(self.fx * sx, self.fy * sy, (self.cx + 0.5) * sx - 0.5,
                           (self.cy + 0.5) * sy - 0.5, width, height, self.frame_id,
                           self.distortion, self.distortion_model)

    def rays(self, pixels: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
        """Rays (N, 3) through pixels (N, 2), scaled so that z = 1."""
        p = np.asarray(pixels, dtype=np.float64).reshape(-1, 2)
        xy: np.ndarray
        if any(self.distortion) and self.distortion_model == "equidistant":
            xy = cv2.fisheye.undistortPoints(p.reshape(-1, 1, 2), self.matrix(),
                                             np.array(self.distortion)).reshape(-1, 2)
        elif any(self.distortion):
            xy = cv2.undistortPoints(p.reshape(-1, 1, 2), self.matrix(),
                                     np.array(self.distortion)).reshape(-1, 2)
        else:
            xy = np.stack([(p[:, 0] - self.cx) / self.fx, (p[:, 1] - self.cy) / self.fy], -1)
        return np.hstack([xy, np.ones((len(xy), 1))])

    def ray(self, u: float, v: float) -> np.ndarray:
        """The ray (3,) through one pixel, z = 1: :meth:`rays` without its per-call cost."""
        if any(self.distortion):
            return self.rays([[u, v]])[0]
        return np.array([(u - self.cx) / self.fx, (v - self.cy) / self.fy, 1.0])

    def project(self, points: np.ndarray) -> np.ndarray:
        """Pixels (N, 2) of optical-frame points (N, 3) (no distortion)."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        return np.stack([self.fx * p[:, 0] / p[:, 2] + self.cx,
                         self.fy * p[:, 1] / p[:, 2] + self.cy], -1)


# --- depth sources ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Plane:
    """A support plane ``normal . p = offset`` (normal pointing up, away from the table)."""

    normal: tuple[float, float, float] = (0.0, 0.0, 1.0)
    offset: float = 0.0

    def __post_init__(self) -> None:
        if np.linalg.norm(self.normal) < 1e-9 or not all(math.isfinite(v) for v in
                                                       (*self.normal, self.offset)):
            raise ProjectionError(f"invalid plane: normal {self.normal}, offset {self.offset}")

    def in_frame(self, child_to_parent: Transform) -> Plane:
        """This plane (given in the parent frame) expressed in the child frame."""
        n = np.asarray(self.normal, dtype=np.float64)
        n = n / np.linalg.norm(n)
        m = child_to_parent.matrix
        n_child = m[:3, :3].T @ n
        return Plane(tuple(n_child.tolist()), float(self.offset / np.linalg.norm(self.normal)
                                                    - n @ m[:3, 3]))


def intersect_plane(ray: np.ndarray, plane: Plane, lift: float = 0.0) -> np.ndarray:
    """Where a camera ray meets ``plane`` raised by ``lift`` metres along its normal.

    Both are in the camera frame (ray from the origin). Raises when the ray is parallel to
    the plane or meets it behind the camera.
    """
    nx, ny, nz = (float(v) for v in plane.normal)
    rx, ry, rz = (float(v) for v in ray)
    norm = math.hypot(nx, ny, nz)
    d = plane.offset / norm + lift
    denom = (nx * rx + ny * ry + nz * rz) / norm
    if abs(denom) < 1e-9 * math.hypot(rx, ry, rz):
        raise ProjectionError("the pixel's ray is parallel to the support plane")
    t = d / denom
    if t <= 0:
        raise ProjectionError("the support plane is behind the camera along this pixel's ray")
    return t * np.asarray(ray, dtype=np.float64)


def depth_at(depth: np.ndarray, u: float, v: float, window: int = 5,
             depth_range: tuple[float, float] = (0.0, math.inf)) -> float:
    """Median valid depth (metres, z) in a window around (u, v); NaN, <=0, inf and readings
    outside ``depth_range`` (depth_min, depth_max) are invalid.
    """
    h, w = depth.shape[:2]
    ui, vi = int(round(u)), int(round(v))
    r = window // 2
    patch = np.asarray(depth[max(vi - r, 0):vi + r + 1, max(ui - r, 0):ui + r + 1], np.float64)
    finite = patch[np.isfinite(patch) & (patch > 0)]
    valid = finite[(finite >= depth_range[0]) & (finite <= depth_range[1])]
    if not (0 <= ui < w and 0 <= vi < h) or finite.size == 0:
        raise ProjectionError(f"no valid depth around pixel ({u:.1f}, {v:.1f})")
    if valid.size == 0:
        raise ProjectionError(f"the depth around pixel ({u:.1f}, {v:.1f}) is "
                              f"{float(np.median(finite)):.4g} m, outside depth_min "
                              f"{depth_range[0]:g} .. depth_max {depth_range[1]:g} m")
    return float(np.median(valid))


# --- metric grasps ------------------------------------------------------------------------------

@dataclass(frozen=True)
class GraspPose:
    """A metric grasp: pose of the gripper frame (see module docstring) and opening in metres."""

    position: np.ndarray            # (3,) metres
    orientation: np.ndarray         # (4,) quaternion x, y, z, w
    width_m: float
    quality: float
    pixel: Grasp = field(repr=False)
    depth_m: float                  # distance along the optical axis (camera z) of the centre

    def transformed(self, t: Transform) -> GraspPose:
        """The same grasp in another frame (``t`` maps this frame into that one)."""
        r = _rows_of_quat(t.rotation)
        rot = _matmul(r, _rows_of_quat(self.orientation))
        return GraspPose(np.array([*_apply(r, t.translation, self.position)]),
                         np.array(_quat_of_rows(rot)), self.width_m, self.quality, self.pixel,
                         self.depth_m)

    @property
    def axes(self) -> np.ndarray:
        """3x3 whose columns are the gripper's x (closing), y, z (approach) axes."""
        return quat_to_matrix(self.orientation)

    @property
    def transform(self) -> Transform:
        """The grasp frame's pose as a Transform (grasp frame -> this pose's frame)."""
        x, y, z = (float(v) for v in self.position)
        qx, qy, qz, qw = (float(v) for v in self.orientation)
        return Transform((x, y, z), (qx, qy, qz, qw))


def metric_width(camera: CameraModel, width_px: float, angle: float, z: float) -> float:
    """Opening in metres of ``width_px`` pixels along ``angle`` at depth ``z`` (pinhole)."""
    return float(width_px * z * math.hypot(math.cos(angle) / camera.fx,
                                           math.sin(angle) / camera.fy))


def _closing_on_plane(g: Grasp, camera: CameraModel, point: np.ndarray,
                      normal: np.ndarray) -> np.ndarray:
    """Gripper axes (3x3, columns x, y, z) approaching along ``-normal`` (camera frame).

    x is the image's closing line (through the two fingertip pixels) back-projected onto the
    plane through ``point`` with ``normal``, so a tilted camera's foreshortening is undone.
    """
    z = -np.asarray(normal, np.float64) / np.linalg.norm(normal)
    half = max(g.width, 2.0) / 2.0
    du = np.array([math.cos(g.angle), math.sin(g.angle)]) * half
    ends = camera.rays(np.array([[g.x, g.y]]) + np.stack([du, -du]))
    plane = Plane(tuple((-z).tolist()), float(-z @ point))
    a, b = (intersect_plane(r, plane) for r in ends)
    x = a - b
    x = x - (x @ z) * z
    if np.linalg.norm(x) < 1e-9:
        raise ProjectionError("the closing line is parallel to the plane normal")
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z], axis=1)


def grasp_to_pose(g: Grasp, camera: CameraModel, point: np.ndarray,
                  approach_normal: np.ndarray | None = None) -> GraspPose:
    """A pixel grasp whose centre lies at ``point`` (camera frame) as a metric GraspPose.

    ``approach_normal`` (camera frame): approach along minus this plane normal
    (``approach: plane_normal``); None: along the optical axis.
    """
    z = float(point[2])
    if not math.isfinite(z) or z <= 0:
        raise ProjectionError(f"grasp centre depth must be positive, got {z}")
    if approach_normal is None:
        half = g.angle / 2.0
        orientation = np.array([0.0, 0.0, math.sin(half), math.cos(half)])
    else:
        orientation = matrix_to_quat(_closing_on_plane(g, camera, np.asarray(point, np.float64),
                                                       approach_normal))
    return GraspPose(np.asarray(point, np.float64), orientation,
                     metric_width(camera, g.width, g.angle, z), g.quality, g, z)


@dataclass(frozen=True)
class ToolFrame:
    """The robot's end-effector (tool) frame relative to the grasp frame, and the pre-grasp.

    ``offset``: metres from the tool frame's origin forward along the approach axis to the
    centre between the fingertips (e.g. a flange-to-fingertip distance); ``rotation``: the
    tool frame's orientation in the grasp frame (x closing, z approach), for grippers whose
    link axes differ; ``approach_distance``: the pre-grasp stands this far further back along
    the approach axis.
    """

    offset: float = 0.0
    rotation: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0)
    approach_distance: float = 0.1

    def __post_init__(self) -> None:
        if not (math.isfinite(self.offset) and math.isfinite(self.approach_distance)) or \
                self.approach_distance < 0:
            raise ProjectionError(f"tool offset must be finite and approach_distance >= 0, got "
                                  f"{self.offset}, {self.approach_distance}")
        Transform(rotation=self.rotation)      # checks the quaternion

    def pose(self, g: GraspPose, back: float = 0.0) -> Transform:
        """The tool frame's pose for grasp ``g`` (in g's frame), ``back`` metres further back."""
        return g.transform * Transform((0.0, 0.0, -(self.offset + back)), self.rotation)

    def pregrasp(self, g: GraspPose) -> Transform:
        """The tool frame's pose ``approach_distance`` back along the approach axis."""
        return self.pose(g, self.approach_distance)

    def poses(self, g: GraspPose) -> tuple[Transform, Transform]:
        """``(pose(g), pregrasp(g))``, the same numbers, with the rotation worked out once."""
        r = _rows_of_quat(g.orientation)
        q = _quat_of_rows(_matmul(r, _rows_of_quat(self.rotation)))
        return (Transform(_apply(r, g.position, (0.0, 0.0, -self.offset)), q),
                Transform(_apply(r, g.position,
                                 (0.0, 0.0, -(self.offset + self.approach_distance))), q))


@dataclass(frozen=True)
class DepthSource:
    """How the depth of a grasp centre is found: ``plane``, ``depth_topic`` or ``fixed``."""

    kind: str = "plane"
    plane: Plane = Plane()          # in the camera frame (use Plane.in_frame to convert)
    grasp_height: float = 0.0       # metres above the plane (plane) or past the surface (depth)
    distance: float = 0.5           # metres along the ray (fixed)
    depth_range: tuple[float, float] = (0.0, math.inf)   # grasp centre z accepted, metres

    def __post_init__(self) -> None:
        if self.kind not in DEPTH_SOURCES:
            raise ProjectionError(f"unknown depth source {self.kind!r}; expected one of "
                                  f"{DEPTH_SOURCES}")
        if not math.isfinite(self.distance) or self.distance <= 0:
            raise ProjectionError(f"fixed distance must be > 0, got {self.distance}")
        near, far = self.depth_range
        if not 0 <= near < far:
            raise ProjectionError(f"depth range must be 0 <= min < max, got {near} .. {far}")

    def locate(self, camera: CameraModel, u: float, v: float,
               depth_image: np.ndarray | None = None) -> np.ndarray:
        """The 3D point (camera frame) of the grasp centre seen at pixel (u, v); a point
        whose depth (z) is outside ``depth_range`` raises.
        """
        ray = camera.ray(u, v)
        if self.kind == "plane":
            point = intersect_plane(ray, self.plane, self.grasp_height)
        elif self.kind == "fixed":
            point = ray / np.linalg.norm(ray) * self.distance
        elif depth_image is None:
            raise ProjectionError("depth source 'depth_topic' but no depth image received")
        else:
            point = ray * (depth_at(depth_image, u, v, depth_range=self.depth_range)
                           + self.grasp_height)
        near, far = self.depth_range
        if not near <= float(point[2]) <= far:
            raise ProjectionError(f"the grasp centre's depth {float(point[2]):.4g} m is outside "
                                  f"depth_min {near:g} .. depth_max {far:g} m")
        return point

    def camera_height(self) -> float:
        """The camera's signed distance from the support plane (``plane`` in the camera
        frame), metres: positive on the side the normal points to.
        """
        n = np.asarray(self.plane.normal, np.float64)
        return float(-self.plane.offset / np.linalg.norm(n))


def project_grasps(grasps: Sequence[Grasp], camera: CameraModel, source: DepthSource,
                   depth_image: np.ndarray | None = None,
                   approach: str = "optical_axis") -> list[GraspPose | ProjectionError]:
    """Each pixel grasp (source-image pixels) as a GraspPose in the camera frame.

    ``approach``: one of :data:`APPROACHES`; ``plane_normal`` uses ``source.plane`` (camera
    frame) whatever the depth source. A grasp that cannot be placed yields its
    ProjectionError in its slot, so that the caller can count and report it without losing
    the others.
    """
    if approach not in APPROACHES:
        raise ProjectionError(f"unknown approach {approach!r}; expected one of {APPROACHES}")
    normal = np.asarray(source.plane.normal, np.float64) if approach == "plane_normal" else None
    out: list[GraspPose | ProjectionError] = []
    for g in grasps:
        try:
            out.append(grasp_to_pose(g, camera, source.locate(camera, g.x, g.y, depth_image),
                                     normal))
        except ProjectionError as exc:
            out.append(exc)
    return out
