"""``mtg_grasp blend``: mix a model with one fine-tuned from it, weight by weight (WiSE-FT)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The command's options."""
    p.add_argument("--base", type=Path, required=True,
                   help="the model fine-tuning started from (.safetensors or .pt)")
    p.add_argument("--tuned", type=Path, required=True,
                   help="a model fine-tuned from --base (.safetensors or .pt)")
    p.add_argument("--alpha", type=float, required=True,
                   help="share of --tuned in each weight: 0 gives --base, 1 gives --tuned")
    p.add_argument("--out", type=Path, required=True, help="models/NAME: writes NAME.safetensors")


def run(args: argparse.Namespace) -> int:
    """Run the command; its exit code."""
    from ..model_io import ModelFileError
    from ..training.checkpoint import CheckpointError
    from ..training.export import blend

    command = "mtg_grasp " + " ".join(shlex.quote(a) for a in args.argv)
    try:
        path, _ = blend(args.base, args.tuned, args.alpha, args.out, command)
    except (CheckpointError, ModelFileError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}: {1 - args.alpha:g} x {args.base} + {args.alpha:g} x {args.tuned}")
    return 0
