"""``mtg_grasp label``: pre-labels for an annotation tool, and its export to a dataset.

``label suggest`` writes the model's top grasps of each image (of a folder, or of every n-th
frame of a bag) as Label Studio tasks or labelme files; ``label import`` turns the tool's
export into the Cornell layout that ``mtg_grasp train`` reads. See docs/labelling.md.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

FORMATS = ("label-studio", "labelme")
BAG_SUFFIXES = (".db3", ".mcap", ".bag")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``label suggest`` and ``label import`` options."""
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    s = sub.add_parser("suggest", help="the model's top grasps as pre-labels for a tool")
    s.add_argument("--model", type=Path, help="model file (default: the bundled model)")
    s.add_argument("--images", type=Path, required=True, help="folder of images, or a bag")
    s.add_argument("--format", required=True, choices=FORMATS)
    s.add_argument("--out", type=Path, required=True, help="new folder to write")
    s.add_argument("--top-k", type=int, default=3, help="grasps per image (default 3)")
    s.add_argument("--every", type=int, default=10, help="bag: every n-th camera frame "
                   "(default 10)")
    s.add_argument("--topic", help="bag: the image topic (default: the first)")
    s.add_argument("--url-prefix", default="/data/local-files/?d=images/",
                   help="Label Studio: task image URL = prefix + file name (default: "
                   "local files served from the --out folder; see docs/labelling.md)")
    s.add_argument("--device", default="auto")
    s.add_argument("--precision", default="fp32", help="auto, fp32, bf16 or fp16")
    i = sub.add_parser("import", help="a tool's export to a Cornell-layout dataset")
    i.add_argument("input", type=Path, metavar="IN", help="Label Studio JSON export, or "
                   "a folder of labelme JSON files")
    i.add_argument("--format", required=True, choices=FORMATS)
    i.add_argument("--out", type=Path, required=True, help="new dataset folder")
    i.add_argument("--images", type=Path, help="Label Studio: folder with the tasks' image "
                   "files (found by name)")


def is_bag(path: Path) -> bool:
    """Whether ``path`` is a bag (a rosbag2 folder, or a .db3, .mcap or ROS 1 .bag file)."""
    return (path / "metadata.yaml").is_file() or (path.is_file() and
                                                  path.suffix in BAG_SUFFIXES)


def _check_suggest(args: argparse.Namespace) -> str | None:
    """What is wrong with the ``suggest`` arguments (None: nothing)."""
    from ..labels.records import IMAGE_SUFFIXES

    if not args.images.exists():
        return f"--images {args.images}: no such folder or bag"
    if not (args.images.is_dir() or is_bag(args.images)):
        return f"--images {args.images}: neither a folder of images nor a bag"
    if not is_bag(args.images) and not any(p.suffix.lower() in IMAGE_SUFFIXES
                                           for p in args.images.iterdir()):
        return f"--images {args.images}: no {'/'.join(IMAGE_SUFFIXES)} files in it"
    if args.out.exists() and (not args.out.is_dir() or any(args.out.iterdir())):
        return f"--out {args.out}: exists and is not an empty folder"
    if not 1 <= args.top_k <= 50:
        return f"--top-k {args.top_k}: must be 1..50"
    if args.every < 1:
        return f"--every {args.every}: must be >= 1"
    if args.model is not None and not args.model.is_file():
        return f"--model {args.model}: no such file"
    return None


def _suggest_into(args: argparse.Namespace, tmp: Path) -> int:
    """Write the pre-labels into ``tmp``; the number of images."""
    from ..detector import GraspDetector
    from ..labels import labelme, labelstudio
    from ..labels.suggest import bag_frames, copy_folder, suggest
    from ..resources import default_model_path

    model = args.model or default_model_path()
    detector = GraspDetector(model, args.device, precision=args.precision)
    images = tmp / "images"
    images.mkdir()
    frames = bag_frames(args.images, images, args.every, args.topic) if is_bag(args.images) \
        else copy_folder(args.images, images)
    items = suggest(detector, frames, args.top_k)
    if args.format == "labelme":
        for item in items:
            labelme.write_labelme(item, images)
    else:
        labelstudio.write_tasks(items, tmp / "tasks.json", args.url_prefix, Path(model).name)
    return len(items)


def run_suggest(args: argparse.Namespace) -> int:
    """``label suggest``: status 2 on bad input, with nothing left behind."""
    from ..bags import BagError
    from ..labels import LabelError

    problem = _check_suggest(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{args.out.name}.", dir=args.out.parent))
    try:
        count = _suggest_into(args, tmp)
        if args.out.exists():
            args.out.rmdir()
        tmp.rename(args.out)
    except (LabelError, BagError, OSError, ValueError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    opened = "labelme " + str(args.out / "images") if args.format == "labelme" else \
        f"Label Studio: import {args.out / 'tasks.json'} (view: label_config.xml)"
    print(f"{count} images with up to {args.top_k} grasps each in {args.out}; open with {opened}")
    return 0


def run_import(args: argparse.Namespace) -> int:
    """``label import``: status 2 on bad input, with nothing left behind."""
    from ..labels import LabelError, labelme, labelstudio
    from ..labels.cornell_out import write_cornell

    unlabelled = 0
    try:
        with tempfile.TemporaryDirectory() as scratch:
            if args.format == "labelme":
                items = labelme.read_labelme_dir(args.input, Path(scratch))
            else:
                if args.images is None or not args.images.is_dir():
                    raise LabelError(f"--images {args.images}: a folder with the exported "
                                     f"tasks' images is needed for a Label Studio export")
                items, unlabelled = labelstudio.read_export(args.input, args.images)
                if not items and unlabelled:
                    raise LabelError(f"{args.input}: none of its {unlabelled} tasks has an "
                                     f"annotation; submit them in Label Studio, then export")
            count = write_cornell(items, args.out)
    except (LabelError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    empty = sum(not i.grasps for i in items)
    print(f"{count} images, {sum(len(i.grasps) for i in items)} grasp rectangles written to "
          f"{args.out} (Cornell layout)"
          + (f"; {empty} images without a rectangle left out" if empty else "")
          + (f"; {unlabelled} tasks without an annotation left out" if unlabelled else ""))
    return 0


def run(args: argparse.Namespace) -> int:
    """Run ``label suggest`` or ``label import``."""
    return run_suggest(args) if args.action == "suggest" else run_import(args)
