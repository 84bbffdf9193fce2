"""The synthetic camera: pybullet's rendering agrees with the pinhole model to a fraction of
a pixel, depth is metric, and the camera JSON projects known world points onto the mask.
"""

from __future__ import annotations

import json

import numpy as np
import pybullet as p
import pytest

from mtg_grasp_ros.synth import render
from mtg_grasp_ros.synth import scene as sc
from mtg_grasp_ros.synth.camera import (
    Intrinsics,
    intersect_plane_z,
    look_down_pose,
    pose_to_quaternion,
    project,
)
from mtg_grasp_ros.synth.writer import simulate_stereo, write_view


@pytest.fixture(scope="module")
def client():
    c = sc.connect()
    yield c
    p.disconnect(c)


def test_quaternion_matches_pybullet():
    for yaw in (0.0, 1.0, 2.5, -2.0):
        t = look_down_pose(np.zeros(3), 1.5, yaw, (0.03, -0.02))
        _, q = pose_to_quaternion(t)
        r = np.array(p.getMatrixFromQuaternion(q.tolist())).reshape(3, 3)
        np.testing.assert_allclose(r, t[:3, :3], atol=1e-9)
        assert np.allclose(t[:3, 2] @ [0, 0, -1], 1, atol=1e-2)    # looks down


@pytest.mark.parametrize("size", [96, 257])
def test_rendered_sphere_lands_on_its_projection(client, size):
    p.resetSimulation(physicsClientId=client)
    centre = [0.03, -0.02, 0.01]
    sphere = p.createMultiBody(0, -1, p.createVisualShape(p.GEOM_SPHERE, radius=0.012,
                                                           physicsClientId=client),
                               basePosition=centre, physicsClientId=client)
    plane = p.createMultiBody(0, p.createCollisionShape(p.GEOM_BOX, halfExtents=[1, 1, 0.01],
                                                        physicsClientId=client),
                              -1, basePosition=[0, 0, -0.01], physicsClientId=client)
    k = Intrinsics.from_fov(size, size, 8.0)
    t = look_down_pose(np.zeros(3), 1.5, 0.7, (0.02, -0.01))
    view = render.render_view(sc.Scene(client, plane, sphere), k, t, label=False)
    ys, xs = np.nonzero(view.mask)
    u, v = project(k, t, np.array([centre]))[0]
    assert abs(xs.mean() - u) < 0.3 and abs(ys.mean() - v) < 0.3
    # depth is metric: the table pixels back-project onto z = 0
    table = view.segmentation == plane
    vv, uu = np.nonzero(table)
    origin = t[:3, 3]
    hits = intersect_plane_z(k, t, np.stack([uu, vv], 1), 0.0)
    z_expected = (hits - origin) @ t[:3, 2]
    np.testing.assert_allclose(view.depth[table], z_expected, atol=2e-5)


def test_camera_json_projects_object_surface_to_its_mask(client, tmp_path):
    rng = np.random.default_rng([11, 0])
    obj, spec = sc.sample_object(rng), sc.sample_view(rng)
    scene = sc.build_scene(client, obj, spec)
    view = render.render_dataset_view(scene, spec, 160, rng)
    assert view.labels, "the test scene should have labels"
    write_view(tmp_path, 0, "obj", view, simulate_stereo(view.depth, rng))
    cam = json.loads((tmp_path / "0_obj_camera.json").read_text())
    i = cam["intrinsics"]
    k = Intrinsics(i["fx"], i["fy"], i["cx"], i["cy"], i["width"], i["height"])
    t = np.array(cam["camera_pose"]["matrix"])
    q = p.getMatrixFromQuaternion(cam["camera_pose"]["quaternion_xyzw"])
    np.testing.assert_allclose(np.reshape(q, (3, 3)), t[:3, :3], atol=1e-9)
    np.testing.assert_allclose(cam["camera_pose"]["position"], t[:3, 3])
    # known world points: where vertical rays through the object's box hit its surface
    lo, hi = p.getAABB(scene.target_id, physicsClientId=client)
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 7), np.linspace(lo[1], hi[1], 7))
    starts = [[x, y, 1.0] for x, y in zip(gx.ravel(), gy.ravel(), strict=True)]
    hits = [h for h in p.rayTestBatch(starts, [[s[0], s[1], -0.5] for s in starts],
                                      physicsClientId=client)
            if h[0] == scene.target_id]
    assert len(hits) >= 5
    points = np.array([h[3] for h in hits])
    uv = project(k, t, points)
    on = [view.mask[int(round(v)), int(round(u))] == 255 for u, v in uv]
    assert np.mean(on) >= 0.9, f"{np.mean(on):.2f} of the object's surface points on its mask"
    # and the depth there is the point's optical z
    z = (points - t[:3, 3]) @ t[:3, 2]
    d = np.array([view.depth[int(round(v)), int(round(u))] for u, v in uv])
    assert np.median(np.abs(d - z)) < 0.003
    # the target's recorded pose is pybullet's
    pos, _ = p.getBasePositionAndOrientation(scene.target_id, physicsClientId=client)
    np.testing.assert_allclose(cam["target"]["position"], pos)
