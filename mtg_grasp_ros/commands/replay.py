"""``mtg_grasp replay``: play a bag into a live ROS graph, or run the detector over it offline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..bags.writer import STORAGES


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The live and offline options; offline node parameters come from ``--params-file``."""
    p.add_argument("bag", type=Path, help="rosbag2 folder (sqlite3 or mcap) or ROS 1 .bag file")
    p.add_argument("--topics", nargs="+", default=[], metavar="TOPIC",
                   help="only these topics (live: any topic; offline: image topics)")
    live = p.add_argument_group("live replay (default)")
    live.add_argument("--rate", type=float, default=1.0, help="speed factor (2 = twice as fast)")
    live.add_argument("--loop", action="store_true", help="play again from the start at the end")
    live.add_argument("--start-delay", type=float, default=0.5, metavar="S",
                      help="seconds between advertising the topics and the first message, so "
                           "that subscribers can match")
    live.add_argument("--wait-for", nargs="+", default=[], metavar="TOPIC",
                      help="before the first message, wait until each of these output topics "
                           "has a subscriber (at most --wait-timeout s)")
    live.add_argument("--wait-timeout", type=float, default=30.0, metavar="S",
                      help="longest wait of --wait-for (then play anyway)")
    live.add_argument("--clock", action="store_true",
                      help="publish the bag's time on /clock (for use_sim_time nodes)")
    live.add_argument("--remap", nargs="+", default=[], metavar="FROM:=TO",
                      help="publish a bag topic under another name")
    off = p.add_argument_group("offline processing")
    off.add_argument("--offline", action="store_true", help="run the detector, no ROS graph")
    off.add_argument("--out", type=Path, help="result folder (offline)")
    off.add_argument("--model", type=Path, help="model file (.safetensors); default: the "
                     "params file's model_path, else the bundled model")
    off.add_argument("--device", default=None, help="cpu, cuda, cuda:N or auto (default: cpu, "
                     "for reproducible results)")
    off.add_argument("--storage", choices=sorted(STORAGES), default="sqlite3",
                     help="storage of RESULT/grasps")
    off.add_argument("--video", action="store_true", help="also write RESULT/grasps.mp4")
    off.add_argument("--save-frames", action="store_true",
                     help="also write every annotated frame to RESULT/frames/")
    add_node_parameter_arguments(p)


def add_node_parameter_arguments(p: argparse.ArgumentParser) -> None:
    """``--params-file`` and the overrides of single node parameters (shared with the demo)."""
    node = p.add_argument_group(
        "the node's parameters (config/grasp_detector.yaml): defaults, then --params-file, "
        "then these overrides")
    node.add_argument("--params-file", type=Path, default=None, metavar="FILE",
                      help="the node's ROS parameters YAML (grasp_detector: or /**: keys)")
    node.add_argument("-p", "--param", action="append", default=[], metavar="NAME:=VALUE",
                      help="one parameter, YAML value, as `ros2 run ... -p`; repeatable")
    node.add_argument("--target-frame", help="= -p target_frame:=...")
    node.add_argument("--camera-xyz", type=float, nargs=3, default=None, metavar=("X", "Y", "Z"),
                      help="static camera pose: = -p camera_pose.xyz:=[X,Y,Z] and "
                           "camera_pose.source:=static (default: the bag's /tf, else the "
                           "params file's static pose)")
    node.add_argument("--camera-rpy", type=float, nargs=3, default=None, metavar=("R", "P", "Y"),
                      help="rad: = -p camera_pose.rpy:=[R,P,Y] (static pose)")


def parameter_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The node parameters given on the command line (``-p`` and the shorthand flags)."""
    import yaml

    out: dict[str, Any] = {}
    for item in args.param:
        name, sep, text = item.partition(":=")
        if not sep or not name:
            raise ValueError(f"-p {item!r}: expected NAME:=VALUE")
        out[name] = yaml.safe_load(text)
    if args.target_frame:
        out["target_frame"] = args.target_frame
    if args.camera_xyz is not None or args.camera_rpy is not None:
        out["camera_pose.source"] = "static"
        if args.camera_xyz is not None:
            out["camera_pose.xyz"] = list(args.camera_xyz)
        if args.camera_rpy is not None:
            out["camera_pose.rpy"] = list(args.camera_rpy)
    return out


def _offline(args: argparse.Namespace) -> int:
    from ..ros.offline import OfflineConfig, run_offline
    from ..settings import parameter_values

    if args.out is None:
        raise SystemExit("replay --offline needs --out RESULT")
    overrides = parameter_overrides(args)
    model = args.model or parameter_values(args.params_file, overrides)["model_path"] or None
    cfg = OfflineConfig.create(model, args.params_file, overrides, device=args.device,
                               topics=tuple(args.topics), storage=args.storage,
                               video=args.video, save_frames=args.save_frames)
    run_offline(args.bag, args.out, cfg)
    return 0


def _live(args: argparse.Namespace) -> int:
    from ..ros.replay import ReplayOptions, replay_live

    remap = {}
    for item in args.remap:
        src, sep, dst = item.partition(":=")
        if not sep or not src or not dst:
            raise SystemExit(f"--remap {item!r}: expected FROM:=TO")
        remap[src] = dst
    opts = ReplayOptions(args.rate, args.loop, tuple(args.topics), args.start_delay, args.clock,
                         remap, tuple(args.wait_for), args.wait_timeout)
    replay_live(args.bag, opts)
    return 0


def run(args: argparse.Namespace) -> int:
    """Offline or live replay; a bad bag, model or parameter: exit 2 with the reason."""
    from ..bags import BagError
    from ..detector import NonFiniteOutput
    from ..model_io import ModelFileError
    from ..preprocess import ImageError

    try:
        return _offline(args) if args.offline else _live(args)
    except (BagError, ModelFileError, NonFiniteOutput, ImageError, FileExistsError,
            ValueError) as exc:
        print(f"mtg_grasp replay: {exc}", file=sys.stderr)
        return 2
