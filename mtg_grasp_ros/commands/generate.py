"""``mtg_grasp generate``: a synthetic grasp dataset in the Jacquard on-disk format."""

from __future__ import annotations

import argparse
import json

from ..synth.generate import GenerateConfig, format_summary, generate
from ..synth.world import VIEW_SIDE


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The command's options."""
    p.add_argument("--out", required=True, help="output directory (resumed if it exists)")
    p.add_argument("--objects", type=int, required=True, help="number of objects (directories)")
    p.add_argument("--views", type=int, default=4, help="views (drops) per object")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=1, help="processes")
    p.add_argument("--size", type=int, default=1024, help="image side in pixels")
    p.add_argument("--verify", type=int, default=0, metavar="K",
                   help="test K labels per view in physics and report the agreement")
    p.add_argument("--distractors", type=int, default=0, help="extra objects per scene")
    p.add_argument("--max-grasps", type=int, default=150, help="labels per view at most")
    p.add_argument("--scene", default="tabletop", choices=("tabletop", "world"),
                   help="tabletop: one object filling 35-60%% of a plain table view; world: a "
                   "support with edges, floor, clutter, 1..--max-objects labelled objects of "
                   "5-60%% of the view, shadows and camera effects (synth/world.py)")
    p.add_argument("--max-objects", type=int, default=4, help="world scenes: graspable "
                   "objects per scene at most")
    p.add_argument("--view-side", type=float, nargs=2, default=VIEW_SIDE, metavar=("MIN", "MAX"),
                   help="world scenes: the range of the view's side on the support in metres, "
                   "drawn log-uniformly (default %(default)s; smaller for close-ups of "
                   "objects that fill the view)")
    p.add_argument("--aim", type=float, default=0.0, metavar="P",
                   help="world scenes: share of views whose camera looks at one of the objects "
                   "instead of a random point of the support (default 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args: argparse.Namespace) -> int:
    """Run the command; its exit code."""
    if args.objects < 1 or args.views < 1 or args.size < 32:
        raise SystemExit("generate: --objects and --views must be >= 1 and --size >= 32")
    try:
        cfg = GenerateConfig(args.out, args.objects, args.views, args.seed, args.size,
                             args.verify, args.distractors, args.max_grasps, args.scene,
                             args.max_objects, tuple(args.view_side), args.aim)
    except ValueError as exc:       # the config's own checks, as a one-line command error
        raise SystemExit(f"generate: {exc}") from None
    summary = generate(cfg, args.workers, progress=not args.no_progress)
    print(json.dumps(summary) if args.json else format_summary(summary))
    return 0
