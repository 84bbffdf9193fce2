"""Pixel grasps to metric poses: intrinsics, the three depth sources, rigid transforms."""

import math

import numpy as np
import pytest

from mtg_grasp_ros.grasp import Grasp
from mtg_grasp_ros.projection import (
    CameraModel,
    DepthSource,
    Plane,
    ProjectionError,
    Transform,
    depth_at,
    grasp_to_pose,
    intersect_plane,
    matrix_to_quat,
    metric_width,
    project_grasps,
    quat_to_matrix,
    quat_to_rpy,
    rpy_to_quat,
)

CAM = CameraModel(600.0, 600.0, 320.0, 240.0, 640, 480, "cam_optical")


def test_quaternions_round_trip():
    rng = np.random.default_rng(0)
    for _ in range(100):
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        q = q if q[3] >= 0 else -q
        m = quat_to_matrix(q)
        np.testing.assert_allclose(m @ m.T, np.eye(3), atol=1e-12)
        np.testing.assert_allclose(matrix_to_quat(m), q, atol=1e-9)


def test_rpy_matches_hand_cases():
    np.testing.assert_allclose(quat_to_matrix(rpy_to_quat(0, 0, math.pi / 2)) @ [1, 0, 0],
                               [0, 1, 0], atol=1e-12)
    # A camera looking straight down from above the table: optical z -> world -z.
    down = quat_to_matrix(rpy_to_quat(math.pi, 0, 0))
    np.testing.assert_allclose(down @ [0, 0, 1], [0, 0, -1], atol=1e-12)


def test_rpy_round_trip():
    rng = np.random.default_rng(1)
    for _ in range(100):
        rpy = (rng.uniform(-3, 3), rng.uniform(-1.5, 1.5), rng.uniform(-3, 3))
        back = quat_to_rpy(rpy_to_quat(*rpy))
        np.testing.assert_allclose(quat_to_matrix(rpy_to_quat(*back)),
                                   quat_to_matrix(rpy_to_quat(*rpy)), atol=1e-9)
        np.testing.assert_allclose(back, rpy, atol=1e-9)
    # Looking straight down, and the gimbal-lock case, still give the same rotation.
    for rpy in ((math.pi, 0, 0), (0.3, math.pi / 2, 0.2)):
        np.testing.assert_allclose(quat_to_matrix(rpy_to_quat(*quat_to_rpy(rpy_to_quat(*rpy)))),
                                   quat_to_matrix(rpy_to_quat(*rpy)), atol=1e-9)


def test_plane_depth_for_a_camera_looking_down():
    # Camera 0.8 m above the table, optical axis down; table plane z = 0 in the world.
    cam_in_world = Transform((0.1, 0.2, 0.8), tuple(rpy_to_quat(math.pi, 0, 0)))
    plane_cam = Plane((0, 0, 1), 0.0).in_frame(cam_in_world)
    src = DepthSource("plane", plane_cam, grasp_height=0.02)
    p = src.locate(CAM, 320 + 60, 240 - 30)
    assert p[2] == pytest.approx(0.78)
    assert p[0] == pytest.approx(60 / 600 * 0.78) and p[1] == pytest.approx(-30 / 600 * 0.78)
    world = cam_in_world.apply(p)
    assert world[2] == pytest.approx(0.02)
    assert world[0] == pytest.approx(0.1 + 60 / 600 * 0.78)


def test_ray_parallel_to_plane_and_plane_behind():
    with pytest.raises(ProjectionError, match="parallel"):
        intersect_plane(np.array([1.0, 0, 0]), Plane((0, 0, 1), 1.0))
    with pytest.raises(ProjectionError, match="behind"):
        intersect_plane(np.array([0, 0, 1.0]), Plane((0, 0, 1), -1.0))


def test_fixed_distance_is_along_the_ray():
    p = DepthSource("fixed", distance=0.5).locate(CAM, 320 + 600, 240)
    assert np.linalg.norm(p) == pytest.approx(0.5)
    assert p[0] == pytest.approx(p[2])


def test_depth_image_median_ignores_invalid():
    depth = np.full((480, 640), 0.7, np.float32)
    depth[238:243, 318:323] = [0.0, np.nan, 0.6, 0.6, 0.6]
    assert depth_at(depth, 320, 240) == pytest.approx(0.6)
    depth[:] = 0
    with pytest.raises(ProjectionError, match="no valid depth"):
        depth_at(depth, 320, 240)
    with pytest.raises(ProjectionError, match="no depth image"):
        DepthSource("depth_topic").locate(CAM, 1, 1)


def test_metric_width_and_orientation():
    g = Grasp(320, 240, math.radians(30), 60, 30, 0.8)
    pose = grasp_to_pose(g, CAM, np.array([0.0, 0.0, 0.5]))
    assert pose.width_m == pytest.approx(60 * 0.5 / 600)
    # Gripper x (closing) is the image direction of the angle; z is the optical axis.
    np.testing.assert_allclose(pose.axes[:, 0], [math.cos(g.angle), math.sin(g.angle), 0],
                               atol=1e-12)
    np.testing.assert_allclose(pose.axes[:, 2], [0, 0, 1], atol=1e-12)
    aniso = CameraModel(500, 1000, 320, 240, 640, 480)
    assert metric_width(aniso, 100, math.pi / 2, 1.0) == pytest.approx(0.1)
    assert metric_width(aniso, 100, 0.0, 1.0) == pytest.approx(0.2)


def test_pose_transform_and_inverse():
    t = Transform((1, 2, 3), tuple(rpy_to_quat(0.3, -0.2, 1.0)))
    pose = grasp_to_pose(Grasp(100, 100, 0.4, 20, 10), CAM, np.array([0.1, 0.0, 0.6]))
    back = pose.transformed(t).transformed(t.inverse())
    np.testing.assert_allclose(back.position, pose.position, atol=1e-12)
    np.testing.assert_allclose(back.axes, pose.axes, atol=1e-12)


def test_bad_intrinsics_are_refused():
    with pytest.raises(ProjectionError, match="fx, fy > 0"):
        CameraModel(0.0, 600, 320, 240, 640, 480)
    with pytest.raises(ProjectionError, match="finite"):
        CameraModel.from_k([math.nan, 0, 320, 0, 600, 240, 0, 0, 1], 640, 480)


def test_project_grasps_keeps_errors_in_their_slots():
    src = DepthSource("plane", Plane((0, 0, -1), -0.5))
    out = project_grasps([Grasp(320, 240, 0, 10, 5), Grasp(320, 240, 0, 10, 5)], CAM, src)
    assert all(not isinstance(o, ProjectionError) for o in out)
    bad = DepthSource("plane", Plane((1, 0, 0), 0.0))   # contains the optical axis
    assert isinstance(project_grasps([Grasp(320, 240, 0, 10, 5)], CAM, bad)[0], ProjectionError)


def test_distortion_and_scaling():
    cam = CameraModel(600, 600, 320, 240, 640, 480, distortion=(0.1, -0.05, 0, 0, 0))
    px = CameraModel(600, 600, 320, 240, 640, 480).project(cam.rays([[500, 400]]))
    assert not np.allclose(px, [[500, 400]])   # undistortion moved the ray
    half = CAM.scaled_to(320, 240)
    assert (half.fx, half.cx) == pytest.approx((300, 159.75))


def _tilted_camera() -> Transform:
    # 0.7 m above the table, pitched 35 deg off vertical and turned 0.3 rad: strong perspective
    return Transform((0.05, -0.4, 0.7), tuple(rpy_to_quat(math.pi - 0.6, 0.0, 0.3)))


def _pixel_grasp_of(a_world, b_world, to_world: Transform, quality=0.9) -> Grasp:
    """The image grasp whose fingertips are the table points a, b seen by CAM."""
    a, b = CAM.project(to_world.inverse().apply(np.array([a_world, b_world])))
    d = b - a
    centre = (a + b) / 2
    return Grasp(float(centre[0]), float(centre[1]), math.atan2(d[1], d[0]),
                 float(np.linalg.norm(d)), 20.0, quality)


def test_plane_normal_approach_is_straight_down_and_closes_along_the_table_line():
    to_world = _tilted_camera()
    a_w, b_w = np.array([0.02, 0.05, 0.0]), np.array([0.07, 0.01, 0.0])
    g = _pixel_grasp_of(a_w, b_w, to_world)
    src = DepthSource("plane", Plane((0.0, 0.0, 1.0), 0.0).in_frame(to_world))
    normal_pose, optical_pose = (project_grasps([g], CAM, src, approach=a)[0].transformed(to_world)
                                 for a in ("plane_normal", "optical_axis"))
    # same grasp centre either way; on the table
    np.testing.assert_allclose(normal_pose.position, optical_pose.position, atol=1e-12)
    assert normal_pose.position[2] == pytest.approx(0.0, abs=1e-9)
    axes = normal_pose.axes
    np.testing.assert_allclose(axes[:, 2], [0.0, 0.0, -1.0], atol=1e-9)       # straight down
    closing = (b_w - a_w) / np.linalg.norm(b_w - a_w)
    assert abs(axes[:, 0] @ closing) == pytest.approx(1.0, abs=1e-9)          # along a-b
    np.testing.assert_allclose(np.cross(axes[:, 2], axes[:, 0]), axes[:, 1], atol=1e-9)
    # the optical-axis approach is tilted by the camera's 0.6 rad pitch
    tilt = math.acos(-optical_pose.axes[2, 2])
    assert tilt == pytest.approx(math.acos(abs(to_world.rotate([0, 0, 1.0])[2])), abs=1e-9)
    assert tilt > 0.4
    with pytest.raises(ProjectionError, match="approach"):
        project_grasps([g], CAM, src, approach="sideways")


def test_tool_frame_and_pregrasp_are_behind_the_grasp_along_the_approach():
    from mtg_grasp_ros.projection import ToolFrame

    to_world = _tilted_camera()
    g = _pixel_grasp_of([0.0, 0.0, 0.0], [0.04, 0.0, 0.0], to_world)
    src = DepthSource("plane", Plane((0.0, 0.0, 1.0), 0.0).in_frame(to_world), grasp_height=0.01)
    p = project_grasps([g], CAM, src, approach="plane_normal")[0].transformed(to_world)
    tool = ToolFrame(offset=0.105, approach_distance=0.08)
    at, pre = tool.pose(p), tool.pregrasp(p)
    # top-down: the tool frame is 0.105 m and the pre-grasp 0.185 m above the fingertip centre
    np.testing.assert_allclose(at.translation, p.position + [0, 0, 0.105], atol=1e-9)
    np.testing.assert_allclose(pre.translation, p.position + [0, 0, 0.185], atol=1e-9)
    np.testing.assert_allclose(quat_to_matrix(at.rotation), p.axes, atol=1e-9)
    assert p.position[2] == pytest.approx(0.01)
    with pytest.raises(ProjectionError):
        ToolFrame(approach_distance=-0.1)
    # both at once (what the node publishes) are exactly the two, also for a turned tool
    turned = ToolFrame(offset=0.05, rotation=tuple(rpy_to_quat(0.1, -0.4, 1.2)),
                       approach_distance=0.12)
    for t in (tool, turned):
        assert t.poses(p) == (t.pose(p), t.pregrasp(p))
