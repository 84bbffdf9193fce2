"""``mtg_grasp make-bag``: a sample camera bag (rosbag2, version 8) of a table seen from above."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from itertools import islice
from pathlib import Path

from ..bags.writer import STORAGES


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The command's options."""
    p.add_argument("out", type=Path, help="rosbag2 folder to create (must not exist)")
    p.add_argument("--source", choices=("synth", "toy"), default="synth",
                   help="synth: objects rendered by the synthetic data engine (pybullet); "
                        "toy: coloured shapes drawn with OpenCV")
    p.add_argument("--frames", type=int, default=24,
                   help="frames in all (synth: a new object every 4 frames)")
    p.add_argument("--fps", type=float, default=10.0)
    p.add_argument("--size", type=int, nargs=2, default=(320, 240), metavar=("W", "H"))
    p.add_argument("--seed", type=int, default=0, help="object layout")
    p.add_argument("--storage", choices=sorted(STORAGES), default="sqlite3")
    p.add_argument("--world-frame", default="base_link",
                   help="parent frame of the camera pose (the node's default target_frame)")


def run(args: argparse.Namespace) -> int:
    """Write the bag; exit code 0."""
    from ..bags.sample import (
        CameraFrame,
        default_camera,
        synth_table_frames,
        toy_table_frames,
        write_camera_bag,
    )

    if args.frames < 1 or args.fps <= 0:
        raise SystemExit("--frames must be >= 1 and --fps > 0")
    width, height = args.size
    frames: Iterable[CameraFrame]
    if args.source == "synth":
        frames = islice(synth_table_frames(-(-args.frames // 4), 4, args.fps, width, height,
                                           seed=args.seed), args.frames)
    else:
        frames = toy_table_frames(args.frames, args.fps, default_camera(width, height),
                                  seed=args.seed)
    n = write_camera_bag(args.out, frames, args.world_frame, storage=args.storage)
    size = sum(f.stat().st_size for f in args.out.iterdir())
    print(f"wrote {args.out}: {n} frames, {size / 1e6:.1f} MB ({args.storage}, rosbag2 "
          f"version 8)")
    return 0
