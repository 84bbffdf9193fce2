"""``mtg_grasp demo``: the node with the bundled model on the sample bag (see ``ros/demo.py``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bag", type=Path, default=REPO / "bags" / "sample_table",
                   help="bag to replay (default: the bundled sample bag)")
    p.add_argument("--model", type=Path,
                   default=REPO / "models" / "mtgcnn_p_depth_synth.safetensors",
                   help="model file (default: the bundled model)")
    p.add_argument("--out", type=Path, default=Path("demo_output"),
                   help="folder for the annotated frames, the node's log and summary.json")
    p.add_argument("--rate", type=float, default=1.0, help="replay speed factor")
    p.add_argument("--target-frame", default="base_link")


def run(args: argparse.Namespace) -> int:
    from ..ros.demo import run_demo

    result = run_demo(args.bag, args.model, args.out, args.rate, args.target_frame)
    summary = result.summary()
    (args.out / "summary.json").write_text(json.dumps({**summary, "grasps": result.rows},
                                                      indent=1))
    lat = summary["latency_median_ms"]
    print(f"\nsummary: {summary['frames_sent']} frames sent, {summary['frames_processed']} "
          f"processed, {summary['frames_with_grasp']} with a grasp; "
          f"{summary['rate_hz']:.1f} Hz; latency (image received -> grasp received) "
          + (f"median {lat:.1f} ms, p95 {summary['latency_p95_ms']:.1f} ms"
             if lat is not None else "n/a")
          + f"; device {summary['device']}")
    print(f"annotated frames, node log and summary.json in {args.out.resolve()}")
    return 0 if summary["frames_processed"] > 0 else 1
