"""Tabletop scenes in pybullet: object catalogue, table, drop and settle, domain randomisation.

A scene is described by plain values (:class:`ObjectSpec`, :class:`ViewSpec`) sampled from a
``numpy`` generator, then built in a pybullet client by :func:`build_scene`. Building resets
the client's simulation first, so the same specs give the same settled poses whatever ran
in that process before (pybullet is deterministic for the same sequence of calls).

The world frame has z up and the table top is the plane z = 0.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import cv2
import numpy as np
import pybullet as p
import pybullet_data

from .textures import noise_texture

#: Named pybullet_data models used beside the 1000 procedural ``random_urdfs``.
NAMED_MODELS = ("duck_vhacd.urdf", "teddy_vhacd.urdf", "lego/lego.urdf", "jenga/jenga.urdf",
                "objects/mug.urdf")
TIME_STEP = 1.0 / 240.0
Quaternion = tuple[float, float, float, float]     # x, y, z, w
#: The table top is 1.2 m square (its texture stretches over it): wider than any view.
TABLE_HALF_SIDE = 0.6


#: Thin long objects built from primitives (``model`` names, not pybullet_data paths): pens,
#: markers, cutlery, tool and brush handles. The random URDFs are blobs, while real tables
#: are full of sticks; without them a model misses pens.
STICKS = ("stick/cylinder", "stick/capsule", "stick/flat", "stick/handle")
#: Thinner sticks get no labels from a 2F-85-like gripper (4 mm lowest fingertip height):
#: they would be taught as objects nobody can grasp.
STICK_MIN_THICKNESS = 0.007


def model_catalogue() -> list[str]:
    """Model paths relative to ``pybullet_data``: the random URDFs, then the named ones."""
    return [f"random_urdfs/{i:03d}/{i:03d}.urdf" for i in range(1000)] + list(NAMED_MODELS)


@dataclass(frozen=True)
class ObjectSpec:
    """One object: which model, how big, how it looks."""

    model: str                      # path relative to pybullet_data
    size: float                     # largest side of its bounding box at rest (m)
    rgba: tuple[float, float, float, float]
    texture_seed: int | None        # None: plain colour
    friction: float = 1.0
    aspect: float = 0.0             # sticks (STICKS): thickness / length


@dataclass(frozen=True)
class Lighting:
    """TinyRenderer lighting of one view."""

    direction: tuple[float, float, float] = (0.4, 0.3, 1.0)
    color: tuple[float, float, float] = (1.0, 1.0, 1.0)
    ambient: float = 0.6
    diffuse: float = 0.35
    specular: float = 0.05
    shadow: bool = False


@dataclass(frozen=True)
class ViewSpec:
    """One drop of the object(s) and how it is seen: table, light and camera jitter."""

    drop_xy: tuple[float, float]
    drop_quaternion: tuple[float, float, float, float]
    distractors: tuple[tuple[ObjectSpec, tuple[float, float], Quaternion], ...]
    table_rgb: tuple[float, float, float]
    table_texture_seed: int
    table_texture_contrast: float
    lighting: Lighting
    fill: float                     # object's largest extent / image side
    camera_distance: float          # metres from the camera to the table along the view
    camera_yaw: float
    camera_tilt: tuple[float, float]
    camera_offset: tuple[float, float]  # target offset from the object, fraction of the view


@dataclass
class Scene:
    """A settled scene in a pybullet client."""

    client: int
    table_id: int
    target_id: int
    distractor_ids: list[int] = field(default_factory=list)
    target_spec: ObjectSpec | None = None

    @property
    def object_ids(self) -> list[int]:
        """The pybullet body ids of the target and the distractors."""
        return [self.target_id, *self.distractor_ids]


def random_unit_quaternion(rng: np.random.Generator) -> tuple[float, float, float, float]:
    """A uniformly random orientation (x, y, z, w) drawn from ``rng``."""
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    return (float(q[0]), float(q[1]), float(q[2]), float(q[3]))


def _pale(rng: np.random.Generator) -> np.ndarray:
    """A light, low-saturation colour: white and pastel objects on light tables."""
    return np.clip(rng.uniform(0.72, 0.97) + rng.normal(0, 0.06, 3), 0.0, 1.0)


def sample_object(rng: np.random.Generator, catalogue: list[str] | None = None,
                  size_range: tuple[float, float] = (0.05, 0.15),
                  sticks: float = 0.0, pale: float = 0.0) -> ObjectSpec:
    """A random model, size and appearance (colour, and a texture half of the time).

    With probability ``sticks`` a thin long object (:data:`STICKS`, 4-20 cm, thickness 1/20
    to 1/5 of its length but at least 7 mm, so the labeller's fingers can hold it) instead
    of a catalogue model; with probability ``pale`` a light,
    barely saturated colour. Both at 0 draw exactly what earlier versions drew.
    """
    if sticks > 0.0 and rng.random() < sticks:
        model = str(rng.choice(STICKS))
        length = float(rng.uniform(0.04, max(0.2, size_range[1])))
        rgb = _pale(rng) if pale > 0.0 and rng.random() < pale else rng.uniform(0.05, 0.95, 3)
        tex = int(rng.integers(2**31)) if rng.random() < 0.3 else None
        return ObjectSpec(model, length, (float(rgb[0]), float(rgb[1]), float(rgb[2]), 1.0),
                          tex, aspect=float(rng.uniform(1 / 20, 1 / 5)))
    catalogue = catalogue or model_catalogue()
    model = catalogue[int(rng.integers(len(catalogue)))]
    rgb = rng.uniform(0.05, 0.95, size=3)
    if pale > 0.0 and rng.random() < pale:
        rgb = _pale(rng)
    tex = int(rng.integers(2**31)) if rng.random() < 0.5 else None
    return ObjectSpec(model, float(rng.uniform(*size_range)),
                      (float(rgb[0]), float(rgb[1]), float(rgb[2]), 1.0), tex)


def sample_lighting(rng: np.random.Generator, height: tuple[float, float], colour_min: float,
                    ambient: tuple[float, float], diffuse: tuple[float, float],
                    specular_max: float) -> Lighting:
    """A TinyRenderer light: direction (x, y in [-1, 1], z in ``height``), colour, strengths.

    The draws' order is fixed: datasets regenerate byte for byte from their seeds.
    """
    direction = (float(rng.uniform(-1, 1)), float(rng.uniform(-1, 1)), float(rng.uniform(*height)))
    return Lighting(direction=direction,
                    color=cast(tuple[float, float, float],
                               tuple(float(c) for c in rng.uniform(colour_min, 1.0, 3))),
                    ambient=float(rng.uniform(*ambient)), diffuse=float(rng.uniform(*diffuse)),
                    specular=float(rng.uniform(0.0, specular_max)), shadow=False)


def sample_view(rng: np.random.Generator, n_distractors: int = 0,
                catalogue: list[str] | None = None) -> ViewSpec:
    """Random drop, table look, lighting and small camera changes for one view.

    Shadows stay off: TinyRenderer's shadow map draws straight-edged bands across the table
    at these camera distances (seen at light distances 0.5-100 m), a cue no real image has.
    """
    if rng.random() < 0.7:      # Jacquard-like light neutral tables most of the time
        grey = rng.uniform(0.55, 0.85)
        table = np.clip(grey + rng.normal(0, 0.03, 3), 0, 1)
    else:
        table = rng.uniform(0.1, 0.95, 3)
    distractors = []
    for _ in range(n_distractors):
        r, a = rng.uniform(0.06, 0.14), rng.uniform(0, 2 * math.pi)
        distractors.append((sample_object(rng, catalogue, (0.04, 0.09)),
                            (r * math.cos(a), r * math.sin(a)), random_unit_quaternion(rng)))
    light = sample_lighting(rng, (0.8, 2.0), 0.85, (0.4, 0.65), (0.2, 0.45), 0.15)
    return ViewSpec(
        drop_xy=cast(tuple[float, float], tuple(float(v) for v in rng.uniform(-0.02, 0.02, 2))),
        drop_quaternion=random_unit_quaternion(rng),
        distractors=tuple(distractors),
        table_rgb=cast(tuple[float, float, float], tuple(float(v) for v in table)),
        table_texture_seed=int(rng.integers(2**31)),
        table_texture_contrast=float(rng.uniform(0.0, 0.25)),
        lighting=light,
        fill=float(rng.uniform(0.35, 0.6)),
        camera_distance=float(rng.uniform(1.45, 1.65)),
        camera_yaw=float(rng.uniform(-math.pi, math.pi)),
        camera_tilt=cast(tuple[float, float], tuple(float(v) for v in rng.normal(0.0, 0.02, 2))),
        camera_offset=cast(tuple[float, float],
                           tuple(float(v) for v in rng.uniform(-0.06, 0.06, 2))),
    )


def _load_texture(client: int, image_rgb: np.ndarray) -> int:
    """Load an RGB image as a pybullet texture (through a temporary PNG file)."""
    fd, path = tempfile.mkstemp(suffix=".png", prefix="mtg_synth_tex_")
    os.close(fd)
    try:
        cv2.imwrite(path, cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))
        return p.loadTexture(path, physicsClientId=client)
    finally:
        os.unlink(path)


def connect() -> int:
    """A new headless (DIRECT) pybullet client."""
    return p.connect(p.DIRECT)


def _stick(client: int, spec: ObjectSpec, position: list[float],
           quaternion: tuple[float, float, float, float]) -> int:
    """A :data:`STICKS` body along x: ``spec.size`` long, ``spec.aspect * size`` thick.

    ``stick/handle`` is a thin shaft with a handle twice as thick on 35-45% of its length
    (screwdriver, toothbrush, spoon); ``stick/flat`` a thin bar (ruler, knife).
    """
    length, thick = spec.size, max(STICK_MIN_THICKNESS, spec.aspect * spec.size)
    kind = spec.model.split("/", 1)[1]
    if kind == "handle":
        grip = length * (0.35 + 0.1 * (spec.aspect * 6 % 1))   # deterministic in the spec
        parts = [(p.GEOM_BOX, [grip / 2, thick, thick * 0.8], [-(length - grip) / 2, 0, 0]),
                 (p.GEOM_BOX, [(length - grip) / 2, thick / 3, thick / 4],
                  [grip / 2, 0, -thick * 0.55])]
        col = p.createCollisionShapeArray(
            [t for t, _, _ in parts], halfExtents=[h for _, h, _ in parts],
            collisionFramePositions=[f for _, _, f in parts], physicsClientId=client)
        vis = p.createVisualShapeArray(
            [t for t, _, _ in parts], halfExtents=[h for _, h, _ in parts],
            visualFramePositions=[f for _, _, f in parts], physicsClientId=client)
    else:
        turn = p.getQuaternionFromEuler([0.0, math.pi / 2, 0.0])   # primitives' axis is z
        if kind == "flat":
            he = [length / 2, thick / 2, max(0.005, thick / 4)]
            col = p.createCollisionShape(p.GEOM_BOX, halfExtents=he, physicsClientId=client)
            vis = p.createVisualShape(p.GEOM_BOX, halfExtents=he, physicsClientId=client)
        else:
            shape = p.GEOM_CYLINDER if kind == "cylinder" else p.GEOM_CAPSULE
            core = length - (thick if kind == "capsule" else 0.0)
            col = p.createCollisionShape(shape, radius=thick / 2, height=core,
                                         collisionFrameOrientation=turn,
                                         physicsClientId=client)
            vis = p.createVisualShape(shape, radius=thick / 2, length=core,
                                      visualFrameOrientation=turn, physicsClientId=client)
    body = p.createMultiBody(0.05, col, vis, basePosition=position,
                             baseOrientation=quaternion, physicsClientId=client)
    # round sticks roll off the support without some rolling resistance
    p.changeDynamics(body, -1, rollingFriction=0.002, spinningFriction=0.002,
                     angularDamping=0.5, physicsClientId=client)
    return body


def _load_object(client: int, spec: ObjectSpec, xy: tuple[float, float],
                 quaternion: tuple[float, float, float, float]) -> int:
    """Load ``spec`` scaled to its size, resting just above the table at ``xy``."""
    if spec.model.startswith("stick/"):
        body = _stick(client, spec, [xy[0], xy[1], 0.5], quaternion)
    else:
        path = str(Path(pybullet_data.getDataPath()) / spec.model)
        probe = p.loadURDF(path, physicsClientId=client)
        lo, hi = p.getAABB(probe, physicsClientId=client)
        p.removeBody(probe, physicsClientId=client)
        scale = spec.size / max(1e-6, float(max(np.subtract(hi, lo))))
        body = p.loadURDF(path, [xy[0], xy[1], 0.5], quaternion, globalScaling=scale,
                          physicsClientId=client)
    lo, _ = p.getAABB(body, physicsClientId=client)
    pos, orn = p.getBasePositionAndOrientation(body, physicsClientId=client)
    p.resetBasePositionAndOrientation(body, [pos[0], pos[1], pos[2] - lo[2] + 0.005], orn,
                                      physicsClientId=client)
    texture = -1
    if spec.texture_seed is not None:
        texture = _load_texture(client, noise_texture(spec.texture_seed, 128, 0.6, spec.rgba[:3]))
    for link in range(-1, p.getNumJoints(body, physicsClientId=client)):
        p.changeVisualShape(body, link, rgbaColor=list(spec.rgba), textureUniqueId=texture,
                            physicsClientId=client)
        p.changeDynamics(body, link, lateralFriction=spec.friction, physicsClientId=client)
    return body


def settle(client: int, bodies: list[int], max_steps: int = 1200, still: float = 1e-3) -> int:
    """Step physics until every body is still (or ``max_steps``); returns the steps taken."""
    for step in range(1, max_steps + 1):
        p.stepSimulation(physicsClientId=client)
        if step % 24 == 0:
            speeds = [np.linalg.norm(np.concatenate(p.getBaseVelocity(b, physicsClientId=client)))
                      for b in bodies]
            if max(speeds) < still:
                return step
    return max_steps


def build_scene(client: int, target: ObjectSpec, view: ViewSpec) -> Scene:
    """Reset ``client``, drop the target (and distractors) on the table, settle them."""
    p.resetSimulation(physicsClientId=client)
    p.setGravity(0, 0, -9.81, physicsClientId=client)
    p.setTimeStep(TIME_STEP, physicsClientId=client)
    half = [TABLE_HALF_SIDE, TABLE_HALF_SIDE, 0.025]
    table = p.createMultiBody(
        0, p.createCollisionShape(p.GEOM_BOX, halfExtents=half, physicsClientId=client),
        p.createVisualShape(p.GEOM_BOX, halfExtents=half, rgbaColor=[1, 1, 1, 1],
                            physicsClientId=client),
        basePosition=[0, 0, -0.025], physicsClientId=client)
    p.changeDynamics(table, -1, lateralFriction=0.8, physicsClientId=client)
    tex = noise_texture(view.table_texture_seed, 512, view.table_texture_contrast,
                        view.table_rgb)
    p.changeVisualShape(table, -1, textureUniqueId=_load_texture(client, tex),
                        physicsClientId=client)
    target_id = _load_object(client, target, view.drop_xy, view.drop_quaternion)
    distractors = [_load_object(client, s, xy, q) for s, xy, q in view.distractors]
    settle(client, [target_id, *distractors])
    return Scene(client, table, target_id, distractors, target)
