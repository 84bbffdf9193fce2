"""Grasp poses to ROS 2 messages and back: poses, pose arrays, the ``grasps`` cloud,
``grasp_info``, markers, transforms.

Shared by the node and the offline bag replay, so that a replayed bag holds exactly the
messages the node publishes; functions from values to messages and back, no publishers.
Images and cameras are ``ros.image_codec``.

``grasp_info`` layout (std_msgs/Float32MultiArray, row-major, one row per candidate, best
first)::

    layout.dim[0]: label "candidates", size N, stride 7 N
    layout.dim[1]: label "quality,width_m,u,v,angle_rad,width_px,depth_m", size 7, stride 7

``u, v`` are the grasp centre in source-image pixels (column, row), ``angle_rad`` the closing
direction in the image (see ``grasp.py``), ``depth_m`` the centre's distance along the optical
axis. Read it back with :func:`info_to_table`. ``grasp_info`` has no header: it stays for
existing consumers; ``grasps`` carries the same and more with the poses' header.

``grasps`` (sensor_msgs/PointCloud2, one point per candidate, best first, header = the
image's stamp and target_frame) holds everything a grasp planner needs in one stamped message,
with named float32 fields (:data:`GRASPS_FIELDS`): the tool pose ``x y z qx qy qz qw``, the
pre-grasp position ``pre_x pre_y pre_z`` (same orientation), ``width`` (m), ``quality``, and
the approach direction ``ax ay az``. Read it with :func:`cloud_to_table` or
``sensor_msgs_py.point_cloud2.read_points``. ``grasp_candidates`` / ``pregrasp_candidates``
(PoseArray) hold the same poses with the same header, for RViz and MoveIt.
"""

from __future__ import annotations

import array
import math
from collections.abc import Collection, Sequence

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point, Pose, PoseArray, PoseStamped, Quaternion, Vector3
from geometry_msgs.msg import Transform as TransformMsg
from sensor_msgs.msg import PointCloud2, PointField
from std_msgs.msg import ColorRGBA, Float32MultiArray, Header, MultiArrayDimension, MultiArrayLayout
from visualization_msgs.msg import Marker, MarkerArray

from ..projection import GraspPose, ToolFrame, Transform

#: Column names of one ``grasp_info`` row, in order.
GRASP_INFO_COLUMNS: tuple[str, ...] = ("quality", "width_m", "u", "v", "angle_rad",
                                       "width_px", "depth_m")
#: Fields of one ``grasps`` point (float32 each), in order.
GRASPS_FIELDS: tuple[str, ...] = ("x", "y", "z", "qx", "qy", "qz", "qw", "pre_x", "pre_y",
                                  "pre_z", "width", "quality", "ax", "ay", "az")
#: The ``grasps`` cloud's field descriptions, made once: every cloud holds the same ones.
_GRASPS_POINT_FIELDS = tuple(PointField(name=n, offset=4 * i, datatype=PointField.FLOAT32,
                                        count=1) for i, n in enumerate(GRASPS_FIELDS))


# --- headers, poses, transforms -----------------------------------------------------------------

def header(frame_id: str, stamp: Time) -> Header:
    """A std_msgs/Header."""
    return Header(stamp=stamp, frame_id=frame_id)


def pose_msg(pose: GraspPose) -> Pose:
    """geometry_msgs/Pose of a grasp (the gripper frame of ``projection.py``)."""
    p, q = (float(v) for v in pose.position), (float(v) for v in pose.orientation)
    x, y, z = p
    qx, qy, qz, qw = q
    return Pose(position=Point(x=x, y=y, z=z), orientation=Quaternion(x=qx, y=qy, z=qz, w=qw))


def transform_pose_msg(t: Transform) -> Pose:
    """geometry_msgs/Pose of a frame's pose held as a Transform (frame -> parent)."""
    x, y, z = (float(v) for v in t.translation)
    qx, qy, qz, qw = (float(v) for v in t.rotation)
    return Pose(position=Point(x=x, y=y, z=z), orientation=Quaternion(x=qx, y=qy, z=qz, w=qw))


def pose_stamped(pose: GraspPose, frame_id: str, stamp: Time,
                 tool: ToolFrame | None = None) -> PoseStamped:
    """geometry_msgs/PoseStamped of one grasp: the tool frame's pose (default: fingertip centre)."""
    return PoseStamped(header=header(frame_id, stamp),
                       pose=transform_pose_msg((tool or ToolFrame()).pose(pose)))


def _tool_poses(poses: Sequence[GraspPose], tool: ToolFrame | None
                ) -> list[tuple[Transform, Transform]]:
    """The tool frame's (grasp, pre-grasp) poses of each grasp: worked out once per frame for
    all the messages that carry them.
    """
    tool = tool or ToolFrame()
    return [tool.poses(p) for p in poses]


def pose_array(poses: Sequence[GraspPose], frame_id: str, stamp: Time,
               tool: ToolFrame | None = None, pregrasp: bool = False) -> PoseArray:
    """geometry_msgs/PoseArray of the tool frame's grasp (or pre-grasp) poses, best first."""
    tool = tool or ToolFrame()
    pose_of = tool.pregrasp if pregrasp else tool.pose
    return _pose_array([pose_of(p) for p in poses], frame_id, stamp)


def _pose_array(frames: Sequence[Transform], frame_id: str, stamp: Time) -> PoseArray:
    """A PoseArray of frames' poses already in the tool frame."""
    return PoseArray(header=header(frame_id, stamp),
                     poses=[transform_pose_msg(t) for t in frames])


def grasps_cloud(poses: Sequence[GraspPose], frame_id: str, stamp: Time,
                 tool: ToolFrame | None = None) -> PointCloud2:
    """sensor_msgs/PointCloud2 with one point of :data:`GRASPS_FIELDS` per grasp, best first."""
    return _grasps_cloud(poses, _tool_poses(poses, tool), frame_id, stamp)


def _grasps_cloud(poses: Sequence[GraspPose], tool_poses: Sequence[tuple[Transform, Transform]],
                  frame_id: str, stamp: Time) -> PointCloud2:
    """:func:`grasps_cloud` with the (grasp, pre-grasp) tool poses already worked out."""
    rows = []
    for p, (at, pre) in zip(poses, tool_poses, strict=True):
        rows.append((*at.translation, *at.rotation, *pre.translation, p.width_m, p.quality,
                     *p.axes[:, 2]))
    data = np.asarray(rows, np.float32).reshape(-1, len(GRASPS_FIELDS))
    fields = list(_GRASPS_POINT_FIELDS)
    step = 4 * len(GRASPS_FIELDS)
    return PointCloud2(header=header(frame_id, stamp), height=1, width=len(data), fields=fields,
                       is_bigendian=False, point_step=step, row_step=step * len(data),
                       data=array.array("B", data.tobytes()), is_dense=True)


def cloud_to_table(msg: PointCloud2) -> dict[str, np.ndarray]:
    """The ``grasps`` cloud's columns by field name (float32 arrays, one value per grasp)."""
    offsets = {f.name: f.offset for f in msg.fields if f.datatype == PointField.FLOAT32}
    missing = [n for n in GRASPS_FIELDS if n not in offsets]
    if missing:
        raise ValueError(f"not a grasps cloud: fields {missing} missing")
    n = msg.width * msg.height
    raw = np.frombuffer(bytes(msg.data), np.uint8)[:n * msg.point_step].reshape(n, msg.point_step)
    order = ">" if msg.is_bigendian else "<"
    return {name: raw[:, offsets[name]:offsets[name] + 4].copy().view(f"{order}f4").ravel()
            for name in GRASPS_FIELDS}


def transform_from_msg(t: TransformMsg) -> Transform:
    """A core Transform from geometry_msgs/Transform (e.g. TransformStamped.transform)."""
    return Transform((t.translation.x, t.translation.y, t.translation.z),
                     (t.rotation.x, t.rotation.y, t.rotation.z, t.rotation.w))


def transform_msg(t: Transform) -> TransformMsg:
    """geometry_msgs/Transform of a core Transform."""
    x, y, z = (float(v) for v in t.translation)
    qx, qy, qz, qw = (float(v) for v in t.rotation)
    return TransformMsg(translation=Vector3(x=x, y=y, z=z),
                        rotation=Quaternion(x=qx, y=qy, z=qz, w=qw))


# --- grasp_info ----------------------------------------------------------------------------------

def grasp_table(poses: Sequence[GraspPose]) -> np.ndarray:
    """(N, 7) float32 rows in :data:`GRASP_INFO_COLUMNS` order."""
    rows = [(p.quality, p.width_m, p.pixel.x, p.pixel.y, p.pixel.angle, p.pixel.width,
             p.depth_m) for p in poses]
    return np.asarray(rows, np.float32).reshape(-1, len(GRASP_INFO_COLUMNS))


def grasp_info(poses: Sequence[GraspPose]) -> Float32MultiArray:
    """One labelled row per candidate (see the module docstring for the layout)."""
    rows = grasp_table(poses)
    n, c = rows.shape
    layout = MultiArrayLayout(dim=[
        MultiArrayDimension(label="candidates", size=n, stride=n * c),
        MultiArrayDimension(label=",".join(GRASP_INFO_COLUMNS), size=c, stride=c)],
        data_offset=0)
    return Float32MultiArray(layout=layout, data=array.array("f", rows.tobytes()))


def info_to_table(msg: Float32MultiArray) -> np.ndarray:
    """The (N, 7) rows of a ``grasp_info`` message; checks the layout's labels."""
    dims = msg.layout.dim
    if len(dims) != 2 or dims[1].label != ",".join(GRASP_INFO_COLUMNS):
        raise ValueError(f"not a grasp_info layout: {[d.label for d in dims]}")
    data = np.asarray(msg.data, np.float32)[msg.layout.data_offset:]
    return data[:dims[0].size * dims[1].size].reshape(dims[0].size, dims[1].size)


# --- markers -------------------------------------------------------------------------------------

def quality_colour(quality: float, alpha: float = 0.9) -> ColorRGBA:
    """Red (quality 0) through yellow to green (quality 1)."""
    q = min(max(float(quality), 0.0), 1.0) if math.isfinite(quality) else 0.0
    return ColorRGBA(r=min(1.0, 2.0 * (1.0 - q)), g=min(1.0, 2.0 * q), b=0.1, a=alpha)


def markers(poses: Sequence[GraspPose], frame_id: str, stamp: Time, ns: str = "grasps",
            finger_length: float = 0.04, jaw_thickness: float = 0.008,
            jaw_depth: float = 0.02, approach_length: float = 0.06) -> MarkerArray:
    """The gripper at each candidate: two jaw boxes and an approach arrow, coloured by quality.

    The first marker is a DELETEALL, so that candidates of the previous frame disappear. The
    jaws stand at +/- (width/2 + thickness/2) along the gripper's x (closing) axis, reach
    ``finger_length`` back along -z from the grasp centre; the arrow ends at the palm and points
    along +z, the approach direction.
    """
    out = MarkerArray()
    out.markers.append(Marker(header=header(frame_id, stamp), ns=ns, action=Marker.DELETEALL))
    for i, p in enumerate(poses):
        axes = p.axes
        x_axis, z_axis = axes[:, 0], axes[:, 2]
        colour = quality_colour(p.quality)
        for side, k in ((-1.0, 0), (1.0, 1)):
            centre = p.position + side * (p.width_m / 2 + jaw_thickness / 2) * x_axis \
                - z_axis * finger_length / 2
            jaw = Marker(header=header(frame_id, stamp), ns=ns, id=3 * i + k, type=Marker.CUBE,
                         action=Marker.ADD, color=colour,
                         scale=Vector3(x=jaw_thickness, y=jaw_depth, z=finger_length))
            jaw.pose = pose_msg(p)
            jaw.pose.position = Point(x=float(centre[0]), y=float(centre[1]), z=float(centre[2]))
            out.markers.append(jaw)
        palm = p.position - z_axis * finger_length
        tail = palm - z_axis * approach_length
        arrow = Marker(header=header(frame_id, stamp), ns=ns, id=3 * i + 2, type=Marker.ARROW,
                       action=Marker.ADD, color=colour,
                       scale=Vector3(x=0.006, y=0.012, z=0.015),
                       points=[Point(x=float(a), y=float(b), z=float(c)) for a, b, c in
                               (tail, palm)])
        arrow.pose.orientation.w = 1.0
        out.markers.append(arrow)
    return out


#: The outputs of :func:`grasp_messages`, in the order they are made and published.
GRASP_OUTPUTS: tuple[str, ...] = ("grasp_pose", "grasp_candidates", "pregrasp_candidates",
                                  "grasps", "grasp_info", "markers")


def grasp_messages(poses: Sequence[GraspPose], frame_id: str, stamp: Time,
                   with_markers: bool = True, tool: ToolFrame | None = None,
                   only: Collection[str] | None = None) -> dict[str, object]:
    """Everything the node publishes for one frame's poses, by output name (``~/<name>``):
    ``grasp_pose`` (only when there is a grasp), ``grasp_candidates``, ``pregrasp_candidates``,
    ``grasps``, ``grasp_info`` and ``markers``; poses are the ``tool`` frame's. The node and
    the bag replay both publish / write exactly these. ``only``: just these outputs (the node
    makes only those that have subscribers; None: all).
    """
    if only is not None and (unknown := set(only) - set(GRASP_OUTPUTS)):
        raise ValueError(f"unknown outputs {sorted(unknown)}; expected some of {GRASP_OUTPUTS}")
    want = set(GRASP_OUTPUTS if only is None else only)
    if not with_markers:
        want.discard("markers")
    out: dict[str, object] = {}
    tool_poses = _tool_poses(poses, tool) if want & {
        "grasp_pose", "grasp_candidates", "pregrasp_candidates", "grasps"} else []
    if poses and "grasp_pose" in want:
        out["grasp_pose"] = PoseStamped(header=header(frame_id, stamp),
                                        pose=transform_pose_msg(tool_poses[0][0]))
    if "grasp_candidates" in want:
        out["grasp_candidates"] = _pose_array([at for at, _ in tool_poses], frame_id, stamp)
    if "pregrasp_candidates" in want:
        out["pregrasp_candidates"] = _pose_array([pre for _, pre in tool_poses], frame_id,
                                                 stamp)
    if "grasps" in want:
        out["grasps"] = _grasps_cloud(poses, tool_poses, frame_id, stamp)
    if "grasp_info" in want:
        out["grasp_info"] = grasp_info(poses)
    if "markers" in want:
        out["markers"] = markers(poses, frame_id, stamp)
    return out
