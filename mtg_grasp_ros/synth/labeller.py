"""Analytic antipodal grasp labels on a rendered height map.

For candidate centres on the target's mask and angles every 15 deg, a top-down parallel
gripper (:class:`Gripper`) is modelled in the image:

1. the fingers reach down to a grasp height ``z_g`` (``finger_depth`` below the surface at
   the centre, but not below half of it, nor below ``min_height`` above the table);
2. along the jaw line through the centre, the object at grasp height is the run of target
   pixels with height >= ``z_g``; where the line leaves it are the contacts, and the fingers
   open ``clearance`` beyond them (that pre-grasp opening must not exceed ``max_opening``);
3. both finger footprints (``finger_thickness`` x ``jaw``) must be free below ``z_g`` (no
   object, the target or another, rises into them);
4. closing, each jaw (sampled on five parallel lines across its width) stops at the first
   thing at grasp height: it must be the target, not another object;
5. the contact normals (from the occupancy around each contact at grasp height) must lie
   inside the friction cone of half-angle atan(``friction``) about the closing direction.

Grasps are returned in pixels of the image (Jacquard units: opening and jaw size in px,
converted with the camera's scale at the grasp) together with their metric pose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ..grasp import Grasp, wrap_angle
from .camera import Intrinsics, intersect_plane_z

ANGLES = np.radians(np.arange(-90.0, 90.0, 15.0))
ACROSS = np.array([-0.5, -0.25, 0.0, 0.25, 0.5])   # jaw sample lines, fractions of the jaw size
SAMPLE_STEP = 0.001                                 # metres between samples along a jaw line


@dataclass(frozen=True)
class Gripper:
    """A parallel two-finger gripper approaching from above (metres)."""

    max_opening: float = 0.085      # like a Robotiq 2F-85
    jaw: float = 0.02               # finger width across the closing direction
    finger_thickness: float = 0.01  # along the closing direction
    finger_depth: float = 0.03      # how far below the surface at the centre the tips go
    clearance: float = 0.008        # pre-grasp gap beyond each contact
    friction: float = 0.5           # friction coefficient assumed by the labeller
    min_height: float = 0.004       # lowest finger-tip height above the table


@dataclass(frozen=True)
class GraspLabel:
    """A labelled grasp: in pixels, and as a metric top-down grasp in the world frame."""

    grasp: Grasp
    height: float                   # finger-tip height above the table (m)
    centre: tuple[float, float, float]      # world point between the fingertips
    direction: tuple[float, float]          # world closing direction (unit, horizontal)
    opening: float                  # pre-grasp opening (m)


def height_map(k: Intrinsics, t_world_camera: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """Height above the table (world z) of the surface seen at each pixel, float32."""
    r = np.asarray(t_world_camera, dtype=np.float64)
    u = ((np.arange(k.width) - k.cx) / k.fx * r[2, 0]).astype(np.float32)
    v = ((np.arange(k.height) - k.cy) / k.fy * r[2, 1] + r[2, 2]).astype(np.float32)
    return (np.float32(r[2, 3]) + depth.astype(np.float32) * (u[None, :] + v[:, None]))


def _flat_index(shape: tuple[int, int], xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Flat index of the nearest pixel, or ``h * w`` (one past the end) outside the image."""
    h, w = shape
    xi, yi = np.rint(xs).astype(np.int64), np.rint(ys).astype(np.int64)
    inside = (xi >= 0) & (yi >= 0) & (xi < w) & (yi < h)
    return np.where(inside, yi * w + xi, h * w)


def _take(img: np.ndarray, index: np.ndarray, fill) -> np.ndarray:
    """Pixels of ``img`` at flat ``index`` (from :func:`_flat_index`), ``fill`` outside."""
    return np.append(img.ravel(), np.array(fill, dtype=img.dtype))[index]


def _sample(img: np.ndarray, xs: np.ndarray, ys: np.ndarray, fill) -> np.ndarray:
    """Nearest-pixel lookup with ``fill`` outside the image."""
    return _take(img, _flat_index(img.shape, xs, ys), fill)


def candidate_centres(mask: np.ndarray, rng: np.random.Generator, count: int = 200) -> np.ndarray:
    """About ``count`` pixels (N, 2) of (x, y) on a grid over the eroded mask."""
    inner = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    ys, xs = np.nonzero(inner)
    if len(xs) <= count:
        return np.stack([xs, ys], axis=1)
    stride = max(1, int(round(math.sqrt(len(xs) / count))))
    ox, oy = rng.integers(stride, size=2)
    keep = ((xs + ox) % stride == 0) & ((ys + oy) % stride == 0)
    return np.stack([xs[keep], ys[keep]], axis=1)


@dataclass
class _JawLines:
    """Every candidate (centre x angle), sampled along its jaw line (``t``, every ``step``
    pixels, ``kk`` samples each side) and across it (``ACROSS``): pixel coordinates, whether
    anything stands at grasp height there (``occ``) and whether it is the target (``tgt``).
    Lengths are in pixels at the grasp plane (``s`` pixels per metre).
    """

    x0: np.ndarray
    y0: np.ndarray
    th: np.ndarray
    zg: np.ndarray
    s: np.ndarray
    cos: np.ndarray
    sin: np.ndarray
    max_open: np.ndarray
    clear: np.ndarray
    thick: np.ndarray
    jaw: np.ndarray
    step: float
    kk: int
    t: np.ndarray
    px: np.ndarray
    py: np.ndarray
    occ: np.ndarray
    tgt: np.ndarray


def _grasp_centres(heights: np.ndarray, depth: np.ndarray, target: np.ndarray,
                   k: Intrinsics, g: Gripper, rng: np.random.Generator, centres: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """1. candidate centres on the target, their grasp heights and pixels per metre at the
    grasp plane (top-down camera: depth grows by the height above it); None when none.
    """
    cxy = candidate_centres(target, rng, centres)
    hc = heights[cxy[:, 1], cxy[:, 0]].astype(np.float64)
    zg = np.maximum.reduce([hc - g.finger_depth, 0.5 * hc, np.full_like(hc, g.min_height)])
    ok = zg < hc - 0.002
    cxy, hc, zg = cxy[ok], hc[ok], zg[ok]
    if len(cxy) == 0:
        return None
    scale = k.fx / (depth[cxy[:, 1], cxy[:, 0]].astype(np.float64) + hc - zg)
    return cxy, zg, scale


def _jaw_lines(heights: np.ndarray, target: np.ndarray, cxy: np.ndarray, zg: np.ndarray,
               scale: np.ndarray, g: Gripper) -> _JawLines:
    """Each centre at every angle of ``ANGLES``, sampled every ~1 mm (at least every pixel)."""
    na = len(ANGLES)
    x0 = np.repeat(cxy[:, 0].astype(np.float64), na)
    y0 = np.repeat(cxy[:, 1].astype(np.float64), na)
    th = np.tile(ANGLES, len(cxy))
    zg, s = np.repeat(zg, na), np.repeat(scale, na)
    cos, sin = np.cos(th), np.sin(th)
    max_open, thick, jaw = g.max_opening * s, g.finger_thickness * s, g.jaw * s
    step = max(1.0, float(np.floor(np.median(s) * SAMPLE_STEP)))
    kk = int(math.ceil(float(np.max(max_open / 2 + thick)) / step)) + 2
    t = np.arange(-kk, kk + 1, dtype=np.float64) * step             # along the jaw line
    a = ACROSS[None, :] * jaw[:, None]                               # (N, L) across it
    c3, s3 = cos[:, None, None], sin[:, None, None]
    px = x0[:, None, None] + t[None, None, :] * c3 - a[:, :, None] * s3
    py = y0[:, None, None] + t[None, None, :] * s3 + a[:, :, None] * c3
    index = _flat_index(heights.shape, px, py)
    occ = _take(heights, index, 0.0) >= zg[:, None, None]            # anything at grasp height
    tgt = _take(target, index, False)
    return _JawLines(x0, y0, th, zg, s, cos, sin, max_open, g.clearance * s, thick, jaw,
                     step, kk, t, px, py, occ, tgt)


def _finger_faces(j: _JawLines) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """2. the inner finger faces, just beyond the run of target at grasp height through the
    centre on the centre line; and where that run ends within the opening.
    """
    run = j.occ[:, len(ACROSS) // 2, :] & j.tgt[:, len(ACROSS) // 2, :]
    right, left = run[:, j.kk:], run[:, j.kk::-1]
    fr, fl = np.argmin(right, axis=1), np.argmin(left, axis=1)       # first free sample
    f1 = -(fl - 0.5) * j.step - j.clear
    f2 = (fr - 0.5) * j.step + j.clear
    valid = ~right.all(axis=1) & ~left.all(axis=1) & (f2 - f1 <= j.max_open)
    return f1, f2, valid


def _feet_free(j: _JawLines, f1: np.ndarray, f2: np.ndarray) -> np.ndarray:
    """3. the finger footprints free at grasp height (of any object)."""
    t = j.t[None, :]
    foot = ((t >= (f1 - j.thick)[:, None]) & (t <= f1[:, None])) | \
           ((t <= (f2 + j.thick)[:, None]) & (t >= f2[:, None]))
    return ~(j.occ & foot[:, None, :]).any(axis=(1, 2))


def _first_contacts(j: _JawLines, f1: np.ndarray, f2: np.ndarray
                    ) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """4. closing: where each jaw first meets something, valid where both meet the target;
    the contacts as (line across, sample along) of the first jaw, then of the second.
    """
    inside = (j.t[None, :] > f1[:, None]) & (j.t[None, :] < f2[:, None])
    hit = j.occ & inside[:, None, :]
    tt = np.broadcast_to(j.t, hit.shape)
    t1 = np.where(hit, tt, np.inf).min(axis=(1, 2))
    t2 = np.where(hit, tt, -np.inf).max(axis=(1, 2))
    valid = np.isfinite(t1) & np.isfinite(t2)
    n = np.arange(len(j.th))
    l1 = np.argmax((hit & (tt == t1[:, None, None])).any(axis=2), axis=1)
    l2 = np.argmax((hit & (tt == t2[:, None, None])).any(axis=2), axis=1)
    j1 = np.rint(np.clip(t1, j.t[0], j.t[-1]) / j.step).astype(np.int64) + j.kk
    j2 = np.rint(np.clip(t2, j.t[0], j.t[-1]) / j.step).astype(np.int64) + j.kk
    valid &= j.tgt[n, l1, j1] & j.tgt[n, l2, j2]
    return valid, (l1, j1, l2, j2)


def _contact_cosines(heights: np.ndarray, j: _JawLines, contacts: tuple[np.ndarray, ...]
                     ) -> tuple[np.ndarray, np.ndarray]:
    """5. the cosine between each jaw's closing direction and the surface's inward normal."""
    l1, j1, l2, j2 = contacts
    n = np.arange(len(j.th))
    q1 = _inward_cos(heights, j.px[n, l1, j1], j.py[n, l1, j1], j.zg, j.s, j.cos, j.sin)
    q2 = _inward_cos(heights, j.px[n, l2, j2], j.py[n, l2, j2], j.zg, j.s, -j.cos, -j.sin)
    return q1, q2


def _to_labels(j: _JawLines, idx: np.ndarray, centre: tuple[np.ndarray, np.ndarray],
               opening: np.ndarray, quality: np.ndarray, k: Intrinsics,
               t_world_camera: np.ndarray) -> list[GraspLabel]:
    """The chosen candidates as labels, with their centre and direction on the table."""
    gx, gy = centre
    centres_w = intersect_plane_z(k, t_world_camera, np.stack([gx[idx], gy[idx]], 1), j.zg[idx])
    ahead = intersect_plane_z(k, t_world_camera,
                              np.stack([gx[idx] + j.cos[idx], gy[idx] + j.sin[idx]], 1),
                              j.zg[idx])
    dirs = ahead[:, :2] - centres_w[:, :2]
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    labels = []
    for m, i in enumerate(idx):
        grasp = Grasp(float(gx[i]), float(gy[i]), float(wrap_angle(j.th[i])), float(opening[i]),
                      float(j.jaw[i]), float(quality[i]))
        labels.append(GraspLabel(grasp, float(j.zg[i]),
                                 (float(centres_w[m, 0]), float(centres_w[m, 1]),
                                  float(centres_w[m, 2])),
                                 (float(dirs[m, 0]), float(dirs[m, 1])),
                                 float(opening[i] / j.s[i])))
    return labels


def label_grasps(heights: np.ndarray, depth: np.ndarray, segmentation: np.ndarray,
                 target_id: int, k: Intrinsics, t_world_camera: np.ndarray, gripper: Gripper,
                 rng: np.random.Generator, max_grasps: int = 150,
                 centres: int = 200) -> list[GraspLabel]:
    """Antipodal grasps on ``target_id`` (see the module docstring); at most ``max_grasps``,
    a random subset (from ``rng``) when more are valid.
    """
    target = segmentation == target_id
    if target.sum() < 20:
        return []
    found = _grasp_centres(heights, depth, target, k, gripper, rng, centres)
    if found is None:
        return []
    j = _jaw_lines(heights, target, *found, gripper)
    f1, f2, valid = _finger_faces(j)
    valid &= _feet_free(j, f1, f2)
    touching, contacts = _first_contacts(j, f1, f2)
    valid &= touching
    q1, q2 = _contact_cosines(heights, j, contacts)
    cone = math.cos(math.atan(gripper.friction))
    valid &= (q1 >= cone) & (q2 >= cone)
    # the centre between the fingers must lie on the object's mask
    tc = (f1 + f2) / 2
    gx, gy = j.x0 + tc * j.cos, j.y0 + tc * j.sin
    valid &= _sample(target, gx, gy, False)
    idx = np.flatnonzero(valid)
    if len(idx) > max_grasps:
        idx = np.sort(rng.choice(idx, size=max_grasps, replace=False))
    if len(idx) == 0:
        return []
    return _to_labels(j, idx, (gx, gy), f2 - f1, np.minimum(q1, q2), k, t_world_camera)


def _inward_cos(heights: np.ndarray, x: np.ndarray, y: np.ndarray, zg: np.ndarray,
                s: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Cos of the angle between the push direction (dx, dy) and the surface's inward normal.

    The inward normal at a contact points to the centroid of the occupied (>= ``zg``) pixels
    in a disc of 5 mm around it; 0 where that is ill-defined.
    """
    r = np.maximum(2.0, 0.005 * s)                                   # px
    grid = np.linspace(-1.0, 1.0, 7)
    ox, oy = np.meshgrid(grid, grid)
    disc = ox ** 2 + oy ** 2 <= 1.0
    ox, oy = ox[disc], oy[disc]                                      # (M,)
    sx = x[:, None] + ox[None, :] * r[:, None]
    sy = y[:, None] + oy[None, :] * r[:, None]
    occ = _sample(heights, sx, sy, np.float32(0.0)) >= zg[:, None]
    nx, ny = (occ * ox).mean(axis=1), (occ * oy).mean(axis=1)
    norm = np.hypot(nx, ny)
    good = norm > 0.05
    return np.where(good, (nx * dx + ny * dy) / np.maximum(norm, 1e-9), 0.0)
