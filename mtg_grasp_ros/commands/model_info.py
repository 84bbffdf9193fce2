"""``mtg_grasp model-info``: parameter counts and FLOPs of GG-CNN2 / MTG-CNN."""

from __future__ import annotations

import argparse
import json

from ..model import (
    ARCHS,
    AUX_TASKS,
    INPUT_SIZE,
    UPSAMPLES,
    build_model,
    count_parameters,
    forward_flops,
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The command's options."""
    p.add_argument("--arch", choices=ARCHS, default="mtgcnn")
    p.add_argument("--aux", choices=AUX_TASKS, default="depth",
                   help="auxiliary task of mtgcnn (ignored for ggcnn2)")
    p.add_argument("--upsample", choices=UPSAMPLES, default="transpose")
    p.add_argument("--size", type=int, default=INPUT_SIZE, help="input side in pixels")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def model_info(arch: str, aux: str | None, upsample: str, size: int) -> dict:
    """Total and deploy-time parameters and FLOPs of one forward pass at ``size``."""
    model = build_model(arch, aux, upsample, input_size=size).eval()
    deploy = model.grasp_only().eval()
    return {
        "arch": arch, "aux": model.config.aux, "upsample": upsample, "input_size": size,
        "parameters_total": count_parameters(model),
        "parameters_deploy": count_parameters(deploy),
        "flops_total": forward_flops(model, size),
        "flops_deploy": forward_flops(deploy, size),
    }


def run(args: argparse.Namespace) -> int:
    """Run the command; its exit code."""
    info = model_info(args.arch, args.aux, args.upsample, args.size)
    if args.json:
        print(json.dumps(info))
        return 0
    name = "GG-CNN2" if info["aux"] is None else f"MTG-CNN ({info['aux']})"
    print(f"{name}, {info['upsample']} upsampling, {info['input_size']}x{info['input_size']} input")
    print(f"  parameters: {info['parameters_total']:,} total, "
          f"{info['parameters_deploy']:,} deployed (grasp branch only)")
    print(f"  FLOPs per forward pass: {info['flops_total'] / 1e9:.3f} G total, "
          f"{info['flops_deploy'] / 1e9:.3f} G deployed")
    return 0


