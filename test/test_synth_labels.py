"""The analytic labeller and the physics check of its labels."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pybullet as p
import pytest

from mtg_grasp_ros.synth import render
from mtg_grasp_ros.synth import scene as sc
from mtg_grasp_ros.synth.labeller import Gripper, height_map, label_grasps
from mtg_grasp_ros.synth.verify import GraspVerifier, verify_labels


@pytest.fixture(scope="module")
def labelled():
    c = sc.connect()
    rng = np.random.default_rng([5, 3])
    obj, spec = sc.sample_object(rng), sc.sample_view(rng)
    scene = sc.build_scene(c, obj, spec)
    view = render.render_dataset_view(scene, spec, 200, rng)
    yield scene, view
    p.disconnect(c)


def test_labels_are_antipodal_grasps_on_the_object(labelled):
    scene, view = labelled
    assert 0 < len(view.labels) <= 150
    g = Gripper()
    for label in view.labels:
        x, y = int(round(label.grasp.x)), int(round(label.grasp.y))
        assert view.mask[y, x] == 255
        assert label.opening <= g.max_opening + 1e-9
        assert g.min_height - 1e-9 <= label.height
        assert math.isclose(math.hypot(*label.direction), 1.0, rel_tol=1e-9)
        assert -math.pi / 2 <= label.grasp.angle < math.pi / 2


def test_no_labels_with_a_gripper_too_small_for_the_object(labelled):
    scene, view = labelled
    heights = height_map(view.intrinsics, view.camera_pose, view.depth)
    tiny = Gripper(max_opening=0.005)
    assert label_grasps(heights, view.depth, view.segmentation, scene.target_id,
                        view.intrinsics, view.camera_pose, tiny, np.random.default_rng(0)) == []


def test_physics_check_returns_a_fraction_and_rejects_a_grasp_in_thin_air(labelled):
    scene, view = labelled
    trials, held = verify_labels(scene, view.labels, 6, np.random.default_rng(1))
    assert trials == min(6, len(view.labels)) and 0 <= held <= trials
    assert held > 0, "a seeded sample of labels where none holds: labeller or check broken"
    off = dataclasses.replace(view.labels[0], centre=(view.labels[0].centre[0] + 0.3,
                                                      *view.labels[0].centre[1:]))
    assert GraspVerifier(scene).trial(off) is False


@pytest.mark.parametrize("kind", sc.STICKS)
def test_a_stick_settles_lying_down_and_is_grasped_across(kind):
    """Thin long objects (pens, tools): as long as asked, flat on the table, and labelled with
    jaws closing across their length, never along it.
    """
    c = sc.connect()
    try:
        obj = sc.ObjectSpec(kind, 0.15, (0.9, 0.9, 0.85, 1.0), None, aspect=0.08)
        spec = sc.sample_view(np.random.default_rng([11, 2]))
        scene = sc.build_scene(c, obj, spec)
        pos, _ = p.getBasePositionAndOrientation(scene.target_id, physicsClientId=c)
        assert 0.0 < pos[2] < 0.03, f"{kind} should lie on the table, its centre is at {pos}"
        view = render.render_dataset_view(scene, spec, 200, np.random.default_rng(3))
        heights = height_map(view.intrinsics, view.camera_pose, view.depth)
        assert heights[view.mask > 0].max() < 0.03
        assert len(view.labels) >= 3
        ys, xs = np.nonzero(view.mask)
        axis = np.linalg.eigh(np.cov(np.stack([xs, ys]).astype(float)))[1][:, -1]
        stick_angle = math.atan2(axis[1], axis[0])
        closing = np.array([abs(math.remainder(label.grasp.angle - stick_angle, math.pi))
                            for label in view.labels])
        # a handle's thick grip may also be held end to end; a shaft longer than the
        # opening, only across
        across = closing > math.radians(45)
        assert across.all() if kind != "stick/handle" else across.mean() > 0.5, \
            np.degrees(closing)
    finally:
        p.disconnect(c)


def test_sample_object_without_sticks_draws_as_before():
    """The defaults keep old seeds' objects (datasets regenerate byte for byte)."""
    a = sc.sample_object(np.random.default_rng(4))
    b = sc.sample_object(np.random.default_rng(4), sticks=0.0, pale=0.0)
    assert a == b and not a.model.startswith("stick/")
    many = [sc.sample_object(np.random.default_rng(s), sticks=1.0) for s in range(20)]
    assert all(o.model in sc.STICKS and 1 / 20 <= o.aspect <= 1 / 5 and 0.04 <= o.size <= 0.2
               for o in many)
