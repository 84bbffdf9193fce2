"""Generate a synthetic dataset in the Jacquard format: deterministic, parallel, resumable.

Object ``i`` of a run with seed ``S`` is drawn from ``numpy.random.default_rng([S, i])``
alone (its stereo noise, labels' subsampling and physics trials from their own streams
``[S, i, view, stream]``), so the bytes of every image and label file depend on (S, i, size,
views, distractors, max grasps) only: not on the worker count, the order in which workers
finish, or on ``--verify``.

Each object directory (``views`` Jacquard views) is written to ``.tmp-<name>-<pid>`` and
renamed to ``<name>`` once complete, its ``scene.json`` written last: a directory ``<name>``
with a readable ``scene.json`` is complete and skipped on a rerun; anything else
(``.tmp-*`` left by a killed run, a directory whose ``scene.json`` is missing or broken) is
deleted and made again. Runs must not share an output directory concurrently.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import multiprocessing
import os
import shutil
import signal
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .render import render_dataset_view
from .scene import build_scene, connect, sample_object, sample_view
from .verify import verify_labels
from .world import VIEW_SIDE
from .writer import simulate_stereo, write_view

SCENES = ("tabletop", "world")
MARKER = "scene.json"
SUMMARY = "summary.json"
MAX_ATTEMPTS = 8                    # drops of an object before another object is drawn
MIN_GRASPS = 3                      # a view with fewer valid labels is dropped again
_CLIENT: int | None = None          # this process's pybullet client, made on first use
_PARENT: int | None = None          # a pool worker's parent pid (see _exit_with_parent)
_PR_SET_PDEATHSIG = 1               # linux/prctl.h


@dataclass(frozen=True)
class GenerateConfig:
    """What ``generate`` makes: output directory, object and view counts, seed and scene options."""

    out: str
    objects: int
    views: int = 4
    seed: int = 0
    size: int = 1024
    verify: int = 0                 # labels per view tested in physics
    distractors: int = 0            # extra objects dropped around the target
    max_grasps: int = 150           # labels written per view (random subset of the valid)
    scene: str = "tabletop"         # tabletop: one object (scene.py); world: synth/world.py
    max_objects: int = 4            # world scenes: graspable objects per scene, 1..max
    view_side: tuple[float, float] = VIEW_SIDE   # world scenes: the view's side range (m)
    aim: float = 0.0                # world scenes: share of views that look at an object

    def __post_init__(self) -> None:
        if self.scene not in SCENES:
            raise ValueError(f"scene must be one of {SCENES}, got {self.scene!r}")
        if self.max_objects < 1:
            raise ValueError(f"max_objects must be >= 1, got {self.max_objects}")
        if not 0.0 < self.view_side[0] <= self.view_side[1]:
            raise ValueError(f"view_side must be 0 < min <= max, got {self.view_side}")
        if not 0.0 <= self.aim <= 1.0:
            raise ValueError(f"aim must be in [0, 1], got {self.aim}")


def object_name(seed: int, index: int) -> str:
    """The directory name of object ``index`` (no underscores: ``<k>_<name>_RGB.png``)."""
    return f"s{seed}-{index:06d}"


def read_marker(directory: Path) -> dict | None:
    """The scene record of a complete object directory, or None when it is not complete."""
    try:
        record = json.loads((directory / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and "views" in record else None


def _client() -> int:
    global _CLIENT
    if _CLIENT is None:
        _CLIENT = connect()
    return _CLIENT


def _staging(cfg: GenerateConfig, index: int) -> tuple[str, Path]:
    """The directory name of scene ``index`` and an empty staging folder for it, private to
    this process, so a killed run never leaves a half-written scene under its real name.
    """
    name = object_name(cfg.seed, index)
    tmp = Path(cfg.out) / f".tmp-{name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return name, tmp


def _commit(cfg: GenerateConfig, tmp: Path, record: dict, start: float) -> dict:
    """Mark the staged scene complete and move it under its name; the record plus
    ``seconds``.
    """
    (tmp / MARKER).write_text(json.dumps(record, indent=1))
    final = Path(cfg.out) / record["name"]
    shutil.rmtree(final, ignore_errors=True)        # an incomplete leftover, if any
    os.rename(tmp, final)
    record["seconds"] = time.perf_counter() - start
    return record


def generate_object(cfg: GenerateConfig, index: int) -> dict:
    """Make, label and write all views of one object; returns its record plus ``seconds``."""
    if cfg.scene == "world":
        return generate_world(cfg, index)
    start = time.perf_counter()
    name, tmp = _staging(cfg, index)
    client = _client()
    rng = np.random.default_rng([cfg.seed, index])
    views: list[dict] = []
    obj = sample_object(rng)
    while len(views) < cfg.views:
        k = len(views)
        for _ in range(MAX_ATTEMPTS):
            spec = sample_view(rng, cfg.distractors)
            scene = build_scene(client, obj, spec)
            rv = render_dataset_view(scene, spec, cfg.size,
                                     np.random.default_rng([cfg.seed, index, k, 3]),
                                     cfg.max_grasps)
            if len(rv.labels) >= min(MIN_GRASPS, cfg.max_grasps):
                break
        else:       # this object gives (almost) no grasp: start again with another one
            obj, views = sample_object(rng), []
            for f in tmp.iterdir():
                f.unlink()
            continue
        stereo = simulate_stereo(rv.depth, np.random.default_rng([cfg.seed, index, k, 1]))
        trials, held = verify_labels(scene, rv.labels, cfg.verify,
                                     np.random.default_rng([cfg.seed, index, k, 2]))
        write_view(tmp, k, name, rv, stereo, {"object": {"model": obj.model, "size": obj.size}})
        views.append({"index": k, "grasps": len(rv.labels),
                      "mask_fraction": float((rv.mask > 0).mean()),
                      "verify_trials": trials, "verify_held": held})
    record = {"name": name, "index": index, "seed": cfg.seed, "size": cfg.size,
              "object": asdict(obj), "views": views}
    return _commit(cfg, tmp, record, start)


def _exit_with_parent(parent: int) -> None:
    """Pool initializer: end this worker when ``parent`` dies, so a killed ``generate``
    leaves no workers writing. Linux: the kernel sends SIGKILL (prctl PR_SET_PDEATHSIG);
    elsewhere :func:`_work` checks the parent between jobs.
    """
    global _PARENT
    _PARENT = parent
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))
    if os.getppid() != parent:      # the parent died before prctl took effect
        os._exit(1)


def generate_world(cfg: GenerateConfig, index: int) -> dict:
    """Scene directory ``index`` of world scenes: ``views`` independent worlds (each a new
    support, surroundings, objects, light and camera), every graspable object labelled.
    """
    from .world import build_world, render_world, sample_world

    start = time.perf_counter()
    name, tmp = _staging(cfg, index)
    client = _client()
    rng = np.random.default_rng([cfg.seed, index])
    views: list[dict] = []
    for k in range(cfg.views):
        for _ in range(MAX_ATTEMPTS * 2):
            spec = sample_world(rng, max_objects=cfg.max_objects, view_side=cfg.view_side,
                                aim=cfg.aim)
            world = build_world(client, spec)
            if not world.object_ids:
                continue
            rv = render_world(world, spec, cfg.size,
                              np.random.default_rng([cfg.seed, index, k, 3]), cfg.max_grasps)
            if len(rv.labels) >= min(MIN_GRASPS, cfg.max_grasps):
                break
        else:
            raise RuntimeError(f"{name} view {k}: no labelled scene in {MAX_ATTEMPTS * 2} draws")
        stereo = simulate_stereo(rv.depth, np.random.default_rng([cfg.seed, index, k, 1]))
        models = [s.model for s, _, _ in spec.objects]
        write_view(tmp, k, name, rv, stereo, {"world": {
            "objects": models, "graspable_on_support": len(world.object_ids),
            "clutter": len(spec.clutter), "view_side_m": spec.view_side,
            "camera_distance_m": spec.camera_distance}})
        views.append({"index": k, "grasps": len(rv.labels),
                      "mask_fraction": float((rv.mask > 0).mean()),
                      "objects": len(world.object_ids),
                      "verify_trials": 0, "verify_held": 0})
    record = {"name": name, "index": index, "seed": cfg.seed, "size": cfg.size,
              "scene": "world", "views": views}
    return _commit(cfg, tmp, record, start)


def _work(job: tuple[GenerateConfig, int]) -> dict:
    if _PARENT is not None and os.getppid() != _PARENT:
        os._exit(1)                 # orphaned (no PDEATHSIG on this system): stop here
    return generate_object(*job)


def pending(cfg: GenerateConfig) -> list[int]:
    """Object indices still to make; removes what a killed run left half done."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(".tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    todo = []
    for i in range(cfg.objects):
        d = out / object_name(cfg.seed, i)
        if read_marker(d) is None:
            shutil.rmtree(d, ignore_errors=True)
            todo.append(i)
    return todo


def generate(cfg: GenerateConfig, workers: int = 1, progress: bool = True) -> dict:
    """Make every missing object of ``cfg`` with ``workers`` processes; returns the summary
    (also written to ``<out>/summary.json``).
    """
    start = time.perf_counter()
    todo = pending(cfg)
    made: list[dict] = []
    bar = tqdm(total=len(todo), unit="object", disable=not progress,
               desc=f"generate {cfg.size}px")
    if workers <= 1 or len(todo) <= 1:
        for i in todo:
            made.append(generate_object(cfg, i))
            bar.update()
    else:
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(min(workers, len(todo)), _exit_with_parent, (os.getpid(),)) as pool:
            for record in pool.imap_unordered(_work, [(cfg, i) for i in todo]):
                made.append(record)
                bar.update()
    bar.close()
    summary = summarise(cfg, made, time.perf_counter() - start, workers)
    (Path(cfg.out) / SUMMARY).write_text(json.dumps(summary, indent=1))
    return summary


def summarise(cfg: GenerateConfig, made: list[dict], seconds: float, workers: int) -> dict:
    """Dataset totals over all complete objects, and this run's speed."""
    records = [r for i in range(cfg.objects)
               if (r := read_marker(Path(cfg.out) / object_name(cfg.seed, i))) is not None]
    views = [v for r in records for v in r["views"]]
    grasps = np.array([v["grasps"] for v in views], dtype=np.float64)
    trials = sum(v["verify_trials"] for v in views)
    held = sum(v["verify_held"] for v in views)
    new_images = sum(len(r["views"]) for r in made)
    per_min = 60.0 * new_images / seconds if new_images and seconds > 0 else None
    return {
        "out": str(cfg.out), "config": asdict(cfg), "workers": workers,
        "objects_complete": len(records), "images": len(views),
        "grasps_total": int(grasps.sum()),
        "grasps_per_image": {"mean": float(grasps.mean()) if len(grasps) else 0.0,
                             "min": int(grasps.min()) if len(grasps) else 0,
                             "max": int(grasps.max()) if len(grasps) else 0},
        "verify": {"trials": trials, "held": held,
                   "agreement": held / trials if trials else None},
        "this_run": {"objects_made": len(made), "images_made": new_images,
                     "objects_skipped": cfg.objects - len(made),
                     "seconds": seconds, "images_per_minute": per_min,
                     "minutes_for_2000_images": 2000.0 / per_min if per_min else None},
    }


def format_summary(s: dict) -> str:
    """A few human-readable lines of a summary."""
    g, v, r = s["grasps_per_image"], s["verify"], s["this_run"]
    lines = [f"{s['images']} images of {s['objects_complete']} objects in {s['out']}",
             f"grasps per image: mean {g['mean']:.1f}, min {g['min']}, max {g['max']}"]
    if v["trials"]:
        lines.append(f"label agreement with physics: {v['held']}/{v['trials']} = "
                     f"{100 * v['agreement']:.1f}%")
    lines.append(f"this run: {r['images_made']} images made, {r['objects_skipped']} objects "
                 f"already complete, {r['seconds']:.1f} s with {s['workers']} worker(s)")
    if r["images_per_minute"]:
        lines.append(f"speed: {r['images_per_minute']:.1f} images/min at "
                     f"{s['config']['size']} px; 2,000 images would take "
                     f"{r['minutes_for_2000_images']:.0f} min")
    return "\n".join(lines)
