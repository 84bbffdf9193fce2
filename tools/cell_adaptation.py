#!/usr/bin/env python3
"""What a few labelled photographs of one cell buy: k-fold over objects, before and after.

The 35 Cornell photographs in ``../shared/data/cornell_samples`` show seven objects on one
board under one camera. Each fold fine-tunes the bundled model
(``config/train/finetune_cell.yaml``) on the photographs of some objects and tests on the
photographs of the others, whole frame and GG-CNN-framed, with ``mtg_grasp evaluate``; the
bundled model on the same held-out photographs is the "before". Fine-tunes on 5, 10 and 20 of
a fold's training photographs (nested, seeded subsets) give the learning curve.

Every step is a ``mtg_grasp`` command whose output file is its "done" mark, so a stopped run
goes on where it stopped (training with ``--resume``). Writes ``results.json`` (every
command, per-fold counts, mean and spread) and ``learning_curve.png`` into ``--out``.

    nice -n 10 python tools/cell_adaptation.py --out runs/cell
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shlex
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "mtgcnn_p_depth_world_cut.safetensors"
CONFIG = ROOT / "config" / "train" / "finetune_cell.yaml"

#: The seven objects of the photographs, by image number, told apart by looking at them
#: (colour variants of one kind of object count as one object, so no fold tests on a
#: near-twin of a training object).
OBJECTS: dict[str, range] = {
    "carabiner": range(1000, 1001), "lollipop": range(1001, 1004),
    "chalk": range(1004, 1013), "floss": range(1013, 1025), "spool": range(1025, 1031),
    "bulb": range(1031, 1033), "spoon": range(1033, 1035)}
#: Four folds over the objects (about nine test photographs each), fixed before any run.
FOLDS: list[list[str]] = [["floss"], ["chalk", "carabiner"], ["spool", "lollipop"],
                          ["bulb", "spoon"]]
SIZES: list[int | None] = [None, 20, 10, 5]     # None: all of a fold's training photographs
FRAMES = ("whole", "ggcnn")
#: Training samples per fine-tune whatever the set's size (epochs = SAMPLES / images).
SAMPLES = 480


def image_ids(names: list[str]) -> list[str]:
    """The dataset record ids of the photographs of these objects."""
    return [f"10/pcd{n}" for name in names for n in OBJECTS[name]]


def write_split(path: Path, train: list[str], test: list[str]) -> None:
    """A one-fold split file as ``mtg_grasp train/evaluate --split`` read it. Its validation
    part is one training photograph: the recipe keeps the last epoch, so validation is only
    logged, and no held-out photograph is ever looked at during training.
    """
    doc = {"format": "mtg_grasp_split/1", "kind": "object", "k": 1, "seed": 0,
           "folds": [{"train": train, "val": train[:1], "test": test}]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1))


def subset(train: list[str], n: int | None, seed: int = 0) -> list[str]:
    """The first ``n`` of a seeded shuffle of ``train`` (nested: 5 of 10 of 20 of all)."""
    order = [train[i] for i in np.random.default_rng(seed).permutation(len(train))]
    return order if n is None else sorted(order[:n])


def run_command(args: list[str], log: Path) -> float:
    """Run one command (output to ``log``); its CPU seconds. A failure stops the experiment."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with log.open("a") as f:
        f.write(f"$ {shlex.join(args)}\n")
        f.flush()
        code = subprocess.call(args, stdout=f, stderr=subprocess.STDOUT,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if code:
        sys.exit(f"error: {args[1]} exited with {code}; see {log}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def mtg(*args: str | Path) -> list[str]:
    """A ``mtg_grasp`` command line run with this interpreter."""
    return [sys.executable, "-m", "mtg_grasp_ros.cli", *map(str, args)]


def evaluate(model: Path, data: Path, split: Path, frame: str, out: Path, log: Path) -> dict:
    """``mtg_grasp evaluate`` of ``model`` on the split's test part (skipped when done)."""
    cmd = mtg("evaluate", "--model", model, "--data", data, "--split", split, "--frame", frame,
              "--workers", "0", "--json", out)
    if not out.is_file():
        run_command(cmd, log)
    doc = json.loads(out.read_text())
    return {"correct": doc["correct"], "total": doc["total"], "command": shlex.join(cmd)}


def finetune(run: Path, data: Path, split: Path, n_images: int, out: Path, log: Path) -> dict:
    """``mtg_grasp train`` of the recipe on the split's training part; resumes a stopped run."""
    epochs = math.ceil(SAMPLES / n_images)
    cmd = mtg("train", "--config", CONFIG, "--init", MODEL, "--data", data, "--split", split,
              "--out", run, "--epochs", epochs, "--cache", out / "cache", "--no-progress")
    stamp = run / "cpu.json"
    if not (run / "test.json").is_file():
        resume = ["--resume"] if (run / "last.pt").is_file() else []
        spent = json.loads(stamp.read_text())["cpu_s"] if stamp.is_file() else 0.0
        spent += run_command(cmd + resume, log)
        stamp.write_text(json.dumps({"cpu_s": spent}))
    return {"epochs": epochs, "cpu_s": json.loads(stamp.read_text())["cpu_s"],
            "command": shlex.join(cmd)}


def fold_before(k: int, data: Path, out: Path, log: Path) -> dict:
    """Fold ``k``'s held-out objects and the bundled model's score on them."""
    test = image_ids(FOLDS[k])
    train = image_ids([o for o in OBJECTS if o not in FOLDS[k]])
    full = out / "splits" / f"fold{k}.json"
    write_split(full, train, test)
    return {"test_objects": FOLDS[k], "test_images": len(test), "train": train, "test": test,
            "before": {frame: evaluate(MODEL, data, full, frame,
                                       out / "eval" / f"fold{k}_bundled_{frame}.json", log)
                       for frame in FRAMES}, "after": {}}


def fold_after(k: int, fold: dict, n: int | None, data: Path, out: Path, log: Path) -> None:
    """Fine-tune on ``n`` of fold ``k``'s training photographs and score the held-out ones."""
    label = "all" if n is None else str(n)
    chosen = subset(fold["train"], n)
    split = out / "splits" / f"fold{k}_n{label}.json"
    write_split(split, chosen, fold["test"])
    run = out / "runs" / f"fold{k}_n{label}"
    entry = {"train_images": len(chosen), **finetune(run, data, split, len(chosen), out, log)}
    for frame in FRAMES:
        entry[frame] = evaluate(run / "best.safetensors", data, split, frame,
                                out / "eval" / f"fold{k}_n{label}_{frame}.json", log)
    fold["after"][label] = entry


def summarise(folds: list[dict], key: str, frame: str, label: str | None = None) -> dict:
    """Pooled count, and mean and sample spread of the per-fold accuracies, in %."""
    cells = [f[key][frame] if label is None else f[key][label][frame] for f in folds]
    accs = [100.0 * c["correct"] / c["total"] for c in cells]
    return {"correct": sum(c["correct"] for c in cells), "total": sum(c["total"] for c in cells),
            "fold_accuracy": accs, "mean": statistics.fmean(accs),
            "std": statistics.stdev(accs) if len(accs) > 1 else None}


def plot_curve(summary: dict, path: Path) -> None:
    """Held-out accuracy against labelled photographs per fold (mean ± std over folds)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for frame, colour in zip(FRAMES, ("tab:blue", "tab:orange"), strict=True):
        labels = [lab for lab in ("5", "10", "20", "all") if lab in summary["after"]]
        xs = [summary["after"][lab]["train_images_mean"] for lab in labels]
        ys = [summary["after"][lab][frame]["mean"] for lab in labels]
        es = [summary["after"][lab][frame]["std"] or 0.0 for lab in labels]
        ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, color=colour,
                    label=f"fine-tuned, {frame} frame")
        ax.axhline(summary["before"][frame]["mean"], color=colour, linestyle="--",
                   label=f"bundled model, {frame} frame")
    ax.set_xlabel("labelled photographs of the cell (training objects of the fold)")
    ax.set_ylabel("correct top grasps on held-out objects (%)")
    ax.set_ylim(0, 100)
    ax.set_title(f"Fine-tuning on one cell: {len(FOLDS)} folds over objects")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def summary_of(folds: list[dict]) -> dict:
    """Before and after, per frame and training-set size, over the folds done."""
    out: dict = {"before": {f: summarise(folds, "before", f) for f in FRAMES}, "after": {}}
    for label in folds[0]["after"]:
        if all(label in f["after"] for f in folds):
            cpu = [f["after"][label]["cpu_s"] for f in folds]
            out["after"][label] = {
                **{f: summarise(folds, "after", f, label) for f in FRAMES},
                "train_images_mean": statistics.fmean(f["after"][label]["train_images"]
                                                      for f in folds),
                "train_cpu_s_max": max(cpu), "train_cpu_s_sum": sum(cpu)}
    return out


def main(argv: list[str] | None = None) -> int:
    """Run (or resume) every fold, then write results.json and learning_curve.png."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="experiment directory")
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" /
                   "cornell_samples", help="the Cornell samples (default: %(default)s)")
    args = p.parse_args(argv)
    if not (args.data / "10" / "pcd1000cpos.txt").is_file():
        print(f"error: --data {args.data}: not the Cornell samples (no 10/pcd1000cpos.txt)",
              file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "commands.log"
    folds = [fold_before(k, args.data, args.out, log) for k in range(len(FOLDS))]
    with tqdm(total=len(FOLDS) * len(SIZES), desc="fine-tunes") as bar:
        for n in SIZES:           # every fold's full set first: the main figure
            for k, fold in enumerate(folds):
                fold_after(k, fold, n, args.data, args.out, log)
                bar.update()
            write_results(args, folds)
    summary = write_results(args, folds)
    print(json.dumps(summary, indent=1))
    return 0


def write_results(args: argparse.Namespace, folds: list[dict]) -> dict:
    """results.json and learning_curve.png of the folds and sizes done so far."""
    summary = summary_of(folds)
    doc = {"data": str(args.data), "model": str(MODEL), "config": str(CONFIG),
           "samples_per_finetune": SAMPLES, "objects": {k: [v.start, v.stop - 1]
                                                        for k, v in OBJECTS.items()},
           "folds": folds, "summary": summary}
    (args.out / "results.json").write_text(json.dumps(doc, indent=1))
    plot_curve(summary, args.out / "learning_curve.png")
    return summary


if __name__ == "__main__":
    sys.exit(main())
