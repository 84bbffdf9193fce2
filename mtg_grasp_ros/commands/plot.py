"""``mtg_grasp plot curves|sheet``: validation curves of runs, or a sheet of predictions."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The command's options."""
    sub = p.add_subparsers(dest="what", required=True, metavar="WHAT")
    c = sub.add_parser("curves", help="validation accuracy per epoch of several runs (Fig. 6)")
    c.add_argument("runs", nargs="+", type=Path, help="run directories (with metrics.csv)")
    c.add_argument("--metric", default="val_accuracy", help="metrics.csv column to plot")
    c.add_argument("--out", type=Path, required=True, help="PNG file to write")
    s = sub.add_parser("sheet", help="test images with predicted and ground-truth rectangles")
    s.add_argument("--model", type=Path, required=True, help=".safetensors model or .pt checkpoint")
    s.add_argument("--data", type=Path, required=True)
    s.add_argument("--format", default="auto")
    s.add_argument("--split", type=Path, help="split file: draw the test part of --fold")
    s.add_argument("--fold", type=int, default=0)
    s.add_argument("--count", type=int, default=12, help="how many images")
    s.add_argument("--device", default="auto")
    s.add_argument("--frame", default="whole", choices=("whole", "ggcnn"),
                   help="whole frame as the node sees it, or ggcnn's Cornell window")
    s.add_argument("--out", type=Path, required=True, help="PNG file to write")


def run(args: argparse.Namespace) -> int:
    """Run the command; its exit code."""
    from ..training import plots

    try:
        if args.what == "curves":
            out = plots.plot_curves(args.runs, args.out, args.metric)
        else:
            from ..detector import select_device
            from ..training.export import load_any
            from .evaluate import select_records

            device = select_device(args.device)
            _, records = select_records(args.data, args.format, args.split, args.fold, "test")
            out = plots.plot_sheet(load_any(args.model, device), records[:args.count], args.out,
                                   device, frame=args.frame)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0
