"""Physics check of a grasp label: two box fingers close, lift and shake the object.

Each trial restores the settled scene, puts the open fingers at the label's pre-grasp pose
(tips at the grasp height), closes them with a limited force, lifts by 12 cm and shakes
sideways. The grasp holds when the object is lifted with the fingers and still between them.
About 25 ms of CPU per trial.
"""

from __future__ import annotations

import math

import numpy as np
import pybullet as p

from .labeller import GraspLabel, Gripper
from .scene import Scene

FINGER_LENGTH = 0.06      # vertical size of a finger (m)
FORCE = 40.0              # N, the constraint's maximum force (squeeze and carry)
FRICTION = 1.0


class GraspVerifier:
    """Runs trials in a scene; the scene's settled state is saved on construction."""

    _current: list[np.ndarray]      # the fingers' last target positions (set by a trial)

    def __init__(self, scene: Scene, gripper: Gripper = Gripper()):
        self.scene, self.gripper, c = scene, gripper, scene.client
        half = [gripper.finger_thickness / 2, gripper.jaw / 2, FINGER_LENGTH / 2]
        col = p.createCollisionShape(p.GEOM_BOX, halfExtents=half, physicsClientId=c)
        self.fingers, self.constraints = [], []
        for i in range(2):
            f = p.createMultiBody(0.05, col, -1, [i, 5.0, 1.0], physicsClientId=c)
            p.changeDynamics(f, -1, lateralFriction=FRICTION, physicsClientId=c)
            cid = p.createConstraint(f, -1, -1, -1, p.JOINT_FIXED, [0, 0, 0], [0, 0, 0],
                                     [i, 5.0, 1.0], physicsClientId=c)
            p.changeConstraint(cid, maxForce=FORCE, physicsClientId=c)
            self.fingers.append(f)
            self.constraints.append(cid)
        for b in scene.object_ids:
            p.changeDynamics(b, -1, lateralFriction=FRICTION, physicsClientId=c)
        self.state = p.saveState(physicsClientId=c)

    def _drive(self, targets: list[np.ndarray], orn, steps: int) -> None:
        c = self.scene.client
        starts = self._current
        for s in range(1, steps + 1):
            a = s / steps
            for cid, t0, t1 in zip(self.constraints, starts, targets, strict=True):
                p.changeConstraint(cid, list(t0 + a * (t1 - t0)), orn, maxForce=FORCE,
                                   physicsClientId=c)
            p.stepSimulation(physicsClientId=c)
        self._current = [np.asarray(t) for t in targets]

    def trial(self, label: GraspLabel) -> bool:
        """True when the grasp of ``label`` lifts the target and keeps it through a shake."""
        c, g = self.scene.client, self.gripper
        p.restoreState(self.state, physicsClientId=c)
        centre = np.array(label.centre)
        d = np.array([label.direction[0], label.direction[1], 0.0])
        orn = p.getQuaternionFromEuler([0, 0, math.atan2(d[1], d[0])])
        zc = label.height + FINGER_LENGTH / 2
        half = label.opening / 2 + g.finger_thickness / 2
        start = [np.array([*(centre[:2] - d[:2] * half), zc]),
                 np.array([*(centre[:2] + d[:2] * half), zc])]
        for f, cid, pos in zip(self.fingers, self.constraints, start, strict=True):
            p.resetBasePositionAndOrientation(f, pos.tolist(), orn, physicsClientId=c)
            p.resetBaseVelocity(f, [0, 0, 0], [0, 0, 0], physicsClientId=c)
            p.changeConstraint(cid, pos.tolist(), orn, maxForce=FORCE, physicsClientId=c)
        p.performCollisionDetection(physicsClientId=c)
        for f in self.fingers:      # the fingers came down into something: a failed grasp
            if any(pt[8] < -0.002 for pt in p.getContactPoints(f, physicsClientId=c)):
                return False
        self._current = start
        obj = self.scene.target_id
        z0 = p.getBasePositionAndOrientation(obj, physicsClientId=c)[0][2]
        closed = [np.array([*(centre[:2] - d[:2] * g.finger_thickness / 2), zc]),
                  np.array([*(centre[:2] + d[:2] * g.finger_thickness / 2), zc])]
        self._drive(closed, orn, 60)                                  # close (0.25 s)
        self._drive(closed, orn, 24)                                  # squeeze
        up = np.array([0, 0, 0.12])
        self._drive([t + up for t in closed], orn, 96)                # lift (0.4 s)
        for shift in ([0.03, 0, 0], [-0.03, 0, 0], [0, 0.03, 0], [0, 0, 0]):
            self._drive([t + up + shift for t in closed], orn, 24)    # shake
        z1 = p.getBasePositionAndOrientation(obj, physicsClientId=c)[0][2]
        touching = all(p.getContactPoints(obj, f, physicsClientId=c) for f in self.fingers)
        return bool(z1 - z0 > 0.08 and touching)


def verify_labels(scene: Scene, labels: list[GraspLabel], count: int,
                  rng: np.random.Generator, gripper: Gripper = Gripper()) -> tuple[int, int]:
    """Test ``count`` labels drawn by ``rng`` in physics: (trials, successes)."""
    if not labels or count <= 0:
        return 0, 0
    picks = rng.choice(len(labels), size=min(count, len(labels)), replace=False)
    verifier = GraspVerifier(scene, gripper)
    ok = sum(verifier.trial(labels[int(i)]) for i in sorted(picks))
    return len(picks), int(ok)
