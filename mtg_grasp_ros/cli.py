"""The ``mtg_grasp`` command line: one subcommand per module in ``mtg_grasp_ros.commands``.

Each command module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args)``,
which returns the process exit code. Modules are imported only when their command runs, so
``mtg_grasp model-info`` does not pay for importing the training or ROS code.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: (command name, module under mtg_grasp_ros.commands, one-line help)
COMMANDS: list[tuple[str, str, str]] = [
    ("model-info", "model_info", "parameter counts and FLOPs of a network"),
    ("generate", "generate", "synthetic grasp dataset in the Jacquard format (pybullet)"),
    ("train", "train", "train a Table I variant on one fold of a dataset"),
    ("evaluate", "evaluate", "percentage of correct grasps of a model on a dataset or fold"),
    ("evaluate-folds", "evaluate_folds", "mean and std over folds, in the layout of Table I"),
    ("export", "export", "write the grasp-only model the node loads from a checkpoint"),
    ("plot", "plot", "validation curves of runs, or a sheet of predicted grasps"),
    ("replay", "replay", "play a bag into ROS 2, or run the detector over it offline"),
    ("demo", "demo", "the node with the bundled model on the sample bag (the README's main job)"),
    ("make-bag", "make_bag", "write a sample camera bag (rosbag2) of a table seen from above"),
    ("bench", "bench", "per-stage and end-to-end timings of the grasp_detector node (JSON)"),
    ("label", "label", "pre-labels for Label Studio or labelme, and their export to a dataset"),
]


def build_parser(load: str | None = None) -> argparse.ArgumentParser:
    """The ``mtg_grasp`` parser; only the ``load`` command's module is imported and adds its
    options.
    """
    parser = argparse.ArgumentParser(prog="mtg_grasp", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module, help_text in COMMANDS:
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == load:
            mod = importlib.import_module(f"mtg_grasp_ros.commands.{module}")
            mod.add_arguments(p)
            p.set_defaults(run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command given in ``argv`` (default: sys.argv); its exit code."""
    argv = sys.argv[1:] if argv is None else argv
    names = {name for name, _, _ in COMMANDS}
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command if command in names else None)
    args = parser.parse_args(argv)
    args.argv = list(argv)  # the command as given, recorded in run directories and models
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
