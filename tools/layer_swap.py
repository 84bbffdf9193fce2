"""Layer-wise mixes of two grasp models of one shape: the first k layer groups from one, the
rest from the other, for every k and both ways (issue 12, the bundled model card's "Limits").

A layer group is one convolution of the grasp branch (``shared.0``, ``grasp.4``, ...) or all
the 1x1 output heads together, in the network's own order. A companion to ``mtg_grasp
blend``, which mixes weight by weight; no training, so the mixes cost seconds.

    python tools/layer_swap.py --a models/mtgcnn_p_depth_world_cut.safetensors \
        --b models/mtgcnn_p_depth_synth.safetensors --out swaps/
    # writes swaps/A1..A8 (first k groups from --a, the rest from --b) and swaps/B1..B8
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

from mtg_grasp_ros.model_io import save_model
from mtg_grasp_ros.training.export import load_any


def group_of(name: str) -> str:
    """The layer group of a parameter: its module (``grasp.4``), or ``heads`` for any head."""
    parts = name.split(".")
    return "heads" if parts[0] == "heads" else ".".join(parts[:2])


def main() -> None:
    """Write the 2 x (groups - 1) mixes and print the groups in order."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--a", type=Path, required=True, help="model file or checkpoint")
    p.add_argument("--b", type=Path, required=True, help="a model of the same shape")
    p.add_argument("--out", type=Path, required=True, help="directory for the mixes")
    args = p.parse_args()
    nets = {"A": load_any(args.a), "B": load_any(args.b)}
    if nets["A"].config != nets["B"].config:
        raise SystemExit(f"layer_swap: {args.a} and {args.b} are networks of different shapes")
    states = {k: n.state_dict() for k, n in nets.items()}
    groups = list(dict.fromkeys(group_of(n) for n in states["A"]))
    print("layer groups, in order:", ", ".join(groups))
    args.out.mkdir(parents=True, exist_ok=True)
    net = copy.deepcopy(nets["A"])      # a scratch network: the states above share storage
    for first, second in (("A", "B"), ("B", "A")):
        for k in range(1, len(groups)):
            head = set(groups[:k])
            mixed = {n: states[first if group_of(n) in head else second][n]
                     for n in states["A"]}
            net.load_state_dict(mixed)
            path = args.out / f"{first}{k}.safetensors"
            save_model(net, path, grasp_only=True, trained_on="a layer-wise mix, see swap",
                       extra={"swap": {"first": str(args.a if first == "A" else args.b),
                                       "then": str(args.b if first == "A" else args.a),
                                       "groups_from_first": groups[:k]}})
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
