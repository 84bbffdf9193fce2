"""Scenes that look like the world at the frame's edges: a support with edges, what lies
beyond it, several graspable objects, clutter, shadows and a real camera's look.

The single-object tabletop of :mod:`.scene` fills the whole view with one plain table. A
camera beside an arm sees more: the board or table the objects stand on ends inside the
frame, and beyond its edges lie a floor, a wall, boxes, posts, cables and the robot's base,
often brighter and with harder edges than the objects. A network trained only on tabletops
puts its best grasp on those in real photographs. Here:

* **support**: a box (board on a floor, or a table top) of random size, colour and texture,
  top at z = 0, placed so that its edges fall inside the view in most images;
* **beyond it** (never labelled): a floor below (wood, tiles, carpet, concrete textures), an
  optional wall, boxes, furniture beside a dark opening (a shelf, the slot between two
  boxes), posts, a robot-base cylinder, cables (chains of thin capsules);
* **graspable objects**: 1-4 from the catalogue, 3-15 cm, or thin long sticks (pens,
  cutlery, tool handles, 4-20 cm, :data:`STICK_SHARE`), a quarter of them white or pastel,
  dropped and settled on the support, **each labelled** (antipodal labeller per object); the
  mask is their union;
* **camera**: top-down to oblique (tilt up to about 25 deg), any yaw, the view's side on the
  support 0.25-1.0 m (:data:`VIEW_SIDE`; ``generate --view-side`` draws close-ups), so
  objects span about 5-60% of the image;
* **light**: TinyRenderer light direction, colour, strength; soft image-space shadows cast
  by every body onto what is below it (TinyRenderer's own shadow map draws banding at these
  distances, see :func:`.scene.sample_view`);
* **camera effects** (:func:`mtg_grasp_ros.datasets.augment.camera_effects`): white balance,
  exposure, vignetting, noise, blur, JPEG, baked into the written image.

Everything is drawn from a ``numpy`` generator, so a world depends on its seed only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import cast

import cv2
import numpy as np
import pybullet as p

from .camera import Intrinsics, look_down_pose, projection_matrix, view_matrix, zbuffer_to_depth
from .labeller import GraspLabel, Gripper, height_map, label_grasps
from .render import RenderedView
from .scene import (
    TIME_STEP,
    Lighting,
    ObjectSpec,
    Quaternion,
    _load_object,
    _load_texture,
    model_catalogue,
    random_unit_quaternion,
    sample_lighting,
    sample_object,
    settle,
)
from .textures import TEXTURES, texture_image

#: Shares of thin long objects (pens, cutlery, tools) and of white or pastel objects in a
#: world scene: both are common on real tables and are missed without them.
STICK_SHARE = 0.3
PALE_SHARE = 0.25
VIEW_SIDE = (0.25, 1.0)            # the view's side on the support (m), log-uniform


@dataclass(frozen=True)
class Block:
    """A static box or cylinder of the surroundings (never labelled)."""

    shape: str                                  # "box" | "cylinder" | "capsule"
    half_extents: tuple[float, float, float]    # box; cylinder/capsule: (radius, _, half len)
    position: tuple[float, float, float]
    quaternion: Quaternion
    rgb: tuple[float, float, float]
    texture_seed: int | None = None
    texture_kind: str = "noise"


@dataclass(frozen=True)
class WorldSpec:
    """A whole scene: support, surroundings, graspable objects, light and camera."""

    support: Block
    floor: Block
    clutter: tuple[Block, ...]
    objects: tuple[tuple[ObjectSpec, tuple[float, float], Quaternion], ...]
    lighting: Lighting
    shadow_strength: float          # 0: none; darkening factor of the shadowed pixels
    shadow_offset: tuple[float, float]  # image-space shift per metre of height (fraction/m)
    shadow_blur: float              # fraction of the image side
    view_side: float                # metres of the support seen across the image
    camera_distance: float
    camera_yaw: float
    camera_tilt: tuple[float, float]
    camera_target: tuple[float, float]
    effects_seed: int


def _rgb(rng: np.random.Generator, light: bool = False) -> tuple[float, float, float]:
    if light:
        g = rng.uniform(0.7, 0.98)
        return cast(tuple[float, float, float],
                    tuple(float(v) for v in np.clip(g + rng.normal(0, 0.03, 3), 0, 1)))
    # muted colours mostly (real floors, boxes and furniture are rarely saturated)
    hsv = np.array([[[rng.integers(180), rng.uniform(0, 1) ** 1.5 * 200, rng.uniform(25, 245)]]],
                   np.uint8)
    r, g, b = (float(v) / 255 for v in cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0])
    return (r, g, b)


def _support(rng: np.random.Generator) -> tuple[Block, Block, float, float, float]:
    """A board on the floor (Cornell) or a table (floor far below): support, floor, the
    support's half sides and the floor's height.
    """
    on_floor = rng.random() < 0.5
    thick = float(rng.uniform(0.01, 0.04)) if on_floor else float(rng.uniform(0.5, 0.8))
    sx, sy = rng.uniform(0.25, 0.7, 2)
    light_support = rng.random() < 0.6
    support = Block("box", (float(sx), float(sy), thick / 2), (0.0, 0.0, -thick / 2),
                    (0.0, 0.0, 0.0, 1.0), _rgb(rng, light_support),
                    int(rng.integers(2**31)), str(rng.choice(["noise", "noise", "wood",
                                                               "stripes"])))
    floor_z = -thick
    floor = Block("box", (4.0, 4.0, 0.01), (0.0, 0.0, floor_z - 0.01), (0.0, 0.0, 0.0, 1.0),
                  _rgb(rng), int(rng.integers(2**31)), str(rng.choice(TEXTURES)))
    return support, floor, float(sx), float(sy), floor_z


def _outside(rng: np.random.Generator, sx: float, sy: float, margin: float
             ) -> tuple[float, float]:
    """A point just beyond a random edge of the support (half sides ``sx``, ``sy``)."""
    side = int(rng.integers(4))
    t = rng.uniform(-1, 1)
    d = margin + rng.uniform(0.0, 0.25)
    x, y = [(sx + d, t * sy), (-sx - d, t * sy), (t * sx, sy + d), (t * sx, -sy - d)][side]
    return float(x), float(y)


def _yaw_quaternion(yaw: float) -> tuple[float, float, float, float]:
    return (0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2))


def _posts(rng: np.random.Generator, sx: float, sy: float, floor_z: float) -> list[Block]:
    """Up to three posts (table legs, stands) beyond the support's edges."""
    out = []
    for _ in range(int(rng.integers(0, 4))):
        r = float(rng.uniform(0.015, 0.06))
        h = float(rng.uniform(0.15, 0.9))
        x, y = _outside(rng, sx, sy, r)
        kind = "cylinder" if rng.random() < 0.5 else "box"
        he = (r, r, h / 2) if kind == "box" else (r, 0.0, h / 2)
        out.append(Block(kind, he, (x, y, floor_z + h / 2), (0.0, 0.0, 0.0, 1.0),
                         _rgb(rng, rng.random() < 0.5), None))
    return out


def _edge_boxes(rng: np.random.Generator, sx: float, sy: float, floor_z: float
                ) -> list[Block]:
    """Up to three boxes beyond the support's edges."""
    out = []
    for _ in range(int(rng.integers(0, 4))):
        he = cast(tuple[float, float, float], tuple(float(v) for v in rng.uniform(0.05, 0.25, 3)))
        x, y = _outside(rng, sx, sy, max(he[0], he[1]))
        yaw = float(rng.uniform(-math.pi, math.pi))
        out.append(Block("box", he, (x, y, floor_z + he[2]), _yaw_quaternion(yaw),
                         _rgb(rng, rng.random() < 0.4),
                         int(rng.integers(2**31)) if rng.random() < 0.5 else None))
    return out


def _cables(rng: np.random.Generator, sx: float, sy: float, floor_z: float) -> list[Block]:
    """Up to two cables, chains of thin capsules, mostly on the floor."""
    out = []
    for _ in range(int(rng.integers(0, 3))):
        r = float(rng.uniform(0.003, 0.008))
        x, y = _outside(rng, sx, sy, 0.02)
        a = rng.uniform(-math.pi, math.pi)
        colour = _rgb(rng)
        on_support = rng.random() < 0.3
        z = (r if on_support else floor_z + r)
        if on_support:
            x, y = float(rng.uniform(-sx, sx) * 0.9), float(rng.uniform(-sy, sy) * 0.9)
        for _ in range(int(rng.integers(4, 12))):
            seg = float(rng.uniform(0.04, 0.12))
            a += rng.normal(0, 0.5)
            cx, cy = x + math.cos(a) * seg / 2, y + math.sin(a) * seg / 2
            q = p.getQuaternionFromEuler([0.0, math.pi / 2, float(a)])
            out.append(Block("capsule", (r, 0.0, seg / 2), (cx, cy, z), tuple(q), colour))
            x, y = x + math.cos(a) * seg, y + math.sin(a) * seg
    return out


def _robot_base(rng: np.random.Generator, sx: float, sy: float, floor_z: float
                ) -> list[Block]:
    """A robot base, a big cylinder beside the support, in 30% of scenes."""
    if rng.random() >= 0.3:
        return []
    r = float(rng.uniform(0.08, 0.15))
    x, y = _outside(rng, sx, sy, r)
    h = float(rng.uniform(0.2, 0.5))
    return [Block("cylinder", (r, 0.0, h / 2), (x, y, floor_z + h / 2),
                  (0.0, 0.0, 0.0, 1.0), _rgb(rng, rng.random() < 0.5))]


def _furniture(rng: np.random.Generator, sx: float, sy: float, floor_z: float
               ) -> list[Block]:
    """In 35% of scenes a light cabinet or box beside a dark opening (a shelf's inside, the
    shadowed slot between two boxes): the dark-between-bright corner of Cornell's photographs.
    """
    if rng.random() >= 0.35:
        return []
    he_a = cast(tuple[float, float, float],
                tuple(float(v) for v in rng.uniform([0.08, 0.05, 0.1], [0.3, 0.2, 0.4])))
    he_b = (he_a[0], float(rng.uniform(0.02, 0.12)), he_a[2] * float(rng.uniform(0.6, 1.0)))
    x, y = _outside(rng, sx, sy, max(he_a[0], he_a[1] + 2 * he_b[1]))
    yaw = float(rng.uniform(-math.pi, math.pi))
    q = _yaw_quaternion(yaw)
    step = he_a[1] + he_b[1] + float(rng.uniform(0.0, 0.03))
    dark = float(rng.uniform(0.03, 0.3))
    light_box = Block("box", he_a, (x, y, floor_z + he_a[2]), q, _rgb(rng, True),
                      int(rng.integers(2**31)) if rng.random() < 0.3 else None)
    dark_rgb = cast(tuple[float, float, float], tuple(
        float(v) for v in np.clip(dark * rng.uniform(0.7, 1.3, 3), 0, 1)))
    dark_box = Block("box", he_b, (x - math.sin(yaw) * step, y + math.cos(yaw) * step,
                                   floor_z + he_b[2]), q, dark_rgb,
                     int(rng.integers(2**31)) if rng.random() < 0.5 else None,
                     str(rng.choice(["noise", "wood"])))
    return [light_box, dark_box]


def _wall(rng: np.random.Generator, sx: float, floor_z: float) -> list[Block]:
    """A wall beyond one edge, in 25% of scenes."""
    if rng.random() >= 0.25:
        return []
    d = float(sx + rng.uniform(0.1, 0.6))
    return [Block("box", (0.02, 4.0, 1.0), (d, 0.0, floor_z + 1.0), (0.0, 0.0, 0.0, 1.0),
                  _rgb(rng, True), int(rng.integers(2**31)))]


def _clutter(rng: np.random.Generator, sx: float, sy: float, floor_z: float
             ) -> tuple[Block, ...]:
    """What stands around the support, in a fixed order of draws."""
    return tuple(_posts(rng, sx, sy, floor_z) + _edge_boxes(rng, sx, sy, floor_z)
                 + _cables(rng, sx, sy, floor_z) + _robot_base(rng, sx, sy, floor_z)
                 + _furniture(rng, sx, sy, floor_z) + _wall(rng, sx, floor_z))


def _objects(rng: np.random.Generator, catalogue: list[str], max_objects: int, sticks: float,
             pale: float, sx: float, sy: float
             ) -> tuple[tuple[ObjectSpec, tuple[float, float], Quaternion], ...]:
    """One to ``max_objects`` objects, each (spec, xy, orientation), on the support's middle."""
    n_obj = int(rng.integers(1, max_objects + 1))
    spread = min(sx, sy) * 0.6
    objects = []
    for _ in range(n_obj):
        spec = sample_object(rng, catalogue, (0.03, 0.15), sticks, pale)
        xy = cast(tuple[float, float], tuple(float(v) for v in rng.uniform(-spread, spread, 2)))
        objects.append((spec, xy, random_unit_quaternion(rng)))
    return tuple(objects)


def sample_world(rng: np.random.Generator, catalogue: list[str] | None = None,
                 max_objects: int = 4, sticks: float = STICK_SHARE,
                 pale: float = PALE_SHARE,
                 view_side: tuple[float, float] = VIEW_SIDE, aim: float = 0.0) -> WorldSpec:
    """Draw one scene (see the module docstring for the ranges); ``sticks`` and ``pale`` are
    the shares of thin long and of light-coloured objects (:func:`.scene.sample_object`),
    ``view_side`` the range (m) of the view's side on the support, drawn log-uniformly, and
    ``aim`` the share of views that look at one of the objects (close-ups that it fills)
    instead of a random point of the support.
    """
    catalogue = catalogue or model_catalogue()
    support, floor, sx, sy, floor_z = _support(rng)
    clutter = _clutter(rng, sx, sy, floor_z)
    objects = _objects(rng, catalogue, max_objects, sticks, pale, sx, sy)
    lighting = sample_lighting(rng, (0.6, 2.0), 0.8, (0.35, 0.7), (0.2, 0.5), 0.2)
    light_dir = lighting.direction
    # camera: the view's side on the support, distance, tilt, where it looks
    view_side_m = float(np.exp(rng.uniform(np.log(view_side[0]), np.log(view_side[1]))))
    tilt_mag = float(abs(rng.normal(0, 0.2)))
    tilt_dir = float(rng.uniform(-math.pi, math.pi))
    target = cast(tuple[float, float],
                  tuple(float(v) for v in rng.uniform(-0.5, 0.5, 2) * np.array([sx, sy])))
    drawn = WorldSpec(
        support=support, floor=floor, clutter=clutter, objects=objects,
        lighting=lighting,
        shadow_strength=float(rng.uniform(0.0, 0.5)) if rng.random() < 0.8 else 0.0,
        shadow_offset=(-light_dir[0] / light_dir[2], -light_dir[1] / light_dir[2]),
        shadow_blur=float(rng.uniform(0.003, 0.02)),
        view_side=view_side_m, camera_distance=float(rng.uniform(0.6, 1.6)),
        camera_yaw=float(rng.uniform(-math.pi, math.pi)),
        camera_tilt=(float(tilt_mag * math.cos(tilt_dir)), float(tilt_mag * math.sin(tilt_dir))),
        camera_target=target, effects_seed=int(rng.integers(2**31)))
    if aim > 0.0 and rng.random() < aim:           # drawn last: aim=0 leaves every draw as it was
        ox, oy = objects[int(rng.integers(len(objects)))][1]
        jx, jy = rng.uniform(-0.2, 0.2, 2) * view_side_m
        drawn = replace(drawn, camera_target=(float(ox + jx), float(oy + jy)))
    return drawn


@dataclass
class World:
    """A built world in a pybullet client."""

    client: int
    support_id: int
    floor_id: int
    clutter_ids: list[int]
    object_ids: list[int] = field(default_factory=list)


def _make_block(client: int, b: Block) -> int:
    if b.shape == "box":
        col = p.createCollisionShape(p.GEOM_BOX, halfExtents=list(b.half_extents),
                                     physicsClientId=client)
        vis = p.createVisualShape(p.GEOM_BOX, halfExtents=list(b.half_extents),
                                  rgbaColor=[*b.rgb, 1.0], physicsClientId=client)
    else:
        shape = p.GEOM_CYLINDER if b.shape == "cylinder" else p.GEOM_CAPSULE
        r, length = b.half_extents[0], 2 * b.half_extents[2]
        col = p.createCollisionShape(shape, radius=r, height=length, physicsClientId=client)
        vis = p.createVisualShape(shape, radius=r, length=length, rgbaColor=[*b.rgb, 1.0],
                                  physicsClientId=client)
    body = p.createMultiBody(0, col, vis, basePosition=list(b.position),
                             baseOrientation=list(b.quaternion), physicsClientId=client)
    if b.texture_seed is not None:
        tex = texture_image(b.texture_kind, b.texture_seed, b.rgb, 512)
        p.changeVisualShape(body, -1, textureUniqueId=_load_texture(client, tex),
                            rgbaColor=[1, 1, 1, 1], physicsClientId=client)
    return body


def build_world(client: int, spec: WorldSpec) -> World:
    """Reset ``client``, build the static world, drop the objects on the support, settle."""
    p.resetSimulation(physicsClientId=client)
    p.setGravity(0, 0, -9.81, physicsClientId=client)
    p.setTimeStep(TIME_STEP, physicsClientId=client)
    floor = _make_block(client, spec.floor)
    support = _make_block(client, spec.support)
    p.changeDynamics(support, -1, lateralFriction=0.8, physicsClientId=client)
    clutter = [_make_block(client, b) for b in spec.clutter]
    objects = [_load_object(client, s, xy, q) for s, xy, q in spec.objects]
    settle(client, objects)
    return World(client, support, floor, clutter, on_support(client, support, objects))


def on_support(client: int, support: int, objects: list[int]) -> list[int]:
    """The objects resting on the support, directly or on another object that does.

    Objects that rolled off are not graspable targets any more. Contacts decide, not
    bounding boxes: pybullet's AABB of a concave model reaches centimetres below its lowest
    point, so a bounding-box test dropped about a third of the objects lying on the support
    (their pixels then taught "background").
    """
    resting = {b for b in objects if p.getContactPoints(b, support, physicsClientId=client)}
    grew = True
    while grew:
        grew = False
        for b in objects:
            if b not in resting and any(p.getContactPoints(b, r, physicsClientId=client)
                                        for r in resting):
                resting.add(b)
                grew = True
    return [b for b in objects if b in resting]


def world_camera(spec: WorldSpec, size: int) -> tuple[Intrinsics, np.ndarray]:
    """Intrinsics and ``T_world_camera``: ``view_side`` metres of the support across the image."""
    fov = math.degrees(2 * math.atan(spec.view_side / 2 / spec.camera_distance))
    target = np.array([spec.camera_target[0], spec.camera_target[1], 0.0])
    return (Intrinsics.from_fov(size, size, fov),
            look_down_pose(target, spec.camera_distance, spec.camera_yaw, spec.camera_tilt))


def cast_shadows(rgb: np.ndarray, heights: np.ndarray, seg: np.ndarray, spec: WorldSpec,
                 k: Intrinsics) -> np.ndarray:
    """Soft shadows in image space: every pixel's surface height, pushed away from the light,
    darkens lower surfaces it lands on. Cheap, and without TinyRenderer's banding.
    """
    if spec.shadow_strength <= 0:
        return rgb
    h, w = heights.shape
    px_per_m = k.fx / spec.camera_distance
    dx, dy = spec.shadow_offset
    shadow: np.ndarray = np.zeros((h, w), np.float32)
    levels = np.clip(heights, 0.0, 1.0)
    # three slices of height: each is shifted by its own height (taller, longer shadow)
    for lo, hi in ((0.005, 0.05), (0.05, 0.2), (0.2, 1.0)):
        occ = ((levels >= lo) & (levels < hi)).astype(np.float32)
        if not occ.any():
            continue
        hm = (lo + min(hi, float(levels.max()))) / 2
        m = np.array([[1, 0, dx * hm * px_per_m], [0, 1, dy * hm * px_per_m]], np.float32)
        shifted = cv2.warpAffine(occ, m, (w, h), flags=cv2.INTER_LINEAR)
        shadow = np.maximum(shadow, shifted)
    blur = max(0.5, spec.shadow_blur * w)
    shadow = cast(np.ndarray, cv2.GaussianBlur(shadow, (0, 0), blur))   # cv2 stubs: MatLike
    # a surface is not shadowed by itself: keep shadows off pixels higher than their caster
    shadow *= (levels < 0.005).astype(np.float32) * 0.9 + 0.1
    out = rgb.astype(np.float32) * (1 - spec.shadow_strength * shadow[..., None])
    return np.clip(out, 0, 255).astype(np.uint8)


def render_world(world: World, spec: WorldSpec, size: int, rng: np.random.Generator,
                 max_grasps: int = 150, effects: bool = True) -> RenderedView:
    """Render, shade, label every graspable object, apply camera effects."""
    from ..datasets.augment import camera_effects

    k, pose = world_camera(spec, size)
    cam_z = float(pose[2, 3])
    near, far = max(0.02, cam_z - 1.2), cam_z - spec.floor.position[2] + 2.0
    lt = spec.lighting
    _, _, rgba, zbuf, seg = p.getCameraImage(
        k.width, k.height, view_matrix(pose), projection_matrix(k, near, far),
        renderer=p.ER_TINY_RENDERER, shadow=0, lightDirection=list(lt.direction),
        lightColor=list(lt.color), lightAmbientCoeff=lt.ambient, lightDiffuseCoeff=lt.diffuse,
        lightSpecularCoeff=lt.specular, physicsClientId=world.client)
    rgb = np.asarray(rgba, dtype=np.uint8).reshape(k.height, k.width, 4)[:, :, :3].copy()
    depth = zbuffer_to_depth(np.asarray(zbuf).reshape(k.height, k.width), near, far)
    seg = np.asarray(seg, dtype=np.int32).reshape(k.height, k.width)
    heights = height_map(k, pose, depth)
    rgb = cast_shadows(rgb, heights, seg, spec, k)
    labels: list[GraspLabel] = []
    per = max(1, max_grasps // max(1, len(world.object_ids)))
    for body in world.object_ids:
        labels += label_grasps(heights, depth, seg, body, k, pose, Gripper(), rng, per)
    mask = np.where(np.isin(seg, world.object_ids), 255, 0).astype(np.uint8)
    if effects:
        rgb = camera_effects(rgb, np.random.default_rng(spec.effects_seed))
    first = world.object_ids[0] if world.object_ids else -1
    tpose = p.getBasePositionAndOrientation(first, physicsClientId=world.client) \
        if first >= 0 else ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 1.0))
    view = RenderedView(rgb, depth, seg, mask, k, np.asarray(pose, dtype=np.float64), first,
                        (tuple(tpose[0]), tuple(tpose[1])))
    view.labels = labels
    return view
