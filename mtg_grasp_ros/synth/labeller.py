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


def label_grasps(heights: np.ndarray, depth: np.ndarray, segmentation: np.ndarray,
                 target_id: int, k: Intrinsics, t_world_camera: np.ndarray, gripper: Gripper,
                 rng: np.random.Generator, max_grasps: int = 150,
                 centres: int = 200) -> list[GraspLabel]:
    """Antipodal grasps on ``target_id`` (see the module docstring); at most ``max_grasps``,
    a random subset (from ``rng``) when more are valid.
    """
    g = gripper
    target = segmentation == target_id
    if target.sum() < 20:
        return []
    cxy = candidate_centres(target, rng, centres)
    hc = heights[cxy[:, 1], cxy[:, 0]].astype(np.float64)
    zg = np.maximum.reduce([hc - g.finger_depth, 0.5 * hc, np.full_like(hc, g.min_height)])
    ok = zg < hc - 0.002
    cxy, hc, zg = cxy[ok], hc[ok], zg[ok]
    if len(cxy) == 0:
        return []
    # pixels per metre at the grasp plane (top-down camera: depth grows by hc - zg)
    scale = k.fx / (depth[cxy[:, 1], cxy[:, 0]].astype(np.float64) + hc - zg)

    na = len(ANGLES)
    x0 = np.repeat(cxy[:, 0].astype(np.float64), na)
    y0 = np.repeat(cxy[:, 1].astype(np.float64), na)
    th = np.tile(ANGLES, len(cxy))
    zg, s = np.repeat(zg, na), np.repeat(scale, na)
    cos, sin = np.cos(th), np.sin(th)
    max_open, clear = g.max_opening * s, g.clearance * s
    thick, jaw = g.finger_thickness * s, g.jaw * s
    # samples along the jaw line every ~1 mm (at least every pixel)
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
    del index
    mid = len(ACROSS) // 2

    # 2. the run of target at grasp height through the centre, on the centre line
    run = occ[:, mid, :] & tgt[:, mid, :]
    right, left = run[:, kk:], run[:, kk::-1]
    fr, fl = np.argmin(right, axis=1), np.argmin(left, axis=1)       # first free sample
    valid = ~right.all(axis=1) & ~left.all(axis=1)
    f1 = -(fl - 0.5) * step - clear                                  # inner finger faces
    f2 = (fr - 0.5) * step + clear
    opening = f2 - f1
    valid &= opening <= max_open

    # 3. finger footprints free at grasp height (any object)
    foot = ((t[None, :] >= (f1 - thick)[:, None]) & (t[None, :] <= f1[:, None])) | \
           ((t[None, :] <= (f2 + thick)[:, None]) & (t[None, :] >= f2[:, None]))
    valid &= ~(occ & foot[:, None, :]).any(axis=(1, 2))

    # 4. closing: first thing met by each jaw must be the target
    inside = (t[None, :] > f1[:, None]) & (t[None, :] < f2[:, None])
    hit = occ & inside[:, None, :]
    tt = np.broadcast_to(t, hit.shape)
    t1 = np.where(hit, tt, np.inf).min(axis=(1, 2))
    t2 = np.where(hit, tt, -np.inf).max(axis=(1, 2))
    valid &= np.isfinite(t1) & np.isfinite(t2)
    n = np.arange(len(th))
    l1 = np.argmax((hit & (tt == t1[:, None, None])).any(axis=2), axis=1)
    l2 = np.argmax((hit & (tt == t2[:, None, None])).any(axis=2), axis=1)
    j1 = np.rint(np.clip(t1, t[0], t[-1]) / step).astype(np.int64) + kk
    j2 = np.rint(np.clip(t2, t[0], t[-1]) / step).astype(np.int64) + kk
    valid &= tgt[n, l1, j1] & tgt[n, l2, j2]

    # 5. contact normals inside the friction cone
    cone = math.cos(math.atan(g.friction))
    q1 = _inward_cos(heights, px[n, l1, j1], py[n, l1, j1], zg, s, cos, sin)
    q2 = _inward_cos(heights, px[n, l2, j2], py[n, l2, j2], zg, s, -cos, -sin)
    valid &= (q1 >= cone) & (q2 >= cone)

    # the centre between the fingers must lie on the object's mask
    tc = (f1 + f2) / 2
    gx, gy = x0 + tc * cos, y0 + tc * sin
    valid &= _sample(target, gx, gy, False)

    idx = np.flatnonzero(valid)
    if len(idx) > max_grasps:
        idx = np.sort(rng.choice(idx, size=max_grasps, replace=False))
    if len(idx) == 0:
        return []
    centres_w = intersect_plane_z(k, t_world_camera, np.stack([gx[idx], gy[idx]], 1), zg[idx])
    ahead = intersect_plane_z(k, t_world_camera,
                              np.stack([gx[idx] + cos[idx], gy[idx] + sin[idx]], 1), zg[idx])
    dirs = ahead[:, :2] - centres_w[:, :2]
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    labels = []
    for m, i in enumerate(idx):
        grasp = Grasp(float(gx[i]), float(gy[i]), float(wrap_angle(th[i])), float(opening[i]),
                      float(jaw[i]), float(min(q1[i], q2[i])))
        labels.append(GraspLabel(grasp, float(zg[i]),
                                 (float(centres_w[m, 0]), float(centres_w[m, 1]),
                                  float(centres_w[m, 2])),
                                 (float(dirs[m, 0]), float(dirs[m, 1])),
                                 float(opening[i] / s[i])))
    return labels


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
