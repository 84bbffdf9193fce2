"""``mtg_grasp demo``: the node with the bundled model on the sample bag (see ``ros/demo.py``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .replay import add_node_parameter_arguments, parameter_overrides


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Bag, model, output folder, rate, and the node's parameters (``--params-file``, ``-p``)."""
    p.add_argument("--bag", type=Path, default=None,
                   help="bag to replay (default: the bundled sample bag, bags/sample_table)")
    p.add_argument("--model", type=Path, default=None,
                   help="model file (default: the params file's model_path, else the bundled "
                        "model)")
    p.add_argument("--out", type=Path, default=Path("demo_output"),
                   help="folder for the annotated frames, the node's log and summary.json")
    p.add_argument("--rate", type=float, default=1.0, help="replay speed factor")
    add_node_parameter_arguments(p)


def run(args: argparse.Namespace) -> int:
    """Run the demo and write ``summary.json``; exit 1 when the node processed no frame."""
    from ..resources import sample_bag
    from ..ros.demo import run_demo

    overrides = parameter_overrides(args)
    overrides.pop("camera_pose.source", None)     # the demo places the camera from the bag
    overrides.pop("camera_pose.xyz", None)
    overrides.pop("camera_pose.rpy", None)
    result = run_demo(args.bag or sample_bag(), args.model, args.out, args.rate,
                      params_file=args.params_file, overrides=overrides)
    summary = result.summary()
    (args.out / "summary.json").write_text(json.dumps({**summary, "grasps": result.rows},
                                                      indent=1))
    print("\nsummary: " + summary_line(summary))
    print(f"annotated frames, node log and summary.json in {args.out.resolve()}")
    return 0 if summary["frames_processed"] > 0 else 1


def summary_line(summary: dict) -> str:
    """Frames processed of those sent, the two rates side by side, latency and device: every
    frame processed shows as equal rates, whatever the replay's own speed was.
    """
    lat = summary["latency_median_ms"]
    latency = (f"median {lat:.1f} ms, p95 {summary['latency_p95_ms']:.1f} ms"
               if lat is not None else "n/a")
    return (f"{summary['frames_processed']} of {summary['frames_sent']} frames processed, "
            f"{summary['frames_with_grasp']} with a grasp; images arrived at "
            f"{summary['camera_rate_hz']:.1f} Hz as replayed, grasps at "
            f"{summary['rate_hz']:.1f} Hz; latency (image received -> grasp received) "
            f"{latency}; device {summary['device']}")
