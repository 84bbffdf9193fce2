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
