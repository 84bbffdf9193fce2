"""``mtg_grasp evaluate-folds``: mean ± std of test accuracy over folds, as the paper's Table I."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

#: Table I of the paper, in its row order: (model, auxiliary task) -> mean, std (% correct).
PAPER = {("GG-CNN", "-"): (72.04, 3.44), ("GG-CNNp", "-"): (78.92, 0.97),
         ("MTG-CNN", "Saliency"): (74.93, 1.86), ("MTG-CNNp", "Saliency"): (76.23, 2.75),
         ("MTG-CNN", "Depth"): (78.14, 0.65), ("MTG-CNNp", "Depth"): (79.12, 1.40)}
TABLE_ORDER = list(PAPER)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The command's options."""
    p.add_argument("runs", nargs="+", type=Path, help="run directories (each with test.json)")
    p.add_argument("--json", action="store_true", help="print the table as JSON")


def table(runs: list[Path]) -> list[dict]:
    """One row per (model, aux): folds, mean and sample std (n - 1) of test accuracy."""
    groups: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for run in runs:
        path = run / "test.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing; train the run to the end, or evaluate it")
        doc = json.loads(path.read_text())
        groups.setdefault((doc["model"], doc["aux"]), []).append((doc["fold"], doc["accuracy"]))
    order = {k: i for i, k in enumerate(TABLE_ORDER)}
    rows = []
    for key in sorted(groups, key=lambda k: (order.get(k, len(order)), k)):
        accs = [a for _, a in groups[key]]
        folds = sorted(f for f, _ in groups[key])
        if len(set(folds)) != len(folds):
            raise ValueError(f"{key[0]} {key[1]}: the same fold appears twice ({folds})")
        rows.append({"model": key[0], "aux": key[1], "folds": folds,
                     "mean": statistics.fmean(accs),
                     "std": statistics.stdev(accs) if len(accs) > 1 else None})
    return rows


def run(args: argparse.Namespace) -> int:
    """Run the command; its exit code."""
    try:
        rows = table(args.runs)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"{'Model':<10} {'Auxiliary Task':<15} {'Successful Grasps':<19} {'Paper':<16} Folds")
    for r in rows:
        paper = PAPER.get((r["model"], r["aux"]))
        paper_text = f"{paper[0]:.2f}% ± {paper[1]:.2f}" if paper else "-"
        # one fold has no spread to report: say so rather than print a std of zero
        std = f"± {r['std']:.2f}" if r["std"] is not None else "(1 fold)"
        print(f"{r['model']:<10} {r['aux']:<15} {r['mean']:6.2f}% {std:<11} "
              f"{paper_text:<16} {len(r['folds'])} ({','.join(map(str, r['folds']))})")
    return 0
