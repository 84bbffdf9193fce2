"""``mtg_grasp bench``: per-stage and end-to-end timings of the grasp_detector node, as JSON.

The options; the bench itself (phases, JSON report) is ``ros/bench.py``.
"""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Model, device, image size, and the two phases' lengths."""
    p.add_argument("--model", default="", help="model file; default: the bundled model, or a "
                   "randomly initialised GG-CNN2 (same cost) when there is none")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--frames", type=int, default=300, help="frames of the latency phase")
    p.add_argument("--rate", type=float, default=30.0, help="camera rate of the keep-up phase")
    p.add_argument("--duration", type=float, default=10.0, help="seconds of the keep-up phase")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--torch-threads", type=int, default=0,
                   help="0: the node's default (the measured best)")
    p.add_argument("--precision", default="auto", help="auto, fp32, bf16 or fp16 (CUDA)")
    p.add_argument("--executor", default="auto", help="auto, single, multi or events")
    p.add_argument("--soak", type=float, default=0.0, metavar="SECONDS",
                   help="keep-up phase of this many seconds (e.g. 600), resident memory "
                   "sampled every twentieth of it; replaces --duration")
    p.add_argument("--camera-qos", default="reliable", choices=("reliable", "best_effort"),
                   help="reliability of the camera's publishers (most drivers: reliable); the "
                        "node follows it (qos.reliability auto). Large best-effort images are "
                        "mostly lost between processes by the default DDS transport")
    p.add_argument("--camera-only", action="store_true", help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    """The bench (or, with --camera-only, its camera process)."""
    from ..ros.bench import run_bench, run_camera

    return run_camera(args) if args.camera_only else run_bench(args)
