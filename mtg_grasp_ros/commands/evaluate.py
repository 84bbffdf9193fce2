"""``mtg_grasp evaluate``: the paper's metric for a model on a dataset, or a fold's test part."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..postprocess import PAPER_SIGMA, PostprocessConfig
from ..settings import check_value, defaults

NODE_DEFAULTS = defaults()


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``evaluate`` command's options."""
    p.add_argument("--model", type=Path, required=True,
                   help="model file (.safetensors) or training checkpoint (.pt)")
    p.add_argument("--data", type=Path, required=True, help="dataset directory")
    p.add_argument("--format", default="auto", help="auto, jacquard or cornell")
    p.add_argument("--split", type=Path, help="split file; evaluates the test part of --fold")
    p.add_argument("--fold", type=int, default=0)
    p.add_argument("--part", default="test", choices=("train", "val", "test"))
    p.add_argument("--skip-bad", action="store_true", help="skip and count bad scenes")
    p.add_argument("--json", type=Path, help="write per-image results here")
    p.add_argument("--sigma", type=float, default=PAPER_SIGMA,
                   help="Gaussian sigma (px) on Q, angle and width")
    p.add_argument("--precision", nargs="+", default=["fp32"], metavar="P",
                   help="arithmetic of the network, one or more of auto, fp32, bf16, fp16 "
                   "(CUDA): the accuracy is reported for each (as the node runs it: "
                   "channels_last, autocast, fp32 postprocessing)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--workers", type=int, default=-1)
    p.add_argument("--device", default="auto")
    p.add_argument("--frame", default="whole", choices=("whole", "ggcnn"),
                   help="whole: the largest centred square of each image, as the node sees a "
                   "frame; ggcnn: a 300x300 px window centred on the mean of the labelled "
                   "corners, clamped to the image (dougsm/ggcnn's Cornell protocol)")
    p.add_argument("--max-opening", type=float, metavar="M",
                   help="score what the node would publish first instead of the top grasp: "
                   "the best of --top-k candidates whose opening, on the support plane, is at "
                   "most M metres (the node's max_opening; an image with none counts as "
                   "wrong). Needs the camera file the generator writes beside each view "
                   "(--skip-bad leaves out the views without one)")
    p.add_argument("--top-k", type=int, default=NODE_DEFAULTS["top_k"],
                   help="candidates with --max-opening (default: the node's top_k, "
                   "%(default)s)")


def select_records(data: Path, fmt: str, split: Path | None, fold: int, part: str,
                   skip_bad: bool = False, need: tuple[str, ...] = ("rgb",)):
    """The records to evaluate: a split fold's part, or the whole dataset."""
    from ..datasets import open_dataset
    from ..datasets.splits import load_split, select

    index = open_dataset(data, fmt, need=need, skip_bad=skip_bad)
    if split is None:
        return index, index.records
    ids = getattr(load_split(split).fold(fold), part)
    return index, select(index.records, ids, f"{part} part of fold {fold}")


def run(args: argparse.Namespace) -> int:
    """Evaluate the model at each precision and print (and optionally save) the accuracy;
    status 2 on bad input.
    """
    from .. import precision as prec
    from ..datasets import DatasetError
    from ..detector import PrecisionModel, select_device
    from ..training.evaluate import evaluate_records
    from ..training.export import load_any

    device = select_device(args.device)
    node_pick = args.max_opening is not None
    try:
        if node_pick:       # the node's own bounds on both
            check_value("max_opening", args.max_opening)
            check_value("top_k", args.top_k)
        post = PostprocessConfig(sigma_q=args.sigma, sigma_angle=args.sigma,
                                 sigma_width=args.sigma, top_k=args.top_k if node_pick else 1)
        dtypes = [prec.resolve(p, device) for p in args.precision]
        model = load_any(args.model, device)
        index, records = select_records(args.data, args.format, args.split, args.fold,
                                        args.part, args.skip_bad,
                                        ("rgb", "camera") if node_pick else ("rgb",))
    except (DatasetError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    where = f"{args.part} part of fold {args.fold} of {args.split}" if args.split else "all images"
    scored = (f"first of {args.top_k} candidates opening at most {args.max_opening} m"
              if node_pick else "top grasp")
    print(f"{index.summary()}; evaluated {where}, frame {args.frame}, scored: {scored}")
    per_precision = {}
    for name, dtype in zip(args.precision, dtypes, strict=True):
        label = prec.name_of(dtype) + (" (auto)" if name == "auto" else "")
        try:
            result = evaluate_records(PrecisionModel(model, device, dtype), records, device,
                                      post, args.batch_size, args.workers,
                                      progress=sys.stderr.isatty(), skip_bad=args.skip_bad,
                                      frame=args.frame, max_opening=args.max_opening)
        except DatasetError as exc:     # an unreadable camera file
            print(f"error: {exc}", file=sys.stderr)
            return 2
        per_precision[label] = result
        print(f"{label}: correct grasps: {result.correct}/{result.total} = "
              f"{result.accuracy:.2f}%"
              + (f" ({result.skipped} unreadable images skipped)" if result.skipped else ""))
    if len(per_precision) > 1:
        centres = [[(e["grasp"]["x"], e["grasp"]["y"]) if "grasp" in e else None
                    for e in r.images] for r in per_precision.values()]
        same = sum(all(c[i] == centres[0][i] for c in centres) for i in range(len(centres[0])))
        print(f"top grasp at the same centre at every precision: {same}/{len(centres[0])} "
              f"images")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "model": str(args.model), "data": str(args.data), "split": str(args.split or ""),
            "fold": args.fold if args.split else None, "part": args.part, "frame": args.frame,
            "max_opening": args.max_opening,
            "top_k": post.top_k,
            "precision": list(per_precision),
            "accuracy_per_precision": {k: r.accuracy for k, r in per_precision.items()},
            "accuracy": result.accuracy, "correct": result.correct, "total": result.total,
            "skipped": result.skipped,
            "images": result.images}, indent=1))
    return 0
