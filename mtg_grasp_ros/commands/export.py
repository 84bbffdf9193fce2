"""``mtg_grasp export``: a checkpoint's grasp-only model (and optional ONNX) for the node."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The command's options."""
    p.add_argument("--checkpoint", type=Path, required=True, help="best.pt or last.pt of a run")
    p.add_argument("--out", type=Path, required=True,
                   help="models/NAME: writes NAME.safetensors (and NAME.onnx with --onnx)")
    p.add_argument("--onnx", action="store_true", help="also write an ONNX file")
    p.add_argument("--measured", type=Path, metavar="REPORT.json",
                   help="'mtg_grasp evaluate --model CHECKPOINT --split ... --part test --json' "
                        "of this checkpoint: its test accuracy goes into the model's metadata")


def run(args: argparse.Namespace) -> int:
    """Run the command; its exit code."""
    from ..training.checkpoint import CheckpointError
    from ..training.export import export

    command = "mtg_grasp " + " ".join(shlex.quote(a) for a in args.argv)
    try:
        path, meta, onnx = export(args.checkpoint, args.out, command, args.onnx, args.measured)
    except (CheckpointError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    acc = meta.extra['accuracy_is'] if meta.accuracy is None else \
        f"{meta.accuracy:.2f}% ({meta.extra['accuracy_is']})"
    print(f"wrote {path}: grasp-only {meta.config.arch}, trained as "
          f"{meta.extra['trained_as']} on {meta.trained_on}, accuracy {acc}")
    if onnx:
        print(f"wrote {onnx}")
    return 0
